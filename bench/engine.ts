/**
 * The log engine benchmark (issue #3): append MB/s and append-to-durable latency of the partition log over the
 * native engine (src/io/native-file.ts: O_DIRECT, group commit in native threads) and over the TypeScript path
 * (NodeFileSystem + the JS-side SyncScheduler), beside fio's limits for the same disk measured in the same run.
 *
 *   npm run build && node dist/bench/engine.js [--duration-s 3] [--quick] [--dir /path/on/real/disk]
 *       [--engines native,node] [--native-config ioThreads=4,flushDelayUs=0,readAheadBytes=0,pipelineRounds=1,zeroAheadBytes=0 ...] [--rate 5000] [--json out.json]
 *       [--only <regex over cell names such as "log rate 1 KiB x 16 p">] [--outstanding N] [--no-fio] [--no-floor] [--no-raw]
 *       [--batch-cache-bytes N] [--index-interval-bytes N]   (diagnostics; defaults as in the broker)
 *
 * What is measured (every figure is a real durable append: resolved only after fdatasync):
 * - mode "log": through the real PartitionLog, wired as the broker wires it (LogManager.open({ dataDir, fs })),
 *   appending valid Kafka v2 record batches built once (buildRecordBatch, validateBatches) and reused from a pool
 *   of copies; the log rewrites base offset and leader epoch in place, as it does for produce. So these are the
 *   numbers the broker's produce path gets from its log, minus the network and the protocol.
 * - mode "raw": straight at one AppendFile (append + sync, the node path through a SyncScheduler as LogManager
 *   builds it), to separate the engine from the log above it.
 * - mode "read": cold sequential reads (256 MiB written through one AppendFile, then read back in 1 MiB reads,
 *   each starting a little before the previous one's end as a fetch does after cutting at a batch boundary; one
 *   read outstanding); MB/s is the read rate, latency per read. Compare `--native-config readAheadBytes=0`.
 * - mode "null": the open-loop generator against a target that resolves at once (nothing written), to show what
 *   the generator itself costs (CPU, GC, pacer lateness).
 * - load "max": closed loop, a fixed number of appends outstanding, spread round-robin over the partitions; a
 *   finished append is replaced at once. Latency there is mostly queueing (Little's law); the figure that
 *   matters is MB/s.
 * - load "serial": closed loop with one append outstanding on one partition, each issued when the previous one is
 *   durable: the shape of fio's fdatasync job (one write + fdatasync at a time, each timed from its own issue), so
 *   its p99 is the like-for-like comparison with fio's fdatasync p99 (the rate it reaches is the load: one
 *   append per durable round trip).
 * - load "rate": open loop at a fixed total rate spread round-robin over the partitions; latency is measured from
 *   the time each append was due (coordinated omission corrected: a stall delays every append due meanwhile).
 *   A C process paces (bench/pacer.c: a byte down a pipe per due append, read on the event loop as the broker
 *   reads its sockets), so the schedule is not bound to Node's 1 ms timers and pacing costs the 2 vCPUs little.
 * - per cell, the engine's counters over the measured window: group-commit rounds, fdatasyncs, completion
 *   callbacks into JS and results per callback (native), or rounds and syncs of the SyncScheduler (node); the
 *   event-loop lateness of this process (GC pauses and CPU starvation show there, not in the engine's counters)
 *   and its CPU use.
 * - per native cell, where the time goes (second table): the engine's own histograms over the window (queue wait
 *   from the first queued request to its round's start, round duration, per-file write and fdatasync, the
 *   hand-off from results posted to the JS callback running), and on the JS side the pacer's lateness (due ->
 *   issued), the time from the engine callback to each append's resolution (promise chain through the log), and
 *   GC pauses (count, total, longest) seen by a PerformanceObserver.
 *   The open-loop generator is kept cheap so it is not what makes the loop late: payload copies are pooled, one
 *   closure per append.
 * Results: a Markdown table on stdout, every figure as JSON in bench/results/engine-<time>.json (or --json).
 *
 * Targets (issue #3): large-batch append MB/s >= 80% of fio's O_DIRECT sequential write; p99 at moderate load
 * <= 2x fio's fdatasync p99; 1,000 partitions at the same total rate <= 2x the p99 of one partition.
 * The data dir must be on a real disk (never tmpfs: fsync there is a no-op).
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import hdr from 'hdr-histogram-js';
import {
  NativeFileSystem,
  NodeFileSystem,
  histogramDiff,
  histogramMean,
  histogramPercentile,
  journalFilesMinDefault,
  journalPath,
  nativeEngineAvailable,
  replayJournals,
  type AppendFile,
  type EngineHistograms,
  type EngineOptions,
  type EngineStats,
  type FileSystem,
} from '../src/io/index.js';
import { LogManager, SyncScheduler, defaultLogConfig, type PartitionLog } from '../src/log/index.js';
import { buildRecordBatch, validateBatches, type ValidatedBatch } from '../src/protocol/records.js';
import { fioAvailable, measureDisk, type FioResult } from './fio.js';
import { measureFloor, type FloorResult } from './floor.js';
import { compileBenchC } from './cc.js';

const KiB = 1024;
const MiB = 1024 * 1024;

interface Args {
  durationS: number;
  warmupS: number;
  fioS: number;
  quick: boolean;
  dir: string;
  json: string;
  engines: ('native' | 'node')[];
  nativeConfigs: EngineOptions[];
  rate: number;
  fio: boolean;
  /** Measure the device floor (bench/floor.c) before each open-loop cell. */
  floor: boolean;
  raw: boolean;
  /** Runs only the cells whose name (`log rate 1 KiB x 16 p`) matches. */
  only: RegExp | null;
  /** Overrides the outstanding appends of every closed-loop cell. */
  outstanding: number | null;
  /** Diagnostic: the LogManager's batch cache budget (default: the LogManager default, as the broker). */
  batchCacheBytes: number | null;
  /** Diagnostic: index.interval.bytes of the bench partitions (default: Kafka's 4096, as the broker). */
  indexIntervalBytes: number | null;
}

function parseArgs(argv: string[]): Args {
  const all = (name: string): string[] => argv.flatMap((a, i) => (a === name && argv[i + 1] !== undefined ? [argv[i + 1]!] : []));
  const get = (name: string): string | undefined => all(name).at(-1);
  const quick = argv.includes('--quick');
  const durationS = Number(get('--duration-s') ?? (quick ? 1 : 3));
  if (!(durationS > 0)) throw new Error('--duration-s must be > 0');
  const engines = (get('--engines') ?? 'native,node').split(',').map((e) => {
    if (e !== 'native' && e !== 'node') throw new Error(`--engines: unknown engine ${e}`);
    return e;
  });
  const nativeConfigs = all('--native-config').map(parseEngineOptions);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  return {
    durationS,
    warmupS: Number(get('--warmup-s') ?? (quick ? 0.3 : 0.5)),
    fioS: Number(get('--fio-s') ?? (quick ? 2 : 4)),
    quick,
    dir: get('--dir') ?? path.join(os.tmpdir(), `tern-bench-engine-${process.pid}`),
    json: get('--json') ?? path.join(root, 'bench/results', `engine-${stamp}.json`),
    engines,
    nativeConfigs: nativeConfigs.length > 0 ? nativeConfigs : [{}],
    rate: Number(get('--rate') ?? 5000),
    fio: !argv.includes('--no-fio'),
    floor: !argv.includes('--no-floor'),
    raw: !argv.includes('--no-raw'),
    only: get('--only') === undefined ? null : new RegExp(get('--only')!),
    outstanding: get('--outstanding') === undefined ? null : Number(get('--outstanding')),
    batchCacheBytes: get('--batch-cache-bytes') === undefined ? null : Number(get('--batch-cache-bytes')),
    indexIntervalBytes: get('--index-interval-bytes') === undefined ? null : Number(get('--index-interval-bytes')),
  };
}

