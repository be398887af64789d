/**
 * Kafka record batch v2 for the load generator: an encoder that writes a whole uncompressed batch into one
 * buffer (values are the payload template with the stamp written in place: no per-record allocation), and a
 * walker that reads each record's stamp from a Fetch response without decoding records into objects.
 *
 * The broker's own codec (src/protocol/records.ts) is the reference; test/bench checks the two agree. The
 * walker does not verify CRCs (the broker and the e2e tests do): a consumer here measures delivery, and every
 * cycle it spends is a cycle the broker does not get on a 2-core machine.
 *
 * Record layout (KIP-98): length varint, attributes int8, timestampDelta varlong, offsetDelta varint,
 * keyLength varint (-1 = null), key, valueLength varint, value, headerCount varint (0 here).
 */
import { crc32c } from '../../src/protocol/crc32c.js';
import { STAMP_BYTES } from '../payload.js';

const RECORDS_OFFSET = 61;
const CRC_OFFSET = 17;
const ATTRIBUTES_OFFSET = 21;
const RECORD_COUNT_OFFSET = 57;
const BATCH_LENGTH_OFFSET = 8;
const LOG_OVERHEAD = 12;

function zigzagSize(v: number): number {
  let z = v >= 0 ? v * 2 : -v * 2 - 1;
  let n = 1;
  while (z >= 128) {
    z = Math.floor(z / 128);
    n++;
  }
  return n;
}

function writeZigzag(buf: Buffer, pos: number, v: number): number {
  let z = v >= 0 ? v * 2 : -v * 2 - 1;
  while (z >= 128) {
    buf[pos++] = (z & 0x7f) | 0x80;
    z = Math.floor(z / 128);
  }
  buf[pos++] = z;
  return pos;
}

/**
 * Encodes one batch: record i has key keys[i] and a value that is `template` with stampsUs[i] in its first
 * 8 bytes. All records get the CreateTime `timestampMs`.
 */
export function encodeBatch(template: Buffer, keys: readonly (Buffer | null)[], stampsUs: readonly number[], timestampMs: number): Buffer {
  const n = stampsUs.length;
  const valueLen = template.length;
  const bodySizes = new Array<number>(n);
  let total = RECORDS_OFFSET;
  for (let i = 0; i < n; i++) {
    const k = keys[i] ?? null;
    const keyLen = k === null ? -1 : k.length;
    // attributes + timestampDelta(0) + offsetDelta + key + value + headerCount
    const body = 1 + 1 + zigzagSize(i) + zigzagSize(keyLen) + (k === null ? 0 : k.length) + zigzagSize(valueLen) + valueLen + 1;
    bodySizes[i] = body;
    total += zigzagSize(body) + body;
  }
  const buf = Buffer.allocUnsafe(total);
  buf.fill(0, 0, RECORDS_OFFSET);
  buf.writeInt32BE(total - LOG_OVERHEAD, BATCH_LENGTH_OFFSET);
  buf.writeInt32BE(-1, 12); // partition leader epoch
  buf.writeInt8(2, 16); // magic
  buf.writeInt16BE(0, ATTRIBUTES_OFFSET);
  buf.writeInt32BE(n - 1, 23); // last offset delta
  buf.writeBigInt64BE(BigInt(timestampMs), 27); // base timestamp
  buf.writeBigInt64BE(BigInt(timestampMs), 35); // max timestamp
  buf.writeBigInt64BE(-1n, 43); // producer id
  buf.writeInt16BE(-1, 51); // producer epoch
  buf.writeInt32BE(-1, 53); // base sequence
  buf.writeInt32BE(n, RECORD_COUNT_OFFSET);
  let pos = RECORDS_OFFSET;
  for (let i = 0; i < n; i++) {
    pos = writeZigzag(buf, pos, bodySizes[i]!);
    buf[pos++] = 0; // attributes
    buf[pos++] = 0; // timestamp delta
    pos = writeZigzag(buf, pos, i);
    const k = keys[i] ?? null;
    if (k === null) pos = writeZigzag(buf, pos, -1);
    else {
      pos = writeZigzag(buf, pos, k.length);
      pos += k.copy(buf, pos);
    }
    pos = writeZigzag(buf, pos, valueLen);
    template.copy(buf, pos);
    buf.writeDoubleBE(stampsUs[i]!, pos);
    pos += valueLen;
    buf[pos++] = 0; // header count
  }
  buf.writeUInt32BE(crc32c(buf.subarray(ATTRIBUTES_OFFSET)), CRC_OFFSET);
  return buf;
}

/** Reads a zigzag varint at pos; returns value and next position packed (value, pos) via the out array. */
function readZigzag(buf: Buffer, pos: number, out: [number, number]): void {
  let z = 0;
  let mul = 1;
  for (;;) {
    const b = buf[pos++]!;
    z += (b & 0x7f) * mul;
    if (b < 0x80) break;
    mul *= 128;
  }
  out[0] = z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  out[1] = pos;
}

export interface WalkResult {
  /** Offset to fetch next (after the last complete batch), or fromOffset when no complete batch. */
  nextOffset: number;
  records: number;
}

/**
 * Calls `onRecord(stampUs, valueBytes)` for every record at or after `fromOffset` in the complete batches of
 * `records` (a trailing partial batch is left for the next fetch). Uncompressed batches only (the load
 * generator never compresses); control batches are skipped.
 */
export function walkStamps(records: Buffer, fromOffset: number, onRecord: (stampUs: number, valueBytes: number) => void): WalkResult {
  let pos = 0;
  let nextOffset = fromOffset;
  let count = 0;
  const v: [number, number] = [0, 0];
  while (records.length - pos >= RECORDS_OFFSET) {
    const size = records.readInt32BE(pos + BATCH_LENGTH_OFFSET) + LOG_OVERHEAD;
    if (pos + size > records.length) break;
    const base = Number(records.readBigInt64BE(pos));
    const last = base + records.readInt32BE(pos + 23);
    const attributes = records.readInt16BE(pos + ATTRIBUTES_OFFSET);
    if ((attributes & 0x07) !== 0) throw new Error('compressed batch: the bench consumer reads uncompressed batches only');
    if ((attributes & 0x20) === 0 && last >= fromOffset) {
      const n = records.readInt32BE(pos + RECORD_COUNT_OFFSET);
      let r = pos + RECORDS_OFFSET;
      for (let i = 0; i < n; i++) {
        readZigzag(records, r, v);
        const len = v[0];
        const next = v[1] + len;
        let q = v[1] + 1; // attributes
        readZigzag(records, q, v); // timestamp delta
        readZigzag(records, v[1], v); // offset delta
        const offset = base + v[0];
        readZigzag(records, v[1], v); // key length
        q = v[1] + Math.max(0, v[0]);
        readZigzag(records, q, v); // value length
        if (offset >= fromOffset && v[0] >= STAMP_BYTES) {
          onRecord(records.readDoubleBE(v[1]), v[0]);
          count++;
        }
        r = next;
      }
    }
    nextOffset = Math.max(nextOffset, last + 1);
    pos += size;
  }
  return { nextOffset, records: count };
}
