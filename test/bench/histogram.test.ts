import { describe, expect, it } from 'vitest';
import { LATENCY_US_MAX, LatencyHistogram } from '../../bench/histogram.js';

describe('LatencyHistogram', () => {
  it('gives the percentiles of a known distribution (1..10,000 µs, once each) within HDR precision', () => {
    const h = new LatencyHistogram();
    for (let v = 1; v <= 10_000; v++) h.record(v);
    const s = h.summary();
    expect(s.count).toBe(10_000);
    // 3 significant digits: the value reported is within 0.1% of the exact one (HDR rounds up to its bucket).
    expect(s.p50Us).toBeGreaterThanOrEqual(5000);
    expect(s.p50Us).toBeLessThanOrEqual(5005);
    expect(s.p99Us).toBeGreaterThanOrEqual(9900);
    expect(s.p99Us).toBeLessThanOrEqual(9910);
    expect(s.p999Us).toBeGreaterThanOrEqual(9990);
    expect(s.p999Us).toBeLessThanOrEqual(10_000);
    expect(s.p9999Us).toBeGreaterThanOrEqual(9999);
    expect(s.maxUs).toBeGreaterThanOrEqual(10_000);
    expect(s.maxUs).toBeLessThanOrEqual(10_007);
    expect(s.meanUs).toBeGreaterThanOrEqual(4999);
    expect(s.meanUs).toBeLessThanOrEqual(5003);
  });

  it('records a value many times with one call, and rounds fractions; below 1 µs counts as 1', () => {
    const h = new LatencyHistogram();
    h.record(100.4, 99);
    h.record(0.2);
    const s = h.summary();
    expect(s.count).toBe(100);
    expect(s.p50Us).toBe(100);
    expect(h.hist.minNonZeroValue).toBe(1);
  });

  it('a tail of 1 in 10,000 shows at p99.99 but not at p99.9', () => {
    const h = new LatencyHistogram();
    h.record(1000, 9_998);
    h.record(500_000, 2);
    const s = h.summary();
    expect(s.p999Us).toBe(1000);
    expect(s.p9999Us).toBeGreaterThanOrEqual(500_000);
    expect(s.p9999Us).toBeLessThan(500_500);
  });

  it('clamps values beyond its range to the maximum and counts them', () => {
    const h = new LatencyHistogram();
    h.record(LATENCY_US_MAX * 2);
    expect(h.clampedCount).toBe(1);
    expect(h.summary().maxUs).toBeGreaterThanOrEqual(LATENCY_US_MAX);
  });

  it('survives encoding for a thread hand-off and merges by adding counts', () => {
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    for (let i = 0; i < 900; i++) a.record(100);
    for (let i = 0; i < 100; i++) b.record(20_000);
    b.clampedCount = 3;
    const merged = new LatencyHistogram();
    merged.add(LatencyHistogram.decode(a.encode()));
    merged.add(LatencyHistogram.decode(b.encode()));
    const s = merged.summary();
    expect(s.count).toBe(1000);
    expect(s.p50Us).toBe(100);
    expect(s.p99Us).toBeGreaterThanOrEqual(20_000);
    expect(s.p99Us).toBeLessThan(20_020);
    expect(merged.clampedCount).toBe(3);
  });

  it('an empty histogram summarizes to zeros and encodes', () => {
    const h = new LatencyHistogram();
    expect(h.summary()).toEqual({ count: 0, meanUs: 0, p50Us: 0, p99Us: 0, p999Us: 0, p9999Us: 0, maxUs: 0 });
    expect(LatencyHistogram.decode(h.encode()).count).toBe(0);
  });
});
