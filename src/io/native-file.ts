/**
 * `FileSystem` over the native log engine (native/engine.cc): O_DIRECT appends from aligned staging with the
 * partly filled tail block kept in memory and rewritten on the next flush, group commit across every file of
 * the engine (one round = one write per dirty file, then one fdatasync per file asked to sync, all files of a
 * round in parallel on the engine's I/O threads; the next round's writes overlap this round's syncs), off the
 * JS thread, many completions per callback; cold reads are
 * native preads into aligned buffers handed to JS as views (zero-copy), or into memory the caller gives (a shard's
 * bulk arena, for an answer to another shard). A direct file read sequentially (a
 * consumer catching up: nothing of it is in the page cache) gets read-ahead: the engine's prefetch thread reads
 * the next `readAheadBytes` in 2 MiB blocks, and reads they hold are copied out of them in native code.
 *
 * Record bytes are not copied in JS: `append` passes the caller's buffers to the engine, which reads them on
 * its runner threads; this face keeps them referenced until the engine reports them written.
 *
 * Files whose name `directFor` rejects (by default everything but `.log` segments: indexes and checkpoints are
 * small, derived, and read whole) use buffered I/O + fdatasync. Where the file system refuses O_DIRECT the
 * engine falls back to buffered I/O, and this face says so once in the log.
 *
 * A direct file's last block is padded with zeros on disk while it is open, and zeros are written ahead of its end
 * (`zeroAheadBytes`); `close` cuts the file back to its logical size. After a crash the zeros are still there:
 * recovery treats an all-zero tail of up to `directZeroTailBytesMax` as padding (see Segment.recover), not as a
 * torn write.
 */
import { constants as osConstants } from 'node:os';
import nodePath from 'node:path';
import Denque from 'denque';
import { engineZeroAheadBytesMax, type AppendFile, type FileSystem, type ReadInto } from './file.js';
import { journalBytesDefault, journalCheckpointIntervalMsDefault, journalFilesMinDefault } from './journal.js';
import { nativeBinding } from './native.js';
import { NodeFileSystem } from './node-file.js';

/** Group-commit limits of the engine. */
export interface EngineOptions {
  /** Extra wait after the first queued request before a round starts, µs (0: start at once). */
  flushDelayUs?: number;
  /** A round starts early once this many bytes are queued, bytes. */
  flushBytesMax?: number;
  /**
   * Threads writing and syncing the files of one round in parallel (the round's runner thread included), at most: a
   * round wakes as many as it has files, or staging-sized pieces of one large write.
   */
  ioThreads?: number;
  /**
   * Two rounds in flight: the next round's writes overlap this round's fdatasyncs (lower latency at moderate
   * load: p50 -20% at 5,000 appends/s), at the price of smaller rounds under a steady stream (more fdatasyncs and
   * wake-ups: ~10% less produce throughput for 100 B records on 2 vCPUs). Default false.
   */
  pipelineRounds?: boolean;
  /**
   * Zeros kept written ahead of a direct file's end, bytes (0: off): a low-rate file's appends then overwrite
   * written blocks and its fdatasync is a cache flush with no journal commit (native/engine.cc, "Zero-ahead").
   * Default 1 MiB; at most `engineZeroAheadBytesMax`.
   */
  zeroAheadBytes?: number;
  /** Read-ahead for sequential reads of a direct file, bytes (0: off); rounded up to 2 MiB blocks. */
  readAheadBytes?: number;
  /** All read-ahead blocks of the engine together, bytes (blocks still viewed by JS included). */
  readAheadBudgetBytes?: number;
  /** 'auto': O_DIRECT where the file system allows it; 'off': buffered I/O everywhere. */
  directIo?: 'auto' | 'off' | 'refuse-for-test';
  /** Where the O_DIRECT fallback (once) and a journal failure (once) are reported. */
  logger?: { warn(obj: object, msg: string): void; error?(obj: object, msg: string): void };
  /**
   * The engine's journal (native/engine.cc, "Journal"; src/io/journal.ts): a round that syncs at least
   * `filesMin` files writes their bytes into one journal entry and fdatasyncs only the journal. `path` must have
   * been replayed (replayJournals) first; `root` is the data dir (entries name files relative to it). Off when
   * absent.
   */
  journal?: { path: string; root: string; bytes?: number; filesMin?: number; checkpointIntervalMs?: number };
}

