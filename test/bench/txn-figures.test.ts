import { describe, expect, it } from 'vitest';
import {
  breakdownTable,
  figuresOf,
  histogramOf,
  histogramOfCounts,
  parseLoadResult,
  parseVariants,
  percentiles,
  problemsOf,
  throughputTable,
  transactionTable,
  txnPhases,
  variantOrder,
  type LoadResult,
} from '../../bench/txn-figures.js';

/** A RESULT as bench/py/txn_load.py prints it for a healthy txn run of 10 transactions of 100 records. */
function txnResult(over: Partial<LoadResult> = {}): LoadResult {
  return {
    mode: 'txn',
    txnRecords: 100,
    windowS: 2,
    windowMessages: 1000,
    windowTxns: 10,
    clientCpuS: 0.5,
    sent: 1250,
    acked: 1250,
    deliveryErrors: 0,
    firstDeliveryError: null,
    clientErrors: [],
    committedRecords: 1200,
    committedTxns: 12,
    abortedRecords: 50,
    markers: 13 * 8,
    expectedReadCommitted: 1200,
    readCommitted: 1200,
    consumeErrors: [],
    countS: 0.3,
    expectedHighWatermarkSum: 1250 + 13 * 8,
    highWatermarkSum: 1250 + 13 * 8,
    requests: { AddPartitionsToTxn: 26, EndTxn: 13, Produce: 104 },
    producerRetries: 0,
    batchErrors: { 'Broker: Not enough in-sync replicas': 2 },
    addPartitionsConcurrent: 13,
    eosLogLines: { ADDPARTS: 40 },
    rttUs: { EndTxn: [2000, 2000, 4000], AddPartitionsToTxn: [1000] },
    ackLatencyUs: { '1000': 900, '5000': 100 },
    commitUs: Array.from({ length: 10 }, (_, i) => 1000 * (i + 1)),
    firstAckUs: Array.from({ length: 10 }, () => 25_000),
    txnUs: Array.from({ length: 10 }, () => 30_000),
    ...over,
  };
}

describe('parseVariants', () => {
  it('reads plain, idempotent and txn<N> in the order given', () => {
    expect(parseVariants('plain, idempotent,txn100,txn1000')).toEqual([
      { name: 'plain', mode: 'plain', txnRecords: null },
      { name: 'idempotent', mode: 'idempotent', txnRecords: null },
      { name: 'txn100', mode: 'txn', txnRecords: 100 },
      { name: 'txn1000', mode: 'txn', txnRecords: 1000 },
    ]);
  });

  it('refuses unknown names, txn0, sizes past the maximum, repeats and an empty list', () => {
    expect(() => parseVariants('plain,acks1')).toThrow(/unknown variant 'acks1'/);
    expect(() => parseVariants('txn0')).toThrow(/unknown variant/);
    expect(() => parseVariants('txn100001')).toThrow(/at most 100000 records/);
    expect(() => parseVariants('plain,plain')).toThrow(/named twice/);
    expect(() => parseVariants(' , ')).toThrow(/no variant/);
  });
});

describe('variantOrder', () => {
  it('alternates: as given on odd repeats, reversed on even ones', () => {
    expect(variantOrder(['a', 'b', 'c'], 1)).toEqual(['a', 'b', 'c']);
    expect(variantOrder(['a', 'b', 'c'], 2)).toEqual(['c', 'b', 'a']);
    expect(variantOrder(['a', 'b', 'c'], 3)).toEqual(['a', 'b', 'c']);
  });
});

