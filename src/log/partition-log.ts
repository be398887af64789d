/**
 * The log of one partition: a directory `<dataDir>/<topic>-<partition>/` holding segments (segment.ts) and
 * `log-start-offset.checkpoint` (text: a version line `0`, then the log start offset, each ending in "\n").
 *
 * Offsets: [logStartOffset, highWatermark) is readable; [highWatermark, logEndOffset) is appended but not yet
 * synced. Offsets are assigned synchronously in `append` call order.
 *
 * Durability rule: an append resolves only after its batch bytes, and those of every append before it, are
 * fdatasynced (through the shared SyncScheduler, so appends group-commit), i.e. when the high watermark passes it.
 * Index entries are not synced per append: they are derived data, rebuilt by recovery after an unclean shutdown.
 * The high watermark moves only over synced appends, in order, and only synced data is readable. A failed write or sync is fatal for the log: it enters a failed
 * state, the pending and every later append and read reject with KafkaStorageError, and nothing is retried.
 *
 * Lifecycle: `PartitionLog.open` recovers the directory (see `open`), then appends, reads and maintenance
 * (retention, DeleteRecords) run until `close` (drains pending appends, syncs, closes); LogManager deletes.
 * Runs on the partition's owning shard; not thread-safe, single event loop.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import Denque from 'denque';
import type { FileSystem, ReadInto } from '../io/index.js';
import { ChunkedView, type ChunkedBytes } from '../protocol/chunked-bytes.js';
import {
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  MAGIC_V2,
  RECORD_BATCH_OVERHEAD,
  assignOffsets,
  batchSize,
  compressionOf,
  iterateRecords,
  batchPayload,
  readBatchHeaderAt,
  Compression,
  type CompressionId,
  type BatchHeader,
} from '../protocol/records.js';
import { inlineOffload, type CpuOffload } from './offload.js';
import type { PartitionBatchCache } from './batch-cache.js';
import { readBytesMax, relativeOffsetMax, validateLogConfig, type LogConfig } from './config.js';
import { KafkaStorageError, LogClosedError } from './errors.js';
import { Segment, segmentFileName, type LocatedBatch } from './segment.js';
import type { SyncScheduler } from './sync-scheduler.js';

/** A pino-compatible logger (the subset the log uses). */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

export interface AppendResult {
  baseOffset: number;
  lastOffset: number;
  /** The broker timestamp written into the batches when the topic uses LogAppendTime, else -1. */
  logAppendTime: number;
  logStartOffset: number;
}

/**
 * `records`: whole batches back to back, as views (cache or file read). A batch that arrived over several socket
 * reads is served as the pieces it was stored from, so one batch may be several elements.
 */
export type ReadResult =
  | { ok: true; records: Buffer[]; highWatermark: number; logStartOffset: number }
  | { ok: false; error: 'OFFSET_OUT_OF_RANGE'; highWatermark: number; logStartOffset: number };

export type DeleteRecordsResult =
  | { ok: true; lowWatermark: number }
  | { ok: false; error: 'OFFSET_OUT_OF_RANGE'; lowWatermark: number };

export interface TimestampAndOffset {
  timestamp: number;
  offset: number;
}

/** A batch header found in the records given to `append`, with its byte position there. */
export type AppendBatch = Pick<BatchHeader, 'lastOffsetDelta' | 'batchLength' | 'maxTimestamp'> & { position: number };

export interface PartitionLogOptions {
  dir: string;
  config: LogConfig;
  fs: FileSystem;
  scheduler: SyncScheduler;
  cache: PartitionBatchCache;
  /** Wall clock, ms (injected so tests control time). */
  clock: () => number;
  logger: Logger;
  /** The data directory was shut down cleanly: only the last segment needs a recovery scan. */
  cleanShutdown: boolean;
  /** Told once when the log fails (its owner may reopen it later: a full disk is not a broken one). */
  onFailure?: (err: KafkaStorageError) => void;
  /** Where decompression and recovery CRC checks run (default: inline). */
  offload?: CpuOffload;
}

interface PendingAppend {
  endOffset: number;
  segment: Segment;
  endPosition: number;
  maxTimestamp: number;
  offsetOfMaxTimestamp: number;
  /** The caller's promise (its rejection is marked handled when the log fails, see #fail). */
  done: Promise<AppendResult>;
  /** Settled by #advance once the high watermark passes this append (never earlier), or by #fail. */
  resolve: (r: AppendResult) => void;
  reject: (err: Error) => void;
  result: AppendResult;
}

