/**
 * Partition operations as the Kafka handlers use them: produce into, read from, wait on, look up offsets in and
 * delete records of a partition, by topic name and index. Handlers never hold a partition's log: the partition
 * may live on another shard (src/shard/router.ts forwards to its owner), so every operation is asynchronous and
 * its arguments and results are plain data that can cross a channel.
 *
 * `LocalPartitions` is the implementation over this thread's own logs (LogManager): the single-process broker
 * uses it for every partition, a shard for the partitions it owns. Kafka errors are data here, as in handlers.
 *
 * Produce validates where the partition lives, with its log's config: sizes, CRCs, records, and on a CreateTime
 * topic with message.timestamp.before/after.max.ms (or difference.max.ms) set, each record's timestamp against the
 * broker's clock (INVALID_TIMESTAMP, nothing written); see validateBatches.
 *
 * Exactly-once (issue 6), the partition side: a partition's producer state (src/txn/partition-txn.ts) is loaded
 * on first need (a batch with a producer id, a marker, a read_committed read or ListOffsets, DescribeProducers);
 * produces to the partition wait for the load in arrival order. A partition with no producer state loaded takes
 * plain batches (producer id -1) on the fast path: no load, no allocation per batch beyond the append's own.
 * Once loaded, every append to the partition goes through its producer state, so its snapshots see all growth.
 * - Produce with a producer id: exactly one batch (Kafka's rule for Produce v3+, INVALID_RECORD otherwise), checked
 *   and appended in one synchronous step; a duplicate answers the original offsets once they are durable.
 * - A transactional batch opening a transaction here is verified first with the TxnVerifier (KIP-890 part 1); a
 *   marker for its producer landing meanwhile voids the verification (INVALID_TXN_STATE). With no verifier wired
 *   (no transaction coordinator), any Produce naming a transactional id is refused with
 *   TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as before transactions existed.
 * - read_committed reads stop at the last stable offset and report the aborted transactions they overlap; the
 *   LSO of a partition whose producer state is not loaded is its high watermark for read_uncommitted reads
 *   (loading for them would make every plain consumer scan logs after a restart).
 */
import type { Logger } from 'pino';
import type { ReadInto } from '../io/index.js';
import { timestampAfterMaxMs, timestampBeforeMaxMs, type AppendResult, type LogManager, type PartitionLog } from '../log/index.js';
import { ErrorCode } from '../protocol/errors.js';
import { ChunkedView, chunkedLength, type ChunkedBytes } from '../protocol/chunked-bytes.js';
import { BASE_OFFSET_OFFSET, BATCH_LENGTH_OFFSET, LAST_OFFSET_DELTA_OFFSET, LOG_OVERHEAD, MAGIC_OFFSET, MAGIC_V2, isTransactional, validateBatches, type RecordError, type ValidatedBatch } from '../protocol/records.js';
import { decompressSync } from '../protocol/compression.js';
import { storageFailureOf } from './apis/errors.js';
import {
  PartitionTxn,
  READ_COMMITTED,
  producerStateDefaults,
  waitUntilDurable,
  type AbortedTxn,
  type MarkerListener,
  type MarkerOutcome,
  type MarkerWriter,
  type ProducerDescription,
  type ProducerStateConfig,
  type TopicPartition,
  type TxnMarker,
  type TxnVerifier,
} from '../txn/index.js';

/** The leader epoch of every partition of this single-replica broker. */
export const LEADER_EPOCH = 0;

export interface ProduceOutcome {
  errorCode: number;
  errorMessage: string | null;
  baseOffset: number;
  logAppendTimeMs: number;
  logStartOffset: number;
  /** The records that made the batch fail (INVALID_TIMESTAMP), as Produce v8+ reports them. */
  recordErrors?: RecordError[];
}

export interface ReadSpec {
  topic: string;
  partition: number;
  fetchOffset: number;
  partitionMaxBytes: number;
  /** READ_UNCOMMITTED (default) or READ_COMMITTED (src/txn/types.ts). */
  isolationLevel?: number;
}

/**
 * Given to `read` by a caller that can say when it is done with the records (a Fetch: once its response is on the
 * socket): a read may then return views of memory it must hand back, and passes `release` here; the caller calls
 * it once, after the last use of those records. Without it every record is the caller's to keep.
 */
