/**
 * Chunked bytes: bytes held as the pieces they arrived in, in the manner of Redpanda's iobuf. A request frame that
 * spans several socket reads is a list of views of those reads, never joined; the records of a Produce request,
 * and each record batch in them, are sub-lists of the same views. A frame inside one read stays a single Buffer,
 * the common case, and every function here has a fast path for it.
 *
 * `ChunkedView` gives positional access over a list: slices (views), CRC32C over a range (chained over pieces),
 * a cursor for the varint walk over records, in-place writes of header fields. The one copy it makes is
 * `window`: a fixed-size field that straddles two pieces is read from a temp of at most STRADDLE_TEMP_BYTES_MAX
 * bytes (a batch header), counted by copy-meter.ts. Pure: no I/O; views only ever point into the given pieces.
 *
 * Ownership: the pieces belong to whoever produced them (the socket reads); a view or slice keeps them alive.
 * Range checks are assertions (a caller's bug), written `if (!ok) assert.fail(message)` so that the message is
 * only built on failure: these run per batch on the produce path.
 */
import assert from 'node:assert/strict';
import { countCopy, STRADDLE_TEMP_BYTES_MAX, type CopyReason } from './copy-meter.js';
import { crc32c } from './crc32c.js';
import { readVarint, readVarlong, type Cursor } from './varint.js';

/** One Buffer, or pieces read back to back (views; none is changed by the reader). */
export type ChunkedBytes = Buffer | readonly Buffer[];

const EMPTY = Buffer.alloc(0);

export function chunkedLength(b: ChunkedBytes): number {
  if (Buffer.isBuffer(b)) return b.length;
  let n = 0;
  for (const p of b as readonly Buffer[]) n += p.length;
  return n;
}

/** The pieces of `b` (a one-element list for a Buffer); no copy. */
export function piecesOf(b: ChunkedBytes): readonly Buffer[] {
  return Buffer.isBuffer(b) ? [b] : (b as readonly Buffer[]);
}

/**
 * `b` as one Buffer: itself when it is one piece, else a join (a copy of every byte, counted under `reason`).
 * Only for callers off the zero-copy paths: the client side, HTTP views, tests.
 */
export function joinChunks(b: ChunkedBytes, reason: CopyReason): Buffer {
  if (Buffer.isBuffer(b)) return b;
  const list = b as readonly Buffer[];
  if (list.length === 1) return list[0]!;
  const out = Buffer.concat(list as Buffer[]);
  countCopy(reason, out.length);
  return out;
}

/** Positional access to chunked bytes. Cheap to build: one pass over the piece list, no byte is touched. */
export class ChunkedView {
  readonly pieces: readonly Buffer[];
  readonly length: number;
  /** starts[i] is the position of pieces[i]; starts[pieces.length] === length. Invariant: non-decreasing. */
  readonly #starts: number[];
  /** The piece found last: access is mostly sequential. */
  #hint = 0;

  constructor(bytes: ChunkedBytes) {
    this.pieces = piecesOf(bytes);
    const starts = new Array<number>(this.pieces.length + 1);
    let pos = 0;
    for (let i = 0; i < this.pieces.length; i++) {
      starts[i] = pos;
      pos += this.pieces[i]!.length;
    }
    starts[this.pieces.length] = pos;
    this.#starts = starts;
    this.length = pos;
  }

  /** Position of piece `i` in the whole. */
  startOf(i: number): number {
    return this.#starts[i]!;
  }

  /** Index of the (non-empty) piece holding byte `pos`; 0 <= pos < length. */
  pieceAt(pos: number): number {
    const starts = this.#starts;
    const h = this.#hint;
    if (starts[h]! <= pos && pos < starts[h + 1]!) return h;
    let lo = 0;
    let hi = this.pieces.length - 1;
    // largest i with starts[i] <= pos; pos < length makes piece i non-empty
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (starts[mid]! <= pos) lo = mid;
      else hi = mid - 1;
    }
    this.#hint = lo;
    return lo;
  }

  /** Bytes [start, end) as views: one Buffer when they lie in one piece, else the list of views. */
  slice(start: number, end: number): ChunkedBytes {
    if (!(0 <= start && start <= end && end <= this.length)) assert.fail(`slice ${start}..${end} of ${this.length} bytes`);
    if (start === end) return EMPTY;
    const first = this.pieceAt(start);
    const firstStart = this.#starts[first]!;
    const firstPiece = this.pieces[first]!;
    if (end <= firstStart + firstPiece.length) return firstPiece.subarray(start - firstStart, end - firstStart);
    const out: Buffer[] = [firstPiece.subarray(start - firstStart)];
    for (let i = first + 1; ; i++) {
      const p = this.pieces[i]!;
      const s = this.#starts[i]!;
      if (end <= s + p.length) {
        if (end > s) out.push(end === s + p.length ? p : p.subarray(0, end - s));
        return out;
      }
      if (p.length > 0) out.push(p);
    }
  }

  /**
   * Bytes [pos, pos + n) as one Buffer for reading a fixed-size field: a view when they lie in one piece, else a
   * temp copy (n is at most STRADDLE_TEMP_BYTES_MAX; counted as `straddleTemp`).
   */
  window(pos: number, n: number): Buffer {
    if (!(0 <= pos && pos + n <= this.length && n <= STRADDLE_TEMP_BYTES_MAX)) assert.fail(`window ${pos}+${n} of ${this.length} bytes`);
    if (this.pieces.length === 1) return this.pieces[0]!.subarray(pos, pos + n);
    const out = this.slice(pos, pos + n);
    if (Buffer.isBuffer(out)) return out;
    const temp = Buffer.allocUnsafe(n);
    let off = 0;
    for (const p of out as Buffer[]) {
      p.copy(temp, off);
      off += p.length;
    }
    countCopy('straddleTemp', n);
    return temp;
  }

  readInt8(pos: number): number {
    if (this.pieces.length === 1) return this.pieces[0]!.readInt8(pos);
    const i = this.pieceAt(pos);
    return this.pieces[i]!.readInt8(pos - this.#starts[i]!);
  }

  readInt32BE(pos: number): number {
    if (this.pieces.length === 1) return this.pieces[0]!.readInt32BE(pos);
    return this.window(pos, 4).readInt32BE(0);
  }

  /**
   * Writes `src` (a header field, a few bytes) at `pos`, into the piece or pieces that hold those bytes: an
   * in-place rewrite, byte by byte across a boundary (no temp, no copy of stored bytes).
   */
  write(pos: number, src: Uint8Array): void {
    if (!(0 <= pos && pos + src.length <= this.length)) assert.fail(`write ${pos}+${src.length} of ${this.length} bytes`);
    let i = this.pieceAt(pos);
    let off = pos - this.#starts[i]!;
    for (let k = 0; k < src.length; k++) {
      while (off >= this.pieces[i]!.length) {
        i++;
        off = 0;
      }
      this.pieces[i]![off++] = src[k]!;
    }
  }

  /** CRC-32C of bytes [start, end), chained over the pieces (crc32c's seed). */
  crc32c(start: number, end: number): number {
    if (!(0 <= start && start <= end && end <= this.length)) assert.fail(`crc ${start}..${end} of ${this.length} bytes`);
    if (this.pieces.length === 1) return crc32c(this.pieces[0]!.subarray(start, end));
    let crc = 0;
    if (start === end) return crc;
    for (let i = this.pieceAt(start); i < this.pieces.length; i++) {
      const s = this.#starts[i]!;
      if (s >= end) break;
      const p = this.pieces[i]!;
      crc = crc32c(p.subarray(Math.max(0, start - s), Math.min(p.length, end - s)), crc);
    }
    return crc;
  }

  /** A cursor at `pos` for walking varint-encoded fields that may straddle pieces. */
  cursor(pos: number): PieceCursor {
    return new PieceCursor(this, pos);
  }
}

