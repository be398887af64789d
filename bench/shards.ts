/**
 * Thread-per-core shards (issue 4): every figure of docs/benchmarks.md's shard section from one command.
 *
 *   npm run bench:shards -- [--only throughput,crossing,hop,memory,curve] [--repeats 3] [--dir DIR] [--json FILE]
 *
 * Sections (each prints a Markdown table; `uptime`'s load average is printed with every run, because the
 * machine may be shared and a figure means little without it):
 * - throughput: `tern start --smp N` for each N of --smp (default 1,2), alternating, --repeats times, under the
 *   multi-worker-thread load generator (driver.ts/worker.ts, CO-corrected HDR percentiles): many producer
 *   connections, 1 KiB records, acks=all, partitions spread over the shards; a closed-loop max-rate run and an
 *   open-loop run at --rate msg/s. CPU of the broker (and of its busiest threads) and of the load generator.
 * - crossing: one connection producing one 1 KiB record at a time (acks=all) alternately to two partitions
 *   placed on different shards: one is on the connection's shard, the other crosses (smp=1: both local).
 * - hop: bench/channel.ts: ring vs postMessage vs ShardLink call, hop median/p99, --repeats times.
 * - memory: `--smp 2` (--memory-smp) with --topics x --partitions idle partitions created through CreateTopics:
 *   RSS before and after, per partition; clean (SIGTERM) and unclean (SIGKILL) restart times until Metadata
 *   shows every partition with a leader.
 * - curve: the max-rate run for each N of --curve (e.g. 1,2,4,8,16); only meaningful with that many cores.
 *
 * The load generator runs in this process on the same machine: the report gives its CPU beside the broker's.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { hopTable, measureHops, type HopRow } from './channel.js';
import { runOnce, type RunResult } from './driver.js';
import { LatencyHistogram } from './histogram.js';
import { describeMachine } from './machine.js';
import { nowUs, payloadTemplate } from './payload.js';
import { ApiKey } from '../src/protocol/messages/index.js';
import { encodeBatch } from './targets/kafka-records.js';
import { ShardedTernServer, procSample, threadCpuSeconds, type ProcSample } from './shards-server.js';
import { bytesPerPartition, cell, loadText, localAndCross, parseIntList, parseSections, partitionsPerShard, threadCpuDelta, type Section, type ThreadCpu } from './shards-figures.js';
import type { Workload } from './workload.js';

const { values: flags } = parseArgs({
  options: {
    only: { type: 'string' },
    repeats: { type: 'string', default: '3' },
    smp: { type: 'string', default: '1,2' },
    curve: { type: 'string', default: '1,2,4,8,16' },
    dir: { type: 'string', default: path.join(os.tmpdir(), `tern-bench-shards-${process.pid}`) },
    json: { type: 'string' },
    'duration-s': { type: 'string', default: '10' },
    'warmup-s': { type: 'string', default: '3' },
    producers: { type: 'string', default: '32' },
    'producer-threads': { type: 'string', default: '2' },
    partitions: { type: 'string', default: '8' },
    rate: { type: 'string', default: '5000' },
    'crossing-requests': { type: 'string', default: '1000' },
    'crossing-connections': { type: 'string', default: '4' },
    'hop-messages': { type: 'string', default: '100000' },
    topics: { type: 'string', default: '100' },
    'partitions-per-topic': { type: 'string', default: '100' },
    'memory-smp': { type: 'string', default: '2' },
    'fill-records': { type: 'string', default: '16' },
  },
});

const sections = parseSections(flags.only);
const repeats = Number(flags.repeats);
const smps = parseIntList(flags.smp!, '--smp');
const dir = path.resolve(flags.dir!);
const num = (k: keyof typeof flags): number => Number(flags[k]);
const log = (line: string): void => console.log(line);
const load = (): string => loadText(os.loadavg());
const report: Record<string, unknown> = { startedAt: new Date().toISOString(), machine: describeMachine(dir), argv: process.argv.slice(2) };

function workload(name: string, rate: number | null, partitions: number): Workload {
  return {
    name,
    description: '',
    topics: 1,
    partitionsPerTopic: partitions,
    messageBytes: 1024,
    payloadRandomRatio: 0.5,
    producers: num('producers'),
    consumers: 0,
    rateMsgsPerSec: rate,
    acks: 'all',
    batchBytes: 64 * 1024,
    lingerMs: 1,
    inFlightPerProducer: 5,
    keys: 'none',
    keyCount: 1000,
    durationS: num('duration-s'),
    warmupS: num('warmup-s'),
  };
}

/** A server that also snapshots its threads' CPU whenever the driver reads its CPU (start and end of the window). */
class MeasuredServer extends ShardedTernServer {
  snapshots: { atMs: number; threads: ReturnType<typeof threadCpuSeconds> }[] = [];
  rss: ProcSample | null = null;
  override cpuSeconds(): number | null {
    if (this.server) {
      this.snapshots.push({ atMs: performance.now(), threads: threadCpuSeconds(this.pid) });
      this.rss = procSample(this.pid);
    }
    return super.cpuSeconds();
  }
}

