/**
 * Record batch v2 (magic 2) encode/decode for the e2e tests' own wire client. Written independently of
 * src/protocol on purpose: an end-to-end check that shares the broker's codec would share its bugs.
 *
 * Batch layout (Kafka's implementation.html, "Record Batch"):
 *   baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 | magic int8 | crc uint32 (CRC-32C over
 *   attributes..end) | attributes int16 | lastOffsetDelta int32 | baseTimestamp int64 | maxTimestamp int64 |
 *   producerId int64 | producerEpoch int16 | baseSequence int32 | recordCount int32 | records
 * Record: length varint | attributes int8 | timestampDelta varlong | offsetDelta varint | keyLength varint | key |
 *   valueLength varint | value | headerCount varint | (keyLength varint | key | valueLength varint | value)*
 */
import { gunzipSync, gzipSync } from 'node:zlib';

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

export function crc32c(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC32C_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export interface TestRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers?: [string, Buffer | null][];
  timestamp?: number;
}

export interface DecodedRecord {
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: [string, Buffer | null][];
}

class Out {
  private parts: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    this.parts.push(b);
    this.length += b.length;
  }
  int8(v: number): void {
    const b = Buffer.alloc(1);
    b.writeInt8(v);
    this.push(b);
  }
  varint(v: number): void {
    // zig-zag without bitwise ops so values up to 2^52 survive
    let z = v >= 0 ? v * 2 : -v * 2 - 1;
    const bytes: number[] = [];
    while (z >= 0x80) {
      bytes.push((z % 0x80) | 0x80);
      z = Math.floor(z / 0x80);
    }
    bytes.push(z);
    this.push(Buffer.from(bytes));
  }
  bytes(b: Buffer | null): void {
    if (b === null) {
      this.varint(-1);
      return;
    }
    this.varint(b.length);
    this.push(b);
  }
  finish(): Buffer {
    return Buffer.concat(this.parts, this.length);
  }
}

export const CODEC_NONE = 0;
export const CODEC_GZIP = 1;

/** One batch of `records`, offsets 0..n-1 relative, timestamps from the records (default now). */
export function encodeBatch(records: TestRecord[], opts: { codec?: number; baseOffset?: number } = {}): Buffer {
  if (records.length === 0) throw new Error('empty batch');
  const now = Date.now();
  const ts = records.map((r) => r.timestamp ?? now);
  const baseTs = Math.min(...ts);
  const maxTs = Math.max(...ts);
  const body = new Out();
  records.forEach((r, i) => {
    const rec = new Out();
    rec.int8(0);
    rec.varint(ts[i]! - baseTs);
    rec.varint(i);
    rec.bytes(r.key);
    rec.bytes(r.value);
    const hs = r.headers ?? [];
    rec.varint(hs.length);
    for (const [k, v] of hs) {
      rec.bytes(Buffer.from(k, 'utf8'));
      rec.bytes(v);
    }
    const recBuf = rec.finish();
    body.varint(recBuf.length);
    body.push(recBuf);
  });
  let payload = body.finish();
  const codec = opts.codec ?? CODEC_NONE;
  if (codec === CODEC_GZIP) payload = gzipSync(payload);
  else if (codec !== CODEC_NONE) throw new Error(`codec ${codec} not supported by the test encoder`);

  const head = Buffer.alloc(61);
  head.writeBigInt64BE(BigInt(opts.baseOffset ?? 0), 0);
  head.writeInt32BE(61 - 12 + payload.length, 8); // batchLength: from partitionLeaderEpoch to the end
  head.writeInt32BE(-1, 12); // partitionLeaderEpoch
  head.writeInt8(2, 16); // magic
  // crc at 17, filled below
  head.writeInt16BE(codec, 21); // attributes: codec, CreateTime, not transactional
  head.writeInt32BE(records.length - 1, 23); // lastOffsetDelta
  head.writeBigInt64BE(BigInt(baseTs), 27);
  head.writeBigInt64BE(BigInt(maxTs), 35);
  head.writeBigInt64BE(-1n, 43); // producerId
  head.writeInt16BE(-1, 51); // producerEpoch
  head.writeInt32BE(-1, 53); // baseSequence
  head.writeInt32BE(records.length, 57);
  const batch = Buffer.concat([head, payload]);
  batch.writeUInt32BE(crc32c(batch.subarray(21)), 17);
  return batch;
}

