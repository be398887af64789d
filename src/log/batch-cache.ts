/**
 * Recently appended batches kept in memory so tailing consumers are served without file reads.
 *
 * One BatchCache per LogManager, shared by all its partitions under one byte budget. Each partition holds its
 * entries in offset order: a contiguous run that ends at the partition's log end (every append is added, and
 * eviction only removes the oldest), so an offset at or after the first cached one is either cached or not yet
 * written. Eviction is FIFO across partitions, oldest append first.
 *
 * Entries are views of the produce request's socket reads, no copies: a Buffer, or the list of views of the
 * reads a batch straddles (chunked-bytes.ts), served to Fetch as they are. The budget counts batch bytes; a view
 * keeps its whole read buffer alive, so resident memory can exceed it by the rest of those reads. Bounded: batches
 * that together pin more than twice their size (plus BACKING_SLACK_BYTES) of backing memory are copied instead
 * (small batches in a large read), the one deliberate copy here, counted by copy-meter.ts as `cacheCompact`.
 * Batches that are one view each are judged with their read-mates: the batches of one socket read are added one
 * after another (the requests it held, each partition of each), often for many partitions (a producer's request
 * spans them), so the cache keeps the batches of the current read as a group and decides once the read is done
 * (the next add from another read, or setImmediate): a 64 KiB read holding 60 batches of 1 KiB for 60 partitions
 * stays as views; a lone 100-byte batch in it is copied. A batch held as pieces of several reads is judged alone,
 * at once. So is a batch cut into pieces averaging under PIECE_BYTES_MIN (a peer trickling bytes): every Fetch of
 * it would pay one socket write per piece. Eviction goes oldest first, so a read's batches leave together.
 * Visibility is the caller's job: `read` takes `upTo` (the high watermark) and never returns a batch at or
 * past it.
 */
import { chunkedLength, piecesOf, type ChunkedBytes } from '../protocol/chunked-bytes.js';
import { countCopy } from '../protocol/copy-meter.js';
import { lastAtOrBelow } from './offset-index.js';

/** Backing-store bytes a cached view may pin beyond twice its own size before it is copied instead. */
const BACKING_SLACK_BYTES = 4096;
/** Average piece size below which a batch held as pieces is copied into one buffer when cached. */
const PIECE_BYTES_MIN = 512;

interface Entry {
  owner: PartitionBatchCache;
  baseOffset: number;
  lastOffset: number;
  batch: ChunkedBytes;
  /** chunkedLength(batch), 0 once released. */
  bytes: number;
  dead: boolean;
}

const EMPTY = Buffer.alloc(0);
/** Queue slots consumed or dead before the arrays are compacted. */
const COMPACT_SLOTS_MIN = 1024;

/** The batches of one socket read (single views into `buffer`) admitted since it was first seen. */
interface ReadGroup {
  buffer: ArrayBufferLike;
  bytes: number;
  /** Null once the group's bytes pay for its buffer: no need to remember them. */
  entries: Entry[] | null;
}

export class BatchCache {
  #fifo: Entry[] = [];
  #head = 0;
  #dead = 0;
  #bytes = 0;
  #group: ReadGroup | null = null;
  #settleScheduled = false;

  constructor(readonly bytesMax: number) {
    if (!Number.isSafeInteger(bytesMax) || bytesMax < 0) throw new RangeError(`batchCacheBytesMax ${bytesMax}`);
  }

  /** Bytes of batches held now. */
  get bytes(): number {
    return this.#bytes;
  }

  forPartition(): PartitionBatchCache {
    return new PartitionBatchCache(this);
  }

  /** @internal */
  admit(entry: Entry): boolean {
    if (entry.bytes > this.bytesMax) return false;
    this.#fifo.push(entry);
    this.#bytes += entry.bytes;
    while (this.#bytes > this.bytesMax) {
      const oldest = this.#fifo[this.#head++]!;
      if (oldest.dead) {
        this.#dead--;
        continue;
      }
      this.#release(oldest);
      oldest.owner.evicted();
    }
    const waste = this.#head + this.#dead;
    if (waste >= COMPACT_SLOTS_MIN && waste * 2 >= this.#fifo.length) {
      this.#fifo = this.#fifo.slice(this.#head).filter((e) => !e.dead);
      this.#head = 0;
      this.#dead = 0;
    }
    return true;
  }

  /**
   * @internal `entry` (admitted, a single view of `buffer`) joins the group of its read; a view of another read
   * settles the current group first.
   */
  group(entry: Entry, buffer: ArrayBufferLike): void {
    let g = this.#group;
    if (g !== null && g.buffer !== buffer) {
      this.settle();
      g = null;
    }
    if (g === null) {
      g = this.#group = { buffer, bytes: 0, entries: [] };
      if (!this.#settleScheduled) {
        this.#settleScheduled = true;
        setImmediate(this.#settleLater);
      }
    }
    g.bytes += entry.bytes;
    if (g.entries === null) return;
    if (pays(buffer.byteLength, g.bytes)) g.entries = null;
    else g.entries.push(entry);
  }

  /**
   * Decides the current read group now: if its batches together pin far more than their size, each still cached
   * is copied into memory of its own (counted: `cacheCompact`). Runs by itself once the read is done.
   */
  settle(): void {
    const g = this.#group;
    this.#group = null;
    if (g === null || g.entries === null) return;
    for (const e of g.entries) {
      if (!e.dead) e.batch = compact(e.batch, e.bytes);
    }
  }

  readonly #settleLater = (): void => {
    this.#settleScheduled = false;
    this.settle();
  };

