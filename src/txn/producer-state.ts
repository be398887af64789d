/**
 * The producer state of one partition (Kafka's ProducerStateManager): per producer id, its epoch, the metadata of
 * its last `producerBatchesRetainedMax` batches, its last timestamp, its coordinator epoch and the first offset of
 * its open transaction here; the open transactions; and the transactions whose marker is appended but not yet
 * durable. Pure: no I/O, no timers; time comes in as arguments (the owner, src/txn/partition-txn.ts, loads,
 * persists and feeds it).
 *
 * Contract with the owner: checks (`checkData`, `checkMarker`) never change anything; the owner appends the batch
 * to the log and then, in the same synchronous step (offsets are assigned in PartitionLog.append call order),
 * applies it (`applyData`, `applyMarker`) with the offsets it got. So state always describes the log up to its
 * end offset, and a snapshot taken at any moment is the state at the log end offset.
 *
 * Rules (Kafka's ProducerAppendInfo, transaction version 0/1, the one every client in client-compat.md speaks):
 * - a batch equal to one of the producer's retained batches (same epoch, same first and last sequence) is a
 *   duplicate: the caller answers with the original offsets and appends nothing;
 * - an epoch older than the producer's -> INVALID_PRODUCER_EPOCH (Kafka >= 2.7 answers so for data batches);
 * - a newer epoch must start at sequence 0, unless the producer is unknown here;
 * - the same epoch must continue the sequence (last + 1, wrapping from Int32 max to 0), else
 *   OUT_OF_ORDER_SEQUENCE_NUMBER;
 * - an unknown producer (never seen, expired, or evicted) is accepted at any sequence (KIP-360: its state may
 *   have gone with retention; Kafka no longer answers UNKNOWN_PRODUCER_ID);
 * - a non-transactional batch while the producer has a transaction open here -> INVALID_TXN_STATE;
 * - a marker with an older epoch -> INVALID_PRODUCER_EPOCH; with an older coordinator epoch ->
 *   TRANSACTION_COORDINATOR_FENCED; a marker for a producer with no open transaction is accepted (harmless).
 *
 * Bounds: at most `producerIdsPerPartitionMax` producers; a new one beyond it evicts the least recently active
 * producer with no open transaction (that producer becomes unknown: its next batch is accepted at any sequence),
 * and when every producer has a transaction open the new one is refused with POLICY_VIOLATION. Producers with
 * no open transaction whose last timestamp is older than `producerIdExpirationMs` are dropped by `expire`.
 *
 * Snapshot file (`<20-digit offset>.snapshot`, the state at that log offset), big-endian:
 *   magic "TPSN" | version int16 (1) | crc32c uint32 of the body | body: UTF-8 JSON
 *   {"offset": n, "producers": [[producerId, epoch, coordinatorEpoch, lastTimestamp, txnFirstOffset,
 *                                [[firstSeq, lastSeq, firstOffset, lastOffset, timestamp], ...]], ...]}
 * Producers are listed least recently active first, so the eviction order survives a restart.
 */
import { crc32c } from '../protocol/crc32c.js';
import { ErrorCode } from '../protocol/errors.js';
import { isTransactional, type BatchHeader } from '../protocol/records.js';
import type { AbortedTxn, ProducerDescription } from './types.js';

/** The retained batch metadata per producer: clients keep at most 5 batches in flight per partition. */
export const producerBatchesRetainedMax = 5;
const INT32_MAX = 0x7fff_ffff;
const NO_EPOCH = -1;

export interface ProducerStateConfig {
  /** Producers tracked per partition; beyond it the least recently active idle producer is evicted. */
  producerIdsPerPartitionMax: number;
  /** Kafka `producer.id.expiration.ms`: an idle producer (no open transaction) is forgotten after this. */
  producerIdExpirationMs: number;
  /** A producer state snapshot is written after this many bytes appended since the last one. */
  producerSnapshotIntervalBytes: number;
}

