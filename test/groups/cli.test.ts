/**
 * `tern group list|describe|delete|reset-offsets` against a real broker process: a kafkajs consumer group
 * makes the group and its commits; the CLI shows per-partition lag, refuses to reset a group with members,
 * resets and deletes an empty one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { runCli, startBroker, type RunningBroker } from '../helpers/broker.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

let broker: RunningBroker;
let B: string[];

beforeAll(async () => {
  broker = await startBroker({ args: ['--group-initial-rebalance-delay-ms', '0', '--offsets-topic-partitions', '5'] });
  B = ['--brokers', broker.brokers];
});

afterAll(async () => {
  await broker?.stop();
});

const tern = (args: string[]) => runCli([...args, ...B]);

async function waitUntil(what: string, f: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await f()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out: ${what}`);
}

describe('tern group', () => {
  it('list, describe with lag, reset-offsets refused while active, then reset and delete', async () => {
    const kafka = new Kafka({ clientId: 'cli-test', brokers: [broker.brokers], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'cli-grp', numPartitions: 2 }] });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: 'cli-grp', messages: Array.from({ length: 20 }, (_, i) => ({ partition: i % 2, value: `v${i}` })) });
    const consumer = kafka.consumer({ groupId: 'cli-g', sessionTimeout: 10_000, heartbeatInterval: 500, maxWaitTimeInMs: 100 });
    let seen = 0;
    try {
      await consumer.connect();
      await consumer.subscribe({ topic: 'cli-grp', fromBeginning: true });
      await consumer.run({ eachMessage: async () => void seen++ });
      await waitUntil('20 consumed and committed', async () => {
        if (seen < 20) return false;
        const o = await admin.fetchOffsets({ groupId: 'cli-g', topics: ['cli-grp'] });
        return o[0]!.partitions.every((p) => p.offset === '10');
      });
      // Paused first: a consumer still running could read and commit the late record (lag 0 instead of 1).
      consumer.pause([{ topic: 'cli-grp' }]);
      await producer.send({ topic: 'cli-grp', messages: [{ partition: 0, value: 'late' }] });

      const list = await tern(['group', 'list']);
      expect(list.code, list.stderr).toBe(0);
      expect(list.stdout).toMatch(/cli-g\s+Stable\s+consumer/);

      const d = await tern(['group', 'describe', 'cli-g']);
      expect(d.code, d.stderr).toBe(0);
      expect(d.stdout).toMatch(/STATE\s+Stable/i);
      expect(d.stdout).toMatch(/cli-grp\s+0\s+10\s+11\s+1\s+cli-test/);
      expect(d.stdout).toMatch(/cli-grp\s+1\s+10\s+10\s+0\s+cli-test/);

      const refused = await tern(['group', 'reset-offsets', 'cli-g', '--topic', 'cli-grp', '--to-earliest']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/UNKNOWN_MEMBER_ID/);
      expect((await tern(['group', 'delete', 'cli-g'])).stderr).toMatch(/NON_EMPTY_GROUP/);
    } finally {
      await consumer.disconnect().catch(() => undefined);
      await producer.disconnect().catch(() => undefined);
    }
    // The consumer left: the group is Empty.
    await waitUntil('group empty', async () => (await tern(['group', 'list', '--state', 'Empty'])).stdout.includes('cli-g'));
    const dry = await tern(['group', 'reset-offsets', 'cli-g', '--topic', 'cli-grp', '--shift-by', '-3', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/cli-grp\s+0\s+10\s+7/);
    const reset = await tern(['group', 'reset-offsets', 'cli-g', '--topic', 'cli-grp', '--partitions', '1', '--to-offset', '4']);
    expect(reset.code, reset.stderr).toBe(0);
    const after = await admin.fetchOffsets({ groupId: 'cli-g', topics: ['cli-grp'] });
    expect(after[0]!.partitions.sort((a, b) => a.partition - b.partition).map((p) => p.offset)).toEqual(['10', '4']);
    const del = await tern(['group', 'delete', 'cli-g']);
    expect(del.code, del.stderr).toBe(0);
    expect((await tern(['group', 'list'])).stdout).not.toContain('cli-g');
    const missing = await tern(['group', 'describe', 'cli-g']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/does not exist/);
    await admin.disconnect();
  }, 90_000);
});
