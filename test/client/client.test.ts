// KafkaClient against a real broker process (test/helpers/broker.ts): every API the client speaks, the
// happy paths and the Kafka errors each one can answer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigOp, ConfigResourceType, KafkaClient, KafkaError, OffsetSpec } from '../../src/client/index.js';
import { compressSync, loadCompression } from '../../src/protocol/compression.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { buildRecordBatch, Compression } from '../../src/protocol/records.js';
import { startBroker, type RunningBroker } from '../helpers/broker.js';

let broker: RunningBroker;
let client: KafkaClient;

beforeAll(async () => {
  await loadCompression();
  broker = await startBroker();
  client = await KafkaClient.connect({ brokers: broker.brokers, retryBackoffMs: 20 });
});

afterAll(async () => {
  client?.close();
  await broker?.stop();
});

function batch(values: string[], opts: { compression?: number; timestamp?: number } = {}): Buffer {
  const compression = opts.compression ?? Compression.none;
  return buildRecordBatch(
    values.map((value, i) => ({ key: `k-${value}`, value, headers: [{ key: 'n', value: String(i) }], ...(opts.timestamp === undefined ? {} : { timestamp: opts.timestamp + i }) })),
    { compression, compress: (p) => compressSync(compression, p) },
  );
}

async function kafkaError(p: Promise<unknown>): Promise<KafkaError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KafkaError);
  return err as KafkaError;
}

async function createTopic(name: string, partitions = 1, configs: Record<string, string> = {}): Promise<void> {
  const [r] = await client.createTopics([{ name, partitions, replicationFactor: 1, configs }]);
  expect(r!.error).toBeNull();
}

describe('cluster', () => {
  it('metadata lists this broker as node 0 and controller', async () => {
    const md = await client.metadata();
    expect(md.brokers).toEqual([{ nodeId: 0, host: '127.0.0.1', port: broker.port, rack: null }]);
    expect(md.controllerId).toBe(0);
    expect(md.clusterId).toBeTruthy();
  });

  it('describeCluster agrees with metadata', async () => {
    const info = await client.describeCluster();
    const md = await client.metadata([]);
    expect(info.clusterId).toBe(md.clusterId);
    expect(info.brokers.map((b) => b.port)).toEqual([broker.port]);
  });

  it('negotiates the versions it implements', async () => {
    expect(await client.apiVersion(3)).toBeGreaterThanOrEqual(1);
    expect(await client.apiVersion(0)).toBeGreaterThanOrEqual(3);
  });
});

describe('topics', () => {
  it('creates a topic with partitions and configs, and reports it in metadata', async () => {
    const [r] = await client.createTopics([{ name: 'orders', partitions: 3, replicationFactor: 1, configs: { 'retention.ms': '86400000' } }]);
    expect(r).toMatchObject({ name: 'orders', error: null });
    const md = await client.metadata(['orders']);
    const t = md.topics[0]!;
    expect(t.error).toBeNull();
    expect(t.partitions.map((p) => [p.partition, p.leader, p.replicas])).toEqual([
      [0, 0, [0]],
      [1, 0, [0]],
      [2, 0, [0]],
    ]);
    expect(t.topicId).toMatch(/^[0-9a-f]{32}$/);
  });

  it('answers TOPIC_ALREADY_EXISTS per topic, and creates the others of the same request', async () => {
    const rs = await client.createTopics([{ name: 'orders', partitions: 1 }, { name: 'orders-2', partitions: 1 }]);
    expect(rs.find((r) => r.name === 'orders')!.error!.code).toBe(ErrorCode.TOPIC_ALREADY_EXISTS);
    expect(rs.find((r) => r.name === 'orders-2')!.error).toBeNull();
  });

  it('validateOnly creates nothing', async () => {
    const [r] = await client.createTopics([{ name: 'dry', partitions: 2 }], { validateOnly: true });
    expect(r!.error).toBeNull();
    const md = await client.metadata(['dry']);
    expect(md.topics[0]!.error!.code).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });

  it('rejects bad names, partition counts and configs', async () => {
    const rs = await client.createTopics([
      { name: 'bad/name', partitions: 1 },
      { name: 'zero-partitions', partitions: 0 },
      { name: 'bad-config', partitions: 1, configs: { 'retention.ms': 'soon' } },
    ]);
    expect(rs.map((r) => r.error?.name)).toEqual(['INVALID_TOPIC_EXCEPTION', 'INVALID_PARTITIONS', 'INVALID_CONFIG']);
  });

  it('adds partitions, never removes them', async () => {
    await createTopic('grow', 2);
    expect((await client.createPartitions([{ name: 'grow', count: 4 }]))[0]!.error).toBeNull();
    expect((await client.metadata(['grow'])).topics[0]!.partitions.length).toBe(4);
    expect((await client.createPartitions([{ name: 'grow', count: 3 }]))[0]!.error!.code).toBe(ErrorCode.INVALID_PARTITIONS);
    expect((await client.createPartitions([{ name: 'missing', count: 3 }]))[0]!.error!.code).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });

  it('deletes topics', async () => {
    await createTopic('doomed', 2);
    expect((await client.deleteTopics(['doomed']))[0]).toMatchObject({ name: 'doomed', error: null });
    expect((await client.metadata(['doomed'])).topics[0]!.error!.code).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    expect((await client.deleteTopics(['doomed']))[0]!.error!.code).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });
});

