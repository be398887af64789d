/**
 * Pure part of the idempotence and transaction benchmark (bench/txn.ts): the variants named on the command line,
 * the load generator's RESULT line (bench/py/txn_load.py) read and checked field by field, its latencies turned
 * into HDR histograms (bench/histogram.ts: the python side sends raw microsecond values, or value -> count for the
 * per-record acknowledgement times, and every percentile is computed here), the per-run figures, the sanity
 * checks (a run whose topic does not hold what was committed reports no throughput), and the Markdown tables.
 * No clocks, no processes: test/bench/txn-figures.test.ts feeds it known inputs.
 */
import { LatencyHistogram, type LatencySummary } from './histogram.js';
import { cell } from './shards-figures.js';
import { median } from './stats.js';

export type Mode = 'plain' | 'idempotent' | 'txn';

export interface Variant {
  /** As named on the command line: plain, idempotent, txn<N>. */
  name: string;
  mode: Mode;
  /** Records per transaction (txn mode), else null. */
  txnRecords: number | null;
}

/** Largest transaction a variant may ask for, in records (the client's queue must hold one whole transaction). */
export const TXN_RECORDS_MAX = 100_000;
export const DEFAULT_VARIANTS = 'plain,idempotent,txn100,txn1000';

/** `--variants plain,idempotent,txn100,txn1000`: each once, in the order given. */
export function parseVariants(text: string): Variant[] {
  const out: Variant[] = [];
  for (const raw of text.split(',')) {
    const name = raw.trim();
    if (name === '') continue;
    let v: Variant;
    if (name === 'plain' || name === 'idempotent') v = { name, mode: name, txnRecords: null };
    else {
      const m = /^txn([1-9][0-9]*)$/.exec(name);
      if (m === null) throw new Error(`unknown variant '${name}' (known: plain, idempotent, txn<records per transaction>)`);
      const n = Number(m[1]);
      if (n > TXN_RECORDS_MAX) throw new Error(`variant '${name}': at most ${TXN_RECORDS_MAX} records per transaction`);
      v = { name, mode: 'txn', txnRecords: n };
    }
    if (out.some((o) => o.name === v.name)) throw new Error(`variant '${name}' named twice`);
    out.push(v);
  }
  if (out.length === 0) throw new Error('no variant named');
  return out;
}

/** Variants in the order of repeat `repeat` (1-based): as given on odd repeats, reversed on even ones. */
export function variantOrder<T>(variants: readonly T[], repeat: number): T[] {
  return repeat % 2 === 1 ? [...variants] : [...variants].reverse();
}

/** What bench/py/txn_load.py prints after `RESULT `. */
export interface LoadResult {
  mode: Mode;
  txnRecords: number | null;
  windowS: number;
  windowMessages: number;
  windowTxns: number;
  clientCpuS: number;
  sent: number;
  acked: number;
  deliveryErrors: number;
  firstDeliveryError: string | null;
  clientErrors: string[];
  committedRecords: number;
  committedTxns: number;
  abortedRecords: number;
  markers: number;
  expectedReadCommitted: number;
  readCommitted: number;
  consumeErrors: string[];
  countS: number;
  expectedHighWatermarkSum: number;
  highWatermarkSum: number;
  /** librdkafka's request counters over the whole run (every broker connection), by request name. */
  requests: Record<string, number>;
  producerRetries: number;
  /** txn mode: batches a Produce answer failed, by librdkafka's error text (each retried after 100 ms). */
  batchErrors: Record<string, number>;
  addPartitionsConcurrent: number;
  eosLogLines: Record<string, number>;
  /** txn mode: librdkafka's round trip of each answer read in the window, by request type, microseconds. */
  rttUs: Record<string, number[]>;
  /** Produce-to-acknowledgement time of the window's records: microseconds -> count. */
  ackLatencyUs: Record<string, number>;
  commitUs: number[];
  firstAckUs: number[];
  txnUs: number[];
}

const NUMBER_FIELDS = [
  'windowS', 'windowMessages', 'windowTxns', 'clientCpuS', 'sent', 'acked', 'deliveryErrors', 'committedRecords', 'committedTxns',
  'abortedRecords', 'markers', 'expectedReadCommitted', 'readCommitted', 'countS', 'expectedHighWatermarkSum', 'highWatermarkSum',
  'producerRetries', 'addPartitionsConcurrent',
] as const;
const LIST_FIELDS = ['commitUs', 'firstAckUs', 'txnUs'] as const;
const COUNT_FIELDS = ['requests', 'eosLogLines', 'ackLatencyUs', 'batchErrors'] as const;

