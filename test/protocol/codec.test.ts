/**
 * The primitive codec (Reader/Writer), the array and tagged-field helpers, and the request/response headers.
 * Error paths first: every length or count a peer sends is checked before anything is allocated or read.
 * Known-bytes tests are hand-computed from the protocol grammar (message-specs + protocol.html's header rules),
 * one byte group per field, so a wrong header version or a wrong string form shows up as a byte diff.
 */
import { describe, expect, it } from 'vitest';
import { ProtocolError, Reader, Writer, ZERO_UUID } from '../../src/protocol/codec.js';
import { readArray, writeTaggedFields } from '../../src/protocol/codec-support.js';
import { decodeResponse, encodeRequest, encodeResponse, peekRequestPrefix, readRequest, requestHeaderVersion, responseHeaderVersion } from '../../src/protocol/frame.js';
import { readVarlong } from '../../src/protocol/varint.js';
import { ApiKey } from '../../src/protocol/messages/index.js';
import { readApiVersionsRequest } from '../../src/protocol/messages/ApiVersionsRequest.js';
import { readApiVersionsResponse, writeApiVersionsResponse } from '../../src/protocol/messages/ApiVersionsResponse.js';
import { readFetchRequest, writeFetchRequest } from '../../src/protocol/messages/FetchRequest.js';
import { readFetchResponse, writeFetchResponse } from '../../src/protocol/messages/FetchResponse.js';
import { readMetadataRequest, writeMetadataRequest } from '../../src/protocol/messages/MetadataRequest.js';
import { writeMetadataResponse } from '../../src/protocol/messages/MetadataResponse.js';
import { readProduceRequest, writeProduceRequest } from '../../src/protocol/messages/ProduceRequest.js';
import { readRequestHeader } from '../../src/protocol/messages/RequestHeader.js';
import { copyCounts, resetCopyCounts } from '../../src/protocol/copy-meter.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/[\s|]/g, ''), 'hex');
const reader = (s: string): Reader => new Reader(hex(s));
const ascii = (s: string): string => Buffer.from(s, 'utf8').toString('hex');
const concat = (chunks: Buffer[]): Buffer => Buffer.concat(chunks);

