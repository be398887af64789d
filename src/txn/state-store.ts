/**
 * TxnStateStore: where a transaction coordinator keeps the records of the `__transaction_state` partitions it
 * owns. The coordinator builds whole record batches (v2, uncompressed) and appends them; on load it replays a
 * partition's batches in offset order. `LogTxnStateStore` stores them in the broker's partition logs (src/log's
 * TopicLogStore: reads replay from the log start in whole batches, see replayBatches); tests use any store of
 * the same shape (the group side's MemoryOffsetsStore fits: it keys by partition only).
 *
 * Durability: `append` resolves only when the batch is durable (the log's acks=all rule); the coordinator acts
 * on a state change and answers the client only after that.
 */
import { TopicLogStore, type PartitionLog } from '../log/index.js';
import { TRANSACTION_STATE_TOPIC } from './types.js';

export interface TxnStateStore {
  /**
   * Appends one record batch to `partition`; resolves once it is durable (to whatever the store answers: the
   * coordinator ignores it; the log's store and the group side's answer the batch's base offset). Rejects on a
   * storage failure.
   */
  append(partition: number, batch: Buffer): Promise<unknown>;
  /** The partition's batches from its start, in offset order, each as one Buffer holding one whole batch. */
  read(partition: number): AsyncIterable<Buffer>;
}

export class LogTxnStateStore extends TopicLogStore implements TxnStateStore {
  constructor(logOf: (topic: string, partition: number) => PartitionLog | undefined) {
    super(TRANSACTION_STATE_TOPIC, logOf);
  }
}
