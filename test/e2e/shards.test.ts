/**
 * `tern start --smp 2` as a real process: both shards take connections on the one port (SO_REUSEPORT), kcat
 * (librdkafka) produces to and consumes from partitions owned by both shards, and SIGTERM shuts down cleanly:
 * exit code 0 and each shard's clean-shutdown marker written after its logs were synced and closed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, startBroker } from '../helpers/broker.js';
import { kcatConsume, kcatProduce } from './lib/kcat.js';
import { requireTools } from './lib/proc.js';

describe('tern start --smp 2 (real process)', () => {
  it('serves kcat across both shards and shuts down cleanly on SIGTERM', async () => {
    requireTools();
    const dataDir = fs.mkdtempSync('/tmp/tern-e2e-shards-');
    try {
      const b = await startBroker({ dataDir, args: ['--smp', '2', '--num-partitions', '4'] });
      const values = Array.from({ length: 40 }, (_, i) => `s${i}`);
      const produced = await kcatProduce(b.port, 'sharded', values.map((value, i) => ({ key: `k${i}`, value })), { partition: -1 });
      expect(produced.code, produced.stderr).toBe(0);
      const owners = JSON.parse(fs.readFileSync(path.join(dataDir, 'shards.json'), 'utf8')) as { shards: number; owners: Record<string, number> };
      expect(owners.shards).toBe(2);
      expect(new Set(Object.values(owners.owners))).toEqual(new Set([0, 1]));
      const got = await kcatConsume(b.port, 'sharded', { count: 40 });
      expect(got.map((m) => m.payload).sort()).toEqual([...values].sort());
      const st = await b.stop('SIGTERM');
      expect(st.code, b.output()).toBe(0);
      for (const id of [0, 1]) expect(fs.existsSync(path.join(dataDir, `.tern_cleanshutdown-shard${id}`))).toBe(true);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses a second broker on the same data dir while the first runs, and takes over the lock of a killed one', async () => {
    const dataDir = fs.mkdtempSync('/tmp/tern-e2e-lock-');
    try {
      const first = await startBroker({ dataDir, args: ['--smp', '2'] });
      const second = await runCli(['start', '--smp', '2', '--listen', `127.0.0.1:${first.port}`, '--data-dir', dataDir], { timeoutMs: 15_000 });
      expect(second.code, second.stdout + second.stderr).toBe(1);
      expect(second.stderr).toMatch(/in use by process \d+/);
      await first.kill(); // SIGKILL: the lock file stays behind, naming a dead process
      expect(fs.existsSync(path.join(dataDir, '.tern.lock'))).toBe(true);
      const third = await startBroker({ dataDir, args: ['--smp', '2'] });
      const st = await third.stop();
      expect(st.code, third.output()).toBe(0);
      expect(fs.existsSync(path.join(dataDir, '.tern.lock'))).toBe(false);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
