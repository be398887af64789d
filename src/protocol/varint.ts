/**
 * Variable-length integers of the Kafka protocol.
 * - unsigned varint (compact lengths, tagged-field tags and sizes): LEB128, up to 5 bytes for 32 bits;
 * - zig-zag varint / varlong (record fields): signed values mapped to unsigned first.
 * Varlongs are returned as `number`: record timestamp and offset deltas stay far below 2^53.
 * Readers return the value and advance `pos.offset`; they throw `RangeError` on truncated or overlong input.
 */
export interface Cursor {
  offset: number;
}

export function readUVarint(buf: Uint8Array, pos: Cursor, end = buf.length): number {
  let value = 0;
  let shift = 0;
  for (;;) {
    if (pos.offset >= end) throw new RangeError('varint runs past the end of the buffer');
    const b = buf[pos.offset++]!;
    if (shift === 28) {
      if (b > 0x0f) throw new RangeError('varint longer than 32 bits');
      return (value | (b << 28)) >>> 0;
    }
    value |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) return value >>> 0;
    shift += 7;
  }
}

export function readVarint(buf: Uint8Array, pos: Cursor, end = buf.length): number {
  const u = readUVarint(buf, pos, end);
  return (u >>> 1) ^ -(u & 1);
}

export function readVarlong(buf: Uint8Array, pos: Cursor, end = buf.length): number {
  // Up to 10 bytes; arithmetic in doubles is exact while the magnitude stays below 2^53.
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos.offset >= end) throw new RangeError('varlong runs past the end of the buffer');
    const b = buf[pos.offset++]!;
    value += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) {
      // zig-zag decode: even -> value/2, odd -> -(value+1)/2
      return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
    }
    mul *= 128;
  }
  throw new RangeError('varlong longer than 64 bits');
}

export function sizeOfUVarint(value: number): number {
  let n = 1;
  let v = value >>> 0;
  while (v >= 0x80) {
    v >>>= 7;
    n++;
  }
  return n;
}

/** Writes an unsigned varint at `off`; returns the offset after it. */
export function writeUVarint(buf: Uint8Array, off: number, value: number): number {
  let v = value >>> 0;
  while (v >= 0x80) {
    buf[off++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[off++] = v;
  return off;
}

export function zigzag32(value: number): number {
  return ((value << 1) ^ (value >> 31)) >>> 0;
}

/** Zig-zag for values up to 2^52 in magnitude, as a non-negative double. */
export function zigzag64(value: number): number {
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

export function sizeOfVarint(value: number): number {
  return sizeOfUVarint(zigzag32(value));
}

export function sizeOfVarlong(value: number): number {
  let v = zigzag64(value);
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

export function writeVarint(buf: Uint8Array, off: number, value: number): number {
  return writeUVarint(buf, off, zigzag32(value));
}

export function writeVarlong(buf: Uint8Array, off: number, value: number): number {
  let v = zigzag64(value);
  while (v >= 128) {
    buf[off++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[off++] = v;
  return off;
}