export const producerStateDefaults: ProducerStateConfig = {
  producerIdsPerPartitionMax: 10_000,
  producerIdExpirationMs: 86_400_000,
  producerSnapshotIntervalBytes: 64 * 1024 * 1024,
};

/** Validates the limits (at broker start); returns what is wrong, or null. */
export function validateProducerStateConfig(c: ProducerStateConfig): string | null {
  if (!Number.isInteger(c.producerIdsPerPartitionMax) || c.producerIdsPerPartitionMax < 1 || c.producerIdsPerPartitionMax > 1_000_000) {
    return `producerIdsPerPartitionMax must be an integer in 1..1000000, got ${c.producerIdsPerPartitionMax}`;
  }
  if (!Number.isSafeInteger(c.producerIdExpirationMs) || c.producerIdExpirationMs < 1) return `producerIdExpirationMs must be a positive integer, got ${c.producerIdExpirationMs}`;
  if (!Number.isSafeInteger(c.producerSnapshotIntervalBytes) || c.producerSnapshotIntervalBytes < 1) {
    return `producerSnapshotIntervalBytes must be a positive integer, got ${c.producerSnapshotIntervalBytes}`;
  }
  return null;
}

/** The last sequence of a batch: Kafka's sequences wrap from Int32 max to 0. */
export function lastSequenceOf(baseSequence: number, lastOffsetDelta: number): number {
  return baseSequence > INT32_MAX - lastOffsetDelta ? lastOffsetDelta - (INT32_MAX - baseSequence) - 1 : baseSequence + lastOffsetDelta;
}

function inSequence(lastSeq: number, nextSeq: number): boolean {
  return nextSeq === lastSeq + 1 || (nextSeq === 0 && lastSeq === INT32_MAX);
}

export interface BatchMetadata {
  firstSeq: number;
  lastSeq: number;
  firstOffset: number;
  lastOffset: number;
  timestamp: number;
}

export class ProducerEntry {
  epoch = NO_EPOCH;
  /** Invariant: at most producerBatchesRetainedMax, oldest first, all of epoch `epoch`. */
  batches: BatchMetadata[] = [];
  lastTimestamp = -1;
  coordinatorEpoch = -1;
  /** First offset of the producer's open transaction on this partition, or -1. */
  txnFirstOffset = -1;

  get lastSequence(): number {
    return this.batches.at(-1)?.lastSeq ?? -1;
  }
}

/** What a produced batch is, before it is appended. */
export type DataCheck =
  | { kind: 'append' }
  | { kind: 'duplicate'; firstOffset: number; lastOffset: number }
  | { kind: 'error'; errorCode: number; message: string };

/** A transaction ended by a marker on this partition. */
export interface CompletedTxn {
  producerId: number;
  firstOffset: number;
  /** The marker's offset. */
  lastOffset: number;
  aborted: boolean;
}

/** The header fields the checks read (BatchHeader has them all). */
export type ProducerBatch = Pick<BatchHeader, 'producerId' | 'producerEpoch' | 'baseSequence' | 'lastOffsetDelta' | 'maxTimestamp' | 'attributes'>;

const APPEND: DataCheck = { kind: 'append' };

export class ProducerStateManager {
  /** By producer id, least recently active first (Map order: an update moves the entry to the end). */
  readonly producers = new Map<number, ProducerEntry>();
  /** Producer id -> first offset of its open transaction on this partition. */
  readonly #open = new Map<number, number>();
  /**
   * Transactions whose marker is appended but not yet durable: they hold the LSO until the marker is.
   * Invariant: an entry goes once its marker is known durable (`markersDurableThrough`, called by the owner when
   * the marker's append is durable, and by `lastStableOffset`), so this holds at most the markers not yet synced.
   */
  #unstable: { firstOffset: number; markerOffset: number }[] = [];

  constructor(readonly config: ProducerStateConfig) {}

  get openTransactions(): number {
    return this.#open.size;
  }

