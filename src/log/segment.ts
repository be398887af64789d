/**
 * One segment of a partition log, three files in the partition directory named by the segment's base offset:
 *   `%020d.log`        record batches (v2) back to back, exactly as stored by produce
 *   `%020d.index`      sparse offset index (offset-index.ts)
 *   `%020d.timeindex`  sparse time index (time-index.ts)
 *
 * Lifecycle: created empty by a roll (`create`, synchronous: the file opens behind the first write) or opened by
 * recovery (`open`, then `recover` or `loadIndexes`). Only the active (last) segment is appended to; at the next
 * roll it becomes inactive (`seal`). Retention and DeleteRecords delete whole segments (`delete`): the file closes
 * once in-flight reads release it.
 *
 * Only the .log holds a file descriptor. Both indexes live in memory while the segment is open and are written
 * once, whole and durably (temporary file, sync, rename), when the segment is sealed or rebuilt by recovery: an
 * idle partition costs one descriptor, not three (10,000 partitions must fit under a 20,000 RLIMIT_NOFILE). The
 * active segment's indexes are never written: every open scans the last segment anyway (recovery.ts), and a
 * sealed segment whose index files are missing or fail their sanity check is rebuilt by a scan.
 *
 * Durability: the segment writes; its owner (PartitionLog) syncs the files through the SyncScheduler and, when a
 * sync completes, moves `visibleBytes` forward. Reads never look past `visibleBytes`, so unsynced bytes (and a
 * half-written batch racing a read) are never served.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { directZeroTailBytesMax, type AppendFile, type FileSystem, type ReadInto } from '../io/index.js';
import { piecesOf, type ChunkedBytes } from '../protocol/chunked-bytes.js';
import {
  LOG_OVERHEAD,
  MAGIC_V2,
  RECORD_BATCH_OVERHEAD,
  batchSize,
  lastOffsetOf,
  readBatchHeader,
  type BatchHeader,
} from '../protocol/records.js';
import { headerScanWindowBytes } from './config.js';
import { CorruptLogError } from './errors.js';
import { OFFSET_INDEX_ENTRY_BYTES, OffsetIndex } from './offset-index.js';
import { scanLog, type ScanResult } from './recovery.js';
import type { CpuOffload } from './offload.js';
import { TIME_INDEX_ENTRY_BYTES, TimeIndex } from './time-index.js';

/** O_DIRECT block sizes: logical block sizes are powers of two in [512, 4096]. */
const directIoBlockBytesMin = 512;

export interface LocatedBatch {
  /** Byte position of the batch in the .log file. */
  position: number;
  header: BatchHeader;
}

const EMPTY = Buffer.alloc(0);

export type SegmentFileSuffix = '.log' | '.index' | '.timeindex';

export function segmentFileName(baseOffset: number, suffix: SegmentFileSuffix): string {
  return String(baseOffset).padStart(20, '0') + suffix;
}

export class Segment {
  readonly #dir: string;
  #offsetIndex: OffsetIndex;
  #timeIndex: TimeIndex;
  /** Offset after the last batch appended (the base offset while empty). */
  nextOffset: number;
  /** Bytes of the .log that are synced and may be read. Invariant: a batch boundary, <= log.size. */
  visibleBytes: number;
  /** Largest batch maxTimestamp appended, and the base offset of the batch holding it (-1: none yet). */
  maxTimestamp = -1;
  offsetOfMaxTimestamp = -1;
  /** The same over visible batches only (ListOffsets, retention). */
  visibleMaxTimestamp = -1;
  visibleOffsetOfMaxTimestamp = -1;
  /** When the segment.ms clock of this segment started (wall clock, ms). */
  rollStartMs: number;
  #bytesSinceIndexEntry = 0;
  #refs = 0;
  #idle: (() => void) | null = null;
  #closing: Promise<void> | null = null;
  #deleting: Promise<void> | null = null;
  /** The write of the index files started by `seal` (never rejects: a failed write leaves them to a rebuild). */
  #indexWrite: Promise<void> = Promise.resolve();

  private constructor(
    private readonly fs: FileSystem,
    dir: string,
    readonly baseOffset: number,
    readonly log: AppendFile,
    nowMs: number,
  ) {
    this.#dir = dir;
    this.#offsetIndex = new OffsetIndex(baseOffset);
    this.#timeIndex = new TimeIndex(baseOffset);
    this.nextOffset = baseOffset;
    this.visibleBytes = 0;
    this.rollStartMs = nowMs;
  }

  /** A new, empty segment; returns at once (the .log is created behind the first write). */
  static create(fs: FileSystem, dir: string, baseOffset: number, nowMs: number): Segment {
    return new Segment(fs, dir, baseOffset, fs.create(path.join(dir, segmentFileName(baseOffset, '.log'))), nowMs);
  }

