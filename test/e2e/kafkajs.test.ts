/**
 * kafkajs 2.2.4 against a real broker process: the admin API (topics, configs, partitions, records, offsets)
 * and the producer with acks -1/1/0, keys, headers and gzip. What kafkajs wrote is read back with kcat (a
 * different client, librdkafka) and with the suite's own wire client (which also shows the stored batch).
 * kafkajs's consumer needs consumer groups and is not used here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompressionTypes, ConfigResourceTypes, Kafka, logLevel, type Admin, type Producer, type RecordMetadata } from 'kafkajs';
import { launch, type E2EBroker } from './lib/broker.js';
import { kcatConsume, type KcatMessage } from './lib/kcat.js';
import { requireTools, waitFor } from './lib/proc.js';
import { WireClient } from './lib/wire.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

let broker: E2EBroker;
let kafka: Kafka;
let admin: Admin;
let producer: Producer;

const T_MAIN = 'kjs-main';
const T_TS = 'kjs-timestamps';
const T_VALIDATE = 'kjs-validate-only';

beforeAll(async () => {
  requireTools();
  broker = await launch();
  kafka = new Kafka({
    clientId: 'tern-e2e-kafkajs',
    brokers: [`127.0.0.1:${broker.port}`],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 5_000,
    requestTimeout: 15_000,
    retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1_000 },
  });
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer({ allowAutoTopicCreation: false, retry: { retries: 2 } });
  await producer.connect();
});

afterAll(async () => {
  await producer?.disconnect().catch(() => undefined);
  await admin?.disconnect().catch(() => undefined);
  await broker?.stop();
});

/** Wraps a step so a failure message carries the broker's state and stderr. */
async function step<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    const e = err as Error & { type?: string; code?: number };
    throw new Error(`${what}: ${e.name} ${e.type ?? ''} ${e.code ?? ''} ${e.message}${broker.diagnose()}`);
  }
}

function headersOf(m: KcatMessage): Record<string, string | null> {
  return Object.fromEntries(m.headers);
}

