/**
 * The producer loop driven by a fake clock and a fake target: the broker's service time and its stalls are
 * chosen by the test, so the latencies the loop records are known exactly (no real time, no flakes).
 */
import { describe, expect, it } from 'vitest';
import { partitionForKey } from '../../src/client/index.js';
import { ConsumerRecorder, ProducerLoop, RECORD_OVERHEAD_BYTES, type ProducerLoopOptions, type PublishRequest, type Publisher } from '../../bench/producer.js';

interface Sent {
  req: PublishRequest;
  atUs: number;
  doneUs: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

/** A target whose request `i` sent at `t` completes at `service(t)`. */
class FakeTarget implements Publisher {
  readonly sent: Sent[] = [];
  inFlight = 0;
  inFlightPeak = 0;
  constructor(
    private readonly clock: () => number,
    private readonly service: (sentUs: number) => number,
  ) {}
  publish(req: PublishRequest): Promise<void> {
    const atUs = this.clock();
    this.inFlight++;
    this.inFlightPeak = Math.max(this.inFlightPeak, this.inFlight);
    return new Promise((resolve, reject) => this.sent.push({ req, atUs, doneUs: this.service(atUs), resolve, reject }));
  }
  /** Completes every request due by `nowUs`; returns how many. */
  complete(nowUs: number): number {
    let n = 0;
    for (let i = this.sent.length - 1; i >= 0 && i >= this.sent.length - 200; i--) {
      const s = this.sent[i]!;
      if (s.doneUs <= nowUs && s.doneUs >= 0) {
        s.doneUs = -1;
        this.inFlight--;
        s.resolve();
        n++;
      }
    }
    return n;
  }
  async close(): Promise<void> {}
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Steps a loop from 0 to `untilUs` (+ drain) in `stepUs` steps: complete due requests, then tick. */
async function simulate(opts: Partial<ProducerLoopOptions> & { ratePerSec: number | null; endUs: number }, service: (sentUs: number) => number, stepUs: number, untilUs: number) {
  let now = 0;
  const clock = (): number => now;
  const target = new FakeTarget(clock, service);
  const loop = new ProducerLoop(
    {
      topic: 0,
      partitions: [0],
      messageBytes: 1024,
      batchBytes: 2 * 1024 * 1024,
      requestBytesMax: 2 * 1024 * 1024,
      lingerUs: 0,
      inFlightMax: 1,
      keys: 'none',
      keyCount: 1,
      seed: 1,
      startUs: 0,
      window: { fromUs: 0, toUs: opts.endUs },
      ...opts,
    },
    target,
    clock,
  );
  for (now = 0; now <= untilUs; now += stepUs) {
    if (target.complete(now) > 0) await flush();
    loop.tick(now);
    if (now >= opts.endUs && loop.finished) break;
  }
  return { loop, target };
}

describe('ProducerLoop, open loop', () => {
  it('sends at the rate and measures service time when the target keeps up', async () => {
    const { loop, target } = await simulate({ ratePerSec: 1000, endUs: 1_000_000 }, (t) => t + 100, 100, 2_000_000);
    expect(loop.ackedTotal).toBe(1000);
    expect(loop.ackedInWindow).toBe(1000);
    expect(target.sent).toHaveLength(1000); // one message per request: each is sent as soon as it is due
    const s = loop.publishLatency.summary();
    expect(s.p50Us).toBe(100);
    expect(s.maxUs).toBe(100);
    expect(loop.ackedSeries.values).toEqual([1000]);
  });

  it('corrects coordinated omission: a 1 s stall shows in the latencies of every message due during it', async () => {
    // 1,000 msg/s for 10 s; the target stalls from 5 s to 6 s: a request sent then completes at 6 s + 100 µs.
    const service = (t: number): number => (t >= 5_000_000 && t < 6_000_000 ? 6_000_000 : t) + 100;
    const { loop } = await simulate({ ratePerSec: 1000, endUs: 10_000_000 }, service, 100, 12_000_000);
    expect(loop.ackedInWindow).toBe(10_000);
    // Exact latencies: 8,999 messages at 100 µs; message 5000 (sent into the stall) at 1,000,100 µs; messages
    // 5001..6000 queue behind it and go in one request at 6,000,100, done at 6,000,200: latency
    // 1,000,200 - 1000 j for j = 1..1000, i.e. 999,200 down to 200 µs. Ranks: p99 = 9,900th value =
    // 900,200 µs, p99.9 = 9,990th = 990,200 µs. HDR keeps 3 significant digits (+0.1%).
    const s = loop.publishLatency.summary();
    expect(s.count).toBe(10_000);
    expect(s.p50Us).toBe(100);
    expect(s.p99Us).toBeGreaterThanOrEqual(900_200);
    expect(s.p99Us).toBeLessThanOrEqual(900_200 * 1.001);
    expect(s.p999Us).toBeGreaterThanOrEqual(990_200);
    expect(s.p999Us).toBeLessThanOrEqual(990_200 * 1.001);
    expect(s.maxUs).toBeGreaterThanOrEqual(1_000_100);
    expect(s.maxUs).toBeLessThanOrEqual(1_000_100 * 1.001);
    // A load generator that measured from the actual send time would have seen one slow request (message
    // 5000) and 9,999 fast ones: its p99.9 would be 100-200 µs. The rate did not drop either:
    expect(loop.ackedSeries.values[6]).toBe(2000); // second 6 acknowledges the backlog and its own 1,000
  });

  it('keeps at most inFlightMax requests outstanding and batches what waits behind them', async () => {
    // Each request takes 5 ms; 10,000 msg/s with 2 in flight: messages queue and leave in bigger batches.
    const { loop, target } = await simulate({ ratePerSec: 10_000, endUs: 1_000_000, inFlightMax: 2 }, (t) => t + 5000, 100, 3_000_000);
    expect(target.inFlightPeak).toBe(2);
    expect(loop.ackedTotal).toBe(10_000);
    const sizes = target.sent.map((s) => s.req.messages);
    expect(Math.max(...sizes)).toBeGreaterThan(10);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(10_000);
  });

  it('cuts batches at batchBytes and waits lingerUs before sending a partial batch', async () => {
    const recordBytes = 100 + RECORD_OVERHEAD_BYTES;
    const { target } = await simulate(
      { ratePerSec: 10_000, endUs: 100_000, messageBytes: 100, batchBytes: recordBytes * 8, lingerUs: 2000, inFlightMax: 100 },
      (t) => t + 100,
      100,
      1_000_000,
    );
    // 10 messages per ms; a batch fills at 8 messages (0.8 ms), before the 2 ms linger: every batch but the
    // last has exactly 8.
    const sizes = target.sent.map((s) => s.req.batches[0]!.stampsUs.length);
    expect(sizes.slice(0, -1).every((n) => n === 8)).toBe(true);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(1000);
  });

  it('counts failed requests and their messages, and keeps going', async () => {
    let now = 0;
    let calls = 0;
    const failing: Publisher = {
      publish: () => (++calls % 2 === 0 ? Promise.reject(new Error('broker said no')) : Promise.resolve()),
      close: async () => undefined,
    };
    const loop = new ProducerLoop(
      { topic: 0, partitions: [0], messageBytes: 16, batchBytes: 1 << 20, lingerUs: 0, inFlightMax: 10, keys: 'none', keyCount: 1, seed: 1, ratePerSec: 1000, startUs: 0, endUs: 10_000, window: { fromUs: 0, toUs: 10_000 } },
      failing,
      () => now,
    );
    for (now = 0; now <= 20_000; now += 1000) {
      loop.tick(now);
      await flush();
    }
    expect(loop.ackedTotal + loop.failedMessages).toBe(10);
    expect(loop.failedMessages).toBe(5);
    expect(loop.firstError).toBe('broker said no');
    expect(loop.finished).toBe(true);
  });
});

describe('ProducerLoop, closed loop (max)', () => {
  it('keeps every slot busy with full requests: one batch per partition, each at most batchBytes', async () => {
    const partitions = [0, 1, 2, 3, 4, 5];
    const recordBytes = 1024 + RECORD_OVERHEAD_BYTES;
    const { loop, target } = await simulate({ ratePerSec: null, endUs: 50_000, partitions, batchBytes: 64 * 1024, requestBytesMax: 1024 * 1024, inFlightMax: 5 }, (t) => t + 1000, 100, 200_000);
    expect(target.inFlightPeak).toBe(5);
    for (const s of target.sent.slice(0, -5)) {
      const ps = s.req.batches.map((b) => b.partition);
      expect(new Set(ps).size).toBe(ps.length);
      for (const b of s.req.batches) expect(b.bytes).toBeLessThanOrEqual(64 * 1024);
      expect(s.req.bytes).toBeGreaterThanOrEqual(6 * 64 * 1024 - 6 * recordBytes);
    }
    expect(loop.ackedTotal).toBe(loop.generated);
    // Closed loop stamps are generation times: latency = the 1 ms service time.
    expect(loop.publishLatency.summary().p50Us).toBe(1000);
  });
});

describe('ProducerLoop, keys', () => {
  it('sends keyed messages to partition murmur2(key) % partitions, as Kafka clients do', async () => {
    const partitions = Array.from({ length: 12 }, (_, i) => i);
    const { target } = await simulate({ ratePerSec: 10_000, endUs: 100_000, partitions, keys: 'roundRobin', keyCount: 50, inFlightMax: 100, lingerUs: 1000 }, (t) => t + 100, 100, 1_000_000);
    let checked = 0;
    for (const s of target.sent) {
      for (const b of s.req.batches) {
        for (const k of b.keys) {
          expect(k).not.toBeNull();
          expect(b.partition).toBe(partitionForKey(k!, 12));
          checked++;
        }
      }
    }
    expect(checked).toBe(1000);
  });

  it('spreads keyless messages over all partitions, a full batch at a time (sticky)', async () => {
    const recordBytes = 100 + RECORD_OVERHEAD_BYTES;
    const { target } = await simulate({ ratePerSec: 10_000, endUs: 100_000, partitions: [0, 1, 2], messageBytes: 100, batchBytes: recordBytes * 10, inFlightMax: 100, lingerUs: 100_000 }, (t) => t + 100, 100, 1_000_000);
    const perPartition = new Map<number, number>();
    for (const s of target.sent) for (const b of s.req.batches) perPartition.set(b.partition, (perPartition.get(b.partition) ?? 0) + b.stampsUs.length);
    expect([...perPartition.keys()].sort()).toEqual([0, 1, 2]);
    for (const n of perPartition.values()) expect(n % 10).toBe(0);
  });
});

describe('ConsumerRecorder', () => {
  it('measures end-to-end latency of messages stamped in the window only, and counts all per second', () => {
    const r = new ConsumerRecorder();
    r.begin(0, { fromUs: 1_000_000, toUs: 2_000_000 });
    r.received(500_000, 600_000, 1024); // warm-up: counted, not measured
    r.received(1_500_000, 1_502_000, 1024);
    r.received(1_600_000, 1_601_000, 1024);
    r.received(2_000_000, 2_001_000, 1024); // after the window
    r.receivedBatch(4, 2_001_000);
    expect(r.receivedTotal).toBe(4);
    expect(r.receivedInWindow).toBe(2);
    expect(r.receivedBytesInWindow).toBe(2048);
    const s = r.e2eLatency.summary();
    expect(s.count).toBe(2);
    expect(s.maxUs).toBeGreaterThanOrEqual(2000);
    expect(r.receivedSeries.values).toEqual([0, 0, 4]);
  });
});
