/**
 * What Kafka API handlers see: the broker's services and the request's context. Handlers are pure policy over
 * these services: they never touch sockets; they return response data (Kafka errors are data, never thrown).
 */
import type { Logger } from 'pino';
import type { BrokerConfig } from '../broker/config.js';
import type { TopicRecord, TopicView } from '../cluster/index.js';
import type { PartitionOps } from './partitions.js';
import type { GroupService } from '../groups/index.js';
import type { TxnService } from '../txn/index.js';

/** A Kafka error as data: code plus an optional message for the response's ErrorMessage field. */
export interface KafkaFailure {
  errorCode: number;
  errorMessage: string | null;
}

export interface BrokerServices {
  readonly config: BrokerConfig;
  readonly logger: Logger;
  /** The topics, as this thread sees them (the table itself, or a shard's mirror of it). */
  readonly topics: TopicView;
  /** Partition operations, wherever the partition lives (this thread or another shard). */
  readonly partitions: PartitionOps;
  /** Creates a topic with validated configs; resolves once the topic table is durable. */
  createTopic(name: string, partitions: number, configs: Record<string, string>): Promise<TopicRecord>;
  /** The creation in progress of a topic, if another request is creating it now. */
  pendingTopic(name: string): Promise<TopicRecord> | undefined;
  deleteTopic(name: string): Promise<void>;
  addPartitions(name: string, total: number): Promise<void>;
  /** Replaces a topic's config overrides (already validated) and applies them to its logs. */
  setTopicConfigs(name: string, configs: Record<string, string>): Promise<void>;
  /** Validates topic config overrides; returns a failure for unknown names or bad values. */
  validateTopicConfigs(configs: Record<string, string>): KafkaFailure | null;
  /** Consumer groups and committed offsets (issue 5). */
  readonly groups: GroupService;
  /** Producer ids and the transaction coordinator (issue 6). */
  readonly txn: TxnService;
}

export interface RequestContext {
  readonly broker: BrokerServices;
  readonly apiVersion: number;
  readonly clientId: string | null;
  /** The client's address as Kafka reports it in group descriptions ("/127.0.0.1"). */
  readonly clientHost?: string;
  readonly connectionId: number;
  /** Aborted when the connection closes or the broker shuts down (ends Fetch long polls early). */
  readonly signal: AbortSignal;
  /**
   * Closes the connection right after the responses of earlier requests are written. Produce with acks=0 uses
   * it on failure: the client hears nothing, so closing is how Kafka tells it to refresh metadata and retry.
   */
  closeAfterEarlierResponses(reason: string): void;
  /**
   * Runs `release` once this request's response has been taken by the socket, or at once when there will be no
   * response to write (the connection closed, the handler failed). A handler uses it for records that are views
   * it must hand back (Fetch, src/kafka/apis/fetch.ts). Absent where responses are not written to a socket.
   */
  holdUntilWritten?(release: () => void): void;
}

/**
 * One Kafka API served by Tern: the versions advertised and the handler. `handle` returns the response body, or
 * null when the request gets no response (Produce with acks=0).
 */
export interface ApiHandler<Req = never, Res = unknown> {
  readonly key: number;
  readonly minVersion: number;
  readonly maxVersion: number;
  handle(req: Req, ctx: RequestContext): Promise<Res | null> | Res | null;
}
