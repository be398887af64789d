/**
 * Wire fuzzing against a live broker process (design.md, "Limits are explicit": bad input gets a Kafka error
 * code or a closed connection, never a crash, never an allocation sized by the peer).
 *
 * A seeded storm (TERN_FUZZ_SEED, TERN_FUZZ_MS) of random frames and mutated valid frames over many
 * connections: bit flips, truncations, length fields and array counts set to extremes (2^31-1, -1, 2^32-1
 * varints), unknown API keys and versions, garbage, splices, 2 GiB size prefixes, slowloris partial frames, and
 * clients that pipeline Fetches without ever reading. Meanwhile a well-behaved client produces and consumes
 * and must keep getting correct answers in time; the broker must stay alive with bounded RSS.
 *
 * The valid frames come from src/protocol's generated encoders (every API key and version, default bodies,
 * plus real Produce/Fetch/Metadata/ListOffsets bodies); the good client uses the suite's independent codec.
 */
import net from 'node:net';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeRequest } from '../../src/protocol/frame.js';
import { API_SPECS } from '../../src/protocol/messages/index.js';
import { launch, type E2EBroker } from './lib/broker.js';
import { requireTools, sleep } from './lib/proc.js';
import { encodeBatch } from './lib/records.js';
import { W, WireClient } from './lib/wire.js';
import { prng } from './lib/workload.js';

const SEED = Number(process.env.TERN_FUZZ_SEED ?? 0x7e57);
const FUZZ_MS = Number(process.env.TERN_FUZZ_MS ?? 20_000);
/**
 * Broker RSS bound during the storm. Measured: ~90 MiB idle, ~120 MiB peak. Its own limits allow more (64 MiB
 * response queue per connection x 2 non-reading clients), so 384 MiB leaves room for those; a peer-sized
 * allocation (2 GiB prefix, 2^31-1 counts) or an unbounded queue goes far past it.
 */
const RSS_BYTES_MAX = Number(process.env.TERN_FUZZ_RSS_MAX ?? 384 * 1024 * 1024);
const GOOD_OP_TIMEOUT_MS = 10_000;
const FUZZ_CONNECTIONS = 12;
const SLOWLORIS_CONNECTIONS = 40;
const NON_READER_CONNECTIONS = 2;

const GOOD = 'fuzz-good';
const JUNK = 'fuzz-junk';

let broker: E2EBroker;
const tag = `[seed ${SEED}; rerun with TERN_FUZZ_SEED=${SEED}]`;

beforeAll(async () => {
  requireTools();
  // Two shards, as the other e2e suites (TERN_FUZZ_SMP to change): the junk partitions and the good client's
  // connections land on either shard, so the storm crosses shards. (Pipelined Fetches crossing shards used to
  // reach ~500 MiB: each copied its response over the ring; fetchesInFlightPerConnectionMax bounds them.)
  broker = await launch({ args: ['--smp', process.env.TERN_FUZZ_SMP ?? '2'] });
  const c = await WireClient.connect(broker.port);
  try {
    expect(await c.createTopic(GOOD, 2)).toBe(0);
    expect(await c.createTopic(JUNK, 2)).toBe(0);
    // some data for the Fetch floods to read (about 4 MiB in partition 0)
    for (let i = 0; i < 16; i++) {
      const res = await c.produce(GOOD, 0, encodeBatch(Array.from({ length: 16 }, (_, j) => ({ key: null, value: Buffer.alloc(16 * 1024, 97 + ((i + j) % 26)) }))), -1);
      expect(res.errorCode).toBe(0);
    }
  } finally {
    c.close();
  }
});

afterAll(async () => {
  await broker?.kill();
});

// ---------------------------------------------------------------------------------------------------------
// corpus of valid frames

function frame(chunks: Buffer[]): Buffer {
  return Buffer.concat(chunks);
}

