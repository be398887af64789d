import { createRequire } from 'node:module';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32c } from '../../src/protocol/crc32c.js';
import { copyCounts, resetCopyCounts, STRADDLE_TEMP_BYTES_MAX } from '../../src/protocol/copy-meter.js';
import { Rng } from './spec-model.js';
import { compressSync, decompressSync, loadCompression } from '../../src/protocol/compression.js';
import {
  ATTRIBUTES_OFFSET,
  BATCH_LENGTH_OFFSET,
  CRC_OFFSET,
  Compression,
  LAST_OFFSET_DELTA_OFFSET,
  MAGIC_OFFSET,
  RECORDS_OFFSET,
  RECORD_COUNT_OFFSET,
  RecordFormatError,
  assignOffsets,
  batchPayload,
  buildRecordBatch,
  isBatchCrcValid,
  isLogAppendTime,
  iterateRecords,
  readBatchHeader,
  recordErrorsMax,
  validateBatches,
  type BatchHeader,
  type ValidateResult,
} from '../../src/protocol/records.js';

const T0 = 1_700_000_000_000;
const opts = { maxBatchBytes: 1 << 20 };

/** Recomputes the CRC after a test edits bytes inside it, so the check under test is not the CRC. */
function resign(batch: Buffer): Buffer {
  batch.writeUInt32BE(crc32c(batch.subarray(ATTRIBUTES_OFFSET)), CRC_OFFSET);
  return batch;
}

function sample(): Buffer {
  return buildRecordBatch(
    [
      { key: 'k1', value: 'v1', timestamp: T0, headers: [{ key: 'h', value: 'x' }] },
      { key: null, value: null, timestamp: T0 + 5 },
      { value: Buffer.from([0, 1, 2]), timestamp: T0 - 3, headers: [{ key: 'n', value: null }] },
    ],
    { producerId: 7, producerEpoch: 1, baseSequence: 0 },
  );
}

function expectError(result: ValidateResult, error: string, message?: RegExp): void {
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.error).toBe(error);
  if (message !== undefined) expect(result.message).toMatch(message);
}

