/**
 * Primitive reader and writer of the Kafka protocol, used by the generated message codecs (messages/).
 *
 * Reader: bounds-checked, zero-copy (bytes and records come back as subarrays of the frame). Every length or
 * count read from the wire is checked against the bytes left BEFORE anything is allocated, so a peer can never
 * make us allocate more than the frame it already sent. Violations throw `ProtocolError`; the connection layer
 * turns that into a closed connection (the request cannot be answered: its header may be unreadable).
 *
 * Writer: a list of chunks. Small values go into a growable scratch buffer; large byte fields (records) are
 * appended by reference, so a Fetch response carries log batches to the socket without copying them.
 *
 * int64 values are `number`: offsets, timestamps and producer ids stay below 2^53 in practice; a wire value
 * beyond that range loses precision rather than forcing `bigint` through every handler (style.md, point 8).
 */
import { readUVarint, sizeOfUVarint, writeUVarint, type Cursor } from './varint.js';

export class ProtocolError extends Error {
  readonly code = 'ERR_KAFKA_PROTOCOL';
}

export const ZERO_UUID = '00000000000000000000000000000000';

/** Longest string the protocol carries, bytes (INT16 max). */
export const STRING_BYTES_MAX = 0x7fff;

/** Records (record batches) as written: one buffer or a list of batches sent back to back. */
export type RecordsValue = Buffer | readonly Buffer[] | null;

export class Reader implements Cursor {
  offset: number;
  readonly end: number;

  constructor(
    readonly buf: Buffer,
    start = 0,
    end = buf.length,
  ) {
    this.offset = start;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  private need(n: number): void {
    if (n < 0 || this.offset + n > this.end) {
      throw new ProtocolError(`truncated message: need ${n} bytes at ${this.offset}, ${this.remaining} left`);
    }
  }

  int8(): number {
    this.need(1);
    return this.buf.readInt8(this.offset++);
  }
  uint8(): number {
    this.need(1);
    return this.buf[this.offset++]!;
  }
  bool(): boolean {
    return this.int8() !== 0;
  }
  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.offset);
    this.offset += 2;
    return v;
  }
  uint16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.offset);
    this.offset += 2;
    return v;
  }
  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }
  uint32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }
  int64(): number {
    this.need(8);
    const hi = this.buf.readInt32BE(this.offset);
    const lo = this.buf.readUInt32BE(this.offset + 4);
    this.offset += 8;
    return hi * 4294967296 + lo;
  }
  float64(): number {
    this.need(8);
    const v = this.buf.readDoubleBE(this.offset);
    this.offset += 8;
    return v;
  }
  uvarint(): number {
    try {
      return readUVarint(this.buf, this, this.end);
    } catch (err) {
      throw new ProtocolError((err as Error).message);
    }
  }
  uuid(): string {
    this.need(16);
    const s = this.buf.toString('hex', this.offset, this.offset + 16);
    this.offset += 16;
    return s;
  }

  /** Length of a string/bytes/records field: -1 for null. Compact lengths are stored as length+1. */
  private length(compact: boolean, wide: boolean): number {
    if (compact) return this.uvarint() - 1;
    return wide ? this.int32() : this.int16();
  }

  string(compact: boolean): string {
    const s = this.nullableString(compact);
    if (s === null) throw new ProtocolError('null in a non-nullable string field');
    return s;
  }
  nullableString(compact: boolean): string | null {
    const n = this.length(compact, false);
    if (n < 0) {
      if (n === -1) return null;
      throw new ProtocolError(`invalid string length ${n}`);
    }
    // Kafka strings are at most INT16 max bytes in every encoding (compact ones too), as the Writer enforces:
    // a longer one read here could not be echoed back in a response.
    if (n > STRING_BYTES_MAX) throw new ProtocolError(`string of ${n} bytes exceeds ${STRING_BYTES_MAX}`);
    this.need(n);
    const s = this.buf.toString('utf8', this.offset, this.offset + n);
    this.offset += n;
    return s;
  }
  bytes(compact: boolean): Buffer {
    const b = this.nullableBytes(compact);
    if (b === null) throw new ProtocolError('null in a non-nullable bytes field');
    return b;
  }
  nullableBytes(compact: boolean): Buffer | null {
    const n = this.length(compact, true);
    if (n < 0) {
      if (n === -1) return null;
      throw new ProtocolError(`invalid bytes length ${n}`);
    }
    this.need(n);
    const b = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return b;
  }

  /**
   * Array element count; -1 means null. `minElementBytes` bounds the count by the bytes left, so the
   * caller's allocation is never larger than the frame.
   */
  arrayLength(compact: boolean, minElementBytes: number): number {
    const n = compact ? this.uvarint() - 1 : this.int32();
    if (n < -1) throw new ProtocolError(`invalid array length ${n}`);
    if (n > 0 && n * Math.max(1, minElementBytes) > this.remaining) {
      throw new ProtocolError(`array of ${n} elements does not fit in ${this.remaining} bytes`);
    }
    return n;
  }

  /** Reads a tagged-field section; `onField` gets each tag with a reader bounded to that field's bytes. */
  taggedFields(onField: (tag: number, r: Reader) => void): void {
    const count = this.uvarint();
    if (count > this.remaining) throw new ProtocolError(`${count} tagged fields do not fit`);
    for (let i = 0; i < count; i++) {
      const tag = this.uvarint();
      const size = this.uvarint();
      this.need(size);
      const sub = new Reader(this.buf, this.offset, this.offset + size);
      onField(tag, sub);
      this.offset += size;
    }
  }
}

