/**
 * Idempotent and transactional produce beside plain produce (issue 6): docs/benchmarks.md's section
 * "Idempotence and transactions (issue 6)" from one command.
 *
 *   npm run bench:txn -- [--smp 2] [--repeats 3] [--duration-s 10] [--warmup-s 2] [--partitions 8]
 *                        [--variants plain,idempotent,txn100,txn1000] [--record-bytes 1024] [--max-in-flight 5]
 *                        [--linger-ms 5] [--queue-kib 32768] [--dir DIR] [--json FILE]
 *
 * Each run: a fresh `tern start --smp N` (bench/shards-server.ts: a child process on loopback, its data under
 * --dir, which must be a real disk: tmpfs would make every fdatasync free) with one topic of --partitions
 * partitions, loaded by one librdkafka producer (confluent-kafka-python, bench/py/txn_load.py, run with the
 * Debian /usr/bin/python3 as test/e2e does) in a closed loop at its maximum rate, acks=all, --record-bytes
 * records round-robin over the partitions:
 *   plain       enable.idempotence=false
 *   idempotent  enable.idempotence=true
 *   txn<N>      transactional.id: begin_transaction, N records, flush, commit_transaction, again
 * --warmup-s of load, then --duration-s measured (txn: between commit boundaries). Every variant uses the same
 * client settings (max.in.flight --max-in-flight, linger.ms --linger-ms, queue.buffering.max.kbytes --queue-kib),
 * so the difference between plain and idempotent is the broker's and the protocol's, not librdkafka's defaults
 * (which allow 1,000,000 requests in flight without idempotence and 5 with it).
 *
 * Reported per run: messages/s and MB/s, the load generator's CPU (its own os.times, all its threads) and the
 * broker's (/proc/<pid>/stat and per-thread /proc/<pid>/task, sampled when the script prints WINDOW_START and
 * WINDOW_END), produce-to-acknowledgement p50/p99 (librdkafka's per-message latency()), and for txn variants
 * the transaction time, the time to the first acknowledged record, commit_transaction p50/p99/p99.9 and the
 * AddPartitionsToTxn/EndTxn requests per transaction. The python side sends raw microsecond values; the HDR
 * histograms (hdr-histogram-js, bench/histogram.ts) and every percentile are computed here (txn-figures.ts).
 * Where a transaction's time goes, two views: librdkafka's own round trip per request type (from its
 * `debug: eos,protocol,msg` lines, AddPartitionsToTxn split into accepted and CONCURRENT_TRANSACTIONS; Produce
 * batches failed by the broker and retried, by error), and the
 * coordinator's timeline, read back from `__transaction_state` after the run (src/client fetch; each record's
 * status and update time, ms): first Ongoing -> PrepareCommit -> CompleteCommit -> the next first Ongoing.
 *
 * Sanity: after the window the script counts the topic with a read_committed consumer (txn variants end with
 * one aborted transaction, so the count must leave it out) and sums the high watermarks; a run whose counts do
 * not match what was committed/acknowledged is reported as failed, left out of the tables, and the command exits 1.
 *
 * Variants alternate (as given on odd repeats, reversed on even ones); `uptime`'s load average is printed with
 * every run because the machine may be shared. The load generator runs on the same machine as the broker.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { KafkaClient } from '../src/client/index.js';
import { partitionForGroup } from '../src/groups/index.js';
import { txnCoordinatorDefaults } from '../src/txn/config.js';
import { decodeTxnKey, decodeTxnValue } from '../src/txn/records.js';
import { TRANSACTION_STATE_TOPIC } from '../src/txn/types.js';
import { describeMachine } from './machine.js';
import { HOST } from './proc.js';
import { ShardedTernServer, threadCpuSeconds } from './shards-server.js';
import { loadText, threadCpuDelta, type ThreadCpu } from './shards-figures.js';
import {
  breakdownTable,
  DEFAULT_VARIANTS,
  figuresOf,
  parseLoadResult,
  parseVariants,
  throughputTable,
  transactionTable,
  txnPhases,
  variantOrder,
  type LoadResult,
  type RunFigures,
  type TxnStateRecord,
  type Variant,
} from './txn-figures.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The Debian python that has python3-confluent-kafka (as test/e2e/lib/proc.ts's PYTHON; the one on PATH may not). */
const PYTHON = '/usr/bin/python3';
const LOAD_SCRIPT = path.join(ROOT, 'bench/py/txn_load.py');
const TOPIC = 'bench-txn';
/** Time a run may take beyond its warm-up and window (start-up, the final flush, the counting consumer). */
const RUN_SLACK_S = 180;
/** Committed transactions at the start of a run left out of the coordinator's timeline (warm-up). */
const PHASES_SKIP_TXNS = 5;
/** Fetches of `__transaction_state` at most when reading a run's timeline (each returns up to 1 MiB). */
const TXN_STATE_FETCHES_MAX = 10_000;
/** Characters of the broker's warn-level output kept for the report. */
const BROKER_OUTPUT_CHARS_MAX = 4000;