const ignore = (): void => undefined;

/** A segment deleted while a read wanted it. */
const GONE = Symbol('segment gone');

const CHECKPOINT_FILE = 'log-start-offset.checkpoint';
const SEGMENT_LOG = /^(\d{20})\.log$/;
/**
 * Leftovers of interrupted work: checkpoint temp files, and index files whose .log is gone (the aborted-transaction
 * index, .txnindex, is written by src/txn beside the segment and goes with it).
 */
const STRAY = /^(\d{20})\.(index|timeindex|txnindex)$|\.tmp$/;
const TXN_INDEX_SUFFIX = '.txnindex';

export class PartitionLog {
  readonly dir: string;
  #config: LogConfig;
  readonly #fs: FileSystem;
  readonly #scheduler: SyncScheduler;
  readonly #cache: PartitionBatchCache;
  readonly #clock: () => number;
  readonly #logger: Logger;
  readonly #offload: CpuOffload;
  readonly #onFailure: ((err: KafkaStorageError) => void) | undefined;

  /**
   * Invariant: non-empty, ascending base offsets; the last one is the active segment. Deletions replace the
   * array (copy-on-write) so readers may iterate a snapshot across awaits; rolls only push at the end.
   */
  #segments: Segment[] = [];
  #logStartOffset = 0;
  #highWatermark = 0;
  #logEndOffset = 0;
  /**
   * Appends not yet acknowledged, oldest first. A ring that keeps its slots (denque): an array emptied once per
   * append would allocate its storage again on the next push.
   */
  #pending = new Denque<PendingAppend>();
  #deletions = new Set<Promise<void>>();
  #maintenance: Promise<unknown> = Promise.resolve();
  #listeners = new Set<() => void>();
  #failure: KafkaStorageError | null = null;
  #closing: Promise<void> | null = null;

  private constructor(opts: PartitionLogOptions) {
    this.dir = opts.dir;
    this.#config = opts.config;
    this.#fs = opts.fs;
    this.#scheduler = opts.scheduler;
    this.#cache = opts.cache;
    this.#clock = opts.clock;
    this.#logger = opts.logger;
    this.#offload = opts.offload ?? inlineOffload;
    this.#onFailure = opts.onFailure;
  }