interface LoadRun {
  smp: number;
  repeat: number;
  load: string;
  result: RunResult;
  threads: ThreadCpu[];
  rssBytes: number | null;
}

async function loadRun(smp: number, w: Workload, repeat: number): Promise<LoadRun> {
  const server = new MeasuredServer(smp);
  const loadBefore = load();
  const result = await runOnce(server, 'tern', w, { dir: path.join(dir, `run-smp${smp}`), producerThreads: num('producer-threads'), consumerThreads: 0, log });
  const [a, b] = server.snapshots.slice(-2);
  const threads = a && b ? threadCpuDelta(a.threads, b.threads, (b.atMs - a.atMs) / 1000, 0.05) : [];
  const r: LoadRun = { smp, repeat, load: loadBefore, result, threads, rssBytes: server.rss?.rssBytes ?? null };
  const p = result.publishLatency;
  log(
    `  smp=${smp} #${repeat} ${w.name}: ${Math.round(result.publishMsgsPerSec)} msg/s ${result.publishMBps.toFixed(1)} MB/s p50 ${(p.p50Us / 1000).toFixed(2)} ms p99 ${(p.p99Us / 1000).toFixed(2)} ms p99.9 ${(p.p999Us / 1000).toFixed(2)} ms; broker ${result.serverCores?.toFixed(2)} cores [${threads.map((t) => `${t.name}:${t.cores.toFixed(2)}+wait ${t.waitCores.toFixed(2)}`).join(' ')}], client ${result.loadGeneratorCores.toFixed(2)} cores; failed ${result.failedMessages}${result.errors.length ? ` errors: ${result.errors[0]}` : ''}; load ${loadBefore}`,
  );
  return r;
}

function loadTable(runs: readonly LoadRun[]): string {
  const lines = [
    '| shards | msg/s | MB/s | p50 ms | p99 ms | p99.9 ms | broker cores | busiest broker threads: cores (run-queue wait) | client cores | load avg (1m) at start |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const smp of [...new Set(runs.map((r) => r.smp))]) {
    const rs = runs.filter((r) => r.smp === smp);
    const f = (g: (r: LoadRun) => number, d = 0): string => cell(rs.map(g), d);
    const threads = rs.map((r) => r.threads.slice(0, smp).map((t) => `${t.cores.toFixed(2)} (${t.waitCores.toFixed(2)})`).join(' / ')).join('; ');
    lines.push(
      `| ${smp} | ${f((r) => r.result.publishMsgsPerSec)} | ${f((r) => r.result.publishMBps, 1)} | ${f((r) => r.result.publishLatency.p50Us / 1000, 2)} | ${f((r) => r.result.publishLatency.p99Us / 1000, 2)} | ${f((r) => r.result.publishLatency.p999Us / 1000, 2)} | ${f((r) => r.result.serverCores ?? NaN, 2)} | ${threads} | ${f((r) => r.result.loadGeneratorCores, 2)} | ${rs.map((r) => r.load.split(' ')[0]).join(', ')} |`,
    );
  }
  return lines.join('\n');
}

