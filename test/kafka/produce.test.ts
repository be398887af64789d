/**
 * Produce error paths as a producer sees them, and offsets as it relies on them.
 */
import { describe, expect, it } from 'vitest';
import { ApiKey, type ProduceResponse } from '../../src/protocol/messages/index.js';
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