export type HoldViews = (release: () => void) => void;

export interface ReadOutcome {
  errorCode: number;
  highWatermark: number;
  lastStableOffset: number;
  logStartOffset: number;
  /** Whole batches as stored: views, never copies, on the local path. */
  records: Buffer[];
  bytes: number;
  /**
   * The high watermark before the read began (read_committed: the last stable offset): a Fetch long poll waits
   * for it to move.
   */
  seenHighWatermark: number;
  /** read_committed: the aborted transactions overlapping what is returned; read_uncommitted: null. */
  abortedTransactions: AbortedTxn[] | null;
}

export interface WaitSpec {
  topic: string;
  partition: number;
  /** ReadOutcome.seenHighWatermark of the read: the high watermark, or the LSO under read_committed. */
  seenHighWatermark: number;
  isolationLevel?: number;
}

export interface DescribeProducersOutcome {
  errorCode: number;
  producers: ProducerDescription[];
}

export interface OffsetLookup {
  errorCode: number;
  offset: number;
  timestamp: number;
  leaderEpoch: number;
}

/** Where a partition stands, for Metadata: usable, offline (storage failed), or not (yet) created. */
export type PartitionState = 'online' | 'offline' | 'missing';

export interface PartitionOps extends MarkerWriter {
  state(topic: string, partition: number): PartitionState;
  /**
   * Validates and appends one partition's batches; resolves once they are durable. `transactionalId`: the
   * Produce request's (null when none).
   */
  produce(topic: string, partition: number, records: ChunkedBytes, apiVersion: number, transactionalId?: string | null): Promise<ProduceOutcome>;
  /**
   * Reads the partitions in order, sharing `maxBytes` (the first partition with data gets at least one whole
   * batch, KIP-74), each capped at its own partitionMaxBytes.
   */
  read(specs: readonly ReadSpec[], maxBytes: number, hold?: HoldViews): Promise<ReadOutcome[]>;
  /** Resolves when any of the partitions' high watermarks moves past what was seen, after `ms`, or on abort. */
  waitForAppend(specs: readonly WaitSpec[], ms: number, signal: AbortSignal): Promise<void>;
  /**
   * ListOffsets' lookup: -1 latest (the last stable offset under read_committed), -2 earliest, -3 max timestamp
   * (v7+), -4 earliest local (v8+), t >= 0 by time; under read_committed, -3 and t >= 0 find nothing (offset -1)
   * when their answer lies at or past the last stable offset.
   */
  listOffset(topic: string, partition: number, timestamp: number, apiVersion: number, isolationLevel?: number): Promise<OffsetLookup>;
  /** DeleteRecords: raises the log start offset (-1 = the high watermark). */
  deleteRecords(topic: string, partition: number, offset: number): Promise<{ errorCode: number; lowWatermark: number }>;
  /** DescribeProducers: the producers the partition tracks. */
  describeProducers(topic: string, partition: number): Promise<DescribeProducersOutcome>;
}

const LATEST = -1;
const EARLIEST = -2;
const MAX_TIMESTAMP = -3;
const EARLIEST_LOCAL = -4;

export function produceFailure(errorCode: number, errorMessage: string | null = null): ProduceOutcome {
  return { errorCode, errorMessage, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1 };
}

/** The answer of a durable append. */
function produced(res: AppendResult): ProduceOutcome {
  return { errorCode: 0, errorMessage: null, baseOffset: res.baseOffset, logAppendTimeMs: res.logAppendTime, logStartOffset: res.logStartOffset };
}

export function readFailure(errorCode: number): ReadOutcome {
  return { errorCode, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1, records: [], bytes: 0, seenHighWatermark: -1, abortedTransactions: null };
}

/** Verifier errors a producer does not retry, answered as the retriable NOT_ENOUGH_REPLICAS (as Kafka does). */
const TXN_SWEEP_MIN = 64;

const RETRIABLE_VERIFY_ERRORS: ReadonlySet<number> = new Set([
  ErrorCode.NOT_COORDINATOR,
  ErrorCode.COORDINATOR_NOT_AVAILABLE,
  ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
  ErrorCode.CONCURRENT_TRANSACTIONS,
]);

