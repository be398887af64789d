/**
 * One run: one workload against one target. Starts a fresh server (its data in `dir`), creates the topics,
 * spreads producers and consumers over worker threads, starts them together, waits for the producers to
 * finish and the consumers to catch up, merges what the workers measured, stops the server.
 *
 * Threads: producers go round robin to `producerThreads` workers and consumers to `consumerThreads` others,
 * so a consumer's parsing never delays a producer's send in the same event loop. On the 2-core machine the
 * workers, the target server and fio-free idle time share the same 2 cores: the report says so.
 */
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { LatencyHistogram, type LatencySummary } from './histogram.js';
import { nowUs } from './payload.js';
import { SecondSeries } from './rate.js';
import type { TargetId } from './targets/index.js';
import type { TargetInfo, TargetServer } from './targets/types.js';
import type { MainMessage, ProducerSetup, WorkerMessage, WorkerResult, WorkerSetup } from './worker.js';
import { consumerAssignments, producerTopic, type PartitionRef, type Workload } from './workload.js';

/** After the producers finish, consumers get this long to receive everything acknowledged. */
export const DRAIN_MS_MAX = 10_000;
/** Workers connect within this time, or the run fails. */
const READY_MS_MAX = 60_000;
/** The common start is this far after the last worker is ready, so every thread sees it in the future. */
const START_DELAY_US = 200_000;

export interface RunOptions {
  dir: string;
  producerThreads: number;
  consumerThreads: number;
  log: (line: string) => void;
}

export interface RunResult {
  target: TargetInfo;
  workload: string;
  /** Messages acknowledged / received per second and MB/s (1e6 bytes of values) in the measured window. */
  publishMsgsPerSec: number;
  publishMBps: number;
  consumeMsgsPerSec: number;
  consumeMBps: number;
  publishLatency: LatencySummary;
  e2eLatency: LatencySummary;
  /** Per second from the start, warm-up included (warmupS marks where measuring began). */
  ackedPerSec: number[];
  receivedPerSec: number[];
  ackedTotal: number;
  receivedTotal: number;
  failedMessages: number;
  /** Latencies above the histogram's range, recorded as its maximum. */
  clampedLatencies: number;
  drainTimedOut: boolean;
  errors: string[];
  startedAt: string;
  /**
   * CPU used from the common start to the end of the drain, in cores (CPU seconds per wall second): the
   * server process, and this process (every load-generator thread). Their sum against the machine's core
   * count says whether the run was CPU-bound.
   */
  serverCores: number | null;
  loadGeneratorCores: number;
}

/** Splits the workload's producers and consumers into per-thread shares. */
export function planThreads(w: Workload, producerThreads: number, consumerThreads: number): { producers: ProducerSetup[][]; consumers: PartitionRef[][][] } {
  const pt = Math.max(1, Math.min(producerThreads, w.producers));
  const producers: ProducerSetup[][] = Array.from({ length: pt }, () => []);
  const perProducerRate = w.rateMsgsPerSec === null ? null : w.rateMsgsPerSec / w.producers;
  for (let i = 0; i < w.producers; i++) {
    const topic = producerTopic(w, i);
    producers[i % pt]!.push({
      index: i,
      topic,
      partitions: Array.from({ length: w.partitionsPerTopic }, (_, p) => p),
      ratePerSec: perProducerRate,
      // Producers of one rate interleave evenly instead of sending in lock step.
      phaseUs: perProducerRate === null ? 0 : (i * 1e6) / perProducerRate / w.producers,
    });
  }
  const assignments = consumerAssignments(w);
  const ct = Math.max(0, Math.min(consumerThreads, assignments.length));
  const consumers: PartitionRef[][][] = Array.from({ length: ct }, () => []);
  assignments.forEach((a, i) => consumers[i % ct]!.push(a));
  return { producers, consumers };
}

