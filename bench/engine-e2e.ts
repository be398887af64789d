/**
 * End-to-end produce before/after for the log engine (issue #3): the issue #2 broker benchmark (bench/run.ts as of
 * commit 8959487, whose figures are the "Baseline" in docs/benchmarks.md), kept here unchanged in its workloads
 * so that the baseline can be re-measured against either engine in the same session. bench/run.ts is now the
 * standard suite with peers (issue #7); this file only adds `--log-engine`, passed to `tern start`.
 *
 *   npm run build && node dist/bench/engine-e2e.js --log-engine node|native [--duration-s 10] [--dir /path] [--json out.json]
 *     [--broker-arg <tern start argument>]...
 *
 * Workloads (all acks=all, i.e. every acknowledged batch is fsynced before the answer):
 * - throughput: 100 B and 1 KiB records, 1 and 6 partitions. `producers` connections, each with up to
 *   `inflightPerProducer` pipelined Produce requests, each request carrying one batch of `batchBytes` per
 *   partition (what librdkafka sends under load). Latency of every request goes to an HDR histogram.
 * - consume: Fetch everything just produced, from offset 0, with 1 MiB per partition per request.
 * - latency at moderate load: 5,000 msg/s of 1 KiB, one record per request (linger 0), open loop: latency is
 *   measured from the time a message was due, so a stalled broker cannot hide its stall (no coordinated
 *   omission).
 * The broker runs as its own process (`tern start`), as users run it; the data dir must be on a real disk
 * (never tmpfs: fsync there is a no-op).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import hdr from 'hdr-histogram-js';
import { Connection } from '../src/client/index.js';
import { ApiKey } from '../src/protocol/messages/index.js';
import { buildRecordBatch } from '../src/protocol/records.js';
import { fioAvailable, measureDisk, type FioResult } from './fio.js';

interface Args {
  durationS: number;
  dir: string;
  json: string | null;
  logEngine: string | null;
  /** Further `tern start` arguments (`--broker-arg`, repeatable), e.g. `--broker-arg --zero-ahead-bytes=0`. */
  brokerArgs: string[];
}

function parseArgs(argv: string[]): Args {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return {
    durationS: Number(get('--duration-s') ?? 10),
    dir: get('--dir') ?? path.join(os.tmpdir(), `tern-bench-${process.pid}`),
    json: get('--json') ?? null,
    logEngine: get('--log-engine') ?? null,
    brokerArgs: argv.flatMap((a, i) => (a === '--broker-arg' && i + 1 < argv.length ? [argv[i + 1]!] : [])),
  };
}

/** Producer connections, each with up to `inflightPerProducer` Produce requests outstanding (librdkafka's default). */
const producers = 4;
const inflightPerProducer = 5;
const batchBytes = 64 * 1024;

interface ThroughputResult {
  recordBytes: number;
  partitions: number;
  produceMsgsPerSec: number;
  produceMBps: number;
  requestP50Us: number;
  requestP99Us: number;
  requestP999Us: number;
  consumeMsgsPerSec: number;
  consumeMBps: number;
}

interface LatencyResult {
  targetMsgsPerSec: number;
  achievedMsgsPerSec: number;
  recordBytes: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
}

function histogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function startBroker(dataDir: string, logEngine: string | null, extra: string[]): Promise<{ proc: ChildProcess; port: number }> {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  const port = await freePort();
  const proc = spawn(process.execPath, [path.join(root, 'bin/tern.js'), 'start', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--log-level', 'warn', ...(logEngine === null ? [] : ['--log-engine', logEngine]), ...extra], { stdio: ['ignore', 'inherit', 'inherit'] });
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return { proc, port };
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error('broker did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
}

function batchOf(recordBytes: number, count: number): Buffer {
  const value = Buffer.alloc(recordBytes, 0x61);
  return buildRecordBatch(Array.from({ length: count }, (_, i) => ({ key: null, value, timestamp: Date.now() + i })), {});
}

async function createTopic(conn: Connection, name: string, partitions: number): Promise<void> {
  const res = await conn.request(ApiKey.CreateTopics, { topics: [{ name, numPartitions: partitions, replicationFactor: 1 }], timeoutMs: 10_000 });
  const code = res.topics[0]?.errorCode ?? -1;
  if (code !== 0) throw new Error(`create topic ${name}: error ${code}`);
}

async function produceThroughput(conns: Connection[], topic: string, partitions: number, recordBytes: number, durationS: number): Promise<{ msgs: number; bytes: number; hist: hdr.Histogram; seconds: number }> {
  const perBatch = Math.max(1, Math.floor(batchBytes / (recordBytes + 10)));
  const batch = batchOf(recordBytes, perBatch);
  const body = { acks: -1, timeoutMs: 30_000, transactionalId: null, topicData: [{ name: topic, partitionData: Array.from({ length: partitions }, (_, index) => ({ index, records: batch })) }] };
  const hist = histogram();
  let msgs = 0;
  const start = performance.now();
  const end = start + durationS * 1000;
  const worker = async (conn: Connection): Promise<void> => {
    while (performance.now() < end) {
      const t0 = performance.now();
      const res = await conn.request(ApiKey.Produce, body);
      hist.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
      for (const p of res.responses[0]!.partitionResponses) if (p.errorCode !== 0) throw new Error(`produce error ${p.errorCode}`);
      msgs += perBatch * partitions;
    }
  };
  await Promise.all(conns.flatMap((conn) => Array.from({ length: inflightPerProducer }, () => worker(conn))));
  const seconds = (performance.now() - start) / 1000;
  return { msgs, bytes: msgs * recordBytes, hist, seconds };
}

async function consumeAll(conn: Connection, topic: string, partitions: number, recordBytes: number): Promise<{ msgs: number; bytes: number; seconds: number }> {
  const offsets = new Array<number>(partitions).fill(0);
  const ends: number[] = [];
  const lo = await conn.request(ApiKey.ListOffsets, { replicaId: -1, isolationLevel: 0, topics: [{ name: topic, partitions: Array.from({ length: partitions }, (_, p) => ({ partitionIndex: p, timestamp: -1, currentLeaderEpoch: -1 })) }] });
  for (const p of lo.topics[0]!.partitions) ends[p.partitionIndex] = p.offset;
  let msgs = 0;
  let bytes = 0;
  const start = performance.now();
  while (offsets.some((o, i) => o < ends[i]!)) {
    const res = await conn.request(ApiKey.Fetch, {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 1,
      maxBytes: 52_428_800,
      isolationLevel: 0,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [{ topic, partitions: offsets.map((fetchOffset, partition) => ({ partition, fetchOffset, partitionMaxBytes: 1_048_576, currentLeaderEpoch: -1, logStartOffset: -1 })) }],
    });
    for (const pd of res.responses[0]!.partitions) {
      const rec = pd.records;
      if (!rec || !Buffer.isBuffer(rec)) continue;
      // Walk batch headers: baseOffset (8) + length (4) ... lastOffsetDelta at 23, recordCount at 57.
      let pos = 0;
      while (pos + 61 <= rec.length) {
        const len = rec.readInt32BE(pos + 8);
        if (pos + 12 + len > rec.length) break;
        const base = Number(rec.readBigInt64BE(pos));
        const last = base + rec.readInt32BE(pos + 23);
        const count = rec.readInt32BE(pos + 57);
        if (last >= offsets[pd.partitionIndex]!) {
          msgs += count;
          bytes += count * recordBytes;
          offsets[pd.partitionIndex] = last + 1;
        }
        pos += 12 + len;
      }
    }
  }
  return { msgs, bytes, seconds: (performance.now() - start) / 1000 };
}

async function latencyAtRate(conn: Connection, topic: string, ratePerSec: number, recordBytes: number, durationS: number): Promise<LatencyResult> {
  const batch = batchOf(recordBytes, 1);
  const body = { acks: -1, timeoutMs: 30_000, transactionalId: null, topicData: [{ name: topic, partitionData: [{ index: 0, records: batch }] }] };
  const hist = histogram();
  const intervalMs = 1000 / ratePerSec;
  const total = Math.floor(ratePerSec * durationS);
  const start = performance.now();
  let sent = 0;
  const inflight = new Set<Promise<void>>();
  while (sent < total) {
    const now = performance.now();
    const due = Math.min(total, Math.floor((now - start) / intervalMs) + 1);
    while (sent < due) {
      const dueAt = start + sent * intervalMs;
      sent++;
      const p: Promise<void> = conn.request(ApiKey.Produce, body).then((res) => {
        if (res.responses[0]!.partitionResponses[0]!.errorCode !== 0) throw new Error('produce failed');
        hist.recordValue(Math.max(1, Math.round((performance.now() - dueAt) * 1000)));
        inflight.delete(p);
      });
      inflight.add(p);
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(inflight);
  const seconds = (performance.now() - start) / 1000;
  return { targetMsgsPerSec: ratePerSec, achievedMsgsPerSec: Math.round(total / seconds), recordBytes, p50Us: hist.getValueAtPercentile(50), p99Us: hist.getValueAtPercentile(99), p999Us: hist.getValueAtPercentile(99.9), maxUs: hist.maxValue };
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  fs.mkdirSync(args.dir, { recursive: true });
  const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`;
  const loadStart = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  process.stderr.write(`machine: ${machine}\ndata dir: ${args.dir}\nlog engine: ${args.logEngine ?? 'broker default'}\n`);

  let disk: FioResult | null = null;
  if (fioAvailable()) {
    process.stderr.write('fio: measuring O_DIRECT sequential write and fdatasync latency...\n');
    disk = measureDisk(path.join(args.dir, 'fio'), Math.max(5, Math.round(args.durationS / 2)));
  } else {
    process.stderr.write('fio not found (apt-get install fio): disk limits not measured\n');
  }

  const dataDir = path.join(args.dir, 'data');
  const { proc, port } = await startBroker(dataDir, args.logEngine, args.brokerArgs);
  const conns = await Promise.all(Array.from({ length: producers }, () => Connection.connect({ host: '127.0.0.1', port, clientId: 'tern-bench', inFlightRequestsMax: 64 })));
  const conn = conns[0]!;
  const throughput: ThroughputResult[] = [];
  let latency: LatencyResult | null = null;
  try {
    for (const recordBytes of [100, 1024]) {
      for (const partitions of [1, 6]) {
        const topic = `bench-${recordBytes}b-${partitions}p`;
        await createTopic(conn, topic, partitions);
        process.stderr.write(`produce ${topic} for ${args.durationS}s...\n`);
        const p = await produceThroughput(conns, topic, partitions, recordBytes, args.durationS);
        const c = await consumeAll(conn, topic, partitions, recordBytes);
        throughput.push({
          recordBytes,
          partitions,
          produceMsgsPerSec: p.msgs / p.seconds,
          produceMBps: p.bytes / p.seconds / 1e6,
          requestP50Us: p.hist.getValueAtPercentile(50),
          requestP99Us: p.hist.getValueAtPercentile(99),
          requestP999Us: p.hist.getValueAtPercentile(99.9),
          consumeMsgsPerSec: c.msgs / c.seconds,
          consumeMBps: c.bytes / c.seconds / 1e6,
        });
      }
    }
    await createTopic(conn, 'bench-latency', 1);
    process.stderr.write(`latency at 5,000 msg/s for ${args.durationS}s...\n`);
    latency = await latencyAtRate(conn, 'bench-latency', 5000, 1024, args.durationS);
  } finally {
    for (const c of conns) c.close();
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
    fs.rmSync(args.dir, { recursive: true, force: true });
  }

  const lines: string[] = [];
  lines.push(`Machine: ${machine}`, `Log engine: ${args.logEngine ?? 'broker default'}${args.brokerArgs.length > 0 ? ` (${args.brokerArgs.join(' ')})` : ''}; load average at start ${loadStart}, at end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`, '');
  if (disk) {
    lines.push('| disk (fio, same run) | value |', '|---|---|');
    lines.push(`| O_DIRECT sequential write, 1 MiB blocks, fdatasync every 16 MiB | ${fmt(disk.seqWriteMBps, 1)} MB/s |`);
    lines.push(`| 4 KiB write + fdatasync: p50 / p99 / p99.9 | ${fmt(disk.fdatasyncP50Us)} / ${fmt(disk.fdatasyncP99Us)} / ${fmt(disk.fdatasyncP999Us)} µs (${fmt(disk.syncedWritesPerSec)} syncs/s) |`, '');
  }
  lines.push('| record | partitions | produce msg/s | produce MB/s | % of fio seq write | request p50 / p99 / p99.9 (µs) | consume msg/s | consume MB/s |', '|---|---|---|---|---|---|---|---|');
  for (const t of throughput) {
    const pct = disk ? `${fmt((100 * t.produceMBps) / disk.seqWriteMBps, 0)}%` : 'n/a';
    lines.push(`| ${t.recordBytes} B | ${t.partitions} | ${fmt(t.produceMsgsPerSec)} | ${fmt(t.produceMBps, 1)} | ${pct} | ${fmt(t.requestP50Us)} / ${fmt(t.requestP99Us)} / ${fmt(t.requestP999Us)} | ${fmt(t.consumeMsgsPerSec)} | ${fmt(t.consumeMBps, 1)} |`);
  }
  if (latency) {
    lines.push('', `| produce latency, ${latency.recordBytes} B, acks=all, target ${fmt(latency.targetMsgsPerSec)} msg/s (achieved ${fmt(latency.achievedMsgsPerSec)}) | p50 | p99 | p99.9 | max |`, '|---|---|---|---|---|');
    lines.push(`| µs | ${fmt(latency.p50Us)} | ${fmt(latency.p99Us)} | ${fmt(latency.p999Us)} | ${fmt(latency.maxUs)} |`);
    if (disk) lines.push('', `p99 / fdatasync p99 = ${fmt(latency.p99Us / disk.fdatasyncP99Us, 2)}x (design target: within 2x)`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  if (args.json) fs.writeFileSync(args.json, JSON.stringify({ machine, date: new Date().toISOString(), logEngine: args.logEngine, brokerArgs: args.brokerArgs, loadStart, disk, throughput, latency }, null, 2));
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
