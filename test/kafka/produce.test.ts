/**
 * Produce error paths as a producer sees them, and offsets as it relies on them; timestamp bounds
 * (message.timestamp.before/after/difference.max.ms) as Kafka enforces them.
 */
import { ConfigResourceTypes, Kafka, logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import {
  ApiKey,
  type AlterConfigsResponse,
  type CreateTopicsResponse,
  type DescribeConfigsResponse,
  type IncrementalAlterConfigsResponse,
  type ProduceResponse,
} from '../../src/protocol/messages/index.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { CRC_OFFSET, RECORDS_OFFSET, buildRecordBatch } from '../../src/protocol/records.js';
import { WireClient, createTopic, fetchPartition, listOffset, produce, recordsOf, testBroker, valuesOf, PRODUCE_V } from './helpers.js';

describe('Produce', () => {
  it('appends and answers the base offset, log start offset and -1 append time (CreateTime)', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 't');
    const r1 = await produce(c, 't', 0, recordsOf(['a', 'b', 'c']));
    expect(r1).toMatchObject({ errorCode: 0, baseOffset: 0, logAppendTimeMs: -1, logStartOffset: 0 });
    const r2 = await produce(c, 't', 0, recordsOf(['d']), { version: 3 });
    expect(r2).toMatchObject({ errorCode: 0, baseOffset: 3 });
    const r3 = await produce(c, 't', 0, recordsOf(['e']), { version: 11 });
    expect(r3).toMatchObject({ errorCode: 0, baseOffset: 4 });
    expect(valuesOf((await fetchPartition(c, 't', 0, 0)).records)).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('answers CORRUPT_MESSAGE for a batch whose CRC does not match, and stores nothing', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'crc');
    const bad = recordsOf(['tampered']);
    bad[RECORDS_OFFSET + 5] ^= 0xff; // a record byte: the CRC no longer matches
    expect((await produce(c, 'crc', 0, bad)).errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
    const badCrc = recordsOf(['x']);
    badCrc.writeUInt32BE((badCrc.readUInt32BE(CRC_OFFSET) + 1) >>> 0, CRC_OFFSET);
    expect((await produce(c, 'crc', 0, badCrc)).errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
    expect((await listOffset(c, 'crc', 0, -1)).offset).toBe(0);
    // The connection is still fine and a good batch goes in at offset 0.
    expect((await produce(c, 'crc', 0, recordsOf(['ok']))).baseOffset).toBe(0);
  });

  it('answers MESSAGE_TOO_LARGE for a batch above the topic max.message.bytes', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'small', 1, { 'max.message.bytes': '1000' });
    const big = buildRecordBatch([{ value: Buffer.alloc(1200, 1) }]);
    expect((await produce(c, 'small', 0, big)).errorCode).toBe(ErrorCode.MESSAGE_TOO_LARGE);
    const fits = buildRecordBatch([{ value: Buffer.alloc(800, 1) }]);
    expect(fits.length).toBeLessThanOrEqual(1000);
    expect((await produce(c, 'small', 0, fits)).errorCode).toBe(0);
  });

  it('answers UNKNOWN_TOPIC_OR_PARTITION for an unknown topic or partition (never auto-creates)', async () => {
    const tb = await testBroker({ autoCreateTopics: true });
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'known', 2);
    expect((await produce(c, 'unknown', 0, recordsOf(['x']))).errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    expect((await produce(c, 'known', 2, recordsOf(['x']))).errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    expect(tb.broker.topics.get('unknown')).toBeUndefined();
  });

  it('answers INVALID_REQUIRED_ACKS for acks=2 (and stores nothing)', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'acks');
    for (const acks of [2, -2, 5]) {
      expect((await produce(c, 'acks', 0, recordsOf(['x']), { acks })).errorCode, `acks=${acks}`).toBe(ErrorCode.INVALID_REQUIRED_ACKS);
    }
    expect((await listOffset(c, 'acks', 0, -1)).offset).toBe(0);
  });

  it('answers each partition of a multi-partition request on its own (one bad, others appended)', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'multi', 3);
    const bad = recordsOf(['bad']);
    bad[bad.length - 1] ^= 0x55;
    const res = await c.request<ProduceResponse>(ApiKey.Produce, PRODUCE_V, {
      transactionalId: null,
      acks: -1,
      timeoutMs: 5000,
      topicData: [
        { name: 'multi', partitionData: [{ index: 0, records: recordsOf(['p0']) }, { index: 1, records: bad }, { index: 2, records: recordsOf(['p2a', 'p2b']) }] },
        { name: 'ghost', partitionData: [{ index: 0, records: recordsOf(['g']) }] },
      ],
    });
    const byIndex = res.responses[0]!.partitionResponses.map((p) => [p.index, p.errorCode, p.baseOffset]);
    expect(byIndex).toEqual([
      [0, 0, 0],
      [1, ErrorCode.CORRUPT_MESSAGE, -1],
      [2, 0, 0],
    ]);
    expect(res.responses[1]!.partitionResponses[0]!.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    expect(valuesOf((await fetchPartition(c, 'multi', 2, 0)).records)).toEqual(['p2a', 'p2b']);
    expect((await listOffset(c, 'multi', 1, -1)).offset).toBe(0);
  });

  it('answers UNKNOWN_TOPIC_OR_PARTITION (retriable), not UNKNOWN_SERVER_ERROR, when the log closed under the request', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'closing');
    // What a DeleteTopics racing with this Produce does to the log the handler already holds.
    await tb.broker.partitionLog('closing', 0)!.close();
    expect((await produce(c, 'closing', 0, recordsOf(['late']))).errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    expect((await listOffset(c, 'closing', 0, 0)).errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });

  it('rejects records that are not magic-2 batches, and a client control batch, as INVALID_RECORD', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'inv');
    const magic1 = recordsOf(['x']);
    magic1.writeInt8(1, 16);
    for (const version of [3, 7, 11]) expect((await produce(c, 'inv', 0, magic1, { version })).errorCode, `v${version}`).toBe(ErrorCode.INVALID_RECORD);
    // v0-2 exist only for legacy messages (advertised for librdkafka's feature checks), which Tern does not store.
    for (const version of [0, 2]) expect((await produce(c, 'inv', 0, magic1, { version })).errorCode, `v${version}`).toBe(ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT);
    expect((await listOffset(c, 'inv', 0, -1)).offset).toBe(0);
    const control = buildRecordBatch([{ key: Buffer.from([0, 0, 0, 0]), value: Buffer.from([0, 0, 0, 0, 0, 0]) }], { control: true, transactional: true, producerId: 1, producerEpoch: 0 });
    expect((await produce(c, 'inv', 0, control)).errorCode).toBe(ErrorCode.INVALID_RECORD);
  });
});

