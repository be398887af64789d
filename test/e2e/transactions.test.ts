/**
 * Transactions against a real broker process (`tern start`, 2 shards on this machine: transactional ids are
 * coordinated by the shard owning their `__transaction_state` partition, reached from any connection):
 * - producer ids from InitProducerId over many connections (both shards) are all distinct, and after a restart
 *   every new id is above every id handed out before (blocks are reserved durably, never reused);
 * - confluent-kafka-python 1.7.0: init_transactions on two producers of one transactional id (the second fences
 *   the first), begin/commit and begin/abort; `tern txn list|describe` shows the id with the bumped epoch;
 * - begin/produce/commit and begin/produce/abort with a read_committed consumer seeing exactly the committed
 *   records (the 'records' scenario);
 * - offsets_for_times (ListOffsets by timestamp) during an open transaction: -1 under read_committed (the
 *   answer would lie at or past the last stable offset), the open record under read_uncommitted (the 'times'
 *   scenario).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, TempDirs, type E2EBroker } from './lib/broker.js';
import { describeRun, PYTHON, requireTools, run } from './lib/proc.js';
import { R, W, WireClient } from './lib/wire.js';
import { runCli } from '../helpers/broker.js';

const PY_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'py');
const INIT_PRODUCER_ID = 22;
const CONNECTIONS = 8;

let broker: E2EBroker;
const dirs = new TempDirs();
let dataDir: string;

beforeAll(async () => {
  requireTools();
  dataDir = dirs.make('txn');
  broker = await launch({ dataDir, args: ['--transaction-state-partitions', '6'] });
});

afterAll(async () => {
  await broker?.stop();
  dirs.cleanup();
});

/** InitProducerId v0 without a transactional id, on a fresh connection each (the kernel spreads them over shards). */
async function producerIds(port: number, n: number): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = await WireClient.connect(port, `txn-e2e-${i}`);
    try {
      const body = new W().string(null).int32(60_000).finish();
      const r = new R(await c.request(INIT_PRODUCER_ID, 0, body));
      r.int32(); // throttle
      expect(r.int16()).toBe(0);
      ids.push(r.int64());
      expect(r.int16()).toBe(0); // epoch
    } finally {
      c.close();
    }
  }
  return ids;
}

async function script(scenario: string, prefix: string): Promise<Record<string, unknown>> {
  const r = await run(PYTHON, [path.join(PY_DIR, 'transactions_confluent.py'), `127.0.0.1:${broker.port}`, prefix, scenario], {
    timeoutMs: 100_000,
    env: { PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' },
  });
  const failLine = /^FAIL: .*$/m.exec(r.stderr)?.[0];
  if (r.code !== 0 || r.timedOut) throw new Error(`${failLine ?? `${scenario} failed`}\n${describeRun(r)}${broker.diagnose()}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as Record<string, unknown>;
}

async function tern(args: string[]): Promise<string> {
  const r = await runCli([...args, '--brokers', `127.0.0.1:${broker.port}`], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`tern ${args.join(' ')} exited ${r.code}: ${r.stderr}${broker.diagnose()}`);
  return r.stdout;
}

describe('transactions on the sharded broker', () => {
  it('producer ids are unique across shards and never reused after a restart', async () => {
    const before = await producerIds(broker.port, CONNECTIONS);
    expect(new Set(before).size).toBe(before.length);
    await broker.stop();
    broker = await launch({ dataDir, args: ['--transaction-state-partitions', '6'] });
    const after = await producerIds(broker.port, CONNECTIONS);
    expect(new Set(after).size).toBe(after.length);
    expect(Math.min(...after)).toBeGreaterThan(Math.max(...before));
  }, 60_000);

  it('confluent-kafka-python init_transactions / begin / commit / abort; tern txn list and describe show the fenced epoch', async () => {
    const out = await script('init', 'cktx');
    expect(out.ok).toBe(true);
    const id = out.transactionalId as string;
    const described = await tern(['txn', 'describe', id]);
    expect(described).toMatch(/STATE\s+Empty/);
    expect(described).toMatch(/PRODUCER EPOCH\s+1\b/);
    expect(described).toMatch(/TIMEOUT MS\s+45000/);
    const listed = await tern(['txn', 'list', '--state', 'Empty']);
    expect(listed).toContain(id);
    expect(await tern(['txn', 'list', '--state', 'Ongoing'])).not.toContain(id);
    const missing = await runCli(['txn', 'describe', 'no-such-txn', '--brokers', `127.0.0.1:${broker.port}`], { timeoutMs: 30_000 });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('TRANSACTIONAL_ID_NOT_FOUND');
    expect(broker.alive(), `broker died during the run${broker.diagnose()}`).toBe(true);
  }, 120_000);

  it('offsets_for_times under read_committed stops at the LSO while a transaction is open, as Kafka', async () => {
    const out = await script('times', 'cktimes');
    expect(out).toMatchObject({ ok: true, openCommitted: [0, -1], openUncommitted: [0, 1], committed: 1 });
  }, 120_000);

  it('begin/produce/commit and abort: read_committed sees exactly the committed records', async () => {
    const out = await script('records', 'ckrec');
    expect(out).toMatchObject({ ok: true, committed: 10, uncommitted: 15 });
    expect(await tern(['txn', 'describe', out.transactionalId as string])).toMatch(/STATE\s+CompleteAbort/);
  }, 120_000);
});