/** Parses and checks the JSON of a RESULT line; throws naming the first field that is missing or mistyped. */
export function parseLoadResult(json: string): LoadResult {
  const r = JSON.parse(json) as Record<string, unknown>;
  if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new Error('RESULT is not a JSON object');
  if (r.mode !== 'plain' && r.mode !== 'idempotent' && r.mode !== 'txn') throw new Error(`RESULT.mode: ${String(r.mode)}`);
  if (r.txnRecords !== null && !(Number.isInteger(r.txnRecords) && (r.txnRecords as number) > 0)) throw new Error('RESULT.txnRecords: not a positive integer or null');
  for (const k of NUMBER_FIELDS) if (typeof r[k] !== 'number' || !Number.isFinite(r[k])) throw new Error(`RESULT.${k}: not a number`);
  for (const k of LIST_FIELDS) {
    const v = r[k];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !Number.isFinite(x))) throw new Error(`RESULT.${k}: not a list of numbers`);
  }
  for (const k of COUNT_FIELDS) {
    const v = r[k];
    if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'number' || !Number.isFinite(x))) throw new Error(`RESULT.${k}: not an object of counts`);
  }
  for (const k of ['clientErrors', 'consumeErrors'] as const) if (!Array.isArray(r[k]) || (r[k] as unknown[]).some((x) => typeof x !== 'string')) throw new Error(`RESULT.${k}: not a list of strings`);
  const rtt = r.rttUs;
  if (typeof rtt !== 'object' || rtt === null || Array.isArray(rtt) || Object.values(rtt).some((l) => !Array.isArray(l) || l.some((x) => typeof x !== 'number' || !Number.isFinite(x)))) throw new Error('RESULT.rttUs: not an object of lists of numbers');
  if (r.firstDeliveryError !== null && typeof r.firstDeliveryError !== 'string') throw new Error('RESULT.firstDeliveryError: not a string or null');
  return r as unknown as LoadResult;
}

/** An HDR histogram of raw microsecond values. */
export function histogramOf(valuesUs: readonly number[]): LatencyHistogram {
  const h = new LatencyHistogram();
  for (const v of valuesUs) h.record(v);
  return h;
}

/** An HDR histogram of microsecond value -> occurrences (keys are decimal integers). */
export function histogramOfCounts(counts: Readonly<Record<string, number>>): LatencyHistogram {
  const h = new LatencyHistogram();
  for (const [k, n] of Object.entries(counts)) {
    const v = Number(k);
    if (!Number.isFinite(v) || !Number.isInteger(n) || n < 1) throw new Error(`latency count ${k}: ${n} is not a value with a positive count`);
    h.record(v, n);
  }
  return h;
}

/**
 * The reasons a run cannot be reported (empty: it can): delivery or consumer errors, a fatal client error,
 * records unacknowledged, a read_committed count other than what was committed (or acknowledged), high
 * watermarks other than every record plus one marker per transaction and partition, an empty window.
 */
export function problemsOf(r: LoadResult): string[] {
  const out: string[] = [];
  if (r.deliveryErrors > 0) out.push(`${r.deliveryErrors} delivery errors (first: ${r.firstDeliveryError ?? '?'})`);
  const fatal = r.clientErrors.filter((e) => e.startsWith('fatal:'));
  if (fatal.length > 0) out.push(`fatal client error: ${fatal[0]}`);
  if (r.mode !== 'txn' && r.acked !== r.sent) out.push(`${r.sent - r.acked} of ${r.sent} records never acknowledged`);
  if (r.readCommitted !== r.expectedReadCommitted) out.push(`read_committed count ${r.readCommitted}, expected ${r.expectedReadCommitted} (${r.mode === 'txn' ? 'committed' : 'acknowledged'})`);
  if (r.highWatermarkSum !== r.expectedHighWatermarkSum) out.push(`high watermarks sum to ${r.highWatermarkSum}, expected ${r.expectedHighWatermarkSum} (records + markers)`);
  if (r.consumeErrors.length > 0) out.push(`consumer errors: ${r.consumeErrors[0]}`);
  if (r.windowMessages <= 0 || r.windowS <= 0) out.push('nothing acknowledged in the measured window');
  return out;
}

