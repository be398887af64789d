/**
 * Partition operations as the Kafka handlers use them: produce into, read from, wait on, look up offsets in and
 * delete records of a partition, by topic name and index. Handlers never hold a partition's log: the partition
 * may live on another shard (src/shard/router.ts forwards to its owner), so every operation is asynchronous and
 * its arguments and results are plain data that can cross a channel.
 *
 * `LocalPartitions` is the implementation over this thread's own logs (LogManager): the single-process broker
 * uses it for every partition, a shard for the partitions it owns. Kafka errors are data here, as in handlers.
 */
import type { Logger } from 'pino';
import type { LogManager, PartitionLog } from '../log/index.js';
import { ErrorCode } from '../protocol/errors.js';
import { ChunkedView, chunkedLength, type ChunkedBytes } from '../protocol/chunked-bytes.js';
import { MAGIC_OFFSET, MAGIC_V2, validateBatches } from '../protocol/records.js';
import { storageFailureOf } from './apis/errors.js';

/** The leader epoch of every partition of this single-replica broker. */
export const LEADER_EPOCH = 0;

export interface ProduceOutcome {
  errorCode: number;
  errorMessage: string | null;
  baseOffset: number;
  logAppendTimeMs: number;
  logStartOffset: number;
}

export interface ReadSpec {
  topic: string;
  partition: number;
  fetchOffset: number;
  partitionMaxBytes: number;
}

export interface ReadOutcome {
  errorCode: number;
  highWatermark: number;
  lastStableOffset: number;
  logStartOffset: number;
  /** Whole batches as stored: views, never copies, on the local path. */
  records: Buffer[];
  bytes: number;
  /** The high watermark before the read began: a Fetch long poll waits for it to move. */
  seenHighWatermark: number;
}

export interface WaitSpec {
  topic: string;
  partition: number;
  seenHighWatermark: number;
}

export interface OffsetLookup {
  errorCode: number;
  offset: number;
  timestamp: number;
  leaderEpoch: number;
}

/** Where a partition stands, for Metadata: usable, offline (storage failed), or not (yet) created. */
export type PartitionState = 'online' | 'offline' | 'missing';

export interface PartitionOps {
  state(topic: string, partition: number): PartitionState;
  /** Validates and appends one partition's batches; resolves once they are durable. */
  produce(topic: string, partition: number, records: ChunkedBytes, apiVersion: number): Promise<ProduceOutcome>;
  /**
   * Reads the partitions in order, sharing `maxBytes` (the first partition with data gets at least one whole
   * batch, KIP-74), each capped at its own partitionMaxBytes.
   */
  read(specs: readonly ReadSpec[], maxBytes: number): Promise<ReadOutcome[]>;
  /** Resolves when any of the partitions' high watermarks moves past what was seen, after `ms`, or on abort. */
  waitForAppend(specs: readonly WaitSpec[], ms: number, signal: AbortSignal): Promise<void>;
  /** ListOffsets' lookup: -1 latest, -2 earliest, -3 max timestamp (v7+), -4 earliest local (v8+), t >= 0 by time. */
  listOffset(topic: string, partition: number, timestamp: number, apiVersion: number): Promise<OffsetLookup>;
  /** DeleteRecords: raises the log start offset (-1 = the high watermark). */
  deleteRecords(topic: string, partition: number, offset: number): Promise<{ errorCode: number; lowWatermark: number }>;
}

const LATEST = -1;
const EARLIEST = -2;
const MAX_TIMESTAMP = -3;
const EARLIEST_LOCAL = -4;

export function produceFailure(errorCode: number, errorMessage: string | null = null): ProduceOutcome {
  return { errorCode, errorMessage, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1 };
}

