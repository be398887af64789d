/**
 * TxnCoordinator: Kafka's transaction coordinator (KIP-98) for the transactional ids whose `__transaction_state`
 * partition it owns, on a single-replica broker: producer ids and epochs (InitProducerId, with KIP-360's epoch
 * bump and producer id rotation), the partitions of each ongoing transaction (AddPartitionsToTxn,
 * AddOffsetsToTxn), two-phase completion (EndTxn: Prepare, markers on every partition, Complete), timeouts,
 * expiry, and KIP-890 part 1 verification for the partition side (TxnVerifier).
 *
 * Ownership: a transactional id lives in partition `abs(javaHashCode(id)) % transactionStateTopicPartitions`
 * (Kafka's rule, as for groups). The coordinator is given the partitions it owns (all of them on a
 * single-process broker; one shard's share on the sharded broker) and answers NOT_COORDINATOR for any other id,
 * COORDINATOR_LOAD_IN_PROGRESS while the id's partition is replayed. The internal topic is created lazily
 * (FindCoordinator for a transactional id, or the first transactional request), compacted.
 *
 * State machine (Kafka's states and ids, see records.ts):
 *   Empty/CompleteCommit/CompleteAbort --AddPartitions--> Ongoing --EndTxn--> PrepareCommit|PrepareAbort
 *   --markers written to every partition--> CompleteCommit|CompleteAbort.
 *   InitProducerId bumps the epoch (fencing older producers) from Empty/Complete*; on Ongoing it fences first
 *   (PrepareEpochFence, in memory only): the epoch is bumped and the transaction aborted (PrepareAbort with the
 *   new epoch), and the client is told CONCURRENT_TRANSACTIONS until the abort completes, as Kafka does.
 *   The timeout scan does the same to an Ongoing transaction older than its timeout.
 *
 * Durability: every state change is appended to the state partition and is durable before it is applied in
 * memory, acted upon or answered. While a change is being persisted the id has a pending state: other requests
 * for it get CONCURRENT_TRANSACTIONS (retriable). EndTxn is answered once its Prepare record is durable (as in
 * Kafka); markers are then written through the MarkerWriter, failed partitions retried with backoff
 * (TXN_MARKER_RETRY_BACKOFF_MS_MIN..MAX, without end: a partition must get its marker or its last stable offset
 * never moves), and the Complete record is appended. After a restart the partition is replayed: Prepare* states
 * re-send their markers and complete; Ongoing ones are kept (the timeout aborts them).
 *
 * Delayed requests (KAFKA-17754: a delayed or retried EndTxn of one transaction ending the next transaction of
 * the same producer epoch; fully fixed only by KIP-890 part 2, not implemented here): no state change is applied
 * for a request whose connection has closed (`signal`), and an EndTxn read off the socket before the ongoing
 * transaction began (`receivedAtUs` against the monotonic time its first AddPartitions was applied) is refused
 * with INVALID_TXN_STATE: the client sends EndTxn for a transaction only after its AddPartitions was answered.
 *
 * Thread and lifecycle: one JS thread (the shard owning its partitions). `start()` schedules the scans and loads
 * the owned partitions when the topic exists; `close()` stops timers and marker retries (a restart resumes them).
 */
import { ErrorCode } from '../protocol/errors.js';
import { buildRecordBatch, isControl, iterateRecords, readBatchHeader } from '../protocol/records.js';
import { InternalTopicPartitions, OFFSETS_TOPIC, partitionForGroup, replayedPayload, type InternalTopic, type Logger, type CoordinatorRoute, type TimerHandle, type Timers } from '../groups/index.js';
import { txnCoordinatorDefaults, type TxnCoordinatorConfig } from './config.js';
import { decodeTxnKey, decodeTxnValue, encodeTxnKey, encodeTxnValue, TxnStatus, txnStatusName, TXN_STATUS_NAMES, type TxnStatusId, type TxnTopicPartitions } from './records.js';
import type { TxnStateStore } from './state-store.js';
import { TRANSACTION_STATE_TOPIC, type MarkerWriter, type ProducerIdSource, type TopicPartition, type TxnMarker, type TxnVerifier } from './types.js';

/** Kafka: an epoch at or above Short.MAX_VALUE - 1 is exhausted; the next InitProducerId rotates the producer id. */
export const PRODUCER_EPOCH_EXHAUSTED = 32766;
export const PRODUCER_EPOCH_MAX = 32767;
export const NO_PRODUCER_ID = -1;
export const NO_PRODUCER_EPOCH = -1;
/** First and largest delay between marker (or Complete record) retries. */
export const TXN_MARKER_RETRY_BACKOFF_MS_MIN = 100;
export const TXN_MARKER_RETRY_BACKOFF_MS_MAX = 5_000;
/** The coordinator epoch written in markers: the state partition's leader epoch, always 0 on this broker. */
export const COORDINATOR_EPOCH = 0;
/** What a request whose connection closed gets (nobody reads it): no state change was applied. */
const REQUEST_ABANDONED = ErrorCode.REQUEST_TIMED_OUT;

export type { Logger };

/** The coordinator's settings: its own, and the group setting AddOffsetsToTxn needs. */
export type TxnCoordinatorSettings = TxnCoordinatorConfig & { offsetsTopicPartitions: number };

export interface InitProducerIdInput {
  /** null: an idempotent producer without transactions. */
  transactionalId: string | null;
  transactionTimeoutMs: number;
  /** KIP-360 (v3+): the producer's current id and epoch, or -1/-1. */
  producerId: number;
  producerEpoch: number;
}

