/**
 * kafkajs 2.2.4 (InitProducerId v1, AddPartitionsToTxn v1, AddOffsetsToTxn v1, EndTxn v1) against a real
 * in-process broker, checked at the coordinator (DescribeTransactions over the wire) and in the stored batches:
 * - an idempotent producer gets a producer id (epoch 0) and its batches carry it; two producers get two ids;
 * - transactional producers initialize through the coordinator (FindCoordinator keyType 1, InitProducerId),
 *   and a second producer of the same transactional id bumps the epoch.
 * The commit/abort round trip with records (transactional Produce) and what read_committed consumers see are in
 * kafkajs-transactions.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { ApiKey } from '../../src/protocol/messages/index.js';
import { TRANSACTIONAL_MASK } from '../../src/protocol/records.js';
import { testBroker, WireClient } from '../kafka/helpers.js';
import { describeTxn, storedHeaders } from './harness.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

function kafkaFor(port: number): Kafka {
  return new Kafka({ clientId: 'txn-kjs', brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING, connectionTimeout: 5_000, requestTimeout: 15_000, retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 1_000 } });
}

describe('kafkajs against the transaction coordinator', () => {
  it('an idempotent producer gets a producer id; its batches carry it; two producers get two ids', async () => {
    const tb = await testBroker();
    const kafka = kafkaFor(tb.port);
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'idem', numPartitions: 1 }] });
    await admin.disconnect();
    const ids: number[] = [];
    for (const name of ['a', 'b']) {
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      await producer.send({ topic: 'idem', acks: -1, messages: [{ value: `${name}1` }, { value: `${name}2` }] });
      await producer.send({ topic: 'idem', acks: -1, messages: [{ value: `${name}3` }] });
      await producer.disconnect();
    }
    const headers = await storedHeaders(tb, 'idem', 0);
    expect(headers).toHaveLength(4);
    for (const h of headers) {
      expect(h.producerId).toBeGreaterThanOrEqual(0);
      expect(h.producerEpoch).toBe(0);
      expect(h.attributes & TRANSACTIONAL_MASK).toBe(0);
      ids.push(h.producerId);
    }
    expect(headers.map((h) => h.baseSequence)).toEqual([0, 2, 0, 2]);
    expect(ids[0]).toBe(ids[1]);
    expect(ids[2]).toBe(ids[3]);
    expect(ids[0]).not.toBe(ids[2]);
  });

  it('transactional producers initialize through the coordinator: epoch 0, then a second producer of the id fences the first (epoch 1)', async () => {
    const tb = await testBroker({ transactionStateTopicPartitions: 3 });
    const kafka = kafkaFor(tb.port);
    const c = await WireClient.connect(tb.port);
    const first = kafka.producer({ transactionalId: 'kjs-init', idempotent: true, maxInFlightRequests: 1, transactionTimeout: 30_000 });
    const second = kafka.producer({ transactionalId: 'kjs-init', idempotent: true, maxInFlightRequests: 1, transactionTimeout: 20_000 });
    await first.connect();
    await second.connect();
    try {
      // producer.transaction() sends FindCoordinator(keyType 1) and InitProducerId v1; a transaction with no
      // partitions ends without an EndTxn (kafkajs skips it).
      const t1 = await first.transaction();
      const d1 = await describeTxn(c, 'kjs-init');
      expect(d1).toMatchObject({ errorCode: 0, transactionState: 'Empty', producerEpoch: 0, topics: [] });
      await t1.abort();
      const t2 = await second.transaction();
      const d2 = await describeTxn(c, 'kjs-init');
      expect(d2).toMatchObject({ errorCode: 0, transactionState: 'Empty', producerId: d1.producerId, producerEpoch: 1 });
      const listed = await c.request(ApiKey.ListTransactions, 1, { stateFilters: [], producerIdFilters: [d1.producerId], durationFilter: -1 });
      expect(listed.transactionStates).toEqual([{ transactionalId: 'kjs-init', producerId: d1.producerId, transactionState: 'Empty' }]);
      await t2.commit();
    } finally {
      await first.disconnect().catch(() => undefined);
      await second.disconnect().catch(() => undefined);
    }
  });
});