async function throughput(): Promise<void> {
  const parts = num('partitions');
  const wl = [workload('shards-max-1kib', null, parts), workload('shards-rate-1kib', num('rate'), parts)];
  const all: Record<string, LoadRun[]> = {};
  for (const w of wl) {
    log(`\n## throughput: ${w.name} (${w.producers} producer connections on ${num('producer-threads')} load threads, ${parts} partitions, 1 KiB, acks=all, ${w.rateMsgsPerSec === null ? 'closed loop' : `${w.rateMsgsPerSec} msg/s open loop`}, ${w.warmupS}+${w.durationS} s)`);
    const runs: LoadRun[] = [];
    for (let i = 1; i <= repeats; i++) for (const smp of i % 2 === 1 ? smps : [...smps].reverse()) runs.push(await loadRun(smp, w, i));
    log(loadTable(runs));
    all[w.name] = runs;
  }
  report.throughput = Object.fromEntries(Object.entries(all).map(([k, rs]) => [k, rs.map((r) => ({ ...r, result: { ...r.result, ackedPerSec: undefined, receivedPerSec: undefined } }))]));
}

async function curve(): Promise<void> {
  const list = parseIntList(flags.curve!, '--curve');
  log(`\n## curve: shards ${list.join(', ')} on ${os.cpus().length} cores`);
  if (Math.max(...list) > os.cpus().length) log(`  note: ${os.cpus().length} cores here; shard counts above that measure oversubscription, not scaling`);
  const runs: LoadRun[] = [];
  for (let i = 1; i <= repeats; i++) for (const smp of list) runs.push(await loadRun(smp, workload('shards-max-1kib', null, Math.max(num('partitions'), 2 * Math.max(...list))), i));
  log(loadTable(runs));
  report.curve = runs.map((r) => ({ ...r, result: { ...r.result, ackedPerSec: undefined, receivedPerSec: undefined } }));
}

interface CrossingRun {
  smp: number;
  repeat: number;
  load: string;
  local: LatencyHistogram;
  cross: LatencyHistogram;
  /** Per connection: p50 of the crossing partition minus p50 of the local one (smp=1: |p0 - p1|, the noise floor), µs. */
  p50DiffsUs: number[];
}

/** One record per request, waited for before the next: service time, not throughput. */
async function crossingRun(smp: number, repeat: number): Promise<CrossingRun> {
  const server = new ShardedTernServer(smp);
  const runDir = path.join(dir, `crossing-smp${smp}`);
  fs.rmSync(runDir, { recursive: true, force: true });
  const loadBefore = load();
  await server.start(runDir);
  const local = new LatencyHistogram();
  const cross = new LatencyHistogram();
  const p50DiffsUs: number[] = [];
  try {
    await server.createTopics(['crossing'], 2);
    const owners = [server.owners()['crossing-0'], server.owners()['crossing-1']];
    if (smp > 1 && owners[0] === owners[1]) throw new Error(`both partitions on shard ${owners[0]}: the crossing comparison needs them apart`);
    const template = payloadTemplate(1024, 0.5, 42);
    const perConnection: string[] = [];
    const diffs: number[] = [];
    for (let c = 0; c < num('crossing-connections'); c++) {
      const conn = await server.connect(`tern-bench-crossing-${c}`, 1);
      const hs = [new LatencyHistogram(), new LatencyHistogram()] as const;
      const warmup = 200;
      try {
        for (let i = 0; i < warmup + 2 * num('crossing-requests'); i++) {
          const p = i % 2;
          const t0 = nowUs();
          const res = await conn.request(
            ApiKey.Produce,
            { transactionalId: null, acks: -1, timeoutMs: 30_000, topicData: [{ name: 'crossing', partitionData: [{ index: p, records: encodeBatch(template, [null], [t0], Date.now()) }] }] },
            { brokerWaitMs: 30_000 },
          );
          const e = res.responses[0]?.partitionResponses[0]?.errorCode;
          if (e !== 0) throw new Error(`produce crossing/${p}: error ${e}`);
          if (i >= warmup) hs[p].record(nowUs() - t0);
        }
      } finally {
        conn.close();
      }
      const p50 = [hs[0].summary().p50Us, hs[1].summary().p50Us] as [number, number];
      if (smp === 1) {
        local.add(hs[0]);
        local.add(hs[1]);
      } else {
        const [l, x] = localAndCross(p50);
        local.add(hs[l]);
        cross.add(hs[x]);
      }
      perConnection.push(`p0 ${p50[0]} µs / p1 ${p50[1]} µs`);
      diffs.push(Math.abs(p50[0] - p50[1]));
    }
    p50DiffsUs.push(...diffs);
    log(`  smp=${smp} #${repeat}: owners p0->${owners[0]} p1->${owners[1]}; per connection p50: ${perConnection.join('; ')}; load ${loadBefore}`);
  } finally {
    await server.stop();
    fs.rmSync(runDir, { recursive: true, force: true });
  }
  return { smp, repeat, load: loadBefore, local, cross, p50DiffsUs };
}