export interface ProducerIdResult {
  errorCode: number;
  producerId: number;
  producerEpoch: number;
}

export interface TxnRequestInput {
  transactionalId: string;
  producerId: number;
  producerEpoch: number;
}

export interface AddPartitionsInput extends TxnRequestInput {
  partitions: TopicPartition[];
}

export interface AddOffsetsInput extends TxnRequestInput {
  groupId: string;
}

export interface EndTxnInput extends TxnRequestInput {
  commit: boolean;
}

/** Where a request came from, for the delayed-request defenses (both optional). */
export interface TxnCallOptions {
  /** Aborted when the client's connection closed: no state change is applied for the request any more. */
  signal?: AbortSignal;
  /** When the request was read, on `requestClockUs()`: an EndTxn read before the ongoing transaction began is refused. */
  receivedAtUs?: number;
}

export interface TransactionDescription {
  errorCode: number;
  transactionalId: string;
  state: string;
  transactionTimeoutMs: number;
  /** -1 when no transaction was started. */
  transactionStartTimeMs: number;
  producerId: number;
  producerEpoch: number;
  topics: TxnTopicPartitions[];
}

export interface TransactionListing {
  transactionalId: string;
  producerId: number;
  state: string;
}

export interface ListTransactionsFilter {
  /** State names (Kafka's); empty: all. Unknown names are reported back. */
  states: readonly string[];
  /** Empty: all. */
  producerIds: readonly number[];
  /** ListTransactions v1: only transactions running longer than this (ms); -1: no filter. */
  durationMs: number;
}

export interface ListTransactionsResult {
  errorCode: number;
  unknownStateFilters: string[];
  transactions: TransactionListing[];
}

/** The monotonic clock of the delayed-request check: µs, the same in every thread of the process. */
export function requestClockUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

interface Snapshot {
  producerId: number;
  lastProducerId: number;
  producerEpoch: number;
  lastProducerEpoch: number;
  timeoutMs: number;
  state: TxnStatusId;
  /** topic -> partitions. */
  partitions: Map<string, Set<number>>;
  startMs: number;
  updateMs: number;
}

interface TxnMeta extends Snapshot {
  readonly transactionalId: string;
  readonly statePartition: number;
  /** The state being persisted (or the fence under way); Invariant: null when no change is in flight. */
  pending: TxnStatusId | null;
  /** requestClockUs() when the ongoing transaction's first AddPartitions was applied; 0: unknown (loaded). */
  startedAtUs: number;
}

interface OwnedPartition {
  loading: boolean;
  txns: Map<string, TxnMeta>;
}

export interface TxnCoordinatorOptions {
  config: TxnCoordinatorSettings;
  store: TxnStateStore;
  markers: MarkerWriter;
  producerIds: ProducerIdSource;
  timers: Timers;
  logger: Logger;
  /** `__transaction_state` partitions this coordinator owns (default: all). */
  ownedPartitions?: readonly number[] | (() => readonly number[]);
  /** The internal topic: whether it exists, and how to create it (called at most once at a time). */
  stateTopic: InternalTopic;
  /** Whether a partition exists; a marker for a partition that no longer does (topic deleted) is dropped. */
  partitionExists?(topic: string, partition: number): boolean;
  /** The delayed-request clock (default requestClockUs); tests inject a counter. */
  monoUs?: () => number;
}

export class TxnCoordinator implements TxnVerifier {
  readonly config: TxnCoordinatorSettings;
  private readonly store: TxnStateStore;
  private readonly markers: MarkerWriter;
  private readonly producerIds: ProducerIdSource;
  private readonly timers: Timers;
  private readonly logger: Logger;
  private readonly partitionExists: (topic: string, partition: number) => boolean;
  private readonly monoUs: () => number;
  /** Invariant: only owned partitions are keys; a loaded partition's map holds every live transactional id of it. */
  private readonly partitions = new Map<number, OwnedPartition>();
  /** `__transaction_state`: ownership, creation, loading, routing. */
  private readonly stateTopic: InternalTopicPartitions<OwnedPartition>;
  private readonly timerHandles = new Set<TimerHandle>();
  private readonly sleepers = new Set<() => void>();
  /** Completions (markers + Complete record) in flight, for tests and close. */
  private readonly completions = new Set<Promise<void>>();
  private txnCount = 0;

  constructor(opts: TxnCoordinatorOptions) {
    this.config = opts.config;
    this.store = opts.store;
    this.markers = opts.markers;
    this.producerIds = opts.producerIds;
    this.timers = opts.timers;
    this.logger = opts.logger;
    this.partitionExists = opts.partitionExists ?? (() => true);
    this.monoUs = opts.monoUs ?? requestClockUs;
    this.stateTopic = new InternalTopicPartitions({
      name: TRANSACTION_STATE_TOPIC,
      topic: opts.stateTopic,
      partitionCount: opts.config.transactionStateTopicPartitions,
      ...(opts.ownedPartitions ? { owned: opts.ownedPartitions } : {}),
      partitions: this.partitions,
      load: (p) => this.loadPartition(p),
      logger: opts.logger,
    });
  }

  private get closed(): boolean {
    return this.stateTopic.closed;
  }

  /** Schedules the timeout and expiry scans; loads the owned partitions in the background when the topic exists. */
  start(): void {
    this.every(this.config.transactionAbortTimedOutIntervalMs, () => this.abortTimedOut());
    this.every(this.config.transactionRemoveExpiredIntervalMs, () => this.expire());
    this.stateTopic.start();
  }

