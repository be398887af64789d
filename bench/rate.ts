/**
 * Rate control of open-loop (fixed-rate) workloads, and the time series of a run.
 *
 * Open loop: message i of a producer is due at `startUs + phaseUs + i * 1e6 / rate`, whatever happened to
 * the messages before it. The producer sends every message that is due when it wakes (a late wake-up sends a
 * burst, it does not lower the rate), and stamps each with its intended time, not the time it went out:
 * latency is measured from there. A broker that stalls for 1 s therefore shows 1 s, 999 ms, 998 ms... of
 * latency for the messages that were due during the stall, instead of one slow request among many fast
 * ones: no coordinated omission (Gil Tene's term for a load generator that waits politely for the system
 * it measures).
 */

export class OpenLoopSchedule {
  readonly intervalUs: number;

  /**
   * @param ratePerSec messages per second, > 0
   * @param startUs the run's start on the clock the caller will pass to `dueCount`
   * @param phaseUs offset of message 0 from startUs, so several producers of one rate interleave evenly
   * @param endUs no message is due at or after this time (Infinity: unbounded)
   */
  constructor(
    readonly ratePerSec: number,
    readonly startUs: number,
    readonly phaseUs = 0,
    readonly endUs = Infinity,
  ) {
    if (!(ratePerSec > 0) || !Number.isFinite(ratePerSec)) throw new Error(`rate must be a positive number, got ${ratePerSec}`);
    this.intervalUs = 1e6 / ratePerSec;
  }

  /** Intended send time of message i (0-based). */
  intendedUs(i: number): number {
    return this.startUs + this.phaseUs + i * this.intervalUs;
  }

  /** How many messages are due at `nowUs` (messages 0 .. n-1 have intended times <= nowUs), capped by endUs. */
  dueCount(nowUs: number): number {
    const first = this.startUs + this.phaseUs;
    const until = Math.min(nowUs, this.endUs - 1e-6);
    if (until < first) return 0;
    return Math.floor((until - first) / this.intervalUs) + 1;
  }

  /** Total messages of the schedule (finite endUs only). */
  total(): number {
    return this.dueCount(this.endUs);
  }
}

/**
 * Per-second counters from a run's start: index s holds what happened in [start + s, start + s + 1) s.
 * Events before the start are dropped; the series grows as needed up to `secondsMax`.
 */
export class SecondSeries {
  readonly values: number[] = [];

  constructor(
    readonly startUs: number,
    readonly secondsMax = 3600,
  ) {}

  add(atUs: number, n: number): void {
    const s = Math.floor((atUs - this.startUs) / 1e6);
    if (s < 0 || s >= this.secondsMax) return;
    while (this.values.length <= s) this.values.push(0);
    this.values[s]! += n;
  }

  /** Adds another series of the same start, element by element. */
  static sum(series: readonly (readonly number[])[]): number[] {
    const out: number[] = [];
    for (const s of series) s.forEach((v, i) => (out[i] = (out[i] ?? 0) + v));
    for (let i = 0; i < out.length; i++) out[i] ??= 0;
    return out;
  }
}

/** The measured window of a run: events stamped in [fromUs, toUs) count; warm-up and the tail do not. */
export interface MeasureWindow {
  fromUs: number;
  toUs: number;
}

export function inWindow(w: MeasureWindow, stampUs: number): boolean {
  return stampUs >= w.fromUs && stampUs < w.toUs;
}
