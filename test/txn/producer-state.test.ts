/**
 * The partition side of exactly-once: the pure producer state (sequences, duplicates, epochs, the 5-batch window,
 * wrap-around, limits, expiry, snapshots) and the same rules through LocalPartitions over real partition logs on
 * the simulated file system (restart from a snapshot, a crash that cut the tail under the newest snapshot, markers,
 * the LSO, the aborted-transaction index and its file, KIP-890 verification).
 */
import path from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { SimFileSystem } from '../../src/io/index.js';
import { LogManager, defaultLogConfig, segmentFileName } from '../../src/log/index.js';
import { LocalPartitions } from '../../src/kafka/partitions.js';
import { dataValuesOf } from '../kafka/helpers.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { buildRecordBatch, TRANSACTIONAL_MASK } from '../../src/protocol/records.js';
import {
  ProducerStateManager,
  READ_COMMITTED,
  READ_UNCOMMITTED,
  lastSequenceOf,
  producerStateDefaults,
  snapshotFileName,
  txnIndexFileName,
  decodeTxnIndex,
  encodeTxnIndexEntry,
  type ProducerBatch,
  type ProducerStateConfig,
  type TxnVerifier,
} from '../../src/txn/index.js';

const silent = pino({ level: process.env.TXN_TEST_LOG ?? 'silent' });
const T0 = 1_700_000_000_000;
const INT32_MAX = 0x7fff_ffff;

function hdr(producerId: number, producerEpoch: number, baseSequence: number, count = 1, opts: { transactional?: boolean; ts?: number } = {}): ProducerBatch {
  return { producerId, producerEpoch, baseSequence, lastOffsetDelta: count - 1, maxTimestamp: opts.ts ?? T0, attributes: opts.transactional === true ? TRANSACTIONAL_MASK : 0 };
}

/** Checks and, when accepted, applies a batch at `offset`; returns the check. */
function produce(s: ProducerStateManager, h: ProducerBatch, offset: number) {
  const c = s.checkData(h);
  if (c.kind === 'append') s.applyData(h, offset, offset + h.lastOffsetDelta);
  return c;
}

