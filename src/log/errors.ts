/**
 * Operating errors of the partition log, one class per failure, each with a stable `code` the Kafka handlers
 * map to a wire error. Kafka-level outcomes a client can cause (an offset out of range) are returned as data,
 * not thrown; see `ReadResult` and `DeleteRecordsResult`.
 */

export type LogErrorCode = 'KAFKA_STORAGE_ERROR' | 'LOG_CLOSED' | 'CORRUPT_MESSAGE';

export abstract class LogError extends Error {
  abstract readonly code: LogErrorCode;
}

/**
 * A write, sync or read of the log's files failed. Fatal for the log: it stays failed until reopened (the
 * page-cache state after a failed fsync is unknown, so nothing is retried and nothing unsynced is served).
 */
export class KafkaStorageError extends LogError {
  readonly code = 'KAFKA_STORAGE_ERROR';
  override readonly name = 'KafkaStorageError';
}

/** The log was closed or deleted; the partition has gone (handlers answer UNKNOWN_TOPIC_OR_PARTITION, retriable). */
export class LogClosedError extends LogError {
  readonly code = 'LOG_CLOSED';
  override readonly name = 'LogClosedError';
}

/** A stored batch read back has an impossible header (disk corruption below the recovery point). */
export class CorruptLogError extends LogError {
  readonly code = 'CORRUPT_MESSAGE';
  override readonly name = 'CorruptLogError';
}