/** A partition's producer state: loading (with its waiters, in arrival order) or loaded. */
interface TxnSlot {
  txn: PartitionTxn | null;
  loading: Promise<PartitionTxn> | null;
  /** Produces waiting for the load: later ones queue behind them, so offsets follow arrival order. */
  waiters: number;
}

export interface LocalPartitionsOptions {
  countLoad?: boolean;
  /** Producer state limits (broker config). */
  producerState?: ProducerStateConfig;
  /** Wall clock, ms (tests control expiry with it). */
  clock?: () => number;
}

/**
 * Applies the response budget to per-partition reads made independently (on several shards, each with the whole
 * budget): in request order, a partition's records are kept while they fit; the first partition with data keeps
 * its records whatever their size (KIP-74). Dropped records are simply not returned: the client fetches them next.
 */
export function applyReadBudget(outcomes: ReadOutcome[], maxBytes: number): ReadOutcome[] {
  let bytes = 0;
  for (const o of outcomes) {
    if (o.bytes === 0) continue;
    if (bytes > 0 && bytes + o.bytes > maxBytes) {
      o.records = [];
      o.bytes = 0;
      continue;
    }
    bytes += o.bytes;
  }
  return outcomes;
}

/** Partition operations over this thread's logs. */
export class LocalPartitions implements PartitionOps {
  /**
   * Bytes appended per partition (`<topic>-<partition>`) since the last `takeAppendedBytes`: the load a shard
   * reports for placement. Null when nobody asks (the single-process broker): nothing is counted.
   */
  #appended: Map<string, number> | null;
  readonly #producerState: ProducerStateConfig;
  readonly #clock: () => number;
  /** Producer state per open log (a reopened or recreated partition is a new log, with a fresh state). */
  readonly #txn = new Map<PartitionLog, TxnSlot>();
  /** Size of `#txn` at which states of closed logs are next swept (amortized: doubles with the map). */
  #txnSweepAt = TXN_SWEEP_MIN;
  #verifier: TxnVerifier | null = null;
  readonly #markerListeners = new Set<MarkerListener>();

  constructor(
    private readonly logs: LogManager,
    private readonly logger: Logger,
    opts: LocalPartitionsOptions = {},
  ) {
    this.#appended = opts.countLoad === true ? new Map() : null;
    this.#producerState = opts.producerState ?? producerStateDefaults;
    this.#clock = opts.clock ?? Date.now;
  }

  /** Plugs in the transaction coordinator's verifier (KIP-890); null refuses transactional produce. */
  setTxnVerifier(verifier: TxnVerifier | null): void {
    this.#verifier = verifier;
  }

  /** Calls `listener` after each marker is durable on a partition of this thread. Returns unsubscribe. */
  onMarker(listener: MarkerListener): () => void {
    this.#markerListeners.add(listener);
    return () => this.#markerListeners.delete(listener);
  }

  /** Bytes appended per partition since the previous call. */
  takeAppendedBytes(): Map<string, number> {
    const m = this.#appended ?? new Map<string, number>();
    if (this.#appended) this.#appended = new Map();
    return m;
  }

  log(topic: string, partition: number): PartitionLog | undefined {
    return this.logs.get(topic, partition);
  }

  /** The error for a partition with no log here: KAFKA_STORAGE_ERROR when it is offline, else unknown. */
  missingError(topic: string, partition: number): number {
    return this.logs.offline(topic, partition) ? ErrorCode.KAFKA_STORAGE_ERROR : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
  }

  state(topic: string, partition: number): PartitionState {
    if (this.logs.get(topic, partition)) return 'online';
    return this.logs.offline(topic, partition) ? 'offline' : 'missing';
  }

  // --- producer state -------------------------------------------------------------------------------------

  /** The loaded producer state of `log` when nothing waits for it, else null (the caller awaits `#loadTxn`). */
  #readyTxn(log: PartitionLog): PartitionTxn | null {
    const slot = this.#txn.get(log);
    return slot !== undefined && slot.txn !== null && slot.waiters === 0 ? slot.txn : null;
  }