describe('parseLoadResult', () => {
  it('accepts what the load script prints', () => {
    const r = txnResult();
    expect(parseLoadResult(JSON.stringify(r))).toEqual(r);
  });

  it('names the field that is missing or mistyped', () => {
    const r = txnResult() as unknown as Record<string, unknown>;
    expect(() => parseLoadResult(JSON.stringify({ ...r, readCommitted: '1200' }))).toThrow(/RESULT\.readCommitted: not a number/);
    expect(() => parseLoadResult(JSON.stringify({ ...r, commitUs: [1, 'x'] }))).toThrow(/RESULT\.commitUs/);
    expect(() => parseLoadResult(JSON.stringify({ ...r, ackLatencyUs: [1] }))).toThrow(/RESULT\.ackLatencyUs/);
    expect(() => parseLoadResult(JSON.stringify({ ...r, batchErrors: null }))).toThrow(/RESULT\.batchErrors/);
    expect(() => parseLoadResult(JSON.stringify({ ...r, rttUs: { EndTxn: 5 } }))).toThrow(/RESULT\.rttUs/);
    expect(() => parseLoadResult(JSON.stringify({ ...r, mode: 'acks1' }))).toThrow(/RESULT\.mode/);
    expect(() => parseLoadResult(JSON.stringify({ ...r, txnRecords: 0 }))).toThrow(/RESULT\.txnRecords/);
    expect(() => parseLoadResult('[1]')).toThrow(/not a JSON object/);
  });
});

describe('histograms from the load script', () => {
  it('builds HDR percentiles from raw values and from value -> count', () => {
    const raw = histogramOf(Array.from({ length: 1000 }, (_, i) => i + 1)).summary();
    expect(raw.count).toBe(1000);
    expect(raw.p50Us).toBe(500);
    expect(raw.p99Us).toBe(990);
    const counted = histogramOfCounts({ '100': 990, '20000': 10 }).summary();
    expect(counted.count).toBe(1000);
    expect(counted.p50Us).toBe(100);
    expect(counted.p99Us).toBe(100);
    expect(counted.p999Us).toBeGreaterThanOrEqual(20_000);
    expect(counted.p999Us).toBeLessThanOrEqual(20_020);
  });

  it('refuses a count that is not a positive integer', () => {
    expect(() => histogramOfCounts({ '100': 0 })).toThrow(/positive count/);
    expect(() => histogramOfCounts({ x: 1 })).toThrow();
  });
});

describe('problemsOf', () => {
  it('passes a run whose counts match', () => {
    expect(problemsOf(txnResult())).toEqual([]);
  });

  it('fails a run whose read_committed count is not the committed count (e.g. the aborted records show)', () => {
    expect(problemsOf(txnResult({ readCommitted: 1250 }))).toEqual(['read_committed count 1250, expected 1200 (committed)']);
  });

  it('fails missing markers, delivery errors, fatal client errors and unacknowledged plain records', () => {
    expect(problemsOf(txnResult({ highWatermarkSum: 1250 + 13 * 8 - 1 }))[0]).toMatch(/high watermarks sum to 1353, expected 1354/);
    expect(problemsOf(txnResult({ deliveryErrors: 2, firstDeliveryError: 'Local: Message timed out' }))[0]).toMatch(/2 delivery errors \(first: Local: Message timed out\)/);
    expect(problemsOf(txnResult({ clientErrors: ['transport down', 'fatal: producer fenced'] }))).toEqual(['fatal client error: fatal: producer fenced']);
    expect(problemsOf(txnResult({ mode: 'plain', txnRecords: null, sent: 1300 }))).toContain('50 of 1300 records never acknowledged');
    expect(problemsOf(txnResult({ windowMessages: 0 }))).toContain('nothing acknowledged in the measured window');
  });
});