export async function runOnce(server: TargetServer, targetId: TargetId, w: Workload, opts: RunOptions): Promise<RunResult> {
  fs.rmSync(opts.dir, { recursive: true, force: true });
  fs.mkdirSync(opts.dir, { recursive: true });
  const startedAt = new Date().toISOString();
  const endpoint = await server.start(opts.dir);
  const workers: Worker[] = [];
  try {
    await server.prepare(w);
    const plan = planThreads(w, opts.producerThreads, opts.consumerThreads);
    const setups: WorkerSetup[] = [
      ...plan.producers.map((producers) => ({ target: targetId, endpoint, workload: w, producers, consumers: [] })),
      ...plan.consumers.map((consumers) => ({ target: targetId, endpoint, workload: w, producers: [], consumers })),
    ];
    const producerWorkers = plan.producers.length;
    let cpu: { serverCores: number | null; loadGeneratorCores: number } = { serverCores: null, loadGeneratorCores: NaN };
    const { results, drainTimedOut } = await new Promise<{ results: WorkerResult[]; drainTimedOut: boolean }>((resolve, reject) => {
      const out: WorkerResult[] = [];
      let ready = 0;
      let producersDone = 0;
      let ackedTotal = 0;
      let settled = false;
      const acked = new Array<number>(setups.length).fill(0);
      const received = new Array<number>(setups.length).fill(0);
      let drainTimer: NodeJS.Timeout | null = null;
      let cpuStart = { wallUs: 0, server: null as number | null, self: process.cpuUsage() };
      let drainTimedOut = false;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        if (drainTimer) clearInterval(drainTimer);
        clearTimeout(readyTimer);
        reject(err);
      };
      const readyTimer = setTimeout(() => fail(new Error(`workers not connected after ${READY_MS_MAX} ms`)), READY_MS_MAX);
      const send = (m: MainMessage): void => workers.forEach((wk) => wk.postMessage(m));
      const startDrain = (): void => {
        ackedTotal = acked.reduce((a, b) => a + b, 0);
        const deadline = Date.now() + DRAIN_MS_MAX;
        drainTimer = setInterval(() => {
          const got = received.reduce((a, b) => a + b, 0);
          const expected = w.consumers === 0 ? 0 : ackedTotal;
          if (got >= expected || Date.now() > deadline) {
            drainTimedOut = got < expected;
            if (drainTimedOut) opts.log(`  drain: consumers received ${got} of ${expected} acknowledged messages in ${DRAIN_MS_MAX} ms`);
            clearInterval(drainTimer!);
            drainTimer = null;
            const wallS = (nowUs() - cpuStart.wallUs) / 1e6;
            const self = process.cpuUsage(cpuStart.self);
            const serverNow = server.cpuSeconds();
            cpu = {
              serverCores: serverNow === null || cpuStart.server === null ? null : (serverNow - cpuStart.server) / wallS,
              loadGeneratorCores: (self.user + self.system) / 1e6 / wallS,
            };
            send({ type: 'stop' });
          }
        }, 100);
      };
      setups.forEach((setup, i) => {
        const wk = new Worker(new URL('./worker.js', import.meta.url), { workerData: setup });
        workers.push(wk);
        wk.on('error', (err) => fail(err));
        wk.on('exit', (code) => {
          if (!settled && out[i] === undefined) fail(new Error(`load worker ${i} exited (${code}) before reporting`));
        });
        wk.on('message', (m: WorkerMessage) => {
          switch (m.type) {
            case 'ready':
              if (++ready === setups.length) {
                clearTimeout(readyTimer);
                const startUs = nowUs() + START_DELAY_US;
                send({ type: 'go', startUs });
                cpuStart = { wallUs: nowUs(), server: server.cpuSeconds(), self: process.cpuUsage() };
              }
              break;
            case 'progress':
              acked[i] = m.ackedTotal;
              received[i] = m.receivedTotal;
              break;
            case 'producersDone':
              acked[i] = m.ackedTotal;
              if (++producersDone === producerWorkers) startDrain();
              break;
            case 'result':
              out[i] = m.result;
              if (setups.every((_, j) => out[j] !== undefined) && !settled) {
                settled = true;
                resolve({ results: out, drainTimedOut });
              }
              break;
            case 'error':
              fail(new Error(`load worker ${i}: ${m.message}`));
              break;
          }
        });
      });
    });
    return { ...merge(server.info(), w, results, drainTimedOut, startedAt), ...cpu };
  } finally {
    await Promise.all(workers.map((wk) => wk.terminate()));
    await server.stop();
    fs.rmSync(opts.dir, { recursive: true, force: true });
  }
}

function merge(target: TargetInfo, w: Workload, results: WorkerResult[], drainTimedOut: boolean, startedAt: string): Omit<RunResult, 'serverCores' | 'loadGeneratorCores'> {
  const pub = new LatencyHistogram();
  const e2e = new LatencyHistogram();
  for (const r of results) {
    for (const h of r.publishLatency) pub.add(LatencyHistogram.decode(h));
    for (const h of r.e2eLatency) e2e.add(LatencyHistogram.decode(h));
  }
  const sum = (f: (r: WorkerResult) => number): number => results.reduce((s, r) => s + f(r), 0);
  const seconds = w.durationS;
  return {
    target,
    workload: w.name,
    publishMsgsPerSec: sum((r) => r.ackedInWindow) / seconds,
    publishMBps: sum((r) => r.ackedBytesInWindow) / seconds / 1e6,
    consumeMsgsPerSec: sum((r) => r.receivedInWindow) / seconds,
    consumeMBps: sum((r) => r.receivedBytesInWindow) / seconds / 1e6,
    publishLatency: pub.summary(),
    e2eLatency: e2e.summary(),
    ackedPerSec: SecondSeries.sum(results.flatMap((r) => r.ackedSeries)),
    receivedPerSec: SecondSeries.sum(results.flatMap((r) => r.receivedSeries)),
    ackedTotal: sum((r) => r.ackedTotal),
    receivedTotal: sum((r) => r.receivedTotal),
    failedMessages: sum((r) => r.failedMessages),
    clampedLatencies: pub.clampedCount + e2e.clampedCount,
    drainTimedOut,
    errors: results.flatMap((r) => r.errors),
    startedAt,
  };
}
