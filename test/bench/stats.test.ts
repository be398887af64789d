import { describe, expect, it } from 'vitest';
import { aggregate, median, ratio, runOrder, spread, spreadPct } from '../../bench/stats.js';

const lat = (p99Us: number) => ({ count: 1, meanUs: 1, p50Us: 1, p99Us, p999Us: 1, p9999Us: 1, maxUs: 1 });

describe('stats', () => {
  it('median of odd and even counts; NaN when empty', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('spread gives median, min, max and count; spreadPct is (max - min) / median', () => {
    const s = spread([90, 110, 100]);
    expect(s).toEqual({ median: 100, min: 90, max: 110, n: 3 });
    expect(spreadPct(s)).toBe(20);
  });

  it('ratio to the reference, NaN without one', () => {
    expect(ratio(50, 100)).toBe(0.5);
    expect(ratio(50, 0)).toBeNaN();
    expect(ratio(50, undefined)).toBeNaN();
  });

  it('aggregates repeated runs figure by figure', () => {
    const run = (msgs: number, p99: number) => ({ publishMsgsPerSec: msgs, publishMBps: msgs / 1000, consumeMsgsPerSec: msgs, consumeMBps: 0, publishLatency: lat(p99), e2eLatency: lat(p99 * 2) });
    const a = aggregate([run(1000, 10), run(3000, 30), run(2000, 20)]);
    expect(a.publishMsgsPerSec).toEqual({ median: 2000, min: 1000, max: 3000, n: 3 });
    expect(a.publishLatency.p99Us.median).toBe(20);
    expect(a.e2eLatency.p99Us.max).toBe(60);
  });

  it('alternates targets within each repeat: A B A B', () => {
    expect(runOrder(['A', 'B'], 2).map((r) => `${r.target}${r.repeat}`)).toEqual(['A0', 'B0', 'A1', 'B1']);
  });
});
