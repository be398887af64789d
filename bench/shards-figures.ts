/**
 * Pure arithmetic and formatting of the shard benchmark (bench/shards.ts): which sections to run, per-thread CPU
 * from two /proc snapshots, local-vs-cross classification of a connection's two partitions, memory per
 * partition, and "median (min..max)" cells. No clocks, no processes: test/bench/shards-figures.test.ts feeds it
 * known inputs.
 */
import { spread, type Spread } from './stats.js';

export const SECTIONS = ['throughput', 'crossing', 'hop', 'memory', 'curve'] as const;
export type Section = (typeof SECTIONS)[number];

/** `--only a,b`: the named sections, in SECTIONS order; every section but `curve` when absent. */
export function parseSections(only: string | undefined): Section[] {
  if (only === undefined || only.trim() === '') return SECTIONS.filter((s) => s !== 'curve');
  const asked = only.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const s of asked) if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`unknown section '${s}' (known: ${SECTIONS.join(', ')})`);
  return SECTIONS.filter((s) => asked.includes(s));
}

/** A comma-separated list of positive integers (`--smp 1,2`). */
export function parseIntList(text: string, what: string): number[] {
  const out = text.split(',').map((s) => Number(s.trim()));
  if (out.length === 0 || out.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`${what} must be positive integers separated by commas, got '${text}'`);
  return out;
}

export interface ThreadCpu {
  tid: number;
  name: string;
  /** CPU seconds per wall second over the interval. */
  cores: number;
  /** Seconds runnable but waiting for a CPU, per wall second (CPU starvation: other threads, other tenants). */
  waitCores: number;
}

/**
 * Per-thread CPU over an interval from two snapshots (thread id -> name and CPU seconds), busiest first;
 * threads under `minCores` are left out. A thread born during the interval counts from zero.
 */
export function threadCpuDelta(
  before: ReadonlyMap<number, { name: string; seconds: number; waitSeconds?: number }>,
  after: ReadonlyMap<number, { name: string; seconds: number; waitSeconds?: number }>,
  wallS: number,
  minCores = 0.02,
): ThreadCpu[] {
  if (!(wallS > 0)) throw new RangeError(`wall time ${wallS} must be positive`);
  const out: ThreadCpu[] = [];
  for (const [tid, a] of after) {
    const b = before.get(tid);
    const cores = (a.seconds - (b?.seconds ?? 0)) / wallS;
    const waitCores = ((a.waitSeconds ?? 0) - (b?.waitSeconds ?? 0)) / wallS;
    if (cores >= minCores) out.push({ tid, name: a.name, cores, waitCores });
  }
  return out.sort((x, y) => y.cores - x.cores || x.tid - y.tid);
}

/**
 * One connection producing alternately to two partitions owned by different shards: one of them is on the
 * connection's own shard. The kernel picks the shard (SO_REUSEPORT hash) and the client cannot see it, so the
 * partition with the lower median is taken as the local one. Returns [localIndex, crossIndex].
 */
export function localAndCross(p50Us: readonly [number, number]): [0 | 1, 0 | 1] {
  return p50Us[0] <= p50Us[1] ? [0, 1] : [1, 0];
}

/** Memory growth per partition, bytes; throws on a partition count below 1. */
export function bytesPerPartition(rssBeforeBytes: number, rssAfterBytes: number, partitions: number): number {
  if (!(partitions >= 1)) throw new RangeError(`partitions ${partitions} must be at least 1`);
  return (rssAfterBytes - rssBeforeBytes) / partitions;
}

/** "median (min–max)" with `digits` decimals; a single value alone; "n/a" for none. */
export function cell(values: readonly number[], digits = 0): string {
  const s: Spread = spread(values.filter((v) => Number.isFinite(v)));
  if (s.n === 0) return 'n/a';
  const f = (v: number): string => v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  if (s.n === 1 || s.min === s.max) return f(s.median);
  return `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
}

/** Load averages as `uptime` prints them: "1m 5m 15m". */
export function loadText(load: readonly number[]): string {
  return load.slice(0, 3).map((v) => v.toFixed(2)).join(' ');
}

/** Partitions per shard in a partition -> shard table ({ "<topic>-<p>": shard }), indexed by shard. */
export function partitionsPerShard(owners: Readonly<Record<string, number>>, shards: number): number[] {
  const out = new Array<number>(shards).fill(0);
  for (const s of Object.values(owners)) if (s >= 0 && s < shards) out[s]!++;
  return out;
}
