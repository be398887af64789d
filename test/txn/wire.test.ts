/**
 * The transaction APIs through a real socket and the generated codecs, on an in-process broker: FindCoordinator
 * for a transactional id creates `__transaction_state` (internal, compacted, its partition count), the versions
 * advertised (AddPartitionsToTxn <= 3: v4+ is the broker-only batched form; InitProducerId/EndTxn <= 4),
 * per-version error mapping (PRODUCER_FENCED below v2/v4 is INVALID_PRODUCER_EPOCH), KIP-360 on the wire,
 * unknown partitions, Describe/ListTransactions, and the state and producer ids surviving a restart.
 */
import { describe, expect, it } from 'vitest';
import { ApiKey } from '../../src/protocol/messages/index.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { createTopic, metadata, testBroker, WireClient } from '../kafka/helpers.js';
import { PRODUCER_ID_BLOCK_SIZE } from '../../src/txn/index.js';

async function setup(): Promise<{ c: WireClient; tb: Awaited<ReturnType<typeof testBroker>> }> {
  const tb = await testBroker({ transactionStateTopicPartitions: 5, offsetsTopicPartitions: 3 });
  const c = await WireClient.connect(tb.port);
  await createTopic(c, 'wt', 2);
  return { c, tb };
}

function initBody(id: string | null, o: Record<string, unknown> = {}): Record<string, unknown> {
  return { transactionalId: id, transactionTimeoutMs: 60_000, producerId: -1, producerEpoch: -1, ...o };
}

function addBody(id: string, p: { producerId: number; producerEpoch: number }, topics: { name: string; partitions: number[] }[]): Record<string, unknown> {
  return { v3AndBelowTransactionalId: id, v3AndBelowProducerId: p.producerId, v3AndBelowProducerEpoch: p.producerEpoch, v3AndBelowTopics: topics };
}

function codes(resp: { resultsByTopicV3AndBelow: { name: string; resultsByPartition: { partitionIndex: number; partitionErrorCode: number }[] }[] }): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of resp.resultsByTopicV3AndBelow) for (const p of t.resultsByPartition) out[`${t.name}-${p.partitionIndex}`] = p.partitionErrorCode;
  return out;
}

