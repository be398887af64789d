/**
 * Producer state of one partition at run time, over its PartitionLog: loads it (snapshot + replay), runs the
 * checks and the appends of producer batches and markers, keeps the aborted-transaction index, and persists
 * snapshots. One per open partition log whose producer state was needed; runs on the partition's owning shard,
 * single event loop, never across an await between a check and its append.
 *
 * Load (`PartitionTxn.load`): the newest valid snapshot at or below the log end offset (`<20-digit offset>.snapshot`
 * in the partition directory; one beyond the log end, left by a crash that cut the tail, or one that fails its
 * CRC is deleted), then every batch header from its offset (or the log start, if later) to the log end replayed
 * through PartitionLog.read. Markers are the only batches whose record is read (their type and coordinator epoch).
 * Unsynced appends made before the load (plain produces) are waited for, so the replay reaches the log end.
 *
 * Snapshots: after `producerSnapshotIntervalBytes` appended through this object, after a load that replayed as
 * much, and at clean close (`snapshot()`); named by the log end offset at the moment of capture, written to a
 * temp file, synced and renamed (FileSystem.writeFileDurable) only after the aborted index is synced. The newest
 * `producerSnapshotsKeptMax` are kept: when a crash cuts the log below the newest, the one before it usually
 * still applies.
 */
import path from 'node:path';
import type { FileSystem } from '../io/index.js';
import type { AppendResult, PartitionLog } from '../log/index.js';
import { ChunkedView, type ChunkedBytes } from '../protocol/chunked-bytes.js';
import { ErrorCode } from '../protocol/errors.js';
import { RECORD_BATCH_OVERHEAD, batchSize, isControl, readBatchHeaderAt, type BatchHeader, type ValidatedBatch } from '../protocol/records.js';
import { buildMarkerBatch, parseMarker } from './markers.js';
import { ProducerStateManager, type ProducerStateConfig } from './producer-state.js';
import { AbortedTxnIndex } from './txn-index.js';
import type { AbortedTxn, TxnMarker } from './types.js';

/** Snapshot files kept per partition. */
export const producerSnapshotsKeptMax = 2;
/** How often idle producers are looked for expiry, at most, per partition. */
export const producerExpirationCheckIntervalMs = 60_000;
/** Largest control batch read back as a marker (ours are under 100 bytes). */
const markerBatchBytesMax = 1024;
/** Bytes asked of the log per read while replaying. */
const replayReadBytes = 4 * 1024 * 1024;
const SNAPSHOT_FILE = /^(\d{20})\.snapshot$/;

export function snapshotFileName(offset: number): string {
  return `${String(offset).padStart(20, '0')}.snapshot`;
}

/** The offsets of the snapshot files in `dir`, newest first. */
async function snapshotOffsets(fs: FileSystem, dir: string): Promise<number[]> {
  return (await fs.list(dir))
    .map((n) => SNAPSHOT_FILE.exec(n)?.[1])
    .filter((m): m is string => m !== undefined)
    .map(Number)
    .sort((a, b) => b - a);
}

export interface TxnLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface PartitionTxnOptions {
  log: PartitionLog;
  fs: FileSystem;
  config: ProducerStateConfig;
  clock: () => number;
  logger: TxnLogger;
  /** The leader epoch written into appended batches. */
  leaderEpoch: number;
}

export type DataAppend =
  | { kind: 'appended'; done: Promise<AppendResult> }
  | { kind: 'duplicate'; firstOffset: number; lastOffset: number }
  | { kind: 'error'; errorCode: number; message: string };

/** A KIP-890 verification in flight for a producer's next transaction on this partition. */
interface VerificationGuard {
  epoch: number;
  result: Promise<number>;
}

