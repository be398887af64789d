/**
 * An idempotent librdkafka producer (confluent-kafka-python, enable.idempotence=true) whose connections are cut
 * again and again while it writes 20,000 numbered messages must leave every number in the log exactly once, in
 * order per partition: each cut loses requests in flight, librdkafka resends them with their sequence numbers,
 * and the broker answers the ones it already has as duplicates (the original offset) instead of appending them
 * again.
 *
 * The cuts: the broker advertises (--advertise) the port of a small TCP proxy inside this test, so every
 * connection the producer makes after bootstrap goes through it; the proxy destroys every connection it carries
 * every CUT_INTERVAL_MS while the producer runs. The log is read back directly from the broker.
 */
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, type E2EBroker } from './lib/broker.js';
import { describeRun, PYTHON, requireTools, run } from './lib/proc.js';
import { WireClient } from './lib/wire.js';

const PY_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'py');
const MESSAGES = 20_000;
const PARTITIONS = 2;
const CUT_INTERVAL_MS = 300;
/** Cuts at most (bounds the loop if the producer hangs; the script's own deadline is 150 s). */
const CUTS_MAX = 600;

/** A TCP proxy to `target` that can cut every connection it carries. */
class CuttingProxy {
  readonly server = net.createServer((client) => this.#accept(client));
  readonly #pairs = new Set<[net.Socket, net.Socket]>();
  target = 0;
  cuts = 0;
  connections = 0;

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as net.AddressInfo).port;
  }

  #accept(client: net.Socket): void {
    this.connections++;
    const upstream = net.connect({ host: '127.0.0.1', port: this.target });
    const pair: [net.Socket, net.Socket] = [client, upstream];
    this.#pairs.add(pair);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      this.#pairs.delete(pair);
    };
    for (const s of pair) {
      s.on('error', end);
      s.on('close', end);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Destroys every proxied connection (both sides). */
  cutAll(): void {
    if (this.#pairs.size > 0) this.cuts++;
    for (const [a, b] of [...this.#pairs]) {
      a.destroy();
      b.destroy();
    }
    this.#pairs.clear();
  }

  close(): Promise<void> {
    this.cutAll();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

let broker: E2EBroker;
const proxy = new CuttingProxy();
let proxyPort = 0;

beforeAll(async () => {
  requireTools();
  proxyPort = await proxy.listen();
  broker = await launch({ args: ['--advertise', `127.0.0.1:${proxyPort}`] });
  proxy.target = broker.port;
});

afterAll(async () => {
  await proxy.close();
  await broker?.stop();
});

describe('idempotent producer under connection cuts', () => {
  it('writes every one of 20,000 numbered messages exactly once, in order per partition', async () => {
    const admin = await WireClient.connect(broker.port);
    expect(await admin.createTopic('idem', PARTITIONS)).toBe(0);

    const cutter = setInterval(() => {
      if (proxy.cuts < CUTS_MAX) proxy.cutAll();
    }, CUT_INTERVAL_MS);
    let r: Awaited<ReturnType<typeof run>>;
    try {
      r = await run(PYTHON, [path.join(PY_DIR, 'idempotent_producer.py'), `127.0.0.1:${proxyPort}`, 'idem', String(MESSAGES)], {
        timeoutMs: 170_000,
        env: { PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' },
      });
    } finally {
      clearInterval(cutter);
    }
    const failLine = /^FAIL: .*$/m.exec(r.stderr)?.[0];
    if (r.code !== 0 || r.timedOut) throw new Error(`${failLine ?? 'producer failed'}\n${describeRun(r)}${broker.diagnose()}`);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toMatchObject({ ok: true, delivered: MESSAGES });
    // The cuts happened while the producer was connected (else this proves nothing).
    expect(proxy.cuts).toBeGreaterThanOrEqual(3);

    const seen = new Array<number>(MESSAGES).fill(0);
    let total = 0;
    for (let p = 0; p < PARTITIONS; p++) {
      const records = await admin.fetchAll('idem', p, 0, 60_000);
      let last = -1;
      for (const rec of records) {
        const n = Number(rec.value!.toString());
        expect(Number.isInteger(n) && n >= 0 && n < MESSAGES, `bad value ${rec.value!.toString()}`).toBe(true);
        expect(n, `partition ${p}: ${n} after ${last} at offset ${rec.offset}`).toBeGreaterThan(last);
        last = n;
        seen[n]!++;
        total++;
      }
    }
    const missing = seen.flatMap((c, n) => (c === 0 ? [n] : []));
    const doubled = seen.flatMap((c, n) => (c > 1 ? [n] : []));
    expect({ missing: missing.slice(0, 10), doubled: doubled.slice(0, 10), total }).toEqual({ missing: [], doubled: [], total: MESSAGES });
    expect(broker.alive(), `broker died during the run${broker.diagnose()}`).toBe(true);
  }, 200_000);
});
