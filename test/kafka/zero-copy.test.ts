/**
 * Zero copy, proven by counting: no record bytes are copied in JS between the socket and the disk (Produce), nor
 * between the batch cache and the socket (Fetch).
 *
 * How: a producer in a child process (so that no client code runs in this process) sends Produce requests of
 * 64 KiB to 1.1 MiB over a real loopback socket in seeded 1-16 KiB writes (the first of each frame 1-64 bytes,
 * so request headers straddle too), so every frame and every batch straddles many socket reads, then Fetches
 * it all back from the batch cache. While it runs, every JS copying
 * primitive in this process (Buffer.concat, Buffer#copy, TypedArray#set/#slice, Buffer.from(view),
 * Buffer.copyBytesFrom, Uint8Array.from, ArrayBuffer#slice) is wrapped and each call recorded with its size and
 * the stack that made it. The broker's code is the only code of this repository running here, so a call whose
 * stack passes through src/ is a broker copy.
 * Asserted:
 * - no broker copy is larger than a header temp (61 bytes): no record, batch or frame was copied, not even in
 *   part (a join of a frame or of a batch would be at least one socket read, over 1 KiB here);
 * - what the broker copied is exactly what copy-meter.ts attributes (straddling header fields), bounded by a
 *   small constant per frame; no frame join, no field join of records, no cache compaction;
 * - the bytes in the segment files, and the bytes fetched back, are the bytes sent with only baseOffset and
 *   partitionLeaderEpoch rewritten.
 * The instrument itself is checked: a frame joined by FrameParser.push() shows up as a broker copy of its size.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FrameParser } from '../../src/protocol/frame-parser.js';
import { copyCounts, resetCopyCounts, STRADDLE_TEMP_BYTES_MAX, type CopyCounts } from '../../src/protocol/copy-meter.js';
import { decodeResponse, encodeRequest } from '../../src/protocol/frame.js';
import { ApiKey, type FetchResponse, type ProduceResponse } from '../../src/protocol/messages/index.js';
import { buildRecordBatch, writeInt64, PARTITION_LEADER_EPOCH_OFFSET } from '../../src/protocol/records.js';
import { segmentFileName } from '../../src/log/index.js';
import { Rng } from '../protocol/spec-model.js';
import { WireClient, createTopic, fetchBody, tempDataDir, testBroker } from './helpers.js';

const REPO_SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src') + path.sep;

// ---------------------------------------------------------------------------------------------------------------
// The instrument

interface CopyEvent {
  primitive: string;
  bytes: number;
  /** The stack passes through the repository's src/: the broker copied. */
  broker: boolean;
  stack: string;
}

