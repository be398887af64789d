/**
 * The transaction coordinator's state machine against Kafka's rules (TransactionCoordinator): every transition
 * and error code, fencing, KIP-360 epoch bumps and id rotation, timeouts aborting with an epoch bump, markers
 * retried, recovery of Prepare* states after a restart, EndTxn retry semantics, the delayed-EndTxn defenses
 * (KAFKA-17754), expiry, describe/list, storage failures. Fake time, an in-memory store and marker writer.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/protocol/errors.js';
import { TxnStatus, PRODUCER_EPOCH_EXHAUSTED, type TxnCoordinator } from '../../src/txn/index.js';
import { partitionForGroup } from '../../src/groups/index.js';
import { makeTxnCoordinator, storedRecords, settle, type TxnHarness } from './harness.js';

const TIMEOUT = 60_000;

async function init(c: TxnCoordinator, id: string, o: { timeoutMs?: number; producerId?: number; producerEpoch?: number } = {}) {
  return c.initProducerId({ transactionalId: id, transactionTimeoutMs: o.timeoutMs ?? TIMEOUT, producerId: o.producerId ?? -1, producerEpoch: o.producerEpoch ?? -1 });
}

function add(c: TxnCoordinator, id: string, pid: { producerId: number; producerEpoch: number }, partitions: [string, number][], opts = {}) {
  return c.addPartitions({ transactionalId: id, producerId: pid.producerId, producerEpoch: pid.producerEpoch, partitions: partitions.map(([topic, partition]) => ({ topic, partition })) }, opts);
}

function end(c: TxnCoordinator, id: string, pid: { producerId: number; producerEpoch: number }, commit: boolean, opts = {}) {
  return c.endTxn({ transactionalId: id, producerId: pid.producerId, producerEpoch: pid.producerEpoch, commit }, opts);
}

async function ready(): Promise<TxnHarness> {
  const h = makeTxnCoordinator();
  expect(await h.coordinator.ensureStateTopic()).toBe(true);
  return h;
}

describe('InitProducerId', () => {
  it('without a transactional id: a fresh id at epoch 0; with its id and epoch (KIP-360) the next epoch; an exhausted epoch gets a new id', async () => {
    const { coordinator: c, ids } = await ready();
    const a = await c.initProducerId({ transactionalId: null, transactionTimeoutMs: 0, producerId: -1, producerEpoch: -1 });
    const b = await c.initProducerId({ transactionalId: null, transactionTimeoutMs: 0, producerId: -1, producerEpoch: -1 });
    expect(a).toEqual({ errorCode: 0, producerId: 1000, producerEpoch: 0 });
    expect(b.producerId).toBe(1001);
    expect(await c.initProducerId({ transactionalId: null, transactionTimeoutMs: 0, producerId: 1000, producerEpoch: 0 })).toEqual({ errorCode: 0, producerId: 1000, producerEpoch: 1 });
    const rotated = await c.initProducerId({ transactionalId: null, transactionTimeoutMs: 0, producerId: 1000, producerEpoch: PRODUCER_EPOCH_EXHAUSTED });
    expect(rotated).toEqual({ errorCode: 0, producerId: 1002, producerEpoch: 0 });
    expect(ids.next).toBe(1003);
  });

  it('with a transactional id: created at epoch 0 (durable first), each new producer bumps the epoch and fences the previous one', async () => {
    const { coordinator: c, store } = await ready();
    const p1 = await init(c, 'tx');
    expect(p1).toEqual({ errorCode: 0, producerId: 1000, producerEpoch: 0 });
    expect(storedRecords(store).map((r) => [r.id, r.value?.status, r.value?.producerEpoch])).toEqual([['tx', TxnStatus.Empty, 0]]);
    const p2 = await init(c, 'tx');
    expect(p2).toEqual({ errorCode: 0, producerId: 1000, producerEpoch: 1 });
    expect(await add(c, 'tx', p1, [['t', 0]])).toBe(ErrorCode.PRODUCER_FENCED);
    expect(await end(c, 'tx', p1, true)).toBe(ErrorCode.PRODUCER_FENCED);
    expect(await add(c, 'tx', p2, [['t', 0]])).toBe(0);
  });

  it('validates the timeout against transaction.max.timeout.ms and the id', async () => {
    const { coordinator: c } = await ready();
    expect((await init(c, 'tx', { timeoutMs: 0 })).errorCode).toBe(ErrorCode.INVALID_TRANSACTION_TIMEOUT);
    expect((await init(c, 'tx', { timeoutMs: 900_001 })).errorCode).toBe(ErrorCode.INVALID_TRANSACTION_TIMEOUT);
    expect((await init(c, 'tx', { timeoutMs: 900_000 })).errorCode).toBe(0);
    expect((await init(c, '')).errorCode).toBe(ErrorCode.INVALID_REQUEST);
  });

  it('KIP-360: the current id and epoch bump; a lost answer retried gets the same epoch; an older epoch or another id is fenced', async () => {
    const { coordinator: c } = await ready();
    const p0 = await init(c, 'tx');
    const p1 = await init(c, 'tx', p0);
    expect(p1).toEqual({ errorCode: 0, producerId: p0.producerId, producerEpoch: 1 });
    // The same request again (its answer was lost): no second bump.
    expect(await init(c, 'tx', p0)).toEqual({ errorCode: 0, producerId: p0.producerId, producerEpoch: 1 });
    // A producer with another id: fenced.
    expect((await init(c, 'tx', { producerId: 4242, producerEpoch: 0 })).errorCode).toBe(ErrorCode.PRODUCER_FENCED);
    // A fresh producer (no id) takes over; the previous epoch is now fenced.
    const p2 = await init(c, 'tx');
    expect(p2.producerEpoch).toBe(2);
    expect((await init(c, 'tx', p1)).errorCode).toBe(ErrorCode.PRODUCER_FENCED);
  });

  it('rotates the producer id when the epoch is exhausted; a retry with the old id and exhausted epoch gets the new one', async () => {
    const { coordinator: c, store, timers, markers, ids, clock } = await ready();
    const p0 = await init(c, 'rot');
    // Drive the epoch to exhaustion by storing a state at the exhausted epoch and reloading it.
    const base = storedRecords(store).find((r) => r.id === 'rot')!;
    c.close();
    const { encodeTxnKey, encodeTxnValue } = await import('../../src/txn/index.js');
    const { buildRecordBatch } = await import('../../src/protocol/records.js');
    await store.append(base.partition, buildRecordBatch([{ key: encodeTxnKey('rot'), value: encodeTxnValue({ ...base.value!, producerEpoch: PRODUCER_EPOCH_EXHAUSTED }) }]));
    const h2 = makeTxnCoordinator({}, { store, timers, markers, ids, clock, topicExists: true });
    await h2.coordinator.loaded();
    const rotated = await init(h2.coordinator, 'rot', { producerId: p0.producerId, producerEpoch: PRODUCER_EPOCH_EXHAUSTED });
    expect(rotated.errorCode).toBe(0);
    expect(rotated.producerId).not.toBe(p0.producerId);
    expect(rotated.producerEpoch).toBe(0);
    const retry = await init(h2.coordinator, 'rot', { producerId: p0.producerId, producerEpoch: PRODUCER_EPOCH_EXHAUSTED });
    expect(retry).toEqual(rotated);
  });

  it('on an ongoing transaction: fences (epoch + 1), aborts it with markers at the new epoch, answers CONCURRENT_TRANSACTIONS until done', async () => {
    const { coordinator: c, markers, store } = await ready();
    const p0 = await init(c, 'tx');
    expect(await add(c, 'tx', p0, [['t', 0], ['t', 1]])).toBe(0);
    markers.hold();
    const r = await init(c, 'tx');
    expect(r.errorCode).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    expect(c.stateOf('tx')).toMatchObject({ state: 'PrepareAbort', producerEpoch: 1 });
    expect((await init(c, 'tx')).errorCode).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    // The zombie cannot finish its transaction.
    expect(await end(c, 'tx', p0, true)).toBe(ErrorCode.PRODUCER_FENCED);
    markers.release();
    await c.settled();
    expect(markers.calls.at(-1)!.marker).toEqual({ producerId: p0.producerId, producerEpoch: 1, commit: false, coordinatorEpoch: 0 });
    expect(c.stateOf('tx')).toMatchObject({ state: 'CompleteAbort', producerEpoch: 1 });
    const again = await init(c, 'tx');
    expect(again).toEqual({ errorCode: 0, producerId: p0.producerId, producerEpoch: 2 });
    // The fence was stored as PrepareAbort with the bumped epoch (PrepareEpochFence never is).
    const statuses = storedRecords(store).map((x) => `${x.value!.status}@${x.value!.producerEpoch}`);
    expect(statuses).toEqual(['0@0', '1@0', '3@1', '5@1', '0@2']);
  });
});

describe('a transaction', () => {
  it('commits: Ongoing, PrepareCommit durable before the answer, markers to every partition, then CompleteCommit', async () => {
    const { coordinator: c, markers, store } = await ready();
    const p = await init(c, 'tx');
    expect(await add(c, 'tx', p, [['a', 0], ['b', 2]])).toBe(0);
    expect(await add(c, 'tx', p, [['a', 0]])).toBe(0); // already in: no new record
    expect(await add(c, 'tx', p, [['a', 1]])).toBe(0);
    expect(c.stateOf('tx')).toMatchObject({ state: 'Ongoing', partitions: [{ topic: 'a', partitions: [0, 1] }, { topic: 'b', partitions: [2] }] });
    markers.hold();
    expect(await end(c, 'tx', p, true)).toBe(0);
    expect(c.stateOf('tx')!.state).toBe('PrepareCommit');
    // While markers are written: retriable for the same outcome, invalid for the other, no new partitions.
    expect(await end(c, 'tx', p, true)).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    expect(await end(c, 'tx', p, false)).toBe(ErrorCode.INVALID_TXN_STATE);
    expect(await add(c, 'tx', p, [['c', 0]])).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    expect((await init(c, 'tx', p)).errorCode).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    markers.release();
    await c.settled();
    expect(markers.calls).toHaveLength(1);
    expect(markers.written()[0]!.sort()).toEqual(['a-0', 'a-1', 'b-2']);
    expect(markers.calls[0]!.marker).toEqual({ producerId: p.producerId, producerEpoch: p.producerEpoch, commit: true, coordinatorEpoch: 0 });
    expect(c.stateOf('tx')).toMatchObject({ state: 'CompleteCommit', partitions: [] });
    const recs = storedRecords(store).map((r) => r.value!);
    expect(recs.map((v) => v.status)).toEqual([TxnStatus.Empty, TxnStatus.Ongoing, TxnStatus.Ongoing, TxnStatus.PrepareCommit, TxnStatus.CompleteCommit]);
    expect(recs[0]!.partitions).toBeNull();
    expect(recs[3]!.partitions).toEqual([{ topic: 'a', partitions: [0, 1] }, { topic: 'b', partitions: [2] }]);
    expect(recs[1]!.startTimestampMs).toBeGreaterThan(0);
    // EndTxn(commit) retried after completion with the same epoch: success; abort now: invalid.
    expect(await end(c, 'tx', p, true)).toBe(0);
    expect(await end(c, 'tx', p, false)).toBe(ErrorCode.INVALID_TXN_STATE);
    // The next transaction starts from CompleteCommit.
    expect(await add(c, 'tx', p, [['a', 0]])).toBe(0);
    expect(c.stateOf('tx')).toMatchObject({ state: 'Ongoing', partitions: [{ topic: 'a', partitions: [0] }] });
  });

  it('aborts; then commit is INVALID_TXN_STATE and abort again succeeds', async () => {
    const { coordinator: c, markers } = await ready();
    const p = await init(c, 'tx');
    expect(await add(c, 'tx', p, [['a', 0]])).toBe(0);
    expect(await end(c, 'tx', p, false)).toBe(0);
    await c.settled();
    expect(markers.calls[0]!.marker.commit).toBe(false);
    expect(c.stateOf('tx')!.state).toBe('CompleteAbort');
    expect(await end(c, 'tx', p, true)).toBe(ErrorCode.INVALID_TXN_STATE);
    expect(await end(c, 'tx', p, false)).toBe(0);
  });

  it('EndTxn and AddPartitions error codes: unknown id, wrong producer id, old epoch, Empty', async () => {
    const { coordinator: c } = await ready();
    expect(await end(c, 'nope', { producerId: 1, producerEpoch: 0 }, true)).toBe(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    expect(await add(c, 'nope', { producerId: 1, producerEpoch: 0 }, [['a', 0]])).toBe(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    const p = await init(c, 'tx');
    expect(await end(c, 'tx', p, true)).toBe(ErrorCode.INVALID_TXN_STATE); // Empty
    expect(await end(c, 'tx', p, false)).toBe(ErrorCode.INVALID_TXN_STATE);
    expect(await end(c, 'tx', { producerId: p.producerId + 1, producerEpoch: p.producerEpoch }, true)).toBe(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    expect(await add(c, 'tx', { producerId: p.producerId + 1, producerEpoch: p.producerEpoch }, [['a', 0]])).toBe(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    expect(await add(c, 'tx', { producerId: p.producerId, producerEpoch: p.producerEpoch + 1 }, [['a', 0]])).toBe(ErrorCode.PRODUCER_FENCED);
    expect(await end(c, '', p, true)).toBe(ErrorCode.INVALID_REQUEST);
    expect(await add(c, '', p, [['a', 0]])).toBe(ErrorCode.INVALID_REQUEST);
  });

  it('AddOffsetsToTxn adds the group\'s __consumer_offsets partition', async () => {
    const { coordinator: c, markers } = await ready();
    const p = await init(c, 'tx');
    expect(await c.addOffsets({ transactionalId: 'tx', producerId: p.producerId, producerEpoch: p.producerEpoch, groupId: 'my-group' })).toBe(0);
    expect(c.stateOf('tx')!.partitions).toEqual([{ topic: '__consumer_offsets', partitions: [partitionForGroup('my-group', 3)] }]);
    expect(await end(c, 'tx', p, true)).toBe(0);
    await c.settled();
    expect(markers.written()).toEqual([[`__consumer_offsets-${partitionForGroup('my-group', 3)}`]]);
  });

  it('a transaction over transactionPartitionsMax partitions is refused', async () => {
    const h = makeTxnCoordinator({ transactionPartitionsMax: 3 });
    const c = h.coordinator;
    const p = await init(c, 'tx');
    expect(await add(c, 'tx', p, [['a', 0], ['a', 1], ['a', 2], ['a', 3]])).toBe(ErrorCode.INVALID_REQUEST);
    expect(await add(c, 'tx', p, [['a', 0], ['a', 1]])).toBe(0);
    expect(await add(c, 'tx', p, [['a', 2], ['a', 3]])).toBe(ErrorCode.INVALID_REQUEST);
    expect(c.stateOf('tx')!.partitions).toEqual([{ topic: 'a', partitions: [0, 1] }]);
  });

  it('failed markers are retried with backoff until written; a deleted partition is dropped', async () => {
    const h = await ready();
    const { coordinator: c, markers, timers } = h;
    const p = await init(c, 'tx');
    expect(await add(c, 'tx', p, [['a', 0], ['a', 1], ['gone', 0]])).toBe(0);
    markers.fail('a', 1, ErrorCode.NOT_LEADER_OR_FOLLOWER, 2);
    markers.fail('gone', 0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, 100);
    h.deleted.add('gone-0');
    expect(await end(c, 'tx', p, true)).toBe(0);
    await settle();
    expect(markers.written()).toEqual([['a-0', 'a-1', 'gone-0']]);
    expect(c.stateOf('tx')!.state).toBe('PrepareCommit');
    await timers.advance(100);
    expect(markers.written()).toEqual([['a-0', 'a-1', 'gone-0'], ['a-1']]);
    await timers.advance(150); // backoff doubled: not yet
    expect(markers.calls).toHaveLength(2);
    await timers.advance(50);
    await c.settled();
    expect(markers.written()).toEqual([['a-0', 'a-1', 'gone-0'], ['a-1'], ['a-1']]);
    expect(c.stateOf('tx')!.state).toBe('CompleteCommit');
  });

  it('a storage failure leaves the state as it was and answers NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE', async () => {
    const { coordinator: c, store } = await ready();
    const p = await init(c, 'tx');
    store.failNext();
    expect(await add(c, 'tx', p, [['a', 0]])).toBe(ErrorCode.NOT_COORDINATOR);
    expect(c.stateOf('tx')!.state).toBe('Empty');
    expect(await add(c, 'tx', p, [['a', 0]])).toBe(0);
    store.failNext();
    expect(await end(c, 'tx', p, true)).toBe(ErrorCode.NOT_COORDINATOR);
    expect(c.stateOf('tx')).toMatchObject({ state: 'Ongoing', pending: null });
    expect(await end(c, 'tx', p, true)).toBe(0);
  });

  it('a change in flight makes other requests for the id CONCURRENT_TRANSACTIONS', async () => {
    const { coordinator: c, store } = await ready();
    const p = await init(c, 'tx');
    store.hold();
    const adding = add(c, 'tx', p, [['a', 0]]);
    await settle();
    expect(c.stateOf('tx')!.pending).toBe('Ongoing');
    expect(await add(c, 'tx', p, [['a', 1]])).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    expect(await end(c, 'tx', p, true)).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    expect((await init(c, 'tx')).errorCode).toBe(ErrorCode.CONCURRENT_TRANSACTIONS);
    store.release();
    expect(await adding).toBe(0);
  });
});

describe('KAFKA-17754 defenses', () => {
  it('an EndTxn read before the ongoing transaction began cannot end it; a current one can', async () => {
    const { coordinator: c, clock } = await ready();
    const p = await init(c, 'tx');
    expect(await add(c, 'tx', p, [['a', 0]])).toBe(0);
    const t1EndReceived = clock.us++;
    expect(await end(c, 'tx', p, true, { receivedAtUs: t1EndReceived })).toBe(0);
    await c.settled();
    // The retried/delayed EndTxn of T1, read before T2 began, arrives while T2 is ongoing.
    const delayedReceived = clock.us++;
    expect(await add(c, 'tx', p, [['a', 0], ['b', 0]])).toBe(0);
    expect(await end(c, 'tx', p, true, { receivedAtUs: delayedReceived })).toBe(ErrorCode.INVALID_TXN_STATE);
    expect(c.stateOf('tx')!.state).toBe('Ongoing');
    // A retry of T1's commit while T1 was complete was harmless (success, no change).
    // The real EndTxn of T2 (read after T2 began) commits it.
    expect(await end(c, 'tx', p, false, { receivedAtUs: clock.us++ })).toBe(0);
    await c.settled();
    expect(c.stateOf('tx')!.state).toBe('CompleteAbort');
  });

  it('no state change is applied for a request whose connection has closed', async () => {
    const { coordinator: c, store } = await ready();
    const p = await init(c, 'tx');
    expect(await add(c, 'tx', p, [['a', 0]])).toBe(0);
    const gone = new AbortController();
    gone.abort();
    const before = store.batchCount();
    expect(await end(c, 'tx', p, true, { signal: gone.signal })).toBe(ErrorCode.REQUEST_TIMED_OUT);
    expect(await add(c, 'tx', p, [['b', 0]], { signal: gone.signal })).toBe(ErrorCode.REQUEST_TIMED_OUT);
    expect((await c.initProducerId({ transactionalId: 'tx', transactionTimeoutMs: TIMEOUT, producerId: -1, producerEpoch: -1 }, { signal: gone.signal })).errorCode).not.toBe(0);
    expect(store.batchCount()).toBe(before);
    expect(c.stateOf('tx')).toMatchObject({ state: 'Ongoing', producerEpoch: p.producerEpoch, partitions: [{ topic: 'a', partitions: [0] }] });
  });
});

describe('verifyPartition (KIP-890 part 1)', () => {
  it('0 only for a partition of the ongoing transaction of that producer id and epoch', async () => {
    const { coordinator: c, markers, store } = await ready();
    expect(await c.verifyPartition('tx', 1, 0, 'a', 0)).toBe(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    const p = await init(c, 'tx');
    expect(await c.verifyPartition('tx', p.producerId, p.producerEpoch, 'a', 0)).toBe(ErrorCode.INVALID_TXN_STATE);
    expect(await add(c, 'tx', p, [['a', 0]])).toBe(0);
    expect(await c.verifyPartition('tx', p.producerId, p.producerEpoch, 'a', 0)).toBe(0);
    expect(await c.verifyPartition('tx', p.producerId, p.producerEpoch, 'a', 1)).toBe(ErrorCode.INVALID_TXN_STATE);
    expect(await c.verifyPartition('tx', p.producerId + 1, p.producerEpoch, 'a', 0)).toBe(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    expect(await c.verifyPartition('tx', p.producerId, p.producerEpoch - 1, 'a', 0)).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
    store.hold(); // a new partition being added: retriable meanwhile
    const adding = add(c, 'tx', p, [['b', 0]]);
    await settle();
    expect(await c.verifyPartition('tx', p.producerId, p.producerEpoch, 'b', 0)).toBe(ErrorCode.NOT_ENOUGH_REPLICAS);
    // ...while a partition added earlier stays writable (librdkafka's batches for it are already on their way).
    expect(await c.verifyPartition('tx', p.producerId, p.producerEpoch, 'a', 0)).toBe(0);
    store.release();
    expect(await adding).toBe(0);
    expect(await c.verifyPartition('tx', p.producerId, p.producerEpoch, 'b', 0)).toBe(0);
    markers.hold();
    expect(await end(c, 'tx', p, true)).toBe(0);
    expect(await c.verifyPartition('tx', p.producerId, p.producerEpoch, 'a', 0)).toBe(ErrorCode.NOT_ENOUGH_REPLICAS);
    markers.release();
    await c.settled();
    expect(await c.verifyPartition('tx', p.producerId, p.producerEpoch, 'a', 0)).toBe(ErrorCode.INVALID_TXN_STATE);
  });
});

describe('timeouts and expiry', () => {
  it('an ongoing transaction older than its timeout is aborted with the epoch bumped: the zombie is fenced', async () => {
    const h = await ready();
    const { coordinator: c, markers, timers } = h;
    const p = await init(c, 'slow', { timeoutMs: 15_000 });
    const q = await init(c, 'fast', { timeoutMs: 60_000 });
    expect(await add(c, 'slow', p, [['a', 0]])).toBe(0);
    expect(await add(c, 'fast', q, [['a', 1]])).toBe(0);
    await timers.advance(10_000); // first scan: nothing old enough
    expect(c.stateOf('slow')!.state).toBe('Ongoing');
    await timers.advance(10_000); // second scan at 20 s: slow (15 s) is aborted
    await c.settled();
    expect(c.stateOf('slow')).toMatchObject({ state: 'CompleteAbort', producerEpoch: p.producerEpoch + 1 });
    expect(markers.calls.at(-1)!.marker).toEqual({ producerId: p.producerId, producerEpoch: p.producerEpoch + 1, commit: false, coordinatorEpoch: 0 });
    expect(c.stateOf('fast')!.state).toBe('Ongoing');
    expect(await end(c, 'slow', p, true)).toBe(ErrorCode.PRODUCER_FENCED);
    expect(await add(c, 'slow', p, [['a', 0]])).toBe(ErrorCode.PRODUCER_FENCED);
    expect(await c.verifyPartition('slow', p.producerId, p.producerEpoch, 'a', 0)).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
  });

  it('transactional ids idle past transactional.id.expiration.ms are tombstoned; busy ones stay', async () => {
    const h = makeTxnCoordinator({ transactionalIdExpirationMs: 60_000, transactionRemoveExpiredIntervalMs: 30_000, transactionAbortTimedOutIntervalMs: 1_000_000 });
    const { coordinator: c, store, timers } = h;
    const idle = await init(c, 'idle');
    const busy = await init(c, 'busy', { timeoutMs: 900_000 });
    expect(idle.errorCode).toBe(0);
    expect(await add(c, 'busy', busy, [['a', 0]])).toBe(0);
    await timers.advance(90_000);
    expect(c.stateOf('idle')).toBeUndefined();
    expect(c.stateOf('busy')!.state).toBe('Ongoing');
    expect(storedRecords(store).filter((r) => r.id === 'idle').map((r) => r.value)).toContainEqual(null);
    // A restart does not bring it back.
    c.close();
    const h2 = makeTxnCoordinator({}, { store, topicExists: true });
    await h2.coordinator.loaded();
    expect(h2.coordinator.stateOf('idle')).toBeUndefined();
    expect(h2.coordinator.stateOf('busy')!.state).toBe('Ongoing');
    // A new producer of the expired id starts over with a new producer id.
    const again = await init(h2.coordinator, 'idle');
    expect(again.errorCode).toBe(0);
    expect(again.producerEpoch).toBe(0);
  });
});

describe('recovery', () => {
  it('after a restart: Prepare* states re-send their markers and complete; Ongoing ones are kept and time out', async () => {
    const h1 = await ready();
    const { coordinator: c1, store, markers: m1 } = h1;
    const a = await init(c1, 'committing');
    const b = await init(c1, 'aborting');
    const o = await init(c1, 'open', { timeoutMs: 20_000 });
    expect(await add(c1, 'committing', a, [['x', 0], ['y', 1]])).toBe(0);
    expect(await add(c1, 'aborting', b, [['x', 1]])).toBe(0);
    expect(await add(c1, 'open', o, [['x', 2]])).toBe(0);
    m1.hold(); // markers never land before the "crash"
    expect(await end(c1, 'committing', a, true)).toBe(0);
    expect(await end(c1, 'aborting', b, false)).toBe(0);
    c1.close();
    const h2 = makeTxnCoordinator({}, { store, topicExists: true });
    const c2 = h2.coordinator;
    await c2.loaded();
    await c2.settled();
    const byMarker = h2.markers.calls.map((call) => ({ parts: call.partitions.map((p) => `${p.topic}-${p.partition}`).sort(), commit: call.marker.commit, pid: call.marker.producerId }));
    expect(byMarker).toEqual(expect.arrayContaining([{ parts: ['x-0', 'y-1'], commit: true, pid: a.producerId }, { parts: ['x-1'], commit: false, pid: b.producerId }]));
    expect(byMarker).toHaveLength(2);
    expect(c2.stateOf('committing')!.state).toBe('CompleteCommit');
    expect(c2.stateOf('aborting')!.state).toBe('CompleteAbort');
    expect(c2.stateOf('open')).toMatchObject({ state: 'Ongoing', partitions: [{ topic: 'x', partitions: [2] }] });
    // The retried commit of the recovered transaction is a success; the open one can still be ended by its producer.
    expect(await end(c2, 'committing', a, true)).toBe(0);
    await h2.timers.advance(30_000);
    await c2.settled();
    expect(c2.stateOf('open')).toMatchObject({ state: 'CompleteAbort', producerEpoch: o.producerEpoch + 1 });
  });

  it('answers COORDINATOR_LOAD_IN_PROGRESS while loading and NOT_COORDINATOR for ids it does not own', async () => {
    const h = makeTxnCoordinator({}, { owned: [0] });
    const c = h.coordinator;
    let mine = '';
    let other = '';
    for (let i = 0; (mine === '' || other === '') && i < 100; i++) {
      const id = `id-${i}`;
      if (c.partitionFor(id) === 0) mine ||= id;
      else other ||= id;
    }
    expect((await init(c, other)).errorCode).toBe(ErrorCode.NOT_COORDINATOR);
    expect((await init(c, mine)).errorCode).toBe(0);
    expect((await c.describeTransaction(other)).errorCode).toBe(ErrorCode.NOT_COORDINATOR);
    // A second coordinator loading the same store: held reads keep it loading.
    const store = h.store;
    const slow = { append: store.append.bind(store), async *read(p: number) { await new Promise((r) => setTimeout(r, 50)); yield* store.read(p); } };
    const { TxnCoordinator, txnCoordinatorSettingsDefaults } = await import('../../src/txn/index.js');
    const c2 = new TxnCoordinator({
      config: { ...txnCoordinatorSettingsDefaults, transactionStateTopicPartitions: 4 },
      store: slow,
      markers: h.markers,
      producerIds: h.ids,
      timers: h.timers,
      logger: { info() {}, warn() {}, error() {} },
      ownedPartitions: [0],
      stateTopic: { exists: () => true, create: async () => undefined },
    });
    c2.start();
    expect((await init(c2, mine)).errorCode).toBe(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
    await c2.loaded();
    expect((await init(c2, mine)).producerEpoch).toBe(1);
    c2.close();
  });
});

describe('describe and list', () => {
  it('DescribeTransactions shows state, ids, timeout, start and partitions; ListTransactions filters by state, producer id and duration', async () => {
    const { coordinator: c, timers } = await ready();
    const p = await init(c, 'a', { timeoutMs: 30_000 });
    const q = await init(c, 'b');
    expect(await add(c, 'a', p, [['t', 1], ['t', 0], ['s', 0]])).toBe(0);
    const d = await c.describeTransaction('a');
    expect(d).toMatchObject({ errorCode: 0, state: 'Ongoing', transactionTimeoutMs: 30_000, producerId: p.producerId, producerEpoch: 0, topics: [{ topic: 's', partitions: [0] }, { topic: 't', partitions: [0, 1] }] });
    expect(d.transactionStartTimeMs).toBe(timers.now());
    expect(await c.describeTransaction('b')).toMatchObject({ errorCode: 0, state: 'Empty', transactionStartTimeMs: -1, topics: [] });
    expect((await c.describeTransaction('zzz')).errorCode).toBe(ErrorCode.TRANSACTIONAL_ID_NOT_FOUND);
    const all = c.listTransactions({ states: [], producerIds: [], durationMs: -1 });
    expect(all.transactions.map((t) => t.transactionalId).sort()).toEqual(['a', 'b']);
    expect(c.listTransactions({ states: ['Ongoing', 'Bogus'], producerIds: [], durationMs: -1 })).toEqual({ errorCode: 0, unknownStateFilters: ['Bogus'], transactions: [{ transactionalId: 'a', producerId: p.producerId, state: 'Ongoing' }] });
    expect(c.listTransactions({ states: [], producerIds: [q.producerId], durationMs: -1 }).transactions.map((t) => t.transactionalId)).toEqual(['b']);
    expect(c.listTransactions({ states: ['Bogus'], producerIds: [], durationMs: -1 }).transactions).toEqual([]);
    // Duration: 'a' started now; after 5 s it runs longer than 4 s but not 6 s.
    await timers.advance(5_000);
    expect(c.listTransactions({ states: ['Ongoing'], producerIds: [], durationMs: 4_000 }).transactions).toHaveLength(1);
    expect(c.listTransactions({ states: ['Ongoing'], producerIds: [], durationMs: 6_000 }).transactions).toHaveLength(0);
  });
});
