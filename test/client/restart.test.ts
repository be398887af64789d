// The broker helper's lifecycle (the e2e tests build on it) and the client across broker restarts: acked
// records survive a clean stop and a SIGKILL; a client's dead connection is replaced on the next request.
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KafkaClient } from '../../src/client/index.js';
import { buildRecordBatch } from '../../src/protocol/records.js';
import { startBroker } from '../helpers/broker.js';

const dir = mkdtempSync(join(tmpdir(), 'tern-restart-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('broker restarts', () => {
  it('keeps acked records across a clean stop and a SIGKILL', async () => {
    let broker = await startBroker({ dataDir: dir });
    const client = await KafkaClient.connect({ brokers: broker.brokers, retryBackoffMs: 50 });
    try {
      await client.createTopics([{ name: 'durable', partitions: 1 }]);
      expect(await client.produce('durable', 0, buildRecordBatch([{ value: 'one' }]))).toBe(0);
      expect(await broker.stop()).toEqual({ code: 0, signal: null });

      broker = await startBroker({ dataDir: dir, port: broker.port });
      // the client's old connection died with the broker: the read is retried on a new one
      expect((await client.fetch('durable', 0, 0)).records.map((r) => r.value!.toString())).toEqual(['one']);
      expect(await client.produce('durable', 0, buildRecordBatch([{ value: 'two' }]))).toBe(1);
      expect((await broker.kill()).signal).toBe('SIGKILL');

      broker = await startBroker({ dataDir: dir, port: broker.port });
      const r = await client.fetch('durable', 0, 0);
      expect(r.records.map((x) => x.value!.toString())).toEqual(['one', 'two']);
    } finally {
      client.close();
      await broker.stop();
    }
  });

  it('rejects with the broker output when the broker exits at start', async () => {
    const err = await startBroker({ args: ['--advertise', 'not-an-address'] }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/exited before listening \(code 1/);
    expect(err?.message).toMatch(/advertise/);
  });

  it('refuses a port something else already listens on', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      await expect(startBroker({ port })).rejects.toThrow(/already in use/);
    } finally {
      blocker.close();
    }
  });
});
