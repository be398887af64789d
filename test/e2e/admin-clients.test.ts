/**
 * Topic admin as real clients do it, where Tern once parted from Kafka (kafkajs 2.2.4 admin and consumer, kcat):
 * - the internal topic `__consumer_offsets`: a Metadata request naming it on a new broker (kcat -L -t) creates it
 *   as Kafka does, with offsets.topic.num.partitions partitions and cleanup.policy=compact (it used to be
 *   auto-created like any topic, with one partition, and every group hashing past partition 0 had no coordinator
 *   for good); DeleteTopics, CreatePartitions and CreateTopics on the internal topics are refused (a deleted one
 *   left the coordinators without their partitions until a restart);
 * - a deleted topic takes its committed offsets along (Kafka's onPartitionsDeleted), also across a restart, so a
 *   topic created again under the same name is read by a group from auto.offset.reset, not from the old
 *   topic's positions;
 * - DescribeConfigs of the broker reports Kafka's sources: DEFAULT_CONFIG (IsDefault) for a setting no flag
 *   changed, STATIC_BROKER_CONFIG for flags and the node's identity (every setting used to be STATIC, so tools
 *   listing a broker's overrides listed them all);
 * - a topic name that differs from an existing one only by '.' vs '_' is refused with INVALID_TOPIC_EXCEPTION by
 *   CreateTopics and by auto-creation, as Kafka does (both used to be created, their metrics colliding);
 * - min.insync.replicas above 1 (this node is the only in-sync replica) makes acks=all writes NOT_ENOUGH_REPLICAS
 *   with nothing written, as in Kafka, acks=1 still works, and altering it back lets acks=all through (it used
 *   to be stored and ignored: acks=all was acknowledged with one copy whatever the topic asked for).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigResourceTypes, type Admin, type Kafka } from 'kafkajs';
import { fileBroker } from './lib/broker.js';
import { kcatConsume, kcatMetadata } from './lib/kcat.js';
import { describeRun, PYTHON, run, waitFor } from './lib/proc.js';
import { kafkaFor } from './lib/kafkajs.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

const PY_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'py');
const OFFSETS_PARTITIONS = 50; // Kafka's offsets.topic.num.partitions, Tern's default
const BROKER_ARGS = ['--group-initial-rebalance-delay-ms', '0'];
const shared = fileBroker('admin-clients', BROKER_ARGS);

/** Kafka's group -> `__consumer_offsets` partition (Java String.hashCode, & 0x7fffffff). */
function offsetsPartitionOf(group: string): number {
  let h = 0;
  for (let i = 0; i < group.length; i++) h = (Math.imul(h, 31) + group.charCodeAt(i)) | 0;
  return (h & 0x7fffffff) % OFFSETS_PARTITIONS;
}

