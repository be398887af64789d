import { describe, expect, it } from 'vitest';
import { decodeRecords } from '../../src/client/index.js';
import { buildRecordBatch } from '../../src/protocol/records.js';
import { encodeBatch, walkStamps } from '../../bench/targets/kafka-records.js';
import { payloadTemplate, readStamp } from '../../bench/payload.js';

describe('bench Kafka batches', () => {
  it('encodes batches the broker codec reads back: CRC, keys, values with the stamp in front', () => {
    const template = payloadTemplate(100, 0.5, 42);
    const keys = [null, Buffer.from('key-7'), null];
    const stamps = [1_000_000.5, 2_000_000, 3_000_000];
    const batch = encodeBatch(template, keys, stamps, 1_700_000_000_000);
    const out = decodeRecords(batch, { topic: 't', partition: 0, fromOffset: 0 }); // verifies the CRC
    expect(out.records).toHaveLength(3);
    expect(out.nextOffset).toBe(3);
    expect(out.records.map((r) => r.key?.toString() ?? null)).toEqual([null, 'key-7', null]);
    expect(out.records.map((r) => readStamp(r.value!, 0))).toEqual(stamps);
    expect(out.records.map((r) => r.timestamp)).toEqual([1_700_000_000_000, 1_700_000_000_000, 1_700_000_000_000]);
    expect(out.records[1]!.value!.subarray(8)).toEqual(template.subarray(8));
  });

  it('walks stamps of several batches, skips records before the fetch offset, leaves a partial batch', () => {
    const template = payloadTemplate(64, 0, 1);
    const a = encodeBatch(template, [null, null], [10, 11], 0);
    const b = encodeBatch(template, [Buffer.from('k')], [12], 0);
    b.writeBigInt64BE(2n, 0); // base offset 2, as the broker assigns
    const partial = encodeBatch(template, [null], [13], 0).subarray(0, 70);
    const seen: number[] = [];
    const r = walkStamps(Buffer.concat([a, b, partial]), 1, (stamp, bytes) => {
      expect(bytes).toBe(64);
      seen.push(stamp);
    });
    expect(seen).toEqual([11, 12]);
    expect(r).toEqual({ nextOffset: 3, records: 2 });
  });

  it('reads stamps out of batches built by the protocol codec too (multi-byte varints)', () => {
    const values = Array.from({ length: 200 }, (_, i) => {
      const v = Buffer.alloc(300);
      v.writeDoubleBE(i * 1000, 0);
      return v;
    });
    const batch = buildRecordBatch(values.map((value, i) => ({ key: i % 2 === 0 ? null : Buffer.alloc(150, 1), value })));
    const seen: number[] = [];
    walkStamps(batch, 0, (s) => seen.push(s));
    expect(seen).toEqual(values.map((_, i) => i * 1000));
  });
});