describe('Reader bounds', () => {
  it.each([
    ['int8', ''],
    ['int16', '00'],
    ['uint16', '00'],
    ['int32', '000000'],
    ['uint32', '000000'],
    ['int64', '00000000000000'],
    ['float64', '00000000000000'],
    ['uuid', '00'.repeat(15)],
    ['bool', ''],
  ] as const)('truncated %s throws ProtocolError', (method, bytes) => {
    const r = reader(bytes);
    expect(() => (r[method] as () => unknown).call(r)).toThrow(ProtocolError);
  });

  it('reads fixed-width values big-endian, int64 exactly up to 2^53', () => {
    const r = reader('ff | fffe | fffe | 80000000 | ffffffff | 001fffffffffffff | ffe0000000000001 | 3ff8000000000000');
    expect([r.int8(), r.int16(), r.uint16(), r.int32(), r.uint32(), r.int64(), r.int64(), r.float64()]).toEqual([
      -1,
      -2,
      65534,
      -2147483648,
      4294967295,
      2 ** 53 - 1,
      -(2 ** 53 - 1),
      1.5,
    ]);
    expect(r.remaining).toBe(0);
  });

  it('writes int64 as two-complement big-endian, the same bytes as writeBigInt64BE, past 2^53 too', () => {
    const values = [0, 1, -1, 2 ** 31, -(2 ** 31), 2 ** 32, -(2 ** 32), 2 ** 32 + 5, -(2 ** 32) - 5, 2 ** 53 - 1, -(2 ** 53 - 1), 1795325024229, -1795325024229, 123.7, -123.7, 2 ** 60, -(2 ** 62)];
    for (const v of values) {
      const w = new Writer();
      w.int64(v);
      const want = Buffer.alloc(8);
      want.writeBigInt64BE(BigInt(Math.trunc(v)));
      expect(w.finish().toString('hex'), String(v)).toBe(want.toString('hex'));
    }
  });

  it('truncated strings, bytes and records throw (classic and compact)', () => {
    expect(() => reader(`0005 ${ascii('abc')}`).string(false)).toThrow(ProtocolError);
    expect(() => reader(`06 ${ascii('abc')}`).string(true)).toThrow(ProtocolError);
    expect(() => reader('00000064 00112233445566778899').bytes(false)).toThrow(ProtocolError);
    expect(() => reader('65 0011').nullableBytes(true)).toThrow(ProtocolError);
    // A length prefix that is itself cut short.
    expect(() => reader('00').string(false)).toThrow(ProtocolError);
    expect(() => reader('000000').bytes(false)).toThrow(ProtocolError);
    expect(() => reader('80').string(true)).toThrow(ProtocolError);
  });

  it('negative lengths other than -1 are rejected; -1 is null only where nullable', () => {
    expect(() => reader('fffe').nullableString(false)).toThrow(/invalid string length -2/);
    expect(() => reader('8000').nullableString(false)).toThrow(ProtocolError);
    expect(() => reader('fffffffe').nullableBytes(false)).toThrow(/invalid bytes length -2/);
    expect(() => reader('80000000').nullableBytes(false)).toThrow(ProtocolError);
    expect(() => reader('fffffffe').arrayLength(false, 1)).toThrow(/invalid array length -2/);
    expect(() => reader('80000000').arrayLength(false, 1)).toThrow(ProtocolError);
    expect(reader('ffff').nullableString(false)).toBeNull();
    expect(reader('ffffffff').nullableBytes(false)).toBeNull();
    expect(reader('ffffffff').arrayLength(false, 4)).toBe(-1);
    expect(() => reader('ffff').string(false)).toThrow(ProtocolError);
    expect(() => reader('ffffffff').bytes(false)).toThrow(ProtocolError);
    expect(() => readArray(reader('ffffffff'), false, 1, false, () => 0)).toThrow(ProtocolError);
    expect(readArray(reader('ffffffff'), false, 1, true, () => 0)).toBeNull();
  });

  it('compact lengths are unsigned varint length+1: 0 is null, 1 is empty', () => {
    expect(reader('00').nullableString(true)).toBeNull();
    expect(reader('01').nullableString(true)).toBe('');
    expect(reader(`04 ${ascii('abc')}`).string(true)).toBe('abc');
    expect(reader('00').nullableBytes(true)).toBeNull();
    expect(reader('01').bytes(true)).toEqual(Buffer.alloc(0));
    expect(readArray(reader('00'), true, 1, true, () => 0)).toBeNull();
    expect(readArray(reader('01'), true, 1, false, () => 0)).toEqual([]);
    expect(() => readArray(reader('00'), true, 1, false, () => 0)).toThrow(ProtocolError);
    // 300 bytes: length+1 = 301 = 0xad 0x02.
    const s = 'x'.repeat(300);
    const r = reader(`ad02 ${ascii(s)}`);
    expect(r.string(true)).toBe(s);
    expect(r.remaining).toBe(0);
    // A compact length of 2^32-1 is far beyond the frame.
    expect(() => reader('ffffffff0f 00').bytes(true)).toThrow(ProtocolError);
  });

  it('bytes come back as a view of the frame, not a copy', () => {
    const frame = hex('00000003 aabbcc');
    const b = new Reader(frame).bytes(false);
    expect(b.buffer).toBe(frame.buffer);
    expect(b.byteOffset).toBe(frame.byteOffset + 4);
  });

  it('an array count larger than the bytes left throws before any element is read or allocated', () => {
    let calls = 0;
    const elem = (): number => ++calls;
    const heapBefore = process.memoryUsage().heapUsed;
    // Classic count 2^31-1 followed by 10 bytes.
    expect(() => readArray(reader(`7fffffff ${'00'.repeat(10)}`), false, 1, false, elem)).toThrow(/does not fit in 10 bytes/);
    // Compact count 2^31-1 (varint 2^31) followed by 10 bytes.
    expect(() => readArray(reader(`8080808008 ${'00'.repeat(10)}`), true, 1, false, elem)).toThrow(ProtocolError);
    // int32 elements need 4 bytes each: 3 of them do not fit in 10 bytes.
    expect(() => readArray(reader(`00000003 ${'00'.repeat(10)}`), false, 4, false, elem)).toThrow(ProtocolError);
    expect(calls).toBe(0);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
    // The exact fit is accepted.
    expect(readArray(reader(`00000002 ${'00000007'.repeat(2)}`), false, 4, false, () => 7)).toEqual([7, 7]);
  });

  it('a generated reader rejects a huge topic count (MetadataRequest v1)', () => {
    const body = hex(`7fffffff ${'00'.repeat(10)}`);
    expect(() => readMetadataRequest(new Reader(body), 1)).toThrow(ProtocolError);
    const compact = hex(`8080808008 ${'00'.repeat(10)}`);
    expect(() => readMetadataRequest(new Reader(compact), 9)).toThrow(ProtocolError);
  });

  it('the reader never reads past its end even when the buffer goes on', () => {
    const buf = hex(`0003 ${ascii('abc')} 0000`);
    expect(() => new Reader(buf, 0, 4).string(false)).toThrow(ProtocolError);
    const r = new Reader(buf, 0, 5);
    expect(r.string(false)).toBe('abc');
  });
});

