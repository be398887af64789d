import { describe, expect, it } from 'vitest';
import { BatchCache } from '../../src/log/index.js';
import { copyCounts, resetCopyCounts } from '../../src/protocol/copy-meter.js';

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

  it('serves a batch held as pieces (it straddled socket reads) as those pieces, views, no copy', () => {
    const cache = new BatchCache(1 << 20);
    const p = cache.forPartition();
    const reads = [bytes(3000, 1), bytes(4000, 2), bytes(2500, 3)]; // each read holds only this batch
    resetCopyCounts();
    p.add(0, 9, reads);
    p.add(10, 10, bytes(100, 4));
    expect(cache.bytes).toBe(9600);
    const out = p.read(0, 1 << 20, 100, true)!;
    expect(out).toHaveLength(4);
    expect(out.slice(0, 3).every((b, i) => b === reads[i])).toBe(true);
    expect(copyCounts().cacheCompact.count).toBe(0);
    // maxBytes counts a batch by its total size, whatever its pieces
    expect(p.read(0, 9599, 100, false)).toHaveLength(3);
    expect(p.read(0, 9599, 100, false)!.reduce((n, b) => n + b.length, 0)).toBe(9500);
  });

  it('copies a batch whose pieces pin far more memory than the batch (small batch in large reads), counted', () => {
    const cache = new BatchCache(1 << 20);
    const p = cache.forPartition();
    const readA = bytes(64 * 1024, 1);
    const readB = bytes(64 * 1024, 2);
    resetCopyCounts();
    p.add(0, 0, [readA.subarray(readA.length - 50), readB.subarray(0, 70)]);
    const [copy] = p.read(0, 1 << 20, 100, true)!;
    expect(copy!.length).toBe(120);
    expect(copy!.buffer).not.toBe(readA.buffer);
    expect(copy).toEqual(Buffer.concat([readA.subarray(readA.length - 50), readB.subarray(0, 70)]));
    expect(copyCounts().cacheCompact).toEqual({ count: 1, bytes: 120 });
    // A single view into a large read is copied too (once its read is done: here the next add, of another
    // read); one that owns most of its read is kept.
    p.add(1, 1, readA.subarray(0, 100));
    const owned = bytes(1000, 5);
    p.add(2, 2, owned.subarray(0, 900));
    cache.settle();
    const out = p.read(1, 1 << 20, 100, true)!;
    expect(out[0]!.buffer).not.toBe(readA.buffer);
    expect(out[1]!.buffer).toBe(owned.buffer);
    expect(copyCounts().cacheCompact).toEqual({ count: 2, bytes: 220 });
  });

  it('keeps as views the batches of one read that together fill it (a request over many partitions); decides when the read is done', async () => {
    const cache = new BatchCache(1 << 20);
    const parts = Array.from({ length: 64 }, () => cache.forPartition());
    const read = bytes(64 * 1024, 7);
    resetCopyCounts();
    parts.forEach((p, i) => p.add(0, 0, read.subarray(i * 1024, (i + 1) * 1024)));
    await new Promise((resolve) => setImmediate(resolve));
    expect(copyCounts().cacheCompact.count).toBe(0);
    parts.forEach((p, i) => {
      const [b] = p.read(0, 1 << 20, 1, true)!;
      expect(b!.buffer, `partition ${i}`).toBe(read.buffer);
      expect(b!.equals(read.subarray(i * 1024, (i + 1) * 1024))).toBe(true);
    });
  });

  it('copies the few small batches of a large read once the read is done (setImmediate); evicted ones are not copied', async () => {
    const cache = new BatchCache(1 << 20);
    const [a, b, c] = [cache.forPartition(), cache.forPartition(), cache.forPartition()];
    const read = bytes(64 * 1024, 8);
    resetCopyCounts();
    a.add(0, 0, read.subarray(0, 100));
    b.add(0, 0, read.subarray(100, 300));
    c.add(0, 0, read.subarray(300, 400));
    c.clear(); // dropped before the decision: nothing to copy for it
    // until then they are views, served as they are
    expect(a.read(0, 1 << 20, 1, true)![0]!.buffer).toBe(read.buffer);
    await new Promise((resolve) => setImmediate(resolve));
    expect(copyCounts().cacheCompact).toEqual({ count: 2, bytes: 300 });
    const [ca] = a.read(0, 1 << 20, 1, true)!;
    const [cb] = b.read(0, 1 << 20, 1, true)!;
    expect(ca!.buffer).not.toBe(read.buffer);
    expect(cb!.buffer).not.toBe(read.buffer);
    expect(ca!.equals(read.subarray(0, 100)) && cb!.equals(read.subarray(100, 300))).toBe(true);
    expect(cache.bytes).toBe(300);
  });

  it('copies a batch cut into many tiny pieces (a trickling peer), so Fetch does not write it piece by piece', () => {
    const cache = new BatchCache(1 << 20);
    const p = cache.forPartition();
    const tiny = Array.from({ length: 100 }, (_, i) => bytes(100, i)); // 100 reads of 100 bytes
    resetCopyCounts();
    p.add(0, 0, tiny);
    const out = p.read(0, 1 << 20, 100, true)!;
    expect(out).toHaveLength(1);
    expect(out[0]).toEqual(Buffer.concat(tiny));
    expect(copyCounts().cacheCompact).toEqual({ count: 1, bytes: 10_000 });
  });
});
