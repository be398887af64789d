import { Worker } from 'node:worker_threads';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../src/io/sim.js';
import { ChannelClosedError, ChannelReceiver, ChannelSender, createChannelBuffer } from '../../src/shard/channel.js';

const distChannel = path.resolve('dist/src/shard/channel.js');

function message(seq: number, size: number): Uint8Array {
  const m = new Uint8Array(size);
  for (let i = 0; i < size; i++) m[i] = (seq * 31 + i) & 0xff;
  return m;
}

function check(m: Uint8Array, seq: number, size: number): void {
  expect(m.length).toBe(size);
  for (let i = 0; i < size; i++) if (m[i] !== ((seq * 31 + i) & 0xff)) throw new Error(`message ${seq} byte ${i} wrong`);
}

describe('cross-shard channel (SPSC ring over SharedArrayBuffer)', () => {
  it('rejects capacities that are not powers of two in range', () => {
    expect(() => createChannelBuffer(1000)).toThrow(RangeError);
    expect(() => createChannelBuffer(512)).toThrow(RangeError);
    expect(() => createChannelBuffer(4096)).not.toThrow();
  });

  it('carries messages in order across many wraps, concatenating parts, as views', () => {
    const buf = createChannelBuffer(1024);
    const tx = new ChannelSender(buf);
    const rx = new ChannelReceiver(buf);
    const rand = mulberry32(7);
    let sent = 0;
    let received = 0;
    const sizes: number[] = [];
    for (let round = 0; round < 2000; round++) {
      const size = Math.floor(rand() * (tx.messageBytesMax + 1));
      const m = message(sent, size);
      const cut = Math.floor(rand() * (size + 1));
      if (!tx.trySend([m.subarray(0, cut), m.subarray(cut)])) {
        // Full: the consumer drains, then the same message must fit.
        rx.drain((got) => {
          check(got, received, sizes[received]!);
          expect(got.buffer).toBe(buf); // a view into the ring, not a copy
          received++;
        });
        expect(tx.trySend(m)).toBe(true);
      }
      sizes.push(size);
      sent++;
      expect(tx.usedBytes).toBeLessThanOrEqual(tx.capacityBytes);
    }
    rx.drain((got) => check(got, received, sizes[received++]!));
    expect(received).toBe(sent);
    expect(rx.usedBytes).toBe(0);
  });

  it('refuses a message larger than a quarter of the ring and a send on a closed channel', () => {
    const buf = createChannelBuffer(1024);
    const tx = new ChannelSender(buf);
    expect(() => tx.trySend(new Uint8Array(tx.messageBytesMax + 1))).toThrow(RangeError);
    tx.close();
    expect(() => tx.trySend(new Uint8Array(1))).toThrow(ChannelClosedError);
  });

  it('back-pressure: a full ring makes send wait until the consumer frees space', async () => {
    const buf = createChannelBuffer(1024);
    const tx = new ChannelSender(buf);
    const rx = new ChannelReceiver(buf);
    let accepted = 0;
    while (tx.trySend(new Uint8Array(200))) accepted++;
    expect(accepted).toBeGreaterThan(0);
    let sentLate = false;
    const late = tx.send(new Uint8Array(200)).then(() => (sentLate = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(sentLate).toBe(false); // still waiting: the ring is full
    expect(rx.drain(() => undefined)).toBe(accepted);
    await late;
    expect(sentLate).toBe(true);
    expect(rx.drain(() => undefined)).toBe(1);
  });

  it('closing wakes a waiting receiver', async () => {
    const buf = createChannelBuffer(1024);
    const rx = new ChannelReceiver(buf);
    const done = rx.run(() => undefined);
    new ChannelSender(buf).close();
    await expect(done).resolves.toBeUndefined();
  });

  it('between threads: 20,000 messages of random sizes arrive intact and in order under back-pressure', async () => {
    const toWorker = createChannelBuffer(4096); // small: the producer must wait often
    const fromWorker = createChannelBuffer(4096);
    const count = 20_000;
    // The worker echoes every message back, slowly at times, then closes.
    const worker = new Worker(
      `const { workerData } = require('node:worker_threads');
       import(${JSON.stringify(distChannel)}).then(async ({ ChannelReceiver, ChannelSender }) => {
         const rx = new ChannelReceiver(workerData.toWorker);
         const tx = new ChannelSender(workerData.fromWorker);
         const alive = setInterval(() => undefined, 1000); // waitAsync alone does not keep a thread's loop alive
         let n = 0;
         while (n < workerData.count) {
           await rx.ready();
           const batch = [];
           rx.drain((m) => batch.push(m.slice()), 64);
           if (n % 1000 < 64) await new Promise((r) => setTimeout(r, 1)); // a slow consumer now and then
           for (const m of batch) await tx.send(m);
           n += batch.length;
         }
         clearInterval(alive);
       });`,
      { eval: true, workerData: { toWorker, fromWorker, count } },
    );
    try {
      const tx = new ChannelSender(toWorker);
      const rx = new ChannelReceiver(fromWorker);
      const rand = mulberry32(11);
      const sizes = Array.from({ length: count }, () => Math.floor(rand() * 900));
      let received = 0;
      const receiving = (async () => {
        while (received < count) {
          await rx.ready();
          rx.drain((m) => check(m, received, sizes[received++]!));
        }
      })();
      let maxUsed = 0;
      for (let i = 0; i < count; i++) {
        await tx.send(message(i, sizes[i]!));
        maxUsed = Math.max(maxUsed, tx.usedBytes);
      }
      await receiving;
      expect(received).toBe(count);
      expect(maxUsed).toBeLessThanOrEqual(4096);
    } finally {
      await worker.terminate();
    }
  });
});