describe('buildRecordBatch / parse round trip', () => {
  it('builds a batch whose header, CRC and records read back', () => {
    const batch = sample();
    const h = readBatchHeader(batch, 0);
    expect(h).toMatchObject({
      baseOffset: 0,
      batchLength: batch.length - 12,
      magic: 2,
      attributes: 0,
      lastOffsetDelta: 2,
      baseTimestamp: T0,
      maxTimestamp: T0 + 5,
      producerId: 7,
      producerEpoch: 1,
      baseSequence: 0,
      recordCount: 3,
    });
    expect(isBatchCrcValid(batch, 0, h)).toBe(true);

    const records = [...iterateRecords(batchPayload(batch, 0, h), h)];
    expect(records.map((r) => r.offset)).toEqual([0, 1, 2]);
    expect(records.map((r) => r.timestamp)).toEqual([T0, T0 + 5, T0 - 3]);
    expect(records[0]!.key?.toString()).toBe('k1');
    expect(records[0]!.value?.toString()).toBe('v1');
    expect(records[0]!.headers).toEqual([{ key: 'h', value: Buffer.from('x') }]);
    expect(records[1]!.key).toBeNull();
    expect(records[1]!.value).toBeNull();
    expect(records[2]!.value).toEqual(Buffer.from([0, 1, 2]));
    expect(records[2]!.headers).toEqual([{ key: 'n', value: null }]);
    // zero-copy: values are views into the batch
    expect(records[2]!.value!.buffer).toBe(batch.buffer);
  });

  it('validates one batch and reports its position and counts', () => {
    const result = validateBatches(sample(), opts);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.recordCount).toBe(3);
    expect(result.batches).toHaveLength(1);
    expect(result.batches[0]!.position).toBe(0);
  });

  it('validates batches back to back', () => {
    const a = sample();
    const b = buildRecordBatch([{ value: 'x', timestamp: T0 }]);
    const result = validateBatches(Buffer.concat([a, b]), opts);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.batches.map((x) => x.position)).toEqual([0, a.length]);
    expect(result.recordCount).toBe(4);
    expectError(validateBatches(Buffer.concat([a, b]), { ...opts, exactlyOneBatch: true }), 'INVALID_RECORD');
  });

  it('encodes the same bytes kafkajs encodes, and kafkajs reads ours', async () => {
    const require = createRequire(import.meta.url);
    type Enc = { buffer: Buffer };
    const kafkajsBatch = require('kafkajs/src/protocol/recordBatch/v0') as { RecordBatch: (o: object) => Promise<Enc> };
    const kafkajsRecord = require('kafkajs/src/protocol/recordBatch/record/v0') as (o: object) => Enc;
    const Decoder = require('kafkajs/src/protocol/decoder') as new (b: Buffer) => object;
    const decode = require('kafkajs/src/protocol/recordBatch/v0/decoder') as (
      d: object,
    ) => Promise<{ records: { key: Buffer | null; value: Buffer | null; offset: string; headers: object }[] }>;

    const theirs = (
      await kafkajsBatch.RecordBatch({
        firstTimestamp: T0,
        maxTimestamp: T0 + 1,
        lastOffsetDelta: 1,
        producerEpoch: -1,
        firstSequence: -1,
        partitionLeaderEpoch: -1,
        records: [
          kafkajsRecord({
            offsetDelta: 0,
            timestampDelta: 0,
            key: Buffer.from('a'),
            value: Buffer.from('1'),
            headers: { h: 'x' },
          }),
          kafkajsRecord({ offsetDelta: 1, timestampDelta: 1, key: Buffer.from('b'), value: Buffer.from('2') }),
        ],
      })
    ).buffer;
    const ours = buildRecordBatch(
      [
        { key: 'a', value: '1', timestamp: T0, headers: [{ key: 'h', value: 'x' }] },
        { key: 'b', value: '2', timestamp: T0 + 1 },
      ],
      {},
    );
    expect(ours.toString('hex')).toBe(theirs.toString('hex'));
    expect(validateBatches(theirs, opts).ok).toBe(true);

    const decoded = await decode(new Decoder(ours));
    expect(decoded.records.map((r) => [r.key?.toString(), r.value?.toString(), r.offset])).toEqual([
      ['a', '1', '0'],
      ['b', '2', '1'],
    ]);
  });
});

