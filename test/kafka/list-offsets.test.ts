/**
 * ListOffsets: latest (-1), earliest (-2), max timestamp (-3, v7+), by timestamp, and v0's OldStyleOffsets.
 */
import { describe, expect, it } from 'vitest';
import { ApiKey, type ListOffsetsResponse } from '../../src/protocol/messages/index.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { buildRecordBatch } from '../../src/protocol/records.js';
import { WireClient, createTopic, listOffset, produce, testBroker } from './helpers.js';

async function seeded() {
  const tb = await testBroker();
  const c = await WireClient.connect(tb.port);
  await createTopic(c, 't');
  // offsets 0-2 at t=1000, 3-5 at t=2000, 6-8 at 3000/3500/3200 (max timestamp at offset 7)
  await produce(c, 't', 0, buildRecordBatch([0, 1, 2].map((i) => ({ value: `a${i}`, timestamp: 1000 }))));
  await produce(c, 't', 0, buildRecordBatch([0, 1, 2].map((i) => ({ value: `b${i}`, timestamp: 2000 }))));
  await produce(c, 't', 0, buildRecordBatch([3000, 3500, 3200].map((ts) => ({ value: `c${ts}`, timestamp: ts }))));
  return { tb, c };
}

describe('ListOffsets', () => {
  it('-1 latest = high watermark, -2 earliest = log start offset', async () => {
    const { c } = await seeded();
    for (const v of [1, 2, 5, 7, 8]) {
      expect(await listOffset(c, 't', 0, -1, v), `v${v}`).toMatchObject({ errorCode: 0, offset: 9 });
      expect(await listOffset(c, 't', 0, -2, v), `v${v}`).toMatchObject({ errorCode: 0, offset: 0 });
    }
  });

  it('-3 (v7+) finds the record with the largest timestamp', async () => {
    const { c } = await seeded();
    expect(await listOffset(c, 't', 0, -3, 7)).toMatchObject({ errorCode: 0, offset: 7, timestamp: 3500 });
  });

  it('by timestamp: the first offset whose timestamp is >= the target; -1 when none', async () => {
    const { c } = await seeded();
    expect(await listOffset(c, 't', 0, 0)).toMatchObject({ errorCode: 0, offset: 0, timestamp: 1000 });
    expect(await listOffset(c, 't', 0, 1000)).toMatchObject({ offset: 0, timestamp: 1000 });
    expect(await listOffset(c, 't', 0, 1001)).toMatchObject({ offset: 3, timestamp: 2000 });
    expect(await listOffset(c, 't', 0, 3100)).toMatchObject({ offset: 7, timestamp: 3500 });
    expect(await listOffset(c, 't', 0, 3300)).toMatchObject({ offset: 7, timestamp: 3500 });
    expect(await listOffset(c, 't', 0, 3501)).toMatchObject({ errorCode: 0, offset: -1, timestamp: -1 });
    // v1 (kafka-python's OffsetTime) too.
    expect(await listOffset(c, 't', 0, 1500, 1)).toMatchObject({ errorCode: 0, offset: 3 });
  });

  it('v0 answers through OldStyleOffsets', async () => {
    const { c } = await seeded();
    const res = await c.request<ListOffsetsResponse>(ApiKey.ListOffsets, 0, {
      replicaId: -1,
      topics: [{ name: 't', partitions: [{ partitionIndex: 0, timestamp: -1, maxNumOffsets: 1 }, { partitionIndex: 0, timestamp: -2, maxNumOffsets: 1 }] }],
    });
    const [latest, earliest] = res.topics[0]!.partitions;
    expect(latest).toMatchObject({ errorCode: 0, oldStyleOffsets: [9] });
    expect(earliest).toMatchObject({ errorCode: 0, oldStyleOffsets: [0] });
  });

  it('follows the log start offset after DeleteRecords', async () => {
    const { c } = await seeded();
    await c.request(ApiKey.DeleteRecords, 1, { topics: [{ name: 't', partitions: [{ partitionIndex: 0, offset: 4 }] }], timeoutMs: 1000 });
    expect(await listOffset(c, 't', 0, -2)).toMatchObject({ offset: 4 });
    // A timestamp before the new start answers the first readable offset.
    expect(await listOffset(c, 't', 0, 0)).toMatchObject({ offset: 4, timestamp: 2000 });
  });

  it('answers UNKNOWN_TOPIC_OR_PARTITION for an unknown topic or partition', async () => {
    const { c } = await seeded();
    expect((await listOffset(c, 'nope', 0, -1)).errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    expect((await listOffset(c, 't', 1, -1)).errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });

  it('empty partition: latest and earliest are 0, a timestamp lookup finds nothing', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'empty');
    expect(await listOffset(c, 'empty', 0, -1)).toMatchObject({ errorCode: 0, offset: 0 });
    expect(await listOffset(c, 'empty', 0, -2)).toMatchObject({ errorCode: 0, offset: 0 });
    expect(await listOffset(c, 'empty', 0, 5)).toMatchObject({ errorCode: 0, offset: -1 });
  });
});