describe('Reader over a chunk list (a frame split over socket reads)', () => {
  // One of each primitive, written by the Writer; read back from every split of the bytes.
  const records = Buffer.alloc(40, 0x5a);
  const w = new Writer(16);
  w.int8(-5);
  w.int16(-300);
  w.uint16(65000);
  w.int32(-70000);
  w.uint32(4000000000);
  w.int64(-(2 ** 53 - 1));
  w.float64(-1.25);
  w.uvarint(4294967295);
  w.uuid('0123456789abcdef0123456789abcdef');
  w.string('héllo ✓ 😀', false);
  w.string('compact ✓', true);
  w.nullableString(null, true);
  w.bytes(Buffer.from('bytes!'), true);
  w.nullableBytes(null, false);
  w.records(records, true);
  w.bool(true);
  const bytes = w.finish();
  const readAll = (r: Reader): unknown[] => [
    r.int8(), r.int16(), r.uint16(), r.int32(), r.uint32(), r.int64(), r.float64(), r.uvarint(), r.uuid(),
    r.string(false), r.string(true), r.nullableString(true), r.bytes(true), r.nullableBytes(false),
    Buffer.concat([...(((v) => (Buffer.isBuffer(v) ? [v] : v))(r.records(true)!))]), r.bool(),
  ];
  const expected = readAll(new Reader(bytes));

  it('reads every primitive whatever the split: two pieces cut at every byte, and 1-byte pieces', () => {
    for (let cut = 0; cut <= bytes.length; cut++) {
      const r = new Reader([bytes.subarray(0, cut), bytes.subarray(cut)]);
      expect(readAll(r), `cut at ${cut}`).toEqual(expected);
      expect(r.remaining).toBe(0);
    }
    const ones = new Reader([...bytes.keys()].map((i) => bytes.subarray(i, i + 1)));
    expect(readAll(ones)).toEqual(expected);
    expect(ones.position).toBe(bytes.length);
  });

  it('gives records as views of the pieces: one view inside a piece, a list of views across pieces, never a copy', () => {
    const frame = Buffer.concat([hex('00000010'), Buffer.alloc(16, 3)]);
    const inOne = new Reader([frame.subarray(0, 2), frame.subarray(2)]).records(false);
    expect(Buffer.isBuffer(inOne) && inOne.buffer === frame.buffer && inOne.byteOffset === frame.byteOffset + 4).toBe(true);
    const pieces = [frame.subarray(0, 7), frame.subarray(7, 8), frame.subarray(8, 15), frame.subarray(15)];
    resetCopyCounts();
    const across = new Reader(pieces).records(false) as Buffer[];
    expect(Array.isArray(across)).toBe(true);
    expect(across.map((v) => [v.byteOffset - frame.byteOffset, v.length])).toEqual([[4, 3], [7, 1], [8, 7], [15, 5]]);
    expect(across.every((v) => v.buffer === frame.buffer)).toBe(true);
    expect(copyCounts().straddleTemp.bytes + copyCounts().fieldJoin.bytes).toBe(0);
  });

  it('copies only a straddling value: numbers through a temp of their size, strings and bytes joined', () => {
    const b = Buffer.concat([hex('0102030405060708'), hex('0003'), Buffer.from('abc')]);
    resetCopyCounts();
    const r = new Reader([b.subarray(0, 3), b.subarray(3, 11), b.subarray(11)]);
    expect(r.int64()).toBe(0x01020304 * 2 ** 32 + 0x05060708);
    expect(r.string(false)).toBe('abc');
    expect(copyCounts().straddleTemp).toEqual({ count: 1, bytes: 8 });
    expect(copyCounts().fieldJoin).toEqual({ count: 1, bytes: 3 });
    // A value that starts exactly at a piece boundary is read in place.
    resetCopyCounts();
    const aligned = new Reader([b.subarray(0, 4), b.subarray(4, 8), b.subarray(8)]);
    expect([aligned.int32(), aligned.int32(), aligned.string(false)]).toEqual([0x01020304, 0x05060708, 'abc']);
    expect(copyCounts().straddleTemp.count + copyCounts().fieldJoin.count).toBe(0);
  });

  it('throws ProtocolError on truncation across pieces, and skips empty pieces', () => {
    expect(() => new Reader([hex('00'), hex('0000')]).int32()).toThrow(ProtocolError);
    expect(() => new Reader([hex('80'), hex('80')]).uvarint()).toThrow(/runs past the end/);
    expect(() => new Reader([hex('ffff'), hex('ffff'), hex('10')]).uvarint()).toThrow(/longer than 32 bits/);
    expect(() => new Reader([hex('0005'), Buffer.from('ab'), Buffer.from('c')]).string(false)).toThrow(ProtocolError);
    expect(() => new Reader([hex('00000009'), Buffer.alloc(4), Buffer.alloc(4)]).records(false)).toThrow(ProtocolError);
    const r = new Reader([Buffer.alloc(0), hex('00'), Buffer.alloc(0), Buffer.alloc(0), hex('000007'), Buffer.alloc(0)]);
    expect(r.int32()).toBe(7);
    expect(r.remaining).toBe(0);
    expect(() => r.int8()).toThrow(ProtocolError);
    expect(() => new Reader([hex('01')], 1)).toThrow(RangeError);
  });

  it('bounds a tagged field that straddles pieces to its own bytes', () => {
    // count 1, tag 3, size 6: int32 7 then int16 9; then int8 1 after the section.
    const b = hex('01 03 06 00000007 0009 01');
    for (let cut = 0; cut <= b.length; cut++) {
      const r = new Reader([b.subarray(0, cut), b.subarray(cut)]);
      const got: number[] = [];
      r.taggedFields((tag, t) => {
        got.push(tag, t.int32(), t.int16());
        expect(() => t.int8()).toThrow(ProtocolError);
      });
      got.push(r.int8());
      expect(got, `cut at ${cut}`).toEqual([3, 7, 9, 1]);
    }
  });

  it('decodes a Produce request split into many pieces with its records as views of them', () => {
    const batch = Buffer.alloc(5000, 9);
    const fw = new Writer();
    writeProduceRequest(fw, 9, { acks: -1, timeoutMs: 30000, topicData: [{ name: 't', partitionData: [{ index: 0, records: batch }] }] });
    const frame = fw.finish();
    const pieces: Buffer[] = [];
    for (let p = 0; p < frame.length; p += 700) pieces.push(frame.subarray(p, p + 700));
    resetCopyCounts();
    const req = readProduceRequest(new Reader(pieces), 9);
    const got = req.topicData[0]!.partitionData[0]!.records as Buffer[];
    expect(Buffer.concat(got)).toEqual(batch);
    expect(got.every((v) => v.buffer === frame.buffer)).toBe(true);
    expect(copyCounts().fieldJoin.bytes).toBe(0);
    expect(copyCounts().straddleTemp.bytes).toBeLessThanOrEqual(16);
  });
});

