/**
 * A suite: workloads x targets, repeated, targets alternating, with the machine's limits measured first.
 * Every run starts its server fresh; a target that cannot be installed or started on this machine is
 * skipped and the report says why.
 */
import os from 'node:os';
import path from 'node:path';
import { runOnce, type RunResult } from './driver.js';
import { describeMachine, measureLimits, type MachineInfo, type MachineLimits } from './machine.js';
import { aggregate, runOrder, type AggregateFigures } from './stats.js';
import { targetServer, type TargetId } from './targets/index.js';
import { TargetUnavailable, type TargetInfo, type TargetServer } from './targets/types.js';
import type { Workload } from './workload.js';

export interface SuiteOptions {
  workloads: Workload[];
  targets: TargetId[];
  repeats: number;
  /** Parent of all data dirs and fio's file; must be on a real disk (never tmpfs). */
  dir: string;
  producerThreads: number;
  consumerThreads: number;
  /** 0: do not measure fio / loopback. */
  fioSeconds: number;
  log: (line: string) => void;
}

export interface TargetOutcome {
  target: TargetInfo;
  runs: RunResult[];
  failures: string[];
  aggregate: AggregateFigures | null;
}

export interface WorkloadOutcome {
  workload: Workload;
  targets: TargetOutcome[];
}

export interface SuiteResult {
  date: string;
  wallS: number;
  machine: MachineInfo;
  /** os.loadavg()[0] at the start and at the end: other work competing for the cores. */
  loadAverage: [number, number];
  limits: MachineLimits | null;
  loadGenerator: { producerThreads: number; consumerThreads: number; note: string };
  repeats: number;
  workloads: WorkloadOutcome[];
  unavailable: { target: string; why: string }[];
}

export function defaultBenchDir(): string {
  return path.join(os.tmpdir(), `tern-bench-${process.pid}`);
}

export async function runSuite(opts: SuiteOptions): Promise<SuiteResult> {
  const t0 = performance.now();
  const loadAtStart = os.loadavg()[0]!;
  const machine = describeMachine(opts.dir);
  opts.log(`machine: ${machine.description}; data on ${machine.filesystem}`);
  if (machine.filesystem.startsWith('tmpfs')) opts.log('WARNING: the data dir is on tmpfs: fsync is a no-op there; pass --dir on a real disk');
  const limits = opts.fioSeconds > 0 ? await measureLimits(path.join(opts.dir, 'fio'), opts.fioSeconds, opts.log) : null;

  const servers = new Map<TargetId, TargetServer>();
  const unavailable: { target: string; why: string }[] = [];
  for (const id of opts.targets) {
    const s = await targetServer(id);
    try {
      opts.log(`${id}: checking installation...`);
      await s.ensureInstalled();
      servers.set(id, s);
    } catch (err) {
      if (!(err instanceof TargetUnavailable)) throw err;
      opts.log(`${id}: unavailable: ${err.message}`);
      unavailable.push({ target: id, why: err.message });
    }
  }

  const workloads: WorkloadOutcome[] = [];
  for (const w of opts.workloads) {
    const byTarget = new Map<TargetId, { runs: RunResult[]; failures: string[]; info: TargetInfo | null }>();
    for (const { target, repeat } of runOrder([...servers.keys()], opts.repeats)) {
      const server = servers.get(target)!;
      const slot = byTarget.get(target) ?? { runs: [], failures: [], info: null };
      byTarget.set(target, slot);
      opts.log(`${w.name} / ${target} / run ${repeat + 1} of ${opts.repeats}...`);
      try {
        const r = await runOnce(server, target, w, { dir: path.join(opts.dir, 'run'), producerThreads: opts.producerThreads, consumerThreads: opts.consumerThreads, log: opts.log });
        slot.runs.push(r);
        slot.info = r.target;
        const errs = r.errors.length > 0 ? `, errors: ${r.errors.slice(0, 3).join(' | ')}` : '';
        opts.log(`  publish ${fmt(r.publishMsgsPerSec)} msg/s (${r.publishMBps.toFixed(1)} MB/s), p50/p99/p99.9 ${fmt(r.publishLatency.p50Us)}/${fmt(r.publishLatency.p99Us)}/${fmt(r.publishLatency.p999Us)} µs; consume ${fmt(r.consumeMsgsPerSec)} msg/s, e2e p50/p99 ${fmt(r.e2eLatency.p50Us)}/${fmt(r.e2eLatency.p99Us)} µs; CPU cores: server ${r.serverCores?.toFixed(2) ?? '?'}, load generator ${r.loadGeneratorCores.toFixed(2)}${errs}`);
      } catch (err) {
        const why = (err as Error).message.split('\n').slice(0, 6).join('\n');
        opts.log(`  run failed: ${why}`);
        slot.failures.push(why);
      }
    }
    workloads.push({
      workload: w,
      targets: [...byTarget].map(([id, s]) => ({
        target: s.info ?? { id, label: id, durability: '' },
        runs: s.runs,
        failures: s.failures,
        aggregate: s.runs.length > 0 ? aggregate(s.runs) : null,
      })),
    });
  }
  return {
    date: new Date().toISOString(),
    wallS: (performance.now() - t0) / 1000,
    machine,
    loadAverage: [loadAtStart, os.loadavg()[0]!],
    limits,
    loadGenerator: {
      producerThreads: opts.producerThreads,
      consumerThreads: opts.consumerThreads,
      note: `load generator (worker threads) and the target server share the machine's ${machine.cpus} cores`,
    },
    repeats: opts.repeats,
    workloads,
    unavailable,
  };
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