const { values: flags } = parseArgs({
  options: {
    smp: { type: 'string', default: '2' },
    repeats: { type: 'string', default: '3' },
    'duration-s': { type: 'string', default: '10' },
    'warmup-s': { type: 'string', default: '2' },
    partitions: { type: 'string', default: '8' },
    variants: { type: 'string', default: DEFAULT_VARIANTS },
    'record-bytes': { type: 'string', default: '1024' },
    'max-in-flight': { type: 'string', default: '5' },
    'linger-ms': { type: 'string', default: '5' },
    'queue-kib': { type: 'string', default: '32768' },
    dir: { type: 'string', default: path.join(os.tmpdir(), `tern-bench-txn-${process.pid}`) },
    json: { type: 'string' },
  },
});

function positive(k: keyof typeof flags, integer = true): number {
  const v = Number(flags[k]);
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) throw new Error(`--${k} must be a positive ${integer ? 'integer' : 'number'}, got '${String(flags[k])}'`);
  return v;
}

const smp = positive('smp');
const repeats = positive('repeats');
const durationS = positive('duration-s', false);
const warmupS = positive('warmup-s', false);
const partitions = positive('partitions');
const recordBytes = positive('record-bytes');
const maxInFlight = positive('max-in-flight');
const lingerMs = Number(flags['linger-ms']);
if (!(Number.isInteger(lingerMs) && lingerMs >= 0)) throw new Error('--linger-ms must be a non-negative integer');
const queueKiB = positive('queue-kib');
const variants = parseVariants(flags.variants!);
for (const v of variants) if (v.txnRecords !== null && v.txnRecords * recordBytes > queueKiB * 1024) throw new Error(`${v.name}: a transaction of ${v.txnRecords} x ${recordBytes} B does not fit --queue-kib ${queueKiB}`);
const dir = path.resolve(flags.dir!);
const log = (line: string): void => console.log(line);
const load = (): string => loadText(os.loadavg());
const machine = describeMachine(dir);
if (machine.filesystem.startsWith('tmpfs')) throw new Error(`--dir ${dir} is on ${machine.filesystem}: fdatasync is free there, pick a directory on a disk`);

interface Run {
  figures: RunFigures;
  result: LoadResult;
  brokerThreads: ThreadCpu[];
  brokerOutput: string;
}

interface Window {
  cpuS: number | null;
  atMs: number;
  threads: ReturnType<typeof threadCpuSeconds>;
}

/** Runs the load script against `port`; samples the broker at WINDOW_START / WINDOW_END; resolves to its RESULT. */
function runLoad(server: ShardedTernServer, variant: Variant, transactionalId: string): Promise<{ result: LoadResult; windows: Window[] }> {
  const config = {
    bootstrap: `${HOST}:${server.endpoint!.port}`,
    topic: TOPIC,
    partitions,
    mode: variant.mode,
    txnRecords: variant.txnRecords,
    recordBytes,
    warmupS,
    durationS,
    maxInFlight,
    lingerMs,
    queueKiB,
    transactionalId,
    deadlineS: warmupS + durationS + RUN_SLACK_S,
  };
  const child = spawn(PYTHON, [LOAD_SCRIPT, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' } });
  const windows: Window[] = [];
  let result: LoadResult | null = null;
  let parseError: unknown = null;
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  const lines = readline.createInterface({ input: child.stdout, crlfDelay: Infinity });
  lines.on('line', (line) => {
    if (line === 'WINDOW_START' || line === 'WINDOW_END') windows.push({ cpuS: server.cpuSeconds(), atMs: performance.now(), threads: threadCpuSeconds(server.pid) });
    else if (line.startsWith('RESULT ')) {
      try {
        result = parseLoadResult(line.slice('RESULT '.length));
      } catch (err) {
        parseError = err;
      }
    }
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), (warmupS + durationS + RUN_SLACK_S + 30) * 1000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${PYTHON}: ${err.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (parseError !== null) reject(new Error(`load script RESULT unreadable: ${String(parseError)}`));
      else if (result === null || code !== 0) reject(new Error(`load script ${variant.name} exited ${code ?? signal} without a result:\n${stderr}`));
      else if (windows.length !== 2) reject(new Error(`load script printed ${windows.length} window marks, expected 2`));
      else resolve({ result, windows });
    });
  });
}

