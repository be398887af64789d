/**
 * A load-generator thread (worker_threads): runs its share of a run's producers and consumers against one
 * target and reports back. Several of these run at once, so one JS thread is never the bottleneck.
 *
 * Protocol with the main thread (driver.ts), in order:
 *   main -> worker  workerData: WorkerSetup
 *   worker -> main  { type: 'ready' }                   publishers and subscribers connected
 *   main -> worker  { type: 'go', startUs }             common start on the shared monotonic clock
 *   worker -> main  { type: 'progress', ... }           every PROGRESS_MS
 *   worker -> main  { type: 'producersDone' }           all its producers are done (workers with producers only)
 *   main -> worker  { type: 'stop' }                    consumers caught up (or the drain time ran out)
 *   worker -> main  { type: 'result', result }          then the thread exits
 *   worker -> main  { type: 'error', message }          anything fatal, at any point
 */
import { parentPort, workerData } from 'node:worker_threads';
import { nowUs } from './payload.js';
import { ConsumerRecorder, ProducerLoop, type Publisher } from './producer.js';
import type { MeasureWindow } from './rate.js';
import { targetClient, type TargetId } from './targets/index.js';
import type { Endpoint, Subscriber } from './targets/types.js';
import type { PartitionRef, Workload } from './workload.js';

export const PROGRESS_MS = 500;
/** Producer ticks in open loop: often enough for linger and rate, rare enough not to spin a core. */
const TICK_MS = 1;

export interface ProducerSetup {
  index: number;
  topic: number;
  partitions: number[];
  ratePerSec: number | null;
  phaseUs: number;
}

export interface WorkerSetup {
  target: TargetId;
  endpoint: Endpoint;
  workload: Workload;
  producers: ProducerSetup[];
  consumers: PartitionRef[][];
}

export interface EncodedHistogram {
  hdr: string;
  clampedCount: number;
}

export interface WorkerResult {
  publishLatency: EncodedHistogram[];
  e2eLatency: EncodedHistogram[];
  ackedSeries: number[][];
  receivedSeries: number[][];
  ackedInWindow: number;
  ackedBytesInWindow: number;
  ackedTotal: number;
  receivedInWindow: number;
  receivedBytesInWindow: number;
  receivedTotal: number;
  failedMessages: number;
  errors: string[];
}

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'progress'; ackedTotal: number; receivedTotal: number; backlog: number }
  | { type: 'producersDone'; ackedTotal: number }
  | { type: 'result'; result: WorkerResult }
  | { type: 'error'; message: string };

export type MainMessage = { type: 'go'; startUs: number } | { type: 'stop' };

function post(m: WorkerMessage): void {
  parentPort!.postMessage(m);
}

async function main(): Promise<void> {
  const setup = workerData as WorkerSetup;
  const w = setup.workload;
  const client = await targetClient(setup.target);
  const publishers: Publisher[] = await Promise.all(setup.producers.map((p) => client.publisher(setup.endpoint, w, p.index)));
  const recorders = setup.consumers.map(() => new ConsumerRecorder());
  const subscribers: Subscriber[] = await Promise.all(setup.consumers.map((a, i) => client.subscriber(setup.endpoint, w, a, recorders[i]!)));
  const startUs = await new Promise<number>((resolve) => {
    const onMsg = (m: MainMessage): void => {
      if (m.type === 'go') {
        parentPort!.off('message', onMsg);
        resolve(m.startUs);
      }
    };
    parentPort!.on('message', onMsg);
    post({ type: 'ready' });
  });
  const window: MeasureWindow = { fromUs: startUs + w.warmupS * 1e6, toUs: startUs + (w.warmupS + w.durationS) * 1e6 };
  for (const r of recorders) r.begin(startUs, window);

  let wakeQueued = false;
  const loops: ProducerLoop[] = [];
  const tickAll = (): void => {
    const now = nowUs();
    for (const l of loops) l.tick(now);
  };
  const wake = (): void => {
    if (wakeQueued) return;
    wakeQueued = true;
    setImmediate(() => {
      wakeQueued = false;
      tickAll();
    });
  };
  for (const [i, p] of setup.producers.entries()) {
    loops.push(
      new ProducerLoop(
        {
          topic: p.topic,
          partitions: p.partitions,
          messageBytes: w.messageBytes,
          batchBytes: w.batchBytes,
          lingerUs: w.lingerMs * 1000,
          inFlightMax: w.inFlightPerProducer,
          keys: w.keys,
          keyCount: w.keyCount,
          seed: 7919 * (p.index + 1),
          ratePerSec: p.ratePerSec,
          startUs,
          phaseUs: p.phaseUs,
          endUs: window.toUs,
          window,
        },
        publishers[i]!,
        nowUs,
        wake,
      ),
    );
  }

  const progress = setInterval(() => {
    post({
      type: 'progress',
      ackedTotal: loops.reduce((s, l) => s + l.ackedTotal, 0),
      receivedTotal: recorders.reduce((s, r) => s + r.receivedTotal, 0),
      backlog: loops.reduce((s, l) => s + l.backlogMessages, 0),
    });
  }, PROGRESS_MS);

  // Producers: tick until every loop has finished; the ack path wakes them sooner in closed loop.
  await new Promise<void>((resolve, reject) => {
    const step = (): void => {
      try {
        tickAll();
      } catch (err) {
        reject(err as Error);
        return;
      }
      if (loops.every((l) => l.finished)) resolve();
      else setTimeout(step, TICK_MS);
    };
    step();
  });
  if (loops.length > 0) post({ type: 'producersDone', ackedTotal: loops.reduce((s, l) => s + l.ackedTotal, 0) });

  await new Promise<void>((resolve) => {
    const onMsg = (m: MainMessage): void => {
      if (m.type === 'stop') {
        parentPort!.off('message', onMsg);
        resolve();
      }
    };
    parentPort!.on('message', onMsg);
  });
  clearInterval(progress);
  await Promise.all(subscribers.map((s) => s.stop()));
  await Promise.all(publishers.map((p) => p.close()));

  const errors = [...loops.map((l) => l.firstError), ...subscribers.map((s) => s.failure)].filter((e): e is string => e !== null);
  post({
    type: 'result',
    result: {
      publishLatency: loops.map((l) => l.publishLatency.encode()),
      e2eLatency: recorders.map((r) => r.e2eLatency.encode()),
      ackedSeries: loops.map((l) => l.ackedSeries.values),
      receivedSeries: recorders.map((r) => r.receivedSeries.values),
      ackedInWindow: loops.reduce((s, l) => s + l.ackedInWindow, 0),
      ackedBytesInWindow: loops.reduce((s, l) => s + l.ackedBytesInWindow, 0),
      ackedTotal: loops.reduce((s, l) => s + l.ackedTotal, 0),
      receivedInWindow: recorders.reduce((s, r) => s + r.receivedInWindow, 0),
      receivedBytesInWindow: recorders.reduce((s, r) => s + r.receivedBytesInWindow, 0),
      receivedTotal: recorders.reduce((s, r) => s + r.receivedTotal, 0),
      failedMessages: loops.reduce((s, l) => s + l.failedMessages, 0),
      errors,
    },
  });
}

if (parentPort !== null) {
  // After its result (or error) the thread stays alive, listening, until the main thread terminates it:
  // an exit racing the result message would read as a crash.
  parentPort.on('message', () => undefined);
  main().catch((err: unknown) => {
    post({ type: 'error', message: (err as Error).stack ?? String(err) });
  });
}
