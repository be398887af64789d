/**
 * Face of bench/: `tern bench` (src/cli/bench.ts) and `npm run bench` (bench/run.ts) both land in
 * `benchMain`. Everything the suite needs beyond Tern (peer servers from Debian, their npm clients) is
 * loaded only when a peer target is asked for.
 */
import fs from 'node:fs';
import { renderMarkdown, writeReport } from './report.js';
import { defaultBenchDir, runSuite } from './suite.js';
import { DEFAULT_TARGETS, isTargetId, TARGET_IDS, type TargetId } from './targets/index.js';
import { listWorkloads, loadWorkload, type Workload } from './workload.js';

export { runSuite, type SuiteOptions, type SuiteResult } from './suite.js';
export { loadWorkload, listWorkloads, parseWorkload, WorkloadError, type Workload } from './workload.js';
export { renderMarkdown, writeReport } from './report.js';
export { TARGET_IDS, DEFAULT_TARGETS, type TargetId } from './targets/index.js';

/** The standard set: `npm run bench` and `tern bench standard`. */
export const STANDARD_SET = ['max-throughput-1kib', 'max-throughput-100b', 'latency-5k-1kib', 'partitions-1000', 'keyed-50-producers'] as const;

export interface BenchOptions {
  target?: string;
  repeats: number;
  durationS?: number;
  warmupS?: number;
  dir?: string;
  producerThreads: number;
  consumerThreads: number;
  fioS: number;
  json?: string;
  /** Markdown file whose generated section (and charts beside it, in bench/) is rewritten. */
  report?: string;
  list?: boolean;
  /** How the run was started, quoted in the report. */
  commandLine: string;
}

export class BenchUsageError extends Error {
  readonly code = 'ERR_TERN_BENCH_USAGE';
}

export function parseTargets(spec: string | undefined): TargetId[] {
  if (spec === undefined) return [...DEFAULT_TARGETS];
  if (spec === 'all') return [...TARGET_IDS];
  const ids = spec.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const bad = ids.filter((s) => !isTargetId(s));
  if (bad.length > 0 || ids.length === 0) throw new BenchUsageError(`unknown target(s) ${bad.join(', ') || '(none)'}; known: ${TARGET_IDS.join(', ')}, or all`);
  return [...new Set(ids)] as TargetId[];
}

export function resolveWorkloads(names: readonly string[], over: { durationS?: number; warmupS?: number }): Workload[] {
  const expanded = names.flatMap((n) => (n === 'standard' ? [...STANDARD_SET] : [n]));
  return expanded.map((n) => {
    const w = loadWorkload(n);
    return { ...w, durationS: over.durationS ?? w.durationS, warmupS: over.warmupS ?? w.warmupS };
  });
}

export async function benchMain(names: readonly string[], opts: BenchOptions, out: (s: string) => void, log: (s: string) => void): Promise<boolean> {
  if (opts.list === true) {
    for (const n of listWorkloads()) {
      const w = loadWorkload(n);
      out(`${n}${(STANDARD_SET as readonly string[]).includes(n) ? ' (standard)' : ''}: ${w.description.replace(/\s+/g, ' ')}\n`);
    }
    out(`\ntargets: ${TARGET_IDS.join(', ')} (default: ${DEFAULT_TARGETS.join(',')})\n`);
    return true;
  }
  const workloads = resolveWorkloads(names.length === 0 ? ['standard'] : names, opts);
  const targets = parseTargets(opts.target);
  const dir = opts.dir ?? defaultBenchDir();
  let result;
  try {
    result = await runSuite({ workloads, targets, repeats: opts.repeats, dir, producerThreads: opts.producerThreads, consumerThreads: opts.consumerThreads, fioSeconds: opts.fioS, log });
  } finally {
    if (opts.dir === undefined) fs.rmSync(dir, { recursive: true, force: true });
  }
  if (opts.json !== undefined) fs.writeFileSync(opts.json, `${JSON.stringify(result, null, 1)}\n`);
  if (opts.report !== undefined) {
    const { markdown, files } = writeReport(result, opts.report, opts.commandLine);
    out(`${markdown}\n`);
    log(`wrote ${files.join(', ')}`);
  } else {
    out(`${renderMarkdown(result, { command: opts.commandLine, chartsDir: null })}\n`);
  }
  log(`suite done in ${(result.wallS / 60).toFixed(1)} min`);
  // Success: every requested workload has at least one Tern run (when Tern was a target).
  return !targets.includes('tern') || result.workloads.every((w) => w.targets.some((t) => t.target.id === 'tern' && t.runs.length > 0));
}