/**
 * Sequential reader over a ChunkedView for the varint walk of records: `varint`/`varlong` read across piece
 * boundaries without a temp, `seek` skips payload (keys, values) without touching it. Positions passed in and
 * out are absolute (in the whole view); `buf`/`offset` are the current piece and the offset in it (the Cursor
 * that varint.ts advances on the fast path). Errors are varint.ts's RangeErrors.
 */
export class PieceCursor implements Cursor {
  buf: Buffer = EMPTY;
  offset = 0;
  /** Position of buf[0] in the view. */
  #base = 0;
  #index = 0;

  constructor(
    private readonly view: ChunkedView,
    pos: number,
  ) {
    this.seek(pos);
  }

  /** Absolute position. */
  get position(): number {
    return this.#base + this.offset;
  }

  /** Moves to absolute position `pos` (0..length). */
  seek(pos: number): void {
    const rel = pos - this.#base;
    if (rel >= 0 && rel < this.buf.length) {
      this.offset = rel;
      return;
    }
    const v = this.view;
    if (!(pos >= 0 && pos <= v.length)) assert.fail(`seek to ${pos} of ${v.length} bytes`);
    if (pos === v.length) {
      // the end: past the last piece
      this.#index = v.pieces.length;
      this.buf = EMPTY;
      this.#base = pos;
      this.offset = 0;
      return;
    }
    this.#index = v.pieceAt(pos);
    this.buf = v.pieces[this.#index]!;
    this.#base = v.startOf(this.#index);
    this.offset = pos - this.#base;
  }

  /** Zig-zag varint ending before absolute position `end`. */
  varint(end: number): number {
    const lim = end - this.#base;
    const bufEnd = this.buf.length;
    if (lim <= bufEnd || this.offset + 5 <= bufEnd) return readVarint(this.buf, this, lim < bufEnd ? lim : bufEnd);
    const u = this.#slowUnsigned(end, 5, 'varint');
    return (u >>> 1) ^ -(u & 1);
  }

  /** Zig-zag varlong (up to 10 bytes) ending before absolute position `end`. */
  varlong(end: number): number {
    const lim = end - this.#base;
    const bufEnd = this.buf.length;
    if (lim <= bufEnd || this.offset + 10 <= bufEnd) return readVarlong(this.buf, this, lim < bufEnd ? lim : bufEnd);
    // Slow path: the same arithmetic as readVarlong, a byte at a time across pieces.
    let value = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.#byte(end, 'varlong');
      value += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
      mul *= 128;
    }
    throw new RangeError('varlong longer than 64 bits');
  }

  /** Unsigned varint across pieces: the same checks as readUVarint. */
  #slowUnsigned(end: number, bytesMax: number, what: string): number {
    let value = 0;
    let shift = 0;
    for (let i = 0; i < bytesMax; i++) {
      const b = this.#byte(end, what);
      if (shift === 28) {
        if (b > 0x0f) throw new RangeError(`${what} longer than 32 bits`);
        return (value | (b << 28)) >>> 0;
      }
      value |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return value >>> 0;
      shift += 7;
    }
    throw new RangeError(`${what} longer than 32 bits`);
  }

  #byte(end: number, what: string): number {
    if (this.#base + this.offset >= end) throw new RangeError(`${what} runs past the end of the buffer`);
    while (this.offset >= this.buf.length) {
      this.#base += this.buf.length;
      this.buf = this.view.pieces[++this.#index]!;
      this.offset = 0;
    }
    return this.buf[this.offset++]!;
  }
}
