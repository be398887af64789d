/**
 * Primitive reader and writer of the Kafka protocol, used by the generated message codecs (messages/).
 *
 * Reader: bounds-checked, zero-copy (bytes and records come back as subarrays of the frame). Every length or
 * count read from the wire is checked against the bytes left BEFORE anything is allocated, so a peer can never
 * make us allocate more than the frame it already sent. Violations throw `ProtocolError`; the connection layer
 * turns that into a closed connection (the request cannot be answered: its header may be unreadable).
 * A frame may be a list of pieces (the socket reads it arrived in, chunked-bytes.ts): records then come back as
 * views of the pieces, and only values that straddle two pieces are copied (copy-meter.ts counts them).
 *
 * Writer: a list of chunks. Small values go into a growable scratch buffer; large byte fields (records) are
 * appended by reference, so a Fetch response carries log batches to the socket without copying them.
 *
 * int64 values are `number`: offsets, timestamps and producer ids stay below 2^53 in practice; a wire value
 * beyond that range loses precision rather than forcing `bigint` through every handler (style.md, point 8).
 */
import { countCopy } from './copy-meter.js';
import type { ChunkedBytes } from './chunked-bytes.js';
import { readUVarint, sizeOfUVarint, writeUVarint, type Cursor } from './varint.js';

export class ProtocolError extends Error {
  readonly code = 'ERR_KAFKA_PROTOCOL';
}

export const ZERO_UUID = '00000000000000000000000000000000';

/** Longest string the protocol carries, bytes (INT16 max). */
export const STRING_BYTES_MAX = 0x7fff;

/**
 * Records (record batches): one buffer, or a list of pieces sent back to back (chunked-bytes.ts). The Reader
 * gives a list when the field spans socket reads; the Writer takes either.
 */
export type RecordsValue = ChunkedBytes | null;

const EMPTY = Buffer.alloc(0);

export class Reader implements Cursor {
  /** The piece being read: the whole input for a Buffer, the current piece for a chunk list. */
  buf: Buffer;
  /** Position in `buf`. */
  offset: number;
  /** End of the bytes to read in `buf`. */
  end: number;
  /** Chunk-list input: all pieces (null for a Buffer). */
  #pieces: readonly Buffer[] | null = null;
  /** Index of the piece after `buf`. */
  #next = 0;
  /** Bytes in the pieces after `buf` (0 for a Buffer). */
  #rest = 0;
  /** Bytes of the pieces before `buf`. */
  #before = 0;

  /**
   * Reads `input[start, end)` of a Buffer, or all of a chunk list (`start`/`end` then do not apply). Every
   * read has one branch for "the value lies in the current piece"; a value that straddles pieces takes the
   * slow path: numbers and uuids through a temp of at most 16 bytes, strings and bytes fields joined, records
   * as a list of views (never joined).
   */
  constructor(input: ChunkedBytes, start = 0, end = -1) {
    if (Buffer.isBuffer(input)) {
      this.buf = input;
      this.offset = start;
      this.end = end < 0 ? input.length : end;
      return;
    }
    const list = input as readonly Buffer[];
    if (start !== 0 || end !== -1) throw new RangeError('start and end apply to a Buffer input only');
    this.buf = list.length > 0 ? list[0]! : EMPTY;
    this.offset = 0;
    this.end = this.buf.length;
    if (list.length > 1) {
      this.#pieces = list;
      this.#next = 1;
      for (let i = 1; i < list.length; i++) this.#rest += list[i]!.length;
    }
  }

  get remaining(): number {
    return this.end - this.offset + this.#rest;
  }

  /** Bytes consumed since the start of the input. */
  get position(): number {
    return this.#before + this.offset;
  }