describe('kafkajs admin', () => {
  it('createTopics validateOnly creates nothing', async () => {
    await step('createTopics validateOnly', () =>
      admin.createTopics({ validateOnly: true, waitForLeaders: false, topics: [{ topic: T_VALIDATE, numPartitions: 2 }] }),
    );
    const topics = await step('listTopics', () => admin.listTopics());
    expect(topics, `validateOnly created ${T_VALIDATE}`).not.toContain(T_VALIDATE);
  });

  it('createTopics with configs, then metadata shows partitions led by this broker', async () => {
    const created = await step('createTopics', () =>
      admin.createTopics({
        topics: [
          {
            topic: T_MAIN,
            numPartitions: 3,
            replicationFactor: 1,
            configEntries: [
              { name: 'retention.ms', value: '3600000' },
              { name: 'cleanup.policy', value: 'delete' },
            ],
          },
          { topic: T_TS, numPartitions: 1 },
        ],
      }),
    );
    expect(created, 'createTopics should report the topics as newly created').toBe(true);
    const again = await step('createTopics (duplicate)', () => admin.createTopics({ topics: [{ topic: T_MAIN, numPartitions: 3 }] }));
    expect(again, 'creating an existing topic must answer TOPIC_ALREADY_EXISTS (kafkajs returns false)').toBe(false);

    const md = await step('fetchTopicMetadata', () => admin.fetchTopicMetadata({ topics: [T_MAIN, T_TS] }));
    const main = md.topics.find((t) => t.name === T_MAIN);
    expect(main, `metadata lacks ${T_MAIN}`).toBeDefined();
    expect(main!.partitions.map((p) => p.partitionId).sort()).toEqual([0, 1, 2]);
    const cluster = await step('describeCluster', () => admin.describeCluster());
    expect(cluster.brokers).toHaveLength(1);
    expect(cluster.brokers[0]!.port).toBe(broker.port);
    const nodeId = cluster.brokers[0]!.nodeId;
    for (const p of main!.partitions) {
      expect(p.partitionErrorCode).toBe(0);
      expect(p.leader).toBe(nodeId);
      expect(p.replicas).toEqual([nodeId]);
      expect(p.isr).toEqual([nodeId]);
    }
    expect(await admin.listTopics()).toEqual(expect.arrayContaining([T_MAIN, T_TS]));
  });

  it('describeConfigs returns the configs given at creation; alterConfigs changes them', async () => {
    const describe = () =>
      step('describeConfigs', () =>
        admin.describeConfigs({
          includeSynonyms: false,
          resources: [{ type: ConfigResourceTypes.TOPIC, name: T_MAIN, configNames: ['retention.ms', 'cleanup.policy'] }],
        }),
      );
    let res = await describe();
    expect(res.resources).toHaveLength(1);
    expect(res.resources[0]!.errorCode).toBe(0);
    let entries = Object.fromEntries(res.resources[0]!.configEntries.map((e) => [e.configName, e.configValue]));
    expect(entries['retention.ms']).toBe('3600000');
    expect(entries['cleanup.policy']).toBe('delete');

    await step('alterConfigs', () =>
      admin.alterConfigs({
        validateOnly: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: T_MAIN, configEntries: [{ name: 'retention.ms', value: '7200000' }] }],
      }),
    );
    res = await describe();
    entries = Object.fromEntries(res.resources[0]!.configEntries.map((e) => [e.configName, e.configValue]));
    expect(entries['retention.ms'], 'alterConfigs did not take effect').toBe('7200000');

    // an unknown config name must be rejected, not stored
    await expect(
      admin.alterConfigs({
        validateOnly: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: T_MAIN, configEntries: [{ name: 'no.such.config', value: '1' }] }],
      }),
      'alterConfigs with an unknown config name should fail (INVALID_CONFIG)',
    ).rejects.toThrow();
  });

  it('createPartitions grows the topic', async () => {
    await step('createPartitions', () => admin.createPartitions({ topicPartitions: [{ topic: T_MAIN, count: 4 }] }));
    const md = await step('fetchTopicMetadata', () => admin.fetchTopicMetadata({ topics: [T_MAIN] }));
    expect(md.topics[0]!.partitions.map((p) => p.partitionId).sort()).toEqual([0, 1, 2, 3]);
    await expect(
      admin.createPartitions({ topicPartitions: [{ topic: T_MAIN, count: 2 }] }),
      'shrinking a topic must be refused (INVALID_PARTITIONS)',
    ).rejects.toThrow();
  });
});

interface Sent {
  key: string;
  value: string;
  headers: Record<string, string>;
}

/** Checks that kcat reads back exactly `expected` (by offset) from one partition. */
async function expectPartition(topic: string, partition: number, expected: Map<number, Sent>, from = 0): Promise<KcatMessage[]> {
  const got = await kcatConsume(broker.port, topic, { partition, offset: String(from) });
  const offsets = got.map((m) => m.offset);
  expect(offsets, `${topic}[${partition}] offsets read back by kcat`).toEqual([...expected.keys()].filter((o) => o >= from).sort((a, b) => a - b));
  for (const m of got) {
    const s = expected.get(m.offset)!;
    expect(m.key, `${topic}[${partition}]@${m.offset} key`).toBe(s.key);
    expect(m.payload, `${topic}[${partition}]@${m.offset} value`).toBe(s.value);
    expect(headersOf(m), `${topic}[${partition}]@${m.offset} headers`).toEqual(s.headers);
  }
  return got;
}

