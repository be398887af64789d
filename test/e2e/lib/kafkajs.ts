/** A kafkajs client for an e2e broker on 127.0.0.1, quiet, with bounded timeouts and retries. */
import { Kafka, logLevel } from 'kafkajs';

export function kafkaFor(port: number, clientId: string, o: { requestTimeout?: number; retries?: number } = {}): Kafka {
  return new Kafka({
    clientId,
    brokers: [`127.0.0.1:${port}`],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 5_000,
    requestTimeout: o.requestTimeout ?? 15_000,
    retry: { retries: o.retries ?? 8, initialRetryTime: 100, maxRetryTime: 1_000 },
  });
}