/** confluent-kafka-python commits (simple commits, no membership) or reads `groups`' offsets for one partition. */
async function committed(mode: 'commit' | 'read', topic: string, partition: number, offset: number, groups: string[]): Promise<Record<string, number>> {
  const r = await run(PYTHON, [path.join(PY_DIR, 'committed_offsets.py'), `127.0.0.1:${shared.broker.port}`, mode, topic, String(partition), String(offset), ...groups], {
    timeoutMs: 40_000,
    env: { PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' },
  });
  if (r.code !== 0 || r.timedOut) throw new Error(`${/^FAIL: .*$/m.exec(r.stderr)?.[0] ?? 'committed_offsets.py failed'}\n${describeRun(r)}${shared.broker.diagnose()}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as Record<string, number>;
}

async function withAdmin<T>(port: number, f: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafkaForHere(port, 'e2e-admin').admin();
  await admin.connect();
  try {
    return await f(admin);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

describe('internal topics', () => {
  it('kcat -L naming __consumer_offsets on a new broker creates it with 50 compacted partitions, and groups on every partition work', async () => {
    const md = await kcatMetadata(shared.broker.port, '__consumer_offsets');
    const t = md.topics.find((x) => x.topic === '__consumer_offsets');
    expect(t, `kcat -L did not list __consumer_offsets${shared.broker.diagnose()}`).toBeDefined();
    expect(t!.error, 'Metadata error for __consumer_offsets').toBeUndefined();
    expect(t!.partitions.length, '__consumer_offsets partitions (offsets.topic.num.partitions)').toBe(OFFSETS_PARTITIONS);

    await withAdmin(shared.broker.port, async (admin) => {
      const res = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: '__consumer_offsets', configNames: ['cleanup.policy'] }] });
      expect(res.resources[0]!.configEntries.find((e) => e.configName === 'cleanup.policy')?.configValue).toBe('compact');

      // Groups whose coordinator partition is not 0: with a one-partition copy of the topic they had none.
      const groups = ['e2e-admin-g1', 'e2e-admin-g2', 'e2e-admin-g3', 'e2e-admin-g4'];
      expect(groups.map(offsetsPartitionOf).filter((p) => p !== 0).length).toBeGreaterThanOrEqual(3);
      await admin.createTopics({ topics: [{ topic: 'admin-int', numPartitions: 2 }] });
      expect(await committed('commit', 'admin-int', 1, 10, groups), 'offsets committed and read back by confluent-kafka-python').toEqual(Object.fromEntries(groups.map((g) => [g, 10])));
      const got = await admin.fetchOffsets({ groupId: groups[1]!, topics: ['admin-int'] });
      expect(got[0]!.partitions.find((p) => p.partition === 1)?.offset, 'kafkajs OffsetFetch').toBe('10');
    });
  }, 60_000);

  it('DeleteTopics, CreatePartitions and CreateTopics on the internal topics are refused (INVALID_TOPIC_EXCEPTION) and groups keep working', async () => {
    await withAdmin(shared.broker.port, async (admin) => {
      const del = await admin.deleteTopics({ topics: ['__consumer_offsets'], timeout: 5_000 }).then(
        () => null,
        (e: unknown) => e as { type?: string; errors?: { type?: string }[] },
      );
      expect(del, 'deleting __consumer_offsets must be refused').not.toBeNull();
      expect(JSON.stringify(del)).toContain('INVALID_TOPIC_EXCEPTION');
      await expect(admin.createPartitions({ topicPartitions: [{ topic: '__consumer_offsets', count: OFFSETS_PARTITIONS + 1 }] })).rejects.toMatchObject({ type: 'INVALID_TOPIC_EXCEPTION' });
      // __transaction_state does not exist yet: the broker makes it on first use, never CreateTopics.
      await expect(admin.createTopics({ topics: [{ topic: '__transaction_state', numPartitions: 1 }] })).rejects.toThrow();
      expect(await admin.listTopics()).toContain('__consumer_offsets');
      expect(await admin.listTopics()).not.toContain('__transaction_state');

      expect(await committed('read', 'admin-int', 1, 0, ['e2e-admin-g2']), 'committed offset after the refused deletion').toEqual({ 'e2e-admin-g2': 10 });
    });
  }, 60_000);
});

describe('deleting a topic', () => {
  it('removes its committed offsets (also after a restart): a group reads the topic created again from the start', async () => {
    const TOPIC = 'admin-recreated';
    const GROUP = 'admin-recreated-g';
    await withAdmin(shared.broker.port, async (admin) => {
      await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 1 }] });
      const producer = kafkaForHere(shared.broker.port, 'e2e-admin-p').producer();
      await producer.connect();
      await producer.send({ topic: TOPIC, acks: -1, messages: Array.from({ length: 10 }, (_, i) => ({ value: `old-${i}` })) });
      await producer.disconnect();
      expect(await committed('commit', TOPIC, 0, 8, [GROUP])).toEqual({ [GROUP]: 8 });
      await admin.deleteTopics({ topics: [TOPIC], timeout: 10_000 });
    });
    expect(await committed('read', TOPIC, 0, 0, [GROUP]), 'committed offset once the topic is deleted (-1001: none)').toEqual({ [GROUP]: -1001 });

    // The removal must be stored (tombstones), not only forgotten in memory.
    await shared.restart();
    const kafka = kafkaForHere(shared.broker.port, 'e2e-admin-2');
    await withAdmin(shared.broker.port, async (admin) => {
      await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 1 }] });
      const fetched = await waitFor('OffsetFetch after the restart', 20_000, async () => {
        try {
          return await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] });
        } catch {
          return undefined; // COORDINATOR_LOAD_IN_PROGRESS while __consumer_offsets loads
        }
      });
      expect(fetched[0]!.partitions[0]!.offset, 'the committed offset of the old topic outlived it').toBe('-1');
    });

    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: TOPIC, acks: -1, messages: Array.from({ length: 20 }, (_, i) => ({ value: `new-${i}` })) });
    await producer.disconnect();
    const consumer = kafka.consumer({ groupId: GROUP, sessionTimeout: 10_000, heartbeatInterval: 500, maxWaitTimeInMs: 100 });
    const seen: string[] = [];
    try {
      await consumer.connect();
      await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => void seen.push(message.value!.toString()) });
      await waitFor('the group to read the new topic', 20_000, () => (seen.length >= 20 ? true : undefined));
    } finally {
      await consumer.disconnect().catch(() => undefined);
    }
    expect(seen.slice(0, 3), 'first records the group read').toEqual(['new-0', 'new-1', 'new-2']);
    expect(seen).toHaveLength(20);
  }, 90_000);
});

describe('topic names that collide on . vs _', () => {
  it('kafkajs CreateTopics and kcat auto-creation (Metadata) of a name differing from an existing one only by . vs _ are refused (INVALID_TOPIC_EXCEPTION)', async () => {
    await withAdmin(shared.broker.port, async (admin) => {
      await admin.createTopics({ topics: [{ topic: 'admin.collide', numPartitions: 1 }] });
      await expect(admin.createTopics({ topics: [{ topic: 'admin_collide', numPartitions: 1 }] })).rejects.toMatchObject({ errors: [{ type: 'INVALID_TOPIC_EXCEPTION' }] });
    });
    // kcat -L -t asks Metadata for the topic, which the broker would auto-create
    const md = await kcatMetadata(shared.broker.port, 'admin_collide');
    const t = md.topics.find((x) => x.topic === 'admin_collide');
    expect(t?.error, `kcat -L -t admin_collide${shared.broker.diagnose()}`).toMatch(/invalid topic/i);
    await withAdmin(shared.broker.port, async (admin) => {
      const topics = await admin.listTopics();
      expect(topics).toContain('admin.collide');
      expect(topics).not.toContain('admin_collide');
    });
  }, 30_000);
});

describe('broker configs', () => {
  it('kafkajs describeConfigs of the broker: settings at their default are DEFAULT_CONFIG, flags STATIC_BROKER_CONFIG', async () => {
    await withAdmin(shared.broker.port, async (admin) => {
      const res = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: ConfigResourceTypes.BROKER, name: '0', configNames: ['group.initial.rebalance.delay.ms', 'message.max.bytes', 'num.partitions', 'offsets.topic.num.partitions', 'broker.id'] }],
      });
      expect(res.resources[0]!.errorCode).toBe(0);
      const got = Object.fromEntries(res.resources[0]!.configEntries.map((e) => [e.configName, { value: e.configValue, source: e.configSource, isDefault: e.isDefault }]));
      const DEFAULT = 5;
      const STATIC = 4;
      expect(got).toEqual({
        'group.initial.rebalance.delay.ms': { value: '0', source: STATIC, isDefault: false }, // --group-initial-rebalance-delay-ms 0
        'message.max.bytes': { value: '1048588', source: DEFAULT, isDefault: true },
        'num.partitions': { value: '1', source: DEFAULT, isDefault: true },
        'offsets.topic.num.partitions': { value: '50', source: DEFAULT, isDefault: true },
        'broker.id': { value: '0', source: STATIC, isDefault: false },
      });
    });
  }, 30_000);
});

describe('topic configs take effect', () => {
  it('min.insync.replicas=2: kafkajs acks=all gets NOT_ENOUGH_REPLICAS and nothing is written; acks=1 works; after alterConfigs to 1 acks=all works', async () => {
    const TOPIC = 'admin-min-isr';
    const kafka = kafkaForHere(shared.broker.port, 'e2e-admin-isr');
    await withAdmin(shared.broker.port, async (admin) => {
      await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 1, configEntries: [{ name: 'min.insync.replicas', value: '2' }] }] });
      const producer = kafka.producer({ retry: { retries: 0 } });
      await producer.connect();
      try {
        const refused = await producer.send({ topic: TOPIC, acks: -1, messages: [{ value: 'refused' }] }).then(
          () => null,
          (e: unknown) => e as { cause?: { type?: string } },
        );
        expect(refused, 'acks=all with min.insync.replicas=2 on one node was acknowledged').not.toBeNull();
        expect(refused!.cause?.type).toBe('NOT_ENOUGH_REPLICAS');
        await producer.send({ topic: TOPIC, acks: 1, messages: [{ value: 'acks-1' }] });
        await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: TOPIC, configEntries: [{ name: 'min.insync.replicas', value: '1' }] }] });
        await producer.send({ topic: TOPIC, acks: -1, messages: [{ value: 'acks-all' }] });
      } finally {
        await producer.disconnect().catch(() => undefined);
      }
    });
    const got = await kcatConsume(shared.broker.port, TOPIC, { partition: 0 });
    expect(got.map((m) => [m.offset, m.payload])).toEqual([
      [0, 'acks-1'],
      [1, 'acks-all'],
    ]);
  }, 30_000);
});

/** This file's clients: shorter timeouts and fewer retries than the default. */
function kafkaForHere(port: number, clientId: string): Kafka {
  return kafkaFor(port, clientId, { requestTimeout: 10_000, retries: 3 });
}
