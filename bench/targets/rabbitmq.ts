/** RabbitMQ streams: placeholder until tried on this machine (see docs/benchmarks.md). */
import type { TargetClient, TargetServer } from './types.js';
import { TargetUnavailable } from './types.js';

export class RabbitServer implements TargetServer {
  readonly id = 'rabbitmq';
  async ensureInstalled(): Promise<void> {
    throw new TargetUnavailable(this.id, 'not implemented yet');
  }
  async start(): Promise<never> {
    throw new TargetUnavailable(this.id, 'not implemented yet');
  }
  async prepare(): Promise<void> {}
  info(): never {
    throw new TargetUnavailable(this.id, 'not implemented yet');
  }
  cpuSeconds(): null {
    return null;
  }
  async stop(): Promise<void> {}
}

export const rabbitClient: TargetClient = {
  publisher: () => Promise.reject(new TargetUnavailable('rabbitmq', 'not implemented yet')),
  subscriber: () => Promise.reject(new TargetUnavailable('rabbitmq', 'not implemented yet')),
};
