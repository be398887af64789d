/**
 * The thread-per-core broker (src/shard/supervisor.ts) in this process with 3 shards, through real Kafka
 * requests: kafkajs 2.2.4 (a client nobody here wrote) and the suite's wire client for requests kafkajs cannot
 * shape (one Fetch spanning every shard).
 *
 * - ownership: partitions spread evenly; each shard opens only its own.
 * - a Produce and a Fetch spanning all shards, answered from the connection's shard (cross-shard calls counted).
 * - cross-shard fetch answers through the owner's bulk arena (kafkajs reads them); runs held while a socket is not
 *   read, the ring used when an arena is full, every block handed back (closed connections included).
 * - cross-shard produce records and cached fetch batches handed over by reference (no ring or arena bytes), and
 *   still intact in the owners' caches after the shard whose sockets read them died.
 * - topic admin through any connection is visible on every shard once answered.
 * - a shard crash under acks=all load: restarted, its partitions recovered, no acknowledged record lost.
 * - clean shutdown: stops accepting, drains, syncs, leaves each shard's clean marker; a restart needs no scan.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { resolveConfig, type BrokerOptions } from '../../src/broker/config.js';
import { ShardedBroker } from '../../src/shard/supervisor.js';
import type { ShardLink } from '../../src/shard/rpc.js';
import { ApiKey } from '../../src/protocol/messages/index.js';
import { FETCH_V, WireClient, connectionsOnEveryShard, createTopic, decodeBatches, fetchBody, metadata, recordsOf, silent, sleep, tempDataDir } from '../kafka/helpers.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

const open: ShardedBroker[] = [];
afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((b) => b.close()));
});

async function start(dataDir = tempDataDir('tern-shards-'), smp = 3, shardChannelBytes?: number, more: BrokerOptions = {}): Promise<{ b: ShardedBroker; port: number; dataDir: string }> {
  const b = await ShardedBroker.start(resolveConfig({ listen: '127.0.0.1:0', dataDir, logLevel: 'silent', smp, shardChannelBytes, ...more }), silent);
  open.push(b);
  return { b, port: b.listenAddress.port, dataDir };
}

type Stats = {
  shard: number;
  partitions: number;
  connections: number;
  links: ({ peer: number } & ShardLink['stats'])[];
};

type LinkCounter = keyof ShardLink['stats'];

/** Sums a link counter over every shard's links. */
async function linkTotal(b: ShardedBroker, key: LinkCounter): Promise<number> {
  return ((await b.stats()) as Stats[]).reduce((n, s) => n + s.links.reduce((m, l) => m + l[key], 0), 0);
}

/** Waits (bounded) until every shard has every bulk block back. */
async function allBlocksBack(b: ShardedBroker): Promise<number> {
  let lent = await linkTotal(b, 'bulkBlocksLent');
  for (let i = 0; i < 100 && lent > 0; i++) {
    await sleep(20);
    lent = await linkTotal(b, 'bulkBlocksLent');
  }
  return lent;
}

/** Creates a topic through kafkajs's admin client. */
async function adminCreateTopic(port: number, topic: string, numPartitions: number): Promise<void> {
  const admin = kafkaFor(port).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions }] });
  await admin.disconnect();
}

/** A Fetch body for partitions 0..partitions-1 of `topic`, each from `offset`. */
function fetchAcross(topic: string, partitions: number, offset: number, o: Parameters<typeof fetchBody>[3] = {}): ReturnType<typeof fetchBody> {
  const body = fetchBody(topic, 0, offset, o);
  body.topics[0]!.partitions = Array.from({ length: partitions }, (_, p) => ({ ...body.topics[0]!.partitions[0]!, partition: p }));
  return body;
}

/** `n` values of `size` bytes, distinct per partition and index. */
function bulkValues(partition: number, n: number, size: number): string[] {
  return Array.from({ length: n }, (_, i) => `${partition}:${i}:`.padEnd(size, String.fromCharCode(97 + ((partition * 7 + i) % 26))));
}

function kafkaFor(port: number): Kafka {
  return new Kafka({ clientId: 'tern-shards', brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING, retry: { retries: 20, initialRetryTime: 50, maxRetryTime: 500 } });
}