export const engineFlushDelayUsMax = 100_000;
export const engineFlushBytesMaxLimit = 256 * 1024 * 1024;
export const engineIoThreadsMax = 64;
/**
 * 16: with 1,000 partitions a round carries ~1,000 files, each its own extending write + fdatasync (~100-300 µs
 * of waiting, little CPU), so the round time is about files x (write + sync) / threads: 4 threads made such
 * rounds 2x slower than 16 (docs/benchmarks.md, "Log engine (issue 3)"). Idle threads cost nothing; a round
 * wakes only as many as it has files.
 */
export const engineIoThreadsDefault = 16;
export const engineReadAheadBytesDefault = 8 * 1024 * 1024;
export const engineZeroAheadBytesDefault = 1024 * 1024;
export { engineZeroAheadBytesMax };
export const engineReadAheadBytesMax = 64 * 1024 * 1024;
export const engineReadAheadBudgetBytesDefault = 64 * 1024 * 1024;
export const engineReadAheadBudgetBytesMax = 4 * 1024 * 1024 * 1024;

/**
 * Timing inside the engine as cumulative log-bucketed histograms: `buckets` counts (exact below 16, then 8 per
 * power of two), then the total count, then the sum. Values are µs (counts for `filesPerRound` and
 * `resultsPerCallback`). Diff two snapshots with `histogramDiff`, read them with `histogramPercentile`.
 */
export interface EngineHistograms {
  /**
   * The file's oldest request of a round queued -> the round's result posted, counted once per chunk appended (an
   * append's piece; at least once per file): the engine's whole share of an append's latency, weighted like the
   * appends (a round carrying many appends counts as many times).
   */
  fileLatencyUs: Float64Array;
  /** First request queued (append/sync/...) -> the round that takes it starts: includes waiting for the round before. */
  queueWaitUs: Float64Array;
  /** A round's writes done -> the sync stage starts on it (waiting for the previous round's fdatasyncs). */
  syncWaitUs: Float64Array;
  /** A round, start of its writes to its results posted (write, wait for the sync stage, fdatasync). */
  roundUs: Float64Array;
  /** One file's write in a round (copy into staging + pwrite; all pieces of a split write). */
  writeUs: Float64Array;
  /** One fdatasync. */
  syncUs: Float64Array;
  /** Results posted -> the completion callback starts on the JS thread (event-loop hand-off and lateness). */
  deliverUs: Float64Array;
  /** The completion callback on the JS thread (resolving waiters; their promise reactions run after it). */
  callbackUs: Float64Array;
  filesPerRound: Float64Array;
  resultsPerCallback: Float64Array;
}

export function histogramDiff(before: Float64Array, after: Float64Array): Float64Array {
  const out = new Float64Array(after.length);
  for (let i = 0; i < after.length; i++) out[i] = after[i]! - (before[i] ?? 0);
  return out;
}

/** Upper bound of the bucket holding the `p`th percentile (0 when empty); at most 12.5% above the value. */
export function histogramPercentile(h: Float64Array, p: number): number {
  const buckets = h.length - 2;
  const count = h[buckets]!;
  if (count === 0) return 0;
  const want = Math.max(1, Math.ceil((p / 100) * count));
  let seen = 0;
  for (let i = 0; i < buckets; i++) {
    seen += h[i]!;
    if (seen >= want) return bucketHigh(i);
  }
  return bucketHigh(buckets - 1);
}

export function histogramCount(h: Float64Array): number {
  return h[h.length - 2]!;
}

export function histogramMean(h: Float64Array): number {
  const n = h[h.length - 2]!;
  return n === 0 ? 0 : h[h.length - 1]! / n;
}