export interface RunFigures {
  variant: string;
  repeat: number;
  /** `uptime` load averages at the start of the run. */
  load: string;
  msgsPerSec: number;
  mbPerSec: number;
  clientCores: number;
  brokerCores: number | null;
  ack: LatencySummary;
  /** txn variants only. */
  txnsPerSec: number | null;
  txn: LatencySummary | null;
  firstAck: LatencySummary | null;
  commit: LatencySummary | null;
  /** librdkafka's requests over the whole run per transaction (committed ones plus the final aborted one). */
  addPartitionsPerTxn: number | null;
  concurrentPerTxn: number | null;
  endTxnPerTxn: number | null;
  /** txn variants: batches failed by a Produce answer (and retried by librdkafka) per transaction. */
  batchErrorsPerTxn: number | null;
  /** CPU microseconds per record in the window: the load generator's, the broker's (null where unknown). */
  clientUsPerRecord: number;
  brokerUsPerRecord: number | null;
  /** txn variants: librdkafka's round trips in the window, by request type (see RTT_ROWS). */
  rtt: Record<string, LatencySummary>;
  /** txn variants: the coordinator's own timeline, from `__transaction_state` (null when not read). */
  phases: PhaseSummary | null;
  problems: string[];
}

/**
 * The figures of one run: throughput in the window (MB/s: 1e6 bytes of record values), cores (CPU seconds per
 * window second; the broker's from /proc over the same window, null where unknown), latency summaries.
 */
export function figuresOf(variant: string, repeat: number, load: string, r: LoadResult, recordBytes: number, brokerCpuS: number | null, brokerWallS: number | null, phases: TxnPhases | null = null): RunFigures {
  const txn = r.mode === 'txn';
  const txns = r.committedTxns + (r.abortedRecords > 0 ? 1 : 0);
  const per = (n: number | undefined): number | null => (txn && txns > 0 ? (n ?? 0) / txns : null);
  return {
    variant,
    repeat,
    load,
    msgsPerSec: r.windowMessages / r.windowS,
    mbPerSec: (r.windowMessages * recordBytes) / r.windowS / 1e6,
    clientCores: r.clientCpuS / r.windowS,
    brokerCores: brokerCpuS === null || brokerWallS === null || brokerWallS <= 0 ? null : brokerCpuS / brokerWallS,
    ack: histogramOfCounts(r.ackLatencyUs).summary(),
    txnsPerSec: txn ? r.windowTxns / r.windowS : null,
    txn: txn ? histogramOf(r.txnUs).summary() : null,
    firstAck: txn ? histogramOf(r.firstAckUs).summary() : null,
    commit: txn ? histogramOf(r.commitUs).summary() : null,
    addPartitionsPerTxn: per(r.requests.AddPartitionsToTxn),
    concurrentPerTxn: per(r.addPartitionsConcurrent),
    endTxnPerTxn: per(r.requests.EndTxn),
    batchErrorsPerTxn: per(Object.values(r.batchErrors).reduce((a, b) => a + b, 0)),
    clientUsPerRecord: (r.clientCpuS * 1e6) / r.windowMessages,
    brokerUsPerRecord: brokerCpuS === null || brokerWallS === null || brokerWallS <= 0 ? null : (((brokerCpuS / brokerWallS) * r.windowS) * 1e6) / r.windowMessages,
    rtt: Object.fromEntries(Object.entries(r.rttUs).map(([k, v]) => [k, histogramOf(v).summary()])),
    phases: phases === null ? null : summarizePhases(phases),
    problems: problemsOf(r),
  };
}

const ms = (us: number): number => us / 1000;