/** Resolves once the log's high watermark passes `offset`; rejects if the log fails or closes first. */
export function waitUntilDurable(log: PartitionLog, offset: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      if (log.highWatermark > offset) {
        resolve();
        return true;
      }
      if (log.failed || log.closed) {
        reject(new Error(`${log.dir} is ${log.failed ? 'failed' : 'closed'}`));
        return true;
      }
      return false;
    };
    if (check()) return;
    const off = log.onAppend(() => {
      if (check()) off();
    });
  });
}

export class PartitionTxn {
  readonly #log: PartitionLog;
  readonly #fs: FileSystem;
  readonly #clock: () => number;
  readonly #logger: TxnLogger;
  readonly #leaderEpoch: number;
  #bytesSinceSnapshot = 0;
  #snapshots: Promise<void> = Promise.resolve();
  #lastExpiryMs: number;
  readonly #guards = new Map<number, VerificationGuard>();

  private constructor(
    o: PartitionTxnOptions,
    readonly state: ProducerStateManager,
    readonly index: AbortedTxnIndex,
  ) {
    this.#log = o.log;
    this.#fs = o.fs;
    this.#clock = o.clock;
    this.#logger = o.logger;
    this.#leaderEpoch = o.leaderEpoch;
    this.#lastExpiryMs = o.clock();
  }

  get log(): PartitionLog {
    return this.#log;
  }

  static async load(o: PartitionTxnOptions): Promise<PartitionTxn> {
    const { log, fs } = o;
    const end = log.logEndOffset;
    const offsets = await snapshotOffsets(fs, log.dir);
    let state: ProducerStateManager | null = null;
    let from = 0;
    for (const offset of offsets) {
      if (state !== null) break;
      const file = path.join(log.dir, snapshotFileName(offset));
      if (offset > end) {
        o.logger.warn({ dir: log.dir, offset, logEndOffset: end }, 'producer snapshot beyond the log end (tail cut by recovery): deleted');
        await fs.remove(file);
        continue;
      }
      const bytes = await fs.readFile(file);
      const decoded = bytes === null ? null : ProducerStateManager.decodeSnapshot(bytes, o.config);
      if (decoded === null || decoded.offset !== offset) {
        o.logger.warn({ dir: log.dir, offset }, 'invalid producer snapshot: deleted');
        await fs.remove(file);
        continue;
      }
      state = decoded.state;
      from = offset;
    }
    const index = new AbortedTxnIndex(fs, log.dir);
    await index.load(end, log.segmentBaseOffsets);
    const txn = new PartitionTxn(o, state ?? new ProducerStateManager(o.config), index);
    const replayed = await txn.#replay(from);
    txn.state.expire(o.clock());
    txn.#bytesSinceSnapshot = replayed;
    if (replayed >= o.config.producerSnapshotIntervalBytes) {
      void txn.snapshot().catch((err: unknown) => o.logger.warn({ dir: log.dir, err }, 'producer snapshot after load failed'));
    }
    return txn;
  }