async function crossing(): Promise<void> {
  log(`\n## crossing: one connection at a time (${num('crossing-connections')} per run), 1 record of 1 KiB per Produce, acks=all, alternating two partitions on different shards`);
  const runs: CrossingRun[] = [];
  for (let i = 1; i <= repeats; i++) for (const smp of i % 2 === 1 ? smps : [...smps].reverse()) runs.push(await crossingRun(smp, i));
  const lines = ['| shards | partition | p50 µs | p99 µs | p99.9 µs | requests per run | load avg (1m) at start |', '|---|---|---|---|---|---|---|'];
  const rowOf = (smp: number, what: string, pick: (r: CrossingRun) => LatencyHistogram): void => {
    const rs = runs.filter((r) => r.smp === smp);
    const s = rs.map((r) => pick(r).summary());
    if (s.every((x) => x.count === 0)) return;
    lines.push(`| ${smp} | ${what} | ${cell(s.map((x) => x.p50Us))} | ${cell(s.map((x) => x.p99Us))} | ${cell(s.map((x) => x.p999Us))} | ${s[0]!.count} | ${rs.map((r) => r.load.split(' ')[0]).join(', ')} |`);
  };
  for (const smp of smps) {
    rowOf(smp, smp === 1 ? 'both local' : "on the connection's shard", (r) => r.local);
    if (smp > 1) rowOf(smp, 'on the other shard (crosses)', (r) => r.cross);
  }
  log(lines.join('\n'));
  for (const smp of smps) {
    const d = runs.filter((r) => r.smp === smp).flatMap((r) => r.p50DiffsUs);
    log(`  smp=${smp}: per-connection p50 difference between its two partitions (${smp === 1 ? 'both local: the noise floor' : 'crossing minus local'}): ${cell(d)} µs over ${d.length} connections`);
  }
  report.crossing = runs.map((r) => ({ smp: r.smp, repeat: r.repeat, load: r.load, local: r.local.summary(), cross: r.cross.summary(), p50DiffsUs: r.p50DiffsUs }));
}

async function hop(): Promise<void> {
  log(`\n## hop: ping-pong between the main thread and a worker (${Math.min(num('hop-messages'), 50_000)} round trips), streaming ${num('hop-messages')} messages`);
  const runs: { load: string; rows: HopRow[] }[] = [];
  for (let i = 1; i <= repeats; i++) {
    const l = load();
    const rows = await measureHops({ messages: num('hop-messages'), sizes: [64, 1024], idleGapMs: 1, idlePings: 2000 });
    log(`  #${i} load ${l}\n${hopTable(rows)}`);
    runs.push({ load: l, rows });
  }
  const lines = ['| channel | bytes | idle before each ping | hop p50 µs | hop p99 µs | hop p99.9 µs | one-way stream msg/s |', '|---|---|---|---|---|---|---|'];
  for (const [k, r0] of runs[0]!.rows.entries()) {
    const rs = runs.map((r) => r.rows[k]!);
    lines.push(`| ${r0.channel} | ${r0.bytes} | ${r0.gapMs > 0 ? `${r0.gapMs} ms` : 'none'} | ${cell(rs.map((r) => r.p50Us), 1)} | ${cell(rs.map((r) => r.p99Us), 1)} | ${cell(rs.map((r) => r.p999Us), 1)} | ${cell(rs.map((r) => r.streamMsgsPerSec ?? NaN))} |`);
  }
  log(`median (min–max) over ${repeats} runs; load avg (1m) at each start: ${runs.map((r) => r.load.split(' ')[0]).join(', ')}\n${lines.join('\n')}`);
  report.hop = runs;
}