/** "ioThreads=2,flushDelayUs=100,flushBytesMax=8388608" */
/**
 * Engine options of a variant; `journalFilesMin` (0: no journal) sets up the engine's journal in the cell's data
 * dir as the broker does (default: the broker's, journalFilesMinDefault).
 */
type VariantOptions = EngineOptions & { journalFilesMin?: number; journalBytes?: number; checkpointIntervalMs?: number };

function parseEngineOptions(s: string): VariantOptions {
  const o: Record<string, number | boolean> = {};
  for (const kv of s.split(',').filter((x) => x !== '')) {
    const [k, v] = kv.split('=');
    if (k !== 'ioThreads' && k !== 'flushDelayUs' && k !== 'flushBytesMax' && k !== 'readAheadBytes' && k !== 'pipelineRounds' && k !== 'zeroAheadBytes' && k !== 'journalFilesMin' && k !== 'journalBytes' && k !== 'checkpointIntervalMs') {
      throw new Error(`--native-config: unknown key ${k}`);
    }
    o[k] = k === 'pipelineRounds' ? Number(v) !== 0 : Number(v);
  }
  return o as VariantOptions;
}

// --- workload definitions --------------------------------------------------------------------------------------

interface Cell {
  mode: 'log' | 'raw' | 'null' | 'read';
  load: 'max' | 'serial' | 'rate';
  appendBytes: number;
  partitions: number;
  /** load 'max': appends outstanding. */
  outstanding?: number;
  /** load 'rate': appends per second, all partitions together. */
  rate?: number;
}

/** Outstanding appends for the closed loop: enough bytes in flight for a round to fill while the previous syncs. */
function outstandingFor(appendBytes: number, partitions: number): number {
  const base = appendBytes <= KiB ? 1024 : appendBytes <= 16 * KiB ? 256 : 32;
  return Math.max(base, partitions);
}

function cellsFor(args: Args): Cell[] {
  const cells: Cell[] = [];
  for (const appendBytes of [KiB, 16 * KiB]) {
    for (const partitions of [1, 16, 1000]) {
      cells.push({ mode: 'log', load: 'max', appendBytes, partitions, outstanding: outstandingFor(appendBytes, partitions) });
    }
  }
  // Large batches: what the ">= 80% of fio's O_DIRECT limit" target is about.
  cells.push({ mode: 'log', load: 'max', appendBytes: 256 * KiB, partitions: 16, outstanding: 128 });
  cells.push({ mode: 'log', load: 'max', appendBytes: MiB, partitions: 1, outstanding: outstandingFor(MiB, 1) });
  if (args.raw) cells.push({ mode: 'raw', load: 'max', appendBytes: MiB, partitions: 1, outstanding: outstandingFor(MiB, 1) });
  // fio's fdatasync job's shape (one append at a time): p99 like for like with fio's.
  for (const appendBytes of [KiB, 16 * KiB]) cells.push({ mode: 'log', load: 'serial', appendBytes, partitions: 1, outstanding: 1 });
  for (const appendBytes of [KiB, 16 * KiB]) {
    for (const partitions of [1, 16, 1000]) cells.push({ mode: 'log', load: 'rate', appendBytes, partitions, rate: args.rate });
  }
  // The engine alone at moderate load: what the log layer above it adds to the latency.
  if (args.raw) cells.push({ mode: 'raw', load: 'rate', appendBytes: KiB, partitions: 1, rate: args.rate });
  // Cold sequential reads of a file just written (direct: nothing in the page cache), as a consumer catching up.
  if (args.raw) cells.push({ mode: 'read', load: 'max', appendBytes: MiB, partitions: 1, outstanding: 1 });
  // The load generator alone (appends resolve at once, nothing is written): its own CPU, GC and loop lateness.
  if (args.raw) cells.push({ mode: 'null', load: 'rate', appendBytes: KiB, partitions: 1, rate: args.rate });
  if (args.outstanding !== null) for (const c of cells) if (c.load === 'max') c.outstanding = args.outstanding;
  return args.only === null ? cells : cells.filter((c) => args.only!.test(cellName(c)));
}

function cellName(c: Cell): string {
  return `${c.mode} ${c.load} ${sizeName(c.appendBytes)} x ${c.partitions} p`;
}

// --- record batches --------------------------------------------------------------------------------------------

interface Template {
  bytes: Buffer;
  batches: ValidatedBatch[];
  records: number;
}

/** One valid v2 batch of exactly `size` bytes: ~1 KiB records, the first one's value sized to fit. */
function templateOf(size: number): Template {
  const count = Math.max(1, Math.round(size / (KiB + 16)));
  const value = Buffer.alloc(KiB, 0x61);
  let first = Math.max(1, KiB - 80);
  for (let attempt = 0; attempt < 16; attempt++) {
    const records = Array.from({ length: count }, (_, i) => ({ key: null, value: i === 0 ? Buffer.alloc(first, 0x62) : value, timestamp: 1_700_000_000_000 + i }));
    const bytes = buildRecordBatch(records, {});
    if (bytes.length === size) {
      const v = validateBatches(bytes, { maxBatchBytes: 1 << 30 });
      if (!v.ok) throw new Error(`template batch invalid: ${v.message}`);
      return { bytes, batches: v.batches, records: count };
    }
    first += size - bytes.length;
    if (first < 0) throw new Error(`cannot build a ${size} B batch of ${count} records`);
  }
  throw new Error(`cannot build a batch of exactly ${size} B`);
}

/**
 * Copies of a template, reused once the append holding one has resolved. Each copy owns its memory
 * (allocUnsafeSlow, not Node's shared 8 KiB pool): the batch cache keeps a batch that pins no more than its own
 * memory as a view, so the log stores the bench's bytes as it stores a produce request's, without a copy.
 */
class BufferPool {
  readonly #free: Buffer[] = [];
  constructor(private readonly template: Buffer) {}
  take(): Buffer {
    const b = this.#free.pop();
    if (b !== undefined) return b;
    const copy = Buffer.allocUnsafeSlow(this.template.length);
    this.template.copy(copy);
    return copy;
  }
  give(b: Buffer): void {
    this.#free.push(b);
  }
}

// --- engines ---------------------------------------------------------------------------------------------------

interface Variant {
  label: string;
  kind: 'native' | 'node';
  options: VariantOptions;
}