  /** Applies every batch from `from` to the log end; returns the bytes read. */
  async #replay(from: number): Promise<number> {
    const log = this.#log;
    let pos = Math.max(from, log.logStartOffset);
    let bytes = 0;
    const indexing: Promise<void>[] = [];
    while (pos < log.logEndOffset) {
      if (pos >= log.highWatermark) {
        await waitUntilDurable(log, pos);
        continue;
      }
      const res = await log.read(pos, replayReadBytes, { minOneBatch: true });
      if (!res.ok) {
        if (res.logStartOffset <= pos) throw new Error(`${log.dir}: offset ${pos} out of range while loading producer state`);
        pos = res.logStartOffset; // retention moved the start meanwhile
        continue;
      }
      const view = new ChunkedView(res.records);
      if (view.length < RECORD_BATCH_OVERHEAD) break; // nothing below the high watermark: cannot happen, never loop
      bytes += view.length;
      for (let p = 0; p + RECORD_BATCH_OVERHEAD <= view.length; ) {
        const h = readBatchHeaderAt(view, p);
        const size = batchSize(h);
        const last = h.baseOffset + h.lastOffsetDelta;
        if (last >= pos && h.producerId >= 0) this.#replayBatch(view, p, h, indexing);
        if (last + 1 > pos) pos = last + 1;
        p += size;
      }
    }
    await Promise.all(indexing);
    return bytes;
  }

  #replayBatch(view: ChunkedView, p: number, h: BatchHeader, indexing: Promise<void>[]): void {
    const first = h.baseOffset;
    if (!isControl(h.attributes)) {
      this.state.applyData(h, first, first + h.lastOffsetDelta);
      return;
    }
    // Markers are one small record written by the broker; anything bigger, or unreadable, is not one of ours: skipped.
    const size = batchSize(h);
    const bytes = size > markerBatchBytesMax ? null : view.slice(p, p + size);
    const m = bytes === null ? null : parseMarker(Buffer.isBuffer(bytes) ? bytes : Buffer.concat(bytes), h);
    if (m === null) {
      this.#logger.warn({ dir: this.#log.dir, offset: first, bytes: size }, 'skipping a control batch that is not a transaction marker');
      return;
    }
    const done = this.state.applyMarker(h.producerId, h.producerEpoch, m.commit, m.coordinatorEpoch, first, m.timestamp, true);
    // An abort whose index entry a crash lost (only possible above the snapshot offset): index it again.
    if (done?.aborted && !this.index.has(first)) {
      indexing.push(this.index.add(this.#segmentOf(first), { producerId: done.producerId, firstOffset: done.firstOffset, lastOffset: first, lastStableOffset: this.state.stableAfter(done) }));
    }
  }

  #segmentOf(offset: number): number {
    const bases = this.#log.segmentBaseOffsets;
    let base = bases[0] ?? 0;
    for (const b of bases) if (b <= offset) base = b;
    return base;
  }

  /** The last stable offset now. */
  lastStableOffset(): number {
    return this.state.lastStableOffset(this.#log.highWatermark, this.#log.logStartOffset);
  }

  /** Aborted transactions overlapping [fetchOffset, upperBound). */
  abortedTransactions(fetchOffset: number, upperBound: number): AbortedTxn[] {
    return this.index.collect(fetchOffset, upperBound, this.#log.segmentBaseOffsets);
  }

  // --- appends (each synchronous from its check to its append) --------------------------------------------

  /** Checks and appends the one batch of a producer (producerId >= 0) a Produce carries for this partition. */
  appendData(records: ChunkedBytes, b: ValidatedBatch, bytes: number): DataAppend {
    const check = this.state.checkData(b);
    if (check.kind !== 'append') return check;
    const first = this.#log.logEndOffset;
    const done = this.#log.append(records, { leaderEpoch: this.#leaderEpoch, batches: [b] });
    // A failed or closed log took nothing (the promise rejects): the state must not record it.
    if (this.#log.logEndOffset !== first) {
      this.state.applyData(b, first, first + b.lastOffsetDelta);
      this.#appended(bytes);
    }
    return { kind: 'appended', done };
  }

  /** Appends batches without a producer id (nothing to check or record); counted toward the next snapshot. */
  appendPlain(records: ChunkedBytes, batches: readonly ValidatedBatch[], bytes: number): Promise<AppendResult> {
    const done = this.#log.append(records, { leaderEpoch: this.#leaderEpoch, batches });
    this.#appended(bytes);
    return done;
  }

  /**
   * Checks and appends a COMMIT/ABORT marker; resolves once it (and its aborted index entry) is durable.
   * Ends any KIP-890 verification in flight for the producer: a late batch of the ended transaction cannot
   * open a new one.
   */
  appendMarker(marker: TxnMarker): { errorCode: number; message: string } | { done: Promise<void> } {
    const refused = this.state.checkMarker(marker.producerId, marker.producerEpoch, marker.coordinatorEpoch);
    if (refused !== null) return refused;
    const now = this.#clock();
    const batch = buildMarkerBatch(marker, now);
    const at = this.#log.logEndOffset;
    const appended = this.#log.append(batch, { leaderEpoch: this.#leaderEpoch });
    if (this.#log.logEndOffset === at) return { done: appended.then(() => undefined) };
    // Once durable, the transaction it ends stops holding the LSO (whether or not anything reads the partition).
    const durable = appended.then(() => this.state.markersDurableThrough(at));
    this.#guards.delete(marker.producerId);
    const done = this.state.applyMarker(marker.producerId, marker.producerEpoch, marker.commit, marker.coordinatorEpoch, at, now, false);
    let indexed: Promise<void> = Promise.resolve();
    if (done?.aborted) {
      indexed = this.index.add(this.#segmentOf(at), { producerId: done.producerId, firstOffset: done.firstOffset, lastOffset: at, lastStableOffset: this.state.stableAfter(done) });
    }
    this.#appended(batch.length);
    return { done: Promise.all([durable, indexed]).then(() => undefined) };
  }

  // --- KIP-890 verification ---------------------------------------------------------------------------------

  /**
   * The verification of `producerId`'s next transaction on this partition: a new one started with `start`, or
   * the one in flight (so a producer's batches queued behind it keep their order). Resolves to the verifier's
   * answer; the caller then checks `stillVerified` before appending.
   */
  verification(producerId: number, producerEpoch: number, start: () => Promise<number>): { guard: object; result: Promise<number> } {
    let g = this.#guards.get(producerId);
    if (g === undefined || g.epoch !== producerEpoch) {
      if (this.#guards.size >= this.state.config.producerIdsPerPartitionMax) this.#guards.delete(this.#guards.keys().next().value!);
      const guard: VerificationGuard = {
        epoch: producerEpoch,
        result: start().then(
          (code) => {
            if (code !== 0 && this.#guards.get(producerId) === guard) this.#guards.delete(producerId);
            return code;
          },
          () => {
            if (this.#guards.get(producerId) === guard) this.#guards.delete(producerId);
            return ErrorCode.NOT_ENOUGH_REPLICAS;
          },
        ),
      };
      g = guard;
      this.#guards.set(producerId, g);
    }
    return { guard: g, result: g.result };
  }

  /** After a verification: true when the transaction is open here or the guard is still the producer's. */
  stillVerified(producerId: number, guard: object): boolean {
    return this.state.hasOpenTransaction(producerId) || this.#guards.get(producerId) === guard;
  }

  // --- snapshots ----------------------------------------------------------------------------------------------

  #appended(bytes: number): void {
    this.#bytesSinceSnapshot += bytes;
    if (this.#bytesSinceSnapshot >= this.state.config.producerSnapshotIntervalBytes) {
      this.#bytesSinceSnapshot = 0;
      void this.snapshot().catch((err: unknown) => this.#logger.warn({ dir: this.#log.dir, err }, 'producer snapshot failed'));
    }
    const now = this.#clock();
    if (now - this.#lastExpiryMs >= producerExpirationCheckIntervalMs) {
      this.#lastExpiryMs = now;
      this.state.expire(now);
    }
  }

  /** Writes a snapshot of the state at the log end offset now; snapshots run one at a time, in call order. */
  snapshot(): Promise<void> {
    const run = this.#snapshots.then(() => this.#writeSnapshot());
    this.#snapshots = run.catch(() => undefined);
    return run;
  }

  async #writeSnapshot(): Promise<void> {
    const log = this.#log;
    if (log.failed) return;
    // Captured synchronously: the state describes the log up to its end offset at this moment.
    const offset = log.logEndOffset;
    const bytes = this.state.encodeSnapshot(offset);
    this.#bytesSinceSnapshot = 0;
    await this.index.flush();
    await this.#fs.writeFileDurable(path.join(log.dir, snapshotFileName(offset)), bytes);
    const older = (await snapshotOffsets(this.#fs, log.dir)).slice(producerSnapshotsKeptMax);
    for (const o of older) await this.#fs.remove(path.join(log.dir, snapshotFileName(o)));
  }
}
