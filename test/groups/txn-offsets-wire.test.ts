/**
 * TxnOffsetCommit on the wire (generated codecs, real sockets) over the broker's own `__consumer_offsets` logs:
 * - v0 (no member) and v3 (flexible, member checked) answers; unknown topics, an empty group id;
 * - OffsetFetch v7 requireStable answers UNSTABLE_OFFSET_COMMIT while offsets are pending, v6 the committed value;
 * - each transaction is begun as a client would (InitProducerId, AddOffsetsToTxn: the coordinator verifies the
 *   group's partition is in it, KIP-890); EndTxn's COMMIT marker completes the offsets; a restart replays the
 *   transactional batch from the log, pending without its marker, committed with it;
 * - on the sharded broker (3 shards in this process), a commit sent on any connection reaches the shard owning
 *   the group's `__consumer_offsets` partition: every connection then sees the offsets pending there.
 */
import { describe, expect, it, afterEach } from 'vitest';
import { ApiKey } from '../../src/protocol/messages/index.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { resolveConfig } from '../../src/broker/config.js';
import { ShardedBroker } from '../../src/shard/supervisor.js';
import { partitionForGroup } from '../../src/groups/index.js';
import type { Broker } from '../../src/broker/broker.js';
import { connectionsOnEveryShard, createTopic, silent, sleep, tempDataDir, testBroker, WireClient } from '../kafka/helpers.js';

async function waitUntil(probe: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

interface Txn {
  transactionalId: string;
  producerId: number;
  producerEpoch: number;
}

/** A transaction that the group's offsets were added to, begun as clients do. */
async function beginOffsets(c: WireClient, transactionalId: string, groupId: string): Promise<Txn> {
  expect((await c.request(ApiKey.FindCoordinator, 1, { key: transactionalId, keyType: 1 })).errorCode).toBe(0);
  const init = await c.request(ApiKey.InitProducerId, 1, { transactionalId, transactionTimeoutMs: 60_000 });
  expect(init.errorCode).toBe(0);
  const txn = { transactionalId, producerId: Number(init.producerId), producerEpoch: init.producerEpoch as number };
  expect((await c.request(ApiKey.AddOffsetsToTxn, 1, { ...txn, groupId })).errorCode).toBe(0);
  return txn;
}

function txnBody(txn: Txn, groupId: string, offsets: number[], o: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ...txn,
    groupId,
    topics: [{ name: 'tw', partitions: offsets.map((committedOffset, partitionIndex) => ({ partitionIndex, committedOffset, committedLeaderEpoch: -1, committedMetadata: 'md' })) }],
    ...o,
  };
}

type PartitionAnswer = { partitionIndex: number; errorCode: number; committedOffset: number | bigint };

async function fetchV(c: WireClient, groupId: string, version: number, requireStable: boolean): Promise<[number, number][]> {
  const r = await c.request(ApiKey.OffsetFetch, version, { groupId, topics: [{ name: 'tw', partitionIndexes: [0, 1] }], requireStable });
  expect(r.errorCode).toBe(0);
  return (r.topics[0].partitions as PartitionAnswer[]).map((p) => [Number(p.committedOffset), p.errorCode]);
}

function codes(r: { topics: { partitions: { errorCode: number }[] }[] }): number[] {
  return r.topics.flatMap((t) => t.partitions.map((p) => p.errorCode));
}

