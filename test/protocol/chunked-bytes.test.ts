/**
 * ChunkedView and PieceCursor: positional access over bytes held as pieces. Every operation is checked against
 * the same operation on the joined bytes, over seeded random splits (1-byte pieces, empty pieces, large ones).
 */
import { describe, expect, it } from 'vitest';
import { ChunkedView, chunkedLength, joinChunks, piecesOf } from '../../src/protocol/chunked-bytes.js';
import { copyCounts, resetCopyCounts } from '../../src/protocol/copy-meter.js';
import { crc32c } from '../../src/protocol/crc32c.js';
import { readVarint, readVarlong, writeVarint, writeVarlong } from '../../src/protocol/varint.js';
import { Rng } from './spec-model.js';

function split(bytes: Buffer, rng: Rng, maxPiece: number): Buffer[] {
  const out: Buffer[] = [];
  for (let p = 0; p < bytes.length; ) {
    const n = rng.int(0, maxPiece);
    out.push(bytes.subarray(p, p + n));
    p += n;
  }
  return out;
}

const joined = (b: Buffer | readonly Buffer[]): Buffer => (Buffer.isBuffer(b) ? b : Buffer.concat(b as Buffer[]));

describe('ChunkedView', () => {
  const rng = new Rng(42);
  const bytes = rng.bytes(600);

  it.each([1, 3, 17, 250, 1000])('slices, windows, int reads and CRCs equal those of the joined bytes (pieces up to %i bytes)', (maxPiece) => {
    for (let round = 0; round < 5; round++) {
      const pieces = split(bytes, rng, maxPiece);
      const v = new ChunkedView(pieces);
      expect(v.length).toBe(bytes.length);
      expect(chunkedLength(pieces)).toBe(bytes.length);
      for (let k = 0; k < 60; k++) {
        const a = rng.int(0, bytes.length);
        const b = rng.int(a, bytes.length);
        const s = v.slice(a, b);
        expect(joined(s)).toEqual(bytes.subarray(a, b));
        // views only: every piece of the slice lies in the original memory
        for (const p of piecesOf(s)) if (p.length > 0) expect(p.buffer).toBe(bytes.buffer);
        expect(v.crc32c(a, b)).toBe(crc32c(bytes.subarray(a, b)));
        const n = Math.min(61, bytes.length - a);
        expect(v.window(a, n)).toEqual(bytes.subarray(a, a + n));
        if (a + 4 <= bytes.length) expect(v.readInt32BE(a)).toBe(bytes.readInt32BE(a));
        if (a < bytes.length) expect(v.readInt8(a)).toBe(bytes.readInt8(a));
      }
    }
  });

  it('slices inside one piece are one view; across pieces a list of views', () => {
    const v = new ChunkedView([bytes.subarray(0, 100), bytes.subarray(100, 200), bytes.subarray(200)]);
    const one = v.slice(110, 190);
    expect(Buffer.isBuffer(one)).toBe(true);
    expect((one as Buffer).byteOffset).toBe(bytes.byteOffset + 110);
    const three = v.slice(50, 250) as Buffer[];
    expect(three.map((p) => p.length)).toEqual([50, 100, 50]);
    expect(v.slice(100, 200)).toEqual(bytes.subarray(100, 200));
    expect(v.slice(7, 7)).toHaveLength(0);
  });

  it('window copies only when the field straddles, and says so (straddleTemp)', () => {
    const v = new ChunkedView([bytes.subarray(0, 10), bytes.subarray(10)]);
    resetCopyCounts();
    expect(v.window(0, 10).buffer).toBe(bytes.buffer); // inside the first piece: a view
    expect(copyCounts().straddleTemp.count).toBe(0);
    expect(v.window(5, 61)).toEqual(bytes.subarray(5, 66));
    expect(copyCounts().straddleTemp).toEqual({ count: 1, bytes: 61 });
    expect(() => v.window(0, 62)).toThrow(); // not for payload: a header at most
  });

  it('writes a field in place across piece boundaries', () => {
    for (let cut = 0; cut <= 8; cut++) {
      const copy = Buffer.from(bytes.subarray(0, 16));
      const v = new ChunkedView([copy.subarray(0, cut), copy.subarray(cut, cut), copy.subarray(cut)]);
      v.write(2, Buffer.from('abcdef'));
      expect(copy.subarray(2, 8).toString()).toBe('abcdef');
      expect(copy.subarray(8)).toEqual(bytes.subarray(8, 16));
    }
  });

  it('joinChunks joins only a real list, and counts the copy', () => {
    resetCopyCounts();
    expect(joinChunks(bytes, 'frameJoin')).toBe(bytes);
    expect(joinChunks([bytes], 'frameJoin')).toBe(bytes);
    expect(joinChunks([bytes.subarray(0, 1), bytes.subarray(1)], 'frameJoin')).toEqual(bytes);
    expect(copyCounts().frameJoin).toEqual({ count: 1, bytes: bytes.length });
  });
});

describe('PieceCursor', () => {
  // Zig-zag varints and varlongs of every length, back to back, read across every split.
  const values = [0, -1, 1, 63, -64, 64, 8191, -8192, 2 ** 20, -(2 ** 27), 2 ** 31 - 1, -(2 ** 31)];
  const longs = [0, -1, 2 ** 35, -(2 ** 40), 2 ** 52, -(2 ** 52), 1_700_000_000_000];
  const buf = Buffer.alloc(200);
  let end = 0;
  for (const x of values) end = writeVarint(buf, end, x);
  for (const x of longs) end = writeVarlong(buf, end, x);
  const enc = buf.subarray(0, end);

  it('reads varints and varlongs that straddle pieces, as varint.ts reads them joined', () => {
    const rng = new Rng(7);
    for (let round = 0; round < 200; round++) {
      const v = new ChunkedView(split(enc, rng, round % 2 === 0 ? 2 : 12));
      const c = v.cursor(0);
      const got = [...values.map(() => c.varint(enc.length)), ...longs.map(() => c.varlong(enc.length))];
      expect(got).toEqual([...values, ...longs]);
      expect(c.position).toBe(enc.length);
    }
    const plain = { offset: 0 };
    expect(values.map(() => readVarint(enc, plain))).toEqual(values);
    expect(longs.map(() => readVarlong(enc, plain))).toEqual(longs);
  });

  it('stops at `end` even when more bytes follow, and rejects overlong varints across pieces', () => {
    const v = new ChunkedView([Buffer.from([0x80]), Buffer.from([0x80]), Buffer.from([0x01])]);
    expect(() => v.cursor(0).varint(2)).toThrow(/runs past the end/);
    expect(v.cursor(0).varint(3)).toBe(8192);
    const long = new ChunkedView([Buffer.alloc(3, 0xff), Buffer.alloc(3, 0xff), Buffer.from([0x7f])]);
    expect(() => long.cursor(0).varint(7)).toThrow(/longer than 32 bits/);
    const longer = new ChunkedView([Buffer.alloc(6, 0xff), Buffer.alloc(6, 0xff)]);
    expect(() => longer.cursor(0).varlong(12)).toThrow(/longer than 64 bits/);
  });

  it('seeks over payload without reading it, to any position up to the end', () => {
    const v = new ChunkedView([enc.subarray(0, 5), enc.subarray(5, 6), enc.subarray(6)]);
    const c = v.cursor(0);
    c.seek(enc.length);
    expect(c.position).toBe(enc.length);
    expect(() => c.varint(enc.length)).toThrow(RangeError);
    c.seek(0);
    expect(c.varint(enc.length)).toBe(values[0]);
  });
});
