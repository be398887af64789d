/**
 * The coordinator's view of time: a clock and one-shot timers. Production uses the process clock and unref'd
 * Node timers (a group's timers never keep a stopping broker alive); unit tests inject a fake that advances
 * time by hand (test/groups/fake-timers.ts), so session, rebalance and retention timeouts are tested
 * without waiting.
 */

export interface TimerHandle {
  readonly id: number;
}

export interface Timers {
  /** Wall clock, ms since the epoch (commit timestamps are stored in it). */
  now(): number;
  /** Runs `fn` once after `delayMs`. */
  setTimeout(fn: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

let nextId = 1;

export const systemTimers: Timers = {
  now: () => Date.now(),
  setTimeout(fn, delayMs) {
    const t = setTimeout(fn, Math.max(0, delayMs));
    t.unref();
    const handle = { id: nextId++, t };
    return handle;
  },
  clearTimeout(handle) {
    clearTimeout((handle as { t?: NodeJS.Timeout }).t);
  },
};
