/**
 * kafkajs 2.2.4 transactions end to end against a real in-process broker:
 * - commit and abort round trips reach the coordinator: Ongoing with exactly the partitions written, then
 *   CompleteCommit / CompleteAbort; every partition got one control marker after its data batch;
 * - a read_committed consumer (kafkajs' default) sees the committed records and never the aborted ones; a
 *   read_uncommitted one sees both;
 * - a zombie producer fenced by a new producer of its transactional id gets INVALID_PRODUCER_EPOCH;
 * - offsets sent with a transaction (AddOffsetsToTxn + TxnOffsetCommit) become the group's committed offsets
 *   only when the transaction commits.
 */
import { describe, expect, it } from 'vitest';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { CONTROL_MASK, TRANSACTIONAL_MASK } from '../../src/protocol/records.js';
import { testBroker, WireClient } from '../kafka/helpers.js';
import { describeTxn, storedHeaders } from './harness.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

function kafkaFor(port: number): Kafka {
  return new Kafka({ clientId: 'txn-kjs-e2e', brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING, connectionTimeout: 5_000, requestTimeout: 15_000, retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 1_000 } });
}

async function waitForState(c: WireClient, id: string, state: string): Promise<string> {
  let now = '';
  for (let i = 0; i < 200 && now !== state; i++) {
    now = (await describeTxn(c, id)).transactionState;
    if (now !== state) await new Promise((r) => setTimeout(r, 25));
  }
  return now;
}

/** Consumes `topic` from the beginning until `count` values arrived or `ms` passed; returns the values seen. */
async function consumeValues(kafka: Kafka, topic: string, readUncommitted: boolean, count: number, ms: number): Promise<string[]> {
  const consumer: Consumer = kafka.consumer({ groupId: `rc-${topic}-${readUncommitted}-${Date.now()}`, readUncommitted, maxWaitTimeInMs: 100 });
  const seen: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let done!: () => void;
    const enough = new Promise<void>((r) => (done = r));
    await consumer.run({
      eachMessage: async ({ message }) => {
        seen.push(message.value!.toString());
        if (seen.length >= count) done();
      },
    });
    await Promise.race([enough, new Promise((r) => setTimeout(r, ms))]);
    await new Promise((r) => setTimeout(r, 300)); // anything that should not be there has a chance to arrive
  } finally {
    await consumer.disconnect();
  }
  return seen.sort();
}

describe('kafkajs transactions end to end', () => {
  it('commit and abort: coordinator states, one marker per partition, read_committed sees only committed records', async () => {
    const tb = await testBroker({ transactionStateTopicPartitions: 3, groupInitialRebalanceDelayMs: 0 });
    const kafka = kafkaFor(tb.port);
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'tx-out', numPartitions: 3 }] });
    await admin.disconnect();
    const c = await WireClient.connect(tb.port);
    const producer = kafka.producer({ transactionalId: 'kjs-tx', idempotent: true, maxInFlightRequests: 1, transactionTimeout: 30_000 });
    await producer.connect();
    try {
      const t1 = await producer.transaction();
      await t1.send({ topic: 'tx-out', messages: [{ partition: 0, value: 'c1' }, { partition: 2, value: 'c2' }] });
      expect(await describeTxn(c, 'kjs-tx')).toMatchObject({ errorCode: 0, transactionState: 'Ongoing', topics: [{ topic: 'tx-out', partitions: [0, 2] }] });
      await t1.commit();
      expect(await waitForState(c, 'kjs-tx', 'CompleteCommit')).toBe('CompleteCommit');

      const t2 = await producer.transaction();
      await t2.send({ topic: 'tx-out', messages: [{ partition: 1, value: 'a1' }, { partition: 0, value: 'a2' }] });
      await t2.abort();
      expect(await waitForState(c, 'kjs-tx', 'CompleteAbort')).toBe('CompleteAbort');

      const d = await describeTxn(c, 'kjs-tx');
      const expectBatches: Record<number, number> = { 0: 2, 1: 1, 2: 1 }; // data batches per partition
      for (const p of [0, 1, 2]) {
        const hs = await storedHeaders(tb, 'tx-out', p);
        const data = hs.filter((h) => (h.attributes & CONTROL_MASK) === 0);
        const markers = hs.filter((h) => (h.attributes & CONTROL_MASK) !== 0);
        expect(data).toHaveLength(expectBatches[p]!);
        expect(markers).toHaveLength(expectBatches[p]!);
        for (const h of hs) {
          expect(h.attributes & TRANSACTIONAL_MASK).toBe(TRANSACTIONAL_MASK);
          expect(h.producerId).toBe(d.producerId);
          expect(h.producerEpoch).toBe(d.producerEpoch);
        }
      }
      expect(await consumeValues(kafka, 'tx-out', false, 2, 4_000)).toEqual(['c1', 'c2']);
      expect(await consumeValues(kafka, 'tx-out', true, 4, 4_000)).toEqual(['a1', 'a2', 'c1', 'c2']);

      // A new producer of the id fences the first.
      const other = kafka.producer({ transactionalId: 'kjs-tx', idempotent: true, maxInFlightRequests: 1 });
      await other.connect();
      const t3 = await other.transaction();
      await t3.send({ topic: 'tx-out', messages: [{ partition: 0, value: 'new' }] });
      await t3.commit();
      expect((await describeTxn(c, 'kjs-tx')).producerEpoch).toBe(d.producerEpoch + 1);
      const zombie = await producer.transaction();
      await expect(zombie.send({ topic: 'tx-out', messages: [{ partition: 0, value: 'zombie' }] })).rejects.toMatchObject({ type: 'INVALID_PRODUCER_EPOCH' });
      await other.disconnect();
    } finally {
      await producer.disconnect().catch(() => undefined);
    }
  });

  it('offsets sent with a transaction are committed for the group only when it commits', async () => {
    const tb = await testBroker({ transactionStateTopicPartitions: 3, groupInitialRebalanceDelayMs: 0 });
    const kafka = kafkaFor(tb.port);
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic: 'tx-src', numPartitions: 1 }, { topic: 'tx-dst', numPartitions: 1 }] });
      const producer = kafka.producer({ transactionalId: 'kjs-offsets', idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      const aborted = await producer.transaction();
      await aborted.send({ topic: 'tx-dst', messages: [{ value: 'x' }] });
      await aborted.sendOffsets({ consumerGroupId: 'tx-group', topics: [{ topic: 'tx-src', partitions: [{ partition: 0, offset: '5' }] }] });
      await aborted.abort();
      const none = await admin.fetchOffsets({ groupId: 'tx-group', topics: ['tx-src'] });
      expect(none[0]!.partitions[0]!.offset).toBe('-1');
      const committed = await producer.transaction();
      await committed.send({ topic: 'tx-dst', messages: [{ value: 'y' }] });
      await committed.sendOffsets({ consumerGroupId: 'tx-group', topics: [{ topic: 'tx-src', partitions: [{ partition: 0, offset: '7' }] }] });
      await committed.commit();
      let offset = '';
      for (let i = 0; i < 100 && offset !== '7'; i++) {
        offset = (await admin.fetchOffsets({ groupId: 'tx-group', topics: ['tx-src'] }))[0]!.partitions[0]!.offset;
        if (offset !== '7') await new Promise((r) => setTimeout(r, 25));
      }
      expect(offset).toBe('7');
      await producer.disconnect();
    } finally {
      await admin.disconnect();
    }
  });
});