describe('kafkajs producer', () => {
  const expected = new Map<number, Map<number, Sent>>(); // partition -> offset -> message

  function record(meta: RecordMetadata[], msgs: Sent[], partition: number): void {
    const m = meta.find((x) => x.partition === partition);
    expect(m, `no RecordMetadata for partition ${partition}: ${JSON.stringify(meta)}`).toBeDefined();
    expect(m!.errorCode).toBe(0);
    const base = Number(m!.baseOffset);
    const map = expected.get(partition) ?? new Map<number, Sent>();
    msgs.forEach((s, i) => map.set(base + i, s));
    expected.set(partition, map);
  }

  function batch(tag: string, n: number): Sent[] {
    return Array.from({ length: n }, (_, i) => ({
      key: `${tag}-key-${i}`,
      value: `${tag} value ${i} ✓ ${'z'.repeat(i * 13)}`,
      headers: { 'trace-id': `${tag}-${i}`, 'content-type': 'text/plain; charset=utf-8' },
    }));
  }

  it('acks=-1, acks=1 and gzip return offsets and kcat reads back keys, values, headers', async () => {
    for (const [acks, tag, compression] of [
      [-1, 'all', CompressionTypes.None],
      [1, 'one', CompressionTypes.None],
      [-1, 'gzip', CompressionTypes.GZIP],
    ] as const) {
      const msgs = batch(tag, 25);
      const meta = await step(`producer.send acks=${acks} ${tag}`, () =>
        producer.send({ topic: T_MAIN, acks, compression, messages: msgs.map((m) => ({ ...m, partition: 1 })) }),
      );
      record(meta, msgs, 1);
    }
    await expectPartition(T_MAIN, 1, expected.get(1)!);
  });

  it('gzip batches are stored as sent (fetched batch still has codec gzip)', async () => {
    const msgs = batch('gzip-raw', 10);
    const meta = await step('producer.send gzip', () =>
      producer.send({ topic: T_MAIN, acks: -1, compression: CompressionTypes.GZIP, messages: msgs.map((m) => ({ ...m, partition: 2 })) }),
    );
    record(meta, msgs, 2);
    const base = Number(meta[0]!.baseOffset);
    const c = await WireClient.connect(broker.port);
    try {
      const f = await c.fetch(T_MAIN, 2, base);
      expect(f.errorCode).toBe(0);
      expect(f.records.map((r) => r.value?.toString('utf8'))).toEqual(msgs.map((m) => m.value));
      expect(f.batches[0]!.baseOffset).toBe(base);
      expect(f.batches[0]!.attributes & 7, 'broker recompressed or decompressed the gzip batch (design: stored as sent)').toBe(1);
    } finally {
      c.close();
    }
    await expectPartition(T_MAIN, 2, expected.get(2)!);
  });

  it('acks=0 sends no response and the messages still arrive', async () => {
    const msgs = batch('zero', 15);
    const before = await admin.fetchTopicOffsets(T_MAIN);
    const p0 = Number(before.find((p) => p.partition === 0)!.high);
    await step('producer.send acks=0', () => producer.send({ topic: T_MAIN, acks: 0, messages: msgs.map((m) => ({ ...m, partition: 0 })) }));
    await waitFor('acks=0 messages to become visible', 10_000, async () => {
      const o = await admin.fetchTopicOffsets(T_MAIN);
      return Number(o.find((p) => p.partition === 0)!.high) >= p0 + msgs.length ? true : undefined;
    });
    const map = expected.get(0) ?? new Map<number, Sent>();
    msgs.forEach((s, i) => map.set(p0 + i, s));
    expected.set(0, map);
    await expectPartition(T_MAIN, 0, map);
    // after acks=0 the same connection still works for acks=-1
    const more = batch('after-zero', 3);
    const meta = await step('producer.send after acks=0', () => producer.send({ topic: T_MAIN, acks: -1, messages: more.map((m) => ({ ...m, partition: 0 })) }));
    expect(Number(meta[0]!.baseOffset)).toBe(p0 + msgs.length);
    record(meta, more, 0);
  });

  it('fetchTopicOffsets reports low/high watermarks of every partition', async () => {
    const offsets = await step('fetchTopicOffsets', () => admin.fetchTopicOffsets(T_MAIN));
    expect(offsets.map((o) => o.partition).sort()).toEqual([0, 1, 2, 3]);
    for (const o of offsets) {
      const n = expected.get(o.partition)?.size ?? 0;
      expect(Number(o.low), `partition ${o.partition} low`).toBe(0);
      expect(Number(o.high), `partition ${o.partition} high`).toBe(n);
    }
  });

  it('fetchTopicOffsetsByTimestamp finds the first offset at or after a timestamp', async () => {
    const t0 = Date.now() - 3_600_000;
    const msgs = Array.from({ length: 10 }, (_, i) => ({ key: `ts-${i}`, value: `at ${t0 + i * 1000}`, timestamp: String(t0 + i * 1000) }));
    // two sends so the lookup has to cross batches
    await step('send ts batch 1', () => producer.send({ topic: T_TS, acks: -1, messages: msgs.slice(0, 5) }));
    await step('send ts batch 2', () => producer.send({ topic: T_TS, acks: -1, messages: msgs.slice(5) }));
    const at = async (ts: number) => Number((await step(`fetchTopicOffsetsByTimestamp ${ts}`, () => admin.fetchTopicOffsetsByTimestamp(T_TS, ts)))[0]!.offset);
    expect(await at(t0 - 1), 'before the first record').toBe(0);
    expect(await at(t0), 'exactly the first record').toBe(0);
    expect(await at(t0 + 2500), 'between records 2 and 3').toBe(3);
    expect(await at(t0 + 5000), 'first record of the second batch').toBe(5);
    expect(await at(t0 + 9000), 'last record').toBe(9);
    expect(await at(t0 + 60_000), 'after every record: kafkajs falls back to the high watermark (broker answered -1)').toBe(10);
    const got = await kcatConsume(broker.port, T_TS, { partition: 0 });
    expect(got.map((m) => m.ts)).toEqual(msgs.map((m) => Number(m.timestamp)));
    expect(got.every((m) => m.tstype === 'create')).toBe(true);
  });

  it('deleteTopicRecords moves the low watermark and hides earlier records', async () => {
    const map = expected.get(1)!;
    await step('deleteTopicRecords', () => admin.deleteTopicRecords({ topic: T_MAIN, partitions: [{ partition: 1, offset: '30' }] }));
    const offsets = await admin.fetchTopicOffsets(T_MAIN);
    const p1 = offsets.find((o) => o.partition === 1)!;
    expect(Number(p1.low), 'low watermark after DeleteRecords').toBe(30);
    expect(Number(p1.high)).toBe(map.size);
    const got = await kcatConsume(broker.port, T_MAIN, { partition: 1, offset: 'beginning' });
    expect(got[0]?.offset, 'first offset readable after DeleteRecords').toBe(30);
    await expectPartition(T_MAIN, 1, map, 30);
    // a fetch below the log start offset is OFFSET_OUT_OF_RANGE (1)
    const c = await WireClient.connect(broker.port);
    try {
      const f = await c.fetch(T_MAIN, 1, 5);
      expect(f.errorCode, 'Fetch below the log start offset').toBe(1);
      const earliest = await c.listOffset(T_MAIN, 1, -2);
      expect(earliest.offset, 'ListOffsets earliest after DeleteRecords').toBe(30);
    } finally {
      c.close();
    }
  });

  it('deleteTopics removes the topics', async () => {
    await step('deleteTopics', () => admin.deleteTopics({ topics: [T_MAIN, T_TS], timeout: 10_000 }));
    await waitFor('deleted topics to leave listTopics', 10_000, async () => {
      const t = await admin.listTopics();
      return t.includes(T_MAIN) || t.includes(T_TS) ? undefined : true;
    });
    const c = await WireClient.connect(broker.port);
    try {
      // (not Metadata v1: with auto-create on it would legitimately create the topic again)
      const lo = await c.listOffset(T_MAIN, 0, -1);
      expect(lo.errorCode, 'ListOffsets on a deleted topic: UNKNOWN_TOPIC_OR_PARTITION (3)').toBe(3);
      const f = await c.fetch(T_MAIN, 0, 0);
      expect(f.errorCode, 'Fetch on a deleted topic: UNKNOWN_TOPIC_OR_PARTITION (3)').toBe(3);
    } finally {
      c.close();
    }
  });
});