class In {
  pos = 0;
  constructor(private readonly b: Buffer) {}
  need(n: number): void {
    if (this.pos + n > this.b.length) throw new Error(`record truncated at ${this.pos} (+${n} > ${this.b.length})`);
  }
  int8(): number {
    this.need(1);
    return this.b.readInt8(this.pos++);
  }
  varint(): number {
    let z = 0;
    let mul = 1;
    for (let i = 0; ; i++) {
      if (i >= 10) throw new Error('varint too long');
      this.need(1);
      const byte = this.b[this.pos++]!;
      z += (byte & 0x7f) * mul;
      mul *= 0x80;
      if ((byte & 0x80) === 0) break;
    }
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }
  bytes(): Buffer | null {
    const n = this.varint();
    if (n < 0) return null;
    this.need(n);
    const out = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

export interface DecodedBatch {
  /** attributes & 7 is the codec: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd (records decoded for 0 and 1 only). */
  baseOffset: number;
  lastOffset: number;
  attributes: number;
  records: DecodedRecord[];
}

/**
 * Decodes the record sets of a Fetch partition: whole batches only (a trailing partial batch is allowed and
 * ignored, as Kafka permits); verifies magic and CRC-32C of every whole batch. Control batches have no records.
 */
export function decodeBatches(data: Buffer | null): DecodedBatch[] {
  const out: DecodedBatch[] = [];
  if (data === null) return out;
  let pos = 0;
  while (pos + 61 <= data.length) {
    const baseOffset = Number(data.readBigInt64BE(pos));
    const batchLength = data.readInt32BE(pos + 8);
    const end = pos + 12 + batchLength;
    if (end > data.length) break; // partial trailing batch
    const batch = data.subarray(pos, end);
    const magic = batch.readInt8(16);
    if (magic !== 2) throw new Error(`batch at offset ${baseOffset} has magic ${magic}, expected 2`);
    const crc = batch.readUInt32BE(17);
    const actual = crc32c(batch.subarray(21));
    if (crc !== actual) throw new Error(`batch at offset ${baseOffset}: CRC-32C ${crc.toString(16)} != computed ${actual.toString(16)}`);
    const attributes = batch.readInt16BE(21);
    const lastOffsetDelta = batch.readInt32BE(23);
    const baseTs = Number(batch.readBigInt64BE(27));
    const count = batch.readInt32BE(57);
    const codec = attributes & 7;
    let payload = batch.subarray(61);
    if (codec === CODEC_GZIP) payload = gunzipSync(payload);
    const records: DecodedRecord[] = [];
    // snappy/lz4/zstd: the test decoder reports the batch (codec, offsets) but not its records
    const readable = codec === CODEC_NONE || codec === CODEC_GZIP;
    if ((attributes & 0x20) === 0 && readable) {
      const r = new In(payload);
      for (let i = 0; i < count; i++) {
        const len = r.varint();
        const start = r.pos;
        r.int8();
        const tsDelta = r.varint();
        const offDelta = r.varint();
        const key = r.bytes();
        const value = r.bytes();
        const nh = r.varint();
        const headers: [string, Buffer | null][] = [];
        for (let h = 0; h < nh; h++) {
          const hk = r.bytes();
          headers.push([hk === null ? '' : hk.toString('utf8'), r.bytes()]);
        }
        if (r.pos - start !== len) throw new Error(`record ${i} of batch ${baseOffset}: length ${len} but read ${r.pos - start}`);
        records.push({ offset: baseOffset + offDelta, timestamp: baseTs + tsDelta, key, value, headers });
      }
    }
    out.push({ baseOffset, lastOffset: baseOffset + lastOffsetDelta, attributes, records });
    pos = end;
  }
  return out;
}
