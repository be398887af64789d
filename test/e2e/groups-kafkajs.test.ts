/**
 * Consumer groups with kafkajs 2.2.4 (JoinGroup v5 with MEMBER_ID_REQUIRED, SyncGroup v3, Heartbeat v3,
 * LeaveGroup v3, OffsetCommit v5, OffsetFetch v4) against a real broker process:
 * - three consumers on six partitions; one leaves (LeaveGroup), later one joins: each rebalance hands every
 *   partition to exactly one member, and with commits in place no record is lost or processed twice;
 * - committed offsets survive a broker crash (SIGKILL) and restart: every acknowledged commit is there.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Admin, Consumer, Producer } from 'kafkajs';
import { fileBroker, launch, TempDirs } from './lib/broker.js';
import { waitFor } from './lib/proc.js';
import { kafkaFor } from './lib/kafkajs.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

const BROKER_ARGS = ['--group-initial-rebalance-delay-ms', '300'];
const shared = fileBroker('groups-kjs', BROKER_ARGS);
/** Data dirs of the brokers a test starts itself (the crash-and-restart one). */
const dirs = new TempDirs();
afterAll(() => dirs.cleanup());

interface Member {
  name: string;
  consumer: Consumer;
  assigned: number[];
}

describe('kafkajs consumer group', () => {
  it('3 consumers on 6 partitions rebalance when one leaves and when one joins; nothing lost, nothing processed twice', async () => {
    const TOPIC = 'grp-kjs-six';
    const GROUP = 'grp-kjs';
    const kafka = kafkaFor(shared.broker.port, 'e2e-groups');
    const admin: Admin = kafka.admin();
    await admin.connect();
    const producer: Producer = kafka.producer();
    await producer.connect();
    const members: Member[] = [];
    try {
      await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 6 }] });
      const seen = new Map<string, string[]>(); // "p:o" -> members that processed it
      let produced = 0;
      const produce = async (n: number): Promise<void> => {
        const messages = Array.from({ length: n }, (_, i) => ({ partition: (produced + i) % 6, value: `v${produced + i}` }));
        produced += n;
        await producer.send({ topic: TOPIC, acks: -1, messages });
      };
      const start = async (name: string): Promise<Member> => {
        const consumer = kafka.consumer({ groupId: GROUP, sessionTimeout: 10_000, rebalanceTimeout: 20_000, heartbeatInterval: 500, maxWaitTimeInMs: 100, retry: { retries: 8 } });
        const m: Member = { name, consumer, assigned: [] };
        consumer.on(consumer.events.GROUP_JOIN, (e) => {
          m.assigned = [...(e.payload.memberAssignment[TOPIC] ?? [])].sort((a, b) => a - b);
        });
        await consumer.connect();
        await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
        await consumer.run({
          eachMessage: async ({ partition, message }) => {
            const k = `${partition}:${message.offset}`;
            seen.set(k, [...(seen.get(k) ?? []), name]);
          },
        });
        members.push(m);
        return m;
      };
      const allCommitted = async (): Promise<boolean> => {
        const offsets = await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] });
        const hw = await admin.fetchTopicOffsets(TOPIC);
        return hw.every((h) => offsets[0]!.partitions.find((p) => p.partition === h.partition)?.offset === h.high);
      };
      const settled = async (what: string, active: Member[]): Promise<void> => {
        // Every record seen, every offset committed, and the live members' assignments cover 0..5 once.
        await waitFor(what, 45_000, async () => {
          if (seen.size < produced) return undefined;
          const cover = active.flatMap((m) => m.assigned).sort((a, b) => a - b);
          if (cover.join(',') !== '0,1,2,3,4,5') return undefined;
          return (await allCommitted()) ? true : undefined;
        }, 200);
      };

      const [a, b, c] = [await start('a'), await start('b'), await start('c')];
      await produce(300);
      await settled('3 members consume and commit 300 records', [a, b, c]);
      expect([a, b, c].map((m) => m.assigned.length)).toEqual([2, 2, 2]);

      // c leaves (LeaveGroup): a and b share the six partitions.
      await c.consumer.disconnect();
      members.splice(members.indexOf(c), 1);
      await produce(150);
      await settled('2 members take over after one left', [a, b]);
      expect([a, b].map((m) => m.assigned.length)).toEqual([3, 3]);

      // d joins: back to 2 each.
      const d = await start('d');
      await produce(150);
      await settled('3 members again after one joined', [a, b, d]);
      expect([a, b, d].map((m) => m.assigned.length)).toEqual([2, 2, 2]);

      expect(seen.size).toBe(produced);
      const twice = [...seen].filter(([, who]) => who.length > 1);
      expect(twice, `processed more than once: ${JSON.stringify(twice.slice(0, 5))}`).toEqual([]);
      // Records produced after each rebalance went to the new owners: d processed some.
      expect([...seen.values()].some((who) => who[0] === 'd')).toBe(true);
      const described = await admin.describeGroups([GROUP]);
      expect(described.groups[0]).toMatchObject({ groupId: GROUP, state: 'Stable', protocolType: 'consumer' });
      expect(described.groups[0]!.members).toHaveLength(3);
      expect(shared.broker.alive(), shared.broker.diagnose()).toBe(true);
    } finally {
      for (const m of members) await m.consumer.disconnect().catch(() => undefined);
      await producer.disconnect().catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
    }
  }, 180_000);

  it('a broker crash and restart keeps every acknowledged commit', async () => {
    const TOPIC = 'grp-kjs-restart';
    const GROUP = 'grp-kjs-restart';
    const dataDir = dirs.make('groups-restart');
    let b = await launch({ args: BROKER_ARGS, dataDir });
    let kafka = kafkaFor(b.port, 'e2e-groups-restart');
    let admin = kafka.admin();
    try {
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 4 }] });
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({ topic: TOPIC, acks: -1, messages: Array.from({ length: 400 }, (_, i) => ({ partition: i % 4, value: `x${i}` })) });
      await producer.disconnect();
      // A group member commits offsets one by one through the consumer API; each resolved commit is acknowledged.
      const consumer = kafka.consumer({ groupId: GROUP, sessionTimeout: 10_000, heartbeatInterval: 500, maxWaitTimeInMs: 100 });
      await consumer.connect();
      await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
      const acked = new Map<number, number>();
      let commits = 0;
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          const next = Number(message.offset) + 1;
          if (next % 7 === 0 || next === 100) {
            await consumer.commitOffsets([{ topic: TOPIC, partition, offset: String(next) }]);
            acked.set(partition, next);
            commits++;
          }
        },
      });
      await waitFor('commits on every partition', 30_000, () => (acked.size === 4 && [...acked.values()].every((o) => o === 100) ? true : undefined), 100);
      expect(commits).toBeGreaterThan(4 * 10);
      await b.kill(); // SIGKILL: no clean shutdown
      await consumer.disconnect().catch(() => undefined);
      await admin.disconnect().catch(() => undefined);

      b = await launch({ args: BROKER_ARGS, dataDir });
      kafka = kafkaFor(b.port, 'e2e-groups-restart-2');
      admin = kafka.admin();
      await admin.connect();
      const fetched = await waitFor('offsets after restart', 20_000, async () => {
        try {
          return await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] });
        } catch {
          return undefined; // COORDINATOR_LOAD_IN_PROGRESS while the partitions load
        }
      });
      const got = Object.fromEntries(fetched[0]!.partitions.map((p) => [p.partition, Number(p.offset)]));
      expect(got).toEqual(Object.fromEntries([...acked].map(([p, o]) => [p, o])));
      // A new member of the group resumes exactly there: the first record it sees per partition is offset 100.
      // (The member restored from before the crash holds the group until its session times out: Kafka too.)
      const producer2 = kafka.producer();
      await producer2.connect();
      await producer2.send({ topic: TOPIC, acks: -1, messages: Array.from({ length: 40 }, (_, i) => ({ partition: i % 4, value: `y${i}` })) });
      await producer2.disconnect();
      const resumed = kafka.consumer({ groupId: GROUP, sessionTimeout: 10_000, heartbeatInterval: 500, maxWaitTimeInMs: 100 });
      const first = new Map<number, number>();
      await resumed.connect();
      await resumed.subscribe({ topic: TOPIC, fromBeginning: true });
      await resumed.run({
        eachMessage: async ({ partition, message }) => {
          if (!first.has(partition)) first.set(partition, Number(message.offset));
        },
      });
      await waitFor('resumed consumer sees all partitions', 30_000, () => (first.size === 4 ? true : undefined), 100);
      expect([...first.values()]).toEqual([100, 100, 100, 100]);
      await resumed.disconnect();
    } finally {
      await admin.disconnect().catch(() => undefined);
      await b.stop();
    }
  }, 180_000);
});