/** Wraps every JS copying primitive until the returned `stop()`; each call becomes a CopyEvent. */
function spyOnCopies(): { events: CopyEvent[]; stop: () => void } {
  const events: CopyEvent[] = [];
  const restores: (() => void)[] = [];
  let inside = false; // a primitive implemented with another one is counted once, at the outer call
  const record = (primitive: string, bytes: number): void => {
    const stack = new Error().stack ?? '';
    events.push({ primitive, bytes, broker: stack.includes(REPO_SRC), stack });
  };
  function wrap<T extends object>(owner: T, name: string, label: string, bytesOf: (self: unknown, args: unknown[], result: unknown) => number | null): void {
    const original = (owner as Record<string, unknown>)[name] as (...a: unknown[]) => unknown;
    const wrapped = function (this: unknown, ...args: unknown[]): unknown {
      if (inside) return original.apply(this, args);
      inside = true;
      try {
        const result = original.apply(this, args);
        const bytes = bytesOf(this, args, result);
        if (bytes !== null && bytes > 0) record(label, bytes);
        return result;
      } finally {
        inside = false;
      }
    };
    Object.defineProperty(owner, name, { value: wrapped, writable: true, configurable: true });
    restores.push(() => Object.defineProperty(owner, name, { value: original, writable: true, configurable: true }));
  }
  const TypedArrayProto = Object.getPrototypeOf(Uint8Array.prototype) as object;
  const TypedArray = Object.getPrototypeOf(Uint8Array) as object;
  const isView = (x: unknown): x is ArrayBufferView => ArrayBuffer.isView(x);
  wrap(Buffer, 'concat', 'Buffer.concat', (_s, _a, r) => (r as Buffer).length);
  wrap(Buffer.prototype, 'copy', 'Buffer#copy', (_s, _a, r) => r as number);
  wrap(Buffer, 'from', 'Buffer.from(copy)', (_s, a, r) => (isView(a[0]) || Array.isArray(a[0]) ? (r as Buffer).length : null));
  wrap(Buffer, 'copyBytesFrom', 'Buffer.copyBytesFrom', (_s, _a, r) => (r as Buffer).length);
  wrap(TypedArrayProto, 'set', 'TypedArray#set', (_s, a) => ((a[0] as ArrayLike<number>).length ?? 0));
  wrap(TypedArrayProto, 'slice', 'TypedArray#slice', (s, _a, r) => (Buffer.isBuffer(s) ? null : (r as Uint8Array).byteLength));
  wrap(TypedArray, 'from', 'TypedArray.from', (_s, _a, r) => (r as Uint8Array).byteLength);
  wrap(ArrayBuffer.prototype, 'slice', 'ArrayBuffer#slice', (_s, _a, r) => (r as ArrayBuffer).byteLength);
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 200;
  return {
    events,
    stop: () => {
      for (const r of restores.reverse()) r();
      Error.stackTraceLimit = limit;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The producer: a child process that writes frames in small pieces and collects the responses

/** Sends each frame of `frames` (whole request frames, size prefix included) in seeded 1-16 KiB writes, yielding
 * to the event loop between writes, waits for one response frame per request, and writes them to `outFile`. */
const PRODUCER = `
import net from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
const [port, inFile, outFile, seedArg] = process.argv.slice(2);
let seed = Number(seedArg) >>> 0;
const rand = () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed / 2 ** 32; };
const input = readFileSync(inFile);
const frames = [];
for (let p = 0; p < input.length; ) { const n = input.readUInt32BE(p); frames.push(input.subarray(p + 4, p + 4 + n)); p += 4 + n; }
const socket = net.connect(Number(port), '127.0.0.1');
socket.setNoDelay(true);
let buf = Buffer.alloc(0);
let want = null;
socket.on('data', (c) => { buf = Buffer.concat([buf, c]); if (want) want(); });
const response = () => new Promise((resolve) => {
  want = () => {
    if (buf.length < 4 || buf.length < 4 + buf.readInt32BE(0)) return;
    const n = buf.readInt32BE(0); const f = buf.subarray(0, 4 + n); buf = buf.subarray(4 + n); want = null; resolve(f);
  };
  want();
});
await new Promise((r) => socket.once('connect', r));
const out = [];
for (const f of frames) {
  for (let p = 0; p < f.length; ) {
    // the first piece of a frame is short, so that its header fields straddle reads
    const n = p === 0 ? 1 + Math.floor(rand() * 64) : 1024 + Math.floor(rand() * 15 * 1024);
    socket.write(f.subarray(p, p + n));
    p += n;
    await new Promise((r) => setImmediate(r));
  }
  out.push(await response());
}
writeFileSync(outFile, Buffer.concat(out));
socket.destroy();
`;

/** Writes the producer and its input; `run` starts it and resolves when it exits, `responses` reads its output. */
function prepareProducer(frames: Buffer[], dir: string, seed: number): { run: (port: number) => Promise<void>; responses: () => Buffer[] } {
  const script = path.join(dir, 'producer.mjs');
  const inFile = path.join(dir, 'requests.bin');
  const outFile = path.join(dir, 'responses.bin');
  writeFileSync(script, PRODUCER);
  const lengths = frames.map((f) => {
    const n = Buffer.alloc(4);
    n.writeUInt32BE(f.length, 0);
    return n;
  });
  writeFileSync(inFile, Buffer.concat(frames.flatMap((f, i) => [lengths[i]!, f])));
  const run = (port: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [script, String(port), inFile, outFile, String(seed)], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`producer exited with ${code}: ${stderr}`))));
    });
  const responses = (): Buffer[] => {
    const out = readFileSync(outFile);
    const list: Buffer[] = [];
    for (let p = 0; p < out.length; ) {
      const n = out.readInt32BE(p);
      list.push(out.subarray(p + 4, p + 4 + n));
      p += 4 + n;
    }
    return list;
  };
  return { run, responses };
}