  /** Resolves when every owned partition is loaded (or failed to load). */
  loaded(): Promise<void> {
    return this.stateTopic.loaded();
  }

  /** Resolves when the completions (markers, Complete records) started so far have ended. Tests. */
  async settled(): Promise<void> {
    while (this.completions.size > 0) await Promise.all([...this.completions]);
  }

  /** Creates `__transaction_state` if needed and loads it (FindCoordinator calls this); false when creation failed. */
  ensureStateTopic(): Promise<boolean> {
    return this.stateTopic.ensureTopic();
  }

  close(): void {
    this.stateTopic.close();
    for (const h of this.timerHandles) this.timers.clearTimeout(h);
    this.timerHandles.clear();
    for (const wake of this.sleepers) wake();
    this.sleepers.clear();
    for (const p of [...this.partitions.keys()]) this.unloadPartition(p);
  }

  partitionFor(transactionalId: string): number {
    // Kafka's Utils.abs(hashCode) % n: the same rule as a group's partition.
    return partitionForGroup(transactionalId, this.config.transactionStateTopicPartitions);
  }

  // --- timers -----------------------------------------------------------------------------------------------

  private every(ms: number, f: () => Promise<unknown>): void {
    const run = (): void => {
      if (this.closed) return;
      const h = this.timers.setTimeout(() => {
        this.timerHandles.delete(h);
        f()
          .catch((err: unknown) => this.logger.error({ err }, 'transaction coordinator scan failed'))
          .finally(run);
      }, ms);
      this.timerHandles.add(h);
    };
    run();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      const wake = (): void => {
        this.sleepers.delete(wake);
        this.timerHandles.delete(h);
        resolve();
      };
      const h = this.timers.setTimeout(wake, ms);
      this.timerHandles.add(h);
      this.sleepers.add(wake);
    });
  }

  /** Sleeps `ms`, then answers the next retry's delay (doubled, up to TXN_MARKER_RETRY_BACKOFF_MS_MAX). */
  private async backoff(ms: number): Promise<number> {
    await this.sleep(ms);
    return Math.min(ms * 2, TXN_MARKER_RETRY_BACKOFF_MS_MAX);
  }

  // --- loading ----------------------------------------------------------------------------------------------

  /** Replays one partition; its ids answer COORDINATOR_LOAD_IN_PROGRESS meanwhile. Prepare* states complete after. */
  async loadPartition(partition: number): Promise<void> {
    if (this.partitions.has(partition)) return;
    const owned: OwnedPartition = { loading: true, txns: new Map() };
    this.partitions.set(partition, owned);
    const values = new Map<string, ReturnType<typeof decodeTxnValue> | null>();
    let records = 0;
    let skipped = 0;
    for await (const batch of this.store.read(partition)) {
      const header = readBatchHeader(batch, 0);
      if (isControl(header.attributes)) continue;
      const payload = await replayedPayload(batch, header);
      for (const r of iterateRecords(payload, header)) {
        records++;
        try {
          const id = r.key === null ? null : decodeTxnKey(r.key);
          if (id === null) {
            skipped++;
            continue;
          }
          values.set(id, r.value === null ? null : decodeTxnValue(r.value));
        } catch (err) {
          skipped++;
          this.logger.warn({ err, partition, offset: r.offset }, 'skipping an unreadable __transaction_state record');
        }
      }
    }
    if (this.partitions.get(partition) !== owned) return; // unloaded meanwhile
    const resume: TxnMeta[] = [];
    for (const [id, v] of values) {
      if (v === null || v.status === TxnStatus.Dead) continue;
      const parts = new Map<string, Set<number>>();
      for (const tp of v.partitions ?? []) parts.set(tp.topic, new Set(tp.partitions));
      // PrepareEpochFence is never written by Tern (nor Kafka); if found, the transaction is still open.
      const state = v.status === TxnStatus.PrepareEpochFence ? TxnStatus.Ongoing : v.status;
      const meta: TxnMeta = {
        transactionalId: id,
        statePartition: partition,
        producerId: v.producerId,
        lastProducerId: NO_PRODUCER_ID,
        producerEpoch: v.producerEpoch,
        lastProducerEpoch: NO_PRODUCER_EPOCH,
        timeoutMs: v.transactionTimeoutMs,
        state,
        partitions: parts,
        startMs: v.startTimestampMs,
        updateMs: v.lastUpdateTimestampMs,
        pending: null,
        startedAtUs: 0,
      };
      owned.txns.set(id, meta);
      this.txnCount++;
      if (state === TxnStatus.PrepareCommit || state === TxnStatus.PrepareAbort) resume.push(meta);
    }
    owned.loading = false;
    if (records > 0) this.logger.info({ partition, records, skipped, transactionalIds: owned.txns.size, completing: resume.length }, 'loaded __transaction_state partition');
    for (const meta of resume) this.startCompletion(meta);
  }

  /** Drops a partition's state (ownership moved or closing); marker retries for it stop. */
  unloadPartition(partition: number): void {
    const owned = this.partitions.get(partition);
    if (!owned) return;
    this.partitions.delete(partition);
    this.txnCount -= owned.txns.size;
  }

  // --- routing ----------------------------------------------------------------------------------------------

  private route(transactionalId: string): Promise<CoordinatorRoute> {
    return this.stateTopic.route(this.partitionFor(transactionalId));
  }

  private txn(partition: number, transactionalId: string): TxnMeta | undefined {
    return this.partitions.get(partition)?.txns.get(transactionalId);
  }

  private live(meta: TxnMeta): boolean {
    return !this.closed && this.partitions.get(meta.statePartition)?.txns.get(meta.transactionalId) === meta;
  }

  // --- InitProducerId ---------------------------------------------------------------------------------------

  async initProducerId(req: InitProducerIdInput, opts: TxnCallOptions = {}): Promise<ProducerIdResult> {
    if (req.transactionalId === null) return this.initIdempotent(req);
    const id = req.transactionalId;
    if (id === '') return initError(ErrorCode.INVALID_REQUEST);
    if (!Number.isInteger(req.transactionTimeoutMs) || req.transactionTimeoutMs <= 0 || req.transactionTimeoutMs > this.config.transactionMaxTimeoutMs) {
      return initError(ErrorCode.INVALID_TRANSACTION_TIMEOUT);
    }
    const route = await this.route(id);
    if (!route.ok) return initError(route.errorCode);
    let meta = this.txn(route.partition, id);
    if (meta === undefined) {
      if (this.txnCount >= this.config.transactionalIdsMax) return initError(ErrorCode.COORDINATOR_NOT_AVAILABLE);
      const producerId = await this.allocateProducerId();
      if (producerId === null) return initError(ErrorCode.COORDINATOR_NOT_AVAILABLE);
      const again = await this.route(id);
      if (!again.ok) return initError(again.errorCode);
      meta = this.txn(route.partition, id);
      if (meta === undefined) {
        // Kept in memory before it is stored (Kafka does the same): the first stored record is the epoch-0 Empty below.
        meta = {
          transactionalId: id,
          statePartition: route.partition,
          producerId,
          lastProducerId: NO_PRODUCER_ID,
          producerEpoch: NO_PRODUCER_EPOCH,
          lastProducerEpoch: NO_PRODUCER_EPOCH,
          timeoutMs: req.transactionTimeoutMs,
          state: TxnStatus.Empty,
          partitions: new Map(),
          startMs: -1,
          updateMs: this.timers.now(),
          pending: null,
          startedAtUs: 0,
        };
        this.partitions.get(route.partition)!.txns.set(id, meta);
        this.txnCount++;
      }
    }
    return this.initTransactional(meta, req, opts);
  }

  /** KIP-360 for idempotent producers: the same id with the next epoch, a new id when none is given or the epoch is exhausted. */
  private async initIdempotent(req: InitProducerIdInput): Promise<ProducerIdResult> {
    if (req.producerId >= 0 && req.producerEpoch >= 0 && req.producerEpoch < PRODUCER_EPOCH_EXHAUSTED) {
      return { errorCode: ErrorCode.NONE, producerId: req.producerId, producerEpoch: req.producerEpoch + 1 };
    }
    const producerId = await this.allocateProducerId();
    if (producerId === null) return initError(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    return { errorCode: ErrorCode.NONE, producerId, producerEpoch: 0 };
  }

  /** A new producer id, or null when none could be had (logged: the client is answered COORDINATOR_NOT_AVAILABLE). */
  private async allocateProducerId(): Promise<number | null> {
    try {
      return await this.producerIds.allocate();
    } catch (err) {
      this.logger.error({ err }, 'allocating a producer id failed');
      return null;
    }
  }

  private async initTransactional(meta: TxnMeta, req: InitProducerIdInput, opts: TxnCallOptions): Promise<ProducerIdResult> {
    const expected = req.producerId >= 0 ? { producerId: req.producerId, producerEpoch: req.producerEpoch } : null;
    if (meta.pending !== null) return initError(ErrorCode.CONCURRENT_TRANSACTIONS);
    // KIP-360: a producer that gives its id and epoch is fenced unless the id is this transactional id's (or,
    // after a rotation it never heard about, the previous id with an exhausted epoch) or none was stored yet.
    if (
      expected !== null &&
      !(
        meta.producerEpoch === NO_PRODUCER_EPOCH ||
        expected.producerId === meta.producerId ||
        (expected.producerId === meta.lastProducerId && expected.producerEpoch >= PRODUCER_EPOCH_EXHAUSTED)
      )
    ) {
      return initError(ErrorCode.PRODUCER_FENCED);
    }
    switch (meta.state) {
      case TxnStatus.PrepareCommit:
      case TxnStatus.PrepareAbort:
        return initError(ErrorCode.CONCURRENT_TRANSACTIONS);
      case TxnStatus.Ongoing: {
        // Fence the current producer and abort its transaction; the client retries until the abort completes.
        const error = await this.fenceAndAbort(meta, opts);
        return initError(error === ErrorCode.NONE ? ErrorCode.CONCURRENT_TRANSACTIONS : error);
      }
      default:
        break; // Empty, CompleteCommit, CompleteAbort
    }
    const now = this.timers.now();
    let next: Snapshot;
    if (meta.producerEpoch >= PRODUCER_EPOCH_EXHAUSTED && (expected === null || expected.producerEpoch === meta.producerEpoch)) {
      if (opts.signal?.aborted) return initError(REQUEST_ABANDONED);
      meta.pending = TxnStatus.Empty; // holds the id while a new producer id is allocated
      const producerId = await this.allocateProducerId();
      meta.pending = null;
      if (producerId === null) return initError(ErrorCode.COORDINATOR_NOT_AVAILABLE);
      next = { ...snapshot(meta), lastProducerId: meta.producerId, producerId, producerEpoch: 0, lastProducerEpoch: expected !== null ? meta.producerEpoch : NO_PRODUCER_EPOCH };
    } else {
      let epoch: number;
      let lastEpoch: number;
      if (expected === null) {
        epoch = meta.producerEpoch + 1;
        lastEpoch = NO_PRODUCER_EPOCH;
      } else if (meta.producerEpoch === NO_PRODUCER_EPOCH || expected.producerEpoch === meta.producerEpoch) {
        epoch = meta.producerEpoch + 1;
        lastEpoch = meta.producerEpoch;
      } else if (expected.producerEpoch === meta.lastProducerEpoch) {
        // A retry of a bump whose answer was lost: the current epoch again, no second bump.
        epoch = meta.producerEpoch;
        lastEpoch = meta.lastProducerEpoch;
      } else {
        return initError(ErrorCode.PRODUCER_FENCED);
      }
      next = { ...snapshot(meta), producerEpoch: epoch, lastProducerEpoch: lastEpoch };
    }
    next = { ...next, timeoutMs: req.transactionTimeoutMs, state: TxnStatus.Empty, partitions: new Map(), startMs: -1, updateMs: now };
    const error = await this.transition(meta, next, opts);
    if (error !== ErrorCode.NONE) return initError(error);
    return { errorCode: ErrorCode.NONE, producerId: meta.producerId, producerEpoch: meta.producerEpoch };
  }

  // --- AddPartitionsToTxn / AddOffsetsToTxn -----------------------------------------------------------------

  /** Adds partitions to the producer's transaction (starting one if none is ongoing). One error for them all. */
  async addPartitions(req: AddPartitionsInput, opts: TxnCallOptions = {}): Promise<number> {
    if (req.partitions.length > this.config.transactionPartitionsMax) return ErrorCode.INVALID_REQUEST;
    const m = await this.producerTxn(req);
    if (typeof m === 'number') return m;
    if (m.pending !== null || m.state === TxnStatus.PrepareCommit || m.state === TxnStatus.PrepareAbort) return ErrorCode.CONCURRENT_TRANSACTIONS;
    const ongoing = m.state === TxnStatus.Ongoing;
    if (ongoing && req.partitions.every((tp) => m.partitions.get(tp.topic)?.has(tp.partition) === true)) return ErrorCode.NONE;
    const parts = ongoing ? clonePartitions(m.partitions) : new Map<string, Set<number>>();
    for (const tp of req.partitions) {
      const s = parts.get(tp.topic) ?? new Set<number>();
      parts.set(tp.topic, s);
      s.add(tp.partition);
    }
    if (countPartitions(parts) > this.config.transactionPartitionsMax) return ErrorCode.INVALID_REQUEST;
    const now = this.timers.now();
    const next: Snapshot = { ...snapshot(m), state: TxnStatus.Ongoing, partitions: parts, startMs: ongoing ? m.startMs : now, updateMs: now };
    const result = await this.transition(m, next, opts);
    if (result === ErrorCode.NONE && !ongoing) m.startedAtUs = this.monoUs();
    return result;
  }

  /** Adds the group's `__consumer_offsets` partition (where TxnOffsetCommit writes) to the transaction. */
  addOffsets(req: AddOffsetsInput, opts: TxnCallOptions = {}): Promise<number> {
    const partition = partitionForGroup(req.groupId, this.config.offsetsTopicPartitions);
    return this.addPartitions({ transactionalId: req.transactionalId, producerId: req.producerId, producerEpoch: req.producerEpoch, partitions: [{ topic: OFFSETS_TOPIC, partition }] }, opts);
  }

  /**
   * The state of the request's transactional id when the request's producer id and epoch are its current ones;
   * else the Kafka error (INVALID_REQUEST for an empty id, the route's error, INVALID_PRODUCER_ID_MAPPING,
   * PRODUCER_FENCED).
   */
  private async producerTxn(req: TxnRequestInput): Promise<TxnMeta | number> {
    if (req.transactionalId === '') return ErrorCode.INVALID_REQUEST;
    const route = await this.route(req.transactionalId);
    if (!route.ok) return route.errorCode;
    const meta = this.txn(route.partition, req.transactionalId);
    if (meta === undefined || meta.producerId !== req.producerId) return ErrorCode.INVALID_PRODUCER_ID_MAPPING;
    if (meta.producerEpoch !== req.producerEpoch) return ErrorCode.PRODUCER_FENCED;
    return meta;
  }

  // --- EndTxn -----------------------------------------------------------------------------------------------

  /** Commits or aborts: answered once the Prepare record is durable; markers and Complete follow. */
  async endTxn(req: EndTxnInput, opts: TxnCallOptions = {}): Promise<number> {
    const m = await this.producerTxn(req);
    if (typeof m === 'number') return m;
    if (m.pending !== null) return ErrorCode.CONCURRENT_TRANSACTIONS;
    switch (m.state) {
      case TxnStatus.Ongoing:
        if (opts.receivedAtUs !== undefined && m.startedAtUs > 0 && opts.receivedAtUs < m.startedAtUs) {
          this.logger.warn({ transactionalId: m.transactionalId, producerId: m.producerId, producerEpoch: m.producerEpoch }, 'refusing an EndTxn read before the ongoing transaction began (a delayed or retried request)');
          return ErrorCode.INVALID_TXN_STATE;
        }
        return this.prepareEnd(m, req.commit, null, opts);
      case TxnStatus.CompleteCommit:
        // A retry of a commit that completed: success. Anything else names the wrong outcome.
        return req.commit ? ErrorCode.NONE : ErrorCode.INVALID_TXN_STATE;
      case TxnStatus.CompleteAbort:
        return req.commit ? ErrorCode.INVALID_TXN_STATE : ErrorCode.NONE;
      case TxnStatus.PrepareCommit:
        return req.commit ? ErrorCode.CONCURRENT_TRANSACTIONS : ErrorCode.INVALID_TXN_STATE;
      case TxnStatus.PrepareAbort:
        return req.commit ? ErrorCode.INVALID_TXN_STATE : ErrorCode.CONCURRENT_TRANSACTIONS;
      default:
        return ErrorCode.INVALID_TXN_STATE; // Empty: no transaction to end
    }
  }

  /** Bumps the epoch (fencing the current producer) and aborts the ongoing transaction. Kafka error code. */
  private fenceAndAbort(meta: TxnMeta, opts: TxnCallOptions): Promise<number> {
    // An epoch at the maximum cannot be bumped (Kafka asserts it never is: an exhausted epoch rotates the id first).
    const epoch = meta.producerEpoch >= PRODUCER_EPOCH_MAX ? meta.producerEpoch : meta.producerEpoch + 1;
    return this.prepareEnd(meta, false, epoch, opts);
  }

  private async prepareEnd(meta: TxnMeta, commit: boolean, fencedEpoch: number | null, opts: TxnCallOptions): Promise<number> {
    const next: Snapshot = { ...snapshot(meta), state: commit ? TxnStatus.PrepareCommit : TxnStatus.PrepareAbort, updateMs: this.timers.now() };
    if (fencedEpoch !== null) {
      next.producerEpoch = fencedEpoch;
      next.lastProducerEpoch = NO_PRODUCER_EPOCH;
    }
    const error = await this.transition(meta, next, opts, fencedEpoch !== null ? TxnStatus.PrepareEpochFence : undefined);
    if (error === ErrorCode.NONE) this.startCompletion(meta);
    return error;
  }

  private startCompletion(meta: TxnMeta): void {
    const p = this.complete(meta)
      .catch((err: unknown) => this.logger.error({ err, transactionalId: meta.transactionalId }, 'completing a transaction failed'))
      .finally(() => this.completions.delete(p));
    this.completions.add(p);
  }

  /** Writes the markers of a Prepare* transaction to its partitions (retrying with backoff), then stores Complete*. */
  private async complete(meta: TxnMeta): Promise<void> {
    const commit = meta.state === TxnStatus.PrepareCommit;
    const marker: TxnMarker = { producerId: meta.producerId, producerEpoch: meta.producerEpoch, commit, coordinatorEpoch: COORDINATOR_EPOCH };
    let remaining: TopicPartition[] = [];
    for (const [topic, ps] of meta.partitions) for (const partition of ps) remaining.push({ topic, partition });
    let backoffMs = TXN_MARKER_RETRY_BACKOFF_MS_MIN;
    while (remaining.length > 0) {
      if (!this.live(meta)) return;
      let failed: { tp: TopicPartition; errorCode: number }[];
      try {
        const outcomes = await this.markers.writeMarkers(remaining, marker);
        const codes = new Map(outcomes.map((o) => [tpKey(o.topic, o.partition), o.errorCode]));
        failed = remaining.map((tp) => ({ tp, errorCode: codes.get(tpKey(tp.topic, tp.partition)) ?? ErrorCode.UNKNOWN_SERVER_ERROR })).filter((f) => f.errorCode !== ErrorCode.NONE);
      } catch (err) {
        this.logger.warn({ err, transactionalId: meta.transactionalId }, 'writing transaction markers failed');
        failed = remaining.map((tp) => ({ tp, errorCode: ErrorCode.UNKNOWN_SERVER_ERROR }));
      }
      // A partition that no longer exists (its topic was deleted) needs no marker (Kafka drops it too).
      const gone = failed.filter((f) => f.errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION && !this.partitionExists(f.tp.topic, f.tp.partition));
      if (gone.length > 0) this.logger.warn({ transactionalId: meta.transactionalId, partitions: gone.map((f) => `${f.tp.topic}-${f.tp.partition}`) }, 'dropping markers for partitions that no longer exist');
      remaining = failed.filter((f) => !gone.includes(f)).map((f) => f.tp);
      if (remaining.length === 0) break;
      this.logger.warn({ transactionalId: meta.transactionalId, failed: failed.slice(0, 10).map((f) => `${f.tp.topic}-${f.tp.partition}: ${f.errorCode}`), retryInMs: backoffMs }, 'transaction markers not written yet; retrying');
      backoffMs = await this.backoff(backoffMs);
    }
    backoffMs = TXN_MARKER_RETRY_BACKOFF_MS_MIN;
    for (;;) {
      if (!this.live(meta)) return;
      const next: Snapshot = { ...snapshot(meta), state: commit ? TxnStatus.CompleteCommit : TxnStatus.CompleteAbort, partitions: new Map(), updateMs: this.timers.now() };
      const error = await this.transition(meta, next, {});
      if (error === ErrorCode.NONE) return;
      this.logger.warn({ transactionalId: meta.transactionalId, errorCode: error, retryInMs: backoffMs }, 'storing a completed transaction failed; retrying');
      backoffMs = await this.backoff(backoffMs);
    }
  }

  // --- KIP-890 part 1: verification for the partition side ------------------------------------------------

  /**
   * 0 when the partition is in the ongoing transaction of that producer id and epoch; else the error the
   * Produce gets: INVALID_PRODUCER_ID_MAPPING (unknown id or another producer id), INVALID_PRODUCER_EPOCH
   * (fenced), INVALID_TXN_STATE (no ongoing transaction, or the partition was not added), NOT_ENOUGH_REPLICAS
   * (retriable: the coordinator is loading, elsewhere, or the transaction is completing; Kafka maps these so).
   */
  async verifyPartition(transactionalId: string, producerId: number, producerEpoch: number, topic: string, partition: number): Promise<number> {
    const route = await this.route(transactionalId);
    if (!route.ok) return ErrorCode.NOT_ENOUGH_REPLICAS;
    const meta = this.txn(route.partition, transactionalId);
    if (meta === undefined || meta.producerId !== producerId) return ErrorCode.INVALID_PRODUCER_ID_MAPPING;
    if (meta.producerEpoch !== producerEpoch) return ErrorCode.INVALID_PRODUCER_EPOCH;
    // More partitions being added to the ongoing transaction: the ones already in it stay writable (librdkafka
    // adds partitions in several requests while batches for the earlier ones are on their way; refusing those
    // cost a 100 ms retry backoff to ~1% of transactions in bench:txn). A partition still being added: retriable.
    const adding = meta.state === TxnStatus.Ongoing && meta.pending === TxnStatus.Ongoing;
    const added = meta.partitions.get(topic)?.has(partition) === true;
    if (adding) return added ? ErrorCode.NONE : ErrorCode.NOT_ENOUGH_REPLICAS;
    // Another change in flight (Kafka: CONCURRENT_TRANSACTIONS) or markers being written: retriable.
    if (meta.pending !== null || meta.state === TxnStatus.PrepareCommit || meta.state === TxnStatus.PrepareAbort) return ErrorCode.NOT_ENOUGH_REPLICAS;
    if (meta.state !== TxnStatus.Ongoing || !added) return ErrorCode.INVALID_TXN_STATE;
    return ErrorCode.NONE;
  }

  // --- timeouts and expiry ----------------------------------------------------------------------------------

  /** Aborts (fencing the producer) every Ongoing transaction older than its timeout. Returns how many were started. */
  async abortTimedOut(): Promise<number> {
    const now = this.timers.now();
    const due: TxnMeta[] = [];
    for (const owned of this.partitions.values()) {
      if (owned.loading) continue;
      for (const m of owned.txns.values()) if (m.state === TxnStatus.Ongoing && m.pending === null && m.startMs + m.timeoutMs < now) due.push(m);
    }
    const results = await Promise.all(
      due.map(async (m) => {
        this.logger.info({ transactionalId: m.transactionalId, producerId: m.producerId, producerEpoch: m.producerEpoch, timeoutMs: m.timeoutMs }, 'aborting a timed-out transaction');
        const error = await this.fenceAndAbort(m, {});
        if (error !== ErrorCode.NONE) this.logger.warn({ transactionalId: m.transactionalId, errorCode: error }, 'aborting a timed-out transaction failed; next scan retries');
        return error === ErrorCode.NONE;
      }),
    );
    return results.filter(Boolean).length;
  }

  /** Removes (tombstones) transactional ids idle in Empty/Complete* longer than transactional.id.expiration.ms. */
  async expire(): Promise<number> {
    const now = this.timers.now();
    let removed = 0;
    for (const [partition, owned] of [...this.partitions]) {
      if (owned.loading) continue;
      for (const m of [...owned.txns.values()]) {
        const idle = m.state === TxnStatus.Empty || m.state === TxnStatus.CompleteCommit || m.state === TxnStatus.CompleteAbort;
        if (!idle || m.pending !== null || now - m.updateMs < this.config.transactionalIdExpirationMs) continue;
        m.pending = TxnStatus.Dead;
        const error = await this.append(partition, encodeTxnKey(m.transactionalId), null);
        m.pending = null;
        if (error !== ErrorCode.NONE) {
          this.logger.warn({ transactionalId: m.transactionalId, errorCode: error }, 'storing an expired transactional id failed; next scan retries');
          continue;
        }
        if (this.partitions.get(partition)?.txns.get(m.transactionalId) === m) {
          owned.txns.delete(m.transactionalId);
          this.txnCount--;
          removed++;
        }
      }
    }
    if (removed > 0) this.logger.info({ removed }, 'expired transactional ids');
    return removed;
  }

  // --- introspection ------------------------------------------------------------------------------------------

  async describeTransaction(transactionalId: string): Promise<TransactionDescription> {
    const none: TransactionDescription = { errorCode: 0, transactionalId, state: '', transactionTimeoutMs: 0, transactionStartTimeMs: -1, producerId: -1, producerEpoch: -1, topics: [] };
    if (transactionalId === '') return { ...none, errorCode: ErrorCode.TRANSACTIONAL_ID_NOT_FOUND };
    const route = await this.route(transactionalId);
    if (!route.ok) return { ...none, errorCode: route.errorCode };
    const m = this.txn(route.partition, transactionalId);
    if (m === undefined || m.producerEpoch === NO_PRODUCER_EPOCH) return { ...none, errorCode: ErrorCode.TRANSACTIONAL_ID_NOT_FOUND };
    return {
      errorCode: ErrorCode.NONE,
      transactionalId,
      state: txnStatusName(m.state),
      transactionTimeoutMs: m.timeoutMs,
      transactionStartTimeMs: m.state === TxnStatus.Empty ? -1 : m.startMs,
      producerId: m.producerId,
      producerEpoch: m.producerEpoch,
      topics: topicList(m.partitions),
    };
  }

  /** This coordinator's transactional ids matching the filter; COORDINATOR_LOAD_IN_PROGRESS while a partition loads. */
  listTransactions(filter: ListTransactionsFilter): ListTransactionsResult {
    const unknownStateFilters = filter.states.filter((s) => !TXN_STATUS_NAMES.includes(s));
    const states = new Set(filter.states.filter((s) => TXN_STATUS_NAMES.includes(s)));
    const pids = new Set(filter.producerIds);
    const now = this.timers.now();
    const transactions: TransactionListing[] = [];
    let errorCode: number = ErrorCode.NONE;
    for (const owned of this.partitions.values()) {
      if (owned.loading) {
        errorCode = ErrorCode.COORDINATOR_LOAD_IN_PROGRESS;
        continue;
      }
      for (const m of owned.txns.values()) {
        if (m.producerEpoch === NO_PRODUCER_EPOCH) continue; // not stored yet
        const name = txnStatusName(m.state);
        if (pids.size > 0 && !pids.has(m.producerId)) continue;
        if (filter.states.length > 0 && !states.has(name)) continue;
        if (filter.durationMs >= 0 && now - m.startMs <= filter.durationMs) continue;
        transactions.push({ transactionalId: m.transactionalId, producerId: m.producerId, state: name });
      }
    }
    if (errorCode !== ErrorCode.NONE) return { errorCode, unknownStateFilters, transactions: [] };
    return { errorCode, unknownStateFilters, transactions };
  }

  // --- storage ----------------------------------------------------------------------------------------------

  /**
   * Persists `next` as the id's state and applies it once durable. The caller checked that no change is pending;
   * `pendingAs` names the in-flight state when it differs from `next.state` (the epoch fence).
   */
  private async transition(meta: TxnMeta, next: Snapshot, opts: TxnCallOptions, pendingAs?: TxnStatusId): Promise<number> {
    if (meta.pending !== null) return ErrorCode.CONCURRENT_TRANSACTIONS;
    if (opts.signal?.aborted) return REQUEST_ABANDONED;
    meta.pending = pendingAs ?? next.state;
    const value = encodeTxnValue({
      producerId: next.producerId,
      producerEpoch: next.producerEpoch,
      transactionTimeoutMs: next.timeoutMs,
      status: next.state,
      partitions: next.state === TxnStatus.Empty ? null : topicList(next.partitions),
      lastUpdateTimestampMs: next.updateMs,
      startTimestampMs: next.startMs,
    });
    const error = await this.append(meta.statePartition, encodeTxnKey(meta.transactionalId), value);
    meta.pending = null;
    if (error !== ErrorCode.NONE) return error;
    if (!this.live(meta)) return ErrorCode.NOT_COORDINATOR;
    Object.assign(meta, next);
    return ErrorCode.NONE;
  }

  /** Appends one record; maps a storage failure the way Kafka does (the client finds the coordinator again). */
  private async append(partition: number, key: Buffer, value: Buffer | null): Promise<number> {
    if (!this.partitions.has(partition)) return ErrorCode.NOT_COORDINATOR;
    try {
      await this.store.append(partition, buildRecordBatch([{ key, value }], { nowMs: this.timers.now() }));
      return ErrorCode.NONE;
    } catch (err) {
      return this.stateTopic.appendFailed(partition, err);
    }
  }

  // --- for tests and tools ----------------------------------------------------------------------------------

  /** The id's state as held in memory (tests, admin tools), or undefined. */
  stateOf(transactionalId: string): { state: string; producerId: number; producerEpoch: number; pending: string | null; partitions: TxnTopicPartitions[] } | undefined {
    const m = this.txn(this.partitionFor(transactionalId), transactionalId);
    if (m === undefined) return undefined;
    return { state: txnStatusName(m.state), producerId: m.producerId, producerEpoch: m.producerEpoch, pending: m.pending === null ? null : txnStatusName(m.pending), partitions: topicList(m.partitions) };
  }
}

