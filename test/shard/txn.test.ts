/**
 * Exactly-once across shards: the partition side's operations forwarded by ShardPartitions to the owning shard.
 *
 * - Two shards in this thread linked by real rings (ShardLink): from the shard that does not own the partition, a
 *   transactional produce (verified on the owner), a marker (writeMarkers split per owner), read_committed reads
 *   with their aborted transactions, a read_committed long poll woken by the marker, ListOffsets at the LSO and
 *   DescribeProducers.
 * - The thread-per-core broker with 2 shards: idempotent produce to every partition (some owned by another shard
 *   than the connection's) answers retries with the original offsets, before and after a clean restart.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { SimFileSystem } from '../../src/io/index.js';
import { LogManager } from '../../src/log/index.js';
import { LocalPartitions } from '../../src/kafka/partitions.js';
import { resolveConfig } from '../../src/broker/config.js';
import { ApiKey, type ProduceResponse } from '../../src/protocol/messages/index.js';
import { buildRecordBatch } from '../../src/protocol/records.js';
import { createChannelBuffer } from '../../src/shard/channel.js';
import { ShardLink } from '../../src/shard/rpc.js';
import { ShardPartitions } from '../../src/shard/router.js';
import { ShardedBroker } from '../../src/shard/supervisor.js';
import { READ_COMMITTED, READ_UNCOMMITTED, type TxnMarker } from '../../src/txn/index.js';
import { WireClient, createTopic, dataValuesOf, silent, tempDataDir } from '../kafka/helpers.js';

const quiet = pino({ level: 'silent' });

function pbatch(vals: string[], producerId: number, seq: number, transactional = false): Buffer {
  return buildRecordBatch(vals.map((value) => ({ value })), { producerId, producerEpoch: 0, baseSequence: seq, transactional });
}

describe('ShardPartitions forwards the transaction operations to the owner', () => {
  it('produce, markers, read_committed reads and waits, ListOffsets and DescribeProducers cross shards', async () => {
    const fs = new SimFileSystem({ seed: 1 });
    const owner = (topic: string): number => (topic === 'tx' ? 0 : 1);
    const ownership = { ownerOf: (topic: string) => owner(topic) };
    const logs0 = await LogManager.open({ dataDir: '/sim/s0', fs });
    const logs1 = await LogManager.open({ dataDir: '/sim/s1', fs });
    await logs0.createPartition('tx', 0);
    await logs1.createPartition('other', 0);
    const local0 = new LocalPartitions(logs0, quiet);
    const local1 = new LocalPartitions(logs1, quiet);
    const asked: string[] = [];
    local0.setTxnVerifier({ verifyPartition: (id, pid, epoch, t, p) => (asked.push(`${id}/${pid}/${epoch}/${t}-${p}`), Promise.resolve(0)) });
    const heard: string[] = [];
    local0.onMarker((t, p, m) => heard.push(`${t}-${p}/${m.producerId}/${m.commit}`));
    const s0 = new ShardPartitions(0, local0, ownership, quiet);
    const s1 = new ShardPartitions(1, local1, ownership, quiet);
    const ab = createChannelBuffer(64 * 1024);
    const ba = createChannelBuffer(64 * 1024);
    s0.links.set(1, new ShardLink(1, ab, ba, s0.serve));
    s1.links.set(0, new ShardLink(0, ba, ab, s1.serve));
    try {
      // from shard 1, for shard 0's partition
      expect(await s1.produce('tx', 0, buildRecordBatch([{ value: 'a' }]), 7, null)).toMatchObject({ errorCode: 0, baseOffset: 0 });
      expect(await s1.produce('tx', 0, pbatch(['x1', 'x2'], 1, 0, true), 7, 'txn-a')).toMatchObject({ errorCode: 0, baseOffset: 1 });
      expect(asked).toEqual(['txn-a/1/0/tx-0']);
      expect(await s1.produce('tx', 0, pbatch(['x1', 'x2'], 1, 0, true), 7, 'txn-a')).toMatchObject({ errorCode: 0, baseOffset: 1 }); // duplicate
      expect(await s1.produce('tx', 0, buildRecordBatch([{ value: 'b' }]), 7)).toMatchObject({ errorCode: 0, baseOffset: 3 });
      const spec = (isolationLevel: number) => ({ topic: 'tx', partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20, isolationLevel });
      let [rc] = await s1.read([spec(READ_COMMITTED)], 1 << 20);
      expect(rc).toMatchObject({ errorCode: 0, highWatermark: 4, lastStableOffset: 1, abortedTransactions: [] });
      expect(dataValuesOf(rc!.records)).toEqual(['a']);
      const [ru] = await s1.read([spec(READ_UNCOMMITTED)], 1 << 20);
      expect(ru).toMatchObject({ lastStableOffset: 1, abortedTransactions: null });
      expect(dataValuesOf(ru!.records)).toEqual(['a', 'x1', 'x2', 'b']);
      expect((await s1.listOffset('tx', 0, -1, 5, READ_COMMITTED)).offset).toBe(1);
      expect((await s1.listOffset('tx', 0, -1, 5, READ_UNCOMMITTED)).offset).toBe(4);

      // a read_committed wait through the link wakes when the marker lands
      let woke = false;
      const wait = s1.waitForAppend([{ topic: 'tx', partition: 0, seenHighWatermark: rc!.seenHighWatermark, isolationLevel: READ_COMMITTED }], 5000, new AbortController().signal).then(() => (woke = true));
      const abort: TxnMarker = { producerId: 1, producerEpoch: 0, commit: false, coordinatorEpoch: 0 };
      const outcomes = await s1.writeMarkers([{ topic: 'tx', partition: 0 }, { topic: 'other', partition: 0 }, { topic: 'tx', partition: 9 }], abort);
      expect(outcomes.sort((x, y) => x.topic.localeCompare(y.topic) || x.partition - y.partition)).toEqual([
        { topic: 'other', partition: 0, errorCode: 0 },
        { topic: 'tx', partition: 0, errorCode: 0 },
        { topic: 'tx', partition: 9, errorCode: 3 },
      ]);
      await wait;
      expect(woke).toBe(true);
      expect(heard).toEqual(['tx-0/1/false']);
      [rc] = await s1.read([spec(READ_COMMITTED)], 1 << 20);
      expect(rc).toMatchObject({ highWatermark: 5, lastStableOffset: 5, abortedTransactions: [{ producerId: 1, firstOffset: 1 }] });
      expect((await s1.describeProducers('tx', 0)).producers).toEqual([
        { producerId: 1, producerEpoch: 0, lastSequence: 1, lastTimestamp: expect.any(Number), coordinatorEpoch: 0, currentTxnStartOffset: -1 },
      ]);
      // the marker for the partition owned by shard 1 was written there, locally
      expect(logs1.get('other', 0)!.logEndOffset).toBe(1);
    } finally {
      for (const s of [s0, s1]) for (const l of s.links.values()) l.close(new Error('shutting down'));
      await local0.close();
      await local1.close();
      await logs0.close();
      await logs1.close();
    }
  });
});

const brokers: ShardedBroker[] = [];
afterEach(async () => {
  await Promise.allSettled(brokers.splice(0).map((b) => b.close()));
});

describe('idempotent produce on the thread-per-core broker', () => {
  it('answers retries with the original offsets on every shard, before and after a clean restart', async () => {
    const dataDir = tempDataDir('tern-shards-txn-');
    const start = async (): Promise<{ b: ShardedBroker; c: WireClient }> => {
      const b = await ShardedBroker.start(resolveConfig({ listen: '127.0.0.1:0', dataDir, logLevel: 'silent', smp: 2 }), silent);
      brokers.push(b);
      return { b, c: await WireClient.connect(b.listenAddress.port) };
    };
    const produce = async (c: WireClient, partition: number, records: Buffer) => {
      const r = await c.request<ProduceResponse>(ApiKey.Produce, 7, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: 'idem', partitionData: [{ index: partition, records }] }] });
      return r.responses[0]!.partitionResponses[0]!;
    };
    let { b, c } = await start();
    await createTopic(c, 'idem', 4);
    expect(new Set([0, 1, 2, 3].map((p) => b.table.owner('idem', p))).size).toBe(2);
    for (let p = 0; p < 4; p++) {
      for (let s = 0; s < 3; s++) expect(await produce(c, p, pbatch([`${p}-${s}`], 77, s))).toMatchObject({ errorCode: 0, baseOffset: s });
      expect(await produce(c, p, pbatch([`${p}-1`], 77, 1))).toMatchObject({ errorCode: 0, baseOffset: 1 });
      expect((await produce(c, p, pbatch(['gap'], 77, 9))).errorCode).toBe(45);
    }
    await b.close();
    ({ b, c } = await start());
    for (let p = 0; p < 4; p++) {
      expect(await produce(c, p, pbatch([`${p}-2`], 77, 2))).toMatchObject({ errorCode: 0, baseOffset: 2 });
      expect(await produce(c, p, pbatch([`${p}-3`], 77, 3))).toMatchObject({ errorCode: 0, baseOffset: 3 });
    }
  }, 30_000);
});