// ---------------------------------------------------------------------------------------------------------------

/** A batch of about `bytes` bytes: records of seeded sizes (some large) and content. */
function batchOf(rng: Rng, bytes: number): Buffer {
  const records = [];
  for (let total = 0; total < bytes; ) {
    const size = rng.chance(0.05) ? rng.int(20_000, 100_000) : rng.int(10, 2000);
    const value = rng.bytes(Math.min(size, bytes - total + 10));
    records.push({ key: rng.chance(0.5) ? null : rng.bytes(rng.int(1, 30)), value, headers: rng.chance(0.2) ? [{ key: 'h', value: rng.bytes(5) }] : [] });
    total += value.length + 20;
  }
  return buildRecordBatch(records, { nowMs: 1_700_000_000_000 });
}

/** `sent` as the log stores it: baseOffset and partitionLeaderEpoch rewritten, nothing else. */
function asStored(sent: Buffer, baseOffset: number): Buffer {
  const b = Buffer.from(sent);
  writeInt64(b, 0, baseOffset);
  b.writeInt32BE(0, PARTITION_LEADER_EPOCH_OFFSET);
  return b;
}

const TOPIC = 'zero-copy';
const SEED = 20_240_611;
const fmt = (c: CopyCounts): string => Object.entries(c).map(([k, v]) => `${k} ${v.count}x/${v.bytes}B`).join(', ');