/**
 * The records of `transactionalId` in its `__transaction_state` partition (the broker's default partition count,
 * which bench runs do not change), read with src/client's fetch from the start to the high watermark.
 */
async function readTxnState(server: ShardedTernServer, transactionalId: string): Promise<TxnStateRecord[]> {
  const client = await KafkaClient.connect({ brokers: `${HOST}:${server.endpoint!.port}`, clientId: 'tern-bench-txn-state' });
  const partition = partitionForGroup(transactionalId, txnCoordinatorDefaults.transactionStateTopicPartitions);
  const out: TxnStateRecord[] = [];
  try {
    let offset = 0;
    for (let i = 0; i < TXN_STATE_FETCHES_MAX; i++) {
      const r = await client.fetch(TRANSACTION_STATE_TOPIC, partition, offset, { maxWaitMs: 0 });
      for (const rec of r.records) {
        if (rec.key === null || rec.value === null || decodeTxnKey(rec.key) !== transactionalId) continue;
        const v = decodeTxnValue(rec.value);
        out.push({ status: v.status, lastUpdateTimestampMs: v.lastUpdateTimestampMs });
      }
      if (r.nextOffset >= r.highWatermark || r.nextOffset === offset) break;
      offset = r.nextOffset;
    }
  } finally {
    client.close();
  }
  return out;
}