  /** Opens an existing segment's .log; loads nothing yet. */
  static async open(fs: FileSystem, dir: string, baseOffset: number, nowMs: number): Promise<Segment> {
    return new Segment(fs, dir, baseOffset, await fs.open(path.join(dir, segmentFileName(baseOffset, '.log'))), nowMs);
  }

  #path(suffix: SegmentFileSuffix): string {
    return path.join(this.#dir, segmentFileName(this.baseOffset, suffix));
  }

  get size(): number {
    return this.log.size;
  }

  get offsetIndex(): OffsetIndex {
    return this.#offsetIndex;
  }

  get timeIndex(): TimeIndex {
    return this.#timeIndex;
  }

  /** The largest timestamp retention.ms compares against: the newest batch, else when the segment started. */
  get largestTimestamp(): number {
    return this.visibleMaxTimestamp >= 0 ? this.visibleMaxTimestamp : this.rollStartMs;
  }

  // --- appending ----------------------------------------------------------------------------------------------

  /**
   * An append is two steps, with no object per batch (the produce path's allocations): `indexBatch` for each batch
   * of the next append (`position`: where it starts in the append's bytes, offsets already assigned), then
   * `appendBytes` with those bytes (one Buffer or the pieces they arrived in, which go to the file as they are).
   * Only the .log is written per append, and the owner must sync it before the batches become visible. The indexes
   * are derived data kept in memory, written when the segment is sealed; after an unclean shutdown every segment
   * is rescanned and its indexes rebuilt.
   */
  indexBatch(position: number, size: number, baseOffset: number, lastOffset: number, maxTimestamp: number, indexIntervalBytes: number): void {
    this.#index(this.log.size + position, size, baseOffset, lastOffset, maxTimestamp, indexIntervalBytes);
  }

  /** The append's bytes, after `indexBatch` for each of its batches. */
  appendBytes(chunk: ChunkedBytes): void {
    this.log.append(piecesOf(chunk));
  }

  /** Marks the batches up to `endPosition` synced; `maxTimestamp` is the largest among them. */
  makeVisible(endPosition: number, maxTimestamp: number, offsetOfMaxTimestamp: number): void {
    assert(endPosition >= this.visibleBytes && endPosition <= this.log.size, 'visible bytes must move forward');
    this.visibleBytes = endPosition;
    if (maxTimestamp > this.visibleMaxTimestamp) {
      this.visibleMaxTimestamp = maxTimestamp;
      this.visibleOffsetOfMaxTimestamp = offsetOfMaxTimestamp;
    }
  }