  /** @internal the owner dropped `entry` (log cleared); its slot stays queued until compaction. */
  forget(entry: Entry): void {
    if (entry.dead) return;
    this.#release(entry);
    this.#dead++;
  }

  #release(entry: Entry): void {
    entry.dead = true;
    this.#bytes -= entry.bytes;
    entry.batch = EMPTY; // let the request buffer go now, not when the slot is compacted
    entry.bytes = 0;
  }
}

export class PartitionBatchCache {
  #entries: Entry[] = [];
  #head = 0;
  /** Parallel to #entries: last offsets, for binary search. */
  #lastOffsets: number[] = [];

  constructor(private readonly cache: BatchCache) {}

  /** Adds an appended batch (views, possibly over several pieces); it must follow the previously added one. */
  add(baseOffset: number, lastOffset: number, batch: ChunkedBytes): void {
    // A view into a much larger buffer (a socket read chunk that also held other requests) would keep the whole
    // chunk alive while cached, so the budget would undercount memory by up to chunk/batch. Such batches are
    // copied (the one documented copy). A single view is judged with the other batches of its read
    // (BatchCache.group, later); a batch in pieces of several reads now.
    const bytes = chunkedLength(batch);
    const single = Buffer.isBuffer(batch);
    const pieces = single ? 1 : (batch as readonly Buffer[]).length;
    const wasteful = !single && (!pays(pinnedBytes(batch as readonly Buffer[]), bytes) || bytes < pieces * PIECE_BYTES_MIN);
    const owned = wasteful ? compact(batch, bytes) : batch;
    const entry: Entry = { owner: this, baseOffset, lastOffset, batch: owned, bytes, dead: false };
    if (!this.cache.admit(entry)) {
      // Too big to cache: the run must stay contiguous, so start over after it.
      this.clear();
      return;
    }
    this.#entries.push(entry);
    this.#lastOffsets.push(lastOffset);
    if (single) this.cache.group(entry, (batch as Buffer).buffer);
  }

  /**
   * Whole batches from the one holding `fetchOffset`, each with lastOffset < `upTo`, within `maxBytes` (the
   * first one regardless when `minOneBatch`), back to back as views: a batch held as pieces gives its pieces.
   * Null when `fetchOffset` is older than the cache.
   */
  read(fetchOffset: number, maxBytes: number, upTo: number, minOneBatch: boolean): Buffer[] | null {
    const first = this.#entries[this.#head];
    if (first === undefined || first.baseOffset > fetchOffset) return null;
    // first entry whose lastOffset >= fetchOffset
    let i = lastAtOrBelow(this.#lastOffsets, fetchOffset - 1) + 1;
    if (i < this.#head) i = this.#head;
    const out: Buffer[] = [];
    let bytes = 0;
    for (; i < this.#entries.length; i++) {
      const e = this.#entries[i]!;
      if (e.lastOffset >= upTo) break;
      if (bytes + e.bytes > maxBytes && !(out.length === 0 && minOneBatch)) break;
      if (Buffer.isBuffer(e.batch)) out.push(e.batch);
      else for (const p of e.batch as readonly Buffer[]) out.push(p);
      bytes += e.bytes;
    }
    return out;
  }

  /** Drops everything (log truncated, failed, closed). */
  clear(): void {
    for (let i = this.#head; i < this.#entries.length; i++) this.cache.forget(this.#entries[i]!);
    this.#entries = [];
    this.#lastOffsets = [];
    this.#head = 0;
  }

  /** @internal called by BatchCache after it evicted this partition's oldest entry. */
  evicted(): void {
    while (this.#head < this.#entries.length && this.#entries[this.#head]!.dead) this.#head++;
    if (this.#head >= COMPACT_SLOTS_MIN && this.#head * 2 >= this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#lastOffsets = this.#lastOffsets.slice(this.#head);
      this.#head = 0;
    }
  }
}

/** Whether `bytes` of batches are worth keeping `pinned` bytes of backing memory alive for. */
function pays(pinned: number, bytes: number): boolean {
  return pinned <= 2 * bytes + BACKING_SLACK_BYTES;
}

/** Backing memory `pieces` keep alive (a buffer shared by consecutive pieces counted once). */
function pinnedBytes(pieces: readonly Buffer[]): number {
  let n = 0;
  let last: ArrayBufferLike | null = null;
  for (const p of pieces) {
    if (p.buffer !== last) n += p.buffer.byteLength;
    last = p.buffer;
  }
  return n;
}

/** The batch copied into memory of its own (counted: `cacheCompact`). */
function compact(batch: ChunkedBytes, bytes: number): Buffer {
  const out = Buffer.allocUnsafe(bytes);
  let off = 0;
  for (const p of piecesOf(batch)) off += p.copy(out, off);
  countCopy('cacheCompact', bytes);
  return out;
}