describe('varints', () => {
  it('decodes 1 to 5 byte unsigned varints', () => {
    const r = reader('00 7f 8001 ffffffff0f');
    expect([r.uvarint(), r.uvarint(), r.uvarint(), r.uvarint()]).toEqual([0, 127, 128, 4294967295]);
  });

  it('rejects overlong and truncated varints', () => {
    expect(() => reader('ffffffff10').uvarint()).toThrow(ProtocolError); // 5th byte carries bits beyond 32
    expect(() => reader('ffffffff7f').uvarint()).toThrow(ProtocolError);
    expect(() => reader('ffffffffff01').uvarint()).toThrow(ProtocolError); // 6 bytes
    expect(() => reader('80').uvarint()).toThrow(ProtocolError); // continuation bit, then nothing
    expect(() => reader('').uvarint()).toThrow(ProtocolError);
    expect(() => readVarlong(hex('ff'.repeat(10) + '01'), { offset: 0 })).toThrow(RangeError);
  });

  it('a tagged-field count larger than the bytes left throws', () => {
    expect(() => reader('ffffffff0f').taggedFields(() => undefined)).toThrow(ProtocolError);
    expect(() => reader('05 0000').taggedFields(() => undefined)).toThrow(ProtocolError);
  });
});

describe('tagged fields', () => {
  it('a tagged field whose size runs past the frame throws', () => {
    // count 1, tag 0, size 100, then 5 bytes.
    expect(() => reader('01 00 64 0102030405').taggedFields(() => undefined)).toThrow(ProtocolError);
    // The same through a generated reader: FetchRequest v12 ends with its tagged section.
    const w = new Writer();
    writeFetchRequest(w, 12, {});
    const ok = w.finish();
    expect(ok[ok.length - 1]).toBe(0); // empty tagged section
    const bad = Buffer.concat([ok.subarray(0, ok.length - 1), hex('01 00 64 0102030405')]);
    expect(() => readFetchRequest(new Reader(bad), 12)).toThrow(ProtocolError);
  });

  it('each field reader is bounded to its own size', () => {
    // Tag 0 claims 2 bytes; reading a 4-byte int32 inside it must fail even though more bytes follow.
    const r = reader('01 00 02 0001 0203');
    expect(() => r.taggedFields((_tag, t) => t.int32())).toThrow(ProtocolError);
  });

  it('unknown tags are skipped and known ones still read, at top level and inside structs', () => {
    // FetchRequest v12: tag 0 = ClusterId (compact nullable string). Add unknown tags 5 (3 bytes) and 9 (0 bytes).
    const w = new Writer();
    writeFetchRequest(w, 12, { topics: [{ topic: 't', partitions: [] }] });
    const plain = w.finish();
    const tags = hex(`03 | 00 03 ${'03' + ascii('cl')} | 05 03 aabbcc | 09 00`);
    const withTags = Buffer.concat([plain.subarray(0, plain.length - 1), tags]);
    const r = new Reader(withTags);
    const m = readFetchRequest(r, 12);
    expect(r.remaining).toBe(0);
    expect(m.clusterId).toBe('cl');
    expect(m.topics).toEqual([{ topic: 't', topicId: ZERO_UUID, partitions: [] }]);

    // Inside a struct: the FetchTopic element's tagged section (its last byte before the forgotten-topics array).
    // Layout v12: ... topics: 02 | 02 74 | 01 (partitions) | 00 (topic tags) | forgotten 01 | rack 01 | tags
    const idx = plain.indexOf(hex(`02 02 ${ascii('t')} 01 00`));
    expect(idx).toBeGreaterThan(0);
    const topicTagsAt = idx + 4;
    const nested = Buffer.concat([plain.subarray(0, topicTagsAt), hex('01 07 02 ffff'), plain.subarray(topicTagsAt + 1)]);
    const r2 = new Reader(nested);
    expect(readFetchRequest(r2, 12).topics).toEqual([{ topic: 't', topicId: ZERO_UUID, partitions: [] }]);
    expect(r2.remaining).toBe(0);
  });

  it('a known tag whose version does not have the field is skipped like an unknown one', () => {
    // FetchRequest tag 1 (ReplicaState) exists from v15; at v12 it must be ignored.
    const w = new Writer();
    writeFetchRequest(w, 12, {});
    const plain = w.finish();
    const bytes = Buffer.concat([plain.subarray(0, plain.length - 1), hex('01 01 02 0000')]);
    const r = new Reader(bytes);
    expect(readFetchRequest(r, 12).replicaState).toEqual({ replicaId: -1, replicaEpoch: -1 });
    expect(r.remaining).toBe(0);
  });

  it('writes tags in the order given with size prefixes', () => {
    const w = new Writer();
    writeTaggedFields(w, [
      [0, (t) => t.int8(7)],
      [300, (t) => t.int16(1)],
    ]);
    expect(w.finish().toString('hex')).toBe('02' + '000107' + 'ac02020001');
  });
});