function buildCorpus(): Buffer[] {
  const out: Buffer[] = [];
  const batch = encodeBatch([
    { key: Buffer.from('k'), value: Buffer.from('fuzz-value'), headers: [['h', Buffer.from('v')]] },
    { key: null, value: Buffer.from('second') },
  ]);
  let corr = 1;
  for (const spec of API_SPECS.values()) {
    // creating partitions and topics is left out of bit-level mutation: a flipped high bit in NumPartitions
    // is a legitimate request for 100,000 partitions, which tests disk space rather than the parser
    if (spec.key === 19 || spec.key === 37) continue;
    for (let v = spec.minVersion; v <= spec.maxVersion; v++) {
      try {
        out.push(frame(encodeRequest(spec.key, v, corr++, 'fuzz', {})));
      } catch {
        /* a default body that cannot be encoded at this version: skip */
      }
    }
  }
  const rich: [number, (v: number) => unknown][] = [
    [0, () => ({ acks: 1, timeoutMs: 1000, topicData: [{ name: JUNK, partitionData: [{ index: 0, records: batch }, { index: 1, records: batch }] }] })],
    [
      1,
      () => ({
        replicaId: -1,
        maxWaitMs: 10,
        minBytes: 1,
        maxBytes: 1 << 20,
        topics: [{ topic: JUNK, partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20 }] }],
      }),
    ],
    [3, () => ({ topics: [{ name: JUNK }, { name: GOOD }], allowAutoTopicCreation: false })],
    [2, () => ({ replicaId: -1, topics: [{ name: JUNK, partitions: [{ partitionIndex: 0, timestamp: -1 }, { partitionIndex: 1, timestamp: 0 }] }] })],
  ];
  for (const [key, body] of rich) {
    const spec = API_SPECS.get(key)!;
    for (let v = spec.minVersion; v <= spec.maxVersion; v++) {
      try {
        const f = frame(encodeRequest(key, v, corr++, 'fuzz', body(v)));
        out.push(f, f); // weight the data-path APIs double
      } catch {
        /* skip */
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// mutations

type Rnd = () => number;
const int = (rnd: Rnd, n: number) => Math.floor(rnd() * n);
const pick = <T>(rnd: Rnd, xs: readonly T[]): T => xs[int(rnd, xs.length)]!;

function withSize(body: Buffer): Buffer {
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length);
  return Buffer.concat([size, body]);
}

const EXTREME16 = [0x7fff, 0xffff, 0x8000, 0x0000];
const EXTREME32 = [0x7fffffff, 0xffffffff, 0x80000000, 0x7ffffff0, 0x00000000, 0x40000000];

/** One mutated frame (with its size prefix) and the name of the mutation, for the log. */
function mutate(rnd: Rnd, corpus: Buffer[]): { bytes: Buffer; kind: string } {
  const base = pick(rnd, corpus);
  const body = Buffer.from(base.subarray(4)); // copy: mutations must not change the corpus
  const r = rnd();
  if (r < 0.1) return { bytes: withSize(body), kind: 'valid' };
  if (r < 0.35) {
    const flips = 1 + int(rnd, 8);
    for (let i = 0; i < flips; i++) {
      const pos = 4 + int(rnd, Math.max(1, body.length - 4)); // keep api key/version mostly intact
      if (pos < body.length) body[pos]! ^= 1 << int(rnd, 8);
    }
    return { bytes: withSize(body), kind: 'bitflip' };
  }
  if (r < 0.45) return { bytes: withSize(body.subarray(0, int(rnd, body.length))), kind: 'truncate' };
  if (r < 0.5) {
    // size prefix says more than is sent: the broker waits for bytes that are the next frames
    const cut = body.subarray(0, int(rnd, body.length));
    const size = Buffer.alloc(4);
    size.writeInt32BE(body.length);
    return { bytes: Buffer.concat([size, cut]), kind: 'truncate-unframed' };
  }
  if (r < 0.68) {
    const n = 1 + int(rnd, 3);
    for (let i = 0; i < n && body.length >= 12; i++) {
      const pos = 8 + int(rnd, body.length - 8);
      if (rnd() < 0.5 && pos + 2 <= body.length) body.writeUInt16BE(pick(rnd, EXTREME16), pos);
      else if (pos + 4 <= body.length) body.writeUInt32BE(pick(rnd, EXTREME32), pos);
    }
    return { bytes: withSize(body), kind: 'extreme-int' };
  }
  if (r < 0.73) {
    // a compact (flexible) length or count of 2^32-1 spliced in
    const pos = 8 + int(rnd, Math.max(1, body.length - 8));
    const varint = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]);
    return { bytes: withSize(Buffer.concat([body.subarray(0, pos), varint, body.subarray(pos + 1)])), kind: 'extreme-varint' };
  }
  if (r < 0.83) {
    if (rnd() < 0.5) body.writeInt16BE(pick(rnd, [-1, 99, 1000, 32767, -32768, 68, 69, 71, 72, int(rnd, 200)]), 0);
    else body.writeInt16BE(pick(rnd, [-1, 32767, 100, body.readInt16BE(2) + 1, body.readInt16BE(2) + 50]), 2);
    return { bytes: withSize(body), kind: 'unknown-api-or-version' };
  }
  if (r < 0.91) {
    const g = Buffer.alloc(int(rnd, 2000));
    for (let i = 0; i < g.length; i++) g[i] = int(rnd, 256);
    return { bytes: withSize(g), kind: 'garbage' };
  }
  if (r < 0.94) {
    const other = pick(rnd, corpus).subarray(4);
    return { bytes: withSize(Buffer.concat([body.subarray(0, int(rnd, body.length)), other.subarray(int(rnd, other.length))])), kind: 'splice' };
  }
  if (r < 0.97) {
    // client id length set huge in an otherwise valid header
    if (body.length >= 10) body.writeInt16BE(0x7fff, 8);
    return { bytes: withSize(body), kind: 'header-clientid' };
  }
  const size = Buffer.alloc(4);
  size.writeInt32BE(pick(rnd, [0x7fffffff, 0x7ffffff0, -1, -0x80000000, 0x20000000]) | 0);
  return { bytes: Buffer.concat([size, body]), kind: 'huge-size-prefix' };
}