describe('transaction APIs on the wire', () => {
  it('advertises InitProducerId 0-4, AddPartitionsToTxn 0-3, AddOffsetsToTxn 0-3, EndTxn 0-4, DescribeTransactions 0, ListTransactions 0-1', async () => {
    const { c } = await setup();
    const v = await c.request(ApiKey.ApiVersions, 0, {});
    const range = (k: number): [number, number] => {
      const e = v.apiKeys.find((a: { apiKey: number }) => a.apiKey === k);
      return [e.minVersion, e.maxVersion];
    };
    expect(range(ApiKey.InitProducerId)).toEqual([0, 4]);
    expect(range(ApiKey.AddPartitionsToTxn)).toEqual([0, 3]);
    expect(range(ApiKey.AddOffsetsToTxn)).toEqual([0, 3]);
    expect(range(ApiKey.EndTxn)).toEqual([0, 4]);
    expect(range(ApiKey.DescribeTransactions)).toEqual([0, 0]);
    expect(range(ApiKey.ListTransactions)).toEqual([0, 1]);
  });

  it('FindCoordinator for a transactional id creates __transaction_state (internal, compacted) and names this node', async () => {
    const { c, tb } = await setup();
    const before = await metadata(c, 9, null);
    expect(before.topics.map((t: { name: string }) => t.name)).not.toContain('__transaction_state');
    const fc = await c.request(ApiKey.FindCoordinator, 1, { key: 'my-txn', keyType: 1 });
    expect(fc).toMatchObject({ errorCode: 0, port: tb.port });
    const md = await metadata(c, 9, null);
    const internal = md.topics.find((t: { name: string }) => t.name === '__transaction_state');
    expect(internal).toMatchObject({ isInternal: true });
    expect(internal.partitions).toHaveLength(5);
    const cfg = await c.request(ApiKey.DescribeConfigs, 1, { resources: [{ resourceType: 2, resourceName: '__transaction_state', configurationKeys: ['cleanup.policy'] }], includeSynonyms: false });
    expect(cfg.results[0].configs[0]).toMatchObject({ name: 'cleanup.policy', value: 'compact' });
  });

  it('InitProducerId: idempotent ids are unique; transactional ones fence; KIP-360 bumps; versions map PRODUCER_FENCED', async () => {
    const { c } = await setup();
    const a = await c.request(ApiKey.InitProducerId, 0, initBody(null));
    const b = await c.request(ApiKey.InitProducerId, 4, initBody(null));
    expect(a).toMatchObject({ errorCode: 0, producerEpoch: 0 });
    expect(b.producerId).not.toBe(a.producerId);
    const bumped = await c.request(ApiKey.InitProducerId, 3, initBody(null, { producerId: b.producerId, producerEpoch: 0 }));
    expect(bumped).toMatchObject({ errorCode: 0, producerId: b.producerId, producerEpoch: 1 });
    expect((await c.request(ApiKey.InitProducerId, 3, initBody(null, { producerId: 5, producerEpoch: -1 }))).errorCode).toBe(ErrorCode.INVALID_REQUEST);
    expect((await c.request(ApiKey.InitProducerId, 1, initBody('t', { transactionTimeoutMs: 900_001 }))).errorCode).toBe(ErrorCode.INVALID_TRANSACTION_TIMEOUT);

    const p0 = await c.request(ApiKey.InitProducerId, 4, initBody('t'));
    expect(p0).toMatchObject({ errorCode: 0, producerEpoch: 0 });
    const p1 = await c.request(ApiKey.InitProducerId, 4, initBody('t'));
    expect(p1).toMatchObject({ errorCode: 0, producerId: p0.producerId, producerEpoch: 1 });
    // The fenced producer's KIP-360 bump: PRODUCER_FENCED at v4, INVALID_PRODUCER_EPOCH at v3.
    expect((await c.request(ApiKey.InitProducerId, 4, initBody('t', { producerId: p0.producerId, producerEpoch: 0 }))).errorCode).toBe(ErrorCode.PRODUCER_FENCED);
    expect((await c.request(ApiKey.InitProducerId, 3, initBody('t', { producerId: p0.producerId, producerEpoch: 0 }))).errorCode).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
    // EndTxn and AddPartitions of the fenced producer, per version.
    const endBody = { transactionalId: 't', producerId: p0.producerId, producerEpoch: 0, committed: true };
    expect((await c.request(ApiKey.EndTxn, 1, endBody)).errorCode).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
    expect((await c.request(ApiKey.EndTxn, 3, endBody)).errorCode).toBe(ErrorCode.PRODUCER_FENCED);
    expect(codes(await c.request(ApiKey.AddPartitionsToTxn, 0, addBody('t', p0, [{ name: 'wt', partitions: [0] }])))).toEqual({ 'wt-0': ErrorCode.INVALID_PRODUCER_EPOCH });
    expect(codes(await c.request(ApiKey.AddPartitionsToTxn, 3, addBody('t', p0, [{ name: 'wt', partitions: [0] }])))).toEqual({ 'wt-0': ErrorCode.PRODUCER_FENCED });
    const ao = { transactionalId: 't', producerId: p0.producerId, producerEpoch: 0, groupId: 'g' };
    expect((await c.request(ApiKey.AddOffsetsToTxn, 0, ao)).errorCode).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
    expect((await c.request(ApiKey.AddOffsetsToTxn, 3, ao)).errorCode).toBe(ErrorCode.PRODUCER_FENCED);
  });

  it('a commit round trip; unknown partitions are refused without touching the transaction; describe and list show it', async () => {
    const { c } = await setup();
    const p = await c.request(ApiKey.InitProducerId, 1, initBody('rt'));
    const bad = codes(await c.request(ApiKey.AddPartitionsToTxn, 1, addBody('rt', p, [{ name: 'wt', partitions: [0, 7] }, { name: 'nope', partitions: [0] }])));
    expect(bad).toEqual({ 'wt-0': ErrorCode.OPERATION_NOT_ATTEMPTED, 'wt-7': ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, 'nope-0': ErrorCode.UNKNOWN_TOPIC_OR_PARTITION });
    expect(codes(await c.request(ApiKey.AddPartitionsToTxn, 1, addBody('rt', p, [{ name: 'wt', partitions: [0, 1] }])))).toEqual({ 'wt-0': 0, 'wt-1': 0 });
    expect((await c.request(ApiKey.AddOffsetsToTxn, 1, { transactionalId: 'rt', producerId: p.producerId, producerEpoch: p.producerEpoch, groupId: 'grp' })).errorCode).toBe(0);
    const d = await c.request(ApiKey.DescribeTransactions, 0, { transactionalIds: ['rt', 'missing'] });
    expect(d.transactionStates[0]).toMatchObject({ errorCode: 0, transactionalId: 'rt', transactionState: 'Ongoing', producerId: p.producerId, producerEpoch: p.producerEpoch, transactionTimeoutMs: 60_000 });
    expect(d.transactionStates[0].topics.map((t: { topic: string }) => t.topic).sort()).toEqual(['__consumer_offsets', 'wt']);
    expect(d.transactionStates[1].errorCode).toBe(ErrorCode.TRANSACTIONAL_ID_NOT_FOUND);
    const l = await c.request(ApiKey.ListTransactions, 1, { stateFilters: ['Ongoing', 'Nope'], producerIdFilters: [], durationFilter: -1 });
    expect(l).toMatchObject({ errorCode: 0, unknownStateFilters: ['Nope'], transactionStates: [{ transactionalId: 'rt', producerId: p.producerId, transactionState: 'Ongoing' }] });
    const end = await c.request(ApiKey.EndTxn, 1, { transactionalId: 'rt', producerId: p.producerId, producerEpoch: p.producerEpoch, committed: true });
    expect(end.errorCode).toBe(0);
    // Bounded wait for the markers and the Complete record.
    let state = '';
    for (let i = 0; i < 100 && state !== 'CompleteCommit'; i++) {
      state = (await c.request(ApiKey.DescribeTransactions, 0, { transactionalIds: ['rt'] })).transactionStates[0].transactionState;
      if (state !== 'CompleteCommit') await new Promise((r) => setTimeout(r, 20));
    }
    expect(state).toBe('CompleteCommit');
    expect((await c.request(ApiKey.EndTxn, 1, { transactionalId: 'rt', producerId: p.producerId, producerEpoch: p.producerEpoch, committed: true })).errorCode).toBe(0);
    expect((await c.request(ApiKey.EndTxn, 1, { transactionalId: 'rt', producerId: p.producerId, producerEpoch: p.producerEpoch, committed: false })).errorCode).toBe(ErrorCode.INVALID_TXN_STATE);
  });

  it('transactional state and producer ids survive a restart: no producer id is handed out twice', async () => {
    const { c, tb } = await setup();
    const idem = await c.request(ApiKey.InitProducerId, 0, initBody(null));
    const p = await c.request(ApiKey.InitProducerId, 1, initBody('durable'));
    expect(codes(await c.request(ApiKey.AddPartitionsToTxn, 1, addBody('durable', p, [{ name: 'wt', partitions: [1] }])))).toEqual({ 'wt-1': 0 });
    c.destroy();
    const tb2 = await tb.restart();
    const c2 = await WireClient.connect(tb2.port);
    let d: { errorCode: number; transactionState: string; producerId: number; producerEpoch: number } | undefined;
    for (let i = 0; i < 100; i++) {
      d = (await c2.request(ApiKey.DescribeTransactions, 0, { transactionalIds: ['durable'] })).transactionStates[0];
      if (d!.errorCode !== ErrorCode.COORDINATOR_LOAD_IN_PROGRESS) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(d).toMatchObject({ errorCode: 0, transactionState: 'Ongoing', producerId: p.producerId, producerEpoch: p.producerEpoch });
    const fresh = await c2.request(ApiKey.InitProducerId, 0, initBody(null));
    expect(fresh.producerId).toBeGreaterThanOrEqual(Math.floor(Math.max(idem.producerId, p.producerId) / PRODUCER_ID_BLOCK_SIZE + 1) * PRODUCER_ID_BLOCK_SIZE);
    // The producer of the open transaction can still commit it after the restart.
    expect((await c2.request(ApiKey.EndTxn, 1, { transactionalId: 'durable', producerId: p.producerId, producerEpoch: p.producerEpoch, committed: true })).errorCode).toBe(0);
  });
});