describe('zero copy between socket, disk and cache (counted)', () => {
  it('the instrument sees a frame join: FrameParser.push() copies a split frame, attributed to the broker code', () => {
    const frame = Buffer.alloc(4 + 10_000, 1);
    frame.writeInt32BE(10_000, 0);
    const spy = spyOnCopies();
    try {
      new FrameParser(1 << 20).push(frame.subarray(0, 3000), () => undefined);
      new FrameParser(1 << 20).push(frame.subarray(0, 3000), () => undefined);
      const p = new FrameParser(1 << 20);
      p.push(frame.subarray(0, 3000), () => undefined);
      p.push(frame.subarray(3000), () => undefined);
    } finally {
      spy.stop();
    }
    expect(spy.events.filter((e) => e.broker && e.bytes === 10_000).map((e) => e.primitive)).toEqual(['Buffer.concat']);
  });

  it('produces 64 KiB-1.1 MiB requests in 1-16 KiB writes and fetches them from the cache without copying a record byte', async () => {
    const tb = await testBroker();
    const admin = await WireClient.connect(tb.port);
    await createTopic(admin, TOPIC, 2, { 'max.message.bytes': String(4 << 20) });
    const rng = new Rng(SEED);
    // Requests (partition -> batches) built before the window; v9 is flexible (compact strings, tagged fields).
    const plan: { version: number; parts: { partition: number; batch: Buffer }[] }[] = [
      { version: 9, parts: [{ partition: 0, batch: batchOf(rng, 64 * 1024) }] },
      { version: 7, parts: [{ partition: 1, batch: batchOf(rng, 256 * 1024) }] },
      { version: 9, parts: [{ partition: 0, batch: batchOf(rng, 1024 * 1024) }, { partition: 1, batch: batchOf(rng, 128 * 1024) }] },
    ];
    const frames = plan.map((req, i) =>
      Buffer.concat(
        encodeRequest(ApiKey.Produce, req.version, 100 + i, 'zero-copy-test', {
          transactionalId: null,
          acks: -1,
          timeoutMs: 10_000,
          topicData: [{ name: TOPIC, partitionData: req.parts.map((p) => ({ index: p.partition, records: p.batch })) }],
        }),
      ),
    );
    const fetchBodyBoth = fetchBody(TOPIC, 0, 0, { partitionMaxBytes: 8 << 20 });
    fetchBodyBoth.topics[0]!.partitions.push({ ...fetchBodyBoth.topics[0]!.partitions[0]!, partition: 1 });
    frames.push(Buffer.concat(encodeRequest(ApiKey.Fetch, 11, 200, 'zero-copy-test', fetchBodyBoth)));
    const sentBytes = frames.reduce((n, f) => n + f.length, 0);
    // What each partition's log must hold afterwards, in order.
    const expected: Buffer[][] = [[], []];
    const next = [0, 0];
    for (const req of plan) {
      for (const p of req.parts) {
        expected[p.partition]!.push(asStored(p.batch, next[p.partition]!));
        next[p.partition]! += p.batch.readInt32BE(57); // recordCount
      }
    }

    const producer = prepareProducer(frames, tempDataDir('tern-zero-copy-'), SEED);

    // --- the window: only the broker's code runs in this process -------------------------------------------
    resetCopyCounts();
    const spy = spyOnCopies();
    try {
      await producer.run(tb.port);
    } finally {
      spy.stop();
    }
    const meter = copyCounts();
    // ---------------------------------------------------------------------------------------------------------
    const responses = producer.responses();

    const broker = spy.events.filter((e) => e.broker);
    const report = `broker copies: ${broker.length} calls, ${broker.reduce((n, e) => n + e.bytes, 0)} bytes; meter: ${fmt(meter)}`;
    // Every response came back, and produced without error.
    expect(responses).toHaveLength(frames.length);
    for (let i = 0; i < plan.length; i++) {
      const res = decodeResponse(ApiKey.Produce, plan[i]!.version, responses[i]!).body as ProduceResponse;
      for (const p of res.responses[0]!.partitionResponses) expect(p.errorCode, `request ${i} partition ${p.index}`).toBe(0);
    }

    // 1. No broker copy anywhere near record size: the largest is a header temp.
    const largest = broker.reduce<CopyEvent | null>((m, e) => (m === null || e.bytes > m.bytes ? e : m), null);
    expect(largest === null || largest.bytes <= STRADDLE_TEMP_BYTES_MAX, `${report}\nlargest copy:\n${largest?.primitive} ${largest?.bytes}B\n${largest?.stack}`).toBe(true);
    // 2. Everything the broker copied is attributed by the meter (straddling header fields), and that is bounded
    //    per frame: the non-record fields of a request (under 100 bytes) plus one header temp and one length
    //    field per batch.
    const attributed = meter.straddleTemp.bytes + meter.fieldJoin.bytes;
    expect(broker.reduce((n, e) => n + e.bytes, 0), report).toBe(attributed);
    expect(meter.frameJoin.count + meter.cacheCompact.count, report).toBe(0);
    const batches = plan.reduce((n, r) => n + r.parts.length, 0);
    const perFrameBound = 100;
    expect(attributed, report).toBeLessThanOrEqual(frames.length * perFrameBound + batches * (STRADDLE_TEMP_BYTES_MAX + 4));
    // The frames did straddle reads: well over one read per frame (at most 16 KiB per write, 64 KiB per read).
    expect(sentBytes).toBeGreaterThan(1.4 * 1024 * 1024);
    // Nothing else in this process copied record-sized data either (the test's own code ran before the window).
    const others = spy.events.filter((e) => !e.broker && e.bytes > 1024);
    expect(others.map((e) => `${e.primitive} ${e.bytes}B\n${e.stack}`)).toEqual([]);

    // 3. The bytes fetched back from the cache and the bytes on disk are the bytes sent (offsets rewritten).
    const fetched = decodeResponse(ApiKey.Fetch, 11, responses[plan.length]!).body as FetchResponse;
    const parts = fetched.responses[0]!.partitions;
    for (const partition of [0, 1]) {
      const want = Buffer.concat(expected[partition]!);
      const got = parts.find((p) => p.partitionIndex === partition)!.records;
      expect(got === null ? null : Buffer.compare(Buffer.isBuffer(got) ? got : Buffer.concat(got as Buffer[]), want)).toBe(0);
    }
    admin.destroy();
    await tb.close();
    for (const partition of [0, 1]) {
      const onDisk = readFileSync(path.join(tb.dataDir, `${TOPIC}-${partition}`, segmentFileName(0, '.log')));
      expect(Buffer.compare(onDisk, Buffer.concat(expected[partition]!)), `partition ${partition} on disk`).toBe(0);
    }
    console.log(`zero-copy: ${(sentBytes / 1024).toFixed(0)} KiB in ${frames.length} frames; ${report}`);
  });
});