  #truncated(n: number): ProtocolError {
    return new ProtocolError(`truncated message: need ${n} bytes at ${this.position}, ${this.remaining} left`);
  }

  /** Makes the next piece current; the caller knows one is left. */
  #advance(): void {
    this.#before += this.end;
    this.buf = this.#pieces![this.#next++]!;
    this.offset = 0;
    this.end = this.buf.length;
    this.#rest -= this.end;
  }

  /**
   * The next `n` (<= 16) bytes when they are not all in the current piece: a view when the current piece is
   * used up and the next holds them, else a temp (counted as `straddleTemp`). Throws when too few bytes are left.
   */
  #spill(n: number): Buffer {
    if (n > this.remaining) throw this.#truncated(n);
    while (this.offset === this.end) this.#advance();
    if (this.offset + n <= this.end) {
      const view = this.buf.subarray(this.offset, this.offset + n);
      this.offset += n;
      return view;
    }
    const temp = Buffer.allocUnsafe(n);
    this.#fill(temp);
    countCopy('straddleTemp', n);
    return temp;
  }

  /** Copies the next `out.length` bytes (known to be left) into `out`, across pieces. */
  #fill(out: Buffer): void {
    let done = 0;
    while (done < out.length) {
      if (this.offset === this.end) this.#advance();
      const take = Math.min(out.length - done, this.end - this.offset);
      this.buf.copy(out, done, this.offset, this.offset + take);
      this.offset += take;
      done += take;
    }
  }

  /** The next `n` bytes (known to be left) as views: one Buffer when they lie in one piece, else a list. */
  #views(n: number): Buffer | Buffer[] {
    if (this.offset + n <= this.end || n === 0) {
      const view = this.buf.subarray(this.offset, this.offset + n);
      this.offset += n;
      return view;
    }
    const out: Buffer[] = [];
    let left = n;
    while (left > 0) {
      if (this.offset === this.end) this.#advance();
      const take = Math.min(left, this.end - this.offset);
      out.push(take === this.buf.length ? this.buf : this.buf.subarray(this.offset, this.offset + take));
      this.offset += take;
      left -= take;
    }
    return out.length === 1 ? out[0]! : out;
  }

  /** The next `n` bytes (checked) as one Buffer: a view, or a join when they straddle (a string or bytes field). */
  #field(n: number): Buffer {
    if (this.offset + n <= this.end) {
      const view = this.buf.subarray(this.offset, this.offset + n);
      this.offset += n;
      return view;
    }
    if (n < 0 || n > this.remaining) throw this.#truncated(n);
    while (this.offset === this.end && n > 0) this.#advance();
    if (this.offset + n <= this.end) return this.#field(n);
    const out = Buffer.allocUnsafe(n);
    this.#fill(out);
    countCopy('fieldJoin', n);
    return out;
  }

  int8(): number {
    let b = this.buf;
    let o = this.offset;
    if (o + 1 > this.end) {
      b = this.#spill(1);
      o = 0;
    } else {
      this.offset = o + 1;
    }
    return b.readInt8(o);
  }
  uint8(): number {
    let b = this.buf;
    let o = this.offset;
    if (o + 1 > this.end) {
      b = this.#spill(1);
      o = 0;
    } else {
      this.offset = o + 1;
    }
    return b[o]!;
  }
  bool(): boolean {
    return this.int8() !== 0;
  }
  int16(): number {
    let b = this.buf;
    let o = this.offset;
    if (o + 2 > this.end) {
      b = this.#spill(2);
      o = 0;
    } else {
      this.offset = o + 2;
    }
    return b.readInt16BE(o);
  }
  uint16(): number {
    let b = this.buf;
    let o = this.offset;
    if (o + 2 > this.end) {
      b = this.#spill(2);
      o = 0;
    } else {
      this.offset = o + 2;
    }
    return b.readUInt16BE(o);
  }
  int32(): number {
    let b = this.buf;
    let o = this.offset;
    if (o + 4 > this.end) {
      b = this.#spill(4);
      o = 0;
    } else {
      this.offset = o + 4;
    }
    return b.readInt32BE(o);
  }
  uint32(): number {
    let b = this.buf;
    let o = this.offset;
    if (o + 4 > this.end) {
      b = this.#spill(4);
      o = 0;
    } else {
      this.offset = o + 4;
    }
    return b.readUInt32BE(o);
  }
  int64(): number {
    let b = this.buf;
    let o = this.offset;
    if (o + 8 > this.end) {
      b = this.#spill(8);
      o = 0;
    } else {
      this.offset = o + 8;
    }
    return b.readInt32BE(o) * 4294967296 + b.readUInt32BE(o + 4);
  }
  float64(): number {
    let b = this.buf;
    let o = this.offset;
    if (o + 8 > this.end) {
      b = this.#spill(8);
      o = 0;
    } else {
      this.offset = o + 8;
    }
    return b.readDoubleBE(o);
  }
  uvarint(): number {
    // A varint is at most 5 bytes: with 5 left in this piece, or no piece after it, varint.ts reads it here.
    if (this.offset + 5 > this.end && this.#rest > 0) return this.#uvarintAcross();
    try {
      return readUVarint(this.buf, this, this.end);
    } catch (err) {
      throw new ProtocolError((err as Error).message);
    }
  }
  /** readUVarint a byte at a time across pieces, with its checks and messages. */
  #uvarintAcross(): number {
    let value = 0;
    let shift = 0;
    for (;;) {
      if (this.remaining === 0) throw new ProtocolError('varint runs past the end of the buffer');
      const b = this.uint8();
      if (shift === 28) {
        if (b > 0x0f) throw new ProtocolError('varint longer than 32 bits');
        return (value | (b << 28)) >>> 0;
      }
      value |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return value >>> 0;
      shift += 7;
    }
  }
  uuid(): string {
    let b = this.buf;
    let o = this.offset;
    if (o + 16 > this.end) {
      b = this.#spill(16);
      o = 0;
    } else {
      this.offset = o + 16;
    }
    return b.toString('hex', o, o + 16);
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
    const o = this.offset;
    if (o + n <= this.end) {
      this.offset = o + n;
      return this.buf.toString('utf8', o, o + n);
    }
    return this.#field(n).toString('utf8');
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
    return this.#field(n);
  }
  /**
   * A records field (record batches): a view when it lies in one piece, else the list of views of the pieces
   * it spans, in order (zero-copy: record bytes are never joined here).
   */
  records(compact: boolean): RecordsValue {
    const n = this.length(compact, true);
    if (n < 0) {
      if (n === -1) return null;
      throw new ProtocolError(`invalid records length ${n}`);
    }
    if (n > this.remaining) throw this.#truncated(n);
    return this.#views(n);
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
      if (size > this.remaining) throw this.#truncated(size);
      const o = this.offset;
      if (o + size <= this.end) {
        this.offset = o + size;
        onField(tag, new Reader(this.buf, o, o + size));
      } else {
        onField(tag, new Reader(this.#views(size)));
      }
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
    const t = Math.trunc(v);
    if (Number.isSafeInteger(t)) {
      // Two 32-bit halves: no BigInt per value (a Fetch answer over 1,000 partitions writes thousands of these).
      const hi = Math.floor(t / 4294967296);
      this.buf.writeInt32BE(hi, this.pos);
      this.buf.writeUInt32BE(t - hi * 4294967296, this.pos + 4);
    } else {
      this.buf.writeBigInt64BE(BigInt(t), this.pos);
    }
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
  /**
   * A records field: the batches are referenced whatever their size, never copied (the Fetch path sends cached
   * and read batches to the socket as they are). Pieces that continue one another in memory are sent as one.
   */
  records(v: RecordsValue, compact: boolean): void {
    if (v === null) return this.writeLength(-1, compact, true);
    if (Buffer.isBuffer(v)) {
      this.writeLength(v.length, compact, true);
      this.reference(v);
      return;
    }
    const list = v as readonly Buffer[];
    let n = 0;
    for (const b of list) n += b.length;
    this.writeLength(n, compact, true);
    for (const b of list) this.reference(b);
  }
  arrayLength(n: number | null, compact: boolean): void {
    const v = n === null ? -1 : n;
    if (compact) this.uvarint(v + 1);
    else this.int32(v);
  }

  /** Appends bytes: copied when small, referenced when large (zero-copy). */
  raw(b: Uint8Array): void {
    if (b.length >= ZERO_COPY_BYTES_MIN) {
      this.reference(b);
      return;
    }
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /**
   * Appends `b` by reference. A view that starts where the previous chunk ends in the same memory (batches
   * read from one file read, pieces of one socket read) extends that chunk instead: fewer iovecs, still no copy.
   */
  private reference(b: Uint8Array): void {
    if (b.length === 0) return;
    if (this.pos > 0) {
      this.chunks.push(this.buf.subarray(0, this.pos));
      this.doneBytes += this.pos;
      this.buf = this.buf.subarray(this.pos);
      this.pos = 0;
    }
    const last = this.chunks.length > 0 ? this.chunks[this.chunks.length - 1]! : null;
    if (last !== null && last.buffer === b.buffer && last.byteOffset + last.length === b.byteOffset) {
      this.chunks[this.chunks.length - 1] = Buffer.from(b.buffer, last.byteOffset, last.length + b.length);
    } else {
      this.chunks.push(Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length));
    }
    this.doneBytes += b.length;
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
