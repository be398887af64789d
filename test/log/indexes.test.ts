import { describe, expect, it } from 'vitest';
import { OffsetIndex, TimeIndex } from '../../src/log/index.js';

const T0 = 1_700_000_000_000;

describe('OffsetIndex', () => {
  it('finds the last entry at or below an offset, else the segment start', () => {
    const index = new OffsetIndex(100);
    index.append(110, 4096);
    index.append(125, 8200);
    index.append(140, 12400);
    const bytes = index.encode();
    expect(bytes.length).toBe(24);
    expect(bytes.readInt32BE(0)).toBe(10); // relative offset
    expect(bytes.readInt32BE(4)).toBe(4096);
    expect(index.lookup(100)).toEqual({ offset: 100, position: 0 });
    expect(index.lookup(109)).toEqual({ offset: 100, position: 0 });
    expect(index.lookup(110)).toEqual({ offset: 110, position: 4096 });
    expect(index.lookup(139)).toEqual({ offset: 125, position: 8200 });
    expect(index.lookup(1e9)).toEqual({ offset: 140, position: 12400 });
  });

  it('decodes its own file and rejects damaged ones', () => {
    const index = new OffsetIndex(0);
    index.append(5, 100);
    index.append(9, 300);
    const bytes = index.encode();
    const decoded = OffsetIndex.decode(0, bytes, 400);
    expect(decoded).toBeInstanceOf(OffsetIndex);
    if (decoded instanceof OffsetIndex) expect(decoded.lookup(7)).toEqual({ offset: 5, position: 100 });
    expect(OffsetIndex.decode(0, bytes.subarray(0, 12), 400)).toMatch(/multiple of 8/);
    expect(OffsetIndex.decode(0, bytes, 300)).toMatch(/out of range/);
    const swapped = Buffer.concat([bytes.subarray(8), bytes.subarray(0, 8)]);
    expect(OffsetIndex.decode(0, swapped, 400)).toMatch(/not increasing/);
  });

  it('refuses entries that go backwards (a programming error)', () => {
    const index = new OffsetIndex(0);
    index.append(10, 100);
    expect(() => index.append(10, 200)).toThrow();
    expect(() => index.append(11, 100)).toThrow();
  });
});

describe('TimeIndex', () => {
  it('only records growing timestamps and gives a safe search start', () => {
    const index = new TimeIndex(1000);
    expect(index.maybeAppend(T0, 1000)).toBe(true);
    expect(index.maybeAppend(T0, 1005)).toBe(false);
    expect(index.maybeAppend(T0 + 50, 1010)).toBe(true);
    expect(index.maybeAppend(T0 + 90, 1020)).toBe(true);
    expect(index.lastTimestamp).toBe(T0 + 90);
    expect(index.lastOffset).toBe(1020);
    expect(index.searchStart(T0)).toBe(1000); // nothing strictly older
    expect(index.searchStart(T0 + 50)).toBe(1000);
    expect(index.searchStart(T0 + 51)).toBe(1010);
    expect(index.searchStart(T0 + 1000)).toBe(1020);
  });

  it('decodes its own file and rejects damaged ones', () => {
    const index = new TimeIndex(0);
    expect(index.maybeAppend(T0, 0)).toBe(true);
    expect(index.maybeAppend(T0 + 1, 4)).toBe(true);
    const bytes = index.encode();
    const decoded = TimeIndex.decode(0, bytes);
    expect(decoded).toBeInstanceOf(TimeIndex);
    if (decoded instanceof TimeIndex) expect(decoded.lastTimestamp).toBe(T0 + 1);
    expect(TimeIndex.decode(0, bytes.subarray(0, 13))).toMatch(/multiple of 12/);
    expect(TimeIndex.decode(0, Buffer.concat([bytes.subarray(12), bytes.subarray(0, 12)]))).toMatch(/not increasing/);
  });
});
