/**
 * Cross-shard calls (src/shard/rpc.ts) between two links in one thread: requests and responses with payloads,
 * frames larger than the ring (fragmented without joining, reassembled byte-exact), ordering, back-pressure (a
 * full ring makes calls wait, in order, until the peer reads) and a closed link failing its calls in flight.
 */
import { describe, expect, it } from 'vitest';
import { createChannelBuffer } from '../../src/shard/channel.js';
import { ShardLink, ShardUnavailableError, type RpcServe } from '../../src/shard/rpc.js';

function pair(serveA: RpcServe, serveB: RpcServe, ringBytes = 64 * 1024): [ShardLink, ShardLink] {
  const ab = createChannelBuffer(ringBytes);
  const ba = createChannelBuffer(ringBytes);
  const a = new ShardLink(1, ab, ba, serveA);
  const b = new ShardLink(0, ba, ab, serveB);
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
