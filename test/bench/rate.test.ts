import { describe, expect, it } from 'vitest';
import { inWindow, OpenLoopSchedule, SecondSeries } from '../../bench/rate.js';

describe('OpenLoopSchedule', () => {
  it('spaces messages evenly from the start: 5,000 msg/s is one every 200 µs', () => {
    const s = new OpenLoopSchedule(5000, 1_000_000);
    expect(s.intervalUs).toBe(200);
    expect(s.intendedUs(0)).toBe(1_000_000);
    expect(s.intendedUs(10)).toBe(1_002_000);
    expect(s.dueCount(999_999)).toBe(0);
    expect(s.dueCount(1_000_000)).toBe(1);
    expect(s.dueCount(1_000_199)).toBe(1);
    expect(s.dueCount(1_000_200)).toBe(2);
    // One second later exactly 5,000 have been due (messages 0..4999; 5000 is due at +1 s).
    expect(s.dueCount(1_999_999)).toBe(5000);
  });

  it('does not lower the rate after a late wake-up: everything due so far is due at once', () => {
    const s = new OpenLoopSchedule(1000, 0);
    expect(s.dueCount(0)).toBe(1);
    // The caller slept 250 ms instead of 1 ms: 250 more messages are due, with their original intended times.
    expect(s.dueCount(250_000)).toBe(251);
    expect(s.intendedUs(100)).toBe(100_000);
  });

  it('offsets producers by their phase and stops at the end', () => {
    const a = new OpenLoopSchedule(1000, 0, 0, 1_000_000);
    const b = new OpenLoopSchedule(1000, 0, 500, 1_000_000);
    expect(b.intendedUs(0)).toBe(500);
    expect(a.dueCount(499)).toBe(1);
    expect(b.dueCount(499)).toBe(0);
    expect(a.total()).toBe(1000);
    expect(b.total()).toBe(1000);
    expect(a.dueCount(5_000_000)).toBe(1000);
  });

  it('rejects a rate that is not a positive number', () => {
    expect(() => new OpenLoopSchedule(0, 0)).toThrow(/positive/);
    expect(() => new OpenLoopSchedule(Number.NaN, 0)).toThrow(/positive/);
  });
});

describe('SecondSeries', () => {
  it('buckets events by whole seconds from the start and ignores events before it', () => {
    const s = new SecondSeries(10_000_000);
    s.add(9_999_999, 5);
    s.add(10_000_000, 1);
    s.add(10_999_999, 2);
    s.add(12_500_000, 4);
    expect(s.values).toEqual([3, 0, 4]);
  });

  it('sums series of different lengths', () => {
    expect(SecondSeries.sum([[1, 2], [10], [0, 0, 7]])).toEqual([11, 2, 7]);
  });
});

describe('inWindow', () => {
  it('is half-open: from inclusive, to exclusive', () => {
    const w = { fromUs: 100, toUs: 200 };
    expect(inWindow(w, 99)).toBe(false);
    expect(inWindow(w, 100)).toBe(true);
    expect(inWindow(w, 199.9)).toBe(true);
    expect(inWindow(w, 200)).toBe(false);
  });
});
