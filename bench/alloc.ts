/**
 * JS heap bytes allocated per durable append (issue #3, round 13): what the append path leaves for the garbage
 * collector, the cost behind the scavenges that pause the event loop for 1-2 ms each under an open-loop load.
 *
 *   npm run build && node --expose-gc --min-semi-space-size=512 --max-semi-space-size=512 dist/bench/alloc.js
 *
 * With a young generation larger than everything the measured appends allocate, no GC runs during the window,
 * so the heap's growth over N appends is what they allocated (the run fails if a GC did run). One append at a
 * time (issued when the previous one resolved, as the serial cells of bench/engine.ts), 1 KiB record batches
 * through the native engine, for three targets:
 * - `driver`: a target that resolves at once (this loop's own share);
 * - `raw`: one AppendFile, `append` + `SyncScheduler.sync` (as bench/engine.ts's raw mode);
 * - `log`: PartitionLog.append, wired as the broker wires it (LogManager, batch cache, indexes).
 * "retained" is what is still live after a full GC (the batch cache and indexes keep a little per append).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { NativeFileSystem, nativeEngineAvailable } from '../src/io/index.js';
import { LogManager, SyncScheduler, defaultLogConfig } from '../src/log/index.js';
import { buildRecordBatch, validateBatches } from '../src/protocol/records.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error('run with --expose-gc --min-semi-space-size=512 --max-semi-space-size=512 (see the top of bench/alloc.ts)');
  process.exit(2);
}
if (!nativeEngineAvailable()) {
  console.error('the native addon is not built (npm install builds it)');
  process.exit(2);
}

const N = Number(process.argv[2] ?? 20_000);
const WARMUP = 3_000;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-bench-alloc-'));
const engine = new NativeFileSystem({});
const logs = await LogManager.open({ dataDir: dir, fs: engine });
const log = await logs.createPartition('alloc', 0, { ...defaultLogConfig, retentionBytes: 0 });
await engine.mkdirp(path.join(dir, 'raw'));
const file = await engine.open(path.join(dir, 'raw', '0.log'));
const scheduler = new SyncScheduler({ immediate: true });

const template = buildRecordBatch([{ key: null, value: Buffer.alloc(944, 0x61), timestamp: 1_700_000_000_000 }], {});
const validated = validateBatches(template, { maxBatchBytes: 1 << 30 });
if (!validated.ok) throw new Error(validated.message);
const opts = { leaderEpoch: 0, batches: validated.batches };
// Copies that own their memory (as bench/engine.ts's pool), reused once their append resolved.
const pool: Buffer[] = [];
const take = (): Buffer => {
  const b = pool.pop();
  if (b !== undefined) return b;
  const copy = Buffer.allocUnsafeSlow(template.length); // not Buffer.from: that would land in Node's shared pool
  template.copy(copy);
  return copy;
};

type Target = (b: Buffer) => Promise<unknown>;
const targets: [string, Target][] = [
  ['driver', () => Promise.resolve()],
  [
    'raw',
    (b) => {
      file.append([b]);
      return scheduler.sync(file);
    },
  ],
  ['log', (b) => log.append(b, opts)],
];

async function run(target: Target, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const b = take();
    await target(b);
    pool.push(b);
  }
}

let gcs = 0;
const observer = new PerformanceObserver((list) => (gcs += list.getEntries().length));
observer.observe({ entryTypes: ['gc'] });
const rows: string[] = [];
for (const [name, target] of targets) {
  await run(target, WARMUP);
  gc();
  await new Promise((r) => setTimeout(r, 20)); // let the observer report the forced GC before the window opens
  const gcsBefore = gcs;
  const before = process.memoryUsage().heapUsed;
  await run(target, N);
  const after = process.memoryUsage().heapUsed;
  await new Promise((r) => setTimeout(r, 20));
  if (gcs !== gcsBefore) throw new Error(`${name}: ${gcs - gcsBefore} GC(s) ran during the window: raise --min-semi-space-size`);
  gc();
  const retained = process.memoryUsage().heapUsed;
  rows.push(`| ${name} | ${N} | ${Math.round((after - before) / N)} | ${Math.round((retained - before) / N)} |`);
}
observer.disconnect();
await file.close();
await logs.close();
engine.shutdown();
fs.rmSync(dir, { recursive: true, force: true });
console.log(`Node ${process.version}; one 1 KiB batch append at a time through the native engine; data dir under ${os.tmpdir()}\n`);
console.log('| target | appends | allocated B/append | retained B/append |\n|---|---|---|---|');
for (const r of rows) console.log(r);