/** Writes `records` 1 KiB records (one batch) into every partition: one Produce per topic, acks=all. */
async function fillPartitions(server: ShardedTernServer, topics: number, perTopic: number, records: number): Promise<void> {
  const conn = await server.connect('tern-bench-fill', 4);
  const template = payloadTemplate(1024, 0.5, 7);
  try {
    await Promise.all(
      Array.from({ length: topics }, async (_, t) => {
        const stamps = Array.from({ length: records }, () => nowUs());
        const res = await conn.request(
          ApiKey.Produce,
          {
            transactionalId: null,
            acks: -1,
            timeoutMs: 120_000,
            topicData: [{ name: `idle-t${t}`, partitionData: Array.from({ length: perTopic }, (_, index) => ({ index, records: encodeBatch(template, stamps.map(() => null), stamps, Date.now()) })) }],
          },
          { brokerWaitMs: 120_000 },
        );
        for (const p of res.responses[0]?.partitionResponses ?? []) if (p.errorCode !== 0) throw new Error(`fill idle-t${t}/${p.index}: error ${p.errorCode}`);
      }),
    );
  } finally {
    conn.close();
  }
}

const FDS_PER_PARTITION = 1;

/** The soft limit on open files this process (and the broker, its child) runs under, or null if unknown. */
function openFilesLimit(): number | null {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls Metadata until every topic and partition is there with a leader; ms from `t0`. */
async function untilAllServed(server: ShardedTernServer, topics: number, partitions: number, t0: number): Promise<number> {
  for (;;) {
    const m = await server.metadataCounts();
    if (m && m.topics >= topics && m.partitionsWithLeader >= partitions) return performance.now() - t0;
    if (performance.now() - t0 > 600_000) throw new Error(`not all partitions served after 600 s: ${JSON.stringify(m)}`);
    await sleep(20);
  }
}

function diskBytes(root: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else {
        files++;
        bytes += fs.statSync(full).blocks * 512;
      }
    }
  };
  walk(root);
  return { bytes, files };
}