  /**
   * Opens (creating when missing) and recovers a partition directory:
   * - segments load in base-offset order;
   * - after a clean shutdown only the last segment is scanned, the others' indexes are sanity-checked (size a
   *   whole number of entries, increasing, inside the segment) and rebuilt by a scan when they fail;
   * - after an unclean shutdown every segment is scanned;
   * - a scan CRC-checks every batch, truncates the segment at the first invalid (torn) batch, rebuilds both
   *   indexes and syncs; if a non-last segment was cut or ends before the next one's base offset, every later
   *   segment is deleted (as Kafka does: nothing after a hole can have been acknowledged, since
   *   acknowledgements follow log order).
   */
  static async open(opts: PartitionLogOptions): Promise<PartitionLog> {
    const problem = validateLogConfig(opts.config);
    if (problem !== null) throw new RangeError(`invalid log config: ${problem}`);
    const log = new PartitionLog(opts);
    try {
      await log.#recover(opts.cleanShutdown);
    } catch (err) {
      // Close what was opened: a partition retried while the disk is full must not leak a handle per attempt.
      await Promise.allSettled(log.#segments.map((s) => s.close()));
      throw err;
    }
    return log;
  }

  async #recover(cleanShutdown: boolean): Promise<void> {
    await this.#fs.mkdirp(this.dir);
    const bases = await this.#listSegments();
    const checkpointed = await this.#readCheckpoint();
    const now = this.#clock();
    for (let i = 0; i < bases.length; i++) {
      if (!(await this.#loadSegment(bases, i, cleanShutdown, now))) break;
    }
    if (this.#segments.length === 0) this.#segments.push(Segment.create(this.#fs, this.dir, checkpointed, now));
    this.#logEndOffset = this.#segments.at(-1)!.nextOffset;
    this.#highWatermark = this.#logEndOffset;
    this.#logStartOffset = Math.max(checkpointed, this.#segments[0]!.baseOffset);
    if (this.#logStartOffset > this.#logEndOffset) {
      // DeleteRecords moved the start past data that a crash then took: start over, empty, at the start offset.
      this.#logger.warn({ dir: this.dir, logStartOffset: this.#logStartOffset }, 'log start offset beyond log end');
      for (const seg of this.#segments) await seg.delete();
      this.#segments = [Segment.create(this.#fs, this.dir, this.#logStartOffset, now)];
      this.#logEndOffset = this.#highWatermark = this.#logStartOffset;
    }
    // DeleteRecords may have crashed between its checkpoint and its segment deletions.
    this.#deleteSegmentsBelowStart();
  }

  /** Base offsets of the segments on disk, ascending; removes leftovers of interrupted work. */
  async #listSegments(): Promise<number[]> {
    const names = await this.#fs.list(this.dir);
    const bases = names
      .map((n) => SEGMENT_LOG.exec(n)?.[1])
      .filter((b): b is string => b !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    const present = new Set(bases);
    for (const n of names) {
      const m = STRAY.exec(n);
      if (m !== null && (m[1] === undefined || !present.has(Number(m[1])))) {
        await this.#fs.remove(path.join(this.dir, n));
      }
    }
    return bases;
  }

  /**
   * Opens segment `bases[i]`, scanning or sanity-checking it, and appends it to the segment list.
   * Returns false when the segments after it were deleted (the log ends here).
   */
  async #loadSegment(bases: readonly number[], i: number, cleanShutdown: boolean, now: number): Promise<boolean> {
    const base = bases[i]!;
    const last = i === bases.length - 1;
    const later = bases.slice(i + 1);
    const seg = await Segment.open(this.#fs, this.dir, base, now);
    const prev = this.#segments.at(-1);
    if (prev !== undefined && prev.nextOffset > base) {
      // Overlapping segments cannot come from this log's own writes: keep the prefix, drop the rest.
      this.#logger.warn({ dir: this.dir, base }, 'segment overlaps its predecessor; deleting it and later ones');
      await seg.delete();
      await this.#deleteFiles(later);
      return false;
    }
    if (cleanShutdown && !last) {
      const why = await seg.loadIndexes(bases[i + 1]!);
      if (why === null) {
        this.#segments.push(seg);
        return true;
      }
      this.#logger.warn({ dir: this.dir, base, why }, 'rebuilding segment indexes');
    }
    const result = await seg.recover(this.#config.indexIntervalBytes, last, this.#offload, cleanShutdown).catch(async (err: unknown) => {
      await seg.close().catch(() => undefined);
      throw err;
    });
    this.#segments.push(seg);
    if (result.truncatedBytes > 0) {
      this.#logger.warn(
        { dir: this.dir, base, truncatedBytes: result.truncatedBytes, why: result.problem },
        'truncated segment at its last valid batch',
      );
    }
    // The next segment was rolled at this one's end: ending short (cut, or unsynced bytes lost) means nothing
    // after it was ever acknowledged.
    if (!last && (result.truncatedBytes > 0 || result.nextOffset < bases[i + 1]!)) {
      this.#logger.warn({ dir: this.dir, base, deleted: later }, 'deleting segments after a cut');
      await this.#deleteFiles(later);
      return false;
    }
    return true;
  }

  async #deleteFiles(bases: readonly number[]): Promise<void> {
    for (const base of bases) {
      for (const suffix of ['.log', '.index', '.timeindex'] as const) {
        await this.#fs.remove(path.join(this.dir, segmentFileName(base, suffix)));
      }
      await this.#fs.remove(path.join(this.dir, txnIndexFileName(base)));
    }
  }

  // --- state ------------------------------------------------------------------------------------------------

  get config(): Readonly<LogConfig> {
    return this.#config;
  }

  /** Offset after the last synced batch: the end of what is readable. */
  get highWatermark(): number {
    return this.#highWatermark;
  }

  /** Offset the next append gets. */
  get logEndOffset(): number {
    return this.#logEndOffset;
  }

  get logStartOffset(): number {
    return this.#logStartOffset;
  }

  /** Bytes of all segment files' batches (DescribeLogDirs, retention.bytes). */
  get sizeBytes(): number {
    return this.#segments.reduce((n, s) => n + s.size, 0);
  }

  get segmentCount(): number {
    return this.#segments.length;
  }

  /** Base offsets of the segments, oldest first (tests, admin). */
  get segmentBaseOffsets(): number[] {
    return this.#segments.map((s) => s.baseOffset);
  }

  get failed(): boolean {
    return this.#failure !== null;
  }

  /** The file system the log's files live on (src/txn keeps producer snapshots and .txnindex files beside them). */
  get fileSystem(): FileSystem {
    return this.#fs;
  }

  get closed(): boolean {
    return this.#closing !== null;
  }

  /** Validated at the caller (DescribeConfigs / AlterConfigs); takes effect from the next append or pass. */
  updateConfig(config: LogConfig): void {
    const problem = validateLogConfig(config);
    if (problem !== null) throw new RangeError(`invalid log config: ${problem}`);
    this.#config = { ...config };
  }

  /** Calls `listener` whenever the high watermark advances (and once when the log fails). Returns unsubscribe. */
  onAppend(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  // --- append -----------------------------------------------------------------------------------------------

  /**
   * Appends validated batches (`validateBatches` in src/protocol/records.ts); pass its `batches` to skip the
   * header walk. Offsets are assigned now, in call order, by rewriting baseOffset and partitionLeaderEpoch in
   * `records` (and maxTimestamp under LogAppendTime); otherwise the bytes are stored as received, without a copy,
   * and must not be changed by the caller afterwards. Resolves once the bytes are durable.
   * `records` may be chunked (the views of the socket reads a request arrived in): batches that straddle pieces
   * are rewritten, cached and written where they lie, never joined.
   */
  append(records: ChunkedBytes, opts: { leaderEpoch: number; batches?: readonly AppendBatch[] }): Promise<AppendResult> {
    const unusable = this.#unusable();
    if (unusable !== null) return Promise.reject(unusable);
    // A single Buffer with its batches known (the produce path) needs no ChunkedView: slices are subarrays.
    const view = Buffer.isBuffer(records) && opts.batches !== undefined ? null : new ChunkedView(records);
    const length = view === null ? (records as Buffer).length : view.length;
    const batches = opts.batches ?? walkBatches(view!);
    assert(batches.length > 0, 'append needs at least one batch');
    const now = this.#clock();
    const appendTime = this.#config.messageTimestampType === 'LogAppendTime' ? now : undefined;
    let offsetCount = 0;
    for (const b of batches) {
      // Checked before anything changes: the loop below indexes each batch as it goes.
      assert(b.position + LOG_OVERHEAD + b.batchLength <= length, 'batch runs past the records buffer');
      offsetCount += b.lastOffsetDelta + 1;
    }
    this.#maybeRoll(now, length, offsetCount);

    const segment = this.#segments.at(-1)!;
    const baseOffset = this.#logEndOffset;
    let offset = baseOffset;
    let maxTimestamp = -1;
    let offsetOfMaxTimestamp = -1;
    for (const b of batches) {
      const size = LOG_OVERHEAD + b.batchLength;
      const batch =
        view !== null
          ? view.slice(b.position, b.position + size)
          : b.position === 0 && size === length
            ? (records as Buffer)
            : (records as Buffer).subarray(b.position, b.position + size);
      assignOffsets(batch, 0, offset, opts.leaderEpoch, appendTime);
      const lastOffset = offset + b.lastOffsetDelta;
      const batchMaxTimestamp = appendTime ?? b.maxTimestamp;
      segment.indexBatch(b.position, size, offset, lastOffset, batchMaxTimestamp, this.#config.indexIntervalBytes);
      if (batchMaxTimestamp > maxTimestamp) {
        maxTimestamp = batchMaxTimestamp;
        offsetOfMaxTimestamp = offset;
      }
      this.#cache.add(offset, lastOffset, batch);
      offset = lastOffset + 1;
    }
    segment.appendBytes(records);
    this.#logEndOffset = offset;
    // An append is acknowledged only when every append before it is durable too, i.e. when the high watermark
    // passes it: after a roll, this append's file (the new segment) may finish syncing before an earlier
    // append's file (the old segment), and acking it then could lose it to recovery if the earlier one tears.
    // The append path allocates as little as it can (halving its garbage raised 1 KiB appends at max load 1.7x,
    // docs/benchmarks.md round 3): one promise for the caller (its executor bound once), the pending record, and
    // sync callbacks bound once; whether an append is durable is read off its file's synced size.
    const done = new Promise<AppendResult>(this.#capture);
    const captured = this.#captured;
    this.#pending.push({
      endOffset: offset,
      segment,
      endPosition: segment.size,
      maxTimestamp,
      offsetOfMaxTimestamp,
      done,
      resolve: captured.resolve!,
      reject: captured.reject!,
      result: { baseOffset, lastOffset: offset - 1, logAppendTime: appendTime ?? -1, logStartOffset: -1 },
    });
    captured.resolve = captured.reject = null; // an idle log keeps no settled promise alive through them
    this.#scheduler.syncThen(segment.log, this.#onSynced, this.#onSyncFailed);
    return done;
  }

  /** The resolving functions `#capture` was just given (a promise's executor runs synchronously); append takes them. */
  readonly #captured: { resolve: ((r: AppendResult) => void) | null; reject: ((err: Error) => void) | null } = {
    resolve: null,
    reject: null,
  };

  /** Bound once: the executor of each append's promise, with no closure per append. */
  readonly #capture = (resolve: (r: AppendResult) => void, reject: (err: Error) => void): void => {
    this.#captured.resolve = resolve;
    this.#captured.reject = reject;
  };

