/**
 * The targets a suite can run, by id. Peer modules are imported lazily: their npm clients (ioredis, nats)
 * are dev dependencies, and Tern alone needs none of them.
 */
import type { TargetClient, TargetServer } from './types.js';

export const TARGET_IDS = ['tern', 'redis-always', 'redis-everysec', 'nats', 'rabbitmq'] as const;
export type TargetId = (typeof TARGET_IDS)[number];
/** What `npm run bench` runs: Tern and every peer (each is skipped, with the reason, where it does not work). */
export const DEFAULT_TARGETS: readonly TargetId[] = ['tern', 'redis-always', 'redis-everysec', 'nats', 'rabbitmq'];

export function isTargetId(s: string): s is TargetId {
  return (TARGET_IDS as readonly string[]).includes(s);
}

export async function targetServer(id: TargetId): Promise<TargetServer> {
  switch (id) {
    case 'tern':
      return new (await import('./tern.js')).TernServer();
    case 'redis-always':
      return new (await import('./redis.js')).RedisServer('always');
    case 'redis-everysec':
      return new (await import('./redis.js')).RedisServer('everysec');
    case 'nats':
      return new (await import('./nats.js')).NatsServer();
    case 'rabbitmq':
      return new (await import('./rabbitmq.js')).RabbitServer();
  }
}

export async function targetClient(id: TargetId): Promise<TargetClient> {
  switch (id) {
    case 'tern':
      return (await import('./tern.js')).ternClient;
    case 'redis-always':
    case 'redis-everysec':
      return (await import('./redis.js')).redisClient;
    case 'nats':
      return (await import('./nats.js')).natsClient;
    case 'rabbitmq':
      return (await import('./rabbitmq.js')).rabbitClient;
  }
}
