/**
 * Consumer groups with librdkafka and the Python clients against a real broker process:
 * - kcat -G (librdkafka 2.0.2 balanced consumer): two runs of one group read every record once between
 *   them, resuming from the offsets the first committed on close;
 * - confluent-kafka-python 1.7.0: commit, close, a new member resumes exactly after the committed offsets;
 *   cooperative-sticky rebalances incrementally; static members (group.instance.id) rejoin without a rebalance;
 * - kafka-python 2.0.2: its fixed old versions (JoinGroup v2, OffsetCommit v2 with retention, OffsetFetch v1).
 * Each Python script makes its own checks (test/e2e/py/) and prints "FAIL: ..." on the first that fails.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, type E2EBroker } from './lib/broker.js';
import { kcatProduce } from './lib/kcat.js';
import { check, describeRun, KCAT, PYTHON, requireTools, run } from './lib/proc.js';

const PY_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'py');
let broker: E2EBroker;

beforeAll(async () => {
  requireTools();
  broker = await launch({ args: ['--group-initial-rebalance-delay-ms', '300'] });
});

afterAll(async () => {
  await broker?.stop();
});

async function script(name: string, args: string[]): Promise<Record<string, unknown>> {
  const r = await run(PYTHON, [path.join(PY_DIR, name), `127.0.0.1:${broker.port}`, ...args], {
    timeoutMs: 110_000,
    env: { PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' },
  });
  const failLine = /^FAIL: .*$/m.exec(r.stderr)?.[0];
  if (r.code !== 0 || r.timedOut) throw new Error(`${failLine ?? `${name} failed`}\n${describeRun(r)}${broker.diagnose()}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as Record<string, unknown>;
}

/** One balanced-consumer run of kcat: reads until every assigned partition is at its end, then closes (commits). */
async function kcatGroup(group: string, topic: string): Promise<{ partition: number; offset: number }[]> {
  const r = check(
    await run(KCAT, ['-b', `127.0.0.1:${broker.port}`, '-G', group, '-q', '-e', '-f', '%p %o\\n', '-X', 'auto.offset.reset=earliest', '-X', 'session.timeout.ms=10000', topic], { timeoutMs: 60_000 }),
    'kcat -G',
  );
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [p, o] = l.trim().split(' ').map(Number);
      return { partition: p!, offset: o! };
    });
}

describe('librdkafka and python consumer groups', () => {
  it('kcat -G: a balanced consumer reads everything once; a second run resumes from the committed offsets', async () => {
    const topic = 'grp-kcat';
    check(await run(KCAT, ['-b', `127.0.0.1:${broker.port}`, '-L', '-t', topic, '-q'], { timeoutMs: 20_000 }), 'kcat -L (auto-create)');
    const msgs = (n: number, from: number): { key: string; value: string }[] => Array.from({ length: n }, (_, i) => ({ key: `k${from + i}`, value: `v${from + i}` }));
    check(await kcatProduce(broker.port, topic, msgs(50, 0)), 'produce 50');
    const first = await kcatGroup('grp-kcat-g', topic);
    expect(first).toHaveLength(50);
    check(await kcatProduce(broker.port, topic, msgs(7, 50)), 'produce 7 more');
    const second = await kcatGroup('grp-kcat-g', topic);
    expect(second.map((m) => m.offset)).toEqual([50, 51, 52, 53, 54, 55, 56]);
    expect(broker.alive(), broker.diagnose()).toBe(true);
  }, 150_000);

  it('confluent-kafka-python: commit, close, and a new member resumes exactly after the committed offsets', async () => {
    const out = await script('groups_confluent.py', ['ckg', 'resume']);
    expect(out.ok).toBe(true);
    expect((out.first as number) + (out.second as number)).toBe(90);
  }, 120_000);

  it('confluent-kafka-python: cooperative-sticky rebalances incrementally', async () => {
    const out = await script('groups_confluent.py', ['ckg', 'cooperative']);
    expect(out.ok).toBe(true);
  }, 120_000);

  it('confluent-kafka-python: a static member restarting within its session timeout rejoins without a rebalance', async () => {
    const out = await script('groups_confluent.py', ['ckg', 'static']);
    expect(out.ok).toBe(true);
    // The script checked that b saw no revoke/assign while a restarted; the event lists say so too.
    expect(out.b_events).toEqual(out.b_events_before_restart);
  }, 120_000);

  it('kafka-python: a group over JoinGroup v2 / OffsetCommit v2 / OffsetFetch v1 commits and resumes', async () => {
    const out = await script('groups_kafka_python.py', ['kpg']);
    expect(out).toMatchObject({ ok: true, first: 40, second: 20 });
    expect(broker.alive(), broker.diagnose()).toBe(true);
  }, 120_000);
});
