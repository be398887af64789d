/**
 * TxnStateStore: where a transaction coordinator keeps the records of the `__transaction_state` partitions it
 * owns. The coordinator builds whole record batches (v2, uncompressed) and appends them; on load it replays a
 * partition's batches in offset order. `LogTxnStateStore` stores them in the broker's partition logs; tests use
 * any store of the same shape (the group side's MemoryOffsetsStore fits: it keys by partition only).
 *
 * Durability: `append` resolves only when the batch is durable (the log's acks=all rule); the coordinator acts
 * on a state change and answers the client only after that.
 *
 * Reads copy each log read into one Buffer (a load-time boundary: batches may come back as several views) and
 * split it into whole batches, READ_BYTES_MAX at a time.
 */
import type { PartitionLog } from '../log/index.js';
import { LOG_OVERHEAD, RECORD_BATCH_OVERHEAD, batchSize, readBatchHeader } from '../protocol/records.js';
import { TRANSACTION_STATE_TOPIC } from './types.js';

export interface TxnStateStore {
  /** Appends one record batch to `partition`; resolves once it is durable. Rejects on a storage failure. */
  append(partition: number, batch: Buffer): Promise<void>;
  /** The partition's batches from its start, in offset order, each as one Buffer holding one whole batch. */
  read(partition: number): AsyncIterable<Buffer>;
}

const READ_BYTES_MAX = 1024 * 1024;
const LEADER_EPOCH = 0;

export class LogTxnStateStore implements TxnStateStore {
  constructor(private readonly logOf: (topic: string, partition: number) => PartitionLog | undefined) {}

  private log(partition: number): PartitionLog {
    const log = this.logOf(TRANSACTION_STATE_TOPIC, partition);
    if (!log) throw Object.assign(new Error(`${TRANSACTION_STATE_TOPIC}-${partition} has no log`), { code: 'LOG_CLOSED' });
    return log;
  }

  async append(partition: number, batch: Buffer): Promise<void> {
    await this.log(partition).append(batch, { leaderEpoch: LEADER_EPOCH });
  }

  async *read(partition: number): AsyncIterable<Buffer> {
    const log = this.log(partition);
    let offset = log.logStartOffset;
    for (;;) {
      const res = await log.read(offset, READ_BYTES_MAX, { minOneBatch: true });
      if (!res.ok) {
        if (res.logStartOffset > offset) {
          offset = res.logStartOffset;
          continue;
        }
        return;
      }
      if (res.records.length === 0) return;
      const batches = splitBatches(res.records.length === 1 ? res.records[0]! : Buffer.concat(res.records));
      if (batches.length === 0) return;
      let next = offset;
      for (const b of batches) {
        const last = Number(b.readBigInt64BE(0)) + b.readInt32BE(23);
        if (last < offset) continue; // the first batch may start before `offset`
        next = last + 1;
        yield b;
      }
      if (next === offset) return;
      offset = next;
    }
  }
}

/** Splits the bytes of consecutive whole batches into one Buffer per batch (views). */
export function splitBatches(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos + RECORD_BATCH_OVERHEAD <= bytes.length) {
    const size = batchSize(readBatchHeader(bytes, pos));
    if (size < LOG_OVERHEAD || pos + size > bytes.length) break;
    out.push(bytes.subarray(pos, pos + size));
    pos += size;
  }
  return out;
}
