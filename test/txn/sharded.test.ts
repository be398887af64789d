/**
 * The transaction coordinator on the sharded broker (3 shards in this process): from connections on every shard,
 * transactional ids whose `__transaction_state` partition lives on any shard go through init, add, describe and
 * end (the calls are forwarded over the shard links: ShardTxn), ListTransactions from one connection lists the
 * ids of every shard, and idempotent producer ids from different shards come from different blocks, all
 * distinct.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/broker/config.js';
import { ShardedBroker } from '../../src/shard/supervisor.js';
import { ApiKey } from '../../src/protocol/messages/index.js';
import { PRODUCER_ID_BLOCK_SIZE } from '../../src/txn/index.js';
import { connectionsOnEveryShard, createTopic, silent, sleep, tempDataDir } from '../kafka/helpers.js';

const open: ShardedBroker[] = [];
afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((b) => b.close()));
});

type Stats = { shard: number; connections: number; links: { peer: number; callsSent: number; callsServed: number }[] };

describe('transactions on 3 shards', () => {
  it('ids on every shard are served from any connection; ListTransactions sees them all; producer ids are distinct across shards', async () => {
    const b = await ShardedBroker.start(resolveConfig({ listen: '127.0.0.1:0', dataDir: tempDataDir('tern-txn-shards-'), logLevel: 'silent', smp: 3, transactionStateTopicPartitions: 6 }), silent);
    open.push(b);
    const port = b.listenAddress.port;
    const clients = await connectionsOnEveryShard(b, port);
    await createTopic(clients[0]!, 'sh', 3);
    expect((await clients[0]!.request(ApiKey.FindCoordinator, 1, { key: 'x', keyType: 1 })).errorCode).toBe(0);

    const before = ((await b.stats()) as Stats[]).reduce((n, s) => n + s.links.reduce((m, l) => m + l.callsSent, 0), 0);
    const ids: string[] = [];
    for (let i = 0; i < clients.length; i++) {
      const c = clients[i]!;
      const id = `sharded-${i}`;
      ids.push(id);
      let p = { errorCode: -1, producerId: -1, producerEpoch: -1 };
      for (let attempt = 0; attempt < 50 && p.errorCode !== 0; attempt++) {
        p = await c.request(ApiKey.InitProducerId, 1, { transactionalId: id, transactionTimeoutMs: 60_000 });
        if (p.errorCode !== 0) await sleep(20); // the state partition may still be loading
      }
      expect(p.errorCode).toBe(0);
      const added = await c.request(ApiKey.AddPartitionsToTxn, 1, { v3AndBelowTransactionalId: id, v3AndBelowProducerId: p.producerId, v3AndBelowProducerEpoch: p.producerEpoch, v3AndBelowTopics: [{ name: 'sh', partitions: [i % 3] }] });
      expect(added.resultsByTopicV3AndBelow[0].resultsByPartition[0].partitionErrorCode).toBe(0);
      // Described through another connection (most likely another shard).
      const d = await clients[(i + 1) % clients.length]!.request(ApiKey.DescribeTransactions, 0, { transactionalIds: [id] });
      expect(d.transactionStates[0]).toMatchObject({ errorCode: 0, transactionState: 'Ongoing', producerId: p.producerId, topics: [{ topic: 'sh', partitions: [i % 3] }] });
      expect((await c.request(ApiKey.EndTxn, 1, { transactionalId: id, producerId: p.producerId, producerEpoch: p.producerEpoch, committed: i % 2 === 0 })).errorCode).toBe(0);
    }
    const after = ((await b.stats()) as Stats[]).reduce((n, s) => n + s.links.reduce((m, l) => m + l.callsSent, 0), 0);
    expect(after).toBeGreaterThan(before); // some calls crossed shards

    let listed: string[] = [];
    for (let attempt = 0; attempt < 100; attempt++) {
      const l = await clients[0]!.request(ApiKey.ListTransactions, 1, { stateFilters: ['CompleteCommit', 'CompleteAbort'], producerIdFilters: [], durationFilter: -1 });
      listed = l.transactionStates.map((t: { transactionalId: string }) => t.transactionalId).filter((t: string) => t.startsWith('sharded-'));
      if (listed.length === ids.length) break;
      await sleep(20);
    }
    expect(listed.sort()).toEqual([...ids].sort());

    const pids: number[] = [];
    for (const c of clients) pids.push((await c.request(ApiKey.InitProducerId, 0, { transactionalId: null, transactionTimeoutMs: 1 })).producerId);
    expect(new Set(pids).size).toBe(pids.length);
    // Every shard allocates from its own block.
    expect(new Set(pids.map((id) => Math.floor(id / PRODUCER_ID_BLOCK_SIZE))).size).toBe(3);
  }, 60_000);
});
