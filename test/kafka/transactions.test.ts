/**
 * Exactly-once, the partition side, over the wire: idempotent Produce (duplicates answer the original offset,
 * gaps and fenced epochs are refused), transactional Produce (refused without a coordinator), the last stable
 * offset and aborted transactions in Fetch and ListOffsets under read_committed vs read_uncommitted with markers
 * written through writeMarkers, DescribeProducers, and kafkajs consumers in both isolation levels.
 * Producer ids are chosen by the test (no InitProducerId needed): batches are built with them directly.
 */
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { ApiKey, type DescribeProducersResponse, type FetchResponse, type ProduceResponse } from '../../src/protocol/messages/index.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { buildRecordBatch } from '../../src/protocol/records.js';
import { READ_COMMITTED, READ_UNCOMMITTED, type TxnMarker, type TxnVerifier } from '../../src/txn/index.js';
import { WireClient, createTopic, fetchBody, testBroker, valuesOf, FETCH_V } from './helpers.js';

const okVerifier: TxnVerifier = { verifyPartition: () => Promise.resolve(0) };

function pbatch(values: string[], producerId: number, epoch: number, seq: number, transactional = false): Buffer {
  return buildRecordBatch(values.map((value) => ({ value })), { producerId, producerEpoch: epoch, baseSequence: seq, transactional });
}

async function produceTx(c: WireClient, topic: string, records: Buffer, transactionalId: string | null = null) {
  const res = await c.request<ProduceResponse>(ApiKey.Produce, 7, {
    transactionalId,
    acks: -1,
    timeoutMs: 5000,
    topicData: [{ name: topic, partitionData: [{ index: 0, records }] }],
  });
  return res.responses[0]!.partitionResponses[0]!;
}

async function fetchAt(c: WireClient, topic: string, offset: number, isolationLevel: number) {
  const res = await c.request<FetchResponse>(ApiKey.Fetch, FETCH_V, fetchBody(topic, 0, offset, { maxWaitMs: 0, isolationLevel }));
  return res.responses[0]!.partitions[0]!;
}

async function latest(c: WireClient, topic: string, isolationLevel: number): Promise<number> {
  const res = await c.request(ApiKey.ListOffsets, 2, {
    replicaId: -1,
    isolationLevel,
    topics: [{ name: topic, partitions: [{ partitionIndex: 0, timestamp: -1, currentLeaderEpoch: -1, maxNumOffsets: 1 }] }],
  });
  return res.topics[0].partitions[0].offset as number;
}

const marker = (producerId: number, commit: boolean): TxnMarker => ({ producerId, producerEpoch: 0, commit, coordinatorEpoch: 0 });

describe('idempotent Produce over the wire', () => {
  it('answers a retried batch with its original offset, refuses gaps and fenced epochs, and describes the producer', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'idem');
    expect(await produceTx(c, 'idem', pbatch(['a', 'b'], 1000, 0, 0))).toMatchObject({ errorCode: 0, baseOffset: 0 });
    expect(await produceTx(c, 'idem', pbatch(['c'], 1000, 0, 2))).toMatchObject({ errorCode: 0, baseOffset: 2 });
    expect(await produceTx(c, 'idem', pbatch(['a', 'b'], 1000, 0, 0))).toMatchObject({ errorCode: 0, baseOffset: 0 });
    expect(await produceTx(c, 'idem', pbatch(['e'], 1000, 0, 4))).toMatchObject({ errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER });
    expect(await produceTx(c, 'idem', pbatch(['f'], 1000, 1, 0))).toMatchObject({ errorCode: 0, baseOffset: 3 });
    expect(await produceTx(c, 'idem', pbatch(['g'], 1000, 0, 3))).toMatchObject({ errorCode: ErrorCode.INVALID_PRODUCER_EPOCH });
    expect(valuesOf((await fetchAt(c, 'idem', 0, READ_UNCOMMITTED)).records)).toEqual(['a', 'b', 'c', 'f']);
    const d = await c.request<DescribeProducersResponse>(ApiKey.DescribeProducers, 0, { topics: [{ name: 'idem', partitionIndexes: [0, 7] }] });
    expect(d.topics[0]!.partitions).toEqual([
      { partitionIndex: 0, errorCode: 0, errorMessage: null, activeProducers: [{ producerId: 1000, producerEpoch: 1, lastSequence: 0, lastTimestamp: expect.any(Number), coordinatorEpoch: -1, currentTxnStartOffset: -1 }] },
      { partitionIndex: 7, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: null, activeProducers: [] },
    ]);
  });

  it('refuses a transactional batch the coordinator does not know of (KIP-890 verification), or without a transactional id', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'tx');
    // The broker's own coordinator: no transaction 'my-txn' holds producer 1 with this partition.
    expect(await produceTx(c, 'tx', pbatch(['x'], 1, 0, 0, true), 'my-txn')).toMatchObject({ errorCode: ErrorCode.INVALID_PRODUCER_ID_MAPPING });
    tb.broker.setTxnVerifier(okVerifier);
    expect(await produceTx(c, 'tx', pbatch(['x'], 1, 0, 0, true), null)).toMatchObject({ errorCode: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED });
    expect(await produceTx(c, 'tx', pbatch(['x'], 1, 0, 0, true), 'my-txn')).toMatchObject({ errorCode: 0, baseOffset: 0 });
  });
});