/** Throughput table: one row per variant, median (min–max) over the runs that passed their checks. */
export function throughputTable(variants: readonly string[], runs: readonly RunFigures[]): string {
  const lines = [
    '| variant | msg/s | MB/s | vs plain (median) | produce→ack p50 ms | p99 ms | client cores | broker cores | client CPU µs/record | broker CPU µs/record | runs ok | load avg (1m) per run |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  const plain = median(runs.filter((r) => r.variant === 'plain' && r.problems.length === 0).map((r) => r.msgsPerSec));
  for (const v of variants) {
    const all = runs.filter((r) => r.variant === v);
    const rs = all.filter((r) => r.problems.length === 0);
    const f = (g: (r: RunFigures) => number | null, d = 0): string => cell(rs.map((r) => g(r) ?? NaN), d);
    const m = median(rs.map((r) => r.msgsPerSec));
    const ratio = Number.isFinite(plain) && Number.isFinite(m) && plain > 0 ? `${((100 * m) / plain).toFixed(0)}%` : 'n/a';
    lines.push(
      `| ${v} | ${f((r) => r.msgsPerSec)} | ${f((r) => r.mbPerSec, 1)} | ${ratio} | ${f((r) => ms(r.ack.p50Us), 1)} | ${f((r) => ms(r.ack.p99Us), 1)} | ${f((r) => r.clientCores, 2)} | ${f((r) => r.brokerCores, 2)} | ${f((r) => r.clientUsPerRecord, 1)} | ${f((r) => r.brokerUsPerRecord, 1)} | ${rs.length}/${all.length} | ${all.map((r) => r.load.split(' ')[0]).join(', ')} |`,
    );
  }
  return lines.join('\n');
}

/** Transaction table: txn variants only, median (min–max) over the runs that passed their checks. */
export function transactionTable(variants: readonly string[], runs: readonly RunFigures[]): string {
  const lines = [
    '| variant | txn/s | txn p50 ms | txn p99 ms | first record acked p50 ms | p99 ms | commit_transaction p50 ms | p99 ms | p99.9 ms | AddPartitionsToTxn per txn | of which CONCURRENT_TRANSACTIONS | EndTxn per txn | Produce batches failed and retried per txn |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const v of variants) {
    const rs = runs.filter((r) => r.variant === v && r.problems.length === 0 && r.txn !== null);
    if (rs.length === 0) continue;
    const f = (g: (r: RunFigures) => number | null | undefined, d = 0): string => cell(rs.map((r) => g(r) ?? NaN), d);
    lines.push(
      `| ${v} | ${f((r) => r.txnsPerSec, 1)} | ${f((r) => r.txn && ms(r.txn.p50Us), 1)} | ${f((r) => r.txn && ms(r.txn.p99Us), 1)} | ${f((r) => r.firstAck && ms(r.firstAck.p50Us), 1)} | ${f((r) => r.firstAck && ms(r.firstAck.p99Us), 1)} | ${f((r) => r.commit && ms(r.commit.p50Us), 2)} | ${f((r) => r.commit && ms(r.commit.p99Us), 2)} | ${f((r) => r.commit && ms(r.commit.p999Us), 2)} | ${f((r) => r.addPartitionsPerTxn, 2)} | ${f((r) => r.concurrentPerTxn, 2)} | ${f((r) => r.endTxnPerTxn, 2)} | ${f((r) => r.batchErrorsPerTxn, 3)} |`,
    );
  }
  return lines.join('\n');
}

/** One record of a transactional id in `__transaction_state`: its status (Kafka's ids) and its update time. */
export interface TxnStateRecord {
  status: number;
  lastUpdateTimestampMs: number;
}

const ONGOING = 1;
const PREPARE_COMMIT = 2;
const PREPARE_ABORT = 3;
const COMPLETE_COMMIT = 4;
const COMPLETE_ABORT = 5;

/**
 * The committed transactions of one transactional id as its coordinator logged them, in milliseconds (the
 * coordinator stamps each record when it starts the change, before the durable append):
 * - ongoingToPrepare: first Ongoing record (the first AddPartitionsToTxn that was accepted) to PrepareCommit
 *   (EndTxn received): the client producing and flushing the transaction.
 * - prepareToComplete: PrepareCommit to CompleteCommit: the Prepare append, then every partition's marker.
 * - completeToNextOngoing: CompleteCommit to the next transaction's first Ongoing: the Complete append, the
 *   client's turn-around, and any AddPartitionsToTxn refused with CONCURRENT_TRANSACTIONS meanwhile.
 * - ongoingRecords: Ongoing records per transaction (one per AddPartitionsToTxn that added partitions).
 * Aborted transactions and the first `skip` committed ones (warm-up) are left out.
 */
export interface TxnPhases {
  transactions: number;
  ongoingToPrepareMs: number[];
  prepareToCompleteMs: number[];
  completeToNextOngoingMs: number[];
  ongoingRecords: number[];
}

export function txnPhases(records: readonly TxnStateRecord[], skip: number): TxnPhases {
  const out: TxnPhases = { transactions: 0, ongoingToPrepareMs: [], prepareToCompleteMs: [], completeToNextOngoingMs: [], ongoingRecords: [] };
  let firstOngoing: number | null = null;
  let ongoingCount = 0;
  let prepare: number | null = null;
  let lastComplete: number | null = null;
  let gapToThis: number | null = null;
  let seen = 0;
  for (const r of records) {
    const t = r.lastUpdateTimestampMs;
    if (r.status === ONGOING) {
      if (firstOngoing === null) {
        firstOngoing = t;
        gapToThis = lastComplete === null ? null : t - lastComplete;
        ongoingCount = 0;
      }
      ongoingCount++;
    } else if (r.status === PREPARE_COMMIT && firstOngoing !== null) {
      prepare = t;
    } else if (r.status === COMPLETE_COMMIT && firstOngoing !== null && prepare !== null) {
      seen++;
      if (seen > skip) {
        out.transactions++;
        out.ongoingToPrepareMs.push(prepare - firstOngoing);
        out.prepareToCompleteMs.push(t - prepare);
        out.ongoingRecords.push(ongoingCount);
        if (gapToThis !== null) out.completeToNextOngoingMs.push(gapToThis);
      }
      lastComplete = t;
      firstOngoing = prepare = null;
    } else if (r.status === PREPARE_ABORT || r.status === COMPLETE_ABORT) {
      // An aborted transaction is not a figure; the gap to the next one would span it.
      firstOngoing = prepare = lastComplete = null;
    }
  }
  return out;
}

export interface PhaseSummary {
  transactions: number;
  ongoingToPrepareMs: Spread3;
  prepareToCompleteMs: Spread3;
  completeToNextOngoingMs: Spread3;
  ongoingRecordsPerTxn: number;
}

/** p50 / p99 / max of a list of milliseconds (nearest rank); NaN for an empty list. */
export interface Spread3 {
  p50: number;
  p99: number;
  max: number;
}

export function percentiles(values: readonly number[]): Spread3 {
  if (values.length === 0) return { p50: NaN, p99: NaN, max: NaN };
  const s = [...values].sort((a, b) => a - b);
  const at = (p: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
  return { p50: at(50), p99: at(99), max: s[s.length - 1]! };
}

export function summarizePhases(p: TxnPhases): PhaseSummary {
  return {
    transactions: p.transactions,
    ongoingToPrepareMs: percentiles(p.ongoingToPrepareMs),
    prepareToCompleteMs: percentiles(p.prepareToCompleteMs),
    completeToNextOngoingMs: percentiles(p.completeToNextOngoingMs),
    ongoingRecordsPerTxn: p.ongoingRecords.length === 0 ? NaN : p.ongoingRecords.reduce((a, b) => a + b, 0) / p.ongoingRecords.length,
  };
}

/** Request round trips shown, as the load script names them. */
export const RTT_ROWS = ['AddPartitionsToTxn', 'AddPartitionsToTxn CONCURRENT_TRANSACTIONS', 'Produce', 'EndTxn'] as const;

/** Where a transaction's time goes: client round trips and the coordinator's timeline, per txn variant. */
export function breakdownTable(variants: readonly string[], runs: readonly RunFigures[]): string {
  const lines = [
    '| variant | measure | p50 ms | p99 ms |',
    '|---|---|---|---|',
  ];
  for (const v of variants) {
    const rs = runs.filter((r) => r.variant === v && r.problems.length === 0 && r.txn !== null);
    if (rs.length === 0) continue;
    const row = (what: string, g: (r: RunFigures) => { p50: number; p99: number } | null | undefined, d = 2): void => {
      const xs = rs.map(g);
      if (xs.every((x) => x === null || x === undefined)) return;
      lines.push(`| ${v} | ${what} | ${cell(xs.map((x) => x?.p50 ?? NaN), d)} | ${cell(xs.map((x) => x?.p99 ?? NaN), d)} |`);
    };
    const us = (s: LatencySummary | undefined): { p50: number; p99: number } | null => (s === undefined || s.count === 0 ? null : { p50: s.p50Us / 1000, p99: s.p99Us / 1000 });
    for (const name of RTT_ROWS) row(`round trip: ${name} (librdkafka rtt)`, (r) => us(r.rtt[name]));
    row('coordinator: first Ongoing → PrepareCommit (client produces and flushes)', (r) => r.phases?.ongoingToPrepareMs, 0);
    row('coordinator: PrepareCommit → CompleteCommit (Prepare append + markers)', (r) => r.phases?.prepareToCompleteMs, 0);
    row('coordinator: CompleteCommit → next first Ongoing (Complete append, client, retries)', (r) => r.phases?.completeToNextOngoingMs, 0);
    const ongoing = rs.map((r) => r.phases?.ongoingRecordsPerTxn ?? NaN);
    if (ongoing.some((x) => Number.isFinite(x))) lines.push(`| ${v} | Ongoing records per transaction (accepted AddPartitionsToTxn) | ${cell(ongoing, 2)} | |`);
  }
  return lines.join('\n');
}
