/**
 * Offsets committed inside a transaction with kafkajs 2.2.4 (`transaction.sendOffsets`: InitProducerId v1,
 * AddOffsetsToTxn v1, TxnOffsetCommit v1, EndTxn v1) against a real broker process (2 shards):
 * - consume-transform-produce: a read_committed consumer, a transactional producer that sends its output and the
 *   consumer's offsets in one transaction; once committed, the group's offsets are the ones sent, and a new
 *   consumer of the group starts from them;
 * - an open transaction's offsets are not visible to OffsetFetch (kafkajs asks v4, without requireStable: the
 *   committed value as before); an aborted transaction's offsets never become visible;
 * - after a crash (SIGKILL) and restart, the committed transaction's offsets are there (replayed with their
 *   marker), and the aborted one's are not.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { launch, TempDirs, type E2EBroker } from './lib/broker.js';
import { requireTools, waitFor } from './lib/proc.js';
import { kafkaFor } from './lib/kafkajs.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

const BROKER_ARGS = ['--group-initial-rebalance-delay-ms', '0'];
const dirs = new TempDirs();
let broker: E2EBroker;

async function groupOffsets(kafka: Kafka, groupId: string, topic: string): Promise<Record<number, string>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const r = await admin.fetchOffsets({ groupId, topics: [topic] });
    return Object.fromEntries(r[0]!.partitions.map((p) => [p.partition, p.offset]));
  } finally {
    await admin.disconnect();
  }
}

beforeAll(async () => {
  requireTools();
});

afterAll(async () => {
  await broker?.stop();
  dirs.cleanup();
});

describe('kafkajs transaction.sendOffsets', () => {
  it('commits offsets with the transaction, hides them while open, drops them on abort, and keeps them across a crash', async () => {
    const dataDir = dirs.make('txn-offsets-kjs');
    broker = await launch({ args: BROKER_ARGS, dataDir });
    const IN = 'txo-in';
    const OUT = 'txo-out';
    const GROUP = 'txo-group';
    let kafka = kafkaFor(broker.port, 'e2e-txn-offsets');
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: IN, numPartitions: 2 }, { topic: OUT, numPartitions: 1 }] });
    await admin.disconnect();

    const plain = kafka.producer();
    await plain.connect();
    for (let p = 0; p < 2; p++) await plain.send({ topic: IN, messages: Array.from({ length: 10 }, (_, i) => ({ partition: p, value: `in-${p}-${i}` })) });
    await plain.disconnect();

    // Consume-transform-produce: every input record read becomes one output record, with the group's offsets
    // sent in the same transaction.
    const producer = kafka.producer({ transactionalId: 'txo-tx', idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const consumer = kafka.consumer({ groupId: GROUP, readUncommitted: false, sessionTimeout: 10_000, heartbeatInterval: 500 });
    await consumer.connect();
    await consumer.subscribe({ topic: IN, fromBeginning: true });
    const read = new Map<number, number>(); // partition -> next offset
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const txn = await producer.transaction();
        try {
          await txn.send({ topic: OUT, messages: batch.messages.map((m) => ({ value: `out-${m.value!.toString()}` })) });
          const next = Number(batch.lastOffset()) + 1;
          await txn.sendOffsets({ consumerGroupId: GROUP, topics: [{ topic: IN, partitions: [{ partition: batch.partition, offset: String(next) }] }] });
          await txn.commit();
          read.set(batch.partition, next);
        } catch (err) {
          await txn.abort();
          throw err;
        }
      },
    });
    await waitFor('the consumer to read and commit both partitions transactionally', 30_000, () => (read.get(0) === 10 && read.get(1) === 10 ? true : undefined));
    await consumer.disconnect();
    expect(await groupOffsets(kafka, GROUP, IN)).toEqual({ 0: '10', 1: '10' });

    // A new consumer of the group starts where the transactions left it: nothing is read again.
    await plain.connect();
    await plain.send({ topic: IN, messages: [{ partition: 0, value: 'late' }] });
    await plain.disconnect();
    const again = kafka.consumer({ groupId: GROUP, readUncommitted: false });
    await again.connect();
    await again.subscribe({ topic: IN, fromBeginning: true });
    const seen: string[] = [];
    await again.run({ autoCommit: false, eachMessage: async ({ message }) => void seen.push(message.value!.toString()) });
    await waitFor('the new consumer to get the late record', 30_000, () => (seen.length >= 1 ? true : undefined));
    await again.disconnect();
    expect(seen).toEqual(['late']);

    // An open transaction's offsets are not visible; an aborted one's never are.
    const open = await producer.transaction();
    await open.sendOffsets({ consumerGroupId: GROUP, topics: [{ topic: IN, partitions: [{ partition: 1, offset: '3' }] }] });
    expect(await groupOffsets(kafka, GROUP, IN)).toEqual({ 0: '10', 1: '10' });
    await open.abort();
    expect(await groupOffsets(kafka, GROUP, IN)).toEqual({ 0: '10', 1: '10' });
    // A committed one after it, then a crash.
    const last = await producer.transaction();
    await last.sendOffsets({ consumerGroupId: GROUP, topics: [{ topic: IN, partitions: [{ partition: 0, offset: '11' }] }] });
    await last.commit();
    expect(await groupOffsets(kafka, GROUP, IN)).toEqual({ 0: '11', 1: '10' });
    await producer.disconnect();

    await broker.kill(); // SIGKILL: no clean shutdown
    broker = await launch({ args: BROKER_ARGS, dataDir });
    kafka = kafkaFor(broker.port, 'e2e-txn-offsets-restarted');
    expect(await groupOffsets(kafka, GROUP, IN)).toEqual({ 0: '11', 1: '10' });
  }, 120_000);
});
