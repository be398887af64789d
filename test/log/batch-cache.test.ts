import { describe, expect, it } from 'vitest';
import { BatchCache } from '../../src/log/index.js';

const bytes = (n: number, fill: number) => Buffer.alloc(n, fill);

describe('BatchCache', () => {
  it('serves a contiguous run of recent batches per partition, evicting oldest first across partitions', () => {
    const cache = new BatchCache(300);
    const a = cache.forPartition();
    const b = cache.forPartition();
    a.add(0, 9, bytes(100, 1));
    b.add(0, 4, bytes(100, 2));
    a.add(10, 19, bytes(100, 3));
    expect(cache.bytes).toBe(300);
    b.add(5, 9, bytes(100, 4)); // evicts a's first batch, the oldest overall
    expect(cache.bytes).toBe(300);
    expect(a.read(5, 1000, 100, true)).toBeNull(); // older than the cache: go to the file
    expect(a.read(12, 1000, 100, true)?.map((x) => x[0])).toEqual([3]);
    expect(b.read(0, 1000, 100, true)?.map((x) => x[0])).toEqual([2, 4]);
    // visibility and size limits
    expect(b.read(0, 1000, 5, true)?.map((x) => x[0])).toEqual([2]);
    expect(b.read(0, 150, 100, true)?.map((x) => x[0])).toEqual([2]);
    expect(b.read(0, 50, 100, false)).toEqual([]);
    expect(b.read(0, 50, 100, true)?.map((x) => x[0])).toEqual([2]);
    b.clear();
    expect(cache.bytes).toBe(100);
    expect(b.read(0, 1000, 100, true)).toBeNull();
  });

  it('skips batches bigger than the budget and restarts the run after them', () => {
    const cache = new BatchCache(100);
    const p = cache.forPartition();
    p.add(0, 0, bytes(50, 1));
    p.add(1, 1, bytes(500, 2));
    expect(cache.bytes).toBe(0);
    expect(p.read(0, 1000, 10, true)).toBeNull();
    p.add(2, 2, bytes(50, 3));
    expect(p.read(2, 1000, 10, true)?.map((x) => x[0])).toEqual([3]);
    expect(p.read(1, 1000, 10, true)).toBeNull();
  });
});