describe('ProducerStateManager (pure)', () => {
  const config: ProducerStateConfig = { ...producerStateDefaults };

  it('accepts an unknown producer at any sequence (KIP-360), then requires the next one', () => {
    const s = new ProducerStateManager(config);
    expect(produce(s, hdr(7, 0, 42, 3), 0).kind).toBe('append');
    expect(produce(s, hdr(7, 0, 46), 3)).toMatchObject({ kind: 'error', errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER });
    expect(produce(s, hdr(7, 0, 45), 3).kind).toBe('append');
    expect(s.describe()).toEqual([{ producerId: 7, producerEpoch: 0, lastSequence: 45, lastTimestamp: T0, coordinatorEpoch: -1, currentTxnStartOffset: -1 }]);
  });

  it('answers a retry of any of the last 5 batches as a duplicate with its original offsets; older ones are gaps', () => {
    const s = new ProducerStateManager(config);
    for (let i = 0; i < 7; i++) expect(produce(s, hdr(1, 0, i * 2, 2), 100 + i * 10).kind).toBe('append');
    for (let i = 2; i < 7; i++) expect(s.checkData(hdr(1, 0, i * 2, 2))).toEqual({ kind: 'duplicate', firstOffset: 100 + i * 10, lastOffset: 101 + i * 10 });
    expect(s.checkData(hdr(1, 0, 2, 2))).toMatchObject({ kind: 'error', errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER });
    // same first sequence, different last: not the same batch
    expect(s.checkData(hdr(1, 0, 12, 1))).toMatchObject({ kind: 'error', errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER });
  });

  it('fences older epochs and starts a new epoch at sequence 0 only', () => {
    const s = new ProducerStateManager(config);
    produce(s, hdr(1, 3, 0, 5), 0);
    expect(s.checkData(hdr(1, 2, 5))).toMatchObject({ kind: 'error', errorCode: ErrorCode.INVALID_PRODUCER_EPOCH });
    expect(s.checkData(hdr(1, 4, 5))).toMatchObject({ kind: 'error', errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER });
    expect(produce(s, hdr(1, 4, 0), 5).kind).toBe('append');
    // the old epoch's window is gone: its batches are no longer duplicates but fenced
    expect(s.checkData(hdr(1, 3, 0, 5))).toMatchObject({ kind: 'error', errorCode: ErrorCode.INVALID_PRODUCER_EPOCH });
  });

  it('wraps sequences at Int32 max', () => {
    expect(lastSequenceOf(INT32_MAX - 1, 3)).toBe(1);
    expect(lastSequenceOf(INT32_MAX, 0)).toBe(INT32_MAX);
    const s = new ProducerStateManager(config);
    produce(s, hdr(1, 0, INT32_MAX - 1, 2), 0); // INT32_MAX-1 .. INT32_MAX
    expect(produce(s, hdr(1, 0, 0, 3), 2).kind).toBe('append');
    expect(produce(s, hdr(1, 0, INT32_MAX - 1, 1), 5)).toMatchObject({ kind: 'error', errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER });
    expect(produce(s, hdr(1, 0, 3, 4), 5).kind).toBe('append'); // 3..6
    expect(s.checkData(hdr(1, 0, 0, 3))).toEqual({ kind: 'duplicate', firstOffset: 2, lastOffset: 4 });
  });

  it('refuses a non-transactional batch inside an open transaction; markers end it; the LSO follows', () => {
    const s = new ProducerStateManager(config);
    produce(s, hdr(1, 0, 0, 2, { transactional: true }), 10);
    expect(s.hasOpenTransaction(1)).toBe(true);
    expect(s.checkData(hdr(1, 0, 2))).toMatchObject({ kind: 'error', errorCode: ErrorCode.INVALID_TXN_STATE });
    expect(s.lastStableOffset(20, 0)).toBe(10);
    expect(s.checkMarker(1, 0, 0)).toBeNull();
    const done = s.applyMarker(1, 0, false, 0, 20, T0, false);
    expect(done).toEqual({ producerId: 1, firstOffset: 10, lastOffset: 20, aborted: true });
    // the marker is not durable yet (high watermark 20 does not pass 20): the LSO stays
    expect(s.lastStableOffset(20, 0)).toBe(10);
    expect(s.lastStableOffset(21, 0)).toBe(21);
    expect(s.checkMarker(1, 0, -5)).toMatchObject({ errorCode: ErrorCode.TRANSACTION_COORDINATOR_FENCED });
    // an empty transaction's marker is harmless
    expect(s.applyMarker(1, 1, true, 0, 21, T0, false)).toBeNull();
    expect(s.checkMarker(1, 0, 0)).toMatchObject({ errorCode: ErrorCode.INVALID_PRODUCER_EPOCH });
    expect(s.lastStableOffset(22, 25)).toBe(25); // never below the log start
  });

  it('evicts the least recently active idle producer at producerIdsPerPartitionMax, and refuses when all are in transactions', () => {
    const s = new ProducerStateManager({ ...config, producerIdsPerPartitionMax: 2 });
    produce(s, hdr(1, 0, 0), 0);
    produce(s, hdr(2, 0, 0), 1);
    produce(s, hdr(1, 0, 1), 2); // 1 is now the most recent
    produce(s, hdr(3, 0, 0), 3); // evicts 2
    expect([...s.producers.keys()].sort()).toEqual([1, 3]);
    produce(s, hdr(4, 0, 0, 1, { transactional: true }), 4); // evicts 1
    produce(s, hdr(5, 0, 0, 1, { transactional: true }), 5); // evicts 3
    expect([...s.producers.keys()].sort()).toEqual([4, 5]);
    expect(s.checkData(hdr(6, 0, 0))).toMatchObject({ kind: 'error', errorCode: ErrorCode.POLICY_VIOLATION });
    expect(s.checkMarker(6, 0, 0)).toMatchObject({ errorCode: ErrorCode.POLICY_VIOLATION });
  });

  it('expires idle producers after producerIdExpirationMs, never one with an open transaction', () => {
    const s = new ProducerStateManager({ ...config, producerIdExpirationMs: 1000 });
    produce(s, hdr(1, 0, 0, 1, { ts: T0 }), 0);
    produce(s, hdr(2, 0, 0, 1, { ts: T0, transactional: true }), 1);
    produce(s, hdr(3, 0, 0, 1, { ts: T0 + 900 }), 2);
    expect(s.expire(T0 + 999)).toBe(0);
    expect(s.expire(T0 + 1000)).toBe(1);
    expect([...s.producers.keys()].sort()).toEqual([2, 3]);
    // an expired producer is unknown again: any sequence
    expect(s.checkData(hdr(1, 0, 77)).kind).toBe('append');
  });

  it('round-trips through a snapshot and rejects a corrupted one', () => {
    const s = new ProducerStateManager(config);
    for (let i = 0; i < 6; i++) produce(s, hdr(9, 2, i), i);
    produce(s, hdr(8, 0, 0, 1, { transactional: true }), 6);
    const bytes = s.encodeSnapshot(7);
    const back = ProducerStateManager.decodeSnapshot(bytes, config);
    expect(back?.offset).toBe(7);
    expect(back?.state.describe()).toEqual(s.describe());
    expect(back?.state.checkData(hdr(9, 2, 5))).toEqual({ kind: 'duplicate', firstOffset: 5, lastOffset: 5 });
    expect(back?.state.lastStableOffset(7, 0)).toBe(6);
    const bad = Buffer.from(bytes);
    bad[bad.length - 3] ^= 1;
    expect(ProducerStateManager.decodeSnapshot(bad, config)).toBeNull();
    expect(ProducerStateManager.decodeSnapshot(bytes.subarray(0, 8), config)).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------------------------

const DATA = '/sim/data';
const TOPIC = 't';

function pbatch(producerId: number, epoch: number, seq: number, opts: { count?: number; transactional?: boolean; tag?: string } = {}): Buffer {
  const count = opts.count ?? 1;
  const records = Array.from({ length: count }, (_, i) => ({ key: null, value: `${opts.tag ?? 'v'}${seq + i}`, timestamp: T0 }));
  return buildRecordBatch(records, { producerId, producerEpoch: epoch, baseSequence: seq, transactional: opts.transactional === true, nowMs: T0 });
}

function plain(value: string): Buffer {
  return buildRecordBatch([{ value, timestamp: T0 }], { nowMs: T0 });
}

async function open(fs: SimFileSystem, cfg: Partial<ProducerStateConfig> = {}, segmentBytes = 1 << 20) {
  const logs = await LogManager.open({ dataDir: DATA, fs, configFor: () => ({ ...(logsDefault()), segmentBytes }) });
  const log = await logs.createPartition(TOPIC, 0, { ...logsDefault(), segmentBytes });
  const parts = new LocalPartitions(logs, silent, { producerState: { ...producerStateDefaults, ...cfg }, clock: () => T0 });
  return { logs, log, parts };
}

function logsDefault() {
  return { ...defaultLogConfig };
}

const okVerifier: TxnVerifier = { verifyPartition: () => Promise.resolve(0) };

describe('LocalPartitions: idempotent produce', () => {
  it('answers a duplicate with the original offset and appends nothing; gaps and old epochs are refused', async () => {
    const fs = new SimFileSystem({ seed: 1 });
    const { logs, log, parts } = await open(fs);
    expect((await parts.produce(TOPIC, 0, plain('a'), 9)).baseOffset).toBe(0);
    expect((await parts.produce(TOPIC, 0, pbatch(5, 0, 0, { count: 3 }), 9)).baseOffset).toBe(1);
    expect((await parts.produce(TOPIC, 0, pbatch(5, 0, 3), 9)).baseOffset).toBe(4);
    const dup = await parts.produce(TOPIC, 0, pbatch(5, 0, 0, { count: 3 }), 9);
    expect(dup).toMatchObject({ errorCode: 0, baseOffset: 1 });
    expect(log.logEndOffset).toBe(5);
    expect(await parts.produce(TOPIC, 0, pbatch(5, 0, 6), 9)).toMatchObject({ errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, baseOffset: -1 });
    expect(await parts.produce(TOPIC, 0, Buffer.concat([pbatch(5, 0, 4), pbatch(5, 0, 5)]), 9)).toMatchObject({ errorCode: ErrorCode.INVALID_RECORD });
    expect((await parts.produce(TOPIC, 0, pbatch(5, 1, 0), 9)).baseOffset).toBe(5);
    expect(await parts.produce(TOPIC, 0, pbatch(5, 0, 4), 9)).toMatchObject({ errorCode: ErrorCode.INVALID_PRODUCER_EPOCH });
    expect(log.logEndOffset).toBe(6);
    expect((await parts.describeProducers(TOPIC, 0)).producers).toEqual([
      { producerId: 5, producerEpoch: 1, lastSequence: 0, lastTimestamp: T0, coordinatorEpoch: -1, currentTxnStartOffset: -1 },
    ]);
    expect(await parts.describeProducers(TOPIC, 9)).toMatchObject({ errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION });
    await parts.close();
    await logs.close();
  });

  it('keeps plain produce on the fast path: no producer state, no snapshot', async () => {
    const fs = new SimFileSystem({ seed: 2 });
    const { logs, parts } = await open(fs);
    for (let i = 0; i < 5; i++) await parts.produce(TOPIC, 0, plain(`p${i}`), 9);
    await parts.close();
    expect((await fs.list(path.join(DATA, `${TOPIC}-0`))).filter((n) => n.endsWith('.snapshot'))).toEqual([]);
    await logs.close();
  });

  it('answers duplicates after a clean restart from the snapshot written at close', async () => {
    const fs = new SimFileSystem({ seed: 3 });
    const first = await open(fs);
    for (let s = 0; s < 10; s++) await first.parts.produce(TOPIC, 0, pbatch(11, 0, s), 9);
    await first.parts.close();
    await first.logs.close();
    expect(await fs.list(path.join(DATA, `${TOPIC}-0`))).toContain(snapshotFileName(10));

    const second = await open(fs);
    expect(await second.parts.produce(TOPIC, 0, pbatch(11, 0, 9), 9)).toMatchObject({ errorCode: 0, baseOffset: 9 });
    expect(await second.parts.produce(TOPIC, 0, pbatch(11, 0, 11), 9)).toMatchObject({ errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER });
    expect((await second.parts.produce(TOPIC, 0, pbatch(11, 0, 10), 9)).baseOffset).toBe(10);
    await second.parts.close();
    await second.logs.close();
  });

  it('rebuilds after a crash that cut the tail below the newest snapshot: that one is discarded, the older one replayed', async () => {
    const fs = new SimFileSystem({ seed: 4 });
    // snapshots every ~2 batches of this size
    const first = await open(fs, { producerSnapshotIntervalBytes: 150 });
    for (let s = 0; s < 12; s++) await first.parts.produce(TOPIC, 0, pbatch(21, 0, s), 9);
    await first.parts.close(); // snapshot at 12 (and older periodic ones, 2 kept)
    const dir = path.join(DATA, `${TOPIC}-0`);
    const snaps = (await fs.list(dir)).filter((n) => n.endsWith('.snapshot')).sort();
    expect(snaps.length).toBe(2);
    expect(snaps.at(-1)).toBe(snapshotFileName(12));
    const older = Number(snaps[0]!.slice(0, 20));
    expect(older).toBeLessThan(12);
    // A crash leaves the log cut in the middle of batch 11 (only 11 batches survive recovery).
    const logFile = path.join(dir, segmentFileName(0, '.log'));
    const bytes = fs.peek(logFile)!;
    const batchBytes = bytes.length / 12;
    fs.crash();
    fs.poke(logFile, bytes.subarray(0, batchBytes * 11 + 20));

    const second = await open(fs);
    expect(second.log.logEndOffset).toBe(11);
    expect(await second.parts.produce(TOPIC, 0, pbatch(21, 0, 10), 9)).toMatchObject({ errorCode: 0, baseOffset: 10 });
    expect(await second.parts.produce(TOPIC, 0, pbatch(21, 0, 12), 9)).toMatchObject({ errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER });
    expect((await second.parts.produce(TOPIC, 0, pbatch(21, 0, 11), 9)).baseOffset).toBe(11);
    expect(await fs.list(dir)).not.toContain(snapshotFileName(12));
    await second.parts.close();
    await second.logs.close();
  });

  it('waits for a load in arrival order: plain and idempotent produces keep their order', async () => {
    const fs = new SimFileSystem({ seed: 5 });
    const first = await open(fs);
    for (let s = 0; s < 5; s++) await first.parts.produce(TOPIC, 0, pbatch(1, 0, s), 9);
    await first.logs.close(); // no producer snapshot: the next load replays the log
    const second = await open(fs);
    const results = await Promise.all([
      second.parts.produce(TOPIC, 0, pbatch(1, 0, 5), 9),
      second.parts.produce(TOPIC, 0, plain('x'), 9),
      second.parts.produce(TOPIC, 0, pbatch(1, 0, 6), 9),
      second.parts.produce(TOPIC, 0, pbatch(1, 0, 4), 9),
    ]);
    expect(results.map((r) => [r.errorCode, r.baseOffset])).toEqual([[0, 5], [0, 6], [0, 7], [0, 4]]);
    await second.parts.close();
    await second.logs.close();
  });

  it('forgets producers after producerIdExpirationMs (checked as produces arrive)', async () => {
    const fs = new SimFileSystem({ seed: 6 });
    let now = T0;
    const logs = await LogManager.open({ dataDir: DATA, fs });
    await logs.createPartition(TOPIC, 0);
    const parts = new LocalPartitions(logs, silent, { producerState: { ...producerStateDefaults, producerIdExpirationMs: 3_600_000 }, clock: () => now });
    await parts.produce(TOPIC, 0, pbatch(1, 0, 0), 9);
    now += 2 * 3_600_000;
    await parts.produce(TOPIC, 0, buildRecordBatch([{ value: 'fresh', timestamp: now }], { producerId: 2, producerEpoch: 0, baseSequence: 0 }), 9);
    expect((await parts.describeProducers(TOPIC, 0)).producers.map((p) => p.producerId)).toEqual([2]);
    await parts.close();
    await logs.close();
  });
});

describe('LocalPartitions: transactions on a partition', () => {
  it('refuses transactional produce without a coordinator, or without a transactional id', async () => {
    const fs = new SimFileSystem({ seed: 7 });
    const { logs, parts } = await open(fs);
    expect(await parts.produce(TOPIC, 0, pbatch(1, 0, 0, { transactional: true }), 9, 'tx')).toMatchObject({ errorCode: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED });
    parts.setTxnVerifier(okVerifier);
    expect(await parts.produce(TOPIC, 0, pbatch(1, 0, 0, { transactional: true }), 9, null)).toMatchObject({ errorCode: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED });
    expect(await parts.produce(TOPIC, 0, pbatch(1, 0, 0, { transactional: true }), 9, 'tx')).toMatchObject({ errorCode: 0, baseOffset: 0 });
    await parts.close();
    await logs.close();
  });

  it('holds the LSO at an open transaction, indexes aborts per segment, and serves read_committed reads', async () => {
    const fs = new SimFileSystem({ seed: 8 });
    const { logs, log, parts } = await open(fs);
    parts.setTxnVerifier(okVerifier);
    const heard: string[] = [];
    parts.onMarker((t, p, m) => heard.push(`${t}-${p}:${m.commit ? 'commit' : 'abort'}`));
    await parts.produce(TOPIC, 0, plain('a'), 9); // 0
    await parts.produce(TOPIC, 0, pbatch(1, 0, 0, { transactional: true, tag: 'abort' }), 9, 'tx1'); // 1
    await parts.produce(TOPIC, 0, pbatch(2, 0, 0, { transactional: true, tag: 'commit' }), 9, 'tx2'); // 2
    await parts.produce(TOPIC, 0, plain('b'), 9); // 3
    const read = (isolationLevel: number, fetchOffset = 0) => parts.read([{ topic: TOPIC, partition: 0, fetchOffset, partitionMaxBytes: 1 << 20, isolationLevel }], 1 << 20).then((r) => r[0]!);
    let rc = await read(READ_COMMITTED);
    expect(rc).toMatchObject({ highWatermark: 4, lastStableOffset: 1, abortedTransactions: [] });
    expect(dataValuesOf(rc.records)).toEqual(['a']);
    const ru = await read(READ_UNCOMMITTED);
    expect(ru).toMatchObject({ lastStableOffset: 1, abortedTransactions: null });
    expect(dataValuesOf(ru.records)).toEqual(['a', 'abort0', 'commit0', 'b']);
    expect(await parts.listOffset(TOPIC, 0, -1, 5, READ_COMMITTED)).toMatchObject({ offset: 1 });
    expect(await parts.listOffset(TOPIC, 0, -1, 5, READ_UNCOMMITTED)).toMatchObject({ offset: 4 });

    expect(await parts.writeMarkers([{ topic: TOPIC, partition: 0 }], { producerId: 1, producerEpoch: 0, commit: false, coordinatorEpoch: 0 })).toEqual([{ topic: TOPIC, partition: 0, errorCode: 0 }]); // 4
    rc = await read(READ_COMMITTED);
    expect(rc.lastStableOffset).toBe(2); // tx2 still open
    expect(dataValuesOf(rc.records)).toEqual(['a', 'abort0']);
    expect(rc.abortedTransactions).toEqual([{ producerId: 1, firstOffset: 1 }]);
    expect((await read(READ_COMMITTED, 2)).abortedTransactions).toEqual([]);
    await parts.writeMarkers([{ topic: TOPIC, partition: 0 }, { topic: 'nope', partition: 0 }], { producerId: 2, producerEpoch: 0, commit: true, coordinatorEpoch: 0 }).then((o) =>
      expect(o.map((x) => x.errorCode)).toEqual([0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]),
    ); // 5
    rc = await read(READ_COMMITTED);
    expect(rc).toMatchObject({ highWatermark: 6, lastStableOffset: 6 });
    expect(dataValuesOf(rc.records)).toEqual(['a', 'abort0', 'commit0', 'b']);
    expect(heard).toEqual([`${TOPIC}-0:abort`, `${TOPIC}-0:commit`]);
    // a marker from a fenced epoch is refused; one for a producer with nothing open is written
    await parts.produce(TOPIC, 0, pbatch(1, 1, 0), 9); // 6: epoch 1
    expect((await parts.writeMarkers([{ topic: TOPIC, partition: 0 }], { producerId: 1, producerEpoch: 0, commit: true, coordinatorEpoch: 0 }))[0]!.errorCode).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
    expect((await parts.writeMarkers([{ topic: TOPIC, partition: 0 }], { producerId: 3, producerEpoch: 0, commit: false, coordinatorEpoch: 0 }))[0]!.errorCode).toBe(0); // 7
    expect(log.logEndOffset).toBe(8);

    // the index file lies beside the segment and survives a restart
    const dir = path.join(DATA, `${TOPIC}-0`);
    const entries = decodeTxnIndex(fs.peek(path.join(dir, txnIndexFileName(0)))!);
    expect(entries).toEqual([{ producerId: 1, firstOffset: 1, lastOffset: 4, lastStableOffset: 2 }]);
    await parts.close();
    await logs.close();
    const again = await open(fs);
    const r2 = await again.parts.read([{ topic: TOPIC, partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20, isolationLevel: READ_COMMITTED }], 1 << 20);
    expect(r2[0]).toMatchObject({ lastStableOffset: 8, abortedTransactions: [{ producerId: 1, firstOffset: 1 }] });
    await again.parts.close();
    await again.logs.close();
  });

  it('a durable marker stops holding the LSO even when nothing reads the partition: the next abort indexes the LSO after it', async () => {
    const fs = new SimFileSystem({ seed: 11 });
    const { logs, parts } = await open(fs);
    parts.setTxnVerifier(okVerifier);
    const tp = [{ topic: TOPIC, partition: 0 }];
    // Transactions ended one after the other with no read in between (as on a __consumer_offsets partition).
    for (let i = 0; i < 3; i++) {
      expect(await parts.produce(TOPIC, 0, pbatch(10 + i, 0, 0, { transactional: true }), 9, `tx${i}`)).toMatchObject({ errorCode: 0, baseOffset: 2 * i });
      expect((await parts.writeMarkers(tp, { producerId: 10 + i, producerEpoch: 0, commit: i < 2, coordinatorEpoch: 0 }))[0]!.errorCode).toBe(0);
    }
    // The abort of [4, 5]: the commits before it are durable, nothing else is open, so the LSO after it is 6.
    const entries = decodeTxnIndex(fs.peek(path.join(DATA, `${TOPIC}-0`, txnIndexFileName(0)))!);
    expect(entries).toEqual([{ producerId: 12, firstOffset: 4, lastOffset: 5, lastStableOffset: 6 }]);
    await parts.close();
    await logs.close();
  });

  it('re-indexes an abort whose index entry a crash lost, and drops entries beyond the recovered log end', async () => {
    const fs = new SimFileSystem({ seed: 9 });
    const first = await open(fs);
    first.parts.setTxnVerifier(okVerifier);
    await first.parts.produce(TOPIC, 0, pbatch(1, 0, 0, { transactional: true }), 9, 'tx'); // 0
    await first.parts.writeMarkers([{ topic: TOPIC, partition: 0 }], { producerId: 1, producerEpoch: 0, commit: false, coordinatorEpoch: 0 }); // 1
    const dir = path.join(DATA, `${TOPIC}-0`);
    fs.crash();
    // The real entry lost, an entry for a marker beyond the recovered log end, and a torn one after it.
    const beyond = encodeTxnIndexEntry({ producerId: 9, firstOffset: 0, lastOffset: 50, lastStableOffset: 0 });
    fs.poke(path.join(dir, txnIndexFileName(0)), Buffer.concat([beyond, beyond.subarray(0, 20)]));
    const second = await open(fs);
    const r = await second.parts.read([{ topic: TOPIC, partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20, isolationLevel: READ_COMMITTED }], 1 << 20);
    expect(r[0]).toMatchObject({ errorCode: 0, abortedTransactions: [{ producerId: 1, firstOffset: 0 }] });
    expect(decodeTxnIndex(fs.peek(path.join(dir, txnIndexFileName(0)))!)).toEqual([{ producerId: 1, firstOffset: 0, lastOffset: 1, lastStableOffset: 2 }]);
    await second.parts.close();
    await second.logs.close();
  });

  it('KIP-890: a marker landing while a transaction\'s first batch is verified voids the verification', async () => {
    const fs = new SimFileSystem({ seed: 10 });
    const { logs, log, parts } = await open(fs);
    let release!: (code: number) => void;
    const asked: string[] = [];
    parts.setTxnVerifier({
      verifyPartition: (txnId, pid, epoch, topic, partition) => {
        asked.push(`${txnId}/${pid}/${epoch}/${topic}-${partition}`);
        return new Promise((resolve) => (release = resolve));
      },
    });
    const late = parts.produce(TOPIC, 0, pbatch(1, 0, 0, { transactional: true }), 9, 'tx');
    const behind = parts.produce(TOPIC, 0, pbatch(1, 0, 1, { transactional: true }), 9, 'tx');
    await new Promise((r) => setImmediate(r));
    expect(asked).toEqual(['tx/1/0/t-0']); // one verification for both batches
    await parts.writeMarkers([{ topic: TOPIC, partition: 0 }], { producerId: 1, producerEpoch: 0, commit: false, coordinatorEpoch: 0 });
    release(0);
    expect((await late).errorCode).toBe(ErrorCode.INVALID_TXN_STATE);
    expect((await behind).errorCode).toBe(ErrorCode.INVALID_TXN_STATE);
    expect(log.logEndOffset).toBe(1); // only the marker
    const lso = await parts.listOffset(TOPIC, 0, -1, 5, READ_COMMITTED);
    expect(lso.offset).toBe(1); // no dangling transaction

    // a verifier error is the produce's error (coordinator moves answered retriable)
    parts.setTxnVerifier({ verifyPartition: () => Promise.resolve(ErrorCode.NOT_COORDINATOR) });
    expect((await parts.produce(TOPIC, 0, pbatch(1, 0, 0, { transactional: true }), 9, 'tx')).errorCode).toBe(ErrorCode.NOT_ENOUGH_REPLICAS);
    parts.setTxnVerifier({ verifyPartition: () => Promise.resolve(ErrorCode.INVALID_TXN_STATE) });
    expect((await parts.produce(TOPIC, 0, pbatch(1, 0, 0, { transactional: true }), 9, 'tx')).errorCode).toBe(ErrorCode.INVALID_TXN_STATE);
    await parts.close();
    await logs.close();
  });

  it('read_committed long polls wake when the LSO moves, not on appends behind an open transaction', async () => {
    const fs = new SimFileSystem({ seed: 11 });
    const { logs, parts } = await open(fs);
    parts.setTxnVerifier(okVerifier);
    await parts.produce(TOPIC, 0, pbatch(1, 0, 0, { transactional: true }), 9, 'tx');
    const [r] = await parts.read([{ topic: TOPIC, partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20, isolationLevel: READ_COMMITTED }], 1 << 20);
    expect(r!.seenHighWatermark).toBe(0);
    let woke = false;
    const wait = parts.waitForAppend([{ topic: TOPIC, partition: 0, seenHighWatermark: r!.seenHighWatermark, isolationLevel: READ_COMMITTED }], 5000, new AbortController().signal).then(() => (woke = true));
    await parts.produce(TOPIC, 0, plain('behind'), 9);
    await new Promise((res) => setTimeout(res, 20));
    expect(woke).toBe(false);
    await parts.writeMarkers([{ topic: TOPIC, partition: 0 }], { producerId: 1, producerEpoch: 0, commit: true, coordinatorEpoch: 0 });
    await wait;
    expect(woke).toBe(true);
    await parts.close();
    await logs.close();
  });
});