async function oneRun(variant: Variant, repeat: number): Promise<Run> {
  const runDir = path.join(dir, `${variant.name}-${repeat}`);
  fs.rmSync(runDir, { recursive: true, force: true });
  const loadBefore = load();
  const server = new ShardedTernServer(smp);
  await server.start(runDir);
  let brokerOutput = '';
  try {
    await server.createTopics([TOPIC], partitions);
    const transactionalId = `bench-txn-${variant.name}-${repeat}`;
    const { result, windows } = await runLoad(server, variant, transactionalId);
    const phases = variant.mode === 'txn' ? txnPhases(await readTxnState(server, transactionalId), PHASES_SKIP_TXNS) : null;
    const [a, b] = windows as [Window, Window];
    const wallS = (b.atMs - a.atMs) / 1000;
    const brokerCpuS = a.cpuS === null || b.cpuS === null ? null : b.cpuS - a.cpuS;
    const figures = figuresOf(variant.name, repeat, loadBefore, result, recordBytes, brokerCpuS, wallS, phases);
    const brokerThreads = threadCpuDelta(a.threads, b.threads, wallS, 0.05);
    brokerOutput = server.server?.output.slice(-BROKER_OUTPUT_CHARS_MAX) ?? '';
    const f = figures;
    const txn =
      f.txn && f.commit && f.firstAck
        ? `; ${f.txnsPerSec!.toFixed(1)} txn/s, coordinator (${f.phases?.transactions ?? 0} txns) Ongoing→Prepare p50 ${f.phases?.ongoingToPrepareMs.p50} ms, Prepare→Complete p50 ${f.phases?.prepareToCompleteMs.p50} p99 ${f.phases?.prepareToCompleteMs.p99} ms, Complete→next Ongoing p50 ${f.phases?.completeToNextOngoingMs.p50} ms, rtt ms p50 ${Object.entries(f.rtt).map(([k, v]) => `${k} ${(v.p50Us / 1000).toFixed(2)}`).join(', ')}, txn p50 ${(f.txn.p50Us / 1000).toFixed(1)} ms, first ack p50 ${(f.firstAck.p50Us / 1000).toFixed(1)} ms, commit p50 ${(f.commit.p50Us / 1000).toFixed(2)} p99 ${(f.commit.p99Us / 1000).toFixed(2)} p99.9 ${(f.commit.p999Us / 1000).toFixed(2)} ms, AddPartitionsToTxn/txn ${f.addPartitionsPerTxn!.toFixed(2)} (CONCURRENT_TRANSACTIONS ${f.concurrentPerTxn!.toFixed(2)}), EndTxn/txn ${f.endTxnPerTxn!.toFixed(2)}`
        : '';
    log(
      `  #${repeat} ${variant.name}: ${Math.round(f.msgsPerSec)} msg/s ${f.mbPerSec.toFixed(1)} MB/s, ack p50 ${(f.ack.p50Us / 1000).toFixed(1)} ms p99 ${(f.ack.p99Us / 1000).toFixed(1)} ms${txn}; client ${f.clientCores.toFixed(2)} cores, broker ${f.brokerCores?.toFixed(2) ?? '?'} cores [${brokerThreads
        .slice(0, smp + 1)
        .map((t) => `${t.cores.toFixed(2)}+wait ${t.waitCores.toFixed(2)}`)
        .join(' ')}]; CPU µs/record client ${f.clientUsPerRecord.toFixed(1)} broker ${f.brokerUsPerRecord?.toFixed(1) ?? '?'}; request retries ${result.producerRetries}${Object.keys(result.batchErrors).length > 0 ? `, Produce batches failed (retried after 100 ms): ${Object.entries(result.batchErrors).map(([e, n]) => `${n} x ${e}`).join(', ')}` : ''}; check: ${f.problems.length === 0 ? `ok (read_committed ${result.readCommitted} = ${result.expectedReadCommitted}, high watermarks ${result.highWatermarkSum}, counted in ${result.countS.toFixed(1)} s)` : `FAILED: ${f.problems.join('; ')}`}; load ${loadBefore}`,
    );
    if (result.clientErrors.length > 0) log(`    client errors: ${result.clientErrors.slice(0, 5).join(' | ')}`);
    if (brokerOutput.trim() !== '') log(`    broker printed (warn and above, last ${BROKER_OUTPUT_CHARS_MAX} chars):\n${brokerOutput.trimEnd().split('\n').map((l) => `      ${l}`).join('\n')}`);
    return { figures, result, brokerThreads, brokerOutput };
  } finally {
    await server.stop();
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}

const report: Record<string, unknown> = {
  startedAt: new Date().toISOString(),
  machine,
  argv: process.argv.slice(2),
  settings: { smp, repeats, durationS, warmupS, partitions, recordBytes, maxInFlight, lingerMs, queueKiB, variants: variants.map((v) => v.name), acks: 'all' },
};
log(`# bench:txn on ${machine.description}; data under ${dir} (${machine.filesystem}); load ${load()}`);
log(
  `tern start --smp ${smp}; topic ${TOPIC} with ${partitions} partitions; one librdkafka producer (confluent-kafka-python, ${PYTHON}), ${recordBytes} B records round-robin, acks=all, max.in.flight ${maxInFlight}, linger.ms ${lingerMs}, queue ${queueKiB} KiB; closed loop, ${warmupS} s warm-up + ${durationS} s; variants ${variants.map((v) => v.name).join(', ')}, alternating, ${repeats} repeats`,
);
fs.mkdirSync(dir, { recursive: true });
const runs: Run[] = [];
try {
  for (let i = 1; i <= repeats; i++) for (const v of variantOrder(variants, i)) runs.push(await oneRun(v, i));
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
const figures = runs.map((r) => r.figures);
const names = variants.map((v) => v.name);
log(`\n## throughput (median (min–max) over the runs whose checks passed)\n${throughputTable(names, figures)}`);
if (variants.some((v) => v.mode === 'txn')) log(`\n## transactions\n${transactionTable(names, figures)}\n\n## where a transaction's time goes (per-run p50/p99, then median (min–max) over runs)\n${breakdownTable(names, figures)}`);
const failed = figures.filter((f) => f.problems.length > 0);
if (failed.length > 0) {
  log(`\n${failed.length} run(s) FAILED their checks and are left out of the tables:`);
  for (const f of failed) log(`  #${f.repeat} ${f.variant}: ${f.problems.join('; ')}`);
  process.exitCode = 1;
}
report.runs = runs.map((r) => ({
  ...r.figures,
  brokerThreads: r.brokerThreads,
  brokerOutput: r.brokerOutput,
  // The per-record acknowledgement times are summarized only (up to millions of values); the rest stays raw.
  result: { ...r.result, ackLatencyUs: undefined },
}));
if (flags.json) fs.writeFileSync(flags.json, JSON.stringify(report, null, 2));
