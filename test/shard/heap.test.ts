/**
 * Shard heaps (src/shard/supervisor.ts configureShardHeaps): shard isolates start with a large old generation, so
 * a shard whose live heap grows does not run Mark-Compacts on the way (docs/benchmarks.md, "Round 8"). V8 flags are
 * process-wide, so each case runs in its own child: a worker retains ~100 MiB in 1 MiB arrays and counts the major
 * GCs it saw (the child script is CommonJS so that the eval'd worker is too). Without the setting V8 collects at least once on the way there; with it, never.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nodeScript } from '../helpers/node-script.js';

const SUPERVISOR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/src/shard/supervisor.js');

async function majorGcsInWorker(configure: boolean): Promise<number> {
  const script = `
    const { Worker } = require('node:worker_threads');
    (async () => {
    const { configureShardHeaps, SHARD_OLD_SPACE_INITIAL_MIB } = await import(${JSON.stringify(SUPERVISOR)});
    if (SHARD_OLD_SPACE_INITIAL_MIB < 112) throw new Error('the case below assumes an initial old space above its 110 MiB');
    if (${configure}) configureShardHeaps();
    const src = \`
      const { PerformanceObserver, constants } = require('node:perf_hooks');
      const { parentPort } = require('node:worker_threads');
      let major = 0;
      new PerformanceObserver((l) => { for (const e of l.getEntries()) if (e.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) major++; }).observe({ entryTypes: ['gc'] });
      const keep = [];
      (async () => {
        for (let i = 0; i < 110; i++) { keep.push(new Array(128 * 1024).fill(i + 0.5)); await new Promise((r) => setImmediate(r)); }
        setTimeout(() => parentPort.postMessage(major), 50);
      })();\`;
    const w = new Worker(src, { eval: true });
    w.on('message', (m) => { console.log('major=' + m); process.exit(0); });
    })();`;
  const { code, out } = await nodeScript([], script, 30_000);
  const m = /major=(\d+)/.exec(out);
  if (code !== 0 || m === null) throw new Error(`child failed (exit ${code}): ${out}`);
  return Number(m[1]);
}

describe('shard heaps', () => {
  it('a shard isolate created after configureShardHeaps grows to ~110 MiB live without a Mark-Compact; without it, V8 collects on the way', async () => {
    const [without, withSetting] = await Promise.all([majorGcsInWorker(false), majorGcsInWorker(true)]);
    expect(without, 'V8 default limits: at least one major GC while the heap grows').toBeGreaterThanOrEqual(1);
    expect(withSetting, 'initial old generation set for shard isolates').toBe(0);
  });
});