const SCRATCH_BYTES_MIN = 256;
/** Byte fields at least this long are referenced, not copied, into the output. */
const ZERO_COPY_BYTES_MIN = 1024;

export class Writer {
  private chunks: Buffer[] = [];
  private buf: Buffer;
  private pos = 0;
  private doneBytes = 0;

  constructor(initialBytes = SCRATCH_BYTES_MIN) {
    this.buf = Buffer.allocUnsafe(Math.max(initialBytes, 16));
  }

  /** Total bytes written so far. */
  get length(): number {
    return this.doneBytes + this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    if (this.pos > 0) {
      this.chunks.push(this.buf.subarray(0, this.pos));
      this.doneBytes += this.pos;
    }
    this.buf = Buffer.allocUnsafe(Math.max(n, this.buf.length * 2, SCRATCH_BYTES_MIN));
    this.pos = 0;
  }

  int8(v: number): void {
    this.ensure(1);
    this.buf.writeInt8(v, this.pos++);
  }
  uint8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v & 0xff;
  }
  bool(v: boolean): void {
    this.int8(v ? 1 : 0);
  }
  int16(v: number): void {
    this.ensure(2);
    this.buf.writeInt16BE(v, this.pos);
    this.pos += 2;
  }
  uint16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }
  int32(v: number): void {
    this.ensure(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
  }
  uint32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
  }
  int64(v: number): void {
    this.ensure(8);
    this.buf.writeBigInt64BE(BigInt(Math.trunc(v)), this.pos);
    this.pos += 8;
  }
  float64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }
  uvarint(v: number): void {
    this.ensure(5);
    this.pos = writeUVarint(this.buf, this.pos, v);
  }
  uuid(v: string): void {
    if (!/^[0-9a-f]{32}$/i.test(v)) throw new TypeError(`invalid uuid ${v}`);
    this.ensure(16);
    this.buf.write(v, this.pos, 16, 'hex');
    this.pos += 16;
  }

  private writeLength(n: number, compact: boolean, wide: boolean): void {
    if (compact) this.uvarint(n + 1);
    else if (wide) this.int32(n);
    else this.int16(n);
  }

  string(s: string, compact: boolean): void {
    this.nullableString(s, compact);
  }
  nullableString(s: string | null, compact: boolean): void {
    if (s === null) return this.writeLength(-1, compact, false);
    const n = Buffer.byteLength(s, 'utf8');
    if (n > STRING_BYTES_MAX) throw new RangeError(`string of ${n} bytes is too long for the protocol`);
    this.writeLength(n, compact, false);
    this.ensure(n);
    this.pos += this.buf.write(s, this.pos, n, 'utf8');
  }
  bytes(b: Uint8Array, compact: boolean): void {
    this.nullableBytes(b, compact);
  }
  nullableBytes(b: Uint8Array | null, compact: boolean): void {
    if (b === null) return this.writeLength(-1, compact, true);
    this.writeLength(b.length, compact, true);
    this.raw(b);
  }
  records(v: RecordsValue, compact: boolean): void {
    if (v === null) return this.writeLength(-1, compact, true);
    if (Buffer.isBuffer(v)) return this.nullableBytes(v, compact);
    const list = v as readonly Buffer[];
    let n = 0;
    for (const b of list) n += b.length;
    this.writeLength(n, compact, true);
    for (const b of list) this.raw(b);
  }
  arrayLength(n: number | null, compact: boolean): void {
    const v = n === null ? -1 : n;
    if (compact) this.uvarint(v + 1);
    else this.int32(v);
  }

  /** Appends bytes: copied when small, referenced when large (zero-copy). */
  raw(b: Uint8Array): void {
    if (b.length >= ZERO_COPY_BYTES_MIN) {
      if (this.pos > 0) {
        this.chunks.push(this.buf.subarray(0, this.pos));
        this.doneBytes += this.pos;
        this.buf = this.buf.subarray(this.pos);
        this.pos = 0;
      }
      const ref = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length);
      this.chunks.push(ref);
      this.doneBytes += ref.length;
      return;
    }
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** The written bytes as a list of chunks (no copy). The writer must not be used afterwards. */
  finishChunks(): Buffer[] {
    const out = this.chunks;
    if (this.pos > 0) out.push(this.buf.subarray(0, this.pos));
    this.chunks = [];
    this.pos = 0;
    return out;
  }

  /** The written bytes as one buffer (copies when there is more than one chunk). */
  finish(): Buffer {
    const chunks = this.finishChunks();
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  }
}

/** Size in bytes of a tagged field's header for `tag` and `size`. */
export function taggedHeaderBytes(tag: number, size: number): number {
  return sizeOfUVarint(tag) + sizeOfUVarint(size);
}
