/**
 * The client's two failure kinds:
 * - `KafkaError`: the broker answered with a Kafka error code (response data turned into an exception at the
 *   client's edge, so callers can `try`/`catch` one partition's failure). `code` is Kafka's number, `name` its
 *   constant from errors.ts (`TOPIC_ALREADY_EXISTS`), `message` the broker's text or Kafka's standard one.
 * - `ConnectionError`: no usable answer (refused, closed, timed out, oversized or undecodable frame). Its
 *   `code` is a stable string; every such failure closes the connection it happened on.
 */
import { describeError, ErrorCode } from '../protocol/errors.js';

/** Kafka's RetriableException family that this client meets: the operation may succeed if repeated. */
const RETRIABLE = new Set<number>([
  ErrorCode.CORRUPT_MESSAGE,
  ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
  ErrorCode.LEADER_NOT_AVAILABLE,
  ErrorCode.NOT_LEADER_OR_FOLLOWER,
  ErrorCode.REQUEST_TIMED_OUT,
  ErrorCode.NETWORK_EXCEPTION,
  ErrorCode.NOT_ENOUGH_REPLICAS,
  ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
  ErrorCode.NOT_CONTROLLER,
  ErrorCode.KAFKA_STORAGE_ERROR,
  ErrorCode.FENCED_LEADER_EPOCH,
  ErrorCode.UNKNOWN_LEADER_EPOCH,
  ErrorCode.OFFSET_NOT_AVAILABLE,
  ErrorCode.THROTTLING_QUOTA_EXCEEDED,
]);

/** Errors after which the client's cached partition leaders may be stale. */
const STALE_METADATA = new Set<number>([
  ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
  ErrorCode.LEADER_NOT_AVAILABLE,
  ErrorCode.NOT_LEADER_OR_FOLLOWER,
  ErrorCode.FENCED_LEADER_EPOCH,
  ErrorCode.UNKNOWN_LEADER_EPOCH,
  ErrorCode.NOT_CONTROLLER,
]);

export class KafkaError extends Error {
  /** Kafka's numeric error code (never 0). */
  readonly code: number;
  /** Kafka's constant for the code, e.g. `TOPIC_ALREADY_EXISTS`. */
  override readonly name: string;
  /** Topic (or resource) the error is about, when the response said. */
  readonly topic: string | undefined;
  readonly partition: number | undefined;

  constructor(code: number, message?: string | null, where: { topic?: string; partition?: number } = {}) {
    const described = describeError(code);
    super(message !== undefined && message !== null && message !== '' ? message : described.message || described.name);
    this.code = code;
    this.name = described.name;
    this.topic = where.topic;
    this.partition = where.partition;
  }

  get retriable(): boolean {
    return RETRIABLE.has(this.code);
  }

  /** Whether the client should refresh metadata before retrying. */
  get staleMetadata(): boolean {
    return STALE_METADATA.has(this.code);
  }
}

/** Returns a KafkaError for a non-zero code, null for NONE. */
export function kafkaError(code: number, message?: string | null, where?: { topic?: string; partition?: number }): KafkaError | null {
  return code === ErrorCode.NONE ? null : new KafkaError(code, message, where);
}

export type ConnectionErrorCode =
  | 'ERR_TERN_CONNECT' // could not connect (refused, unreachable, connect timeout)
  | 'ERR_TERN_CONNECTION_CLOSED' // the connection closed while a request waited
  | 'ERR_TERN_REQUEST_TIMEOUT' // no response within the request timeout
  | 'ERR_TERN_FRAME_TOO_LARGE' // a response frame over frameBytesMax
  | 'ERR_TERN_PROTOCOL'; // a response that does not decode, or answers no request

export class ConnectionError extends Error {
  override readonly name = 'ConnectionError';
  constructor(
    readonly code: ConnectionErrorCode,
    message: string,
    /** `host:port` of the broker. */
    readonly broker: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