describe('Writer', () => {
  it('references bytes of 1 KiB or more instead of copying them', () => {
    const big = Buffer.alloc(1024, 0xab);
    const w = new Writer();
    w.int16(1);
    w.bytes(big, false);
    w.int32(2);
    const chunks = w.finishChunks();
    expect(chunks.some((c) => c === big)).toBe(true);
    expect(concat(chunks)).toEqual(Buffer.concat([hex('0001 00000400'), big, hex('00000002')]));
  });

  it('copies small byte fields', () => {
    const small = Buffer.alloc(1023, 1);
    const w = new Writer();
    w.bytes(small, true);
    const chunks = w.finishChunks();
    expect(chunks.some((c) => c === small)).toBe(false);
    expect(concat(chunks)).toEqual(Buffer.concat([hex('8008'), small]));
  });

  it('a generated writer passes record batches through by reference (Produce request, Fetch response)', () => {
    const batch = Buffer.alloc(4096, 7);
    const w = new Writer();
    writeProduceRequest(w, 9, { acks: -1, timeoutMs: 30000, topicData: [{ name: 't', partitionData: [{ index: 0, records: batch }] }] });
    const chunks = w.finishChunks();
    expect(chunks).toContain(batch);
    expect(readProduceRequest(new Reader(concat(chunks)), 9).topicData[0]!.partitionData[0]!.records).toEqual(batch);

    const b1 = Buffer.alloc(2000, 1);
    const b2 = Buffer.alloc(3000, 2);
    const fw = new Writer();
    writeFetchResponse(fw, 11, { responses: [{ topic: 't', partitions: [{ partitionIndex: 0, highWatermark: 5, records: [b1, b2] }] }] });
    const fchunks = fw.finishChunks();
    expect(fchunks).toContain(b1);
    expect(fchunks).toContain(b2);
    const back = readFetchResponse(new Reader(concat(fchunks)), 11);
    expect(back.responses[0]!.partitions[0]!.records).toEqual(Buffer.concat([b1, b2]));
  });

  it('references records of any size (never copies them) and sends adjacent views as one chunk', () => {
    const small = Buffer.alloc(10, 1);
    const w = new Writer();
    w.records(small, false);
    expect(w.finishChunks()).toContain(small);

    const read = Buffer.alloc(300, 2); // e.g. one file read holding three small batches
    const w2 = new Writer();
    w2.int8(1);
    w2.records([read.subarray(0, 100), read.subarray(100, 250), read.subarray(250)], true);
    w2.int8(2);
    const chunks = w2.finishChunks();
    expect(chunks).toHaveLength(3);
    expect(chunks[1]!.buffer).toBe(read.buffer);
    expect(chunks[1]!.length).toBe(300);
    expect(concat(chunks)).toEqual(Buffer.concat([hex('01 ad02'), read, hex('02')]));
  });

  it('keeps writing correctly after many small values and a referenced chunk', () => {
    const w = new Writer(16);
    const expected: Buffer[] = [];
    for (let i = 0; i < 200; i++) {
      w.int32(i);
      expected.push(hex(i.toString(16).padStart(8, '0')));
      if (i % 50 === 0) {
        const b = Buffer.alloc(1500, i);
        w.raw(b);
        expected.push(b);
      }
    }
    expect(w.length).toBe(Buffer.concat(expected).length);
    expect(w.finish()).toEqual(Buffer.concat(expected));
  });

  it('rejects strings over 32767 bytes and invalid uuids', () => {
    expect(() => new Writer().string('x'.repeat(0x8000), true)).toThrow(RangeError);
    expect(() => new Writer().uuid('not-a-uuid')).toThrow(TypeError);
  });

  it('a generated writer rejects null in a field that is not nullable in that version', () => {
    expect(() => writeMetadataRequest(new Writer(), 0, { topics: null })).toThrow(TypeError);
    const w = new Writer();
    writeMetadataRequest(w, 1, { topics: null });
    expect(w.finish().toString('hex')).toBe('ffffffff');
  });
});