  /** Bound once: a sync of some segment's .log finished; acknowledge what is durable now. */
  readonly #onSynced = (): void => this.#advance();

  /** Bound once: a failed write or sync fails the log (#fail rejects every pending append). */
  readonly #onSyncFailed = (err: unknown): void => void this.#fail(err);

  #maybeRoll(now: number, bytes: number, offsetCount: number): void {
    const active = this.#segments.at(-1)!;
    if (active.size === 0) return;
    const full = active.size + bytes > this.#config.segmentBytes;
    const expired = now - active.rollStartMs > this.#config.segmentMs;
    const offsetsOverflow = this.#logEndOffset + offsetCount - 1 - active.baseOffset > relativeOffsetMax;
    if (full || expired || offsetsOverflow) this.#roll(now);
  }

  /** Starts a new active segment at the log end. Synchronous: its files open behind their first write. */
  #roll(now: number): void {
    const old = this.#segments.at(-1)!;
    void old.seal();
    this.#segments.push(Segment.create(this.#fs, this.dir, this.#logEndOffset, now));
    this.#logger.info({ dir: this.dir, baseOffset: this.#logEndOffset }, 'rolled segment');
  }

  /** Moves the high watermark over the synced prefix of pending appends, in order. */
  #advance(): void {
    if (this.#failure !== null) return;
    let advanced = false;
    // Durable = its bytes are below its .log's synced size (a sync covers everything written before it began).
    while (this.#pending.length > 0) {
      const p = this.#pending.peekFront()!;
      if (p.segment.log.syncedSize < p.endPosition) break;
      this.#pending.shift();
      p.segment.makeVisible(p.endPosition, p.maxTimestamp, p.offsetOfMaxTimestamp);
      this.#highWatermark = p.endOffset;
      p.result.logStartOffset = this.#logStartOffset;
      p.resolve(p.result);
      advanced = true;
    }
    if (advanced) this.#notify();
  }

  #notify(): void {
    for (const listener of this.#listeners) {
      try {
        listener();
      } catch (err) {
        this.#logger.error({ dir: this.dir, err }, 'onAppend listener threw');
      }
    }
  }

  /** Enters the failed state (once); returns the error every later call rejects with. */
  #fail(err: unknown): KafkaStorageError {
    if (this.#failure === null) {
      const message = err instanceof Error ? err.message : String(err);
      this.#failure =
        err instanceof KafkaStorageError ? err : new KafkaStorageError(`${this.dir}: ${message}`, { cause: err });
      this.#cache.clear();
      this.#logger.error({ dir: this.dir, err }, 'log failed; it stays offline until reopened');
      // Every append not yet acknowledged fails, including ones whose own sync succeeded: an earlier one did not.
      // Each caller's promise is marked handled first: a caller that dropped it must not crash the process.
      const failed = this.#pending.toArray();
      this.#pending = new Denque();
      for (const p of failed) {
        p.done.catch(ignore);
        p.reject(this.#failure);
      }
      this.#notify(); // wake long-polling fetches so they see the error now
      this.#onFailure?.(this.#failure);
    }
    return this.#failure;
  }

  #unusable(): Error | null {
    if (this.#failure !== null) return this.#failure;
    if (this.#closing !== null) return new LogClosedError(`${this.dir} is closed`);
    return null;
  }

  // --- read -------------------------------------------------------------------------------------------------

  /**
   * Whole batches from the one holding `fetchOffset`, up to `maxBytes` (capped at readBytesMax), each ending
   * below `upTo` (default and maximum: the high watermark). KIP-74: with `minOneBatch` the first batch is returned
   * even when it is bigger than `maxBytes`. The first batch may start before `fetchOffset`, as in Kafka.
   * Recent batches come from the batch cache as views; older ones are read from the segment file (into memory
   * from `opts.into` when the engine can: AppendFile.read).
   */
  async read(
    fetchOffset: number,
    maxBytes: number,
    opts: { minOneBatch: boolean; upTo?: number; into?: ReadInto },
  ): Promise<ReadResult> {
    const unusable = this.#unusable();
    if (unusable !== null) throw unusable;
    const highWatermark = this.#highWatermark;
    const logStartOffset = this.#logStartOffset;
    if (fetchOffset < logStartOffset || fetchOffset > this.#logEndOffset) {
      return { ok: false, error: 'OFFSET_OUT_OF_RANGE', highWatermark, logStartOffset };
    }
    const upTo = Math.min(opts.upTo ?? highWatermark, highWatermark);
    const limit = Math.max(0, Math.min(maxBytes, readBytesMax));
    const ok = (records: Buffer[]): ReadResult => ({ ok: true, records, highWatermark, logStartOffset });
    if (fetchOffset >= upTo) return ok([]);

    const cached = this.#cache.read(fetchOffset, limit, upTo, opts.minOneBatch);
    if (cached !== null) return ok(cached);

    const segments = this.#segments;
    for (let i = segmentIndexFor(segments, fetchOffset); i < segments.length; i++) {
      const records = await this.#withSegment(segments[i]!, (s) => s.read(fetchOffset, limit, upTo, opts.minOneBatch, opts.into));
      // Deleted under us (retention or DeleteRecords): answer again against the new log start.
      if (records === GONE) return this.read(fetchOffset, maxBytes, opts);
      if (records !== null) return ok(records);
    }
    return ok([]);
  }

  /**
   * Runs a read on a segment pinned against deletion; GONE when it is already being deleted. Errors from the
   * file system (errno codes) fail the log; CorruptLogError is only this read's problem.
   */
  async #withSegment<T>(segment: Segment, fn: (s: Segment) => Promise<T>): Promise<T | typeof GONE> {
    if (!segment.tryAcquire()) return GONE;
    try {
      const result = await fn(segment);
      const unusable = this.#unusable();
      if (unusable !== null) throw unusable;
      return result;
    } catch (err) {
      if (isErrnoError(err)) throw this.#fail(err);
      throw err;
    } finally {
      segment.release();
    }
  }

  // --- timestamps -------------------------------------------------------------------------------------------

  /**
   * ListOffsets by timestamp: the first readable record whose timestamp is >= `timestamp`, or null when there
   * is none. Segments are skipped by their largest timestamp, then the time index and batch headers narrow the
   * search to the first batch whose maxTimestamp is >= `timestamp`; inside an uncompressed batch the exact record
   * is found, a compressed one answers with its first offset (the log does not decompress).
   */
  async offsetForTimestamp(timestamp: number): Promise<TimestampAndOffset | null> {
    const unusable = this.#unusable();
    if (unusable !== null) throw unusable;
    for (const segment of [...this.#segments]) {
      if (segment.visibleMaxTimestamp < timestamp) continue;
      const found = await this.#withSegment(segment, async (s) => {
        const minOffset = this.#logStartOffset;
        const start = Math.max(s.timeIndex.searchStart(timestamp), minOffset, s.baseOffset);
        for await (const b of s.batchesFrom(s.offsetIndex.lookup(start).position)) {
          if (b.header.maxTimestamp < timestamp || b.header.baseOffset + b.header.lastOffsetDelta < minOffset) continue;
          const hit = await this.#firstRecordAtOrAfter(s, b, timestamp, minOffset);
          if (hit !== null) return hit;
        }
        return null;
      });
      if (found === GONE) return this.offsetForTimestamp(timestamp);
      if (found !== null) return found;
    }
    return null;
  }

  /** ListOffsets MAX_TIMESTAMP (-3): the readable record with the largest timestamp (the first such), or null. */
  async maxTimestampOffset(): Promise<TimestampAndOffset | null> {
    const unusable = this.#unusable();
    if (unusable !== null) throw unusable;
    let best: Segment | null = null;
    for (const s of this.#segments) {
      if (s.visibleMaxTimestamp >= 0 && (best === null || s.visibleMaxTimestamp > best.visibleMaxTimestamp)) best = s;
    }
    if (best === null) return null;
    const target = best.visibleMaxTimestamp;
    const batchOffset = Math.max(best.visibleOffsetOfMaxTimestamp, this.#logStartOffset);
    const found = await this.#withSegment(best, async (s) => {
      const b = await s.locate(batchOffset);
      if (b === null) return null;
      const exact = await this.#firstRecordAtOrAfter(s, b, target, this.#logStartOffset);
      return exact ?? { timestamp: target, offset: batchOffset };
    });
    return found === GONE ? this.maxTimestampOffset() : found;
  }

  async #firstRecordAtOrAfter(
    s: Segment,
    b: LocatedBatch,
    timestamp: number,
    minOffset: number,
  ): Promise<TimestampAndOffset | null> {
    const h = b.header;
    const bytes = await s.readBatch(b);
    let payload = batchPayload(bytes, 0, h);
    const codec = compressionOf(h.attributes);
    if (codec !== Compression.none) {
      // Kafka answers with the exact record, so the batch is decompressed (only here: never on produce or fetch).
      // A batch that does not decompress (its CRC was right, so the producer built it so) answers with its start.
      try {
        payload = await this.#offload.decompress(codec as CompressionId, payload);
      } catch {
        return { timestamp: h.maxTimestamp, offset: Math.max(h.baseOffset, minOffset) };
      }
    }
    for (const r of iterateRecords(payload, h)) {
      if (r.timestamp >= timestamp && r.offset >= minOffset) return { timestamp: r.timestamp, offset: r.offset };
    }
    return null;
  }

  // --- retention and DeleteRecords --------------------------------------------------------------------------

  /**
   * DeleteRecords: raises the log start offset to `offset` (-1: the high watermark), persists it, and deletes
   * segments entirely below it. OFFSET_OUT_OF_RANGE beyond the high watermark, as in Kafka.
   */
  deleteRecordsBefore(offset: number): Promise<DeleteRecordsResult> {
    return this.#exclusive(async () => {
      const target = offset === -1 ? this.#highWatermark : offset;
      if (target < 0 || target > this.#highWatermark) {
        return { ok: false, error: 'OFFSET_OUT_OF_RANGE', lowWatermark: this.#logStartOffset };
      }
      if (target > this.#logStartOffset) {
        this.#logStartOffset = target;
        await this.#writeCheckpoint();
        this.#deleteSegmentsBelowStart();
      }
      return { ok: true, lowWatermark: this.#logStartOffset };
    });
  }

  /**
   * Deletes segments past retention.ms (by their largest timestamp) or beyond retention.bytes (oldest first),
   * when cleanup.policy includes delete. Only segments wholly below the high watermark are candidates; the active
   * one is too when it is non-empty and everything older goes, in which case the log rolls first (as Kafka does).
   * Returns the number of segments deleted.
   */
  applyRetention(nowMs: number): Promise<number> {
    return this.#exclusive(async () => {
      const config = this.#config;
      if (!config.cleanupPolicy.includes('delete')) return 0;
      const segs = this.#segments;
      const eligible = (i: number): boolean => {
        const s = segs[i]!;
        const last = i === segs.length - 1;
        return s.nextOffset <= this.#highWatermark && !(last && s.size === 0);
      };
      let byTime = 0;
      if (config.retentionMs >= 0) {
        const expired = (i: number): boolean => nowMs - segs[i]!.largestTimestamp > config.retentionMs;
        while (byTime < segs.length && eligible(byTime) && expired(byTime)) byTime++;
      }
      let bySize = 0;
      if (config.retentionBytes >= 0) {
        let excess = this.sizeBytes - config.retentionBytes;
        while (bySize < segs.length && eligible(bySize) && excess - segs[bySize]!.size >= 0) {
          excess -= segs[bySize]!.size;
          bySize++;
        }
      }
      const count = Math.max(byTime, bySize);
      if (count === 0) return 0;
      if (count === segs.length) this.#roll(nowMs);
      this.#logger.info({ dir: this.dir, count, byTime, bySize }, 'retention deleting segments');
      this.#deleteFirstSegments(count);
      return count;
    });
  }

  #deleteSegmentsBelowStart(): void {
    let count = 0;
    while (count < this.#segments.length - 1 && this.#segments[count + 1]!.baseOffset <= this.#logStartOffset) count++;
    this.#deleteFirstSegments(count);
  }

  /** Drops the `count` oldest segments (never the active one) and deletes their files in the background. */
  #deleteFirstSegments(count: number): void {
    if (count === 0) return;
    assert(count < this.#segments.length, 'the active segment is never deleted');
    // Copy-on-write: a read holding the old array keeps a consistent view while segments go.
    const removed = this.#segments.slice(0, count);
    this.#segments = this.#segments.slice(count);
    this.#logStartOffset = Math.max(this.#logStartOffset, this.#segments[0]!.baseOffset);
    for (const seg of removed) {
      const txnIndex = path.join(this.dir, txnIndexFileName(seg.baseOffset));
      const deletion = seg
        .delete()
        .then(() => this.#fs.remove(txnIndex))
        .catch((err: unknown) => void this.#fail(err));
      this.#deletions.add(deletion);
      void deletion.then(() => this.#deletions.delete(deletion));
    }
  }

  async #readCheckpoint(): Promise<number> {
    const bytes = await this.#fs.readFile(path.join(this.dir, CHECKPOINT_FILE));
    if (bytes === null) return 0;
    const lines = bytes.toString('utf8').split('\n');
    const value = Number(lines[1]);
    if (lines[0] !== '0' || !/^\d+$/.test(lines[1] ?? '') || !Number.isSafeInteger(value)) {
      this.#logger.warn({ dir: this.dir }, 'ignoring malformed log start offset checkpoint');
      return 0;
    }
    return value;
  }

  async #writeCheckpoint(): Promise<void> {
    try {
      const text = `0\n${this.#logStartOffset}\n`;
      await this.#fs.writeFileDurable(path.join(this.dir, CHECKPOINT_FILE), Buffer.from(text));
    } catch (err) {
      throw this.#fail(err);
    }
  }

  /** Serialises maintenance (retention, DeleteRecords, close) so segment deletions never interleave. */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#maintenance.then(async () => {
      const unusable = this.#unusable();
      if (unusable !== null) throw unusable;
      return fn();
    });
    this.#maintenance = run.catch(() => undefined);
    return run;
  }

  // --- shutdown ---------------------------------------------------------------------------------------------

  /**
   * Stops accepting appends, waits for pending ones to settle, syncs every .log with unsynced bytes, and closes
   * (segments finish writing the indexes of their seal first). Idempotent. A failed log closes without syncing.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown(true);
    return this.#closing;
  }

  /** Closes without a final sync and removes the partition directory. */
  async #shutdown(sync: boolean): Promise<void> {
    await Promise.allSettled(this.#pending.toArray().map((p) => p.done));
    await this.#maintenance;
    await Promise.allSettled([...this.#deletions]);
    if (sync && this.#failure === null) {
      const files = this.#segments.map((s) => s.log);
      const dirty = files.filter((f) => f.size > f.syncedSize);
      try {
        await Promise.all(dirty.map((f) => f.sync()));
      } catch (err) {
        this.#fail(err);
      }
    }
    this.#cache.clear();
    this.#notify(); // wake long-polling fetches: the log is going away (topic deleted or broker stopping)
    this.#listeners.clear();
    await Promise.allSettled(this.#segments.map((s) => s.close()));
  }
}

/** Finds the batches of already-validated records (the header walk `validateBatches` would have done). */
function walkBatches(records: ChunkedView): AppendBatch[] {
  const out: AppendBatch[] = [];
  let pos = 0;
  while (pos < records.length) {
    assert(pos + RECORD_BATCH_OVERHEAD <= records.length, 'records end inside a batch header');
    assert(records.readInt8(pos + MAGIC_OFFSET) === MAGIC_V2, 'records must be validated v2 batches');
    const header = readBatchHeaderAt(records, pos);
    const size = batchSize(header);
    assert(size >= RECORD_BATCH_OVERHEAD && pos + size <= records.length, 'records must be validated batches');
    const { batchLength, lastOffsetDelta, maxTimestamp } = header;
    out.push({ position: pos, batchLength, lastOffsetDelta, maxTimestamp });
    pos += size;
  }
  return out;
}

/** The aborted-transaction index file of a segment (written by src/txn, deleted with the segment here). */
function txnIndexFileName(baseOffset: number): string {
  return String(baseOffset).padStart(20, '0') + TXN_INDEX_SUFFIX;
}

/** Index of the last segment whose base offset is <= `offset` (0 when none is). */
function segmentIndexFor(segments: readonly Segment[], offset: number): number {
  let lo = 0;
  let hi = segments.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (segments[mid]!.baseOffset <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** An error from the operating system (EIO, ENOSPC, EBADF...), as opposed to one of ours. */
function isErrnoError(err: unknown): boolean {
  if (!(err instanceof Error) || !('code' in err)) return false;
  return typeof err.code === 'string' && /^E[A-Z0-9]+$/.test(err.code);
}
