/**
 * Cross-shard calls (src/shard/rpc.ts) between two links in one thread: requests and responses with payloads,
 * frames larger than the ring (fragmented without joining, reassembled byte-exact), ordering, back-pressure (a
 * full ring makes calls wait, in order, until the peer reads) and a closed link failing its calls in flight.
 * Bulk answers: views of the peer's arena, no copy, returned on release; a run is never reused before its
 * release; a full arena, a small answer or a plain call go through the ring.
 * Shared payloads: marked memory (socket reads, imports), however small, goes by reference both ways, no copy;
 * the rest is copied; an id that cannot be taken fails that call only.
 */
import { describe, expect, it } from 'vitest';
import { createChannelBuffer } from '../../src/shard/channel.js';
import { BULK_PAYLOAD_BYTES_MIN, ShardLink, ShardUnavailableError, type RpcServe } from '../../src/shard/rpc.js';
import { BULK_BLOCK_BYTES, BulkReader, BulkWriter, createBulkBuffer } from '../../src/shard/bulk.js';
import { copyCounts, resetCopyCounts } from '../../src/protocol/copy-meter.js';
import { markShareable, shareBinding } from '../../src/io/share.js';

function pair(serveA: RpcServe, serveB: RpcServe, ringBytes = 64 * 1024, opts: { share?: boolean } = {}): [ShardLink, ShardLink] {
  const ab = createChannelBuffer(ringBytes);
  const ba = createChannelBuffer(ringBytes);
  const a = new ShardLink(1, ab, ba, serveA, opts);
  const b = new ShardLink(0, ba, ab, serveB, opts);
  return [a, b];
}

const none: RpcServe = () => Promise.reject(new Error('not served'));

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

describe('ShardLink', () => {
  it('answers calls with results and payloads, in order, and counts them', async () => {
    const seen: number[] = [];
    const [a, b] = pair(none, async (op, args, payloads) => {
      seen.push((args as { n: number }).n);
      return { result: { op, n: (args as { n: number }).n, bytes: payloads.reduce((s, p) => s + p.length, 0) }, payloads: [Buffer.from(`echo ${(args as { n: number }).n}`), ...payloads] };
    });
    const calls = Array.from({ length: 200 }, (_, n) => a.call('echo', { n }, [pattern(100 + n, n), pattern(7, n)]));
    const res = await Promise.all(calls);
    expect(seen).toEqual(Array.from({ length: 200 }, (_, n) => n));
    res.forEach((r, n) => {
      expect(r.args).toEqual({ op: 'echo', n, bytes: 107 + n });
      expect(r.payloads.map((p) => p.toString('latin1'))).toEqual([`echo ${n}`, pattern(100 + n, n).toString('latin1'), pattern(7, n).toString('latin1')]);
    });
    expect(a.stats.callsSent).toBe(200);
    expect(b.stats.callsServed).toBe(200);
    a.close();
    b.close();
  });

  it('carries frames larger than the ring in fragments, byte-exact, interleaved with small ones', async () => {
    const [a, b] = pair(none, async (_op, _args, payloads) => ({ result: payloads.map((p) => p.length), payloads }), 64 * 1024);
    const big = pattern(1_000_000, 3); // ~61 ring messages of 16 KiB
    const calls = [a.call('x', 1, [big]), a.call('x', 2, [Buffer.from('small')]), a.call('x', 3, [pattern(300_000, 9), big])];
    const [r1, r2, r3] = await Promise.all(calls);
    expect(r1!.args).toEqual([1_000_000]);
    expect(Buffer.compare(r1!.payloads[0]!, big)).toBe(0);
    expect(r2!.payloads[0]!.toString()).toBe('small');
    expect(Buffer.compare(r3!.payloads[0]!, pattern(300_000, 9))).toBe(0);
    expect(Buffer.compare(r3!.payloads[1]!, big)).toBe(0);
    expect(a.stats.fragmented).toBe(2);
    expect(b.stats.fragmented).toBe(2); // the responses carry the same bytes back
    a.close();
    b.close();
  });

  it('applies back-pressure: calls wait for ring space, in order, and all complete once the peer reads', async () => {
    const served: number[] = [];
    const [a, b] = pair(none, async (_op, args, payloads) => {
      served.push(args as number);
      return { result: payloads[0]!.length };
    }, 64 * 1024);
    const chunk = pattern(12 * 1024, 1);
    // All in one synchronous run: the peer cannot read meanwhile, so the 64 KiB ring holds ~5 of these frames
    // and the rest wait in the outbox.
    const calls = Array.from({ length: 60 }, (_, i) => a.call('slow', i, [chunk]));
    expect(a.queuedBytes).toBeGreaterThan(50 * 12 * 1024);
    const res = await Promise.all(calls);
    expect(res.map((r) => r.args)).toEqual(Array.from({ length: 60 }, () => 12 * 1024));
    expect(served).toEqual(Array.from({ length: 60 }, (_, i) => i));
    expect(a.queuedBytes).toBe(0);
    a.close();
    b.close();
  });

  it('fails calls in flight when the link closes, and refuses new ones', async () => {
    const [a, b] = pair(none, () => new Promise(() => undefined));
    const pending = a.call('never', null);
    a.close(new Error('peer crashed'));
    await expect(pending).rejects.toThrow(/unavailable: peer crashed/);
    await expect(a.call('again', null)).rejects.toBeInstanceOf(ShardUnavailableError);
    b.close();
  });

  it('passes a remote failure back as a rejected call', async () => {
    const [a, b] = pair(none, () => Promise.reject(new Error('boom on the owner')));
    await expect(a.call('x', null)).rejects.toThrow('boom on the owner');
    a.close();
    b.close();
  });
});