/**
 * Offsets: 0 'a' | 1-2 'x1','x2' (producer 1, to be aborted) | 3 'c1' (producer 2, to be committed) | 4 'b' |
 * 5 ABORT(1) | 6 COMMIT(2).
 */
async function transactionalLog(topic: string, groupDelay = false) {
  const tb = await testBroker(groupDelay ? { groupInitialRebalanceDelayMs: 0, offsetsTopicPartitions: 1 } : {});
  tb.broker.setTxnVerifier(okVerifier);
  const c = await WireClient.connect(tb.port);
  await createTopic(c, topic);
  expect((await produceTx(c, topic, pbatch(['a'], 5, 0, 0))).errorCode).toBe(0);
  expect((await produceTx(c, topic, pbatch(['x1', 'x2'], 1, 0, 0, true), 'tx-1')).errorCode).toBe(0);
  expect((await produceTx(c, topic, pbatch(['c1'], 2, 0, 0, true), 'tx-2')).errorCode).toBe(0);
  expect((await produceTx(c, topic, buildRecordBatch([{ value: 'b' }]))).errorCode).toBe(0);
  return { tb, c };
}

describe('read_committed vs read_uncommitted', () => {
  it('Fetch and ListOffsets stop at the LSO, and report aborted transactions once the markers are durable', async () => {
    const { tb, c } = await transactionalLog('rc');
    let rc = await fetchAt(c, 'rc', 0, READ_COMMITTED);
    expect(rc).toMatchObject({ errorCode: 0, highWatermark: 5, lastStableOffset: 1, abortedTransactions: [] });
    expect(valuesOf(rc.records)).toEqual(['a']);
    let ru = await fetchAt(c, 'rc', 0, READ_UNCOMMITTED);
    expect(ru).toMatchObject({ highWatermark: 5, lastStableOffset: 1, abortedTransactions: null });
    expect(valuesOf(ru.records)).toEqual(['a', 'x1', 'x2', 'c1', 'b']);
    const atLso = await fetchAt(c, 'rc', 1, READ_COMMITTED);
    expect(atLso.lastStableOffset).toBe(1);
    expect(valuesOf(atLso.records)).toEqual([]);
    expect(await latest(c, 'rc', READ_COMMITTED)).toBe(1);
    expect(await latest(c, 'rc', READ_UNCOMMITTED)).toBe(5);

    // A read_committed long poll at the LSO wakes when a marker moves it.
    const waiting = c.request<FetchResponse>(ApiKey.Fetch, FETCH_V, fetchBody('rc', 0, 1, { maxWaitMs: 5000, minBytes: 1, isolationLevel: READ_COMMITTED }));
    const t0 = Date.now();
    expect(await tb.broker.partitions.writeMarkers([{ topic: 'rc', partition: 0 }], marker(1, false))).toEqual([{ topic: 'rc', partition: 0, errorCode: 0 }]);
    const woke = (await waiting).responses[0]!.partitions[0]!;
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(woke).toMatchObject({ lastStableOffset: 3, abortedTransactions: [{ producerId: 1, firstOffset: 1 }] });
    expect(valuesOf(woke.records)).toEqual(['x1', 'x2']); // the client drops them: they are aborted

    await tb.broker.partitions.writeMarkers([{ topic: 'rc', partition: 0 }], marker(2, true));
    rc = await fetchAt(c, 'rc', 0, READ_COMMITTED);
    expect(rc).toMatchObject({ highWatermark: 7, lastStableOffset: 7, abortedTransactions: [{ producerId: 1, firstOffset: 1 }] });
    // a fetch starting after the abort marker overlaps no aborted transaction
    expect((await fetchAt(c, 'rc', 6, READ_COMMITTED)).abortedTransactions).toEqual([]);
    ru = await fetchAt(c, 'rc', 0, READ_UNCOMMITTED);
    expect(ru).toMatchObject({ lastStableOffset: 7, abortedTransactions: null });
    expect(await latest(c, 'rc', READ_COMMITTED)).toBe(7);
    // restart: the LSO and the aborted transactions come back from the snapshot and the .txnindex
    const tb2 = await tb.restart();
    tb2.broker.setTxnVerifier(okVerifier);
    const c2 = await WireClient.connect(tb2.port);
    expect(await fetchAt(c2, 'rc', 0, READ_COMMITTED)).toMatchObject({ lastStableOffset: 7, abortedTransactions: [{ producerId: 1, firstOffset: 1 }] });
  });

  it('ListOffsets by timestamp and max timestamp under read_committed find nothing at or past the LSO (-1, -1), as Kafka', async () => {
    const tb = await testBroker();
    tb.broker.setTxnVerifier(okVerifier);
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'ts');
    // 0 'a' at t=1000 | 1-2 open transaction of producer 1 at t=2000 | 3 'b' at t=3000: the LSO is 1.
    expect((await produceTx(c, 'ts', buildRecordBatch([{ value: 'a', timestamp: 1000 }]))).errorCode).toBe(0);
    const txBatch = buildRecordBatch([{ value: 'x1', timestamp: 2000 }, { value: 'x2', timestamp: 2000 }], { producerId: 1, producerEpoch: 0, baseSequence: 0, transactional: true });
    expect((await produceTx(c, 'ts', txBatch, 'tx-ts')).errorCode).toBe(0);
    expect((await produceTx(c, 'ts', buildRecordBatch([{ value: 'b', timestamp: 3000 }]))).errorCode).toBe(0);
    const at = async (timestamp: number, isolationLevel: number) => {
      const res = await c.request(ApiKey.ListOffsets, 7, {
        replicaId: -1,
        isolationLevel,
        topics: [{ name: 'ts', partitions: [{ partitionIndex: 0, timestamp, currentLeaderEpoch: -1, maxNumOffsets: 1 }] }],
      });
      const p = res.topics[0].partitions[0];
      return { errorCode: p.errorCode as number, offset: p.offset as number, timestamp: p.timestamp as number };
    };
    const none = { errorCode: 0, offset: -1, timestamp: -1 };
    expect(await at(0, READ_COMMITTED)).toEqual({ errorCode: 0, offset: 0, timestamp: 1000 });
    expect(await at(1500, READ_COMMITTED)).toEqual(none);
    expect(await at(2500, READ_COMMITTED)).toEqual(none);
    expect(await at(-3, READ_COMMITTED)).toEqual(none);
    expect(await at(-1, READ_COMMITTED)).toEqual({ errorCode: 0, offset: 1, timestamp: -1 });
    expect(await at(-2, READ_COMMITTED)).toEqual({ errorCode: 0, offset: 0, timestamp: -1 });
    // read_uncommitted sees up to the high watermark
    expect(await at(1500, READ_UNCOMMITTED)).toEqual({ errorCode: 0, offset: 1, timestamp: 2000 });
    expect(await at(2500, READ_UNCOMMITTED)).toEqual({ errorCode: 0, offset: 3, timestamp: 3000 });
    expect(await at(-3, READ_UNCOMMITTED)).toEqual({ errorCode: 0, offset: 3, timestamp: 3000 });
    expect(await at(-1, READ_UNCOMMITTED)).toEqual({ errorCode: 0, offset: 4, timestamp: -1 });
    // the commit marker (offset 4) moves the LSO to 5: the same lookups now find the records
    await tb.broker.partitions.writeMarkers([{ topic: 'ts', partition: 0 }], marker(1, true));
    expect(await at(1500, READ_COMMITTED)).toEqual({ errorCode: 0, offset: 1, timestamp: 2000 });
    expect(await at(2500, READ_COMMITTED)).toEqual({ errorCode: 0, offset: 3, timestamp: 3000 });
    // the marker itself carries the broker's clock, the largest timestamp now (Kafka answers -3 with it too)
    expect(await at(-3, READ_COMMITTED)).toMatchObject({ errorCode: 0, offset: 4 });
    expect(await at(-1, READ_COMMITTED)).toEqual({ errorCode: 0, offset: 5, timestamp: -1 });
  });

  it('kafkajs consumers: READ_COMMITTED skips the aborted transaction, READ_UNCOMMITTED sees everything', async () => {
    const { tb } = await transactionalLog('kjs', true);
    await tb.broker.partitions.writeMarkers([{ topic: 'kjs', partition: 0 }], marker(1, false));
    await tb.broker.partitions.writeMarkers([{ topic: 'kjs', partition: 0 }], marker(2, true));
    const kafka = new Kafka({ clientId: 'tern-txn-test', brokers: [`127.0.0.1:${tb.port}`], logLevel: logLevel.NOTHING, retry: { retries: 2 } });
    const consume = async (readUncommitted: boolean, expected: number): Promise<string[]> => {
      const consumer = kafka.consumer({ groupId: `g-${String(readUncommitted)}`, readUncommitted, maxWaitTimeInMs: 100 });
      const seen: string[] = [];
      await consumer.connect();
      try {
        await consumer.subscribe({ topic: 'kjs', fromBeginning: true });
        let done!: () => void;
        const all = new Promise<void>((r) => (done = r));
        await consumer.run({
          eachMessage: async ({ message }) => {
            seen.push(message.value!.toString());
            if (seen.length >= expected) done();
          },
        });
        await Promise.race([all, new Promise((r) => setTimeout(r, 15_000))]);
        // a little longer: nothing more may arrive
        await new Promise((r) => setTimeout(r, 300));
      } finally {
        await consumer.disconnect();
      }
      return seen;
    };
    expect(await consume(false, 3)).toEqual(['a', 'c1', 'b']);
    expect(await consume(true, 5)).toEqual(['a', 'x1', 'x2', 'c1', 'b']);
  }, 40_000);
});