  /**
   * The segment stops being active: its largest timestamp becomes the final time index entry, and both indexes
   * are written out in the background (`close` waits for the write). Returns that write, which never rejects.
   */
  seal(): Promise<void> {
    const write = this.#sealIndexes();
    this.#indexWrite = write.catch(async () => {
      // Derived data: a segment without index files is rebuilt by a scan at the next open.
      await Promise.allSettled([this.fs.remove(this.#path('.index')), this.fs.remove(this.#path('.timeindex'))]);
    });
    return this.#indexWrite;
  }

  /** Adds the final time index entry and writes both index files durably (after any earlier write); may reject. */
  #sealIndexes(): Promise<void> {
    if (this.maxTimestamp >= 0) this.#timeIndex.maybeAppend(this.maxTimestamp, this.offsetOfMaxTimestamp);
    const offsetIndex = this.#offsetIndex.encode();
    const timeIndex = this.#timeIndex.encode();
    const previous = this.#indexWrite;
    return (async () => {
      await previous;
      await Promise.all([
        this.fs.writeFileDurable(this.#path('.index'), offsetIndex),
        this.fs.writeFileDurable(this.#path('.timeindex'), timeIndex),
      ]);
    })();
  }

  #index(position: number, size: number, base: number, last: number, maxTs: number, intervalBytes: number): void {
    if (maxTs > this.maxTimestamp) {
      this.maxTimestamp = maxTs;
      this.offsetOfMaxTimestamp = base;
    }
    if (this.#bytesSinceIndexEntry > intervalBytes) {
      this.#offsetIndex.append(base, position);
      this.#timeIndex.maybeAppend(this.maxTimestamp, this.offsetOfMaxTimestamp);
      this.#bytesSinceIndexEntry = 0;
    }
    this.#bytesSinceIndexEntry += size;
    this.nextOffset = last + 1;
  }

  // --- recovery -----------------------------------------------------------------------------------------------

  /**
   * Rebuilds this segment from its .log: scans and CRC-checks every batch, truncates the file after the last
   * valid one, syncs it, and rebuilds both indexes; an inactive segment's are written out (sealed) before this
   * resolves, an `active` one's stay in memory. `synced`: the file was synced whole before a clean shutdown, so
   * unless it had to be cut there is nothing to sync (an fdatasync per partition at start-up otherwise).
   */
  async recover(indexIntervalBytes: number, active: boolean, offload?: CpuOffload, synced = false): Promise<ScanResult & { truncatedBytes: number }> {
    this.#offsetIndex = new OffsetIndex(this.baseOffset);
    this.#timeIndex = new TimeIndex(this.baseOffset);
    this.#bytesSinceIndexEntry = 0;
    this.maxTimestamp = -1;
    this.offsetOfMaxTimestamp = -1;
    let firstTimestamp = -1;
    const result = await scanLog(this.log, this.baseOffset, (position, h) => {
      if (position === 0) firstTimestamp = h.maxTimestamp;
      this.#index(position, batchSize(h), h.baseOffset, lastOffsetOf(h), h.maxTimestamp, indexIntervalBytes);
    }, offload);
    // A reopened segment's creation time is unknown: its segment.ms clock starts at its first batch, if older.
    if (firstTimestamp >= 0) this.rollStartMs = Math.min(this.rollStartMs, firstTimestamp);
    let truncatedBytes = this.log.size - result.validBytes;
    const paddingBytes = await this.#directIoPadding(result.validBytes);
    if (paddingBytes === truncatedBytes) truncatedBytes = 0;
    const cut = result.validBytes < this.log.size;
    if (cut) await this.log.truncate(result.validBytes);
    this.nextOffset = result.nextOffset;
    // After a crash the scanned bytes may be in the page cache only: sync before serving them.
    if (cut || !synced) await this.log.sync();
    // Recovery fails, to be retried, when the rebuilt indexes cannot be written (a full disk).
    if (!active) await this.#sealIndexes();
    this.#markAllVisible();
    return { ...result, truncatedBytes };
  }

  /**
   * The native engine writes whole blocks with O_DIRECT and keeps zeros written ahead of the end: while a segment
   * is open its file ends in zeros (cut back on close). After a crash those zeros follow the last batch; they are
   * padding, not a torn write, so they must not count as a cut (which would drop the segments after this one).
   * Returns the padding's size, or -1 when the tail after `validBytes` is not all zeros (or longer than the
   * engine ever leaves, `directZeroTailBytesMax`).
   */
  async #directIoPadding(validBytes: number): Promise<number> {
    const tail = this.log.size - validBytes;
    if (tail <= 0 || tail > directZeroTailBytesMax || this.log.size % directIoBlockBytesMin !== 0) return -1;
    const bytes = await this.log.read(validBytes, tail);
    return bytes.length === tail && bytes.every((b) => b === 0) ? tail : -1;
  }