/** Default settings for a coordinator built outside a broker (tests). */
export const txnCoordinatorSettingsDefaults: TxnCoordinatorSettings = { ...txnCoordinatorDefaults, offsetsTopicPartitions: 50 };

function initError(errorCode: number): ProducerIdResult {
  return { errorCode, producerId: NO_PRODUCER_ID, producerEpoch: NO_PRODUCER_EPOCH };
}

function snapshot(m: Snapshot): Snapshot {
  return {
    producerId: m.producerId,
    lastProducerId: m.lastProducerId,
    producerEpoch: m.producerEpoch,
    lastProducerEpoch: m.lastProducerEpoch,
    timeoutMs: m.timeoutMs,
    state: m.state,
    partitions: m.partitions,
    startMs: m.startMs,
    updateMs: m.updateMs,
  };
}

function clonePartitions(p: Map<string, Set<number>>): Map<string, Set<number>> {
  return new Map([...p].map(([t, s]) => [t, new Set(s)]));
}

function countPartitions(p: Map<string, Set<number>>): number {
  let n = 0;
  for (const s of p.values()) n += s.size;
  return n;
}

function topicList(p: Map<string, Set<number>>): TxnTopicPartitions[] {
  return [...p]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([topic, s]) => ({ topic, partitions: [...s].sort((a, b) => a - b) }));
}

function tpKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}
