/**
 * native/share.cc: memory handed between isolates by reference. Worker threads are real isolates (as the shards
 * are): a Buffer exported by one and imported by another is the same memory, stays valid after the exporter's
 * isolate is gone, and is freed only when both are done. SharedArrayBuffer memory is refused; an id is taken once;
 * a tag's or a dead environment's untaken entries are dropped.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { enableShareMarks, isShareable, markShareable, shareBinding } from '../../src/io/share.js';

const share = shareBinding();
const addon = path.resolve('build/Release/tern_native.node');

/** Runs `body` (CommonJS, `native` in scope) in a worker; resolves with what it posts first. */
function inWorker<T>(body: string, data: unknown = null): Promise<{ worker: Worker; first: Promise<T> }> {
  // The timer keeps the worker alive until terminated: an exited worker's teardown drops its entries.
  const worker = new Worker(`const { parentPort, workerData } = require('node:worker_threads'); const native = require(${JSON.stringify(addon)}); setInterval(() => {}, 60000); ${body}`, { eval: true, workerData: data });
  const first = new Promise<T>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return Promise.resolve({ worker, first });
}

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 13 + seed) & 0xff;
  return b;
}

describe.runIf(share !== null)('share (native)', () => {
  const s = share!;

  it('imports another isolate\'s Buffers as the same memory, still valid after that isolate is gone', async () => {
    const before = s.shareStats().entries;
    const { worker, first } = await inWorker<number[]>(`
      const tag = native.shareTag();
      const bufs = [100, 300000, 2000000].map((n, k) => { const b = Buffer.allocUnsafe(n); for (let i = 0; i < n; i++) b[i] = (i * 13 + k) & 0xff; return b; });
      // a view inside a larger buffer: offset and length carry over
      const big = Buffer.allocUnsafe(50000); for (let i = 0; i < big.length; i++) big[i] = (i * 13 + 3) & 0xff;
      parentPort.postMessage([...native.shareExport(tag, [...bufs, big.subarray(1000, 41000)])]);
    `);
    const ids = await first;
    expect(ids.every((id) => id > 0)).toBe(true);
    expect(s.shareStats().entries).toBe(before + 4);
    const got = s.shareImport(Uint32Array.from(ids));
    expect(s.shareStats().entries).toBe(before);
    await worker.terminate(); // the exporter's isolate and its Buffers are gone; the memory is not
    expect(got.map((b) => b?.length)).toEqual([100, 300000, 2000000, 40000]);
    for (let k = 0; k < 3; k++) expect(got[k]!.equals(pattern(got[k]!.length, k))).toBe(true);
    expect(got[3]!.equals(pattern(41000, 3).subarray(1000))).toBe(true);
    expect(Buffer.isBuffer(got[0])).toBe(true);
    // Churn this heap: the memory must survive collections here too.
    for (let i = 0; i < 20; i++) Buffer.alloc(4 << 20, i);
    expect(got[2]!.equals(pattern(2000000, 2))).toBe(true);
  });

  it('shares the memory, not a copy: a write on one side is seen on the other', async () => {
    const mine = pattern(64 * 1024, 1);
    const { worker, first } = await inWorker<{ seen: number }>(`
      parentPort.once('message', ({ id }) => {
        const [b] = native.shareImport(Uint32Array.of(id));
        b[0] = 0xee; // written here, read by the exporter
        parentPort.postMessage({ seen: b[5] });
      });
    `);
    mine[5] = 0x77;
    const [id] = s.shareExport(s.shareTag(), [mine]);
    worker.postMessage({ id });
    expect((await first).seen).toBe(0x77);
    expect(mine[0]).toBe(0xee);
    await worker.terminate();
  });

  it('refuses SharedArrayBuffer memory and what is not a Uint8Array; takes an id once; a missing id is null', () => {
    const tag = s.shareTag();
    const ids = s.shareExport(tag, [new Uint8Array(new SharedArrayBuffer(4096)), new Uint16Array(8) as unknown as Uint8Array, 'x' as unknown as Uint8Array, pattern(10, 1)]);
    expect([...ids.subarray(0, 3)]).toEqual([0, 0, 0]);
    expect(ids[3]).toBeGreaterThan(0);
    expect(s.shareImport(Uint32Array.of(ids[3]!))[0]!.equals(pattern(10, 1))).toBe(true);
    expect(s.shareImport(Uint32Array.of(ids[3]!, 0, 0xffffffff))).toEqual([null, null, null]);
    expect(() => s.shareImport([1, 2] as unknown as Uint32Array)).toThrow(TypeError);
    expect(() => s.shareExport(tag, 'nope' as unknown as Uint8Array[])).toThrow(TypeError);
  });

  it('drops a tag\'s untaken entries, and a torn-down exporter\'s', async () => {
    const before = s.shareStats();
    const tag = s.shareTag();
    const other = s.shareTag();
    const kept = s.shareExport(other, [pattern(5000, 2)]);
    s.shareExport(tag, [pattern(1000, 1), pattern(2000, 1)]);
    expect(s.shareStats()).toEqual({ entries: before.entries + 3, bytes: before.bytes + 8000 });
    expect(s.shareDrop(tag)).toBe(2);
    expect(s.shareStats()).toEqual({ entries: before.entries + 1, bytes: before.bytes + 5000 });
    expect(s.shareImport(kept)[0]!.equals(pattern(5000, 2))).toBe(true);
    // A worker exports and exits without anyone taking its entries: its environment's teardown drops them.
    const { worker, first } = await inWorker<number[]>(`parentPort.postMessage([...native.shareExport(native.shareTag(), [Buffer.alloc(70000, 1)])]);`);
    const ids = await first;
    expect(s.shareStats().entries).toBe(before.entries + 1);
    await worker.terminate();
    expect(s.shareStats()).toEqual(before);
    expect(s.shareImport(Uint32Array.from(ids))).toEqual([null]);
  });
});

describe('markShareable', () => {
  it('marks nothing until a link that shares memory exists (a shard with no peers pays nothing per read)', () => {
    // nothing in this file has made a ShardLink (or called enableShareMarks) yet: marking is off in this worker
    const chunk = Buffer.from(new ArrayBuffer(1000));
    markShareable(chunk);
    expect(isShareable(chunk)).toBe(false);
  });

  it('marks memory, not views: any non-empty view of a marked ArrayBuffer may be shared', () => {
    enableShareMarks();
    const chunk = Buffer.from(new ArrayBuffer(12_000));
    expect(isShareable(chunk)).toBe(false);
    markShareable(chunk.subarray(0, 10));
    expect(isShareable(chunk.subarray(4000, 8000))).toBe(true);
    expect(isShareable(chunk.subarray(11_999))).toBe(true);
    expect(isShareable(chunk.subarray(5, 5))).toBe(false);
    expect(isShareable(Buffer.alloc(8000))).toBe(false);
  });
});