export function readFailure(errorCode: number): ReadOutcome {
  return { errorCode, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1, records: [], bytes: 0, seenHighWatermark: -1 };
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

  constructor(
    private readonly logs: LogManager,
    private readonly logger: Logger,
    opts: { countLoad?: boolean } = {},
  ) {
    this.#appended = opts.countLoad === true ? new Map() : null;
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

  async produce(topic: string, partition: number, records: ChunkedBytes, apiVersion: number): Promise<ProduceOutcome> {
    const log = this.logs.get(topic, partition);
    if (!log) return produceFailure(this.missingError(topic, partition));
    const bytes = chunkedLength(records);
    if (bytes === 0) return produceFailure(ErrorCode.INVALID_RECORD, 'no record batch for the partition');
    // Only v0-2 may carry legacy messages; at v3+ Kafka answers any magic but 2 with INVALID_RECORD (validateBatches).
    if (apiVersion < 3 && bytes > MAGIC_OFFSET && (new ChunkedView(records).readInt8(MAGIC_OFFSET) & 0xff) < MAGIC_V2) {
      return produceFailure(ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT, 'message format v0/v1 is not supported: send record batch v2 (Produce v3+)');
    }
    const checked = validateBatches(records, { maxBatchBytes: log.config.maxMessageBytes });
    if (!checked.ok) return produceFailure(ErrorCode[checked.error], checked.message);
    try {
      const res = await log.append(records, { leaderEpoch: LEADER_EPOCH, batches: checked.batches });
      if (this.#appended) {
        const k = `${topic}-${partition}`;
        this.#appended.set(k, (this.#appended.get(k) ?? 0) + bytes);
      }
      return { errorCode: 0, errorMessage: null, baseOffset: res.baseOffset, logAppendTimeMs: res.logAppendTime, logStartOffset: res.logStartOffset };
    } catch (err) {
      const f = storageFailureOf(this.logger, err, 'produce');
      return produceFailure(f.errorCode, f.errorMessage);
    }
  }

  async read(specs: readonly ReadSpec[], maxBytes: number): Promise<ReadOutcome[]> {
    let bytes = 0;
    const out: ReadOutcome[] = [];
    for (const s of specs) {
      const r = await this.readOne(s, maxBytes - bytes, bytes === 0);
      bytes += r.bytes;
      out.push(r);
    }
    return out;
  }

  private async readOne(s: ReadSpec, budgetLeft: number, first: boolean): Promise<ReadOutcome> {
    const log = this.logs.get(s.topic, s.partition);
    if (!log) return readFailure(this.missingError(s.topic, s.partition));
    // The topic was deleted while a Fetch waited: its log is gone, not empty.
    if (log.closed) return readFailure(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    const hw = log.highWatermark;
    const out: ReadOutcome = { errorCode: 0, highWatermark: hw, lastStableOffset: hw, logStartOffset: log.logStartOffset, records: [], bytes: 0, seenHighWatermark: hw };
    // As in Kafka: out of range below the log start or beyond the log end; between the high watermark and the
    // log end (appended, not yet synced) there is simply nothing to read yet.
    if (s.fetchOffset < log.logStartOffset || s.fetchOffset > log.logEndOffset) return { ...out, errorCode: ErrorCode.OFFSET_OUT_OF_RANGE };
    if (s.fetchOffset >= hw) return out;
    const budget = Math.min(s.partitionMaxBytes, budgetLeft);
    if (budget <= 0 && !first) return out;
    try {
      const res = await log.read(s.fetchOffset, Math.max(budget, 0), { minOneBatch: first });
      if (!res.ok) {
        // the log moved under us (retention or DeleteRecords between the check and the read)
        return { ...out, errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, highWatermark: res.highWatermark, logStartOffset: res.logStartOffset };
      }
      let n = 0;
      for (const r of res.records) n += r.length;
      return { ...out, records: res.records, bytes: n, highWatermark: res.highWatermark, lastStableOffset: res.highWatermark, logStartOffset: res.logStartOffset };
    } catch (err) {
      return readFailure(storageFailureOf(this.logger, err, 'fetch').errorCode);
    }
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
      const logs: PartitionLog[] = [];
      let moved = false;
      for (const s of specs) {
        const log = this.logs.get(s.topic, s.partition);
        if (!log) continue;
        logs.push(log);
        if (log.highWatermark !== s.seenHighWatermark) moved = true;
      }
      if (moved) return resolve();
      if (logs.length === 0) return resolve();
      timer = setTimeout(done, ms);
      signal.addEventListener('abort', done);
      for (const log of logs) unsubs.push(log.onAppend(done));
    });
  }

  async listOffset(topic: string, partition: number, ts: number, v: number): Promise<OffsetLookup> {
    const out: OffsetLookup = { errorCode: 0, offset: -1, timestamp: -1, leaderEpoch: -1 };
    const log = this.logs.get(topic, partition);
    if (!log) return { ...out, errorCode: this.missingError(topic, partition) };
    try {
      let found: { offset: number; timestamp: number } | null;
      if (ts === LATEST) found = { offset: log.highWatermark, timestamp: -1 };
      else if (ts === EARLIEST || (ts === EARLIEST_LOCAL && v >= 8)) found = { offset: log.logStartOffset, timestamp: -1 };
      else if (ts === MAX_TIMESTAMP && v >= 7) found = await log.maxTimestampOffset();
      else if (ts >= 0) found = await log.offsetForTimestamp(ts);
      else return { ...out, errorCode: ErrorCode.UNSUPPORTED_VERSION };
      if (found) return { errorCode: 0, offset: found.offset, timestamp: found.timestamp, leaderEpoch: LEADER_EPOCH };
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
}
