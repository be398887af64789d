/**
 * Cross-shard hop cost: the SharedArrayBuffer ring (src/shard/channel.ts) against postMessage, between the main
 * thread and one worker_thread.
 *
 * - ping-pong: one 64-byte message at a time, echoed back; a hop is half a round trip (median, p99, p99.9 in ns);
 * - streaming: messages sent back to back one way, the consumer draining in batches (messages/s).
 *
 * `node dist/bench/channel.js [--messages N]`
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import hdr from 'hdr-histogram-js';
import { ChannelReceiver, ChannelSender, createChannelBuffer } from '../src/shard/channel.js';

const channelModule = fileURLToPath(new URL('../src/shard/channel.js', import.meta.url));
const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg('--messages', 200_000);
const PINGS = Math.min(N, 50_000);

const workerCode = `
const { workerData, parentPort } = require('node:worker_threads');
import(${JSON.stringify(channelModule)}).then(async ({ ChannelReceiver, ChannelSender }) => {
  const alive = setInterval(() => undefined, 1000);
  if (workerData.mode === 'post-echo') {
    parentPort.on('message', (m) => { if (m === null) { clearInterval(alive); parentPort.close(); } else parentPort.postMessage(m); });
    return;
  }
  if (workerData.mode === 'post-sink') {
    let n = 0;
    parentPort.on('message', (m) => { if (++n === workerData.count) { parentPort.postMessage(n); clearInterval(alive); parentPort.close(); } });
    return;
  }
  const rx = new ChannelReceiver(workerData.in);
  const tx = workerData.out ? new ChannelSender(workerData.out) : null;
  let n = 0;
  while (n < workerData.count) {
    await rx.ready();
    if (tx) rx.drain((m) => { n++; while (!tx.trySend(m)); });
    else n += rx.drain(() => undefined);
  }
  if (!tx) parentPort.postMessage(n);
  clearInterval(alive);
});`;

function hist(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 10_000_000_000, numberOfSignificantValueDigits: 3 });
}

async function ringPingPong(): Promise<hdr.Histogram> {
  const a = createChannelBuffer(1 << 16);
  const b = createChannelBuffer(1 << 16);
  const w = new Worker(workerCode, { eval: true, workerData: { mode: 'ring-echo', in: a, out: b, count: PINGS } });
  const tx = new ChannelSender(a);
  const rx = new ChannelReceiver(b);
  const h = hist();
  const msg = new Uint8Array(64);
  for (let i = 0; i < PINGS; i++) {
    const t0 = process.hrtime.bigint();
    tx.trySend(msg);
    await rx.ready();
    rx.drain(() => undefined);
    h.recordValue(Number(process.hrtime.bigint() - t0) / 2);
  }
  await w.terminate();
  return h;
}

async function postPingPong(): Promise<hdr.Histogram> {
  const w = new Worker(workerCode, { eval: true, workerData: { mode: 'post-echo' } });
  const h = hist();
  const msg = new Uint8Array(64);
  await new Promise((r) => setTimeout(r, 50));
  for (let i = 0; i < PINGS; i++) {
    const t0 = process.hrtime.bigint();
    const back = new Promise((r) => w.once('message', r));
    w.postMessage(msg);
    await back;
    h.recordValue(Number(process.hrtime.bigint() - t0) / 2);
  }
  w.postMessage(null);
  await w.terminate();
  return h;
}

async function ringStream(): Promise<number> {
  const a = createChannelBuffer(1 << 20);
  const w = new Worker(workerCode, { eval: true, workerData: { mode: 'ring-sink', in: a, count: N } });
  const done = new Promise<number>((r) => w.once('message', r));
  const tx = new ChannelSender(a);
  const msg = new Uint8Array(64);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) if (!tx.trySend(msg)) await tx.send(msg);
  await done;
  const s = (performance.now() - t0) / 1000;
  await w.terminate();
  return N / s;
}

async function postStream(): Promise<number> {
  const w = new Worker(workerCode, { eval: true, workerData: { mode: 'post-sink', count: N } });
  await new Promise((r) => setTimeout(r, 50));
  const done = new Promise<number>((r) => w.once('message', r));
  const msg = new Uint8Array(64);
  const t0 = performance.now();
  for (let i = 0; i < N; i++) w.postMessage(msg);
  await done;
  const s = (performance.now() - t0) / 1000;
  await w.terminate();
  return N / s;
}

const fmt = (h: hdr.Histogram, p: number): string => (h.getValueAtPercentile(p) / 1000).toFixed(1);
const ring = await ringPingPong();
const post = await postPingPong();
const ringRate = await ringStream();
const postRate = await postStream();
console.log(`cross-shard hop, 64-byte messages, ${PINGS} ping-pongs / ${N} streamed (node ${process.version})`);
console.log('| channel | hop p50 µs | hop p99 µs | hop p99.9 µs | one-way stream msg/s |');
console.log('|---|---|---|---|---|');
console.log(`| SharedArrayBuffer ring | ${fmt(ring, 50)} | ${fmt(ring, 99)} | ${fmt(ring, 99.9)} | ${Math.round(ringRate).toLocaleString('en-US')} |`);
console.log(`| postMessage | ${fmt(post, 50)} | ${fmt(post, 99)} | ${fmt(post, 99.9)} | ${Math.round(postRate).toLocaleString('en-US')} |`);