  /**
   * Loads the index files of a segment that needs no scan (below the clean-shutdown point) and sanity-checks
   * them; returns what is wrong when they must be rebuilt instead. `nextOffset` is the next segment's base.
   */
  async loadIndexes(nextOffset: number): Promise<string | null> {
    const [indexBytes, timeBytes] = await Promise.all([this.fs.readFile(this.#path('.index')), this.fs.readFile(this.#path('.timeindex'))]);
    if (indexBytes === null || timeBytes === null) return 'index file missing';
    if (indexBytes.length % OFFSET_INDEX_ENTRY_BYTES !== 0 || timeBytes.length % TIME_INDEX_ENTRY_BYTES !== 0) {
      return 'index size is not a whole number of entries';
    }
    const offsetIndex = OffsetIndex.decode(this.baseOffset, indexBytes, this.log.size);
    if (typeof offsetIndex === 'string') return `offset index: ${offsetIndex}`;
    const timeIndex = TimeIndex.decode(this.baseOffset, timeBytes);
    if (typeof timeIndex === 'string') return `time index: ${timeIndex}`;
    if (offsetIndex.entryCount > 0 && offsetIndex.lookup(Number.MAX_SAFE_INTEGER).offset >= nextOffset) {
      return 'offset index points past the segment';
    }
    if (timeIndex.entryCount > 0 && timeIndex.lastOffset >= nextOffset) return 'time index points past the segment';
    if (this.log.size > 0 && nextOffset <= this.baseOffset) return 'non-empty segment holds no offsets';
    this.#offsetIndex = offsetIndex;
    this.#timeIndex = timeIndex;
    this.nextOffset = nextOffset;
    this.maxTimestamp = timeIndex.lastTimestamp;
    this.offsetOfMaxTimestamp = timeIndex.lastOffset;
    this.#markAllVisible();
    return null;
  }

  #markAllVisible(): void {
    this.visibleBytes = this.log.size;
    this.visibleMaxTimestamp = this.maxTimestamp;
    this.visibleOffsetOfMaxTimestamp = this.offsetOfMaxTimestamp;
  }

  // --- reading ------------------------------------------------------------------------------------------------

  /**
   * Whole visible batches starting with the one that holds `fetchOffset` (or the first after it), each with
   * lastOffset < `upTo`, within `maxBytes` (KIP-74: the first batch regardless when `minOneBatch`).
   * Null when the segment holds no visible batch at or after `fetchOffset`. `into`: where the file may put the
   * bytes (AppendFile.read).
   */
  async read(fetchOffset: number, maxBytes: number, upTo: number, minOneBatch: boolean, into?: ReadInto): Promise<Buffer[] | null> {
    const first = await this.locate(fetchOffset);
    if (first === null) return null;
    if (lastOffsetOf(first.header) >= upTo) return [];
    const end = this.visibleBytes;
    const len = Math.min(maxBytes, end - first.position);
    const buf = len >= RECORD_BATCH_OVERHEAD ? await this.log.read(first.position, len, into) : EMPTY;
    const out = splitBatches(buf, upTo, this.log.path);
    if (out.length === 0 && minOneBatch) out.push(await this.readBatch(first));
    return out;
  }

  /** The first visible batch whose last offset is >= `offset`, or null. */
  async locate(offset: number): Promise<LocatedBatch | null> {
    for await (const b of this.batchesFrom(this.#offsetIndex.lookup(offset).position)) {
      if (lastOffsetOf(b.header) >= offset) return b;
    }
    return null;
  }

  /** The bytes of one located batch (size bounded by the segment file). */
  async readBatch(b: LocatedBatch): Promise<Buffer> {
    const size = batchSize(b.header);
    const buf = await this.log.read(b.position, size);
    if (buf.length !== size) throw new CorruptLogError(`${this.log.path}: short read of batch at ${b.position}`);
    return buf;
  }

  /** Walks visible batch headers from `position` (a batch boundary), reading windows of headers. */
  async *batchesFrom(position: number): AsyncGenerator<LocatedBatch> {
    const end = this.visibleBytes;
    let pos = position;
    while (pos + RECORD_BATCH_OVERHEAD <= end) {
      const window = await this.log.read(pos, Math.min(headerScanWindowBytes, end - pos));
      let p = 0;
      while (p + RECORD_BATCH_OVERHEAD <= window.length) {
        const header = readBatchHeader(window, p);
        checkStoredHeader(header, pos + p, end, this.log.path);
        yield { position: pos + p, header };
        p += batchSize(header);
      }
      if (p === 0) throw new CorruptLogError(`${this.log.path}: short read at ${pos}`);
      pos += p;
    }
  }

  // --- lifetime -----------------------------------------------------------------------------------------------

  /** Pins the files open for a read; pair with `release`. False once the segment is closing or deleted. */
  tryAcquire(): boolean {
    if (this.#closing !== null) return false;
    this.#refs++;
    return true;
  }

  release(): void {
    this.#refs--;
    if (this.#refs === 0 && this.#idle !== null) {
      this.#idle();
      this.#idle = null;
    }
  }

  /**
   * Closes the .log (queued bytes are written, not synced) once no read holds the segment, after the index write
   * of `seal`, if any, has finished. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#refs > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
      await Promise.all([this.log.close(), this.#indexWrite]);
    })();
    return this.#closing;
  }

  /** Closes and removes the segment's files; idempotent. */
  delete(): Promise<void> {
    this.#deleting ??= (async () => {
      await this.close();
      await Promise.all([this.log.path, this.#path('.index'), this.#path('.timeindex')].map((p) => this.fs.remove(p)));
    })();
    return this.#deleting;
  }
}

/** Cuts a buffer read from a batch boundary into whole batches with lastOffset < `upTo` (views, no copies). */
function splitBatches(buf: Buffer, upTo: number, file: string): Buffer[] {
  const out: Buffer[] = [];
  let p = 0;
  while (p + RECORD_BATCH_OVERHEAD <= buf.length) {
    const header = readBatchHeader(buf, p);
    checkStoredHeader(header, p, Number.MAX_SAFE_INTEGER, file);
    const size = batchSize(header);
    if (p + size > buf.length || lastOffsetOf(header) >= upTo) break;
    out.push(buf.subarray(p, p + size));
    p += size;
  }
  return out;
}

/** A stored header that cannot be right means the file was damaged below the recovery point. */
function checkStoredHeader(h: BatchHeader, position: number, end: number, file: string): void {
  if (h.magic !== MAGIC_V2 || h.batchLength < RECORD_BATCH_OVERHEAD - LOG_OVERHEAD || position + batchSize(h) > end) {
    throw new CorruptLogError(`${file}: impossible batch header at byte ${position}`);
  }
}
