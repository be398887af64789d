/**
 * `tern start`: builds the config, the logger and the broker, prints the start-up banner, and shuts down
 * cleanly on SIGTERM/SIGINT (stop accepting, finish in-flight requests, sync and close the logs).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { createLogger } from './logger.js';
import { Broker } from './broker.js';
import { resolveConfig, type BrokerOptions, type BrokerConfig } from './config.js';
import { ShardedBroker } from '../shard/supervisor.js';
import { reusePortAvailable } from '../shard/listener.js';

export { Broker } from './broker.js';
export { resolveConfig, defaultShards, ConfigError, type BrokerConfig, type BrokerOptions } from './config.js';

export { createLogger };

export async function startBroker(opts: BrokerOptions, logger?: Logger): Promise<Broker> {
  const config: BrokerConfig = resolveConfig(opts);
  const log = logger ?? createLogger(config.logLevel);
  fs.mkdirSync(config.dataDir, { recursive: true });
  return Broker.start(config, log);
}

/** Runs the broker until SIGTERM or SIGINT; resolves after a clean shutdown. */
export async function runBroker(opts: BrokerOptions): Promise<void> {
  const config = resolveConfig(opts);
  const logger = createLogger(config.logLevel);
  fs.mkdirSync(config.dataDir, { recursive: true });
  // Thread-per-core when the addon that makes SO_REUSEPORT listeners is built; else one in-process broker.
  const sharded = reusePortAvailable();
  if (!sharded) logger.warn('native addon not built: running one in-process shard (npm install builds it)');
  // Signals are handled from the start: one that arrives while the shards start up stops the broker right after.
  let signalled: string | null = null;
  let onSignal: ((signal: string) => void) | null = null;
  const handle = (signal: string): void => {
    if (onSignal) return onSignal(signal);
    if (signalled !== null) {
      logger.warn({ signal }, 'second signal during start-up: exiting now');
      process.exit(1);
    }
    signalled = signal;
  };
  process.on('SIGTERM', () => handle('SIGTERM'));
  process.on('SIGINT', () => handle('SIGINT'));
  const broker = sharded ? await ShardedBroker.start(config, logger) : await Broker.start(config, logger);
  const addr = broker.listenAddress;
  logger.info(
    {
      kafka: `${addr.host}:${addr.port}`,
      advertised: `${broker.config.advertise.host}:${broker.config.advertise.port}`,
      dataDir: path.resolve(config.dataDir),
      nodeId: config.nodeId,
      shards: sharded ? config.smp : 1,
      clusterId: broker.topics.clusterId,
      pid: process.pid,
    },
    `Tern broker started: Kafka API on ${addr.host}:${addr.port}, data in ${path.resolve(config.dataDir)}`,
  );
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal }, 'shutting down');
      broker.close().then(
        () => {
          logger.info('shutdown complete');
          resolve();
        },
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          process.exitCode = 1;
          resolve();
        },
      );
    };
    onSignal = stop;
    if (signalled !== null) stop(signalled);
  });
}