describe('figuresOf and the tables', () => {
  it('computes rates, cores and per-transaction request counts', () => {
    const f = figuresOf('txn100', 1, '2.00 1.00 0.50', txnResult(), 1024, 1.5, 2);
    expect(f.msgsPerSec).toBe(500);
    expect(f.mbPerSec).toBeCloseTo(0.512, 6);
    expect(f.clientCores).toBe(0.25);
    expect(f.brokerCores).toBe(0.75);
    expect(f.txnsPerSec).toBe(5);
    // 12 committed + the final aborted one.
    expect(f.addPartitionsPerTxn).toBe(2);
    expect(f.concurrentPerTxn).toBe(1);
    expect(f.endTxnPerTxn).toBe(1);
    expect(f.batchErrorsPerTxn).toBeCloseTo(2 / 13, 9);
    expect(f.clientUsPerRecord).toBe(500);
    expect(f.brokerUsPerRecord).toBe(1500);
    // HDR (3 significant digits) reports the top of the value's bucket: within 0.1%.
    expect(f.commit!.p50Us).toBeGreaterThanOrEqual(5000);
    expect(f.commit!.p50Us).toBeLessThanOrEqual(5005);
    expect(f.ack.p50Us).toBe(1000);
    expect(f.rtt.EndTxn!.p50Us).toBe(2000);
    expect(figuresOf('txn100', 1, '', txnResult(), 1024, null, 2).brokerCores).toBeNull();
  });

  it('gives plain and idempotent runs no transaction figures', () => {
    const f = figuresOf('plain', 1, '', txnResult({ mode: 'plain', txnRecords: null, sent: 1250, acked: 1250, expectedReadCommitted: 1250, readCommitted: 1250 }), 1024, 1, 2);
    expect(f.txn).toBeNull();
    expect(f.commit).toBeNull();
    expect(f.addPartitionsPerTxn).toBeNull();
    expect(f.problems).toEqual([]);
  });

  it('tables median (min–max) over passing runs only, with the share of plain', () => {
    const plain = (rate: number, repeat: number): ReturnType<typeof figuresOf> => ({
      ...figuresOf('plain', repeat, `${repeat}.00 0 0`, txnResult({ mode: 'plain', txnRecords: null, expectedReadCommitted: 1250, readCommitted: 1250 }), 1024, 1, 2),
      msgsPerSec: rate,
    });
    const t = (rate: number, repeat: number, ok = true): ReturnType<typeof figuresOf> => ({ ...figuresOf('txn100', repeat, `${repeat}.00 0 0`, txnResult(ok ? {} : { readCommitted: 0 }), 1024, 1, 2), msgsPerSec: rate });
    const runs = [plain(100, 1), plain(300, 2), plain(200, 3), t(50, 1), t(10, 2, false), t(30, 3)];
    const table = throughputTable(['plain', 'txn100'], runs);
    expect(table).toContain('| plain | 200 (100–300) |');
    expect(table).toContain('| txn100 | 40 (30–50) |');
    expect(table).toContain('| 20% |');
    expect(table).toContain('| 2/3 | 1.00, 2.00, 3.00 |');
    expect(transactionTable(['plain', 'txn100'], runs).split('\n')).toHaveLength(3);
    expect(breakdownTable(['txn100'], runs)).toContain('| txn100 | round trip: EndTxn (librdkafka rtt) | 2.00 | 4.00 |');
  });
});

describe('txnPhases', () => {
  const rec = (status: number, ms: number): { status: number; lastUpdateTimestampMs: number } => ({ status, lastUpdateTimestampMs: ms });

  it('splits committed transactions into the coordinator phases, skipping the first ones and aborted ones', () => {
    const log = [
      rec(0, 0), // Empty (InitProducerId)
      rec(1, 10), rec(2, 20), rec(4, 25), // txn 1 (skipped)
      rec(1, 45), rec(1, 47), rec(2, 60), rec(4, 64), // txn 2: two AddPartitionsToTxn accepted
      rec(1, 85), rec(2, 90), rec(4, 93), // txn 3
      rec(1, 100), rec(3, 105), rec(5, 108), // aborted
      rec(1, 130), rec(2, 140), rec(4, 150), // after an abort: no gap figure
    ];
    const p = txnPhases(log, 1);
    expect(p.transactions).toBe(3);
    expect(p.ongoingToPrepareMs).toEqual([15, 5, 10]);
    expect(p.prepareToCompleteMs).toEqual([4, 3, 10]);
    expect(p.completeToNextOngoingMs).toEqual([20, 21]);
    expect(p.ongoingRecords).toEqual([2, 1, 1]);
  });

  it('gives nearest-rank percentiles, NaN for none', () => {
    expect(percentiles([5, 1, 3, 2, 4])).toEqual({ p50: 3, p99: 5, max: 5 });
    expect(percentiles([])).toEqual({ p50: NaN, p99: NaN, max: NaN });
  });
});
