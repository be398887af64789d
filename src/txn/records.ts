/**
 * The records of the internal topic `__transaction_state`, in Apache Kafka's own formats (TransactionLogKey /
 * TransactionLogValue) so Kafka's tools (kafka-console-consumer with the TransactionLogMessageFormatter, or any
 * reader of the transaction-coordinator schemas) can read what Tern wrote. Pure: bytes in, objects out.
 *
 * Every field is big-endian; strings are INT16 length + UTF-8.
 *
 *   TransactionLogKey   version INT16 (0), transactionalId STRING
 *   TransactionLogValue version INT16 (0), then
 *     producerId INT64, producerEpoch INT16, transactionTimeoutMs INT32, transactionStatus INT8,
 *     transactionPartitions NULLABLE ARRAY (INT32 count, -1 = null) of { topic STRING, partitionIds ARRAY of INT32 },
 *     transactionLastUpdateTimestampMs INT64, transactionStartTimestampMs INT64
 *   Version 1 (flexible, KIP-890 part 2's tagged fields) is read too (compact strings/arrays, tagged fields
 *   skipped); Tern writes version 0, what Kafka writes for transactions v1 clients.
 *
 * Status ids are Kafka's: Empty 0, Ongoing 1, PrepareCommit 2, PrepareAbort 3, CompleteCommit 4, CompleteAbort 5,
 * Dead 6, PrepareEpochFence 7. A key with a null value (tombstone) removes the transactional id (expiry).
 */
import { Reader, Writer } from '../protocol/codec.js';

export const TXN_KEY_VERSION = 0;
export const TXN_VALUE_VERSION = 0;

export const TxnStatus = {
  Empty: 0,
  Ongoing: 1,
  PrepareCommit: 2,
  PrepareAbort: 3,
  CompleteCommit: 4,
  CompleteAbort: 5,
  Dead: 6,
  PrepareEpochFence: 7,
} as const;
export type TxnStatusId = (typeof TxnStatus)[keyof typeof TxnStatus];

/** Names as Kafka reports them (DescribeTransactions, ListTransactions). */
export const TXN_STATUS_NAMES: readonly string[] = ['Empty', 'Ongoing', 'PrepareCommit', 'PrepareAbort', 'CompleteCommit', 'CompleteAbort', 'Dead', 'PrepareEpochFence'];

export function txnStatusName(s: TxnStatusId): string {
  return TXN_STATUS_NAMES[s]!;
}

export interface TxnTopicPartitions {
  topic: string;
  partitions: number[];
}

export interface TxnLogValue {
  producerId: number;
  producerEpoch: number;
  transactionTimeoutMs: number;
  status: TxnStatusId;
  /** null when Empty (Kafka writes none then). */
  partitions: TxnTopicPartitions[] | null;
  lastUpdateTimestampMs: number;
  startTimestampMs: number;
}

/** A key or value that cannot be parsed (written by something else, or damaged). */
export class TxnRecordError extends Error {
  readonly code = 'ERR_TERN_TXN_RECORD';
}

export function encodeTxnKey(transactionalId: string): Buffer {
  const w = new Writer(32);
  w.int16(TXN_KEY_VERSION);
  w.string(transactionalId, false);
  return w.finish();
}

export function encodeTxnValue(v: TxnLogValue): Buffer {
  const w = new Writer(64);
  w.int16(TXN_VALUE_VERSION);
  w.int64(v.producerId);
  w.int16(v.producerEpoch);
  w.int32(v.transactionTimeoutMs);
  w.int8(v.status);
  if (v.partitions === null) {
    w.int32(-1);
  } else {
    w.int32(v.partitions.length);
    for (const tp of v.partitions) {
      w.string(tp.topic, false);
      w.int32(tp.partitions.length);
      for (const p of tp.partitions) w.int32(p);
    }
  }
  w.int64(v.lastUpdateTimestampMs);
  w.int64(v.startTimestampMs);
  return w.finish();
}

function parsing<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof TxnRecordError) throw err;
    throw new TxnRecordError(`${what}: ${(err as Error).message}`);
  }
}

/** The transactional id of a key, or null for a key of another version (skipped on load). */
export function decodeTxnKey(key: Buffer): string | null {
  return parsing('transaction log key', () => {
    const r = new Reader(key);
    const version = r.int16();
    if (version !== 0 && version !== 1) return null;
    return r.string(false);
  });
}

export function decodeTxnValue(value: Buffer): TxnLogValue {
  return parsing('transaction log value', () => {
    const r = new Reader(value);
    const version = r.int16();
    if (version !== 0 && version !== 1) throw new TxnRecordError(`unknown transaction log value version ${version}`);
    const flexible = version >= 1;
    const producerId = r.int64();
    const producerEpoch = r.int16();
    const transactionTimeoutMs = r.int32();
    const status = r.int8();
    if (status < 0 || status > 7) throw new TxnRecordError(`unknown transaction status ${status}`);
    // Counts are checked against the bytes left before anything is allocated (arrayLength does).
    const n = r.arrayLength(flexible, 2 + 4);
    let partitions: TxnTopicPartitions[] | null = null;
    if (n >= 0) {
      partitions = [];
      for (let i = 0; i < n; i++) {
        const topic = r.string(flexible);
        const m = r.arrayLength(flexible, 4);
        const ps: number[] = [];
        for (let j = 0; j < m; j++) ps.push(r.int32());
        if (flexible) r.taggedFields(() => undefined);
        partitions.push({ topic, partitions: ps });
      }
    }
    const lastUpdateTimestampMs = r.int64();
    const startTimestampMs = r.int64();
    if (flexible) r.taggedFields(() => undefined);
    return { producerId, producerEpoch, transactionTimeoutMs, status: status as TxnStatusId, partitions, lastUpdateTimestampMs, startTimestampMs };
  });
}