/** Two links sharing rings and bulk arenas of `bulkBytes` each way, as the supervisor wires shards. */
function bulkPair(serveB: RpcServe, bulkBytes = 16 * BULK_BLOCK_BYTES): { a: ShardLink; b: ShardLink; arenaB: SharedArrayBuffer } {
  const ab = createChannelBuffer(256 * 1024);
  const ba = createChannelBuffer(256 * 1024);
  const arenaA = createBulkBuffer(bulkBytes);
  const arenaB = createBulkBuffer(bulkBytes);
  const a = new ShardLink(1, ab, ba, none, { bulk: { tx: arenaA, rx: arenaB } });
  const b = new ShardLink(0, ba, ab, serveB, { bulk: { tx: arenaB, rx: arenaA } });
  return { a, b, arenaB };
}

/**
 * Calls `op` with `bulk` on `a` while every Uint8Array#set and Buffer#copy of 1 KiB or more is counted (record
 * bytes; headers and JSON are smaller), with the copy meter's shardHop bytes over the same call.
 */
async function countedCall(a: ShardLink, bulk: boolean, payloads: Buffer[] = []): Promise<{ spied: number; metered: number; r: Awaited<ReturnType<ShardLink['call']>> }> {
  const set = Uint8Array.prototype.set;
  const copy = Buffer.prototype.copy;
  let spied = 0;
  Uint8Array.prototype.set = function (this: Uint8Array, src: ArrayLike<number>, offset?: number) {
    if (src.length >= 1024) spied += src.length;
    return set.call(this, src, offset);
  };
  Buffer.prototype.copy = function (this: Buffer, target: Uint8Array, ...rest: number[]) {
    const n = copy.call(this, target, ...rest);
    if (n >= 1024) spied += n;
    return n;
  };
  resetCopyCounts();
  try {
    const r = await a.call('read', null, payloads, { bulk });
    return { spied, metered: copyCounts().shardHop.bytes, r };
  } finally {
    Uint8Array.prototype.set = set;
    Buffer.prototype.copy = copy;
  }
}

/** Releases `r`'s views and checks that `b` has every block back and kept the link open; closes both links. */
async function releaseAndClose(r: Awaited<ReturnType<ShardLink['call']>>, a: ShardLink, b: ShardLink): Promise<void> {
  r.release!();
  await settle();
  expect(b.stats.bulkBlocksLent).toBe(0);
  expect(b.closed).toBe(false);
  a.close();
  b.close();
}

