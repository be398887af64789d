/**
 * Cross-shard hop cost: the SharedArrayBuffer ring (src/shard/channel.ts) against postMessage, between the main
 * thread and one worker_thread, plus the ShardLink call (src/shard/rpc.ts: frame + JSON header over two rings)
 * that a cross-shard produce really pays.
 *
 * - ping-pong: one message at a time, echoed back; a hop is half a round trip (median, p99, p99.9 in µs). Both
 *   sides sleep between messages (Atomics.waitAsync for the ring, the event loop for postMessage), which is the
 *   state of a shard that is not saturated: the figure includes the wake-up.
 * - streaming: messages sent back to back one way, the consumer draining in batches (messages/s).
 *
 * - idle: ping-pongs 1 ms apart (`--idle-gap-ms`), so both threads are asleep when a message comes, as a shard
 *   between requests is: the wake-up (futex, scheduler) is then most of the hop.
 *
 * `node dist/bench/channel.js [--messages N] [--bytes 64,1024] [--idle-gap-ms 1]`; bench/shards.ts runs the same functions.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath, pathToFileURL } from 'node:url';
import hdr from 'hdr-histogram-js';
import { ChannelReceiver, ChannelSender, createChannelBuffer } from '../src/shard/channel.js';
import { ShardLink } from '../src/shard/rpc.js';

const channelModule = fileURLToPath(new URL('../src/shard/channel.js', import.meta.url));
const rpcModule = fileURLToPath(new URL('../src/shard/rpc.js', import.meta.url));
/** Ring size of the ping-pong and rpc measurements: the broker's default shardChannelBytes. */
const RING_BYTES = 4 * 1024 * 1024;

