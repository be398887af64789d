/**
 * Group commit: one fdatasync per dirty file per round, shared by every append that arrived meanwhile.
 *
 * `sync(file)` joins the next round. A round starts when none is in flight, after `flushDelayUs` (0: on the next
 * turn of the event loop, so everything queued in the current one joins); it syncs each of its files once, all
 * concurrently, and settles each file's waiters with that file's own outcome. Requests arriving while a round
 * is in flight wait for the next round, so under load N concurrent acks=all producers across partitions share
 * one sync round instead of issuing N.
 *
 * A failed sync rejects only that file's waiters; the owner (PartitionLog) treats it as fatal. Nothing here
 * retries a sync: after a failed fsync the page cache state is unknown.
 *
 * With `immediate` (a FileSystem that group-commits by itself, the native engine) every `sync` goes straight to
 * the file: the engine already coalesces all syncs queued while a round runs, and pipelines rounds without a
 * JS hop between them.
 */
import { flushDelayUsMax } from './config.js';

export interface Syncable {
  sync(): Promise<void>;
  syncThen?(done: () => void, failed: (err: Error) => void): void;
}

export interface SyncSchedulerOptions {
  /**
   * Extra wait before a round starts, to gather more appends; microseconds, 0..flushDelayUsMax. Node timers
   * have millisecond resolution, so a non-zero delay is rounded up to whole milliseconds.
   */
  flushDelayUs?: number;
  /** Pass every sync straight to the file (it group-commits by itself). */
  immediate?: boolean;
}

interface Waiters {
  resolve: () => void;
  reject: (err: unknown) => void;
  promise: Promise<void>;
}

export class SyncScheduler {
  readonly flushDelayUs: number;
  readonly immediate: boolean;
  #next = new Map<Syncable, Waiters>();
  #inFlight = false;
  #scheduled = false;
  #syncCount = 0;
  #roundCount = 0;

  constructor(opts: SyncSchedulerOptions = {}) {
    const delay = opts.flushDelayUs ?? 0;
    if (!Number.isInteger(delay) || delay < 0 || delay > flushDelayUsMax) {
      throw new RangeError(`flushDelayUs ${delay} outside [0, ${flushDelayUsMax}]`);
    }
    this.flushDelayUs = delay;
    this.immediate = opts.immediate ?? false;
  }

  /** File syncs issued so far (one per dirty file per round). */
  get syncCount(): number {
    return this.#syncCount;
  }

  /** Sync rounds run so far. */
  get roundCount(): number {
    return this.#roundCount;
  }

  /** Resolves once `file` has been synced by a round that started after this call. */
  sync(file: Syncable): Promise<void> {
    if (this.immediate) {
      this.#syncCount++;
      return file.sync();
    }
    let waiters = this.#next.get(file);
    if (waiters === undefined) {
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      waiters = { resolve, reject, promise };
      this.#next.set(file, waiters);
    }
    this.#schedule();
    return waiters.promise;
  }

  /**
   * `sync(file).then(done, failed)` without the promises where the file takes callbacks (AppendFile.syncThen):
   * the append path's per-call allocations (docs/benchmarks.md, round 13). `done`/`failed` run once, later.
   */
  syncThen(file: Syncable, done: () => void, failed: (err: Error) => void): void {
    if (this.immediate && file.syncThen !== undefined) {
      this.#syncCount++;
      file.syncThen(done, failed);
      return;
    }
    this.sync(file).then(done, failed);
  }

  #schedule(): void {
    if (this.#inFlight || this.#scheduled || this.#next.size === 0) return;
    this.#scheduled = true;
    const start = (): void => {
      this.#scheduled = false;
      void this.#round();
    };
    if (this.flushDelayUs === 0) setImmediate(start);
    else setTimeout(start, Math.ceil(this.flushDelayUs / 1000));
  }

  async #round(): Promise<void> {
    const files = this.#next;
    this.#next = new Map();
    this.#inFlight = true;
    this.#roundCount++;
    await Promise.all(
      [...files].map(async ([file, waiters]) => {
        this.#syncCount++;
        try {
          await file.sync();
          waiters.resolve();
        } catch (err) {
          waiters.reject(err);
        }
      }),
    );
    this.#inFlight = false;
    this.#schedule();
  }
}