describe('configs', () => {
  it('describes topic configs with their sources', async () => {
    const [r] = await client.describeConfigs([{ type: ConfigResourceType.Topic, name: 'orders' }]);
    expect(r!.error).toBeNull();
    const retention = r!.configs.find((c) => c.name === 'retention.ms')!;
    expect(retention).toMatchObject({ value: '86400000', source: 'DYNAMIC_TOPIC_CONFIG', isDefault: false });
    const cleanup = r!.configs.find((c) => c.name === 'cleanup.policy')!;
    expect(cleanup).toMatchObject({ value: 'delete', isDefault: true });
  });

  it('describes only the keys asked for', async () => {
    const [r] = await client.describeConfigs([{ type: ConfigResourceType.Topic, name: 'orders', keys: ['retention.ms'] }]);
    expect(r!.configs.map((c) => c.name)).toEqual(['retention.ms']);
  });

  it('answers UNKNOWN_TOPIC_OR_PARTITION for a missing topic', async () => {
    const [r] = await client.describeConfigs([{ type: ConfigResourceType.Topic, name: 'nope' }]);
    expect(r!.error!.code).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });

  it('sets and deletes configs incrementally', async () => {
    await createTopic('cfg');
    const [r] = await client.incrementalAlterConfigs([
      { type: ConfigResourceType.Topic, name: 'cfg', changes: [{ name: 'retention.bytes', op: ConfigOp.Set, value: '1048576' }, { name: 'segment.ms', op: ConfigOp.Set, value: '3600000' }] },
    ]);
    expect(r!.error).toBeNull();
    let [d] = await client.describeConfigs([{ type: ConfigResourceType.Topic, name: 'cfg', keys: ['retention.bytes', 'segment.ms'] }]);
    expect(d!.configs.map((c) => [c.name, c.value, c.source])).toEqual([
      ['retention.bytes', '1048576', 'DYNAMIC_TOPIC_CONFIG'],
      ['segment.ms', '3600000', 'DYNAMIC_TOPIC_CONFIG'],
    ]);
    await client.incrementalAlterConfigs([{ type: ConfigResourceType.Topic, name: 'cfg', changes: [{ name: 'segment.ms', op: ConfigOp.Delete }] }]);
    [d] = await client.describeConfigs([{ type: ConfigResourceType.Topic, name: 'cfg', keys: ['segment.ms'] }]);
    expect(d!.configs[0]!.isDefault).toBe(true);
  });

  it('rejects an invalid value with INVALID_CONFIG, and validateOnly changes nothing', async () => {
    const [bad] = await client.incrementalAlterConfigs([{ type: ConfigResourceType.Topic, name: 'cfg', changes: [{ name: 'retention.ms', op: ConfigOp.Set, value: 'x' }] }]);
    expect(bad!.error!.code).toBe(ErrorCode.INVALID_CONFIG);
    await client.incrementalAlterConfigs([{ type: ConfigResourceType.Topic, name: 'cfg', changes: [{ name: 'retention.ms', op: ConfigOp.Set, value: '5000' }] }], { validateOnly: true });
    const [d] = await client.describeConfigs([{ type: ConfigResourceType.Topic, name: 'cfg', keys: ['retention.ms'] }]);
    expect(d!.configs[0]!.isDefault).toBe(true);
  });

  it('replaces the whole dynamic set with legacy AlterConfigs', async () => {
    const [r] = await client.alterConfigs([{ type: ConfigResourceType.Topic, name: 'cfg', configs: { 'retention.ms': '7200000' } }]);
    expect(r!.error).toBeNull();
    const [d] = await client.describeConfigs([{ type: ConfigResourceType.Topic, name: 'cfg', keys: ['retention.ms', 'retention.bytes'] }]);
    const byName = Object.fromEntries(d!.configs.map((c) => [c.name, c]));
    expect(byName['retention.ms']!.value).toBe('7200000');
    expect(byName['retention.bytes']!.isDefault).toBe(true); // not in the new set: reset
  });
});