describe('timestamp bounds: message.timestamp.before/after.max.ms and the deprecated difference.max.ms', () => {
  const HOUR = 3_600_000;
  const at = (timestamp: number, value = 'v') => buildRecordBatch([{ value, timestamp }]);
  const describeTopic = async (c: WireClient, topic: string, names: string[]) => {
    const res = await c.request<DescribeConfigsResponse>(ApiKey.DescribeConfigs, 4, { resources: [{ resourceType: 2, resourceName: topic, configurationKeys: names }], includeSynonyms: true, includeDocumentation: false });
    return Object.fromEntries(res.results[0]!.configs.map((e) => [e.name, { value: e.value, source: e.configSource, synonyms: e.synonyms.map((s) => [s.name, s.value, s.source]) }]));
  };
  const incremental = (c: WireClient, topic: string, ops: [string, number, string | null][]) =>
    c.request<IncrementalAlterConfigsResponse>(ApiKey.IncrementalAlterConfigs, 1, { resources: [{ resourceType: 2, resourceName: topic, configs: ops.map(([name, configOperation, value]) => ({ name, configOperation, value })) }], validateOnly: false });

  it('refuses a batch with a record timestamp outside the bounds with INVALID_TIMESTAMP and writes nothing, as Kafka', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'tsb', 1, { 'message.timestamp.before.max.ms': String(HOUR), 'message.timestamp.after.max.ms': '60000' });
    const now = Date.now();
    const old = await produce(c, 'tsb', 0, at(now - 2 * HOUR), { version: 8 });
    expect(old).toMatchObject({ errorCode: ErrorCode.INVALID_TIMESTAMP, baseOffset: -1, errorMessage: 'One or more records have been rejected due to invalid timestamp' });
    expect(old.recordErrors).toEqual([{ batchIndex: 0, batchIndexErrorMessage: expect.stringMatching(/^Timestamp \d+ of message with offset 0 is out of range\. The timestamp should be within \[\d+, \d+\]$/) }]);
    expect((await produce(c, 'tsb', 0, at(now + 10 * 60_000))).errorCode).toBe(ErrorCode.INVALID_TIMESTAMP);
    // one bad record refuses its whole batch, whatever the batch header's first timestamp says
    const mixed = buildRecordBatch([{ value: 'ok', timestamp: now }, { value: 'old', timestamp: now - 2 * HOUR }]);
    expect((await produce(c, 'tsb', 0, mixed)).errorCode).toBe(ErrorCode.INVALID_TIMESTAMP);
    expect((await listOffset(c, 'tsb', 0, -1)).offset).toBe(0);
    expect((await produce(c, 'tsb', 0, buildRecordBatch([{ value: 'a', timestamp: now - HOUR + 60_000 }, { value: 'b', timestamp: now + 30_000 }]))).errorCode).toBe(0);
    expect(valuesOf((await fetchPartition(c, 'tsb', 0, 0)).records)).toEqual(['a', 'b']);
  });

  it('difference.max.ms bounds both sides until before/after are set; IncrementalAlterConfigs applies at once', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'tsd');
    const now = Date.now();
    expect((await produce(c, 'tsd', 0, at(now - 100 * HOUR))).errorCode).toBe(0); // no bound by default
    expect((await incremental(c, 'tsd', [['message.timestamp.difference.max.ms', 0, String(HOUR)]])).responses[0]!.errorCode).toBe(0);
    expect((await produce(c, 'tsd', 0, at(Date.now() - 2 * HOUR))).errorCode).toBe(ErrorCode.INVALID_TIMESTAMP);
    expect((await produce(c, 'tsd', 0, at(Date.now() + 2 * HOUR))).errorCode).toBe(ErrorCode.INVALID_TIMESTAMP);
    // after.max.ms set: the future side follows it, the past side still difference.max.ms
    expect((await incremental(c, 'tsd', [['message.timestamp.after.max.ms', 0, String(10 * HOUR)]])).responses[0]!.errorCode).toBe(0);
    expect((await produce(c, 'tsd', 0, at(Date.now() + 2 * HOUR))).errorCode).toBe(0);
    expect((await produce(c, 'tsd', 0, at(Date.now() - 2 * HOUR))).errorCode).toBe(ErrorCode.INVALID_TIMESTAMP);
    // DELETE returns to the default: no bound at all
    expect((await incremental(c, 'tsd', [['message.timestamp.difference.max.ms', 1, null], ['message.timestamp.after.max.ms', 1, null]])).responses[0]!.errorCode).toBe(0);
    expect((await produce(c, 'tsd', 0, at(Date.now() - 2 * HOUR))).errorCode).toBe(0);
  });

  it('LogAppendTime topics are not checked (the broker overwrites the timestamp)', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'tsl', 1, { 'message.timestamp.type': 'LogAppendTime', 'message.timestamp.before.max.ms': '1000', 'message.timestamp.after.max.ms': '1000' });
    expect((await produce(c, 'tsl', 0, at(Date.now() - 100 * HOUR))).errorCode).toBe(0);
    expect((await produce(c, 'tsl', 0, at(Date.now() + 100 * HOUR))).errorCode).toBe(0);
  });

  it('CreateTopics, AlterConfigs and DescribeConfigs take the three, with Kafka defaults, sources and synonyms; bad values are INVALID_CONFIG', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'tsc', 1, { 'message.timestamp.after.max.ms': '5000' });
    const LONG_MAX = '9223372036854775807';
    const names = ['message.timestamp.before.max.ms', 'message.timestamp.after.max.ms', 'message.timestamp.difference.max.ms'];
    expect(await describeTopic(c, 'tsc', names)).toEqual({
      'message.timestamp.before.max.ms': { value: LONG_MAX, source: 5, synonyms: [['log.message.timestamp.before.max.ms', LONG_MAX, 5]] },
      'message.timestamp.after.max.ms': { value: '5000', source: 1, synonyms: [['message.timestamp.after.max.ms', '5000', 1], ['log.message.timestamp.after.max.ms', LONG_MAX, 5]] },
      'message.timestamp.difference.max.ms': { value: LONG_MAX, source: 5, synonyms: [['log.message.timestamp.difference.max.ms', LONG_MAX, 5]] },
    });
    const alter = await c.request<AlterConfigsResponse>(ApiKey.AlterConfigs, 1, { resources: [{ resourceType: 2, resourceName: 'tsc', configs: [{ name: 'message.timestamp.before.max.ms', value: '7000' }] }], validateOnly: false });
    expect(alter.responses[0]!.errorCode).toBe(0);
    expect((await describeTopic(c, 'tsc', names))['message.timestamp.before.max.ms']!.value).toBe('7000');
    // AlterConfigs replaces the whole set: after.max.ms is back at its default
    expect((await describeTopic(c, 'tsc', names))['message.timestamp.after.max.ms']!.source).toBe(5);
    for (const bad of ['-1', '9223372036854775808', 'soon']) {
      const r = await c.request<CreateTopicsResponse>(ApiKey.CreateTopics, 4, { topics: [{ name: 'tsx', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [{ name: 'message.timestamp.before.max.ms', value: bad }] }], timeoutMs: 5000, validateOnly: false });
      expect(r.topics[0]!.errorCode, bad).toBe(ErrorCode.INVALID_CONFIG);
    }
  });

  it('kafkajs: a producer sending an old timestamp gets INVALID_TIMESTAMP; current ones are written', async () => {
    const tb = await testBroker();
    const kafka = new Kafka({ clientId: 'tern-ts-test', brokers: [`127.0.0.1:${tb.port}`], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
    const admin = kafka.admin();
    const producer = kafka.producer({ retry: { retries: 0 } });
    await admin.connect();
    await producer.connect();
    try {
      await admin.createTopics({ topics: [{ topic: 'kts', configEntries: [{ name: 'message.timestamp.before.max.ms', value: String(HOUR) }] }] });
      const cfg = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: 'kts', configNames: ['message.timestamp.before.max.ms', 'message.timestamp.after.max.ms'] }] });
      expect(Object.fromEntries(cfg.resources[0]!.configEntries.map((e) => [e.configName, [e.configValue, e.isDefault]]))).toEqual({
        'message.timestamp.before.max.ms': [String(HOUR), false],
        'message.timestamp.after.max.ms': ['9223372036854775807', true],
      });
      const refused = await producer.send({ topic: 'kts', acks: -1, messages: [{ value: 'old', timestamp: String(Date.now() - 2 * HOUR) }] }).catch((e: unknown) => e);
      expect(refused).toMatchObject({ type: 'INVALID_TIMESTAMP', retriable: false });
      await producer.send({ topic: 'kts', acks: -1, messages: [{ value: 'now', timestamp: String(Date.now()) }] });
      expect(await admin.fetchTopicOffsets('kts')).toMatchObject([{ partition: 0, offset: '1' }]);
    } finally {
      await producer.disconnect();
      await admin.disconnect();
    }
  });
});