interface Counters {
  rounds: number;
  syncs: number;
  writes: number;
  bytesWritten: number;
  callbacks: number;
  results: number;
  /** Direct writes the engine found misaligned: always 0 unless the engine has a bug. */
  unalignedWrites: number;
  /** Native only: cumulative engine histograms and split-write counters (null for node). */
  hist: EngineHistograms | null;
  splitPieces: number;
  piecesByHelpers: number;
  /** Native only: bytes of zeros written ahead of the files' ends (EngineOptions.zeroAheadBytes). */
  zeroAheadBytes: number;
}

interface Rig {
  variant: Variant;
  fs: FileSystem;
  logs: LogManager;
  counters(): Counters;
  /** Partition logs of topic `p<n>` (created on first use). */
  partitions(n: number): Promise<PartitionLog[]>;
  close(): Promise<void>;
}

const nodeCounters: Counters = { rounds: NaN, syncs: NaN, writes: NaN, bytesWritten: NaN, callbacks: NaN, results: NaN, unalignedWrites: NaN, hist: null, splitPieces: NaN, piecesByHelpers: NaN, zeroAheadBytes: NaN };

/** The engine's JS face, for the time of its last completion callback (native only). */
function engineOf(fsImpl: FileSystem): { lastCallbackMonotonicMs: number; lastPostedMonotonicMs: number } | null {
  return fsImpl instanceof NativeFileSystem ? fsImpl.engine : null;
}

async function openRig(variant: Variant, dataDir: string, batchCacheBytes: number | null, indexIntervalBytes: number | null): Promise<Rig> {
  let fsImpl: FileSystem & { shutdown?(): void };
  if (variant.kind === 'native') {
    const { journalFilesMin = journalFilesMinDefault, journalBytes, checkpointIntervalMs, ...options } = variant.options;
    await replayJournals(new NodeFileSystem(), dataDir);
    const journal = { path: journalPath(dataDir, 'bench'), root: dataDir, filesMin: journalFilesMin, bytes: journalBytes, checkpointIntervalMs };
    fsImpl = new NativeFileSystem({ ...options, ...(journalFilesMin > 0 ? { journal } : {}) });
  } else {
    fsImpl = new NodeFileSystem();
  }
  const logs = await LogManager.open({ dataDir, fs: fsImpl, ...(batchCacheBytes === null ? {} : { batchCacheBytesMax: batchCacheBytes }) });
  const topics = new Map<number, PartitionLog[]>();
  // retentionBytes 0: between cells the bench drops every sealed segment (so the disk does not fill up) and each
  // cell starts on fresh segment files.
  const config = { ...defaultLogConfig, retentionBytes: 0, ...(indexIntervalBytes === null ? {} : { indexIntervalBytes }) };
  return {
    variant,
    fs: fsImpl,
    logs,
    counters(): Counters {
      if (fsImpl instanceof NativeFileSystem) {
        const s: EngineStats = fsImpl.engine.stats();
        return {
          rounds: s.rounds,
          syncs: s.syncs,
          writes: s.writes,
          bytesWritten: s.bytesWritten,
          callbacks: s.callbacks,
          results: s.results,
          unalignedWrites: s.unalignedWrites,
          hist: s.histograms,
          splitPieces: s.splitPieces,
          piecesByHelpers: s.piecesByHelpers,
          zeroAheadBytes: s.zeroAheadBytes,
        };
      }
      return { ...nodeCounters, rounds: logs.scheduler.roundCount, syncs: logs.scheduler.syncCount };
    },
    async partitions(n: number): Promise<PartitionLog[]> {
      let ps = topics.get(n);
      if (ps === undefined) {
        ps = [];
        for (let i = 0; i < n; i += 50) {
          const chunk = await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, j) => logs.createPartition(`p${n}`, i + j, config)));
          ps.push(...chunk);
        }
        topics.set(n, ps);
      }
      return ps;
    },
    async close(): Promise<void> {
      await logs.close();
      fsImpl.shutdown?.();
    },
  };
}

/** Drops every sealed segment of `logs` (retentionBytes 0), waits until the files are gone, and commits the journal. */
async function cleanUp(logs: PartitionLog[], dir: string): Promise<void> {
  for (let i = 0; i < logs.length; i += 100) await Promise.all(logs.slice(i, i + 100).map((l) => l.applyRetention(Date.now())));
  const deadline = Date.now() + 10_000;
  for (;;) {
    let extra = 0;
    for (const l of logs) extra += fs.readdirSync(l.dir).filter((n) => n.endsWith('.log')).length - 1;
    if (extra <= 0 || Date.now() > deadline) break;
    await sleep(50);
  }
  // The mount may discard freed blocks at the next journal commit: do that commit now, not inside the next cell.
  try {
    execFileSync('sync', ['-f', dir]);
  } catch {
    /* best effort */
  }
}

/** monitorEventLoopDelay reports the timer's whole interval (ns); lateness is what exceeds the 1 ms asked for. */
function lateness(ns: number): number {
  return Math.max(0, Math.round(ns / 1000 - 1000));
}

/** Event-loop lateness of this process while idle, as a baseline for the per-cell figures. */
async function idleLateness(ms: number): Promise<{ p99Us: number; maxUs: number }> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  await sleep(ms);
  h.disable();
  return { p99Us: lateness(h.percentile(99)), maxUs: lateness(h.max) };
}

// --- one cell --------------------------------------------------------------------------------------------------

interface CellResult extends Cell {
  engine: string;
  appendsPerSec: number;
  mbps: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
  /** load 'rate': latency from the actual issue time, without the pacer's lateness. */
  serviceP99Us?: number;
  /**
   * load 'rate' (log, raw): the device floor (bench/floor.c) for the same rate and append size, one file, run
   * just before the cell: the same open-loop schedule by one C thread with ideal group commit.
   */
  floor?: FloorResult | null;
  seconds: number;
  appends: number;
  counters: Counters;
  /** Event-loop lateness over the whole cell, µs: how late a 1 ms timer fired (GC pauses, CPU starvation). */
  loopDelayP99Us: number;
  loopDelayMaxUs: number;
  /** CPU time of this process (JS thread + engine threads + libuv pool) per wall second, in cores. */
  cpuCores: number;
  loadAvg1: number;
  /** load 'rate': due -> issued, µs (pacer and event-loop lateness). */
  pacerLateP99Us?: number;
  /** load 'rate', native: engine callback began -> append resolved, µs. */
  afterCallbackP50Us?: number;
  afterCallbackP99Us?: number;
  /** load 'rate', native: the slowest 1% of appends, mean share of each part of their latency. */
  tail?: TailShares;
  /** GC pauses in the measured cell (PerformanceObserver 'gc'). */
  gcCount: number;
  gcTotalMs: number;
  gcMaxMs: number;
  /** Native: percentiles of the engine's histograms over the window. */
  engineTiming?: EngineTiming;
}

