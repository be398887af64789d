/**
 * Maps failures below the Kafka layer to Kafka error codes. Storage failures (a failed fsync makes a log
 * unusable) become KAFKA_STORAGE_ERROR; anything else unexpected is UNKNOWN_SERVER_ERROR, logged.
 */
import { ErrorCode } from '../../protocol/errors.js';
import type { Logger } from 'pino';
import type { KafkaFailure } from '../context.js';

export function storageFailureOf(logger: Logger, err: unknown, what: string): KafkaFailure {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'KAFKA_STORAGE_ERROR') return { errorCode: ErrorCode.KAFKA_STORAGE_ERROR, errorMessage: (err as Error).message };
  // A segment that fails its checks on read is a storage fault, not a client error.
  if (code === 'CORRUPT_MESSAGE') return { errorCode: ErrorCode.KAFKA_STORAGE_ERROR, errorMessage: (err as Error).message };
  // The partition's log was closed under the request: its topic was deleted (retriable for the client).
  if (code === 'LOG_CLOSED') return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: (err as Error).message };
  logger.error({ err }, `${what} failed`);
  return { errorCode: ErrorCode.UNKNOWN_SERVER_ERROR, errorMessage: null };
}