/** Lets queued releases (sent on the next turn) reach the peer and be read. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

describe('ShardLink bulk answers', () => {
  // The serving side answers `{ n }` with three payloads whose bytes depend on n.
  const payloadsOf = (n: number, size = 40_000): Buffer[] => [pattern(size, n), pattern(10, n + 1), pattern(size / 2, n + 2)];
  const serve: RpcServe = async (_op, args) => ({ result: { n: (args as { n: number }).n }, payloads: payloadsOf((args as { n: number }).n) });

  it('answers a bulk call with views of the peer\'s arena (no copy on the caller), returned on release', async () => {
    const { a, b, arenaB } = bulkPair(serve);
    const r = await a.call('read', { n: 7 }, [], { bulk: true });
    expect(r.args).toEqual({ n: 7 });
    expect(r.release).toBeTypeOf('function');
    for (const p of r.payloads) expect(p.buffer).toBe(arenaB); // in place: the caller copied nothing
    expect(r.payloads.map((p) => p.toString('latin1'))).toEqual(payloadsOf(7).map((p) => p.toString('latin1')));
    expect(b.stats.bulkAnswers).toBe(1);
    expect(b.stats.bulkBlocksLent).toBe(1); // 60,010 bytes: one 64 KiB block
    r.release!(); // a second release (below) does nothing
    await releaseAndClose(r, a, b);
  });

  it('never reuses a run before its release: held answers stay intact while later ones come and go', async () => {
    const { a, b } = bulkPair(serve);
    const held = await Promise.all(Array.from({ length: 6 }, (_, n) => a.call('read', { n }, [], { bulk: true })));
    for (let round = 0; round < 20; round++) {
      const r = await a.call('read', { n: 100 + round }, [], { bulk: true });
      expect(Buffer.concat(r.payloads).equals(Buffer.concat(payloadsOf(100 + round)))).toBe(true);
      r.release!();
      await settle();
    }
    held.forEach((r, n) => expect(Buffer.concat(r.payloads).equals(Buffer.concat(payloadsOf(n)))).toBe(true));
    expect(b.stats.bulkBlocksLent).toBe(6);
    for (const r of held) r.release!();
    await settle();
    expect(b.stats.bulkBlocksLent).toBe(0);
    a.close();
    b.close();
  });

  it('answers through the ring, as owned copies, when the arena is full, the answer small, or the call did not ask', async () => {
    const { a, b, arenaB } = bulkPair(serve, 2 * BULK_BLOCK_BYTES);
    // An answer of 60,010 bytes takes one block: two fill the arena.
    const big = async (n: number) => a.call('read', { n }, [], { bulk: true });
    const [h1, h2] = await Promise.all([big(1), big(2)]);
    expect(h1!.release).toBeDefined();
    expect(h2!.release).toBeDefined();
    const full = await big(3);
    expect(full.release).toBeUndefined();
    for (const p of full.payloads) expect(p.buffer).not.toBe(arenaB);
    expect(Buffer.concat(full.payloads).equals(Buffer.concat(payloadsOf(3)))).toBe(true);
    expect(b.stats.bulkDeclined).toBe(1);
    const plain = await a.call('read', { n: 4 });
    expect(plain.release).toBeUndefined();
    expect(Buffer.concat(plain.payloads).equals(Buffer.concat(payloadsOf(4)))).toBe(true);
    h1!.release!();
    h2!.release!();
    await settle();
    const again = await big(5); // room again
    expect(again.payloads[0]!.buffer).toBe(arenaB);
    again.release!();
    a.close();
    b.close();
  });

  it('copies an answer\'s bytes once through the arena against twice through the ring (instrumented and metered)', async () => {
    const parts = [pattern(40_000, 1), pattern(20_000, 2)];
    const { a, b } = bulkPair(async () => ({ result: null, payloads: parts }));
    const ring = await countedCall(a, false);
    expect(ring.r.release).toBeUndefined();
    expect(ring.spied).toBe(2 * 60_000); // into the ring, out into the caller's buffer
    expect(ring.metered).toBe(ring.spied);
    const arena = await countedCall(a, true);
    expect(arena.r.release).toBeDefined();
    expect(arena.spied).toBe(60_000); // into the arena only
    expect(arena.metered).toBe(arena.spied);
    expect(Buffer.concat(arena.r.payloads).equals(Buffer.concat(parts))).toBe(true);
    arena.r.release!();
    a.close();
    b.close();
  });

  it('sends answers under the size floor through the ring', async () => {
    const small = (n: number): Buffer[] => [pattern(BULK_PAYLOAD_BYTES_MIN - 1, n)];
    const { a, b } = bulkPair(async (_op, args) => ({ result: null, payloads: small((args as { n: number }).n) }));
    const r = await a.call('read', { n: 9 }, [], { bulk: true });
    expect(r.release).toBeUndefined();
    expect(r.payloads[0]!.equals(small(9)[0]!)).toBe(true);
    expect(b.stats.bulkAnswers).toBe(0);
    a.close();
    b.close();
  });

  it('sends payloads a handler read into reserved runs without copying them; copies only the rest; frees unused runs', async () => {
    const cold = pattern(100_000, 5);
    const cached = pattern(20_000, 6);
    const { a, b, arenaB } = bulkPair(async (_op, _args, _payloads, ctx) => {
      const into = ctx.reserve!(cold.length);
      expect(ctx.reserve!(BULK_BLOCK_BYTES)).not.toBeNull(); // reserved and never used: freed with the answer
      // as the engine's read does (native code, not a JS copy the spies below see)
      for (let i = 0; i < cold.length; i++) into![1000 + i] = cold[i]!;
      return { result: 'r', payloads: [Buffer.from(into!.buffer, into!.byteOffset + 1000, cold.length), cached, Buffer.alloc(0)] };
    });
    const { spied, metered, r } = await countedCall(a, true);
    expect(spied).toBe(cached.length); // the cached payload only, into the arena
    expect(metered).toBe(cached.length);
    for (const p of r.payloads) expect(p.buffer).toBe(arenaB);
    expect(r.payloads[0]!.equals(cold)).toBe(true);
    expect(r.payloads[1]!.equals(cached)).toBe(true);
    expect(r.payloads[2]!.length).toBe(0);
    expect(b.stats.bulkBlocksLent).toBe(2 + 1); // the read's run (100,000 bytes) and the copy's; not the unused one
    await releaseAndClose(r, a, b);
  });

  it('bounds a call\'s reservations by half the arena; frees them when the answer goes through the ring or the handler fails', async () => {
    let mode = '';
    const { a, b, arenaB } = bulkPair(async (_op, _args, _payloads, ctx) => {
      if (mode === 'plain') {
        expect(ctx.reserve).toBeUndefined(); // the caller did not ask for a bulk answer
        return { result: null, payloads: [pattern(30_000, 1)] };
      }
      expect(ctx.reserve!(9 * BULK_BLOCK_BYTES)).toBeNull(); // more than half of 16 blocks
      const m = ctx.reserve!(8 * BULK_BLOCK_BYTES)!;
      expect(m.length).toBe(8 * BULK_BLOCK_BYTES);
      expect(ctx.reserve!(1)).toBeNull(); // the call's half is spent
      m.fill(7, 0, 30_000);
      if (mode === 'fail') throw new Error('read failed');
      // 'ring': the rest (9 blocks) cannot be placed, so everything goes through the ring
      return { result: null, payloads: [Buffer.from(m.buffer, m.byteOffset, 30_000), pattern(9 * BULK_BLOCK_BYTES, 2)] };
    });
    mode = 'fail';
    await expect(a.call('read', null, [], { bulk: true })).rejects.toThrow(/read failed/);
    expect(b.stats.bulkBlocksLent).toBe(0);
    mode = 'ring';
    const viaRing = await a.call('read', null, [], { bulk: true });
    expect(viaRing.release).toBeUndefined();
    for (const p of viaRing.payloads) expect(p.buffer).not.toBe(arenaB);
    expect(viaRing.payloads[0]!.equals(Buffer.alloc(30_000, 7))).toBe(true);
    expect(viaRing.payloads[1]!.equals(pattern(9 * BULK_BLOCK_BYTES, 2))).toBe(true);
    expect(b.stats.bulkBlocksLent).toBe(0);
    expect(b.stats.bulkDeclined).toBe(1);
    mode = 'plain';
    expect((await a.call('read', null)).payloads[0]!.equals(pattern(30_000, 1))).toBe(true);
    a.close();
    b.close();
  });

  it('keeps views valid after the link closes; a release then is a no-op', async () => {
    const { a, b } = bulkPair(serve);
    const r = await a.call('read', { n: 3 }, [], { bulk: true });
    a.close();
    b.close();
    expect(() => r.release!()).not.toThrow();
    expect(Buffer.concat(r.payloads).equals(Buffer.concat(payloadsOf(3)))).toBe(true);
  });
});

describe('BulkWriter', () => {
  it('allocates contiguous runs next-fit, frees them in any order, and refuses runs it did not lend', () => {
    const w = new BulkWriter(createBulkBuffer(8 * BULK_BLOCK_BYTES));
    const one = (blocks: number) => w.write([Buffer.alloc(blocks * BULK_BLOCK_BYTES - 1, blocks)], blocks * BULK_BLOCK_BYTES - 1);
    expect(one(2)).toEqual({ start: 0, count: 2 });
    expect(one(3)).toEqual({ start: 2, count: 3 });
    expect(one(3)).toEqual({ start: 5, count: 3 });
    expect(one(1)).toBeNull(); // full
    expect(w.free(2, 3)).toBe(true);
    expect(w.free(2, 3)).toBe(false); // twice
    expect(w.free(1, 2)).toBe(false); // straddles a lent and a free block
    expect(w.free(7, 2)).toBe(false); // past the end
    expect(one(2)).toEqual({ start: 2, count: 2 }); // wraps to the first free run
    expect(one(2)).toBeNull(); // one block left
    expect(one(1)).toEqual({ start: 4, count: 1 });
    expect(w.blocksInUse).toBe(8);
    expect(w.write([Buffer.alloc(5 * BULK_BLOCK_BYTES)], 5 * BULK_BLOCK_BYTES)).toBeNull(); // over half the arena
    for (const [s, c] of [[0, 2], [5, 3], [2, 2], [4, 1]] as const) expect(w.free(s, c)).toBe(true);
    expect(w.blocksInUse).toBe(0);
  });

  it('lays payloads end to end in the run', () => {
    const buf = createBulkBuffer(4 * BULK_BLOCK_BYTES);
    const w = new BulkWriter(buf);
    const parts = [pattern(70_000, 1), pattern(3, 2), pattern(1000, 3)];
    const run = w.write(parts, 71_003)!;
    expect(run.count).toBe(2);
    const at = run.start * BULK_BLOCK_BYTES;
    const views = new BulkReader(buf).views([run], [at, at + 70_000, at + 70_003], parts.map((p) => p.length))!;
    views.forEach((v, i) => expect(v.equals(parts[i]!)).toBe(true));
    const r = new BulkReader(buf);
    expect(r.views([{ start: 3, count: 2 }], [3 * BULK_BLOCK_BYTES], [1])).toBeNull(); // past the arena
    expect(r.views([{ start: 0, count: 1 }], [0], [BULK_BLOCK_BYTES + 1])).toBeNull(); // more than the run
    expect(r.views([{ start: 0, count: 1 }], [BULK_BLOCK_BYTES], [1])).toBeNull(); // outside every run
    expect(r.views([{ start: 0, count: 0 }], [0], [0])).toBeNull(); // an empty run
    expect(r.views([{ start: 0, count: 1 }, { start: 2, count: 1 }], [10, 2 * BULK_BLOCK_BYTES + 5], [5, 5])!.length).toBe(2);
  });

  it('reserves runs for the caller to fill and tells its views from others', () => {
    const buf = createBulkBuffer(4 * BULK_BLOCK_BYTES);
    const w = new BulkWriter(buf);
    const got = w.reserve(BULK_BLOCK_BYTES + 1)!;
    expect(got.run.count).toBe(2);
    expect(got.memory.length).toBe(2 * BULK_BLOCK_BYTES);
    expect(w.offsetOf(got.memory.subarray(10))).toBe(got.run.start * BULK_BLOCK_BYTES + 10);
    expect(w.offsetOf(Buffer.alloc(10))).toBe(-1);
    expect(w.reserve(3 * BULK_BLOCK_BYTES)).toBeNull(); // over half the arena
    expect(w.blocksInUse).toBe(2);
    expect(w.free(got.run.start, got.run.count)).toBe(true);
  });
});

/** A payload of socket-like memory: marked shareable, as the Kafka connection marks what it reads. */
function marked(n: number, seed: number): Buffer {
  const b = pattern(n, seed);
  markShareable(b);
  return b;
}