describe('sharded broker (3 shards in this process)', () => {
  it('places partitions evenly and each shard opens only its own', async () => {
    const { b, port } = await start();
    const c = await WireClient.connect(port);
    await createTopic(c, 'even', 9);
    await createTopic(c, 'odd', 4);
    const counts = [...b.table.counts()];
    expect(counts.reduce((s, n) => s + n, 0)).toBe(13);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    const stats = (await b.stats()) as Stats[];
    expect(stats.map((s) => s.partitions)).toEqual(counts);
  });

  it('places a new partition on the least loaded shard when partition counts tie', async () => {
    const { b, port } = await start();
    const c = await WireClient.connect(port);
    await createTopic(c, 'hot', 3);
    const idle = b.table.owner('hot', 2)!;
    for (let p = 0; p < 3; p++) {
      if (b.table.owner('hot', p) === idle) continue;
      for (let i = 0; i < 20; i++) {
        const r = await c.request(ApiKey.Produce, 7, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: 'hot', partitionData: [{ index: p, records: recordsOf(['x'.repeat(10_000)]) }] }] });
        expect(r.responses[0].partitionResponses[0].errorCode).toBe(0);
      }
    }
    await b.sampleLoad();
    await createTopic(c, 'next', 1);
    expect(b.table.owner('next', 0)).toBe(idle);
  });

  it('serves a Produce and a Fetch that span every shard from the connection\'s shard', async () => {
    const { b, port } = await start();
    await adminCreateTopic(port, 'span', 6);
    const owners = Array.from({ length: 6 }, (_, p) => b.table.owner('span', p));
    expect(new Set(owners).size).toBe(3);

    // kafkajs sends one Produce per broker: all six partitions in one request.
    const producer = kafkaFor(port).producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const res = await producer.send({ topic: 'span', acks: -1, messages: Array.from({ length: 6 }, (_, p) => ({ partition: p, value: `v${p}` })) });
    await producer.disconnect();
    expect(res.map((r) => [r.partition, r.errorCode, r.baseOffset]).sort()).toEqual(Array.from({ length: 6 }, (_, p) => [p, 0, '0']).sort());

    // One Fetch for all six partitions, on every connection of several (so from every shard).
    const clients = await connectionsOnEveryShard(b, port);
    for (const c of clients) {
      const f = await c.request(ApiKey.Fetch, FETCH_V, fetchAcross('span', 6, 0));
      const parts = f.responses[0].partitions as { partitionIndex: number; errorCode: number; highWatermark: bigint | number; records: Buffer | Buffer[] | null }[];
      expect(parts.map((p) => p.partitionIndex)).toEqual([0, 1, 2, 3, 4, 5]);
      for (const p of parts) {
        expect(p.errorCode).toBe(0);
        expect(Number(p.highWatermark)).toBe(1);
        expect(decodeBatches(p.records).flatMap((x) => x.records.map((r) => r.value))).toEqual([`v${p.partitionIndex}`]);
      }
    }
    // Every shard both asked others and served others.
    const stats = (await b.stats()) as Stats[];
    for (const s of stats) {
      expect(s.links.reduce((n, l) => n + l.callsSent, 0), `shard ${s.shard} forwarded`).toBeGreaterThan(0);
      expect(s.links.reduce((n, l) => n + l.callsServed, 0), `shard ${s.shard} served`).toBeGreaterThan(0);
    }
  });

  it('long-polls across shards: a Fetch waiting on partitions of other shards wakes on their append', async () => {
    const { b, port } = await start();
    const c = await WireClient.connect(port);
    await createTopic(c, 'poll', 3);
    const body = fetchAcross('poll', 3, 0, { maxWaitMs: 10_000, minBytes: 1 });
    const started = Date.now();
    const waiting = c.request(ApiKey.Fetch, FETCH_V, body);
    await sleep(200);
    const other = await WireClient.connect(port);
    for (let p = 0; p < 3; p++) expect(b.table.owner('poll', p)).toBeDefined();
    const prod = await other.request(ApiKey.Produce, 7, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: 'poll', partitionData: [{ index: 2, records: recordsOf(['wake']) }] }] });
    expect(prod.responses[0].partitionResponses[0].errorCode).toBe(0);
    const f = await waiting;
    expect(Date.now() - started).toBeLessThan(5_000);
    const p2 = f.responses[0].partitions.find((p: { partitionIndex: number }) => p.partitionIndex === 2);
    expect(decodeBatches(p2.records).flatMap((x) => x.records.map((r) => r.value))).toEqual(['wake']);
  });

  it('serves cross-shard fetches from the owner\'s bulk arena: kafkajs reads every record, every block comes back', async () => {
    // By-reference sharing off: cached batches then go through the arena (with it on, they are shared; below).
    const { b, port } = await start(undefined, 3, undefined, { shardShareMemory: false });
    await adminCreateTopic(port, 'bulk', 3);
    const producer = kafkaFor(port).producer({ allowAutoTopicCreation: false });
    await producer.connect();
    for (let p = 0; p < 3; p++) {
      for (let k = 0; k < 3; k++) await producer.send({ topic: 'bulk', acks: -1, messages: bulkValues(p, 300, 1000).slice(100 * k, 100 * k + 100).map((value) => ({ partition: p, value })) });
    }
    await producer.disconnect();
    const consumer = kafkaFor(port).consumer({ groupId: 'bulk-readers', maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic: 'bulk', fromBeginning: true });
    const got = new Map<number, string[]>([[0, []], [1, []], [2, []]]);
    let count = 0;
    const done = new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: async ({ partition, message }) => {
          got.get(partition)!.push(message.value!.toString());
          if (++count === 900) resolve();
        },
      });
    });
    await done;
    await consumer.disconnect();
    for (let p = 0; p < 3; p++) expect(got.get(p)).toEqual(bulkValues(p, 300, 1000));
    // Whichever shard kafkajs's connection landed on, two of the three partitions were read across shards, in
    // answers of ~300 KB: through the arenas.
    expect(await linkTotal(b, 'bulkAnswers')).toBeGreaterThan(0);
    expect(await allBlocksBack(b)).toBe(0);
  });

  it('reads cold cross-shard answers straight into the arena: after a restart (empty batch caches) owners copy no record bytes', async () => {
    const dataDir = tempDataDir('tern-shards-');
    const first = await start(dataDir);
    await adminCreateTopic(first.port, 'cold', 3);
    const producer = kafkaFor(first.port).producer({ allowAutoTopicCreation: false });
    await producer.connect();
    for (let p = 0; p < 3; p++) await producer.send({ topic: 'cold', acks: -1, messages: bulkValues(p, 300, 1000).map((value) => ({ partition: p, value })) });
    await producer.disconnect();
    await first.b.close();
    open.splice(open.indexOf(first.b), 1);
    const { b, port } = await start(dataDir);
    // Readers on every shard: each reads the three partitions, two of them across shards, from the segment files.
    for (const reader of await connectionsOnEveryShard(b, port)) {
      const f = await reader.request<{ responses: { partitions: { partitionIndex: number; errorCode: number; records: Buffer | Buffer[] | null }[] }[] }>(ApiKey.Fetch, FETCH_V, fetchAcross('cold', 3, 0));
      for (const part of f.responses[0]!.partitions) {
        expect(part.errorCode).toBe(0);
        expect(decodeBatches(part.records).flatMap((x) => x.records.map((r) => r.value))).toEqual(bulkValues(part.partitionIndex, 300, 1000));
      }
    }
    const stats = (await b.stats()) as Stats[];
    const sum = (key: 'bulkBytesInPlace' | 'bulkBytesCopied'): number => stats.reduce((n, s) => n + s.links.reduce((m, l) => m + l[key], 0), 0);
    expect(sum('bulkBytesInPlace')).toBeGreaterThan(300_000); // at least one answer's worth (~300 KB per partition)
    expect(sum('bulkBytesCopied')).toBe(0);
    expect(await allBlocksBack(b)).toBe(0);
  });

  it('hands cross-shard produce records and cached fetch batches over by reference: no record byte crosses the ring or the arena', async () => {
    const { b, port } = await start();
    await adminCreateTopic(port, 'shared', 3);
    const ring0 = await linkTotal(b, 'ringPayloadBytes');
    const producer = kafkaFor(port).producer({ allowAutoTopicCreation: false });
    await producer.connect();
    for (let p = 0; p < 3; p++) await producer.send({ topic: 'shared', acks: -1, messages: bulkValues(p, 300, 1000).map((value) => ({ partition: p, value })) });
    await producer.disconnect();
    // kafkajs's connection is on one shard: two of its three ~300 KB batches went to other shards, by reference.
    expect(await linkTotal(b, 'bytesSharedIn')).toBeGreaterThanOrEqual(2 * 290_000);
    expect(await linkTotal(b, 'ringPayloadBytes')).toBe(ring0);
    // Readers on every shard fetch the three partitions from the owners' batch caches: two across shards each.
    const shared0 = await linkTotal(b, 'bytesShared');
    const bulk0 = await linkTotal(b, 'bulkAnswers');
    for (const reader of await connectionsOnEveryShard(b, port)) {
      const f = await reader.request<{ responses: { partitions: { partitionIndex: number; errorCode: number; records: Buffer | Buffer[] | null }[] }[] }>(ApiKey.Fetch, FETCH_V, fetchAcross('shared', 3, 0));
      for (const part of f.responses[0]!.partitions) {
        expect(part.errorCode).toBe(0);
        expect(decodeBatches(part.records).flatMap((x) => x.records.map((r) => r.value))).toEqual(bulkValues(part.partitionIndex, 300, 1000));
      }
    }
    expect(await linkTotal(b, 'bytesShared')).toBeGreaterThanOrEqual(shared0 + 3 * 2 * 290_000);
    expect(await linkTotal(b, 'ringPayloadBytes')).toBe(ring0);
    expect(await linkTotal(b, 'bulkAnswers')).toBe(bulk0);
    expect(await linkTotal(b, 'bulkBytesCopied')).toBe(0);
  });

  it('keeps records a shard handed over by reference intact after that shard dies: the owners still serve them from their caches', async () => {
    const { b, port } = await start();
    const writers = await connectionsOnEveryShard(b, port);
    await createTopic(writers[0]!, 'orphans', 3);
    // Every connection (6 or more) writes a ~100 KB batch to every partition: each owner's cache holds batches
    // whose memory came from the sockets of every shard. Read back in one fetch of up to 16 MiB a partition.
    const values = (w: number, p: number): string[] => bulkValues(p, 100, 1000).map((v) => `${w}/${v}`);
    for (const [w, c] of writers.entries()) {
      for (let p = 0; p < 3; p++) {
        const prod = await c.request(ApiKey.Produce, 7, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: 'orphans', partitionData: [{ index: p, records: recordsOf(values(w, p)) }] }] });
        expect(prod.responses[0].partitionResponses[0].errorCode).toBe(0);
      }
    }
    expect(await linkTotal(b, 'bytesSharedIn')).toBeGreaterThan(0);
    for (const c of writers) c.destroy();
    const victim = b.table.owner('orphans', 0)!;
    await b.crashShard(victim);
    await b.whenAllUp();
    // The victim's isolate is gone, and with it its Buffers of the socket memory it read; the other owners' cached
    // batches made of that memory must still read back exact (the victim's own partition comes from disk).
    for (const reader of await connectionsOnEveryShard(b, port)) {
      const f = await reader.request<{ responses: { partitions: { partitionIndex: number; errorCode: number; records: Buffer | Buffer[] | null }[] }[] }>(ApiKey.Fetch, FETCH_V, fetchAcross('orphans', 3, 0, { partitionMaxBytes: 16 << 20 }));
      for (const part of f.responses[0]!.partitions) {
        expect(part.errorCode).toBe(0);
        expect(decodeBatches(part.records).flatMap((x) => x.records.map((r) => r.value))).toEqual(writers.flatMap((_, w) => values(w, part.partitionIndex)));
      }
      reader.destroy();
    }
  });

  it('keeps a run lent while its response waits on a socket that is not read, falls back to the ring when the arena is full, and gets every block back', async () => {
    // 64 KiB rings: 128 KiB arenas of two blocks, so two answers held fill one. Sharing off: cached batches take
    // arena runs (with it on, they go by reference and never fill an arena).
    const { b, port } = await start(undefined, 3, 64 * 1024, { shardShareMemory: false });
    const c = await WireClient.connect(port);
    await createTopic(c, 'held', 3);
    // Two batches of 25 records per partition (~51 KB): an answer from offset 0 is one block, its bytes differ
    // from an answer from offset 25 (the second batch only), so a run reused too early would show.
    const values = [0, 1, 2].map((p) => bulkValues(p, 50, 1000));
    for (let p = 0; p < 3; p++) {
      for (const half of [values[p]!.slice(0, 25), values[p]!.slice(25)]) {
        const prod = await c.request(ApiKey.Produce, 7, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: 'held', partitionData: [{ index: p, records: recordsOf(half) }] }] });
        expect(prod.responses[0].partitionResponses[0].errorCode).toBe(0);
      }
    }
    const fetchFrom = (offset: number) => fetchAcross('held', 3, offset);
    const check = (f: { responses: { partitions: { partitionIndex: number; errorCode: number; records: Buffer | Buffer[] | null }[] }[] }, offset: number): void => {
      for (const part of f.responses[0]!.partitions) {
        expect(part.errorCode).toBe(0);
        expect(decodeBatches(part.records).flatMap((x) => x.records.map((r) => r.value))).toEqual(values[part.partitionIndex]!.slice(offset));
      }
    };
    // Readers that stop reading: their responses pile up once the kernel's socket buffers are full, and the
    // ones the socket has not taken keep their runs.
    const stalled = await Promise.all(Array.from({ length: 6 }, () => WireClient.connect(port)));
    for (const s of stalled) s.socket.pause();
    const pending = stalled.map((s) => Array.from({ length: 80 }, () => s.request(ApiKey.Fetch, FETCH_V, fetchFrom(0))));
    // Wait until every fetch is answered (the count of lent blocks stops moving): runs stay lent.
    let lent = -1;
    for (let i = 0, same = 0; i < 100 && same < 3; i++) {
      await sleep(100);
      const now = await linkTotal(b, 'bulkBlocksLent');
      same = now === lent ? same + 1 : 0;
      lent = now;
    }
    expect(lent, 'runs held by responses the sockets have not taken').toBeGreaterThan(0);
    // Meanwhile other readers get exact answers, through the ring where the arenas are full.
    const declinedBefore = await linkTotal(b, 'bulkDeclined');
    for (const reader of await connectionsOnEveryShard(b, port)) for (let i = 0; i < 3; i++) check(await reader.request(ApiKey.Fetch, FETCH_V, fetchFrom(25)), 25);
    expect(await linkTotal(b, 'bulkDeclined')).toBeGreaterThan(declinedBefore);
    // One stalled reader goes away; the others read everything they were sent, intact.
    stalled[0]!.destroy();
    await Promise.allSettled(pending[0]!);
    for (const s of stalled.slice(1)) s.socket.resume();
    for (const list of pending.slice(1)) for (const f of await Promise.all(list)) check(f, 0);
    expect(await allBlocksBack(b)).toBe(0);
  });

  it('makes a topic created or deleted through any connection visible on every shard once answered', async () => {
    const { b, port } = await start();
    const clients = await connectionsOnEveryShard(b, port);
    for (let k = 0; k < 4; k++) {
      const via = clients[k % clients.length]!;
      await createTopic(via, `seen-${k}`, 5);
      for (const c of clients) {
        const md = await metadata(c, 9, [{ name: `seen-${k}` }], { allowAutoTopicCreation: false, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false });
        const t = md.topics[0]!;
        expect(t.errorCode).toBe(0);
        expect(t.partitions.map((p: { errorCode: number; leaderId: number }) => [p.errorCode, p.leaderId])).toEqual(Array.from({ length: 5 }, () => [0, 0]));
      }
      const del = await via.request(ApiKey.DeleteTopics, 4, { topicNames: [`seen-${k}`], timeoutMs: 5000 });
      expect(del.responses[0].errorCode).toBe(0);
      for (const c of clients) {
        const md = await metadata(c, 9, [{ name: `seen-${k}` }], { allowAutoTopicCreation: false, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false });
        expect(md.topics[0]!.errorCode).toBe(3); // UNKNOWN_TOPIC_OR_PARTITION
      }
    }
    expect(b.table.size).toBe(0);
  });

  it('coordinates each group on the shard owning its __consumer_offsets partition, reachable from any connection', async () => {
    const { b, port } = await start();
    const admin = kafkaFor(port).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'g-data', numPartitions: 3 }] });
    const ids = Array.from({ length: 8 }, (_, i) => `group-${i}`);
    // Simple commits (generation -1, as a standalone consumer makes them), through one connection.
    const c = await WireClient.connect(port);
    const fc = await c.request(ApiKey.FindCoordinator, 2, { key: ids[0], keyType: 0 });
    expect(fc.errorCode).toBe(0);
    for (const [i, groupId] of ids.entries()) {
      const res = await c.request(ApiKey.OffsetCommit, 2, {
        groupId,
        generationIdOrMemberEpoch: -1,
        memberId: '',
        retentionTimeMs: -1,
        topics: [{ name: 'g-data', partitions: [0, 1, 2].map((partitionIndex) => ({ partitionIndex, committedOffset: 10 * i + partitionIndex, committedLeaderEpoch: -1, committedMetadata: null })) }],
      });
      expect(res.topics[0].partitions.map((p: { errorCode: number }) => p.errorCode)).toEqual([0, 0, 0]);
    }
    const owners = new Set<number>();
    for (const p of [...Array(b.table.counts().length).keys()]) owners.add(p);
    // the groups' coordinator partitions are spread over every shard
    const offsetsOwners = new Set(Array.from({ length: 50 }, (_, p) => b.table.owner('__consumer_offsets', p)));
    expect(offsetsOwners).toEqual(owners);
    // read back through several connections (every shard)
    for (let round = 0; round < 3; round++) {
      const other = kafkaFor(port).admin();
      await other.connect();
      for (const [i, groupId] of ids.entries()) {
        const got = await other.fetchOffsets({ groupId, topics: ['g-data'] });
        expect(got[0]!.partitions.map((p) => [p.partition, p.offset]).sort()).toEqual([0, 1, 2].map((p) => [p, String(10 * i + p)]).sort());
      }
      const listed = await other.listGroups();
      expect(listed.groups.map((g) => g.groupId).sort()).toEqual([...ids].sort());
      await other.disconnect();
    }
    await admin.disconnect();
    // From a connection on every shard: each group's offsets, wherever its coordinator is.
    const before = ((await b.stats()) as Stats[]).reduce((n, s) => n + s.links.reduce((m, l) => m + l.callsServed, 0), 0);
    for (const conn of await connectionsOnEveryShard(b, port)) {
      for (const [i, groupId] of ids.entries()) {
        const r = await conn.request(ApiKey.OffsetFetch, 1, { groupId, topics: [{ name: 'g-data', partitionIndexes: [0, 1, 2] }] });
        expect(r.topics[0].partitions.map((p: { committedOffset: number | bigint }) => Number(p.committedOffset))).toEqual([0, 1, 2].map((p) => 10 * i + p));
      }
    }
    const after = ((await b.stats()) as Stats[]).reduce((n, s) => n + s.links.reduce((m, l) => m + l.callsServed, 0), 0);
    expect(after - before, 'group calls forwarded to their coordinator shards').toBeGreaterThan(0);
  });

  it('restarts a crashed shard under acks=all load without losing an acknowledged record', async () => {
    const { b, port, dataDir } = await start();
    const kafka = kafkaFor(port);
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'crash', numPartitions: 6 }] });
    await admin.disconnect();
    const victim = b.table.owner('crash', 1)!;

    const acked: { partition: number; offset: number; value: string }[] = [];
    let stop = false;
    let failures = 0;
    const producers: Producer[] = [];
    const loops = Array.from({ length: 3 }, async (_, w) => {
      const producer = kafka.producer({ allowAutoTopicCreation: false, retry: { retries: 30, initialRetryTime: 50, maxRetryTime: 500 } });
      producers.push(producer);
      await producer.connect();
      for (let seq = 0; !stop; seq++) {
        const messages = Array.from({ length: 6 }, (_, p) => ({ partition: p, value: `w${w}-s${seq}-p${p}` }));
        try {
          const res = await producer.send({ topic: 'crash', acks: -1, timeout: 5000, messages });
          for (const r of res) {
            if (r.errorCode !== 0) continue;
            acked.push({ partition: r.partition, offset: Number(r.baseOffset), value: `w${w}-s${seq}-p${r.partition}` });
          }
        } catch {
          failures++; // not acknowledged: may or may not be stored
        }
      }
    });
    const waitAcks = async (n: number): Promise<void> => {
      for (let i = 0; i < 400 && acked.length < n; i++) await sleep(25);
      expect(acked.length).toBeGreaterThanOrEqual(n);
    };
    await waitAcks(300);
    await b.crashShard(victim);
    await b.whenAllUp();
    expect(b.restarts).toBe(1);
    const afterRestart = acked.length;
    await waitAcks(afterRestart + 300);
    stop = true;
    await Promise.all(loops);
    await Promise.all(producers.map((p) => p.disconnect()));

    // Read every partition back and compare.
    const c = await WireClient.connect(port);
    for (let p = 0; p < 6; p++) {
      const got = new Map<number, string>();
      for (let offset = 0, i = 0; i < 1000; i++) {
        const body = fetchBody('crash', p, offset);
        const f = await c.request(ApiKey.Fetch, FETCH_V, body);
        const part = f.responses[0].partitions[0];
        expect(part.errorCode).toBe(0);
        const recs = decodeBatches(part.records).flatMap((x) => x.records).filter((r) => r.offset >= offset);
        for (const r of recs) got.set(r.offset, r.value!);
        if (recs.length === 0) break;
        offset = recs[recs.length - 1]!.offset + 1;
      }
      const mine = acked.filter((a) => a.partition === p);
      const lost = mine.filter((a) => got.get(a.offset) !== a.value);
      expect(lost, `partition ${p} (owner ${b.table.owner('crash', p)}, victim ${victim}): acknowledged and lost`).toEqual([]);
      expect([...got.keys()].sort((x, y) => x - y)).toEqual(Array.from({ length: got.size }, (_, i) => i));
    }
    // the victim's partitions were recovered by a full scan: its clean marker was consumed at its first start
    expect(fs.existsSync(path.join(dataDir, `.tern_cleanshutdown-shard${victim}`))).toBe(false);
  });

  it('shuts down cleanly: stops accepting, drains, syncs, leaves every shard\'s clean marker; restart keeps the data', async () => {
    const first = await start();
    const c = await WireClient.connect(first.port);
    await createTopic(c, 'kept', 6);
    for (let p = 0; p < 6; p++) {
      const r = await c.request(ApiKey.Produce, 7, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: 'kept', partitionData: [{ index: p, records: recordsOf([`k${p}`]) }] }] });
      expect(r.responses[0].partitionResponses[0].errorCode).toBe(0);
    }
    await first.b.close();
    open.splice(open.indexOf(first.b), 1);
    const refused = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: first.port });
      s.once('connect', () => (s.destroy(), resolve(false)));
      s.once('error', () => resolve(true));
    });
    expect(refused).toBe(true);
    for (let id = 0; id < 3; id++) expect(fs.existsSync(path.join(first.dataDir, `.tern_cleanshutdown-shard${id}`))).toBe(true);

    const again = await start(first.dataDir);
    for (let id = 0; id < 3; id++) expect(fs.existsSync(path.join(first.dataDir, `.tern_cleanshutdown-shard${id}`))).toBe(false);
    expect(again.b.table.counts()).toEqual(first.b.table.counts());
    const c2 = await WireClient.connect(again.port);
    for (let p = 0; p < 6; p++) {
      const f = await c2.request(ApiKey.Fetch, FETCH_V, fetchBody('kept', p, 0));
      expect(decodeBatches(f.responses[0].partitions[0].records).flatMap((x) => x.records.map((r) => r.value))).toEqual([`k${p}`]);
    }
  });

  it('moves partitions of shards that no longer exist when --smp shrinks, recovering them by full scans', async () => {
    const first = await start(undefined, 3);
    const c = await WireClient.connect(first.port);
    await createTopic(c, 'moved', 6);
    for (let p = 0; p < 6; p++) {
      await c.request(ApiKey.Produce, 7, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: 'moved', partitionData: [{ index: p, records: recordsOf([`m${p}`]) }] }] });
    }
    await first.b.close();
    open.splice(open.indexOf(first.b), 1);
    const two = await start(first.dataDir, 2);
    expect([...two.b.table.counts()]).toEqual([3, 3]);
    const c2 = await WireClient.connect(two.port);
    for (let p = 0; p < 6; p++) {
      const f = await c2.request(ApiKey.Fetch, FETCH_V, fetchBody('moved', p, 0));
      expect(decodeBatches(f.responses[0].partitions[0].records).flatMap((x) => x.records.map((r) => r.value))).toEqual([`m${p}`]);
    }
  });
});
