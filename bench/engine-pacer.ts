/**
 * Open-loop pacer for bench/engine.ts, run as a worker thread: it tells the main thread, at the exact time each
 * append is due, how many appends are due so far. The main thread cannot pace itself below the 1 ms
 * granularity of Node's timers (at 5,000 appends/s the interval is 200 µs), and spinning on setImmediate would
 * burn one of the machine's two vCPUs that the engine's threads need. Atomics.wait sleeps with a sub-millisecond
 * timeout (a futex), so this thread is idle between due times.
 *
 * Times are nanoseconds since `baseNs` (process.hrtime.bigint() of the main thread: CLOCK_MONOTONIC, shared by
 * all threads). Append i is due at startNs + i * intervalNs. Messages: the number of appends due so far
 * (increasing), then 'done' once all `total` are due.
 */
import { parentPort, workerData } from 'node:worker_threads';

export interface PacerData {
  baseNs: string;
  startNs: number;
  intervalNs: number;
  total: number;
}

function run(port: NonNullable<typeof parentPort>, data: PacerData): void {
  const base = BigInt(data.baseNs);
  const now = (): number => Number(process.hrtime.bigint() - base);
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  let sent = 0;
  while (sent < data.total) {
    const t = now();
    const due = Math.min(data.total, Math.floor((t - data.startNs) / data.intervalNs) + 1);
    if (due > sent) {
      sent = due;
      port.postMessage(sent);
      continue;
    }
    const waitMs = (data.startNs + sent * data.intervalNs - now()) / 1e6;
    if (waitMs > 0) Atomics.wait(sleeper, 0, 0, waitMs);
  }
  port.postMessage('done');
}

if (parentPort !== null) run(parentPort, workerData as PacerData);