interface EngineTiming {
  fileP50Us: number;
  fileP99Us: number;
  queueWaitP50Us: number;
  queueWaitP99Us: number;
  syncWaitP50Us: number;
  syncWaitP99Us: number;
  roundP50Us: number;
  roundP99Us: number;
  roundMaxUs: number;
  writeP50Us: number;
  writeP99Us: number;
  writeMaxUs: number;
  syncP50Us: number;
  syncP99Us: number;
  syncMaxUs: number;
  deliverP50Us: number;
  deliverP99Us: number;
  callbackP99Us: number;
  filesPerRoundMean: number;
  filesPerRoundMax: number;
  resultsPerCallbackMean: number;
  splitPieces: number;
  piecesByHelpers: number;
  zeroAheadBytes: number;
}

function engineTiming(c: Counters): EngineTiming | undefined {
  const h = c.hist;
  if (h === null) return undefined;
  return {
    fileP50Us: histogramPercentile(h.fileLatencyUs, 50),
    fileP99Us: histogramPercentile(h.fileLatencyUs, 99),
    queueWaitP50Us: histogramPercentile(h.queueWaitUs, 50),
    queueWaitP99Us: histogramPercentile(h.queueWaitUs, 99),
    syncWaitP50Us: histogramPercentile(h.syncWaitUs, 50),
    syncWaitP99Us: histogramPercentile(h.syncWaitUs, 99),
    roundP50Us: histogramPercentile(h.roundUs, 50),
    roundP99Us: histogramPercentile(h.roundUs, 99),
    roundMaxUs: histogramPercentile(h.roundUs, 100),
    writeP50Us: histogramPercentile(h.writeUs, 50),
    writeP99Us: histogramPercentile(h.writeUs, 99),
    writeMaxUs: histogramPercentile(h.writeUs, 100),
    syncP50Us: histogramPercentile(h.syncUs, 50),
    syncP99Us: histogramPercentile(h.syncUs, 99),
    syncMaxUs: histogramPercentile(h.syncUs, 100),
    deliverP50Us: histogramPercentile(h.deliverUs, 50),
    deliverP99Us: histogramPercentile(h.deliverUs, 99),
    callbackP99Us: histogramPercentile(h.callbackUs, 99),
    filesPerRoundMean: histogramMean(h.filesPerRound),
    filesPerRoundMax: histogramPercentile(h.filesPerRound, 100),
    resultsPerCallbackMean: histogramMean(h.resultsPerCallback),
    splitPieces: c.splitPieces,
    piecesByHelpers: c.piecesByHelpers,
    zeroAheadBytes: c.zeroAheadBytes,
  };
}

interface Target {
  append(buf: Buffer): Promise<unknown>;
}

function histogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
}

function diff(a: Counters, b: Counters): Counters {
  return {
    rounds: b.rounds - a.rounds,
    syncs: b.syncs - a.syncs,
    writes: b.writes - a.writes,
    bytesWritten: b.bytesWritten - a.bytesWritten,
    callbacks: b.callbacks - a.callbacks,
    results: b.results - a.results,
    unalignedWrites: b.unalignedWrites - a.unalignedWrites,
    hist:
      a.hist === null || b.hist === null
        ? null
        : (Object.fromEntries(Object.keys(b.hist).map((k) => [k, histogramDiff(a.hist![k as keyof EngineHistograms], b.hist![k as keyof EngineHistograms])])) as unknown as EngineHistograms),
    splitPieces: b.splitPieces - a.splitPieces,
    piecesByHelpers: b.piecesByHelpers - a.piecesByHelpers,
    zeroAheadBytes: b.zeroAheadBytes - a.zeroAheadBytes,
  };
}

interface Window {
  counters: Counters;
  cpu: NodeJS.CpuUsage;
}

async function closedLoop(targets: Target[], pool: BufferPool, outstanding: number, warmupMs: number, durationMs: number, snap: () => Window): Promise<{ hist: hdr.Histogram; appends: number; seconds: number; start: Window; end: Window }> {
  const hist = histogram();
  const t0 = performance.now();
  const measureStart = t0 + warmupMs;
  const measureEnd = measureStart + durationMs;
  let start: Window | null = null;
  let end: Window | null = null;
  const startTimer = setTimeout(() => (start = snap()), warmupMs);
  const endTimer = setTimeout(() => (end = snap()), warmupMs + durationMs);
  let next = 0;
  let appends = 0;
  let failure: unknown = null;
  const slot = async (): Promise<void> => {
    while (failure === null && performance.now() < measureEnd) {
      const target = targets[next]!;
      next = (next + 1) % targets.length;
      const buf = pool.take();
      const s = performance.now();
      await target.append(buf);
      const e = performance.now();
      pool.give(buf);
      if (s >= measureStart) hist.recordValue(Math.max(1, Math.round((e - s) * 1000)));
      if (e >= measureStart && e <= measureEnd) appends++;
    }
  };
  await Promise.all(Array.from({ length: outstanding }, () => slot().catch((err: unknown) => void (failure ??= err))));
  clearTimeout(startTimer);
  clearTimeout(endTimer);
  if (failure !== null) throw failure;
  return { hist, appends, seconds: durationMs / 1000, start: start ?? snap(), end: end ?? snap() };
}

interface OpenLoopResult {
  hist: hdr.Histogram;
  service: hdr.Histogram;
  /** Due -> issued (the pacer's and the event loop's lateness). */
  pacerLate: hdr.Histogram;
  /** Native: the engine's completion callback began -> the append resolved (the promise chain through the log). */
  afterCallback: hdr.Histogram | null;
  /** Native: the slowest 1% of appends (by latency from due), mean µs of each share of their latency. */
  tail: TailShares | null;
  appends: number;
  seconds: number;
  start: Window;
  end: Window;
}

/** Where the slowest 1% of appends spent their time, mean µs per append. */
export interface TailShares {
  appends: number;
  totalUs: number;
  /** due -> issued: the pacer thread or this thread's event loop was late (GC, CPU starvation). */
  lateUs: number;
  /** issued -> the engine posted its result: log.append, engine queue, write, fdatasync. */
  engineUs: number;
  /** result posted -> the completion callback began on the JS thread (event loop busy, late or descheduled). */
  handOffUs: number;
  /** completion callback began -> the append resolved (JS). */
  jsUs: number;
}

