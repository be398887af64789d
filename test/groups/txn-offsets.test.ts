/**
 * Transactional offset commits in the group coordinator (TxnOffsetCommit, Kafka's GroupMetadataManager rules),
 * under fake time over the in-memory store:
 * - pending offsets are invisible to OffsetFetch; requireStable answers UNSTABLE_OFFSET_COMMIT for them only;
 * - the COMMIT marker (through the marker listener) makes them committed, ABORT drops them; a commit later in
 *   the log wins over an earlier transactional one completed after it;
 * - what is stored: a transactional batch with the producer id and epoch (base sequence 0), durable before the
 *   answer; a failed append leaves nothing pending;
 * - replay after a restart: with the marker in the log (commit, abort) and without it (still pending, completed
 *   by a later marker); markers told while a partition loads;
 * - TxnOffsetCommit v3 member checks (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID), v0-2 without;
 * - limits and errors: pending offsets per partition, metadata size, stale producer epochs, the TxnVerifier.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/protocol/errors.js';
import { isTransactional, iterateRecords, batchPayload, readBatchHeader } from '../../src/protocol/records.js';
import { GroupCoordinator, MemoryOffsetsStore, OFFSETS_TOPIC, decodeKey, decodeOffsetValue, groupCoordinatorDefaults, groupMarkerListener, type TxnOffsetCommitEntry, type TxnOffsetCommitInput } from '../../src/groups/index.js';
import type { TxnVerifier } from '../../src/txn/index.js';
import { FakeTimers, join, joinAll, makeCoordinator, markerBatch, settle, silent, type Harness } from './harness.js';

const G = 'txn-group';
const PID = 7;

function txn(o: Partial<TxnOffsetCommitInput> = {}): TxnOffsetCommitInput {
  return { transactionalId: 'tx-1', groupId: G, producerId: PID, producerEpoch: 0, memberId: '', generationId: -1, groupInstanceId: null, ...o };
}

function entry(topic: string, partition: number, offset: number, metadata: string | null = null): TxnOffsetCommitEntry {
  return { topic, partition, offset, leaderEpoch: -1, metadata };
}

async function committed(h: Harness, partitions = [0, 1], groupId = G): Promise<number[]> {
  const r = await h.coordinator.fetchOffsets(groupId, [{ topic: 't', partitions }]);
  expect(r.errorCode).toBe(0);
  return r.offsets.map((o) => o.offset);
}

async function stableErrors(h: Harness, partitions = [0, 1], groupId = G): Promise<number[]> {
  const r = await h.coordinator.fetchOffsets(groupId, [{ topic: 't', partitions }], true);
  expect(r.errorCode).toBe(0);
  return r.offsets.map((o) => o.errorCode);
}

const plain = { groupId: G, generationId: -1, memberId: '', groupInstanceId: null };
const plainCommit = (partition: number, offset: number) => ({ topic: 't', partition, offset, leaderEpoch: -1, metadata: '', commitTimestamp: -1, retentionMs: -1 });

describe('pending transactional offsets', () => {
  it('are invisible to OffsetFetch until the COMMIT marker; requireStable answers UNSTABLE_OFFSET_COMMIT for their partitions only', async () => {
    const h = makeCoordinator();
    expect((await h.coordinator.commitOffsets(plain, [plainCommit(0, 5)]))[0]!.errorCode).toBe(0);
    expect((await h.coordinator.txnOffsetCommit(txn(), [entry('t', 0, 10, 'm')])).map((r) => r.errorCode)).toEqual([0]);
    expect(await committed(h)).toEqual([5, -1]);
    expect(await stableErrors(h)).toEqual([ErrorCode.UNSTABLE_OFFSET_COMMIT, 0]);
    const all = await h.coordinator.fetchOffsets(G, null, true);
    expect(all.offsets.map((o) => [o.partition, o.errorCode])).toEqual([[0, ErrorCode.UNSTABLE_OFFSET_COMMIT]]);

    const listener = groupMarkerListener(h.coordinator);
    const p = h.coordinator.partitionFor(G);
    listener('other-topic', p, { producerId: PID, producerEpoch: 0, commit: true, coordinatorEpoch: 0 }); // not its business
    expect(await stableErrors(h)).toEqual([ErrorCode.UNSTABLE_OFFSET_COMMIT, 0]);
    listener(OFFSETS_TOPIC, p, { producerId: PID, producerEpoch: 0, commit: true, coordinatorEpoch: 0 });
    expect(await committed(h)).toEqual([10, -1]);
    expect(await stableErrors(h)).toEqual([0, 0]);
    const fetched = await h.coordinator.fetchOffsets(G, [{ topic: 't', partitions: [0] }]);
    expect(fetched.offsets[0]).toMatchObject({ offset: 10, metadata: 'm' });
  });

  it('are dropped by the ABORT marker; a group that held only them is gone', async () => {
    const h = makeCoordinator();
    await h.coordinator.txnOffsetCommit(txn({ groupId: 'only-pending' }), [entry('t', 0, 3)]);
    expect(h.coordinator.stateOf('only-pending')?.state).toBe('Empty');
    await h.coordinator.txnOffsetCommit(txn(), [entry('t', 0, 10), entry('t', 1, 11)]);
    h.coordinator.completeTxn(h.coordinator.partitionFor(G), PID, false);
    h.coordinator.completeTxn(h.coordinator.partitionFor('only-pending'), PID, false);
    expect(await committed(h)).toEqual([-1, -1]);
    expect(await stableErrors(h)).toEqual([0, 0]);
    expect(h.coordinator.stateOf('only-pending')).toBeUndefined();
  });

  it('keep producers apart: one producer\'s marker completes only its own offsets, in every group of the partition', async () => {
    const h = makeCoordinator({ offsetsTopicPartitions: 1 });
    await h.coordinator.txnOffsetCommit(txn(), [entry('t', 0, 10)]);
    await h.coordinator.txnOffsetCommit(txn({ groupId: 'g2' }), [entry('t', 0, 20)]);
    await h.coordinator.txnOffsetCommit(txn({ producerId: 8, transactionalId: 'tx-2' }), [entry('t', 1, 30)]);
    h.coordinator.completeTxn(0, PID, true);
    expect(await committed(h)).toEqual([10, -1]);
    expect(await committed(h, [0], 'g2')).toEqual([20]);
    expect(await stableErrors(h)).toEqual([0, ErrorCode.UNSTABLE_OFFSET_COMMIT]);
    h.coordinator.completeTxn(0, 8, true);
    expect(await committed(h)).toEqual([10, 30]);
  });

  it('a plain commit later in the log wins over an earlier transactional one committed after it', async () => {
    const h = makeCoordinator();
    await h.coordinator.txnOffsetCommit(txn(), [entry('t', 0, 10)]);
    await h.coordinator.commitOffsets(plain, [plainCommit(0, 50)]);
    h.coordinator.completeTxn(h.coordinator.partitionFor(G), PID, true);
    expect(await committed(h, [0])).toEqual([50]);
    // The replay agrees.
    const h2 = makeCoordinator({}, { store: h.store, topicExists: true });
    await h2.coordinator.loaded();
    // The marker was never written to this store: the transaction is still open on replay.
    expect(await committed(h2, [0])).toEqual([50]);
    h2.coordinator.completeTxn(h2.coordinator.partitionFor(G), PID, true);
    expect(await committed(h2, [0])).toEqual([50]);
  });
});

describe('what is stored', () => {
  it('a transactional batch with the producer id and epoch and base sequence 0, in Kafka\'s offset record format, durable before the answer', async () => {
    const h = makeCoordinator();
    await h.coordinator.ensureOffsetsTopic();
    h.store.hold();
    let answered = false;
    const pending = h.coordinator.txnOffsetCommit(txn({ producerEpoch: 4 }), [entry('t', 1, 42, 'meta')]).then((r) => {
      answered = true;
      return r;
    });
    await settle();
    expect(answered).toBe(false);
    h.store.release();
    expect((await pending)[0]!.errorCode).toBe(0);
    const batches = h.store.partitions.get(h.coordinator.partitionFor(G))!;
    const b = batches.at(-1)!;
    const header = readBatchHeader(b, 0);
    expect(isTransactional(header.attributes)).toBe(true);
    expect(header).toMatchObject({ producerId: PID, producerEpoch: 4, baseSequence: 0, recordCount: 1 });
    const [r] = [...iterateRecords(batchPayload(b, 0, header), header)];
    expect(decodeKey(r!.key!)).toEqual({ type: 'offset', group: G, topic: 't', partition: 1 });
    expect(decodeOffsetValue(r!.value!)).toMatchObject({ offset: 42, metadata: 'meta', leaderEpoch: -1 });
  });

  it('a failed append answers NOT_COORDINATOR and leaves nothing pending', async () => {
    const h = makeCoordinator();
    await h.coordinator.ensureOffsetsTopic();
    h.store.failNext();
    expect((await h.coordinator.txnOffsetCommit(txn(), [entry('t', 0, 10)]))[0]!.errorCode).toBe(ErrorCode.NOT_COORDINATOR);
    expect(await stableErrors(h)).toEqual([0, 0]);
    h.coordinator.completeTxn(h.coordinator.partitionFor(G), PID, true);
    expect(await committed(h)).toEqual([-1, -1]);
  });

  it('a marker that lands while the append is in flight applies once the batch is durable', async () => {
    const h = makeCoordinator();
    await h.coordinator.ensureOffsetsTopic();
    h.store.hold();
    const pending = h.coordinator.txnOffsetCommit(txn(), [entry('t', 0, 10)]);
    await settle();
    h.coordinator.completeTxn(h.coordinator.partitionFor(G), PID, true);
    h.store.release();
    expect((await pending)[0]!.errorCode).toBe(0);
    expect(await committed(h)).toEqual([10, -1]);
    expect(await stableErrors(h)).toEqual([0, 0]);
  });
});

describe('replay after a restart', () => {
  async function withTxn(): Promise<{ store: MemoryOffsetsStore; timers: FakeTimers; p: number }> {
    const h = makeCoordinator();
    await h.coordinator.commitOffsets(plain, [plainCommit(0, 5)]);
    await h.coordinator.txnOffsetCommit(txn({ producerEpoch: 2 }), [entry('t', 0, 10), entry('t', 1, 11)]);
    h.coordinator.close();
    return { store: h.store, timers: h.timers, p: h.coordinator.partitionFor(G) };
  }

  it('commits the transaction whose COMMIT marker is in the log', async () => {
    const { store, timers, p } = await withTxn();
    await store.append(p, markerBatch(PID, 2, true));
    const h = makeCoordinator({}, { store, timers, topicExists: true });
    await h.coordinator.loaded();
    expect(await committed(h)).toEqual([10, 11]);
    expect(await stableErrors(h)).toEqual([0, 0]);
  });

  it('drops the transaction whose ABORT marker is in the log', async () => {
    const { store, timers, p } = await withTxn();
    await store.append(p, markerBatch(PID, 2, false));
    const h = makeCoordinator({}, { store, timers, topicExists: true });
    await h.coordinator.loaded();
    expect(await committed(h)).toEqual([5, -1]);
    expect(await stableErrors(h)).toEqual([0, 0]);
  });

  it('keeps pending a transaction whose marker is not in the log, until the marker arrives', async () => {
    const { store, timers, p } = await withTxn();
    // Another producer's marker does not complete it.
    await store.append(p, markerBatch(99, 0, true));
    const h = makeCoordinator({}, { store, timers, topicExists: true });
    await h.coordinator.loaded();
    expect(await committed(h)).toEqual([5, -1]);
    expect(await stableErrors(h)).toEqual([ErrorCode.UNSTABLE_OFFSET_COMMIT, ErrorCode.UNSTABLE_OFFSET_COMMIT]);
    h.coordinator.completeTxn(p, PID, true, 2);
    expect(await committed(h)).toEqual([10, 11]);
    // A later transaction of the same producer, then a restart with the marker appended meanwhile.
    await h.coordinator.txnOffsetCommit(txn({ producerEpoch: 2 }), [entry('t', 0, 20)]);
    await store.append(p, markerBatch(PID, 2, true));
    h.coordinator.close();
    const h2 = makeCoordinator({}, { store, timers, topicExists: true });
    await h2.coordinator.loaded();
    // The first marker was never written to this store, so the replay sees one transaction ending at the second.
    expect(await committed(h2)).toEqual([20, 11]);
  });

  it('applies a marker told while the partition loads once the load ends', async () => {
    const { store, timers, p } = await withTxn();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = {
      append: store.append.bind(store),
      read: async function* (partition: number) {
        await gate;
        yield* store.read(partition);
      },
    };
    const c = new GroupCoordinator({ config: { ...groupCoordinatorDefaults, offsetsTopicPartitions: 4 }, store: slow, timers, logger: silent, offsetsTopic: { exists: () => true, create: async () => {} } });
    c.start();
    expect((await c.txnOffsetCommit(txn(), [entry('t', 0, 1)]))[0]!.errorCode).toBe(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
    c.completeTxn(p, PID, true, 2);
    release();
    await c.loaded();
    expect((await c.fetchOffsets(G, [{ topic: 't', partitions: [0, 1] }], true)).offsets.map((o) => [o.offset, o.errorCode])).toEqual([
      [10, 0],
      [11, 0],
    ]);
    c.close();
  });

  it('plain commits keep working next to transactional batches and markers in the log', async () => {
    const { store, timers, p } = await withTxn();
    await store.append(p, markerBatch(PID, 2, false));
    const h = makeCoordinator({}, { store, timers, topicExists: true });
    await h.coordinator.loaded();
    expect((await h.coordinator.commitOffsets(plain, [plainCommit(1, 77)]))[0]!.errorCode).toBe(0);
    h.coordinator.close();
    const h2 = makeCoordinator({}, { store, timers, topicExists: true });
    await h2.coordinator.loaded();
    expect(await committed(h2)).toEqual([5, 77]);
  });
});

describe('TxnOffsetCommit member checks (v3) and errors', () => {
  async function stable(h: Harness): Promise<{ memberId: string; generationId: number }> {
    const [m] = await joinAll(h, G, [join(G, { groupInstanceId: 'inst-1' })]);
    const s = await h.coordinator.syncGroup({ groupId: G, generationId: m!.generationId, memberId: m!.memberId, groupInstanceId: 'inst-1', protocolType: null, protocolName: null, assignments: [] });
    expect(s.errorCode).toBe(0);
    return { memberId: m!.memberId, generationId: m!.generationId };
  }

  it('v3 checks generation, member and static instance; v0-2 (no member) skip them', async () => {
    const h = makeCoordinator();
    const m = await stable(h);
    const code = async (o: Partial<TxnOffsetCommitInput>): Promise<number> => (await h.coordinator.txnOffsetCommit(txn(o), [entry('t', 0, 1)]))[0]!.errorCode;
    expect(await code({ memberId: m.memberId, generationId: m.generationId + 1, groupInstanceId: 'inst-1' })).toBe(ErrorCode.ILLEGAL_GENERATION);
    expect(await code({ memberId: 'nobody', generationId: m.generationId })).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    expect(await code({ memberId: 'someone-else', generationId: m.generationId, groupInstanceId: 'inst-1' })).toBe(ErrorCode.FENCED_INSTANCE_ID);
    expect(await stableErrors(h)).toEqual([0, 0]); // nothing of the refused ones is pending
    expect(await code({ memberId: m.memberId, generationId: m.generationId, groupInstanceId: 'inst-1' })).toBe(0);
    expect(await code({})).toBe(0); // v0-2: member '' and generation -1
    // An unknown group with a v3 member: refused, and not kept.
    expect((await h.coordinator.txnOffsetCommit(txn({ groupId: 'ghost', memberId: 'm', generationId: 1 }), [entry('t', 0, 1)]))[0]!.errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    expect(h.coordinator.stateOf('ghost')).toBeUndefined();
  });

  it('bounds pending offsets per __consumer_offsets partition (INVALID_COMMIT_OFFSET_SIZE); completing frees them', async () => {
    const h = makeCoordinator({ offsetsTopicPartitions: 1, txnOffsetsPendingPerPartitionMax: 2 });
    expect((await h.coordinator.txnOffsetCommit(txn(), [entry('t', 0, 1), entry('t', 1, 1)])).map((r) => r.errorCode)).toEqual([0, 0]);
    // Replacing an offset already pending for the producer is no growth.
    expect((await h.coordinator.txnOffsetCommit(txn(), [entry('t', 1, 2)]))[0]!.errorCode).toBe(0);
    expect((await h.coordinator.txnOffsetCommit(txn({ groupId: 'g2', producerId: 8 }), [entry('t', 0, 1)]))[0]!.errorCode).toBe(ErrorCode.INVALID_COMMIT_OFFSET_SIZE);
    expect(h.coordinator.stateOf('g2')).toBeUndefined();
    h.coordinator.completeTxn(0, PID, false);
    expect((await h.coordinator.txnOffsetCommit(txn({ groupId: 'g2', producerId: 8 }), [entry('t', 0, 1)]))[0]!.errorCode).toBe(0);
  });

  it('OFFSET_METADATA_TOO_LARGE per partition; the others are stored', async () => {
    const h = makeCoordinator({ offsetMetadataBytesMax: 4 });
    const r = await h.coordinator.txnOffsetCommit(txn(), [entry('t', 0, 1, 'too long'), entry('t', 1, 2, 'ok')]);
    expect(r.map((x) => [x.partition, x.errorCode]).sort()).toEqual([
      [0, ErrorCode.OFFSET_METADATA_TOO_LARGE],
      [1, 0],
    ]);
    h.coordinator.completeTxn(h.coordinator.partitionFor(G), PID, true);
    expect(await committed(h)).toEqual([-1, 2]);
  });

  it('a stale producer epoch is INVALID_PRODUCER_EPOCH; bad ids and an empty group id are refused', async () => {
    const h = makeCoordinator();
    const p = h.coordinator.partitionFor(G);
    expect((await h.coordinator.txnOffsetCommit(txn({ producerEpoch: 3 }), [entry('t', 0, 1)]))[0]!.errorCode).toBe(0);
    expect((await h.coordinator.txnOffsetCommit(txn({ producerEpoch: 2 }), [entry('t', 0, 1)]))[0]!.errorCode).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
    // The coordinator fenced the producer: its abort marker carries the bumped epoch.
    h.coordinator.completeTxn(p, PID, false, 4);
    expect((await h.coordinator.txnOffsetCommit(txn({ producerEpoch: 3 }), [entry('t', 0, 1)]))[0]!.errorCode).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
    expect((await h.coordinator.txnOffsetCommit(txn({ producerEpoch: 4 }), [entry('t', 0, 1)]))[0]!.errorCode).toBe(0);
    expect((await h.coordinator.txnOffsetCommit(txn({ producerId: -1 }), [entry('t', 0, 1)]))[0]!.errorCode).toBe(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    expect((await h.coordinator.txnOffsetCommit(txn({ groupId: '' }), [entry('t', 0, 1)]))[0]!.errorCode).toBe(ErrorCode.INVALID_GROUP_ID);
    // After a restart the fencing epoch comes back from the marker in the log.
    await h.store.append(p, markerBatch(PID, 5, true));
    const h2 = makeCoordinator({}, { store: h.store, topicExists: true });
    await h2.coordinator.loaded();
    expect((await h2.coordinator.txnOffsetCommit(txn({ producerEpoch: 4 }), [entry('t', 0, 1)]))[0]!.errorCode).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
  });

  it('asks the TxnVerifier (KIP-890) for the group\'s partition before writing; its error is the answer', async () => {
    const h = makeCoordinator();
    const asked: unknown[][] = [];
    let answer: number = ErrorCode.INVALID_TXN_STATE;
    const verifier: TxnVerifier = {
      verifyPartition: async (...args) => {
        asked.push(args);
        return answer;
      },
    };
    h.coordinator.setTxnVerifier(verifier);
    await h.coordinator.ensureOffsetsTopic();
    const before = h.store.batchCount();
    expect((await h.coordinator.txnOffsetCommit(txn({ producerEpoch: 1 }), [entry('t', 0, 1)]))[0]!.errorCode).toBe(ErrorCode.INVALID_TXN_STATE);
    expect(h.store.batchCount()).toBe(before);
    expect(asked).toEqual([['tx-1', PID, 1, OFFSETS_TOPIC, h.coordinator.partitionFor(G)]]);
    answer = ErrorCode.NETWORK_EXCEPTION; // Kafka turns it into a retriable error older clients know
    expect((await h.coordinator.txnOffsetCommit(txn({ producerEpoch: 1 }), [entry('t', 0, 1)]))[0]!.errorCode).toBe(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
    answer = ErrorCode.NONE;
    expect((await h.coordinator.txnOffsetCommit(txn({ producerEpoch: 1 }), [entry('t', 0, 1)]))[0]!.errorCode).toBe(0);
    h.coordinator.setTxnVerifier(null);
    expect((await h.coordinator.txnOffsetCommit(txn({ producerEpoch: 1 }), [entry('t', 1, 1)]))[0]!.errorCode).toBe(0);
    expect(asked).toHaveLength(3);
  });
});