function bucketHigh(i: number): number {
  if (i < 16) return i;
  const e = Math.floor((i - 16) / 8) + 4;
  const sub = (i - 16) % 8;
  const width = 2 ** (e - 3);
  return (8 + sub) * width + width - 1;
}

export interface EngineStats {
  /** Group-commit rounds run (write stage). */
  rounds: number;
  /** Rounds through the sync stage (rounds without a truncate or close). */
  syncBatches: number;
  /** pwrite/pwritev calls. */
  writes: number;
  /** Bytes handed to the kernel, padding and rewritten tail blocks included. */
  bytesWritten: number;
  /** fdatasync calls. */
  syncs: number;
  /** Completion callbacks into JS. */
  callbacks: number;
  /** Per-file results delivered by those callbacks. */
  results: number;
  /** Direct writes whose position, length or buffer was not aligned (always 0 unless there is a bug). */
  unalignedWrites: number;
  /** Direct writes larger than one staging buffer, cut into pieces and double-buffered; their pieces. */
  splitJobs: number;
  splitPieces: number;
  /** Pieces copied by a pool thread while the job's own thread wrote (copy/write overlap happened). */
  piecesByHelpers: number;
  /** Reads that went to the disk (read-ahead misses and reads of buffered files). */
  diskReads: number;
  /** Reads served from read-ahead blocks; of them, ones that waited for a block still being read. */
  readAheadHits: number;
  readAheadWaits: number;
  /** Sequential reads the read-ahead did not cover (read from the disk). */
  readAheadMisses: number;
  readAheadBytesRead: number;
  /** Bytes copied out of two adjacent blocks for reads straddling them (the others are views). */
  readAheadCopiedBytes: number;
  /** Read-ahead blocks not read because the budget was spent. */
  readAheadOverBudget: number;
  /** Read buffers (reads' own and read-ahead blocks) taken from the engine's pool of freed ones; newly allocated. */
  readBuffersReused: number;
  readBuffersAllocated: number;
  /** Zero-ahead writes, their bytes, and the ones that failed (the file then stops zeroing ahead). */
  zeroAheadWrites: number;
  zeroAheadBytes: number;
  zeroAheadFailures: number;
  /** Zero-ahead writes planned and not yet done (they run after their round has resolved its syncs). */
  zeroAheadPending: number;
  /** Journal entries written (one per journaled round), the file records in them, their bytes (padded). */
  journalEntries: number;
  journalRecords: number;
  journalBytes: number;
  /** fdatasyncs of the journal (entries and header updates). */
  journalSyncs: number;
  /** Rounds that would have journaled but found the ring full (their files synced themselves). */
  journalSkippedFull: number;
  /** Checkpoints run, and the file fdatasyncs they made. */
  checkpoints: number;
  checkpointSyncs: number;
  journalOn: boolean;
  journalFailed: boolean;
  /** The journal failed, every file it held entries for synced itself since, and it was unlinked: no start replays it. */
  journalRetired: boolean;
  /** Files whose entries live only in a failed journal (their own fdatasync failed): kept for the next start. */
  journalKeptFiles: number;
  /** Files with journal entries no checkpoint has started on. */
  journalDirtyFiles: number;
  histograms: EngineHistograms;
}

interface EngineHandle {
  open(path: string, create: boolean, exclusive: boolean, direct: boolean): [number, number, boolean, number, number, boolean];
  append(id: number, chunks: readonly Uint8Array[]): void;
  sync(id: number): void;
  truncate(id: number, size: number): void;
  close(id: number): void;
  kick(): void;
  read(id: number, position: number, length: number, limit: number): Promise<Buffer>;
  read(id: number, position: number, length: number, limit: number, dest: Uint8Array): Promise<[number, number]>;
  ref(): void;
  unref(): void;
  stats(): EngineStats;
  shutdown(): void;
  openJournal(path: string, root: string, bytes: number, filesMin: number, checkpointIntervalMs: number): number;
  journalTouches(paths: string[]): boolean;
  checkpoint(): void;
}

