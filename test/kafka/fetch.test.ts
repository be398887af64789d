/**
 * Fetch as consumers use it: long polling (woken by appends, MaxWaitMs, MinBytes), size limits (MaxBytes,
 * PartitionMaxBytes, KIP-74), offset range errors, topic ids (v13+), read_committed, sessions, and zstd topics for
 * clients below v10.
 */
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { ApiKey, type FetchResponse } from '../../src/protocol/messages/index.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { Compression, buildRecordBatch, compressionOf, readBatchHeader } from '../../src/protocol/records.js';
import { compressSync, loadCompression } from '../../src/protocol/compression.js';
import {
  WireClient,
  createTopic,
  decodeBatches,
  fetchBody,
  fetchPartition,
  metadata,
  produce,
  produceValues,
  sleep,
  testBroker,
  valuesOf,
  FETCH_V,
} from './helpers.js';

async function setup(topic = 't', partitions = 1) {
  const tb = await testBroker();
  const c = await WireClient.connect(tb.port);
  await createTopic(c, topic, partitions);
  return { tb, c };
}

/** A batch of one record of `bytes` value bytes. */
const sized = (bytes: number, tag = 0): Buffer => buildRecordBatch([{ value: Buffer.alloc(bytes, tag) }]);

describe('long polling', () => {
  it('wakes on append: answered soon after data arrives, well before MaxWaitMs', async () => {
    const { c } = await setup();
    const producer = await WireClient.connect(c.socket.remotePort!);
    const t0 = Date.now();
    const pending = fetchPartition(c, 't', 0, 0, { maxWaitMs: 10_000 });
    await sleep(200);
    const producedAt = Date.now();
    await produceValues(producer, 't', 0, ['wake']);
    const p = await pending;
    const elapsed = Date.now() - t0;
    expect(valuesOf(p.records)).toEqual(['wake']);
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(Date.now() - producedAt).toBeLessThan(2000);
    expect(elapsed).toBeLessThan(3000);
  });

  it('wakes on an append to any of its partitions', async () => {
    const { c } = await setup('multi', 2);
    const producer = await WireClient.connect(c.socket.remotePort!);
    const body = fetchBody('multi', 0, 0, { maxWaitMs: 10_000 });
    body.topics[0]!.partitions.push({ ...body.topics[0]!.partitions[0]!, partition: 1 });
    const t0 = Date.now();
    const pending = c.request<FetchResponse>(ApiKey.Fetch, FETCH_V, body);
    await sleep(150);
    await produceValues(producer, 'multi', 1, ['p1']);
    const res = await pending;
    expect(Date.now() - t0).toBeLessThan(3000);
    const parts = res.responses[0]!.partitions;
    expect(parts.map((p) => p.partitionIndex)).toEqual([0, 1]);
    expect(valuesOf(parts[1]!.records)).toEqual(['p1']);
    expect(valuesOf(parts[0]!.records)).toEqual([]);
  });

  it('honours MaxWaitMs when nothing arrives', async () => {
    const { c } = await setup();
    for (const wait of [0, 400]) {
      const t0 = Date.now();
      const p = await fetchPartition(c, 't', 0, 0, { maxWaitMs: wait });
      const ms = Date.now() - t0;
      expect(p.errorCode).toBe(0);
      expect(valuesOf(p.records)).toEqual([]);
      expect(ms).toBeGreaterThanOrEqual(wait - 20);
      expect(ms).toBeLessThan(wait + 1000);
    }
  });

  it('waits for MinBytes: returns what it has at MaxWaitMs, or as soon as MinBytes are there', async () => {
    const { c } = await setup();
    const producer = await WireClient.connect(c.socket.remotePort!);
    await produce(producer, 't', 0, sized(100));
    // 1) Not enough data: waits the whole MaxWaitMs, then returns the ~170 bytes it has.
    let t0 = Date.now();
    const short = await fetchPartition(c, 't', 0, 0, { minBytes: 2000, maxWaitMs: 500 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(480);
    expect(decodeBatches(short.records)).toHaveLength(1);
    // 2) A small append does not complete it; one that brings the total over MinBytes does.
    t0 = Date.now();
    const pending = fetchPartition(c, 't', 0, 0, { minBytes: 2000, maxWaitMs: 10_000 });
    await sleep(150);
    await produce(producer, 't', 0, sized(100, 1));
    await sleep(150);
    let done = false;
    void pending.then(() => (done = true));
    await sleep(10);
    expect(done).toBe(false);
    await produce(producer, 't', 0, sized(2000, 2));
    const p = await pending;
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(decodeBatches(p.records)).toHaveLength(3);
  });

  it('does not answer success for a topic deleted while the Fetch waits', async () => {
    const { c } = await setup('del');
    const admin = await WireClient.connect(c.socket.remotePort!);
    const pending = c.request<FetchResponse>(ApiKey.Fetch, FETCH_V, fetchBody('del', 0, 0, { maxWaitMs: 800 }));
    await sleep(100);
    const del = await admin.request(ApiKey.DeleteTopics, 4, { topicNames: ['del'], timeoutMs: 5000 });
    expect(del.responses[0].errorCode).toBe(0);
    const res = await pending;
    expect(res.responses[0]!.partitions[0]!.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });

  it('answers at once for an unknown topic instead of waiting', async () => {
    const { c } = await setup();
    const t0 = Date.now();
    const p = await fetchPartition(c, 'missing', 0, 0, { maxWaitMs: 5000 });
    expect(p.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});

describe('size limits', () => {
  it('PartitionMaxBytes: whole batches that fit, at least one', async () => {
    const { c } = await setup();
    for (let i = 0; i < 5; i++) await produce(c, 't', 0, sized(1000, i));
    const one = decodeBatches((await fetchPartition(c, 't', 0, 0)).records)[0]!.size;
    const p = await fetchPartition(c, 't', 0, 0, { partitionMaxBytes: 2 * one + one / 2 });
    const batches = decodeBatches(p.records);
    expect(batches.map((b) => b.baseOffset)).toEqual([0, 1]);
    const all = await fetchPartition(c, 't', 0, 0, { partitionMaxBytes: 10 * one });
    expect(decodeBatches(all.records)).toHaveLength(5);
  });

  it('MaxBytes bounds the whole response across partitions', async () => {
    const { c } = await setup('two', 2);
    for (let i = 0; i < 3; i++) {
      await produce(c, 'two', 0, sized(1000, i));
      await produce(c, 'two', 1, sized(1000, i));
    }
    const one = decodeBatches((await fetchPartition(c, 'two', 0, 0)).records)[0]!.size;
    const body = fetchBody('two', 0, 0, { maxBytes: 2 * one + 10, partitionMaxBytes: 1024 * 1024 });
    body.topics[0]!.partitions.push({ ...body.topics[0]!.partitions[0]!, partition: 1 });
    const res = await c.request<FetchResponse>(ApiKey.Fetch, FETCH_V, body);
    const [p0, p1] = res.responses[0]!.partitions;
    expect(decodeBatches(p0!.records)).toHaveLength(2);
    expect(decodeBatches(p1!.records)).toHaveLength(0);
    expect(p1!.errorCode).toBe(0);
    expect(p1!.highWatermark).toBe(3);
  });

  it('KIP-74: the first batch is returned whole even when bigger than PartitionMaxBytes and MaxBytes', async () => {
    const { c } = await setup('two', 2);
    await produce(c, 'two', 0, sized(10_000, 1));
    await produce(c, 'two', 1, sized(10_000, 2));
    const body = fetchBody('two', 0, 0, { maxBytes: 100, partitionMaxBytes: 100 });
    body.topics[0]!.partitions.push({ ...body.topics[0]!.partitions[0]!, partition: 1 });
    const res = await c.request<FetchResponse>(ApiKey.Fetch, FETCH_V, body);
    const [p0, p1] = res.responses[0]!.partitions;
    const b0 = decodeBatches(p0!.records);
    expect(b0).toHaveLength(1);
    expect(b0[0]!.records[0]!.value!.length).toBe(10_000);
    // Only the first: the next partition is held to the limits (nothing fits).
    expect(decodeBatches(p1!.records)).toHaveLength(0);
    // The consumer makes progress: a fetch from the next offset alone gets partition 1's batch.
    const alone = await fetchPartition(c, 'two', 1, 0, { maxBytes: 100, partitionMaxBytes: 100 });
    expect(decodeBatches(alone.records)).toHaveLength(1);
  });
});

describe('offsets', () => {
  it('answers OFFSET_OUT_OF_RANGE above the high watermark; at the high watermark it is an empty answer', async () => {
    const { c } = await setup();
    await produceValues(c, 't', 0, ['a', 'b']);
    const atHw = await fetchPartition(c, 't', 0, 2);
    expect(atHw.errorCode).toBe(0);
    expect(valuesOf(atHw.records)).toEqual([]);
    expect(atHw.highWatermark).toBe(2);
    const above = await fetchPartition(c, 't', 0, 3, { maxWaitMs: 5000 });
    expect(above.errorCode).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
    expect(above.highWatermark).toBe(2);
  });

  it('answers OFFSET_OUT_OF_RANGE below the log start offset (after DeleteRecords)', async () => {
    const { c } = await setup();
    await produceValues(c, 't', 0, ['a', 'b', 'c', 'd']);
    const dr = await c.request(ApiKey.DeleteRecords, 1, { topics: [{ name: 't', partitions: [{ partitionIndex: 0, offset: 2 }] }], timeoutMs: 1000 });
    expect(dr.topics[0].partitions[0]).toMatchObject({ errorCode: 0, lowWatermark: 2 });
    const below = await fetchPartition(c, 't', 0, 1);
    expect(below.errorCode).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
    expect(below.logStartOffset).toBe(2);
    const from = await fetchPartition(c, 't', 0, 2);
    expect(from.errorCode).toBe(0);
    expect(from.logStartOffset).toBe(2);
    expect(valuesOf(from.records, 2)).toEqual(['c', 'd']);
  });

  it('returns whole batches that may start before FetchOffset (clients skip the head)', async () => {
    const { c } = await setup();
    await produceValues(c, 't', 0, ['a', 'b', 'c']);
    const p = await fetchPartition(c, 't', 0, 1);
    expect(decodeBatches(p.records)[0]!.baseOffset).toBe(0);
    expect(valuesOf(p.records, 1)).toEqual(['b', 'c']);
  });
});

describe('versions, topic ids, isolation, sessions', () => {
  it('serves v4 (kafka-python) and v12 (flexible) alike', async () => {
    const { c } = await setup();
    await produceValues(c, 't', 0, ['x', 'y']);
    for (const v of [4, 10, 12]) {
      const res = await c.request<FetchResponse>(ApiKey.Fetch, v, fetchBody('t', 0, 0));
      expect(res.responses[0]!.topic).toBe('t');
      expect(valuesOf(res.responses[0]!.partitions[0]!.records), `v${v}`).toEqual(['x', 'y']);
    }
  });

  it('v13+ names topics by id; an unknown id is UNKNOWN_TOPIC_ID', async () => {
    const { c } = await setup();
    await produceValues(c, 't', 0, ['by', 'id']);
    const id = (await metadata(c, 12, [{ name: 't' }])).topics[0]!.topicId;
    for (const v of [13, 16, 17]) {
      const body = fetchBody('', 0, 0);
      const res = await c.request<FetchResponse>(ApiKey.Fetch, v, { ...body, topics: [{ topicId: id, partitions: body.topics[0]!.partitions }] });
      expect(res.responses[0]!.topicId).toBe(id);
      expect(valuesOf(res.responses[0]!.partitions[0]!.records), `v${v}`).toEqual(['by', 'id']);
    }
    const body = fetchBody('', 0, 0, { maxWaitMs: 5000 });
    const unknownId = 'fedcba9876543210fedcba9876543210';
    const t0 = Date.now();
    const res = await c.request<FetchResponse>(ApiKey.Fetch, 13, { ...body, topics: [{ topicId: unknownId, partitions: body.topics[0]!.partitions }] });
    expect(res.responses[0]!.topicId).toBe(unknownId);
    expect(res.responses[0]!.partitions[0]!.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_ID);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('read_committed: LastStableOffset equals the high watermark and the aborted list is empty (not null)', async () => {
    const { c } = await setup();
    await produceValues(c, 't', 0, ['a', 'b', 'c']);
    for (const v of [4, 11, 12]) {
      const res = await c.request<FetchResponse>(ApiKey.Fetch, v, fetchBody('t', 0, 0, { isolationLevel: 1 }));
      const p = res.responses[0]!.partitions[0]!;
      expect(p.highWatermark).toBe(3);
      expect(p.lastStableOffset, `v${v}`).toBe(3);
      expect(p.abortedTransactions, `v${v}`).toEqual([]);
      expect(valuesOf(p.records)).toEqual(['a', 'b', 'c']);
    }
    // With nothing to return, LSO is still the HW (a consumer at the end must not see -1).
    const atEnd = await fetchPartition(c, 't', 0, 3, { isolationLevel: 1 });
    expect(atEnd.lastStableOffset).toBe(3);
  });

  it('a topic with compression.type=zstd answers Fetch below v10 with UNSUPPORTED_COMPRESSION_TYPE, as Kafka; v10+ reads it', async () => {
    const { c } = await setup('z');
    await produceValues(c, 'z', 0, ['before']);
    const at = async (v: number, topic = 'z') => (await c.request<FetchResponse>(ApiKey.Fetch, v, fetchBody(topic, 0, 0, { maxWaitMs: 5000 }))).responses[0]!.partitions[0]!;
    expect((await at(4)).errorCode).toBe(0);
    const alter = await c.request(ApiKey.IncrementalAlterConfigs, 0, { resources: [{ resourceType: 2, resourceName: 'z', configs: [{ name: 'compression.type', configOperation: 0, value: 'zstd' }] }], validateOnly: false });
    expect(alter.responses[0].errorCode).toBe(0);
    for (const v of [4, 7, 9]) {
      const t0 = Date.now();
      const p = await at(v);
      expect(p, `v${v}`).toMatchObject({ errorCode: ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1 });
      expect(decodeBatches(p.records), `v${v}`).toEqual([]);
      expect(Date.now() - t0, 'answered without waiting').toBeLessThan(1000);
    }
    for (const v of [10, 11, 12]) expect(valuesOf((await at(v)).records), `v${v}`).toEqual(['before']);
    // Only the topic's config decides (as in Kafka): a zstd batch on a producer-compression topic reaches v4.
    await createTopic(c, 'p');
    await loadCompression();
    const zstdBatch = buildRecordBatch([{ value: 'zz' }], { compression: Compression.zstd, compress: (b) => compressSync(Compression.zstd, b) });
    expect((await produce(c, 'p', 0, zstdBatch)).errorCode).toBe(0);
    const p4 = await at(4, 'p');
    expect(p4.errorCode).toBe(0);
    const served = Buffer.concat(Array.isArray(p4.records) ? p4.records : [p4.records as Buffer]);
    expect(compressionOf(readBatchHeader(served, 0).attributes)).toBe(Compression.zstd);
  });

  it('kafkajs (Fetch v11) consumes a topic with compression.type=zstd', async () => {
    const { tb, c } = await setup('kz');
    await c.request(ApiKey.IncrementalAlterConfigs, 0, { resources: [{ resourceType: 2, resourceName: 'kz', configs: [{ name: 'compression.type', configOperation: 0, value: 'zstd' }] }], validateOnly: false });
    await produceValues(c, 'kz', 0, ['k1', 'k2']);
    const kafka = new Kafka({ clientId: 'tern-zstd-test', brokers: [`127.0.0.1:${tb.port}`], logLevel: logLevel.NOTHING, retry: { retries: 2 } });
    const consumer = kafka.consumer({ groupId: 'kz-g', maxWaitTimeInMs: 100 });
    const seen: string[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topic: 'kz', fromBeginning: true });
      let done!: () => void;
      const all = new Promise<void>((r) => (done = r));
      await consumer.run({
        eachMessage: async ({ message }) => {
          seen.push(message.value!.toString());
          if (seen.length >= 2) done();
        },
      });
      await Promise.race([all, sleep(15_000)]);
    } finally {
      await consumer.disconnect();
    }
    expect(seen).toEqual(['k1', 'k2']);
  }, 30_000);

  it('v7+: a request naming a fetch session gets FETCH_SESSION_ID_NOT_FOUND; SessionId 0 stays sessionless', async () => {
    const { c } = await setup();
    await produceValues(c, 't', 0, ['s']);
    const res = await c.request<FetchResponse>(ApiKey.Fetch, FETCH_V, { ...fetchBody('t', 0, 0), sessionId: 12345, sessionEpoch: 1 });
    expect(res.errorCode).toBe(ErrorCode.FETCH_SESSION_ID_NOT_FOUND);
    expect(res.sessionId).toBe(0);
    // platformatic asks for a new session (0, epoch 0): answered sessionless (SessionId 0) with data.
    const fresh = await c.request<FetchResponse>(ApiKey.Fetch, 12, { ...fetchBody('t', 0, 0), sessionId: 0, sessionEpoch: 0 });
    expect(fresh.errorCode).toBe(0);
    expect(fresh.sessionId).toBe(0);
    expect(valuesOf(fresh.responses[0]!.partitions[0]!.records)).toEqual(['s']);
  });
});