describe.runIf(shareBinding() !== null)('ShardLink shared payloads', () => {
  it('hands a request\'s marked payloads over by reference, however small (the handler sees the caller\'s memory); copies unmarked ones', async () => {
    const big = marked(100_000, 1);
    const small = marked(3000, 2); // as the short end of a batch read over two socket reads
    const plain = pattern(50_000, 3);
    let got: Buffer[] = [];
    const { a, b } = bulkPair(async (_op, _args, payloads) => {
      got = payloads;
      payloads[0]![0] = 0xab; // written by the handler into the caller's memory
      payloads[1]![0] = 0xcd;
      return { result: payloads.map((p) => p.length) };
    });
    const { spied, metered, r } = await countedCall(a, false, [big, small, plain]);
    expect(r.args).toEqual([100_000, 3000, 50_000]);
    expect(big[0]).toBe(0xab);
    expect(small[0]).toBe(0xcd);
    expect(got[2]!.equals(plain)).toBe(true);
    expect(spied).toBe(2 * plain.length); // into the ring and out of it; never the shared ones
    expect(metered).toBe(2 * plain.length);
    expect(a.stats.bytesShared).toBe(103_000);
    expect(b.stats.bytesSharedIn).toBe(103_000);
    expect(a.stats.ringPayloadBytes).toBe(plain.length);
    a.close();
    b.close();
  });

  it('answers with marked payloads by reference: no arena run, no copy; beside a reserved run in one bulk answer', async () => {
    const cached = marked(60_000, 4);
    const cold = pattern(30_000, 5);
    const { a, b, arenaB } = bulkPair(async (_op, _args, _payloads, ctx) => {
      const into = ctx.reserve!(cold.length);
      for (let i = 0; i < cold.length; i++) into![i] = cold[i]!; // as the engine's native read does
      return { result: 'r', payloads: [cached, Buffer.from(into!.buffer, into!.byteOffset, cold.length), cached.subarray(10, 20_010)] };
    });
    const { spied, metered, r } = await countedCall(a, true);
    expect(spied).toBe(0);
    expect(metered).toBe(0);
    expect(r.payloads[0]!.equals(cached)).toBe(true);
    expect(r.payloads[1]!.buffer).toBe(arenaB);
    expect(r.payloads[1]!.equals(cold)).toBe(true);
    expect(r.payloads[2]!.equals(cached.subarray(10, 20_010))).toBe(true);
    cached[15] = 0x5a; // the caller's views are the responder's memory
    expect(r.payloads[0]![15]).toBe(0x5a);
    expect(r.payloads[2]![5]).toBe(0x5a);
    expect(b.stats.bulkBlocksLent).toBe(1); // the cold read's run only
    expect(b.stats.bytesShared).toBe(80_000);
    await releaseAndClose(r, a, b);
    // Only shared payloads: a plain answer, no arena at all.
    const { a: a2, b: b2 } = bulkPair(async () => ({ result: 'r', payloads: [cached] }));
    const r2 = await a2.call('read', null, [], { bulk: true });
    expect(r2.release).toBeUndefined();
    expect(r2.payloads[0]!.equals(cached)).toBe(true);
    expect(b2.stats.bulkAnswers).toBe(0);
    expect(b2.stats.bulkBlocksLent).toBe(0);
    a2.close();
    b2.close();
  });

  it('copies everything when sharing is off', async () => {
    const big = marked(100_000, 6);
    const [a, b] = pair(none, async (_op, _args, payloads) => ({ result: null, payloads }), 256 * 1024, { share: false });
    const r = await a.call('x', null, [big]);
    expect(r.payloads[0]!.equals(big)).toBe(true);
    expect(r.payloads[0]!.buffer).not.toBe(big.buffer);
    expect(a.stats.bytesShared + b.stats.bytesShared).toBe(0);
    expect(a.stats.ringPayloadBytes).toBe(100_000);
    expect(b.stats.ringPayloadBytes).toBe(100_000);
    a.close();
    b.close();
  });

  it('fails just the call whose shared payloads cannot be taken (the sender\'s entries dropped), both ways; the link stays up', async () => {
    const s = shareBinding()!;
    const realExport = s.shareExport;
    // Every export is dropped right away, as when its sender's environment is torn down before the peer reads.
    s.shareExport = (tag, views) => {
      const ids = realExport.call(s, tag, views);
      s.shareDrop(tag);
      return ids;
    };
    try {
      const answer = marked(10_000, 7);
      const { a, b } = bulkPair(async (_op, args) => ({ result: 'ok', payloads: args === 'answer' ? [answer] : [] }));
      await expect(a.call('x', 'request', [marked(10_000, 8)])).rejects.toThrow(/shared payloads are gone/);
      await expect(a.call('x', 'answer', [])).rejects.toThrow(ShardUnavailableError);
      await expect(a.call('x', 'answer', [], { bulk: true })).rejects.toThrow(ShardUnavailableError);
      s.shareExport = realExport;
      expect((await a.call('x', 'answer', [])).payloads[0]!.equals(answer)).toBe(true);
      expect(a.closed || b.closed).toBe(false);
      expect(s.shareStats().entries).toBe(0);
      a.close();
      b.close();
    } finally {
      s.shareExport = realExport;
    }
  });
});
