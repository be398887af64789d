/**
 * The Python clients against a real broker process: confluent-kafka-python 1.7.0 (librdkafka 2.0.2) and
 * kafka-python 2.0.2. Each script (test/e2e/py/) makes its own checks and exits non-zero with "FAIL: ..." on
 * the first one that fails; the test shows that line, the script's output and the broker's stderr.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, type E2EBroker } from './lib/broker.js';
import { describeRun, PYTHON, requireTools, run } from './lib/proc.js';

const PY_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'py');

let broker: E2EBroker;

beforeAll(async () => {
  requireTools();
  broker = await launch();
});

afterAll(async () => {
  await broker?.stop();
});

async function script(name: string, prefix: string): Promise<Record<string, unknown>> {
  const r = await run(PYTHON, [path.join(PY_DIR, name), `127.0.0.1:${broker.port}`, prefix], {
    timeoutMs: 100_000,
    env: { PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' },
  });
  const failLine = /^FAIL: .*$/m.exec(r.stderr)?.[0];
  if (r.code !== 0 || r.timedOut) {
    throw new Error(`${failLine ?? `${name} failed`}\n${describeRun(r)}${broker.diagnose()}`);
  }
  const last = r.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as Record<string, unknown>;
}

describe('python clients', () => {
  it('confluent-kafka-python: AdminClient, Producer acks=all with delivery reports, Consumer assign/offsets_for_times', async () => {
    const out = await script('confluent_client.py', 'ck');
    expect(out.ok).toBe(true);
    expect(out.produced).toBe(200);
    expect(broker.alive(), `broker died during the run${broker.diagnose()}`).toBe(true);
  }, 120_000);

  it('kafka-python: KafkaAdminClient, KafkaProducer acks=all, KafkaConsumer assign/seek without a group', async () => {
    const out = await script('kafka_python_client.py', 'kp');
    expect(out.ok).toBe(true);
    expect(out.acked).toBe(40);
    expect(out.consumed).toBe(33);
    expect(broker.alive(), `broker died during the run${broker.diagnose()}`).toBe(true);
  }, 120_000);

  it('timestamp bounds: confluent-kafka-python (zstd batches) and kafka-python get INVALID_TIMESTAMP for records outside message.timestamp.before/after.max.ms; only records inside are stored', async () => {
    const out = await script('timestamp_bounds.py', 'tsb');
    expect(out).toMatchObject({ ok: true, stored: ['ck-good', 'kp-good'], refused: ['ck-future', 'ck-mix-good', 'ck-mix-old', 'kp-old'] });
    expect(broker.alive(), `broker died during the run${broker.diagnose()}`).toBe(true);
  }, 120_000);

  it('kafka-python (Fetch v4): a topic with compression.type=zstd answers UNSUPPORTED_COMPRESSION_TYPE, as Kafka; a producer-compression topic reads as usual', async () => {
    const out = await script('zstd_topic_kafka_python.py', 'kpz');
    expect(out).toMatchObject({ ok: true, zstdError: 76, plainConsumed: 3, zstdConsumed: 0 });
    expect(broker.alive(), `broker died during the run${broker.diagnose()}`).toBe(true);
  }, 120_000);
});
