/**
 * Aggregation of repeated runs: the report gives, per workload and target, the median of each figure over
 * the repeats, its spread (min..max), and the ratio of the median to Tern's median.
 */
import type { LatencySummary } from './histogram.js';

export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

/** Median of the values (mean of the middle two for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function spread(values: readonly number[]): Spread {
  if (values.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), n: values.length };
}

/** (max - min) / median, as a percentage: how much the repeats disagree. */
export function spreadPct(s: Spread): number {
  return s.median === 0 ? 0 : (100 * (s.max - s.min)) / s.median;
}

export const LATENCY_KEYS = ['p50Us', 'p99Us', 'p999Us', 'p9999Us', 'maxUs'] as const;
export type LatencyKey = (typeof LATENCY_KEYS)[number];

export interface RunFigures {
  publishMsgsPerSec: number;
  publishMBps: number;
  consumeMsgsPerSec: number;
  consumeMBps: number;
  publishLatency: LatencySummary;
  e2eLatency: LatencySummary;
}

export interface AggregateFigures {
  publishMsgsPerSec: Spread;
  publishMBps: Spread;
  consumeMsgsPerSec: Spread;
  consumeMBps: Spread;
  publishLatency: Record<LatencyKey, Spread>;
  e2eLatency: Record<LatencyKey, Spread>;
}

export function aggregate(runs: readonly RunFigures[]): AggregateFigures {
  const lat = (f: (r: RunFigures) => LatencySummary): Record<LatencyKey, Spread> =>
    Object.fromEntries(LATENCY_KEYS.map((k) => [k, spread(runs.map((r) => f(r)[k]))])) as Record<LatencyKey, Spread>;
  return {
    publishMsgsPerSec: spread(runs.map((r) => r.publishMsgsPerSec)),
    publishMBps: spread(runs.map((r) => r.publishMBps)),
    consumeMsgsPerSec: spread(runs.map((r) => r.consumeMsgsPerSec)),
    consumeMBps: spread(runs.map((r) => r.consumeMBps)),
    publishLatency: lat((r) => r.publishLatency),
    e2eLatency: lat((r) => r.e2eLatency),
  };
}

/** value / reference, or NaN when the reference is missing or zero. */
export function ratio(value: number, reference: number | undefined): number {
  return reference === undefined || !(reference > 0) || !Number.isFinite(value) ? NaN : value / reference;
}

/**
 * The order of runs: every repeat runs every target once, targets alternating (A B C A B C), so slow drifts
 * of the machine (page cache, thermal, a neighbour's load) spread over all targets instead of hitting one.
 */
export function runOrder<T>(targets: readonly T[], repeats: number): { target: T; repeat: number }[] {
  const out: { target: T; repeat: number }[] = [];
  for (let r = 0; r < repeats; r++) for (const target of targets) out.push({ target, repeat: r });
  return out;
}