describe('TxnOffsetCommit on the wire (single process)', () => {
  it('v0 and v3 answers, per-partition errors, requireStable, completion, and replay from the log after a restart', async () => {
    let tb = await testBroker({ offsetsTopicPartitions: 3, groupInitialRebalanceDelayMs: 0 });
    let c = await WireClient.connect(tb.port);
    await createTopic(c, 'tw', 2);
    expect((await c.request(ApiKey.FindCoordinator, 0, { key: 'wg' })).errorCode).toBe(0);
    const txn = await beginOffsets(c, 'wire-tx', 'wg');
    // A group whose partition was not added to the transaction: the coordinator's verification refuses it.
    const notAdded = await c.request(ApiKey.TxnOffsetCommit, 0, txnBody(txn, 'other-group', [1, 1]));
    expect(codes(notAdded).every((e) => e !== 0)).toBe(true);

    const v0 = await c.request(ApiKey.TxnOffsetCommit, 0, txnBody(txn, 'wg', [10, 11]));
    expect(codes(v0)).toEqual([0, 0]);
    const unknown = await c.request(ApiKey.TxnOffsetCommit, 3, { ...txnBody(txn, 'wg', [1]), topics: [{ name: 'nope', partitions: [{ partitionIndex: 0, committedOffset: 1, committedMetadata: null }] }] });
    expect(codes(unknown)).toEqual([ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]);
    const noGroup = await c.request(ApiKey.TxnOffsetCommit, 1, txnBody(txn, '', [1]));
    expect(codes(noGroup)).toEqual([ErrorCode.INVALID_GROUP_ID]);
    // v3 carries a member: a member id the group does not know is refused (v0 could not even say one).
    const v3 = await c.request(ApiKey.TxnOffsetCommit, 3, txnBody(txn, 'wg', [12], { memberId: 'stranger', generationId: 1, groupInstanceId: null }));
    expect(codes(v3)).toEqual([ErrorCode.UNKNOWN_MEMBER_ID]);

    expect(await fetchV(c, 'wg', 7, true)).toEqual([
      [-1, ErrorCode.UNSTABLE_OFFSET_COMMIT],
      [-1, ErrorCode.UNSTABLE_OFFSET_COMMIT],
    ]);
    expect(await fetchV(c, 'wg', 6, true)).toEqual([
      [-1, 0],
      [-1, 0],
    ]);

    // A restart: the transactional batch comes back from the log, still pending (no marker there).
    c.destroy();
    tb = await tb.restart();
    c = await WireClient.connect(tb.port);
    const groups = (tb.broker as Broker).groups;
    await groups.loaded();
    expect(await fetchV(c, 'wg', 7, true)).toEqual([
      [-1, ErrorCode.UNSTABLE_OFFSET_COMMIT],
      [-1, ErrorCode.UNSTABLE_OFFSET_COMMIT],
    ]);
    // The transaction coordinator replays `__transaction_state` in the background too: until it is done, EndTxn
    // answers COORDINATOR_LOAD_IN_PROGRESS (a client retries it).
    await (tb.broker as Broker).txn.loaded();
    // The transaction (reloaded by its coordinator too) commits: its marker lands on the group's partition.
    expect((await c.request(ApiKey.EndTxn, 1, { ...txn, committed: true })).errorCode).toBe(0);
    await waitUntil(async () => (await fetchV(c, 'wg', 7, true))[0]![1] === 0);
    expect(await fetchV(c, 'wg', 7, true)).toEqual([
      [10, 0],
      [11, 0],
    ]);
    // And again after a restart: the marker is in the log now.
    c.destroy();
    tb = await tb.restart();
    c = await WireClient.connect(tb.port);
    await (tb.broker as Broker).groups.loaded();
    expect(await fetchV(c, 'wg', 7, true)).toEqual([
      [10, 0],
      [11, 0],
    ]);
    c.destroy();
  });
});

describe('TxnOffsetCommit on the sharded broker', () => {
  const open: ShardedBroker[] = [];
  afterEach(async () => {
    await Promise.allSettled(open.splice(0).map((b) => b.close()));
  });

  it('a commit from a connection on any shard reaches the shard owning the group\'s __consumer_offsets partition', async () => {
    const b = await ShardedBroker.start(resolveConfig({ listen: '127.0.0.1:0', dataDir: tempDataDir('tern-txn-shards-'), logLevel: 'silent', smp: 3 }), silent);
    open.push(b);
    const port = b.listenAddress.port;
    // A connection on every shard (throws when 60 connections do not reach them all).
    const conns = await connectionsOnEveryShard(b, port);
    const first = conns[0]!;
    await createTopic(first, 'tw', 2);
    expect((await first.request(ApiKey.FindCoordinator, 0, { key: 'sg-0' })).errorCode).toBe(0);
    type Stats = { connections: number; links: { callsServed: number }[] };
    const groups = Array.from({ length: 6 }, (_, i) => `sg-${i}`);
    const owners = new Set(groups.map((g) => b.table.owner('__consumer_offsets', partitionForGroup(g, 50))));
    expect(owners.size, 'the groups are coordinated on several shards').toBeGreaterThan(1);
    const served = async (): Promise<number> => ((await b.stats()) as Stats[]).reduce((n, s) => n + s.links.reduce((m, l) => m + l.callsServed, 0), 0);
    const before = await served();
    // Each group's commit from a different connection (so from every shard).
    for (const [i, g] of groups.entries()) {
      const c = conns[i % conns.length]!;
      const txn = await beginOffsets(c, `sharded-tx-${i}`, g);
      expect(codes(await c.request(ApiKey.TxnOffsetCommit, 3, txnBody(txn, g, [100 + i, 200 + i], { memberId: '', generationId: -1, groupInstanceId: null })))).toEqual([0, 0]);
    }
    expect(await served(), 'commits forwarded to their coordinator shards').toBeGreaterThan(before);
    // Every connection sees each group's offsets pending at its coordinator, and not committed.
    for (const c of conns) {
      for (const g of groups) {
        expect(await fetchV(c, g, 7, true)).toEqual([
          [-1, ErrorCode.UNSTABLE_OFFSET_COMMIT],
          [-1, ErrorCode.UNSTABLE_OFFSET_COMMIT],
        ]);
        expect(await fetchV(c, g, 7, false)).toEqual([
          [-1, 0],
          [-1, 0],
        ]);
      }
    }
    for (const c of conns) c.destroy();
  });
});