/**
 * `onComplete`: the first `count` values of `results` are results, RESULT_FIELDS each (the array is reused by the
 * next callback: read it during the call only); when they were posted and when this callback began, ms on
 * CLOCK_MONOTONIC.
 */
type EngineConstructor = new (
  opts: object,
  onComplete: (results: Float64Array, count: number, postedMonotonicMs: number, calledMonotonicMs: number) => void,
) => EngineHandle;

const RESULT_FIELDS = 5;
const SYNCED = 1;
const CLOSED = 2;
const TRUNCATED = 4;
const CHECKPOINTED = 8;
const JOURNAL_FAILED = 16;

const errnoNames = new Map<number, string>(Object.entries(osConstants.errno).map(([name, n]) => [n, name]));

/** An Error shaped like node:fs errors (`code`, negative `errno`), so callers treat both engines alike. */
export function errnoError(errno: number, op: string, path: string): NodeJS.ErrnoException {
  const code = errnoNames.get(errno) ?? `E${errno}`;
  const err: NodeJS.ErrnoException = new Error(`${code}: ${op} failed, ${path}`);
  err.code = code;
  err.errno = -errno;
  err.syscall = op;
  err.path = path;
  return err;
}

/** True when the native engine is built and loadable here. */
export function nativeEngineAvailable(): boolean {
  const b = nativeBinding() as unknown as { Engine?: unknown } | null;
  return typeof b?.Engine === 'function';
}

/** For microtasks without queueMicrotask's AsyncResource (NativeEngine.kick). */

/** The memory alignment of direct reads (the engine's kMemAlign: every dio_mem_align seen). */
const READ_MEMORY_ALIGN_BYTES = 4096;

/** One engine: two runner threads, its I/O threads and a prefetch thread, shared by every file opened through it. */
export class NativeEngine {
  readonly flushDelayUs: number;
  readonly flushBytesMax: number;
  readonly ioThreads: number;
  readonly readAheadBytes: number;
  readonly readAheadBudgetBytes: number;
  readonly zeroAheadBytes: number;
  readonly pipelineRounds: boolean;
  readonly #handle: EngineHandle;
  readonly #files = new Map<number, NativeAppendFile>();
  readonly #logger: EngineOptions['logger'];
  #busy = 0;
  #kickScheduled = false;
  /** Waiting for a checkpoint asked by settleJournal (resolved in order, one per request the engine took). */
  #checkpointWaiters = new Denque<() => void>();
  readonly journal: boolean;
  #journalPath: string | undefined;
  #warnedFallback = false;
  #closed = false;