// ---------------------------------------------------------------------------------------------------------
// raw sockets

function connectRaw(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('raw connect timed out'));
    }, 5_000);
    s.once('connect', () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** Resolves true when the peer closes the socket within `ms`. */
function closedWithin(s: net.Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (s.destroyed || s.readableEnded) return resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    const done = () => {
      clearTimeout(timer);
      resolve(true);
    };
    s.once('close', done);
    s.once('end', done);
    s.on('data', () => undefined);
    s.on('error', () => undefined);
  });
}

/** Writes `bytes` in random chunks with small pauses (exercises the frame parser's resumption). */
async function writeChunked(s: net.Socket, bytes: Buffer, rnd: Rnd): Promise<void> {
  let pos = 0;
  while (pos < bytes.length && !s.destroyed) {
    const n = rnd() < 0.7 ? bytes.length - pos : 1 + int(rnd, Math.max(1, bytes.length - pos));
    s.write(bytes.subarray(pos, pos + n));
    pos += n;
    if (pos < bytes.length && rnd() < 0.3) await sleep(int(rnd, 5));
  }
}

// ---------------------------------------------------------------------------------------------------------

describe('wire fuzz', () => {
  it('closes connections whose size prefix is oversized or negative, without allocating it', async () => {
    const rssBefore = broker.rssBytes();
    for (const size of [0x7fffffff, 0x40000000, 100 * 1024 * 1024 + 1, -1, -0x80000000]) {
      const s = await connectRaw(broker.port);
      const head = Buffer.alloc(4 + 64, 1);
      head.writeInt32BE(size | 0, 0);
      s.write(head);
      const closed = await closedWithin(s, 5_000);
      s.destroy();
      expect(closed, `broker kept a connection open after a size prefix of ${size} (must close before allocating)${broker.diagnose()}`).toBe(true);
    }
    expect(broker.alive(), broker.diagnose()).toBe(true);
    const grew = broker.rssBytes() - rssBefore;
    expect(grew, `RSS grew by ${grew >> 20} MiB after oversized size prefixes`).toBeLessThan(64 * 1024 * 1024);
  });

  it('rejects topic names that are invalid or escape the data dir', async () => {
    const parent = path.dirname(broker.dataDir);
    const c = await WireClient.connect(broker.port);
    try {
      for (const name of ['../escape', 'a/b', '..', '.', '', 'x'.repeat(250), 'nul\u0000byte', 'sp ace', '..%2fx']) {
        const code = await c.createTopic(name, 1);
        expect(code, `CreateTopics accepted the invalid topic name ${JSON.stringify(name)}; expected INVALID_TOPIC_EXCEPTION (17)`).toBe(17);
      }
      const res = await c.produce('../escape-produce', 0, encodeBatch([{ key: null, value: Buffer.from('x') }]), 1);
      expect(res.errorCode, 'Produce to ../escape-produce must fail (auto-create must validate names)').not.toBe(0);
      const md = await c.metadata(['../escape-metadata']);
      expect(md.topics[0]?.errorCode, 'Metadata v1 auto-create of ../escape-metadata must fail').not.toBe(0);
    } finally {
      c.close();
    }
    // nothing named after them appeared next to the data dir (path traversal) or inside it
    const escaped = readdirSync(parent).filter((n) => n.includes('escape'));
    expect(escaped, `topic directories created outside the data dir, in ${parent}`).toEqual([]);
    const inside = readdirSync(broker.dataDir).filter((n) => /escape|^a$|^a-|sp ace|nul|%2f|x{100}|^\.\.-|^\.-/.test(n));
    expect(inside, `directories created in ${broker.dataDir} for invalid topic names`).toEqual([]);
  });

  it(
    `survives a seeded storm for ${FUZZ_MS} ms while a well-behaved client keeps working`,
    async () => {
      const corpus = buildCorpus();
      expect(corpus.length).toBeGreaterThan(100);
      const deadline = Date.now() + FUZZ_MS;
      const stats = new Map<string, number>();
      const sockets = new Set<net.Socket>();
      const track = (s: net.Socket) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => undefined);
      };

      // RSS sampler
      let rssMax = broker.rssBytes();
      const rssStart = rssMax;
      const sampler = setInterval(() => {
        const r = broker.rssBytes();
        if (r > rssMax) rssMax = r;
      }, 200);

      // the well-behaved client
      const good = { ops: 0, failures: [] as string[], produced: new Map<number, string>(), latencyMaxMs: 0 };
      const goodLoop = (async () => {
        const rnd = prng(SEED ^ 0x900d);
        let c = await WireClient.connect(broker.port, 'good-client');
        const next = [0, 0];
        for (const p of [0, 1]) next[p] = (await c.listOffset(GOOD, p, -1)).offset;
        let i = 0;
        while (Date.now() < deadline) {
          const t0 = Date.now();
          const p = i % 2;
          try {
            const versions = await c.apiVersions();
            if (versions.errorCode !== 0 || !versions.apis.has(0)) throw new Error(`ApiVersions answered error ${versions.errorCode}`);
            const md = await c.metadata([GOOD]);
            if (md.topics[0]?.errorCode !== 0 || md.topics[0]!.partitions.length !== 2) throw new Error(`Metadata for ${GOOD}: ${JSON.stringify(md.topics)}`);
            const n = 1 + int(rnd, 5);
            const values = Array.from({ length: n }, (_, j) => `good-${i}-${j}-${'v'.repeat(int(rnd, 500))}`);
            const res = await c.produce(GOOD, p, encodeBatch(values.map((v) => ({ key: Buffer.from(`g${i}`), value: Buffer.from(v) }))), -1, GOOD_OP_TIMEOUT_MS);
            if (res.errorCode !== 0) throw new Error(`Produce answered error ${res.errorCode}`);
            if (res.baseOffset !== next[p]) throw new Error(`Produce to ${GOOD}[${p}] got base offset ${res.baseOffset}, expected ${next[p]}`);
            next[p]! += n;
            values.forEach((v, j) => good.produced.set(p * 1e9 + res.baseOffset + j, v));
            const f = await c.fetch(GOOD, p, res.baseOffset);
            if (f.errorCode !== 0) throw new Error(`Fetch answered error ${f.errorCode}`);
            const got = f.records.filter((r) => r.offset >= res.baseOffset && r.offset < res.baseOffset + n).map((r) => r.value!.toString());
            if (JSON.stringify(got) !== JSON.stringify(values)) throw new Error(`Fetch at ${res.baseOffset} returned different records`);
            if (f.highWatermark !== next[p]) throw new Error(`high watermark ${f.highWatermark}, expected ${next[p]}`);
            const lo = await c.listOffset(GOOD, p, -1);
            if (lo.errorCode !== 0 || lo.offset !== next[p]) throw new Error(`ListOffsets latest ${lo.offset} (error ${lo.errorCode}), expected ${next[p]}`);
            good.ops++;
          } catch (err) {
            good.failures.push(`op ${i} at +${Date.now() - (deadline - FUZZ_MS)} ms: ${(err as Error).message}`);
            c.close();
            c = await WireClient.connect(broker.port, 'good-client').catch(() => c);
          }
          good.latencyMaxMs = Math.max(good.latencyMaxMs, Date.now() - t0);
          i++;
          await sleep(20);
        }
        c.close();
      })();

      // fuzzers
      const fuzzer = async (id: number) => {
        const rnd = prng(SEED * 1000 + id);
        while (Date.now() < deadline) {
          let s: net.Socket;
          try {
            s = await connectRaw(broker.port);
          } catch (err) {
            stats.set('connect-failed', (stats.get('connect-failed') ?? 0) + 1);
            await sleep(50);
            continue;
          }
          track(s);
          s.on('data', () => undefined); // read and discard whatever comes back
          const frames = 1 + int(rnd, 15);
          for (let k = 0; k < frames && !s.destroyed && Date.now() < deadline; k++) {
            const m = mutate(rnd, corpus);
            stats.set(m.kind, (stats.get(m.kind) ?? 0) + 1);
            await writeChunked(s, m.bytes, rnd);
            if (rnd() < 0.2) await sleep(int(rnd, 20));
          }
          await sleep(int(rnd, 100));
          s.destroy();
        }
      };

      // slowloris: partial frames dribbled one byte at a time
      const slowloris = async (id: number) => {
        const rnd = prng(SEED * 7 + id);
        const s = await connectRaw(broker.port).catch(() => null);
        if (!s) return;
        track(s);
        s.on('data', () => undefined);
        const f = pick(rnd, corpus);
        let pos = int(rnd, 2) === 0 ? 0 : 2; // some start mid size-prefix
        s.write(f.subarray(0, pos));
        while (Date.now() < deadline && !s.destroyed && pos < f.length - 1) {
          await sleep(200 + int(rnd, 300));
          s.write(f.subarray(pos, pos + 1));
          pos++;
        }
      };

      // clients that pipeline Fetches of ~1 MiB and never read the responses
      const nonReader = async () => {
        const s = await connectRaw(broker.port).catch(() => null);
        if (!s) return;
        track(s);
        s.pause();
        for (let k = 0; k < 400 && !s.destroyed && Date.now() < deadline; k++) {
          const body = new W()
            .int32(-1)
            .int32(0)
            .int32(1)
            .int32(1 << 20)
            .int8(0)
            .array([GOOD], (w, t) => w.string(t).array([0], (w, p) => w.int32(p).int64(0).int32(1 << 20)))
            .finish();
          const header = new W().int16(1).int16(4).int32(k).string('non-reader').finish();
          const size = Buffer.alloc(4);
          size.writeInt32BE(header.length + body.length);
          if (!s.write(Buffer.concat([size, header, body]))) await sleep(50);
        }
      };

      const all = [
        goodLoop,
        ...Array.from({ length: FUZZ_CONNECTIONS }, (_, i) => fuzzer(i)),
        ...Array.from({ length: SLOWLORIS_CONNECTIONS }, (_, i) => slowloris(i)),
        ...Array.from({ length: NON_READER_CONNECTIONS }, () => nonReader()),
      ];
      await Promise.allSettled(all);
      clearInterval(sampler);

      const summary =
        `${tag} frames ${JSON.stringify(Object.fromEntries(stats))}; good client: ${good.ops} rounds, ` +
        `worst round ${good.latencyMaxMs} ms; RSS ${rssStart >> 20} -> max ${rssMax >> 20} MiB`;
      console.info(`[e2e fuzz] ${summary}`);
      // what the broker logged at error level or above while rejecting bad input (reported, not asserted:
      // the output kept by the helper is only its tail)
      const errors = new Map<string, number>();
      for (const line of broker.started.output().split('\n')) {
        const m = /"level":(\d+).*?"msg":"([^"]*)"/.exec(line);
        if (m && Number(m[1]) >= 50) errors.set(m[2]!, (errors.get(m[2]!) ?? 0) + 1);
      }
      if (errors.size > 0) console.info(`[e2e fuzz] broker error-level log lines (tail): ${JSON.stringify(Object.fromEntries(errors))}`);

      expect(broker.alive(), `broker died during the fuzz storm ${summary}${broker.diagnose()}`).toBe(true);
      expect(good.failures, `the well-behaved client failed during the storm ${summary}${broker.diagnose()}`).toEqual([]);
      expect(good.ops, `the well-behaved client made too little progress ${summary}`).toBeGreaterThanOrEqual(Math.min(20, FUZZ_MS / 1000));
      expect(rssMax, `broker RSS reached ${rssMax >> 20} MiB (bound ${RSS_BYTES_MAX >> 20} MiB) ${summary}`).toBeLessThan(RSS_BYTES_MAX);

      // the storm's connections go away; the broker is still fully usable and everything is still there
      for (const s of sockets) s.destroy();
      const c = await WireClient.connect(broker.port);
      try {
        expect((await c.apiVersions()).errorCode).toBe(0);
        for (const p of [0, 1]) {
          const records = await c.fetchAll(GOOD, p, 0, 60_000);
          const byOffset = new Map(records.map((r) => [r.offset, r.value!.toString()]));
          for (const [k, v] of good.produced) {
            if (Math.floor(k / 1e9) !== p) continue;
            const off = k - p * 1e9;
            expect(byOffset.get(off) === v, `${GOOD}[${p}]@${off} lost or changed after the storm ${tag}`).toBe(true);
          }
        }
      } finally {
        c.close();
      }
      await sleep(1_000);
      const settled = broker.rssBytes();
      expect(settled, `RSS after the storm ${settled >> 20} MiB`).toBeLessThan(RSS_BYTES_MAX);
    },
    FUZZ_MS + 60_000,
  );

  it('still shuts down cleanly after the storm', async () => {
    const t0 = Date.now();
    await broker.stop();
    expect(broker.alive(), `broker did not exit on stop()${broker.diagnose()}`).toBe(false);
    expect(broker.exitStatus(), `unclean exit after the fuzz storm${broker.diagnose()}`).toMatch(/code 0|SIGTERM/);
    expect(Date.now() - t0).toBeLessThan(20_000);
  });
});
