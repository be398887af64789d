/**
 * The contracts between the three parts of exactly-once (issue 6), so each can be built and tested on its own:
 *
 * - the partition side (src/txn/producer-state.ts, src/kafka/partitions.ts): sequence checks, control markers,
 *   the last stable offset and aborted transactions, on the shard that owns the partition;
 * - the transaction coordinator (src/txn/coordinator.ts): transactional ids, their state in
 *   `__transaction_state`, and the markers it has written to every partition of a transaction;
 * - the group coordinator (src/groups/): offsets committed inside a transaction, applied when the marker lands on
 *   the group's `__consumer_offsets` partition.
 *
 * Producer ids are int64 on the wire and `number` here (the codecs' int64 type): ids are allocated from 0 up and
 * stay far below 2^53.
 */

export interface TopicPartition {
  topic: string;
  partition: number;
}

/** A COMMIT or ABORT control marker for one producer's transaction, as the coordinator writes it. */
export interface TxnMarker {
  producerId: number;
  producerEpoch: number;
  commit: boolean;
  /** The coordinator epoch written in the marker's value (this single-node broker: the state partition's epoch, 0). */
  coordinatorEpoch: number;
}

export interface MarkerOutcome extends TopicPartition {
  /** 0 once the marker is durable on the partition; a Kafka error code otherwise (the coordinator retries). */
  errorCode: number;
}

/** The partition side as the coordinator sees it: PartitionOps implements it, wherever each partition lives. */
export interface MarkerWriter {
  /** Appends the marker to every partition and resolves once each is durable (or failed). */
  writeMarkers(partitions: readonly TopicPartition[], marker: TxnMarker): Promise<MarkerOutcome[]>;
}

/**
 * The coordinator as a partition sees it (KIP-890 part 1): before a partition accepts the first transactional batch
 * of a producer's transaction, it asks whether the partition was added to that producer's ongoing transaction.
 * Resolves to 0 when it was, else the Kafka error the Produce gets (INVALID_PRODUCER_EPOCH, INVALID_TXN_STATE,
 * TRANSACTIONAL_ID_NOT_FOUND, NOT_COORDINATOR...).
 */
export interface TxnVerifier {
  verifyPartition(transactionalId: string, producerId: number, producerEpoch: number, topic: string, partition: number): Promise<number>;
}

/** Told once a marker is durable on a partition of this thread (the group coordinator listens on `__consumer_offsets`). */
export type MarkerListener = (topic: string, partition: number, marker: TxnMarker) => void;

/** An aborted transaction overlapping a fetched range, as Fetch reports it (read_committed). */
export interface AbortedTxn {
  producerId: number;
  firstOffset: number;
}

/** Unique, never reused producer ids (durable before they are handed out). */
export interface ProducerIdSource {
  allocate(): Promise<number>;
}

/** One producer's state on a partition, as DescribeProducers reports it. */
export interface ProducerDescription {
  producerId: number;
  producerEpoch: number;
  lastSequence: number;
  lastTimestamp: number;
  coordinatorEpoch: number;
  /** First offset of the producer's open transaction on this partition, or -1. */
  currentTxnStartOffset: number;
}

export const READ_UNCOMMITTED = 0;
export const READ_COMMITTED = 1;
export const TRANSACTION_STATE_TOPIC = '__transaction_state';