async function openLoop(targets: Target[], pool: BufferPool, rate: number, warmupMs: number, durationMs: number, snap: () => Window, engine: { lastCallbackMonotonicMs: number; lastPostedMonotonicMs: number } | null): Promise<OpenLoopResult> {
  const hist = histogram();
  const service = histogram();
  const pacerLate = histogram();
  const afterCallback = engine === null ? null : histogram();
  // Per measured append: due, issued, callback start, resolved (µs since base), for the tail breakdown.
  const F = 5;
  const perAppend = engine === null ? null : new Float64Array(Math.round((rate * durationMs) / 1000) * F + 64);
  // One clock for everything: CLOCK_MONOTONIC, which the pacer (C), the engine's threads and process.hrtime read.
  // Not performance.now(): on the dev VM it drifts from CLOCK_MONOTONIC by 100-500 ppm (1-2 ms over a cell), which
  // made appends look issued before they were due (latencies understated; the bench before round 9 did so).
  const baseNs = process.hrtime.bigint();
  const baseMonoUs = Number(baseNs) / 1000;
  const nowUs = (): number => Number(process.hrtime.bigint() - baseNs) / 1000;
  const intervalNs = 1e9 / rate;
  const intervalUs = intervalNs / 1000;
  const warmupCount = Math.round((rate * warmupMs) / 1000);
  const total = warmupCount + Math.round((rate * durationMs) / 1000);
  const startNs = 50e6; // let the pacer start first (its late start would only add to the warm-up)
  const startUs = startNs / 1000;
  const pacerBin = compileBenchC('pacer');
  if (pacerBin === null) throw new Error('open-loop cells need bench/pacer.c compiled (a C compiler)');
  const pacer = spawn(pacerBin, [baseNs.toString(), String(startNs), String(Math.round(intervalNs)), String(total)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let start: Window | null = null;
  let issued = 0;
  let appends = 0;
  let settled = 0;
  let failure: unknown = null;
  let lastCompletionUs = 0;
  let allSettled: (() => void) | null = null;
  const onFail = (err: unknown): void => {
    failure ??= err;
    if (++settled === issued && allSettled !== null) allSettled();
  };
  const issue = (i: number): void => {
    if (i === warmupCount) start = snap();
    const target = targets[i % targets.length]!;
    const buf = pool.take();
    const dueUs = startUs + i * intervalUs;
    const sentUs = nowUs();
    target.append(buf).then(() => {
      const doneUs = nowUs();
      pool.give(buf);
      if (i >= warmupCount) {
        appends++;
        if (doneUs > lastCompletionUs) lastCompletionUs = doneUs;
        hist.recordValue(Math.max(1, Math.round(doneUs - dueUs)));
        service.recordValue(Math.max(1, Math.round(doneUs - sentUs)));
        pacerLate.recordValue(Math.max(1, Math.round(sentUs - dueUs)));
        if (afterCallback !== null) {
          const callbackUs = engine!.lastCallbackMonotonicMs * 1000 - baseMonoUs;
          afterCallback.recordValue(Math.max(1, Math.round(doneUs - callbackUs)));
          const k = (i - warmupCount) * F;
          if (perAppend !== null && k + F - 1 < perAppend.length) {
            perAppend[k] = dueUs;
            perAppend[k + 1] = sentUs;
            perAppend[k + 2] = engine!.lastPostedMonotonicMs * 1000 - baseMonoUs;
            perAppend[k + 3] = callbackUs;
            perAppend[k + 4] = doneUs;
          }
        }
      }
      if (++settled === issued && allSettled !== null) allSettled();
    }, onFail);
  };
  // One byte per due append (bench/pacer.c), read on this event loop as the broker reads its sockets.
  await new Promise<void>((resolve, reject) => {
    pacer.stdout.on('data', (chunk: Buffer) => {
      const due = Math.min(total, issued + chunk.length);
      while (issued < due) issue(issued++);
    });
    pacer.once('error', reject);
    pacer.once('close', (code) => (code === 0 && issued === total ? resolve() : reject(new Error(`pacer exited with ${code} after ${issued} of ${total}`))));
  });
  if (settled < issued) await new Promise<void>((resolve) => (allSettled = resolve));
  if (failure !== null) throw failure;
  const end = snap();
  // The window: from the first measured append's due time to the last measured completion.
  const seconds = (lastCompletionUs - (startUs + warmupCount * intervalUs)) / 1e6;
  return { hist, service, pacerLate, afterCallback, tail: perAppend === null ? null : tailShares(perAppend, appends), appends, seconds, start: start ?? end, end };
}

function tailShares(a: Float64Array, appends: number): TailShares {
  const F = 5;
  const n = Math.min(appends, Math.floor(a.length / F));
  const total = (j: number): number => a[j * F + 4]! - a[j * F]!;
  const order = Array.from({ length: n }, (_, j) => j).filter((j) => a[j * F + 4]! > 0);
  order.sort((x, y) => total(y) - total(x));
  const top = order.slice(0, Math.max(1, Math.floor(order.length / 100)));
  const t: TailShares = { appends: top.length, totalUs: 0, lateUs: 0, engineUs: 0, handOffUs: 0, jsUs: 0 };
  for (const j of top) {
    const [due, sent, posted, cb, done] = [a[j * F]!, a[j * F + 1]!, a[j * F + 2]!, a[j * F + 3]!, a[j * F + 4]!];
    t.totalUs += done - due;
    t.lateUs += sent - due;
    t.engineUs += posted - sent;
    t.handOffUs += cb - posted;
    t.jsUs += done - cb;
  }
  for (const k of ['totalUs', 'lateUs', 'engineUs', 'handOffUs', 'jsUs'] as const) t[k] = Math.round(t[k] / top.length);
  return t;
}

const readFileBytes = 256 * MiB;

/** Mode "read": write one file, then read it back sequentially, one read outstanding. */
async function readCell(rig: Rig, cell: Cell, args: Args, root: string, counters: () => Counters): Promise<CellResult> {
  const dir = path.join(root, `read-${rig.variant.label}-${Date.now()}`);
  await rig.fs.mkdirp(dir);
  const f = await rig.fs.open(path.join(dir, '0.log'));
  const chunk = Buffer.alloc(cell.appendBytes, 0x5a);
  for (let i = 0; i < readFileBytes / cell.appendBytes; i++) {
    f.append([chunk]);
    if (i % 16 === 15) await f.sync();
  }
  await f.sync();
  const hist = histogram();
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  const start: Window = { counters: counters(), cpu: process.cpuUsage() };
  const t0 = performance.now();
  let pos = 0;
  let reads = 0;
  let bytes = 0;
  while (pos < readFileBytes) {
    const s = performance.now();
    const buf = await f.read(pos, cell.appendBytes);
    hist.recordValue(Math.max(1, Math.round((performance.now() - s) * 1000)));
    if (buf.length === 0) throw new Error(`read at ${pos} returned nothing`);
    bytes += buf.length;
    reads++;
    // the next fetch starts at the last whole batch's end: a little before this read's end
    pos += buf.length - (pos + buf.length < readFileBytes ? 1000 + (reads % 7) * 1000 : 0);
  }
  const seconds = (performance.now() - t0) / 1000;
  const end: Window = { counters: counters(), cpu: process.cpuUsage() };
  loopDelay.disable();
  await f.close();
  await rig.fs.remove(dir);
  const c = diff(start.counters, end.counters);
  return {
    ...cell,
    engine: rig.variant.label,
    appendsPerSec: reads / seconds,
    mbps: bytes / seconds / 1e6,
    p50Us: hist.getValueAtPercentile(50),
    p99Us: hist.getValueAtPercentile(99),
    p999Us: hist.getValueAtPercentile(99.9),
    maxUs: hist.maxValue,
    seconds,
    appends: reads,
    counters: { ...c, hist: null },
    loopDelayP99Us: lateness(loopDelay.percentile(99)),
    loopDelayMaxUs: lateness(loopDelay.max),
    cpuCores: (end.cpu.user + end.cpu.system - start.cpu.user - start.cpu.system) / 1e6 / seconds,
    loadAvg1: os.loadavg()[0]!,
    gcCount: 0,
    gcTotalMs: 0,
    gcMaxMs: 0,
  };
}

async function runCell(rig: Rig, cell: Cell, args: Args, root: string): Promise<CellResult> {
  const template = templateOf(cell.appendBytes);
  const pool = new BufferPool(template.bytes);
  let targets: Target[];
  let cleanup: () => Promise<void>;
  let counters = (): Counters => rig.counters();
  if (cell.mode === 'read') return readCell(rig, cell, args, root, counters);
  if (cell.mode === 'null') {
    targets = [{ append: () => Promise.resolve() }];
    cleanup = () => Promise.resolve();
  } else if (cell.mode === 'log') {
    const logs = await rig.partitions(cell.partitions);
    const opts = { leaderEpoch: 0, batches: template.batches };
    targets = logs.map((log) => ({ append: (buf: Buffer) => log.append(buf, opts) }));
    cleanup = () => cleanUp(logs, root);
  } else {
    // Raw: one AppendFile per partition, synced as LogManager would (the node path through a SyncScheduler).
    const dir = path.join(root, `raw-${rig.variant.label}-${Date.now()}`);
    await rig.fs.mkdirp(dir);
    const scheduler = new SyncScheduler({ immediate: rig.fs.groupCommits === true });
    if (rig.fs.groupCommits !== true) {
      counters = () => ({ ...nodeCounters, rounds: scheduler.roundCount, syncs: scheduler.syncCount });
    }
    const files: AppendFile[] = [];
    for (let i = 0; i < cell.partitions; i++) files.push(await rig.fs.open(path.join(dir, `${i}.log`)));
    targets = files.map((f) => ({
      append: (buf: Buffer) => {
        f.append([buf]);
        return scheduler.sync(f);
      },
    }));
    cleanup = async () => {
      await Promise.all(files.map((f) => f.close()));
      await rig.fs.remove(dir);
      try {
        execFileSync('sync', ['-f', root]);
      } catch {
        /* best effort */
      }
    };
  }
  const snap = (): Window => ({ counters: counters(), cpu: process.cpuUsage() });
  const warmupMs = args.warmupS * 1000;
  const durationMs = args.durationS * 1000;
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  const gc = { count: 0, totalMs: 0, maxMs: 0 };
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gc.count++;
      gc.totalMs += e.duration;
      gc.maxMs = Math.max(gc.maxMs, e.duration);
    }
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  // The device floor for this schedule, measured just before the cell so both see the same disk and neighbours.
  const floor = cell.load === 'rate' && cell.mode !== 'null' && args.floor ? measureFloor(root, cell.rate!, cell.appendBytes, args.durationS) : undefined;
  let r: { hist: hdr.Histogram; service?: hdr.Histogram; pacerLate?: hdr.Histogram; afterCallback?: hdr.Histogram | null; tail?: TailShares | null; appends: number; seconds: number; start: Window; end: Window };
  if (cell.load !== 'rate') r = await closedLoop(targets, pool, cell.outstanding!, warmupMs, durationMs, snap);
  else r = await openLoop(targets, pool, cell.rate!, warmupMs, durationMs, snap, cell.mode === 'null' ? null : engineOf(rig.fs));
  loopDelay.disable();
  await sleep(1); // let the observer's last entries arrive
  gcObserver.disconnect();
  const cpuSeconds = (r.end.cpu.user + r.end.cpu.system - r.start.cpu.user - r.start.cpu.system) / 1e6;
  const counters_ = diff(r.start.counters, r.end.counters);
  const timing = engineTiming(counters_);
  const result: CellResult = {
    ...cell,
    engine: rig.variant.label,
    appendsPerSec: r.appends / r.seconds,
    mbps: (r.appends * cell.appendBytes) / r.seconds / 1e6,
    p50Us: r.hist.getValueAtPercentile(50),
    p99Us: r.hist.getValueAtPercentile(99),
    p999Us: r.hist.getValueAtPercentile(99.9),
    maxUs: r.hist.maxValue,
    ...(r.service ? { serviceP99Us: r.service.getValueAtPercentile(99) } : {}),
    ...(floor === undefined ? {} : { floor }),
    seconds: r.seconds,
    appends: r.appends,
    counters: { ...counters_, hist: null },
    ...(timing === undefined ? {} : { engineTiming: timing }),
    ...(r.pacerLate ? { pacerLateP99Us: r.pacerLate.getValueAtPercentile(99) } : {}),
    ...(r.afterCallback ? { afterCallbackP50Us: r.afterCallback.getValueAtPercentile(50), afterCallbackP99Us: r.afterCallback.getValueAtPercentile(99) } : {}),
    ...(r.tail ? { tail: r.tail } : {}),
    gcCount: gc.count,
    gcTotalMs: gc.totalMs,
    gcMaxMs: gc.maxMs,
    loopDelayP99Us: lateness(loopDelay.percentile(99)),
    loopDelayMaxUs: lateness(loopDelay.max),
    cpuCores: cpuSeconds / r.seconds,
    loadAvg1: os.loadavg()[0]!,
  };
  await cleanup();
  return result;
}

// --- report ----------------------------------------------------------------------------------------------------

function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return 'n/a';
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function sizeName(bytes: number): string {
  return bytes >= MiB ? `${bytes / MiB} MiB` : `${bytes / KiB} KiB`;
}

interface TargetCheck {
  target: string;
  engine: string;
  measured: string;
  ratio: number;
  threshold: string;
  pass: boolean;
}

function checks(results: CellResult[], disk: FioResult | null): TargetCheck[] {
  const out: TargetCheck[] = [];
  const engines = [...new Set(results.map((r) => r.engine))];
  for (const engine of engines) {
    const mine = results.filter((r) => r.engine === engine);
    if (disk) {
      for (const r of mine.filter((x) => x.load === 'max' && x.mode !== 'read' && x.appendBytes >= 256 * KiB)) {
        const ratio = r.mbps / disk.seqWriteMBps;
        out.push({ target: `large batches: ${r.mode} ${r.partitions} p x ${sizeName(r.appendBytes)} MB/s >= 80% of fio`, engine, measured: `${fmt(r.mbps, 1)} MB/s`, ratio, threshold: '>= 0.80', pass: ratio >= 0.8 });
      }
      for (const r of mine.filter((x) => x.load === 'serial')) {
        const ratio = r.p99Us / disk.fdatasyncP99Us;
        out.push({ target: `moderate load like fio (one append at a time, ${fmt(r.appendsPerSec)}/s): ${r.mode} ${r.partitions} p x ${sizeName(r.appendBytes)}, p99 <= 2x fio fdatasync p99`, engine, measured: `${fmt(r.p99Us)} µs`, ratio, threshold: '<= 2.00', pass: ratio <= 2 });
        // Like for like where fio ran at the append's own size (an append of 16 KiB writes 16-20 KiB, not 4).
        const same = disk.syncAtSize[r.appendBytes];
        if (same !== undefined) {
          const r2 = r.p99Us / same.p99Us;
          out.push({ target: `the same against fio's ${sizeName(r.appendBytes)} write + fdatasync p99 (${fmt(same.p99Us)} µs)`, engine, measured: `${fmt(r.p99Us)} µs`, ratio: r2, threshold: '<= 2.00', pass: r2 <= 2 });
        }
      }
      for (const r of mine.filter((x) => x.load === 'rate' && x.mode !== 'null')) {
        const ratio = r.p99Us / disk.fdatasyncP99Us;
        out.push({ target: `moderate load: ${r.mode} ${r.partitions} p x ${sizeName(r.appendBytes)} at ${fmt(r.rate!)}/s, p99 <= 2x fio fdatasync p99`, engine, measured: `${fmt(r.p99Us)} µs`, ratio, threshold: '<= 2.00', pass: ratio <= 2 });
      }
    }
    for (const r of mine.filter((x) => x.load === 'rate' && x.floor)) {
      const ratio = r.p99Us / r.floor!.p99Us;
      out.push({ target: `moderate load vs the device floor: ${r.mode} ${r.partitions} p x ${sizeName(r.appendBytes)} at ${fmt(r.rate!)}/s, p99 <= 2x the floor's p99 (same schedule, run just before)`, engine, measured: `${fmt(r.p99Us)} / ${fmt(r.floor!.p99Us)} µs`, ratio, threshold: '<= 2.00', pass: ratio <= 2 });
    }
    for (const size of [KiB, 16 * KiB]) {
      const one = mine.find((x) => x.mode === 'log' && x.load === 'rate' && x.partitions === 1 && x.appendBytes === size);
      const many = mine.find((x) => x.mode === 'log' && x.load === 'rate' && x.partitions === 1000 && x.appendBytes === size);
      if (one && many) {
        const ratio = many.p99Us / one.p99Us;
        out.push({ target: `1,000 p vs 1 p, ${sizeName(size)} at ${fmt(one.rate!)}/s total: p99 ratio <= 2`, engine, measured: `${fmt(many.p99Us)} / ${fmt(one.p99Us)} µs`, ratio, threshold: '<= 2.00', pass: ratio <= 2 });
      }
    }
  }
  return out;
}

interface Meta {
  machine: string;
  command: string;
  loadStart: string;
  loadEnd: string;
  dir: string;
  idleLoopLateness: { p99Us: number; maxUs: number };
}

function report(results: CellResult[], disk: FioResult | null, meta: Meta): string {
  const lines: string[] = [];
  lines.push(
    `Machine: ${meta.machine}`,
    `Command: \`${meta.command}\``,
    `Data dir: ${meta.dir}`,
    `Load average (1/5/15 min) at start: ${meta.loadStart}; at end: ${meta.loadEnd}`,
    `Event-loop lateness of this process while idle (2 s): p99 ${fmt(meta.idleLoopLateness.p99Us)} µs, max ${fmt(meta.idleLoopLateness.maxUs)} µs`,
    '',
  );
  if (disk) {
    lines.push('| disk (fio, same run) | value |', '|---|---|');
    lines.push(`| O_DIRECT sequential write, 1 MiB blocks, fdatasync every 16 MiB | ${fmt(disk.seqWriteMBps, 1)} MB/s |`);
    lines.push(`| 4 KiB write + fdatasync: p50 / p99 / p99.9 | ${fmt(disk.fdatasyncP50Us)} / ${fmt(disk.fdatasyncP99Us)} / ${fmt(disk.fdatasyncP999Us)} µs (${fmt(disk.syncedWritesPerSec)} syncs/s) |`);
    for (const [bytes, f] of Object.entries(disk.syncAtSize)) {
      lines.push(`| ${sizeName(Number(bytes))} write + fdatasync: p50 / p99 / p99.9 | ${fmt(f.p50Us)} / ${fmt(f.p99Us)} / ${fmt(f.p999Us)} µs (${fmt(f.perSec)} syncs/s) |`);
    }
    lines.push('');
  }
  lines.push(
    'Mode log = through PartitionLog (LogManager, as the broker), raw = straight at one AppendFile. Load max = closed loop with N appends outstanding; serial = closed loop, one append at a time on one partition (the shape of fio\'s fdatasync job); rate = open loop, latency from each append\'s due time ("p99 from issue": from when the pacer actually issued it; "device floor": bench/floor.c, the same open-loop schedule on one file by one C thread with ideal group commit, run just before the cell). Latency = append call to durable (µs). Rounds, syncs, callbacks: over the measured window (node: SyncScheduler rounds and file syncs). Loop lateness = how late a 1 ms timer fired in the bench process during the cell (µs; GC pauses, CPU starvation). CPU = cores used by this process (2 vCPUs in all).',
    '',
    '| engine | mode | load | append | partitions | outstanding / rate | appends/s | MB/s | % of fio | p50 | p99 | p99.9 | max | p99 from issue | device floor p50 / p99 / p99.9 | rounds/s | appends/round | syncs/round | results/callback | loop lateness p99 / max | CPU |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const r of results) {
    const c = r.counters;
    const pct = disk ? `${fmt((100 * r.mbps) / disk.seqWriteMBps, 1)}%` : 'n/a';
    const load = r.load === 'rate' ? `${fmt(r.rate!)}/s` : `${fmt(r.outstanding!)} out`;
    lines.push(
      `| ${r.engine} | ${r.mode} | ${r.load} | ${sizeName(r.appendBytes)} | ${fmt(r.partitions)} | ${load} | ${fmt(r.appendsPerSec)} | ${fmt(r.mbps, 1)} | ${pct} | ${fmt(r.p50Us)} | ${fmt(r.p99Us)} | ${fmt(r.p999Us)} | ${fmt(r.maxUs)} | ${r.serviceP99Us === undefined ? '' : fmt(r.serviceP99Us)} | ${r.floor ? `${fmt(r.floor.p50Us)} / ${fmt(r.floor.p99Us)} / ${fmt(r.floor.p999Us)}` : ''} | ${fmt(c.rounds / r.seconds)} | ${fmt(r.appends / c.rounds, 1)} | ${fmt(c.syncs / c.rounds, 1)} | ${fmt(c.results / c.callbacks, 1)} | ${fmt(r.loopDelayP99Us)} / ${fmt(r.loopDelayMaxUs)} | ${fmt(r.cpuCores, 2)} |`,
    );
  }
  const timed = results.filter((r) => r.engineTiming !== undefined);
  if (timed.length > 0) {
    lines.push(
      '',
      'Where the time goes (native; p50 / p99 in µs over the measured window; round, write and fdatasync also the max). Engine side: in engine = oldest request of the file in a round queued -> the round posted, counted once per chunk appended (all of the engine time, weighted like appends; an upper bound for later appends of the round); queue wait = first request queued -> the writes of its round start; sync wait = its writes done -> the sync stage takes it (waiting for the previous fdatasyncs); round = writes start -> results posted; write / fdatasync per file; hand-off = results posted -> JS completion callback starts; callback = its own run. JS side (rate cells): pacer late = due -> issued; after callback = engine callback starts -> the append resolves (promise chain through the log). GC = pauses seen in the cell: count, total ms, longest ms. Split = pieces of large writes (by helper threads). Zeros ahead = MB of zeros written ahead past the logical ends of the files in the window (zero-ahead).',
      '',
      '| engine | mode | load | append | partitions | in engine | queue wait | sync wait | round | write | fdatasync | hand-off | callback p99 | pacer late p99 | after callback | files/round mean (max) | results/callback | GC n / total / max ms | split pieces (helpers) | zeros ahead MB |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const r of timed) {
      const t = r.engineTiming!;
      const pp = (a: number, b: number): string => `${fmt(a)} / ${fmt(b)}`;
      lines.push(
        `| ${r.engine} | ${r.mode} | ${r.load} | ${sizeName(r.appendBytes)} | ${fmt(r.partitions)} | ${pp(t.fileP50Us, t.fileP99Us)} | ${pp(t.queueWaitP50Us, t.queueWaitP99Us)} | ${pp(t.syncWaitP50Us, t.syncWaitP99Us)} | ${pp(t.roundP50Us, t.roundP99Us)} / ${fmt(t.roundMaxUs)} | ${pp(t.writeP50Us, t.writeP99Us)} / ${fmt(t.writeMaxUs)} | ${pp(t.syncP50Us, t.syncP99Us)} / ${fmt(t.syncMaxUs)} | ${pp(t.deliverP50Us, t.deliverP99Us)} | ${fmt(t.callbackP99Us)} | ${r.pacerLateP99Us === undefined ? '' : fmt(r.pacerLateP99Us)} | ${r.afterCallbackP99Us === undefined ? '' : pp(r.afterCallbackP50Us!, r.afterCallbackP99Us)} | ${fmt(t.filesPerRoundMean, 1)} (${fmt(t.filesPerRoundMax)}) | ${fmt(t.resultsPerCallbackMean, 1)} | ${fmt(r.gcCount)} / ${fmt(r.gcTotalMs, 1)} / ${fmt(r.gcMaxMs, 1)} | ${fmt(t.splitPieces)} (${fmt(t.piecesByHelpers)}) | ${fmt(t.zeroAheadBytes / 1e6, 1)} |`,
      );
    }
  }
  const tails = results.filter((r) => r.tail !== undefined);
  if (tails.length > 0) {
    lines.push(
      '',
      'The slowest 1% of appends of each rate cell (native), mean µs per append: late = due -> issued (pacer thread or event loop late: GC, CPU starvation); engine = issued -> the engine posted its result (log.append, engine queue, write, fdatasync); hand-off = posted -> the completion callback began on the JS thread; JS = callback -> resolved.',
      '',
      '| mode | append | partitions | appends | total | late | engine | hand-off | JS |',
      '|---|---|---|---|---|---|---|---|---|',
    );
    for (const r of tails) {
      const t = r.tail!;
      lines.push(`| ${r.mode} | ${sizeName(r.appendBytes)} | ${fmt(r.partitions)} | ${fmt(t.appends)} | ${fmt(t.totalUs)} | ${fmt(t.lateUs)} | ${fmt(t.engineUs)} | ${fmt(t.handOffUs)} | ${fmt(t.jsUs)} |`);
    }
  }
  const unaligned = results.reduce((n, r) => n + (Number.isFinite(r.counters.unalignedWrites) ? r.counters.unalignedWrites : 0), 0);
  lines.push('', `Misaligned direct writes reported by the engine over all cells: ${fmt(unaligned)} (must be 0).`);
  const cs = checks(results, disk);
  if (cs.length > 0) {
    lines.push('', '| target | engine | measured | ratio | threshold | result |', '|---|---|---|---|---|---|');
    for (const c of cs) lines.push(`| ${c.target} | ${c.engine} | ${c.measured} | ${fmt(c.ratio, 2)} | ${c.threshold} | ${c.pass ? 'PASS' : 'FAIL'} |`);
  }
  return lines.join('\n');
}

// --- main ------------------------------------------------------------------------------------------------------

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function loadavg(): string {
  return os.loadavg().map((x) => x.toFixed(2)).join(' ');
}

function variantsOf(args: Args): Variant[] {
  const out: Variant[] = [];
  for (const kind of args.engines) {
    if (kind === 'node') {
      out.push({ label: 'node', kind, options: {} });
      continue;
    }
    if (!nativeEngineAvailable()) {
      process.stderr.write('native engine not built (npm install builds it): skipping it\n');
      continue;
    }
    for (const o of args.nativeConfigs) {
      const parts = Object.entries(o).map(([k, v]) => `${k}=${v}`);
      out.push({ label: parts.length === 0 ? 'native' : `native(${parts.join(',')})`, kind, options: o });
    }
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const command = `node dist/bench/engine.js ${process.argv.slice(2).join(' ')}`.trim();
  const cpus = os.cpus();
  const machine = `${cpus.length} x ${cpus[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`;
  const loadStart = loadavg();
  fs.mkdirSync(args.dir, { recursive: true });
  process.stderr.write(`machine: ${machine}\ndata dir: ${args.dir}\nload average: ${loadStart}\n`);
  const started = Date.now();
  const idleLoopLateness = await idleLateness(2000);
  const results: CellResult[] = [];
  let disk: FioResult | null = null;
  try {
    if (args.fio && fioAvailable()) {
      process.stderr.write(`fio: O_DIRECT sequential write and fdatasync latency, ${args.fioS}s each...\n`);
      disk = measureDisk(path.join(args.dir, 'fio'), args.fioS, [16 * KiB]);
    } else if (args.fio) {
      process.stderr.write('fio not found (apt-get install fio): disk limits not measured\n');
    }
    const cells = cellsFor(args);
    for (const variant of variantsOf(args)) {
      const dataDir = path.join(args.dir, variant.label.replace(/[^a-zA-Z0-9=_-]/g, '_'));
      const rig = await openRig(variant, dataDir, args.batchCacheBytes, args.indexIntervalBytes);
      try {
        for (const cell of cells) {
          process.stderr.write(`${variant.label}: ${cellName(cell)}...`);
          const r = await runCell(rig, cell, args, dataDir);
          process.stderr.write(` ${fmt(r.mbps, 1)} MB/s, p50/p99 ${fmt(r.p50Us)}/${fmt(r.p99Us)} µs (load ${r.loadAvg1.toFixed(2)})\n`);
          results.push(r);
        }
      } finally {
        await rig.close();
      }
    }
  } finally {
    fs.rmSync(args.dir, { recursive: true, force: true });
  }
  const loadEnd = loadavg();
  const meta: Meta = { machine, command, loadStart, loadEnd, dir: args.dir, idleLoopLateness };
  process.stdout.write(`${report(results, disk, meta)}\n`);
  process.stderr.write(`total ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  fs.mkdirSync(path.dirname(args.json), { recursive: true });
  fs.writeFileSync(args.json, JSON.stringify({ ...meta, date: new Date().toISOString(), args, disk, results, targets: checks(results, disk) }, null, 2));
  process.stderr.write(`json: ${args.json}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