async function memory(): Promise<void> {
  const smp = num('memory-smp');
  const topics = num('topics');
  const perTopic = num('partitions-per-topic');
  const total = topics * perTopic;
  const runDir = path.join(dir, 'memory');
  fs.rmSync(runDir, { recursive: true, force: true });
  log(`\n## memory: --smp ${smp}, ${topics} topics x ${perTopic} partitions = ${total} idle partitions`);
  // An idle partition holds one descriptor: its active segment's .log (indexes are written when a segment is sealed).
  const fdLimit = openFilesLimit();
  if (fdLimit !== null && fdLimit < FDS_PER_PARTITION * total + 1000) {
    log(`  warning: RLIMIT_NOFILE is ${fdLimit}; ${total} partitions need about ${FDS_PER_PARTITION * total} descriptors: expect EMFILE near ${Math.floor((fdLimit - 100) / FDS_PER_PARTITION)} partitions (raise it with ulimit -n, or use --topics)`);
  }
  const server = new ShardedTernServer(smp);
  const out: Record<string, unknown> = { smp, topics, perTopic, loadAtStart: load(), openFilesLimit: fdLimit };
  try {
    await server.start(runDir);
    const port = server.endpoint!.port;
    await sleep(3000);
    const before = procSample(server.pid);
    const t0 = performance.now();
    try {
      await server.createTopics(Array.from({ length: topics }, (_, t) => `idle-t${t}`), perTopic);
    } catch (err) {
      // Report how far it got (the figure for this limit), then stop: the broker's state is the finding.
      const m = await server.metadataCounts();
      const s = procSample(server.pid);
      out.failure = { error: (err as Error).message, afterMs: performance.now() - t0, topics: m?.topics, partitionsWithLeader: m?.partitionsWithLeader, fds: s.fds, rssBytes: s.rssBytes };
      log(`  FAILED after ${((performance.now() - t0) / 1000).toFixed(1)} s: ${(err as Error).message}`);
      log(`  the broker then shows ${m?.topics} topics, ${m?.partitionsWithLeader} partitions with a leader; ${s.fds} fds open, RSS ${(s.rssBytes / 2 ** 20).toFixed(1)} MiB`);
      const tail = (server.server?.output ?? '').trim().split('\n').slice(-3).map((l) => l.slice(0, 400));
      if (tail.length > 0 && tail[0] !== '') log(`  broker log (last lines):\n    ${tail.join('\n    ')}`);
      report.memory = out;
      return;
    }
    const createMs = performance.now() - t0;
    await sleep(5000);
    const after = procSample(server.pid);
    const disk = diskBytes(server.dataDir);
    const per = bytesPerPartition(before.rssBytes, after.rssBytes, total);
    const perShard = partitionsPerShard(server.owners(), smp);
    Object.assign(out, { before, after, createMs, disk, bytesPerPartition: per, perShard });
    log(`  idle, no topics: RSS ${(before.rssBytes / 2 ** 20).toFixed(1)} MiB, ${before.fds} fds, ${before.threads} threads; load ${load()}`);
    log(`  created ${total} partitions in ${(createMs / 1000).toFixed(1)} s (${Math.round(total / (createMs / 1000))} partitions/s); per shard ${perShard.join('/')}`);
    log(`  with ${total} idle partitions: RSS ${(after.rssBytes / 2 ** 20).toFixed(1)} MiB, ${after.fds} fds, ${after.threads} threads; on disk ${(disk.bytes / 2 ** 20).toFixed(1)} MiB in ${disk.files} files`);
    log(`  RSS per partition: ${(per / 1024).toFixed(1)} KiB (goal: under 64 KiB); fds per partition ${((after.fds - before.fds) / total).toFixed(2)}`);
    // Then data in every partition, so the restarts (and the unclean one's full recovery scan) have records to
    // read: --fill-records 1 KiB records per partition, in one batch, one Produce per topic (acks=all).
    const fill = num('fill-records');
    if (fill > 0) {
      const tf = performance.now();
      await fillPartitions(server, topics, perTopic, fill);
      const d = diskBytes(server.dataDir);
      out.fill = { records: fill, ms: performance.now() - tf, disk: d };
      log(`  filled every partition with ${fill} records of 1 KiB in ${((performance.now() - tf) / 1000).toFixed(1)} s; on disk ${(d.bytes / 2 ** 20).toFixed(1)} MiB`);
    }
    const restarts: Record<string, unknown>[] = [];
    for (const kind of ['clean', 'unclean'] as const) {
      for (let i = 1; i <= repeats; i++) {
        const l = load();
        const ts = performance.now();
        if (kind === 'clean') await server.stop();
        else await server.kill();
        const stopMs = performance.now() - ts;
        const t1 = performance.now();
        await server.start(runDir, port);
        const listenMs = performance.now() - t1;
        const readyMs = await untilAllServed(server, topics, total, t1);
        await sleep(3000);
        const s = procSample(server.pid);
        restarts.push({ kind, repeat: i, load: l, stopMs, listenMs, readyMs, rssBytes: s.rssBytes, fds: s.fds });
        log(`  ${kind} restart #${i}: stop ${stopMs.toFixed(0)} ms, port accepts after ${listenMs.toFixed(0)} ms, Metadata shows all ${total} partitions after ${readyMs.toFixed(0)} ms; RSS then ${(s.rssBytes / 2 ** 20).toFixed(1)} MiB, ${s.fds} fds; load ${l}`);
      }
    }
    out.restarts = restarts;
    const lines = ['| restart | stop (SIGTERM drain+sync / SIGKILL) ms | port accepts after ms | Metadata with all partitions after ms | RSS after MiB | load avg (1m) |', '|---|---|---|---|---|---|'];
    for (const kind of ['clean', 'unclean']) {
      const rs = restarts.filter((r) => r.kind === kind) as { stopMs: number; listenMs: number; readyMs: number; rssBytes: number; load: string }[];
      lines.push(`| ${kind} | ${cell(rs.map((r) => r.stopMs))} | ${cell(rs.map((r) => r.listenMs))} | ${cell(rs.map((r) => r.readyMs))} | ${cell(rs.map((r) => r.rssBytes / 2 ** 20), 1)} | ${rs.map((r) => r.load.split(' ')[0]).join(', ')} |`);
    }
    log(lines.join('\n'));
  } finally {
    await server.stop();
    fs.rmSync(runDir, { recursive: true, force: true });
  }
  report.memory = out;
}

const run: Record<Section, () => Promise<void>> = { throughput, crossing, hop, memory, curve };
log(`# bench:shards on ${(report.machine as { description: string }).description}; data under ${dir} (${(report.machine as { filesystem: string }).filesystem}); load ${load()}`);
fs.mkdirSync(dir, { recursive: true });
try {
  for (const s of sections) await run[s]();
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
if (flags.json) fs.writeFileSync(flags.json, JSON.stringify(report, null, 2));
