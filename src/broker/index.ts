/**
 * `tern start`: builds the config, the logger and the broker, prints the start-up banner, and shuts down
 * cleanly on SIGTERM/SIGINT (stop accepting, finish in-flight requests, sync and close the logs).
 */
import fs from 'node:fs';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { Broker } from './broker.js';
import { resolveConfig, type BrokerOptions, type BrokerConfig } from './config.js';

export { Broker } from './broker.js';
export { resolveConfig, ConfigError, type BrokerConfig, type BrokerOptions } from './config.js';

export function createLogger(level: string): Logger {
  // JSON lines on stderr (stdout stays free for tools); pino is asynchronous-safe and cheap when disabled.
  return pino({ level, base: { svc: 'tern' } }, pino.destination({ fd: 2, sync: true }));
}

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
  const broker = await Broker.start(config, logger);
  const addr = broker.listenAddress;
  logger.info(
    {
      kafka: `${addr.host}:${addr.port}`,
      advertised: `${broker.config.advertise.host}:${broker.config.advertise.port}`,
      dataDir: path.resolve(config.dataDir),
      nodeId: config.nodeId,
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
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