  constructor(opts: EngineOptions = {}) {
    const binding = nativeBinding() as unknown as { Engine?: EngineConstructor } | null;
    if (typeof binding?.Engine !== 'function') throw new Error('native engine unavailable (addon not built, or TERN_NATIVE=0)');
    this.flushDelayUs = intIn(opts.flushDelayUs ?? 0, 0, engineFlushDelayUsMax, 'flushDelayUs');
    this.flushBytesMax = intIn(opts.flushBytesMax ?? 8 * 1024 * 1024, 4096, engineFlushBytesMaxLimit, 'flushBytesMax');
    this.ioThreads = intIn(opts.ioThreads ?? engineIoThreadsDefault, 1, engineIoThreadsMax, 'ioThreads');
    this.readAheadBytes = intIn(opts.readAheadBytes ?? engineReadAheadBytesDefault, 0, engineReadAheadBytesMax, 'readAheadBytes');
    this.readAheadBudgetBytes = intIn(opts.readAheadBudgetBytes ?? engineReadAheadBudgetBytesDefault, 0, engineReadAheadBudgetBytesMax, 'readAheadBudgetBytes');
    this.zeroAheadBytes = intIn(opts.zeroAheadBytes ?? engineZeroAheadBytesDefault, 0, engineZeroAheadBytesMax, 'zeroAheadBytes');
    this.pipelineRounds = opts.pipelineRounds ?? false;
    this.#logger = opts.logger;
    this.#handle = new binding.Engine(
      {
        flushDelayUs: this.flushDelayUs,
        flushBytesMax: this.flushBytesMax,
        ioThreads: this.ioThreads,
        readAheadBytes: this.readAheadBytes,
        readAheadBudgetBytes: this.readAheadBudgetBytes,
        zeroAheadBytes: this.zeroAheadBytes,
        pipelineRounds: this.pipelineRounds,
        directIo: opts.directIo ?? 'auto',
      },
      (results, count, postedMonotonicMs, calledMonotonicMs) => this.#onComplete(results, count, postedMonotonicMs, calledMonotonicMs),
    );
    this.journal = false;
    if (opts.journal !== undefined) {
      const j = opts.journal;
      const bytes = intIn(j.bytes ?? journalBytesDefault, 4 * 1024 * 1024, 1024 * 1024 * 1024, 'journal bytes');
      const filesMin = intIn(j.filesMin ?? journalFilesMinDefault, 1, 1_000_000, 'journal filesMin');
      const intervalMs = intIn(j.checkpointIntervalMs ?? journalCheckpointIntervalMsDefault, 10, 60_000, 'journal checkpointIntervalMs');
      const errno = this.#handle.openJournal(nodePath.resolve(j.path), nodePath.resolve(j.root), bytes, filesMin, intervalMs);
      if (errno === osConstants.errno.EEXIST) {
        // Never write over entries that may hold the only copy of acknowledged bytes.
        this.#handle.shutdown();
        this.#closed = true;
        throw new Error(`journal ${j.path} holds entries not replayed (replayJournals must run first)`);
      }
      if (errno !== 0) {
        // No room for it (a small disk), or the file system refuses it: every round syncs its files itself.
        this.#logger?.warn({ path: j.path, err: errnoError(errno, 'open journal', j.path).message }, 'engine journal unavailable: each file syncs itself');
      } else {
        this.journal = true;
        this.#journalPath = j.path;
      }
    }
  }

  /**
   * Before a rename or remove of `paths` (files, or directories with files under them): when a file there has
   * journal entries no checkpoint has finished with, waits for a full checkpoint, so no entry is replayed over
   * whatever takes that name next.
   */
  settleJournal(paths: readonly string[]): Promise<void> | undefined {
    if (!this.journal || this.#closed) return undefined;
    if (!this.#handle.journalTouches(paths.map((p) => nodePath.resolve(p)))) return undefined;
    return new Promise<void>((resolve) => {
      this.#checkpointWaiters.push(resolve);
      this.setBusy(true);
      this.#handle.checkpoint();
    });
  }

  stats(): EngineStats {
    return this.#handle.stats();
  }

  /** Stops the engine's threads. Files must be closed first; later calls fail. */
  shutdown(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#handle.shutdown();
  }

  /** Opens (creating when missing) or creates (exclusively) a file; throws the open's errno error. */
  openFile(path: string, exclusive: boolean, direct: boolean): NativeAppendFile {
    if (this.#closed) throw new Error('native engine is shut down');
    // Absolute: the journal names files by path, and a rename or remove is matched against it (settleJournal).
    const [id, size, isDirect, alignment, errno, refused] = this.#handle.open(this.journal ? nodePath.resolve(path) : path, true, exclusive, direct);
    if (errno !== 0) throw errnoError(errno, 'open', path);
    if (refused && !this.#warnedFallback) {
      this.#warnedFallback = true;
      this.#logger?.warn({ path }, 'O_DIRECT refused by this file system: using buffered writes + fdatasync');
    }
    const file = new NativeAppendFile(this, this.#handle, id, path, size, isDirect, alignment);
    this.#files.set(id, file);
    return file;
  }

  /**
   * Wakes a runner once per turn of the event loop (setImmediate: after every socket read of this turn was
   * handled), so the appends of all connections read in one turn share a round. A microtask per read woke the
   * runner once per socket read: with 50 producer connections that was 1.1x the CPU and a worse tail (round 16).
   */
  kick(): void {
    if (this.#kickScheduled) return;
    this.#kickScheduled = true;
    setImmediate(this.#kickNow);
  }

  /** Allocated once: the append path allocates no closure for its kick. */
  readonly #kickNow = (): void => {
    this.#kickScheduled = false;
    if (!this.#closed) this.#handle.kick();
  };

  /** The engine's journal failed (reported once, after RetireJournal dealt with its entries). */
  #journalFailed(errno: number, keptFiles: number, retired: boolean): void {
    const log = this.#logger;
    if (log === undefined) return;
    const err = errnoError(errno, 'engine journal', this.#journalPath ?? '').message;
    const what = retired
      ? 'engine journal failed: every file it held entries for synced itself and the journal was removed; each file syncs itself from now on'
      : `engine journal failed: ${keptFiles} file(s) whose own sync failed keep their acknowledged bytes in the journal, replayed at the next start; each file syncs itself from now on`;
    (log.error ?? log.warn).call(log, { err, keptFiles, retired }, what);
  }

  /** A file has work in the engine (ref the event loop) or has none left. */
  setBusy(busy: boolean): void {
    if (busy) {
      if (this.#busy++ === 0) this.#handle.ref();
    } else if (--this.#busy === 0) {
      this.#handle.unref();
    }
  }

  forget(id: number): void {
    this.#files.delete(id);
  }

  /**
   * When the last completion callback began, ms on CLOCK_MONOTONIC like lastPostedMonotonicMs (diagnostics: the
   * bench's JS-side share). Not performance.now(): on the dev VM that clock drifts from CLOCK_MONOTONIC by
   * 100-500 ppm, so times taken on the two cannot be compared.
   */
  lastCallbackMonotonicMs = 0;
  /** When the engine posted the results of the last callback, ms on CLOCK_MONOTONIC (process.hrtime's clock). */
  lastPostedMonotonicMs = 0;

  #onComplete(results: Float64Array, count: number, postedMonotonicMs: number, calledMonotonicMs: number): void {
    this.lastCallbackMonotonicMs = calledMonotonicMs;
    this.lastPostedMonotonicMs = postedMonotonicMs;
    for (let i = 0; i < count; i += RESULT_FIELDS) {
      const id = results[i]!;
      if (id === 0) {
        // A checkpoint asked by settleJournal: `written` says how many requests it answered.
        if ((results[i + 4]! & CHECKPOINTED) !== 0) {
          for (let n = results[i + 1]!; n > 0 && this.#checkpointWaiters.length > 0; n--) {
            this.setBusy(false);
            this.#checkpointWaiters.shift()!();
          }
        }
        if ((results[i + 4]! & JOURNAL_FAILED) !== 0) this.#journalFailed(results[i + 3]!, results[i + 1]!, results[i + 2]! === 1);
        continue;
      }
      this.#files.get(id)?.complete(results[i + 1]!, results[i + 2]!, results[i + 3]!, results[i + 4]!);
    }
  }
}

interface Waiter {
  target: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class NativeAppendFile implements AppendFile {
  #size: number;
  #syncedSize: number;
  #written: number;
  // Both queues fill and drain once per append: rings that keep their slots (denque), not arrays emptied with
  // `length = 0`, which drops an array's storage in V8 so that the next push allocates it again (152 B).
  /** Appended chunks the engine may still read, with the file offset each append ends at. */
  #held = new Denque<{ end: number; chunks: readonly Uint8Array[] }>();
  #syncWaiters = new Denque<Waiter>();
  #truncateWaiter: Waiter | null = null;
  #closeWaiter: Promise<void> | null = null;
  #resolveClose: (() => void) | null = null;
  #error: Error | null = null;
  #closed = false;
  #busy = false;

  constructor(
    private readonly engine: NativeEngine,
    private readonly handle: EngineHandle,
    readonly id: number,
    readonly path: string,
    size: number,
    /** Whether the file was opened with O_DIRECT. */
    readonly direct: boolean,
    /** O_DIRECT offset/length alignment, bytes (1 for buffered files). */
    readonly alignment: number,
  ) {
    this.#size = size;
    this.#syncedSize = size;
    this.#written = size;
  }

  /** A file whose open failed: every operation reports the open's error (create() is synchronous). */
  static failed(engine: NativeEngine, handle: EngineHandle, path: string, err: Error): NativeAppendFile {
    const f = new NativeAppendFile(engine, handle, 0, path, 0, false, 1);
    f.#error = err;
    f.#closed = true;
    return f;
  }

  get size(): number {
    return this.#size;
  }

  get syncedSize(): number {
    return this.#syncedSize;
  }

  append(chunks: readonly Uint8Array[]): void {
    if (this.#closed && this.#error === null) throw new Error(`append to closed file ${this.path}`);
    if (this.#error !== null) return; // surfaces on the next sync
    let bytes = 0;
    for (const c of chunks) bytes += c.length;
    if (bytes === 0) return;
    this.#size += bytes;
    this.#held.push({ end: this.#size, chunks });
    this.handle.append(this.id, chunks);
    this.#markBusy();
    this.engine.kick();
  }

  sync(): Promise<void> {
    if (this.#error !== null) return Promise.reject(this.#error);
    if (this.#closed) return Promise.reject(new Error(`sync of closed file ${this.path}`));
    const target = this.#size;
    return new Promise<void>((resolve, reject) => this.#requestSync({ target, resolve, reject }));
  }

  syncThen(done: () => void, failed: (err: Error) => void): void {
    const err = this.#error ?? (this.#closed ? new Error(`sync of closed file ${this.path}`) : null);
    if (err !== null) {
      queueMicrotask(() => failed(err)); // never before this returns, as sync()'s rejection
      return;
    }
    this.#requestSync({ target: this.#size, resolve: done, reject: failed });
  }

  #requestSync(waiter: Waiter): void {
    this.#syncWaiters.push(waiter);
    this.handle.sync(this.id);
    this.#markBusy();
    this.engine.kick();
  }

  read(position: number, length: number, into?: ReadInto): Promise<Buffer> {
    if (this.#error !== null) return Promise.reject(this.#error);
    if (this.#closed) return Promise.reject(new Error(`read of closed file ${this.path}`));
    // Not into the zero padding; read-ahead keeps nothing at or past what is known written.
    const n = Math.max(0, Math.min(length, this.#written - position));
    // Room for the read's aligned span (a direct read starts and ends on the file's alignment) at an aligned address.
    const dest = into !== undefined && n > 0 ? into(n + 2 * this.alignment + READ_MEMORY_ALIGN_BYTES) : null;
    if (dest === null) return this.handle.read(this.id, position, n, this.#written);
    return this.handle.read(this.id, position, n, this.#written, dest).then(([at, got]) => Buffer.from(dest.buffer, dest.byteOffset + at, got));
  }

  truncate(size: number): Promise<void> {
    if (this.#error !== null) return Promise.reject(this.#error);
    if (this.#written !== this.#size || this.#truncateWaiter !== null) {
      return Promise.reject(new Error(`truncate of ${this.path} with queued writes`));
    }
    return new Promise<void>((resolve, reject) => {
      this.#truncateWaiter = {
        target: size,
        resolve: () => {
          this.#size = this.#written = size;
          this.#syncedSize = Math.min(this.#syncedSize, size);
          resolve();
        },
        reject,
      };
      this.handle.truncate(this.id, size);
      this.#markBusy();
      this.engine.kick();
    });
  }

  close(): Promise<void> {
    if (this.#closeWaiter !== null) return this.#closeWaiter;
    if (this.#closed) return (this.#closeWaiter = Promise.resolve());
    this.#closed = true;
    this.#closeWaiter = new Promise<void>((resolve) => (this.#resolveClose = resolve));
    this.handle.close(this.id);
    this.#markBusy();
    this.engine.kick();
    return this.#closeWaiter;
  }

  /** One engine result for this file: bytes written and synced so far, an errno, what completed. */
  complete(written: number, synced: number, errno: number, flags: number): void {
    this.#written = written;
    while (this.#held.length > 0 && this.#held.peekFront()!.end <= written) this.#held.shift();
    if ((flags & SYNCED) !== 0 && synced > this.#syncedSize) this.#syncedSize = synced;
    if (errno !== 0 && this.#error === null) {
      // The engine never touches this file's buffers again: every later write of it is skipped.
      this.#error = errnoError(errno, 'write/sync', this.path);
      this.#held = new Denque();
    }
    if ((flags & TRUNCATED) !== 0 && this.#truncateWaiter !== null) {
      const w = this.#truncateWaiter;
      this.#truncateWaiter = null;
      w.resolve();
    }
    // Waiters settled by this result run last, once this file's state is final: a syncThen() waiter's callback
    // runs synchronously (no promise in between) and may append, sync or close this file again. On success the
    // settled ones are the oldest `settled` waiters; one that syncs again queues behind them.
    let settled = 0;
    let failed: Waiter[] | null = null;
    if (this.#error !== null) {
      failed = this.#syncWaiters.toArray();
      this.#syncWaiters = new Denque();
      if (this.#truncateWaiter !== null) failed.push(this.#truncateWaiter);
      this.#truncateWaiter = null;
    } else if ((flags & SYNCED) !== 0) {
      while (settled < this.#syncWaiters.length && this.#syncWaiters.peekAt(settled)!.target <= this.#syncedSize) settled++;
    }
    if ((flags & CLOSED) !== 0) {
      this.#held = new Denque();
      this.engine.forget(this.id);
    }
    const busy =
      (flags & CLOSED) === 0 &&
      ((this.#error === null && this.#written < this.#size) ||
        this.#syncWaiters.length > settled ||
        this.#truncateWaiter !== null ||
        this.#closed);
    // A closed result makes `busy` false, so this one branch also releases a file that closed.
    if (!busy && this.#busy) {
      this.#busy = false;
      this.engine.setBusy(false);
    }
    if (failed !== null) for (const w of failed) w.reject(this.#error!);
    for (; settled > 0; settled--) this.#syncWaiters.shift()!.resolve();
    if ((flags & CLOSED) !== 0) this.#resolveClose?.();
  }

  #markBusy(): void {
    if (this.#busy) return;
    this.#busy = true;
    this.engine.setBusy(true);
  }
}

/** Segment data goes direct; indexes, checkpoints and everything else buffered. */
export function directForLogSegments(path: string): boolean {
  return path.endsWith('.log');
}

export interface NativeFileSystemOptions extends EngineOptions {
  /** Which files are opened with O_DIRECT (when the file system allows it). */
  directFor?: (path: string) => boolean;
}

export class NativeFileSystem extends NodeFileSystem implements FileSystem {
  /** Appends to every file of this file system group-commit inside the engine: no JS-side rounds needed. */
  readonly groupCommits = true;
  readonly engine: NativeEngine;
  readonly #directFor: (path: string) => boolean;

  constructor(opts: NativeFileSystemOptions = {}) {
    super();
    this.engine = new NativeEngine(opts);
    this.#directFor = opts.directFor ?? directForLogSegments;
  }

  override async rename(from: string, to: string): Promise<void> {
    await this.engine.settleJournal([from, to]);
    return super.rename(from, to);
  }

  override async remove(p: string): Promise<void> {
    await this.engine.settleJournal([p]);
    return super.remove(p);
  }

  override async open(file: string): Promise<AppendFile> {
    return this.engine.openFile(file, false, this.#directFor(file));
  }

  override create(file: string): AppendFile {
    try {
      return this.engine.openFile(file, true, this.#directFor(file));
    } catch (err) {
      return NativeAppendFile.failed(this.engine, null as unknown as EngineHandle, file, err as Error);
    }
  }

  /** Stops the engine; every file must be closed. */
  shutdown(): void {
    this.engine.shutdown();
  }
}

function intIn(v: number, min: number, max: number, what: string): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${what} ${v} outside [${min}, ${max}]`);
  return v;
}
