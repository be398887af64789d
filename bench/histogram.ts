/**
 * Latency histograms: HDR histograms (hdr-histogram-js) of microseconds, 3 significant digits, values from
 * 1 µs to 10 minutes (a value above is recorded as the maximum and counted in `clampedCount`, so a run that
 * stalls longer than that still shows its stall instead of throwing).
 *
 * Worker threads record into their own histograms and send them to the main thread in HDR's compressed
 * base64 form; the main thread adds them up. Percentiles are read only from merged histograms.
 */
import hdr from 'hdr-histogram-js';

export const LATENCY_US_MAX = 600_000_000;
/** The percentiles every report gives, besides max. */
export const PERCENTILES = [50, 99, 99.9, 99.99] as const;

export interface LatencySummary {
  count: number;
  meanUs: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  p9999Us: number;
  maxUs: number;
}

export class LatencyHistogram {
  readonly hist: hdr.Histogram;
  /** Values above LATENCY_US_MAX, recorded as LATENCY_US_MAX. */
  clampedCount = 0;

  constructor(hist?: hdr.Histogram) {
    this.hist = hist ?? hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: LATENCY_US_MAX, numberOfSignificantValueDigits: 3, useWebAssembly: false });
  }

  /** Records `count` occurrences of a latency in microseconds (fractions round; below 1 µs counts as 1). */
  record(latencyUs: number, count = 1): void {
    let v = Math.round(latencyUs);
    if (v < 1) v = 1;
    if (v > LATENCY_US_MAX) {
      v = LATENCY_US_MAX;
      this.clampedCount += count;
    }
    if (count === 1) this.hist.recordValue(v);
    else this.hist.recordValueWithCount(v, count);
  }

  get count(): number {
    return this.hist.totalCount;
  }

  add(other: LatencyHistogram): void {
    this.hist.add(other.hist);
    this.clampedCount += other.clampedCount;
  }

  summary(): LatencySummary {
    const h = this.hist;
    if (h.totalCount === 0) return { count: 0, meanUs: 0, p50Us: 0, p99Us: 0, p999Us: 0, p9999Us: 0, maxUs: 0 };
    return {
      count: h.totalCount,
      meanUs: Math.round(h.mean),
      p50Us: h.getValueAtPercentile(50),
      p99Us: h.getValueAtPercentile(99),
      p999Us: h.getValueAtPercentile(99.9),
      p9999Us: h.getValueAtPercentile(99.99),
      maxUs: h.maxValue,
    };
  }

  /** Compressed base64 (HDR's own interchange format), for crossing a thread boundary. */
  encode(): { hdr: string; clampedCount: number } {
    return { hdr: hdr.encodeIntoCompressedBase64(this.hist), clampedCount: this.clampedCount };
  }

  static decode(e: { hdr: string; clampedCount: number }): LatencyHistogram {
    const out = new LatencyHistogram();
    // An empty histogram encodes fine; decoding gives one with the same (empty) counts.
    out.hist.add(hdr.decodeFromCompressedBase64(e.hdr, 32, false));
    out.clampedCount = e.clampedCount;
    return out;
  }
}