  /** The checks for a data batch of a producer (producerId >= 0); changes nothing. */
  checkData(h: ProducerBatch): DataCheck {
    const e = this.producers.get(h.producerId);
    const lastSeq = lastSequenceOf(h.baseSequence, h.lastOffsetDelta);
    if (e !== undefined && e.epoch === h.producerEpoch) {
      for (const b of e.batches) {
        if (b.firstSeq === h.baseSequence && b.lastSeq === lastSeq) return { kind: 'duplicate', firstOffset: b.firstOffset, lastOffset: b.lastOffset };
      }
    }
    if (e === undefined || e.epoch === NO_EPOCH) {
      // Unknown here: any sequence (KIP-360). Room is made by `applyData`, or refused here when none can be.
      if (e === undefined && this.producers.size >= this.config.producerIdsPerPartitionMax && this.#evictable() === undefined) {
        return fail(ErrorCode.POLICY_VIOLATION, `partition tracks ${this.producers.size} producers, all with open transactions (producerIdsPerPartitionMax)`);
      }
      return APPEND;
    }
    if (h.producerEpoch < e.epoch) {
      return fail(ErrorCode.INVALID_PRODUCER_EPOCH, `producer ${h.producerId} epoch ${h.producerEpoch} is older than the current epoch ${e.epoch}`);
    }
    if (h.producerEpoch !== e.epoch) {
      if (h.baseSequence !== 0) {
        return fail(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, `producer ${h.producerId} new epoch ${h.producerEpoch} must start at sequence 0, got ${h.baseSequence}`);
      }
    } else if (!inSequence(e.lastSequence, h.baseSequence)) {
      return fail(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, `producer ${h.producerId} sequence ${h.baseSequence} does not follow ${e.lastSequence}`);
    }
    if (e.txnFirstOffset >= 0 && !isTransactional(h.attributes)) {
      return fail(ErrorCode.INVALID_TXN_STATE, `producer ${h.producerId} wrote a non-transactional batch inside its open transaction`);
    }
    return APPEND;
  }

  /** Records a data batch appended at [firstOffset, lastOffset] (after `checkData`, or replayed from the log). */
  applyData(h: ProducerBatch, firstOffset: number, lastOffset: number): void {
    const e = this.#touch(h.producerId);
    if (h.producerEpoch !== e.epoch) {
      e.epoch = h.producerEpoch;
      e.batches = [];
    }
    e.batches.push({ firstSeq: h.baseSequence, lastSeq: lastSequenceOf(h.baseSequence, h.lastOffsetDelta), firstOffset, lastOffset, timestamp: h.maxTimestamp });
    if (e.batches.length > producerBatchesRetainedMax) e.batches.shift();
    e.lastTimestamp = h.maxTimestamp;
    if (isTransactional(h.attributes) && e.txnFirstOffset < 0) {
      e.txnFirstOffset = firstOffset;
      this.#open.set(h.producerId, firstOffset);
    }
  }

  /** The checks for a marker; null when it may be written. */
  checkMarker(producerId: number, producerEpoch: number, coordinatorEpoch: number): { errorCode: number; message: string } | null {
    const e = this.producers.get(producerId);
    if (e === undefined) {
      if (this.producers.size >= this.config.producerIdsPerPartitionMax && this.#evictable() === undefined) {
        return { errorCode: ErrorCode.POLICY_VIOLATION, message: 'every tracked producer has an open transaction (producerIdsPerPartitionMax)' };
      }
      return null;
    }
    if (producerEpoch < e.epoch) return { errorCode: ErrorCode.INVALID_PRODUCER_EPOCH, message: `marker epoch ${producerEpoch} is older than producer ${producerId}'s epoch ${e.epoch}` };
    if (coordinatorEpoch < e.coordinatorEpoch) {
      return { errorCode: ErrorCode.TRANSACTION_COORDINATOR_FENCED, message: `marker coordinator epoch ${coordinatorEpoch} is older than ${e.coordinatorEpoch}` };
    }
    return null;
  }