describe('produce and fetch', () => {
  it('assigns consecutive offsets and reads every codec back', async () => {
    await createTopic('codecs');
    let expected = 0;
    for (const codec of [Compression.none, Compression.gzip, Compression.snappy, Compression.lz4, Compression.zstd]) {
      const base = await client.produce('codecs', 0, batch([`a${codec}`, `b${codec}`, `c${codec}`], { compression: codec }));
      expect(base).toBe(expected);
      expected += 3;
    }
    const r = await client.fetch('codecs', 0, 0);
    expect(r.records.map((x) => x.value!.toString())).toEqual(['a0', 'b0', 'c0', 'a1', 'b1', 'c1', 'a2', 'b2', 'c2', 'a3', 'b3', 'c3', 'a4', 'b4', 'c4']);
    expect(r.records.map((x) => x.offset)).toEqual([...Array(15).keys()]);
    expect(r.records[4]!.key!.toString()).toBe('k-b1');
    expect(r.records[4]!.headers).toEqual([{ key: 'n', value: Buffer.from('1') }]);
    expect(r).toMatchObject({ highWatermark: 15, logStartOffset: 0, nextOffset: 15 });
  });

  it('fetches from the middle of a batch', async () => {
    const r = await client.fetch('codecs', 0, 7);
    expect(r.records[0]!.offset).toBe(7);
    expect(r.records.length).toBe(8);
  });

  it('pipelines many produces on one connection', async () => {
    await createTopic('pipelined');
    const bases = await Promise.all(Array.from({ length: 50 }, (_, i) => client.produce('pipelined', 0, batch([`m${i}`]))));
    expect([...bases].sort((a, b) => a - b)).toEqual([...Array(50).keys()]);
    const r = await client.fetch('pipelined', 0, 0);
    expect(r.records.length).toBe(50);
  });

  it('supports acks=0 (no response) and acks=1', async () => {
    await createTopic('acks');
    expect(await client.produce('acks', 0, batch(['fire-and-forget']), 0)).toBe(-1);
    expect(await client.produce('acks', 0, batch(['leader-ack']), 1)).toBe(1);
    const r = await client.fetch('acks', 0, 0);
    expect(r.records.map((x) => x.value!.toString())).toEqual(['fire-and-forget', 'leader-ack']);
  });

  it('answers UNKNOWN_TOPIC_OR_PARTITION for a missing topic or partition', async () => {
    expect((await kafkaError(client.produce('no-such-topic', 0, batch(['x'])))).code).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    expect((await kafkaError(client.produce('codecs', 9, batch(['x'])))).code).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    expect((await kafkaError(client.fetch('no-such-topic', 0, 0))).code).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });

  it('answers CORRUPT_MESSAGE for a batch with a bad CRC', async () => {
    const b = batch(['x']);
    b[b.length - 1] ^= 0xff;
    expect((await kafkaError(client.produce('codecs', 0, b))).code).toBe(ErrorCode.CORRUPT_MESSAGE);
  });

  it('answers OFFSET_OUT_OF_RANGE past the high watermark', async () => {
    const e = await kafkaError(client.fetch('codecs', 0, 1000));
    expect(e).toMatchObject({ code: ErrorCode.OFFSET_OUT_OF_RANGE, name: 'OFFSET_OUT_OF_RANGE', topic: 'codecs', partition: 0 });
  });

  it('long-polls at the end, and wakes up when a record arrives', async () => {
    await createTopic('poll');
    const t0 = Date.now();
    const idle = await client.fetch('poll', 0, 0, { maxWaitMs: 300 });
    expect(idle.records).toEqual([]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    const t1 = Date.now();
    const waiting = client.fetch('poll', 0, 0, { maxWaitMs: 10_000 });
    await new Promise((r) => setTimeout(r, 100));
    await client.produce('poll', 0, batch(['wake']));
    const woke = await waiting;
    expect(woke.records.map((x) => x.value!.toString())).toEqual(['wake']);
    expect(Date.now() - t1).toBeLessThan(5000);
  });

  it('fetchMany reads several partitions and reports per-partition errors', async () => {
    await client.produce('orders', 0, batch(['p0']));
    await client.produce('orders', 2, batch(['p2a', 'p2b']));
    const rs = await client.fetchMany(
      [
        { topic: 'orders', partition: 0, offset: 0 },
        { topic: 'orders', partition: 1, offset: 0 },
        { topic: 'orders', partition: 2, offset: 0 },
        { topic: 'codecs', partition: 0, offset: 999 },
      ],
      { maxWaitMs: 100 },
    );
    const by = Object.fromEntries(rs.map((r) => [`${r.topic}/${r.partition}`, r]));
    expect(by['orders/0']!.records.map((x) => x.value!.toString())).toEqual(['p0']);
    expect(by['orders/1']!.records).toEqual([]);
    expect(by['orders/2']!.records.map((x) => x.value!.toString())).toEqual(['p2a', 'p2b']);
    expect(by['codecs/0']!.error!.code).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
  });

  it('respects partitionMaxBytes, still returning at least one batch', async () => {
    await createTopic('big');
    for (let i = 0; i < 3; i++) await client.produce('big', 0, batch([`${i}`.repeat(10_000)]));
    const r = await client.fetch('big', 0, 0, { partitionMaxBytes: 100 });
    expect(r.records.length).toBe(1);
    expect(r.nextOffset).toBe(1);
  });
});

describe('offsets', () => {
  it('lists earliest, latest, max-timestamp and by-time offsets', async () => {
    await createTopic('times');
    await client.produce('times', 0, batch(['a', 'b'], { timestamp: 1_000_000 }));
    await client.produce('times', 0, batch(['c'], { timestamp: 5_000_000 }));
    await client.produce('times', 0, batch(['d'], { timestamp: 2_000_000 }));
    expect((await client.listOffsets('times', 0, OffsetSpec.Earliest)).offset).toBe(0);
    expect((await client.listOffsets('times', 0, OffsetSpec.Latest)).offset).toBe(4);
    if ((await client.apiVersion(2))! >= 7) {
      expect(await client.listOffsets('times', 0, OffsetSpec.MaxTimestamp)).toMatchObject({ offset: 2, timestamp: 5_000_000 });
    }
    expect(await client.listOffsets('times', 0, 1_000_001)).toMatchObject({ offset: 1, timestamp: 1_000_001 });
    expect((await client.listOffsets('times', 0, 3_000_000)).offset).toBe(2);
    expect((await client.listOffsets('times', 0, 9_000_000)).offset).toBe(-1);
  });

  it('answers UNKNOWN_TOPIC_OR_PARTITION for a missing partition', async () => {
    expect((await kafkaError(client.listOffsets('times', 5, OffsetSpec.Latest))).code).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });

  it('deleteRecords moves the log start offset', async () => {
    await createTopic('trim', 2);
    await client.produce('trim', 0, batch(['0', '1', '2', '3', '4', '5']));
    const rs = await client.deleteRecords('trim', [{ partition: 0, offset: 4 }, { partition: 1, offset: 0 }, { partition: 7, offset: 0 }]);
    expect(rs.map((r) => [r.partition, r.lowWatermark, r.error?.name ?? null])).toEqual([
      [0, 4, null],
      [1, 0, null],
      [7, -1, 'UNKNOWN_TOPIC_OR_PARTITION'],
    ]);
    expect((await client.listOffsets('trim', 0, OffsetSpec.Earliest)).offset).toBe(4);
    const r = await client.fetch('trim', 0, 4);
    expect(r.records.map((x) => x.value!.toString())).toEqual(['4', '5']);
    expect((await kafkaError(client.fetch('trim', 0, 1))).code).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
    const [beyond] = await client.deleteRecords('trim', [{ partition: 0, offset: 99 }]);
    expect(beyond!.error!.code).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
    const [toEnd] = await client.deleteRecords('trim', [{ partition: 0, offset: -1 }]);
    expect(toEnd!.lowWatermark).toBe(6);
  });
});

describe('connections', () => {
  it('fails fast on a port where no broker listens', async () => {
    const err = await KafkaClient.connect({ brokers: '127.0.0.1:1', connectTimeoutMs: 2000 }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/cannot connect to 127\.0\.0\.1:1/);
  });

  it('a second client sees the first one’s writes', async () => {
    const other = await KafkaClient.connect({ brokers: [broker.brokers] });
    try {
      const r = await other.fetch('codecs', 0, 0);
      expect(r.records.length).toBe(15);
    } finally {
      other.close();
    }
  });
});