describe('validateBatches rejects bad input without throwing', () => {
  it('detects CRC corruption', () => {
    const batch = sample();
    batch[batch.length - 1]! ^= 0xff;
    expectError(validateBatches(batch, opts), 'CORRUPT_MESSAGE', /CRC/);
  });

  it('detects a truncated batch and trailing bytes', () => {
    const batch = sample();
    expectError(validateBatches(batch.subarray(0, batch.length - 1), opts), 'CORRUPT_MESSAGE');
    expectError(validateBatches(Buffer.concat([batch, Buffer.alloc(11)]), opts), 'CORRUPT_MESSAGE');
    expectError(validateBatches(batch.subarray(0, 30), opts), 'CORRUPT_MESSAGE');
  });

  it('rejects a length below the header size', () => {
    const batch = sample();
    batch.writeInt32BE(20, BATCH_LENGTH_OFFSET);
    expectError(validateBatches(batch, opts), 'CORRUPT_MESSAGE');
    batch.writeInt32BE(-5, BATCH_LENGTH_OFFSET);
    expectError(validateBatches(batch, opts), 'CORRUPT_MESSAGE');
  });

  it('rejects older magic with INVALID_RECORD', () => {
    const batch = sample();
    batch.writeInt8(1, MAGIC_OFFSET);
    expectError(validateBatches(batch, opts), 'INVALID_RECORD');
  });

  it('rejects an empty records field', () => {
    expectError(validateBatches(Buffer.alloc(0), opts), 'INVALID_RECORD');
  });

  it('rejects a non-zero producer base offset', () => {
    const batch = sample();
    batch.writeInt32BE(5, 4); // baseOffset low word; outside the CRC
    expectError(validateBatches(batch, opts), 'INVALID_RECORD');
  });

  it('rejects an oversize batch with MESSAGE_TOO_LARGE', () => {
    const batch = sample();
    expectError(validateBatches(batch, { maxBatchBytes: batch.length - 1 }), 'MESSAGE_TOO_LARGE');
    expect(validateBatches(batch, { maxBatchBytes: batch.length }).ok).toBe(true);
  });

  it('detects a varint overrun inside a record', () => {
    const batch = buildRecordBatch([{ key: 'abc', value: 'defg', timestamp: T0 }]);
    // record: length, attributes, tsDelta(0), offsetDelta(0), keyLength at RECORDS_OFFSET + 4
    const keyLengthAt = RECORDS_OFFSET + 4;
    expect(batch[keyLengthAt]).toBe(3 << 1); // zig-zag 3
    batch[keyLengthAt] = 60 << 1; // key claims 60 bytes, the record has 10
    expectError(validateBatches(resign(batch), opts), 'INVALID_RECORD', /key overruns the record/);
    // an unterminated varint running to the end of the batch
    const b2 = buildRecordBatch([{ key: 'abc', value: 'defg', timestamp: T0 }]);
    b2.fill(0xff, keyLengthAt);
    expectError(validateBatches(resign(b2), opts), 'INVALID_RECORD', /malformed varint/);
  });

  it('detects a record count that does not match the records', () => {
    const two = () => buildRecordBatch([{ value: 'a', timestamp: T0 }, { value: 'b', timestamp: T0 }]);
    const more = two();
    more.writeInt32BE(3, RECORD_COUNT_OFFSET);
    more.writeInt32BE(2, LAST_OFFSET_DELTA_OFFSET);
    expectError(validateBatches(resign(more), opts), 'INVALID_RECORD', /3 records declared, payload ends after 2/);
    const fewer = two();
    fewer.writeInt32BE(1, RECORD_COUNT_OFFSET);
    fewer.writeInt32BE(0, LAST_OFFSET_DELTA_OFFSET);
    expectError(validateBatches(resign(fewer), opts), 'INVALID_RECORD', /bytes after the last of 1 records/);
    const inconsistent = two();
    inconsistent.writeInt32BE(5, LAST_OFFSET_DELTA_OFFSET);
    expectError(validateBatches(resign(inconsistent), opts), 'INVALID_RECORD', /lastOffsetDelta 5/);
    const zero = two();
    zero.writeInt32BE(0, RECORD_COUNT_OFFSET);
    expectError(validateBatches(resign(zero), opts), 'INVALID_RECORD');
  });

  it('rejects control batches from clients and unknown codecs', () => {
    const marker = { key: Buffer.from([0, 0, 0, 1]), value: null, timestamp: T0 };
    const control = buildRecordBatch([marker], { control: true });
    expectError(validateBatches(control, opts), 'INVALID_RECORD');
    expect(validateBatches(control, { ...opts, allowControlBatches: true }).ok).toBe(true);
    const codec = sample();
    codec.writeInt16BE(6, ATTRIBUTES_OFFSET);
    expectError(validateBatches(resign(codec), opts), 'UNSUPPORTED_COMPRESSION_TYPE');
  });

  it('never throws on random garbage', () => {
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const base = sample();
    for (let i = 0; i < 500; i++) {
      const b = Buffer.from(base);
      for (let j = 0; j < 4; j++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      if (i % 2 === 0) resign(b); // half reach the record walk
      expect(() => validateBatches(b.subarray(0, Math.floor(rand() * (b.length + 1))), opts)).not.toThrow();
      expect(() => validateBatches(b, opts)).not.toThrow();
    }
  });
});

describe('compressed batches', () => {
  it('pass with a good CRC without being decompressed, and fail with a bad one', () => {
    const batch = buildRecordBatch(
      [{ key: 'k', value: 'v'.repeat(100), timestamp: T0 }, { value: 'w', timestamp: T0 }],
      { compression: Compression.gzip, compress: (p) => gzipSync(p) },
    );
    const result = validateBatches(batch, opts);
    expect(result.ok).toBe(true);
    const h = readBatchHeader(batch, 0);
    const records = [...iterateRecords(gunzipSync(batchPayload(batch, 0, h)), h)];
    expect(records.map((r) => r.value?.toString())).toEqual(['v'.repeat(100), 'w']);

    batch[RECORDS_OFFSET + 3]! ^= 1;
    expectError(validateBatches(batch, opts), 'CORRUPT_MESSAGE');
  });
});

describe('timestamp bounds (message.timestamp.before/after.max.ms)', () => {
  const bounds = { ...opts, timestampMinMs: T0 - 1000, timestampMaxMs: T0 + 1000, decompress: decompressSync };
  const gzip = { compression: Compression.gzip, compress: (p: Buffer) => gzipSync(p) };
  const zstd = { compression: Compression.zstd, compress: (p: Buffer) => compressSync(Compression.zstd, p) };

  it('check every record, bounds inclusive; NO_TIMESTAMP (-1) is never out of range', () => {
    const ok = buildRecordBatch([{ value: 'a', timestamp: T0 - 1000 }, { value: 'b', timestamp: T0 + 1000 }, { value: 'c', timestamp: -1 }]);
    expect(validateBatches(ok, bounds).ok).toBe(true);
    // a bad record after a good first one: the header alone would not show it
    const bad = buildRecordBatch([{ value: 'a', timestamp: T0 }, { value: 'b', timestamp: T0 - 1001 }, { value: 'c', timestamp: T0 + 1001 }]);
    const r = validateBatches(bad, bounds);
    expectError(r, 'INVALID_TIMESTAMP', /rejected due to invalid timestamp/);
    expect(!r.ok && r.recordErrors).toEqual([
      { batchIndex: 1, batchIndexErrorMessage: `Timestamp ${T0 - 1001} of message with offset 1 is out of range. The timestamp should be within [${T0 - 1000}, ${T0 + 1000}]` },
      { batchIndex: 2, batchIndexErrorMessage: `Timestamp ${T0 + 1001} of message with offset 2 is out of range. The timestamp should be within [${T0 - 1000}, ${T0 + 1000}]` },
    ]);
    // one open side
    expect(validateBatches(bad, { ...bounds, timestampMaxMs: Infinity }).ok).toBe(false);
    expect(validateBatches(buildRecordBatch([{ value: 'f', timestamp: T0 + 10 ** 9 }]), { ...bounds, timestampMaxMs: Infinity }).ok).toBe(true);
  });

  it('list at most recordErrorsMax refused records of a batch', () => {
    const many = buildRecordBatch(Array.from({ length: recordErrorsMax + 50 }, () => ({ value: null, timestamp: T0 + 5000 })));
    const r = validateBatches(many, bounds);
    expectError(r, 'INVALID_TIMESTAMP');
    expect(!r.ok && r.recordErrors?.length).toBe(recordErrorsMax);
  });

  it('in any batch of a request: a bad one refuses the request', () => {
    const good = buildRecordBatch([{ value: 'a', timestamp: T0 }]);
    const bad = buildRecordBatch([{ value: 'b', timestamp: T0 + 5000 }]);
    expectError(validateBatches(Buffer.concat([good, bad]), bounds), 'INVALID_TIMESTAMP');
  });

  it('a batch marked LogAppendTime by its producer reads every record as its maxTimestamp, as Kafka does', () => {
    const b = buildRecordBatch([{ value: 'a', timestamp: T0 }, { value: 'b', timestamp: T0 + 5000 }]);
    b.writeInt16BE(b.readInt16BE(ATTRIBUTES_OFFSET) | 0x08, ATTRIBUTES_OFFSET);
    resign(b);
    const r = validateBatches(b, bounds);
    expectError(r, 'INVALID_TIMESTAMP');
    expect(!r.ok && r.recordErrors?.map((e) => e.batchIndex)).toEqual([0, 1]);
  });

  it('open compressed batches only under a bound, and find a bad record inside (gzip, zstd)', async () => {
    await loadCompression();
    for (const codec of [gzip, zstd]) {
      const bad = buildRecordBatch([{ value: 'a', timestamp: T0 }, { value: 'b'.repeat(50), timestamp: T0 - 5000 }], codec);
      let calls = 0;
      const counting = (c: number, p: Buffer): Buffer => (calls++, decompressSync(c, p));
      expect(validateBatches(bad, { ...opts, decompress: counting }).ok).toBe(true);
      expect(calls, 'decompressed without a bound').toBe(0);
      const r = validateBatches(bad, { ...bounds, decompress: counting });
      expect(calls).toBe(1);
      expectError(r, 'INVALID_TIMESTAMP');
      expect(!r.ok && r.recordErrors?.map((e) => e.batchIndex)).toEqual([1]);
      expect(validateBatches(buildRecordBatch([{ value: 'a', timestamp: T0 }, { value: 'b', timestamp: T0 + 1 }], codec), bounds).ok).toBe(true);
    }
  });

  it('a compressed batch that does not decompress is CORRUPT_MESSAGE; malformed records inside are INVALID_RECORD', () => {
    const junk = buildRecordBatch([{ value: 'a', timestamp: T0 }], { compression: Compression.gzip, compress: () => Buffer.from('not gzip') });
    expectError(validateBatches(junk, bounds), 'CORRUPT_MESSAGE', /does not decompress/);
    const wrongCount = buildRecordBatch([{ value: 'a', timestamp: T0 }, { value: 'b', timestamp: T0 }], gzip);
    wrongCount.writeInt32BE(3, RECORD_COUNT_OFFSET);
    wrongCount.writeInt32BE(2, LAST_OFFSET_DELTA_OFFSET);
    resign(wrongCount);
    expectError(validateBatches(wrongCount, bounds), 'INVALID_RECORD');
    expect(validateBatches(wrongCount, opts).ok).toBe(true); // unbounded: not opened, as before
  });

  it('give the same answer when the batch straddles pieces; a straddling compressed section is joined and counted', () => {
    const plain = buildRecordBatch(Array.from({ length: 30 }, (_, i) => ({ value: `v${i}`, timestamp: i === 17 ? T0 + 9999 : T0 })));
    const joined = validateBatches(plain, bounds);
    expectError(joined, 'INVALID_TIMESTAMP');
    for (const cut of [RECORDS_OFFSET + 1, 100, 200, plain.length - 3]) {
      expect(validateBatches([plain.subarray(0, cut), plain.subarray(cut)], bounds), `cut ${cut}`).toEqual(joined);
    }
    const gz = buildRecordBatch([{ value: 'x'.repeat(500), timestamp: T0 }, { value: 'y', timestamp: T0 - 9999 }], gzip);
    const whole = validateBatches(gz, bounds);
    resetCopyCounts();
    expect(validateBatches([gz.subarray(0, RECORDS_OFFSET + 5), gz.subarray(RECORDS_OFFSET + 5)], bounds)).toEqual(whole);
    expect(copyCounts().decompressJoin).toEqual({ count: 1, bytes: gz.length - RECORDS_OFFSET });
  });
});

describe('assignOffsets', () => {
  it('rewrites base offset and leader epoch in place without touching the CRC', () => {
    const batch = sample();
    const crc = batch.readUInt32BE(CRC_OFFSET);
    assignOffsets(batch, 0, 1234567890123, 9);
    const h = readBatchHeader(batch, 0);
    expect(h.baseOffset).toBe(1234567890123);
    expect(h.partitionLeaderEpoch).toBe(9);
    expect(h.crc).toBe(crc);
    expect(isBatchCrcValid(batch, 0, h)).toBe(true);
    expect([...iterateRecords(batchPayload(batch, 0, h), h)].map((r) => r.offset)).toEqual([
      1234567890123, 1234567890124, 1234567890125,
    ]);
  });

  it('sets LogAppendTime and recomputes the CRC', () => {
    const batch = sample();
    assignOffsets(batch, 0, 10, 0, T0 + 1000);
    const h: BatchHeader = readBatchHeader(batch, 0);
    expect(isLogAppendTime(h.attributes)).toBe(true);
    expect(h.maxTimestamp).toBe(T0 + 1000);
    expect(isBatchCrcValid(batch, 0, h)).toBe(true);
    const records = [...iterateRecords(batchPayload(batch, 0, h), h)];
    expect(records.every((r) => r.timestamp === T0 + 1000)).toBe(true);
  });
});

describe('iterateRecords', () => {
  it('throws a typed error on a malformed payload', () => {
    const batch = sample();
    const h = readBatchHeader(batch, 0);
    const payload = Buffer.from(batchPayload(batch, 0, h));
    payload[0] = 0x7f; // first record claims 63 bytes
    expect(() => [...iterateRecords(payload, h)]).toThrow(RecordFormatError);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Batches that straddle pieces (a Produce request over several socket reads): the produce path validates and
// rewrites them where they lie. Every result must equal the one on the joined bytes, and nothing but a straddling
// batch header (through a 61-byte temp) may be copied.

/** `bytes` cut into views at seeded points: 1-byte pieces, short and empty pieces, or a few long ones. */
function splitAt(bytes: Buffer, rng: Rng, mode: number): Buffer[] {
  const max = [1, 9, 300, 5000][mode % 4]!;
  const out: Buffer[] = [];
  for (let p = 0; p < bytes.length; ) {
    const n = max === 1 ? 1 : rng.int(0, max);
    out.push(bytes.subarray(p, p + n));
    p += n;
  }
  return out;
}

/** Several batches back to back: varied keys, values (some large), headers, nulls; one gzip batch. */
function manyBatches(rng: Rng): Buffer {
  const batches: Buffer[] = [];
  for (let b = 0; b < 4; b++) {
    const records = Array.from({ length: rng.int(1, 40) }, (_, i) => ({
      key: rng.chance(0.2) ? null : rng.bytes(rng.int(0, 20)),
      value: rng.chance(0.1) ? null : rng.bytes(rng.chance(0.1) ? rng.int(200, 3000) : rng.int(0, 60)),
      headers: rng.chance(0.3) ? [{ key: `h${i}`, value: rng.chance(0.5) ? null : rng.bytes(rng.int(0, 10)) }] : [],
      timestamp: T0 + rng.int(-1000, 1000),
    }));
    const gzip = b === 2;
    batches.push(buildRecordBatch(records, gzip ? { compression: Compression.gzip, compress: (p) => gzipSync(p) } : {}));
  }
  return Buffer.concat(batches);
}

describe('batches that straddle pieces', () => {
  it('validate exactly as joined, for every kind of split (property, seeded)', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const rng = new Rng(seed);
      const bytes = manyBatches(rng);
      const joined = validateBatches(bytes, opts);
      expect(joined.ok).toBe(true);
      const pieces = splitAt(bytes, rng, seed);
      resetCopyCounts();
      expect(validateBatches(pieces, opts), `seed ${seed}`).toEqual(joined);
      // Only straddling 61-byte batch headers (and 4-byte length fields) are copied, never record bytes.
      const temps = copyCounts().straddleTemp;
      expect(temps.bytes).toBeLessThanOrEqual(4 * (STRADDLE_TEMP_BYTES_MAX + 4));
      expect(copyCounts().fieldJoin.count + copyCounts().frameJoin.count).toBe(0);
    }
  });

  it('give the same error as joined for every corruption, CRC corruption across pieces included (property, seeded)', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rng = new Rng(seed * 7919);
      const bytes = manyBatches(rng);
      for (let j = rng.int(1, 3); j > 0; j--) bytes[rng.int(0, bytes.length - 1)] = rng.int(0, 255);
      // Half re-sign the first batch so the damage reaches the record walk instead of the CRC check.
      if (seed % 2 === 0) {
        const len = bytes.readInt32BE(BATCH_LENGTH_OFFSET) + 12;
        if (len >= RECORDS_OFFSET && len <= bytes.length) bytes.writeUInt32BE(crc32c(bytes.subarray(ATTRIBUTES_OFFSET, len)), CRC_OFFSET);
      }
      const cut = bytes.subarray(0, seed % 5 === 0 ? rng.int(0, bytes.length) : bytes.length);
      const joined = validateBatches(cut, opts);
      expect(validateBatches(splitAt(cut, rng, seed), opts), `seed ${seed}`).toEqual(joined);
    }
  });

  it('detect a flipped payload bit in any piece as a CRC failure', () => {
    const one = buildRecordBatch([{ value: Buffer.alloc(4000, 1), timestamp: T0 }, { value: 'x', timestamp: T0 }]);
    for (const at of [ATTRIBUTES_OFFSET, 100, 1999, 2000, 2001, one.length - 1]) {
      const b = Buffer.from(one);
      b[at]! ^= 0x10;
      const pieces = [b.subarray(0, 2000), b.subarray(2000, 2001), b.subarray(2001)];
      expectError(validateBatches(pieces, opts), 'CORRUPT_MESSAGE', /fails its CRC/);
    }
    expect(validateBatches([one.subarray(0, 2000), one.subarray(2000)], opts).ok).toBe(true);
  });

  it('walk a record whose varints straddle pieces, and reject a key overrun across pieces', () => {
    const batch = buildRecordBatch([{ key: 'abc', value: Buffer.alloc(300, 2), timestamp: T0 }]);
    for (let cut = RECORDS_OFFSET; cut < RECORDS_OFFSET + 12; cut++) {
      expect(validateBatches([batch.subarray(0, cut), batch.subarray(cut)], opts).ok, `cut at ${cut}`).toBe(true);
    }
    const bad = Buffer.from(batch);
    const keyLengthAt = RECORDS_OFFSET + 2 + 1 + 1 + 1; // length (2 bytes), attributes, timestampDelta, offsetDelta
    expect(bad[keyLengthAt]).toBe(3 << 1);
    bad[keyLengthAt] = 0xfe; // zig-zag 127: 2-byte varint needs a continuation: 0xfe 0x01
    resign(bad);
    const joined = validateBatches(bad, opts);
    expectError(joined, 'INVALID_RECORD');
    for (let cut = keyLengthAt - 1; cut <= keyLengthAt + 2; cut++) {
      expect(validateBatches([bad.subarray(0, cut), bad.subarray(cut)], opts)).toEqual(joined);
    }
  });

  it('assignOffsets rewrites fields in the pieces that hold them, CRC included under LogAppendTime', () => {
    for (let cut = 0; cut <= RECORDS_OFFSET + 2; cut++) {
      for (const appendTime of [undefined, T0 + 5000]) {
        const expected = sample();
        assignOffsets(expected, 0, 2 ** 40 + 3, 77, appendTime);
        const target = sample();
        const pieces = [target.subarray(0, cut), target.subarray(cut, cut), target.subarray(cut)];
        assignOffsets(pieces, 0, 2 ** 40 + 3, 77, appendTime);
        expect(target, `cut at ${cut}, appendTime ${appendTime}`).toEqual(expected);
        expect(isBatchCrcValid(target, 0, readBatchHeader(target, 0))).toBe(true);
      }
    }
    // A batch at a position inside a piece list: only its bytes change.
    const two = Buffer.concat([sample(), sample()]);
    const second = sample().length;
    const pieces = [two.subarray(0, second + 3), two.subarray(second + 3, second + 20), two.subarray(second + 20)];
    assignOffsets(pieces, second, 500, 1);
    expect(readBatchHeader(two, second).baseOffset).toBe(500);
    expect(readBatchHeader(two, 0).baseOffset).toBe(0);
    expect(two.subarray(second + 8, second + 12)).toEqual(sample().subarray(8, 12));
  });
});
