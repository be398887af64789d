/**
 * A clean broker restart (SIGTERM, then `tern start` on the same port and data) under running clients: a
 * producer (acks=all) and a consumer-group member of confluent-kafka-python 1.7.0 (librdkafka 2.0.2) and of
 * kafka-python 2.0.2 keep going through it (test/e2e/py/restart_group.py). They reconnect by themselves; every
 * acknowledged record is consumed, and records are consumed twice only as at-least-once allows (those after the
 * last auto-commit, every 200 ms, before the shutdown).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fileBroker } from './lib/broker.js';
import { PYTHON, tail } from './lib/proc.js';

const PY_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'py');
const BROKER_ARGS = ['--group-initial-rebalance-delay-ms', '0'];
const RUN_S = 6; // the clients keep producing this long after READY; the restart happens in it
const shared = fileBroker('restart-clients', BROKER_ARGS);

interface Summary {
  produced: number;
  acked: number;
  consumed: number;
  missing: number;
  duplicates: number;
  errors: string[];
}

/** Runs restart_group.py; `ready` resolves at its READY line, `done` with its summary (rejects on failure). */
function client(name: string, topic: string): { ready: Promise<void>; done: Promise<Summary>; kill(): void } {
  const proc = spawn(PYTHON, [path.join(PY_DIR, 'restart_group.py'), `127.0.0.1:${shared.broker.port}`, name, topic, String(RUN_S)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' },
  });
  let out = '';
  let err = '';
  let onReady!: () => void;
  const ready = new Promise<void>((res) => (onReady = res));
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString('utf8');
    if (/^READY$/m.test(out)) onReady();
  });
  proc.stderr.on('data', (d: Buffer) => {
    err += d.toString('utf8');
    if (err.length > 256 * 1024) err = err.slice(-128 * 1024);
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), 90_000);
  const done = new Promise<Summary>((res, reject) => {
    proc.once('close', (code, signal) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !last.startsWith('{')) {
        reject(new Error(`${name}: restart_group.py exited ${code ?? signal}\n${/^FAIL: .*$/m.exec(err)?.[0] ?? ''}\n[stdout]\n${tail(out, 20)}\n[stderr]\n${tail(err, 30)}${shared.broker.diagnose()}`));
        return;
      }
      res(JSON.parse(last) as Summary);
    });
  });
  // a client that fails before READY must not leave the test waiting for READY
  void done.catch(() => onReady());
  return { ready, done, kill: () => proc.kill('SIGKILL') };
}

describe('broker restart under running clients', () => {
  it('confluent-kafka-python and kafka-python producers and group members reconnect and lose nothing', async () => {
    const clients = [client('confluent', 'restart-ck'), client('kafka-python', 'restart-kp')];
    try {
      await Promise.all(clients.map((c) => c.ready));
      await shared.restart({ samePort: true }); // SIGTERM (clean shutdown), then the same port and data
      const [ck, kp] = await Promise.all(clients.map((c) => c.done));
      for (const [name, s] of [['confluent', ck!], ['kafka-python', kp!]] as const) {
        const what = `${name}: ${JSON.stringify(s)}`;
        expect(s.acked, `${what}: every record produced is acknowledged`).toBe(s.produced);
        expect(s.produced, `${what}: kept producing through the restart`).toBeGreaterThan(300);
        expect(s.missing, `${what}: acknowledged records never consumed`).toBe(0);
        expect(s.consumed, `${what}: consumed records`).toBe(s.acked);
        // At-least-once: at most what arrived since the last auto-commit (200 ms at ~100 records/s) comes again.
        expect(s.duplicates, `${what}: records consumed twice`).toBeLessThanOrEqual(100);
      }
      expect(shared.broker.alive(), shared.broker.diagnose()).toBe(true);
    } finally {
      for (const c of clients) c.kill();
    }
  }, 120_000);
});
