/**
 * LogOffsetsStore: the OffsetsStore over the broker's partition logs of `__consumer_offsets`. Appends go
 * through PartitionLog.append like a Produce with acks=all (durable when resolved, answering the batch's offset); reads replay from the log
 * start, `readBytesMax` at a time, copying each read into one Buffer (a load-time boundary: batches may come
 * back as several views) and splitting it into whole batches.
 */
import type { PartitionLog } from '../log/index.js';
import { splitBatches, type OffsetsStore } from './store.js';
import { OFFSETS_TOPIC } from './partitioning.js';

const READ_BYTES_MAX = 1024 * 1024;
const LEADER_EPOCH = 0;

export class LogOffsetsStore implements OffsetsStore {
  constructor(private readonly logOf: (topic: string, partition: number) => PartitionLog | undefined) {}

  private log(partition: number): PartitionLog {
    const log = this.logOf(OFFSETS_TOPIC, partition);
    if (!log) throw Object.assign(new Error(`${OFFSETS_TOPIC}-${partition} has no log`), { code: 'LOG_CLOSED' });
    return log;
  }

  /**
   * Straight into the log, not through the Produce path (LocalPartitions): the coordinator's own batches are not
   * a client's, so no sequence check applies to its transactional offset batches (Kafka appends them with
   * origin = coordinator).
   */
  async append(partition: number, batch: Buffer): Promise<number> {
    return (await this.log(partition).append(batch, { leaderEpoch: LEADER_EPOCH })).baseOffset;
  }

  async *read(partition: number): AsyncIterable<Buffer> {
    const log = this.log(partition);
    let offset = log.logStartOffset;
    for (;;) {
      const res = await log.read(offset, READ_BYTES_MAX, { minOneBatch: true });
      if (!res.ok) {
        // Retention or DeleteRecords moved the start under us: continue from the new start.
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
        const base = Number(b.readBigInt64BE(0));
        const last = base + b.readInt32BE(23);
        if (last < offset) continue; // the first batch may start before `offset`
        next = last + 1;
        yield b;
      }
      if (next === offset) return;
      offset = next;
    }
  }
}