const workerCode = `
const { workerData, parentPort } = require('node:worker_threads');
Promise.all([import(${JSON.stringify(channelModule)}), import(${JSON.stringify(rpcModule)})]).then(async ([{ ChannelReceiver, ChannelSender }, { ShardLink }]) => {
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
  if (workerData.mode === 'rpc-echo') {
    // The peer shard's side of a ShardLink: answers every call with its payloads (a copy out of the ring).
    new ShardLink(0, workerData.out, workerData.in, async (op, args, payloads) => ({ result: null, payloads }));
    parentPort.postMessage('ready');
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
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 10_000_000_000, numberOfSignificantValueDigits: 3, useWebAssembly: false });
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const hopNs = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 2;

async function ringPingPong(pings: number, bytes: number, gapMs = 0): Promise<hdr.Histogram> {
  const a = createChannelBuffer(RING_BYTES);
  const b = createChannelBuffer(RING_BYTES);
  const w = new Worker(workerCode, { eval: true, workerData: { mode: 'ring-echo', in: a, out: b, count: pings } });
  const tx = new ChannelSender(a);
  const rx = new ChannelReceiver(b);
  const h = hist();
  const msg = new Uint8Array(bytes);
  for (let i = 0; i < pings; i++) {
    if (gapMs > 0) await pause(gapMs);
    const t0 = process.hrtime.bigint();
    tx.trySend(msg);
    await rx.ready();
    rx.drain(() => undefined);
    h.recordValue(hopNs(t0));
  }
  await w.terminate();
  return h;
}

async function postPingPong(pings: number, bytes: number, gapMs = 0): Promise<hdr.Histogram> {
  const w = new Worker(workerCode, { eval: true, workerData: { mode: 'post-echo' } });
  const h = hist();
  const msg = new Uint8Array(bytes);
  await new Promise((r) => setTimeout(r, 50));
  for (let i = 0; i < pings; i++) {
    if (gapMs > 0) await pause(gapMs);
    const t0 = process.hrtime.bigint();
    const back = new Promise((r) => w.once('message', r));
    w.postMessage(msg);
    await back;
    h.recordValue(hopNs(t0));
  }
  w.postMessage(null);
  await w.terminate();
  return h;
}

async function rpcPingPong(pings: number, bytes: number, gapMs = 0): Promise<hdr.Histogram> {
  const a = createChannelBuffer(RING_BYTES);
  const b = createChannelBuffer(RING_BYTES);
  const w = new Worker(workerCode, { eval: true, workerData: { mode: 'rpc-echo', in: a, out: b } });
  await new Promise((r) => w.once('message', r));
  const link = new ShardLink(1, a, b, () => Promise.reject(new Error('not served here')));
  const h = hist();
  const payload = Buffer.alloc(bytes, 0x5a);
  const args = { topic: 'bench-t0', partition: 0, apiVersion: 9 };
  for (let i = 0; i < pings; i++) {
    if (gapMs > 0) await pause(gapMs);
    const t0 = process.hrtime.bigint();
    await link.call('produce', args, [payload]);
    h.recordValue(hopNs(t0));
  }
  link.close();
  await w.terminate();
  return h;
}

async function ringStream(count: number, bytes: number): Promise<number> {
  const a = createChannelBuffer(1 << 20);
  const w = new Worker(workerCode, { eval: true, workerData: { mode: 'ring-sink', in: a, count } });
  const done = new Promise<number>((r) => w.once('message', r));
  const tx = new ChannelSender(a);
  const msg = new Uint8Array(bytes);
  const t0 = performance.now();
  for (let i = 0; i < count; i++) if (!tx.trySend(msg)) await tx.send(msg);
  await done;
  const s = (performance.now() - t0) / 1000;
  await w.terminate();
  return count / s;
}

async function postStream(count: number, bytes: number): Promise<number> {
  const w = new Worker(workerCode, { eval: true, workerData: { mode: 'post-sink', count } });
  await new Promise((r) => setTimeout(r, 50));
  const done = new Promise<number>((r) => w.once('message', r));
  const msg = new Uint8Array(bytes);
  const t0 = performance.now();
  for (let i = 0; i < count; i++) w.postMessage(msg);
  await done;
  const s = (performance.now() - t0) / 1000;
  await w.terminate();
  return count / s;
}

export type HopChannel = 'ring' | 'postMessage' | 'shardLink';

export interface HopRow {
  channel: HopChannel;
  bytes: number;
  pings: number;
  /** Idle time before each ping, ms (0: back to back); both threads go to sleep in the gap, as between requests. */
  gapMs: number;
  /** One hop (half a round trip), µs. */
  p50Us: number;
  p99Us: number;
  p999Us: number;
  /** One-way streaming rate, messages/s (null: not measured for this channel). */
  streamMsgsPerSec: number | null;
}

const us = (h: hdr.Histogram, p: number): number => h.getValueAtPercentile(p) / 1000;
const row = (channel: HopChannel, bytes: number, pings: number, gapMs: number, h: hdr.Histogram, rate: number | null): HopRow => ({
  channel,
  bytes,
  pings,
  gapMs,
  p50Us: us(h, 50),
  p99Us: us(h, 99),
  p999Us: us(h, 99.9),
  streamMsgsPerSec: rate,
});

/**
 * Every channel at every size: ping-pong hops back to back and (ring, postMessage) one-way streaming; then, with
 * `idleGapMs`, `idlePings` ping-pongs of 1 KiB with that idle time before each (a shard between requests).
 */
export async function measureHops(opts: { messages: number; sizes: readonly number[]; idleGapMs?: number; idlePings?: number }): Promise<HopRow[]> {
  const pings = Math.min(opts.messages, 50_000);
  const out: HopRow[] = [];
  for (const bytes of opts.sizes) {
    out.push(row('ring', bytes, pings, 0, await ringPingPong(pings, bytes), await ringStream(opts.messages, bytes)));
    out.push(row('postMessage', bytes, pings, 0, await postPingPong(pings, bytes), await postStream(opts.messages, bytes)));
    out.push(row('shardLink', bytes, pings, 0, await rpcPingPong(pings, bytes), null));
  }
  const gap = opts.idleGapMs ?? 0;
  if (gap > 0) {
    const n = opts.idlePings ?? 2000;
    out.push(row('ring', 1024, n, gap, await ringPingPong(n, 1024, gap), null));
    out.push(row('postMessage', 1024, n, gap, await postPingPong(n, 1024, gap), null));
    out.push(row('shardLink', 1024, n, gap, await rpcPingPong(n, 1024, gap), null));
  }
  return out;
}

export const HOP_LABELS: Record<HopChannel, string> = {
  ring: 'SharedArrayBuffer ring (channel.ts)',
  postMessage: 'postMessage (structured clone)',
  shardLink: 'ShardLink call (rpc.ts over two rings)',
};

export function hopTable(rows: readonly HopRow[]): string {
  const lines = ['| channel | message bytes | idle before each ping | hop p50 µs | hop p99 µs | hop p99.9 µs | one-way stream msg/s |', '|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    const rate = r.streamMsgsPerSec === null ? 'n/a' : Math.round(r.streamMsgsPerSec).toLocaleString('en-US');
    lines.push(`| ${HOP_LABELS[r.channel]} | ${r.bytes} | ${r.gapMs > 0 ? `${r.gapMs} ms` : 'none'} | ${r.p50Us.toFixed(1)} | ${r.p99Us.toFixed(1)} | ${r.p999Us.toFixed(1)} | ${rate} |`);
  }
  return lines.join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name: string, dflt: string): string => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1]! : dflt;
  };
  const messages = Number(arg('--messages', '200000'));
  const sizes = arg('--bytes', '64').split(',').map(Number);
  const rows = await measureHops({ messages, sizes, idleGapMs: Number(arg('--idle-gap-ms', '1')) });
  console.log(`cross-shard hop, ${Math.min(messages, 50_000)} ping-pongs / ${messages} streamed per size (node ${process.version})`);
  console.log(hopTable(rows));
}