  /**
   * Records a marker appended at `offset`; returns the transaction it ended here, or null when the producer had
   * none open (an empty transaction: nothing for the LSO or the aborted index). `durable`: replayed from the log
   * (already synced), so the ended transaction does not hold the LSO.
   */
  applyMarker(producerId: number, producerEpoch: number, commit: boolean, coordinatorEpoch: number, offset: number, timestamp: number, durable: boolean): CompletedTxn | null {
    const e = this.#touch(producerId);
    const completed: CompletedTxn | null = e.txnFirstOffset >= 0 ? { producerId, firstOffset: e.txnFirstOffset, lastOffset: offset, aborted: !commit } : null;
    if (producerEpoch !== e.epoch) {
      e.epoch = producerEpoch;
      e.batches = [];
    }
    e.coordinatorEpoch = coordinatorEpoch;
    e.lastTimestamp = timestamp;
    e.txnFirstOffset = -1;
    this.#open.delete(producerId);
    if (completed !== null && !durable) this.#unstable.push({ firstOffset: completed.firstOffset, markerOffset: offset });
    return completed;
  }

  /**
   * Last stable offset: the first offset of any open transaction or of any ended one whose marker is not durable
   * yet (below `highWatermark`), else the high watermark; never below the log start offset.
   */
  lastStableOffset(highWatermark: number, logStartOffset: number): number {
    let lso = highWatermark;
    for (const first of this.#open.values()) if (first < lso) lso = first;
    this.markersDurableThrough(highWatermark - 1);
    for (const u of this.#unstable) if (u.firstOffset < lso) lso = u.firstOffset;
    return Math.max(lso, logStartOffset);
  }

  /** Every marker at or below `offset` is durable: the transactions they ended no longer hold the LSO. */
  markersDurableThrough(offset: number): void {
    if (this.#unstable.length > 0) this.#unstable = this.#unstable.filter((u) => u.markerOffset > offset);
  }

  /** The LSO an aborted index entry records: the first offset still unstable once `completed` ended. */
  stableAfter(completed: CompletedTxn): number {
    let lso = completed.lastOffset + 1;
    for (const first of this.#open.values()) if (first < lso) lso = first;
    for (const u of this.#unstable) if (u.markerOffset !== completed.lastOffset && u.firstOffset < lso) lso = u.firstOffset;
    return lso;
  }

  /** Drops idle producers (no open transaction) whose last timestamp is `producerIdExpirationMs` old. */
  expire(nowMs: number): number {
    let dropped = 0;
    for (const [pid, e] of this.producers) {
      if (e.txnFirstOffset < 0 && nowMs - e.lastTimestamp >= this.config.producerIdExpirationMs) {
        this.producers.delete(pid);
        dropped++;
      }
    }
    return dropped;
  }

  describe(): ProducerDescription[] {
    return [...this.producers].map(([producerId, e]) => ({
      producerId,
      producerEpoch: e.epoch,
      lastSequence: e.lastSequence,
      lastTimestamp: e.lastTimestamp,
      coordinatorEpoch: e.coordinatorEpoch,
      currentTxnStartOffset: e.txnFirstOffset,
    }));
  }

  hasOpenTransaction(producerId: number): boolean {
    return this.#open.has(producerId);
  }

  /** The open transactions, for tests and DescribeTransactions-like views. */
  openTransactionList(): AbortedTxn[] {
    return [...this.#open].map(([producerId, firstOffset]) => ({ producerId, firstOffset }));
  }

  /** The entry for `producerId`, created (evicting when full) and moved to the most recently active end. */
  #touch(producerId: number): ProducerEntry {
    let e = this.producers.get(producerId);
    if (e === undefined) {
      if (this.producers.size >= this.config.producerIdsPerPartitionMax) {
        const victim = this.#evictable();
        if (victim !== undefined) this.producers.delete(victim);
      }
      e = new ProducerEntry();
    } else {
      this.producers.delete(producerId);
    }
    this.producers.set(producerId, e);
    return e;
  }

  /** The least recently active producer with no open transaction, if any. */
  #evictable(): number | undefined {
    for (const [pid, e] of this.producers) if (e.txnFirstOffset < 0) return pid;
    return undefined;
  }

  // --- snapshots ------------------------------------------------------------------------------------------

  encodeSnapshot(offset: number): Buffer {
    const producers = [...this.producers].map(([pid, e]) => [
      pid,
      e.epoch,
      e.coordinatorEpoch,
      e.lastTimestamp,
      e.txnFirstOffset,
      e.batches.map((b) => [b.firstSeq, b.lastSeq, b.firstOffset, b.lastOffset, b.timestamp]),
    ]);
    const body = Buffer.from(JSON.stringify({ offset, producers }), 'utf8');
    const head = Buffer.alloc(SNAPSHOT_HEADER_BYTES);
    head.write(SNAPSHOT_MAGIC, 0, 'latin1');
    head.writeInt16BE(SNAPSHOT_VERSION, 4);
    head.writeUInt32BE(crc32c(body), 6);
    return Buffer.concat([head, body]);
  }

  /**
   * Reads a snapshot written by `encodeSnapshot` into a new manager; null when the bytes are not a valid
   * snapshot (torn, corrupt, another version): the caller falls back to an older one or to the log.
   */
  static decodeSnapshot(bytes: Buffer, config: ProducerStateConfig): { offset: number; state: ProducerStateManager } | null {
    if (bytes.length < SNAPSHOT_HEADER_BYTES || bytes.toString('latin1', 0, 4) !== SNAPSHOT_MAGIC || bytes.readInt16BE(4) !== SNAPSHOT_VERSION) return null;
    const body = bytes.subarray(SNAPSHOT_HEADER_BYTES);
    if (crc32c(body) !== bytes.readUInt32BE(6)) return null;
    let doc: unknown;
    try {
      doc = JSON.parse(body.toString('utf8'));
    } catch {
      return null;
    }
    if (typeof doc !== 'object' || doc === null) return null;
    const { offset, producers } = doc as { offset?: unknown; producers?: unknown };
    if (!isInt(offset) || offset < 0 || !Array.isArray(producers)) return null;
    const state = new ProducerStateManager(config);
    for (const p of producers) {
      if (!Array.isArray(p) || p.length !== 6 || !p.slice(0, 5).every(isInt) || !Array.isArray(p[5])) return null;
      const [pid, epoch, coordinatorEpoch, lastTimestamp, txnFirstOffset, batches] = p as [number, number, number, number, number, unknown[]];
      const e = new ProducerEntry();
      e.epoch = epoch;
      e.coordinatorEpoch = coordinatorEpoch;
      e.lastTimestamp = lastTimestamp;
      e.txnFirstOffset = txnFirstOffset;
      for (const b of batches.slice(-producerBatchesRetainedMax)) {
        if (!Array.isArray(b) || b.length !== 5 || !b.every(isInt)) return null;
        const [firstSeq, lastSeq, firstOffset, lastOffset, timestamp] = b as number[];
        e.batches.push({ firstSeq: firstSeq!, lastSeq: lastSeq!, firstOffset: firstOffset!, lastOffset: lastOffset!, timestamp: timestamp! });
      }
      state.producers.set(pid, e);
      if (txnFirstOffset >= 0) state.#open.set(pid, txnFirstOffset);
    }
    return { offset, state };
  }
}

const SNAPSHOT_MAGIC = 'TPSN';
const SNAPSHOT_VERSION = 1;
const SNAPSHOT_HEADER_BYTES = 10;

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v);
}

function fail(errorCode: number, message: string): DataCheck {
  return { kind: 'error', errorCode, message };
}