describe('headers', () => {
  it('chooses header versions from the API version (KIP-482, KIP-511)', () => {
    expect(requestHeaderVersion(ApiKey.ApiVersions, 2)).toBe(1);
    expect(requestHeaderVersion(ApiKey.ApiVersions, 3)).toBe(2);
    expect(requestHeaderVersion(ApiKey.Metadata, 8)).toBe(1);
    expect(requestHeaderVersion(ApiKey.Metadata, 9)).toBe(2);
    expect(responseHeaderVersion(ApiKey.Metadata, 8)).toBe(0);
    expect(responseHeaderVersion(ApiKey.Metadata, 9)).toBe(1);
    expect(responseHeaderVersion(ApiKey.ApiVersions, 3)).toBe(0);
    expect(responseHeaderVersion(ApiKey.ApiVersions, 4)).toBe(0);
    expect(requestHeaderVersion(ApiKey.Produce, 9)).toBe(2);
    expect(responseHeaderVersion(ApiKey.Produce, 9)).toBe(1);
  });

  it('ApiVersionsRequest v3: request header v2 keeps ClientId as an INT16 string (known bytes)', () => {
    const frame = concat(encodeRequest(ApiKey.ApiVersions, 3, 1, 'kcat', { clientSoftwareName: 'librdkafka', clientSoftwareVersion: '2.0.2' }));
    const expected = hex(
      [
        '00000021', // size: 33 bytes follow
        '0012', // api key 18
        '0003', // api version 3
        '00000001', // correlation id
        '0004' + ascii('kcat'), // client id: INT16 length, not compact
        '00', // header tagged fields
        '0b' + ascii('librdkafka'), // ClientSoftwareName: compact string, length+1 = 11
        '06' + ascii('2.0.2'), // ClientSoftwareVersion
        '00', // body tagged fields
      ].join(''),
    );
    expect(frame.toString('hex')).toBe(expected.toString('hex'));

    const { header, body } = readRequest(frame.subarray(4));
    expect(header).toEqual({ requestApiKey: 18, requestApiVersion: 3, correlationId: 1, clientId: 'kcat' });
    expect(readApiVersionsRequest(body, 3)).toEqual({ clientSoftwareName: 'librdkafka', clientSoftwareVersion: '2.0.2' });
    expect(body.remaining).toBe(0);
    expect(peekRequestPrefix(frame.subarray(4))).toEqual({ apiKey: 18, apiVersion: 3, correlationId: 1 });
  });

  it('request header v2 with a null ClientId is INT16 -1', () => {
    const frame = concat(encodeRequest(ApiKey.ApiVersions, 3, 7, null, {}));
    expect(frame.subarray(4).toString('hex')).toBe('0012' + '0003' + '00000007' + 'ffff' + '00' + '01' + '01' + '00');
    expect(readRequest(frame.subarray(4)).header.clientId).toBeNull();
  });

  it('request header v1 (ClientId INT16) and v0 (no ClientId)', () => {
    const v1 = hex(`0003 0001 0000002a 0002 ${ascii('py')} ffffffff`);
    const r = new Reader(v1);
    expect(readRequestHeader(r, 1)).toEqual({ requestApiKey: 3, requestApiVersion: 1, correlationId: 42, clientId: 'py' });
    expect(readMetadataRequest(r, 1).topics).toBeNull();
    const v0 = new Reader(hex('0003 0000 0000002a'));
    expect(readRequestHeader(v0, 0)).toEqual({ requestApiKey: 3, requestApiVersion: 0, correlationId: 42, clientId: '' });
    expect(v0.remaining).toBe(0);
  });

  it('MetadataRequest v1 (known bytes): null topics = all, and a topic list', () => {
    const all = concat(encodeRequest(ApiKey.Metadata, 1, 2, 'c', { topics: null }));
    expect(all.toString('hex')).toBe('0000000f' + '0003' + '0001' + '00000002' + '0001' + ascii('c') + 'ffffffff');
    const some = concat(encodeRequest(ApiKey.Metadata, 1, 3, 'c', { topics: [{ name: 'foo' }, { name: 'bar' }] }));
    expect(some.subarray(4).toString('hex')).toBe(
      '0003' + '0001' + '00000003' + '0001' + ascii('c') + '00000002' + '0003' + ascii('foo') + '0003' + ascii('bar'),
    );
    const { header, body } = readRequest(some.subarray(4));
    expect(header.clientId).toBe('c');
    expect(readMetadataRequest(body, 1)).toEqual({
      topics: [
        { topicId: ZERO_UUID, name: 'foo' },
        { topicId: ZERO_UUID, name: 'bar' },
      ],
      allowAutoTopicCreation: true,
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: false,
    });
  });

  it('ApiVersionsResponse v3 has response header v0 (no tagged-field byte) and a flexible body (known bytes)', () => {
    const body = { errorCode: 0, apiKeys: [{ apiKey: 18, minVersion: 0, maxVersion: 3 }], throttleTimeMs: 0 };
    const frame = concat(encodeResponse(ApiKey.ApiVersions, 3, 5, (w) => writeApiVersionsResponse(w, 3, body)));
    const expected = [
      '00000013', // size 19
      '00000005', // correlation id; header v0 ends here
      '0000', // ErrorCode
      '02', // ApiKeys: compact array of 1
      '0012' + '0000' + '0003' + '00', // ApiKey, MinVersion, MaxVersion, element tagged fields
      '00000000', // ThrottleTimeMs
      '00', // body tagged fields
    ].join('');
    expect(frame.toString('hex')).toBe(expected);
    const decoded = decodeResponse(ApiKey.ApiVersions, 3, frame.subarray(4));
    expect(decoded.correlationId).toBe(5);
    expect(decoded.body).toMatchObject(body);
  });

  it('ApiVersionsResponse v0 (known bytes): classic array, no throttle time', () => {
    const frame = concat(
      encodeResponse(ApiKey.ApiVersions, 0, 9, (w) =>
        writeApiVersionsResponse(w, 0, {
          errorCode: 35,
          apiKeys: [{ apiKey: 18, minVersion: 0, maxVersion: 3 }],
        }),
      ),
    );
    expect(frame.toString('hex')).toBe('00000010' + '00000009' + '0023' + '00000001' + '0012' + '0000' + '0003');
    const r = new Reader(frame, 8);
    expect(readApiVersionsResponse(r, 0)).toMatchObject({ errorCode: 35, apiKeys: [{ apiKey: 18, minVersion: 0, maxVersion: 3 }] });
    expect(r.remaining).toBe(0);
  });

  it('a flexible response other than ApiVersions gets response header v1 (tagged-field byte)', () => {
    const frame = concat(encodeResponse(ApiKey.Metadata, 9, 11, (w) => writeMetadataResponse(w, 9, {})));
    // size | correlation id | header tagged fields | throttle | brokers [] | cluster id null | controller | topics [] | ...
    expect(frame.subarray(4, 9).toString('hex')).toBe('0000000b' + '00');
    expect(frame.subarray(9).toString('hex')).toBe('00000000' + '01' + '00' + 'ffffffff' + '01' + '80000000' + '00');
    const decoded = decodeResponse(ApiKey.Metadata, 9, frame.subarray(4));
    expect(decoded.correlationId).toBe(11);
  });

  it('a request frame shorter than a header prefix throws', () => {
    expect(() => peekRequestPrefix(hex('0012000300'))).toThrow(ProtocolError);
    expect(() => readRequest(hex('0012 0003 00000001 0010 6162'))).toThrow(ProtocolError);
  });
});