  /** The producer state of `log`, loading it on first need; callers resume in the order they called. */
  async #loadTxn(log: PartitionLog): Promise<PartitionTxn> {
    let slot = this.#txn.get(log);
    if (slot === undefined) {
      // Forget the states of logs closed since (deleted partitions, logs reopened after a full disk); swept when
      // the map has doubled, not on every load (10,000 partitions loading would make it quadratic).
      if (this.#txn.size >= this.#txnSweepAt) {
        for (const l of this.#txn.keys()) if (l.closed) this.#txn.delete(l);
        this.#txnSweepAt = Math.max(TXN_SWEEP_MIN, 2 * this.#txn.size);
      }
      const s: TxnSlot = { txn: null, loading: null, waiters: 0 };
      s.loading = PartitionTxn.load({ log, fs: log.fileSystem, config: this.#producerState, clock: this.#clock, logger: this.logger, leaderEpoch: LEADER_EPOCH }).then(
        (txn) => {
          s.txn = txn;
          s.loading = null;
          return txn;
        },
        (err: unknown) => {
          if (this.#txn.get(log) === s) this.#txn.delete(log);
          throw err;
        },
      );
      this.#txn.set(log, s);
      slot = s;
    }
    slot.waiters++;
    try {
      return await (slot.loading ?? slot.txn!);
    } finally {
      slot.waiters--;
    }
  }

  /** Writes a producer snapshot for every loaded partition (clean shutdown, before the logs close). */
  async close(): Promise<void> {
    const loaded = [...this.#txn.entries()];
    await Promise.allSettled(
      loaded.map(async ([log, slot]) => {
        // A load that failed was answered (and logged) to the requests that waited for it: nothing to snapshot.
        const txn = slot.txn ?? (await slot.loading?.catch(() => null)) ?? null;
        if (txn === null || log.closed || log.failed) return;
        await txn.snapshot().catch((err: unknown) => this.logger.warn({ dir: log.dir, err }, 'producer snapshot at close failed'));
      }),
    );
  }

  // --- produce --------------------------------------------------------------------------------------------

  async produce(topic: string, partition: number, records: ChunkedBytes, apiVersion: number, transactionalId: string | null = null): Promise<ProduceOutcome> {
    const log = this.logs.get(topic, partition);
    if (!log) return produceFailure(this.missingError(topic, partition));
    const bytes = chunkedLength(records);
    if (bytes === 0) return produceFailure(ErrorCode.INVALID_RECORD, 'no record batch for the partition');
    // Only v0-2 may carry legacy messages; at v3+ Kafka answers any magic but 2 with INVALID_RECORD (validateBatches).
    if (apiVersion < 3 && bytes > MAGIC_OFFSET && (new ChunkedView(records).readInt8(MAGIC_OFFSET) & 0xff) < MAGIC_V2) {
      return produceFailure(ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT, 'message format v0/v1 is not supported: send record batch v2 (Produce v3+)');
    }
    if (transactionalId !== null && this.#verifier === null) {
      return produceFailure(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, 'transactions are not available: no transaction coordinator');
    }
    const config = log.config;
    let timestampMinMs = -Infinity;
    let timestampMaxMs = Infinity;
    if (config.messageTimestampType === 'CreateTime') {
      // Kafka bounds CreateTime records around the broker's clock at validation (LogValidator); LogAppendTime
      // topics overwrite the timestamp, so nothing is checked there. A bound of Infinity leaves its side open.
      const beforeMs = timestampBeforeMaxMs(config);
      const afterMs = timestampAfterMaxMs(config);
      if (beforeMs !== Infinity || afterMs !== Infinity) {
        const now = this.#clock();
        timestampMinMs = now - beforeMs;
        timestampMaxMs = now + afterMs;
      }
    }
    const checked = validateBatches(records, { maxBatchBytes: config.maxMessageBytes, timestampMinMs, timestampMaxMs, decompress: decompressSync });
    if (!checked.ok) return { ...produceFailure(ErrorCode[checked.error], checked.message), ...(checked.recordErrors ? { recordErrors: checked.recordErrors } : {}) };
    const batches = checked.batches;
    let producer: ValidatedBatch | null = null;
    for (const b of batches) if (b.producerId >= 0) producer = b;
    try {
      let txn = this.#readyTxn(log);
      if (txn === null && producer === null && !this.#txn.has(log)) {
        // The fast path: no producer state here, nothing to check.
        const res = await log.append(records, { leaderEpoch: LEADER_EPOCH, batches });
        this.#countAppended(topic, partition, bytes);
        return produced(res);
      }
      if (producer !== null) {
        if (batches.length !== 1) return produceFailure(ErrorCode.INVALID_RECORD, 'a produce with a producer id carries exactly one record batch per partition');
        if (isTransactional(producer.attributes) && transactionalId === null) {
          return produceFailure(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, 'a transactional record batch needs the request\'s transactional id');
        }
      }
      txn ??= await this.#loadTxn(log);
      if (producer === null) {
        const res = await txn.appendPlain(records, batches, bytes);
        this.#countAppended(topic, partition, bytes);
        return produced(res);
      }
      if (isTransactional(producer.attributes) && !txn.state.hasOpenTransaction(producer.producerId)) {
        const failure = await this.#verify(txn, transactionalId!, producer, topic, partition);
        if (failure !== null) return failure;
      }
      const res = txn.appendData(records, producer, bytes);
      if (res.kind === 'error') return produceFailure(res.errorCode, res.message);
      if (res.kind === 'duplicate') {
        // The original may not be durable yet: answer as its own produce would, once it is.
        await waitUntilDurable(log, res.lastOffset);
        return { errorCode: 0, errorMessage: null, baseOffset: res.firstOffset, logAppendTimeMs: -1, logStartOffset: log.logStartOffset };
      }
      const out = await res.done;
      this.#countAppended(topic, partition, bytes);
      return produced(out);
    } catch (err) {
      const f = storageFailureOf(this.logger, err, 'produce');
      return produceFailure(f.errorCode, f.errorMessage);
    }
  }

  /** KIP-890 part 1: asks the coordinator whether this partition is in the producer's transaction. */
  async #verify(txn: PartitionTxn, transactionalId: string, b: ValidatedBatch, topic: string, partition: number): Promise<ProduceOutcome | null> {
    const verifier = this.#verifier;
    if (verifier === null) return produceFailure(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, 'transactions are not available: no transaction coordinator');
    const { guard, result } = txn.verification(b.producerId, b.producerEpoch, () =>
      verifier.verifyPartition(transactionalId, b.producerId, b.producerEpoch, topic, partition),
    );
    const code = await result;
    if (code !== 0) return produceFailure(RETRIABLE_VERIFY_ERRORS.has(code) ? ErrorCode.NOT_ENOUGH_REPLICAS : code, 'the partition is not part of the producer\'s ongoing transaction');
    if (!txn.stillVerified(b.producerId, guard)) {
      return produceFailure(ErrorCode.INVALID_TXN_STATE, 'the transaction ended while the batch was being verified');
    }
    return null;
  }

  #countAppended(topic: string, partition: number, bytes: number): void {
    if (this.#appended) {
      const k = `${topic}-${partition}`;
      this.#appended.set(k, (this.#appended.get(k) ?? 0) + bytes);
    }
  }

  // --- markers --------------------------------------------------------------------------------------------

  writeMarkers(partitions: readonly TopicPartition[], marker: TxnMarker): Promise<MarkerOutcome[]> {
    return Promise.all(partitions.map((tp) => this.#writeMarker(tp.topic, tp.partition, marker)));
  }

  async #writeMarker(topic: string, partition: number, marker: TxnMarker): Promise<MarkerOutcome> {
    const log = this.logs.get(topic, partition);
    if (!log) return { topic, partition, errorCode: this.missingError(topic, partition) };
    try {
      const txn = this.#readyTxn(log) ?? (await this.#loadTxn(log));
      const res = txn.appendMarker(marker);
      if (!('done' in res)) {
        this.logger.warn({ topic, partition, producerId: marker.producerId, why: res.message }, 'marker refused');
        return { topic, partition, errorCode: res.errorCode };
      }
      await res.done;
    } catch (err) {
      return { topic, partition, errorCode: storageFailureOf(this.logger, err, 'write marker').errorCode };
    }
    for (const listener of this.#markerListeners) {
      try {
        listener(topic, partition, marker);
      } catch (err) {
        this.logger.error({ topic, partition, err }, 'marker listener threw');
      }
    }
    return { topic, partition, errorCode: 0 };
  }

  // --- reads ----------------------------------------------------------------------------------------------

  /**
   * `into` (not part of PartitionOps): memory cold reads may go straight into, for an answer to another shard
   * (AppendFile.read). The records are then views of it, valid while the caller keeps it.
   */
  async read(specs: readonly ReadSpec[], maxBytes: number, _hold?: HoldViews, into?: ReadInto): Promise<ReadOutcome[]> {
    let bytes = 0;
    const out: ReadOutcome[] = [];
    for (const s of specs) {
      const r = await this.readOne(s, maxBytes - bytes, bytes === 0, into);
      bytes += r.bytes;
      out.push(r);
    }
    return out;
  }

  private async readOne(s: ReadSpec, budgetLeft: number, first: boolean, into: ReadInto | undefined): Promise<ReadOutcome> {
    const log = this.logs.get(s.topic, s.partition);
    if (!log) return readFailure(this.missingError(s.topic, s.partition));
    // The topic was deleted while a Fetch waited: its log is gone, not empty.
    if (log.closed) return readFailure(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    const committed = s.isolationLevel === READ_COMMITTED;
    let txn: PartitionTxn | null;
    try {
      txn = committed ? (this.#readyTxn(log) ?? (await this.#loadTxn(log))) : (this.#txn.get(log)?.txn ?? null);
    } catch (err) {
      return readFailure(storageFailureOf(this.logger, err, 'fetch').errorCode);
    }
    const hw = log.highWatermark;
    const lso = txn === null ? hw : txn.lastStableOffset();
    // Reads under read_committed end at the LSO: never a batch at or beyond it.
    const end = committed ? lso : hw;
    const aborted = committed ? [] : null;
    const out: ReadOutcome = { errorCode: 0, highWatermark: hw, lastStableOffset: lso, logStartOffset: log.logStartOffset, records: [], bytes: 0, seenHighWatermark: end, abortedTransactions: aborted };
    // As in Kafka: out of range below the log start or beyond the log end; between the high watermark and the
    // log end (appended, not yet synced) there is simply nothing to read yet.
    if (s.fetchOffset < log.logStartOffset || s.fetchOffset > log.logEndOffset) return { ...out, errorCode: ErrorCode.OFFSET_OUT_OF_RANGE };
    if (s.fetchOffset >= end) return out;
    const budget = Math.min(s.partitionMaxBytes, budgetLeft);
    if (budget <= 0 && !first) return out;
    try {
      const res = await log.read(s.fetchOffset, Math.max(budget, 0), { minOneBatch: first, upTo: end, into });
      if (!res.ok) {
        // the log moved under us (retention or DeleteRecords between the check and the read)
        return { ...out, errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, highWatermark: res.highWatermark, logStartOffset: res.logStartOffset };
      }
      let n = 0;
      for (const r of res.records) n += r.length;
      const abortedTransactions = committed && txn !== null && n > 0 && !txn.index.empty ? txn.abortedTransactions(s.fetchOffset, endOffsetOf(res.records)) : aborted;
      return { ...out, records: res.records, bytes: n, highWatermark: res.highWatermark, logStartOffset: res.logStartOffset, abortedTransactions };
    } catch (err) {
      return readFailure(storageFailureOf(this.logger, err, 'fetch').errorCode);
    }
  }

  /** What a waiter compares with what it saw: the LSO under read_committed (when known), else the high watermark. */
  #watermark(log: PartitionLog, isolationLevel: number | undefined): number {
    if (isolationLevel === READ_COMMITTED) {
      const txn = this.#txn.get(log)?.txn;
      if (txn) return txn.lastStableOffset();
    }
    return log.highWatermark;
  }

  waitForAppend(specs: readonly WaitSpec[], ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const unsubs: (() => void)[] = [];
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        for (const u of unsubs) u();
        if (timer) clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      if (signal.aborted) return resolve();
      const watched: { log: PartitionLog; spec: WaitSpec }[] = [];
      let moved = false;
      for (const s of specs) {
        const log = this.logs.get(s.topic, s.partition);
        if (!log) continue;
        watched.push({ log, spec: s });
        if (this.#watermark(log, s.isolationLevel) !== s.seenHighWatermark) moved = true;
      }
      if (moved) return resolve();
      if (watched.length === 0) return resolve();
      timer = setTimeout(done, ms);
      signal.addEventListener('abort', done);
      for (const { log, spec } of watched) {
        // read_committed wakes when the LSO moves (a marker became durable), not on every append behind an
        // open transaction; a failed or closed log always wakes (the read reports it).
        unsubs.push(
          log.onAppend(() => {
            if (log.failed || log.closed || this.#watermark(log, spec.isolationLevel) !== spec.seenHighWatermark) done();
          }),
        );
      }
    });
  }

  async listOffset(topic: string, partition: number, ts: number, v: number, isolationLevel?: number): Promise<OffsetLookup> {
    const out: OffsetLookup = { errorCode: 0, offset: -1, timestamp: -1, leaderEpoch: -1 };
    const log = this.logs.get(topic, partition);
    if (!log) return { ...out, errorCode: this.missingError(topic, partition) };
    try {
      // read_committed answers end at the last stable offset, taken before the lookup as Kafka does: latest is the
      // LSO, and a lookup (by time, max timestamp) whose answer lies at or past it finds nothing (-1, -1).
      // read_uncommitted lookups only ever see readable records, below the high watermark.
      const lso = isolationLevel === READ_COMMITTED && (ts === LATEST || ts === MAX_TIMESTAMP || ts >= 0) ? (this.#readyTxn(log) ?? (await this.#loadTxn(log))).lastStableOffset() : -1;
      let found: { offset: number; timestamp: number } | null;
      if (ts === LATEST) found = { offset: lso >= 0 ? lso : log.highWatermark, timestamp: -1 };
      else if (ts === EARLIEST || (ts === EARLIEST_LOCAL && v >= 8)) found = { offset: log.logStartOffset, timestamp: -1 };
      else if (ts === MAX_TIMESTAMP && v >= 7) found = await log.maxTimestampOffset();
      else if (ts >= 0) found = await log.offsetForTimestamp(ts);
      else return { ...out, errorCode: ErrorCode.UNSUPPORTED_VERSION };
      if (found && (lso < 0 || ts === LATEST || found.offset < lso)) return { errorCode: 0, offset: found.offset, timestamp: found.timestamp, leaderEpoch: LEADER_EPOCH };
      return out;
    } catch (err) {
      return { ...out, errorCode: storageFailureOf(this.logger, err, 'list offsets').errorCode };
    }
  }

  async deleteRecords(topic: string, partition: number, offset: number): Promise<{ errorCode: number; lowWatermark: number }> {
    const log = this.logs.get(topic, partition);
    if (!log) return { lowWatermark: -1, errorCode: this.missingError(topic, partition) };
    try {
      // The log maps -1 to the high watermark and checks the range.
      const res = await log.deleteRecordsBefore(offset);
      if (!res.ok) return { lowWatermark: -1, errorCode: ErrorCode.OFFSET_OUT_OF_RANGE };
      return { lowWatermark: res.lowWatermark, errorCode: 0 };
    } catch (err) {
      return { lowWatermark: -1, errorCode: storageFailureOf(this.logger, err, 'delete records').errorCode };
    }
  }

  async describeProducers(topic: string, partition: number): Promise<DescribeProducersOutcome> {
    const log = this.logs.get(topic, partition);
    if (!log) return { errorCode: this.missingError(topic, partition), producers: [] };
    try {
      const txn = this.#readyTxn(log) ?? (await this.#loadTxn(log));
      return { errorCode: 0, producers: txn.state.describe() };
    } catch (err) {
      return { errorCode: storageFailureOf(this.logger, err, 'describe producers').errorCode, producers: [] };
    }
  }
}

/** The offset after the last batch of whole batches read from a log (pieces as the read returned them). */
function endOffsetOf(records: readonly Buffer[]): number {
  const view = new ChunkedView(records);
  let pos = 0;
  let end = -1;
  while (pos + LAST_OFFSET_DELTA_OFFSET + 4 <= view.length) {
    const base = view.readInt32BE(pos + BASE_OFFSET_OFFSET) * 0x1_0000_0000 + (view.readInt32BE(pos + BASE_OFFSET_OFFSET + 4) >>> 0);
    end = base + view.readInt32BE(pos + LAST_OFFSET_DELTA_OFFSET) + 1;
    pos += LOG_OVERHEAD + view.readInt32BE(pos + BATCH_LENGTH_OFFSET);
  }
  return end;
}
