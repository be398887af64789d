/**
 * OffsetsStore: where a coordinator keeps the records of the `__consumer_offsets` partitions it owns. The
 * coordinator builds whole record batches (v2, uncompressed) and appends them; on load it replays a partition's
 * batches in offset order. The broker's adapter (LogOffsetsStore) stores them in the partition logs of the
 * internal topic; tests use MemoryOffsetsStore.
 *
 * Durability: `append` resolves only when the batch is durable (the log's acks=all rule); the coordinator
 * answers a commit or applies a group change only after that.
 *
 * Offsets: `append` resolves to the log offset given to the batch, and `read` yields batches whose baseOffset
 * is that offset: transactional offset commits are ordered against each other and against plain commits by it
 * (the later record in the log wins, on load and live alike).
 */
import { readBatchHeader, writeInt64, BASE_OFFSET_OFFSET } from '../protocol/records.js';

export interface OffsetsStore {
  /**
   * Appends one record batch to `partition`, as the coordinator built it (never validated as a client Produce:
   * Kafka's "origin = coordinator"); resolves to the batch's base offset once it is durable. Rejects on a
   * storage failure.
   */
  append(partition: number, batch: Buffer): Promise<number>;
  /** The partition's batches from its start, in offset order, each as one Buffer holding one whole batch. */
  read(partition: number): AsyncIterable<Buffer>;
}

/** An in-memory store for tests: appends can be held back (`hold`) or made to fail (`failNext`). */
export class MemoryOffsetsStore implements OffsetsStore {
  readonly partitions = new Map<number, Buffer[]>();
  /** The next offset of each partition (the copies stored carry their base offset, as a log's batches do). */
  private readonly ends = new Map<number, number>();
  private held: (() => void)[] | null = null;
  private failures = 0;

  append(partition: number, batch: Buffer): Promise<number> {
    if (this.failures > 0) {
      this.failures--;
      return Promise.reject(Object.assign(new Error('injected storage failure'), { code: 'KAFKA_STORAGE_ERROR' }));
    }
    const list = this.partitions.get(partition) ?? [];
    this.partitions.set(partition, list);
    const copy = Buffer.from(batch);
    const base = this.ends.get(partition) ?? 0;
    writeInt64(copy, BASE_OFFSET_OFFSET, base);
    this.ends.set(partition, base + readBatchHeader(copy, 0).lastOffsetDelta + 1);
    list.push(copy);
    if (this.held === null) return Promise.resolve(base);
    const held = this.held;
    return new Promise((resolve) => held.push(() => resolve(base)));
  }

  async *read(partition: number): AsyncIterable<Buffer> {
    for (const b of this.partitions.get(partition) ?? []) yield b;
  }

  /** Appends stay pending until `release()`. */
  hold(): void {
    this.held ??= [];
  }

  release(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const r of held) r();
  }

  failNext(count = 1): void {
    this.failures += count;
  }

  batchCount(): number {
    let n = 0;
    for (const l of this.partitions.values()) n += l.length;
    return n;
  }
}
