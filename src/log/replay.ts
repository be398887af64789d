/**
 * Replaying a partition log from its start, for the coordinators that rebuild their state from an internal topic
 * when they load a partition (`__consumer_offsets`, `__transaction_state`), and the store they keep those
 * partitions in.
 *
 * `replayBatches` reads `[logStartOffset, highWatermark)` in offset order, `replayReadBytes` at a time, and yields
 * one Buffer per whole batch. Each read is copied into one Buffer when it came back as several views (a load-time
 * boundary, not the hot path) and cut into batches (views of that Buffer). When retention or DeleteRecords moves
 * the log start past the next offset to read, the replay goes on from the new start. It ends at the high
 * watermark, or at the first read that yields no whole batch past what was already yielded.
 *
 * `TopicLogStore`: the partition logs of one topic as a store of whole batches: `append` is the log's append with
 * acks=all semantics (resolves, with the batch's base offset, once it is durable; rejects with the log's error, a
 * LogClosedError when the partition has no open log) and `read` is `replayBatches`.
 */
import { BASE_OFFSET_OFFSET, LAST_OFFSET_DELTA_OFFSET, LOG_OVERHEAD, RECORD_BATCH_OVERHEAD, batchSize, readBatchHeader, readInt64 } from '../protocol/records.js';
import { LogClosedError } from './errors.js';
import type { PartitionLog } from './partition-log.js';

/** How much one replay read asks the log for (the first batch comes whole even when it is larger: KIP-74). */
export const replayReadBytes = 1024 * 1024;

/** The partition leader epoch written into the batches a TopicLogStore appends: no Raft term on a single node. */
const STORE_LEADER_EPOCH = 0;

/** The log's batches from its start to its high watermark, in offset order, each as one Buffer holding one whole batch. */
export async function* replayBatches(log: PartitionLog, readBytes: number = replayReadBytes): AsyncIterable<Buffer> {
  let offset = log.logStartOffset;
  for (;;) {
    const res = await log.read(offset, readBytes, { minOneBatch: true });
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
      const last = readInt64(b, BASE_OFFSET_OFFSET) + b.readInt32BE(LAST_OFFSET_DELTA_OFFSET);
      if (last < offset) continue; // the first batch may start before `offset`
      next = last + 1;
      yield b;
    }
    if (next === offset) return;
    offset = next;
  }
}

/** Cuts the bytes of consecutive whole batches into one Buffer per batch (views); a torn tail is left out. */
function splitBatches(bytes: Buffer): Buffer[] {
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

/** The partition logs of one topic, as a store of whole batches keyed by partition (see the file's doc). */
export class TopicLogStore {
  constructor(
    readonly topic: string,
    private readonly logOf: (topic: string, partition: number) => PartitionLog | undefined,
  ) {}

  private log(partition: number): PartitionLog {
    const log = this.logOf(this.topic, partition);
    if (!log) throw new LogClosedError(`${this.topic}-${partition} has no log`);
    return log;
  }

  /** Appends one whole batch; resolves to its base offset once it is durable. */
  async append(partition: number, batch: Buffer): Promise<number> {
    return (await this.log(partition).append(batch, { leaderEpoch: STORE_LEADER_EPOCH })).baseOffset;
  }

  /** The partition's batches from its start, in offset order (replayBatches; the log is looked up on the first step). */
  async *read(partition: number): AsyncIterable<Buffer> {
    yield* replayBatches(this.log(partition));
  }
}
