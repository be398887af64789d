/**
 * A bulk arena: shared memory one shard writes large response payloads into and its peer reads in place.
 *
 * Why: a payload sent through the ring (channel.ts) is copied in by the sender and copied out again by the
 * receiver, into a fresh buffer, because a ring slot is reused as soon as it is read. A cross-shard Fetch answer
 * is then copied twice on its way to the consumer's socket. Through the arena, batches from the owner's batch
 * cache are copied once, by the owner, and cold reads are not copied in JS at all: the owner reserves a run and
 * its log engine reads into it (AppendFile.read's `into`). The connection's shard writes views of the arena
 * straight to the socket and hands the blocks back (a RELEASE frame, rpc.ts) once the socket has taken them.
 *
 * Layout: blocks of `BULK_BLOCK_BYTES`; an answer takes one or more contiguous runs of them (one per read that went
 * into the arena, one for the payloads copied in). Only the writing shard allocates and frees (its own thread, no
 * atomics): the reader's releases reach it as messages. Allocation is next-fit over a used-flag per block, so runs
 * are freed in any order and a slow consumer holding one run never blocks the rest.
 * When no run fits, the caller sends the payload through the ring as before: a full arena costs a copy, never a
 * wait or an error.
 *
 * Visibility: the writer fills a run before it publishes the ring message naming it (the ring's Atomics.store of
 * its head), and the reader releases a run only after its last use, with a ring message the writer reads
 * (Atomics.load) before it reuses the blocks.
 */

/** Arena block size: large enough that a 1 MiB fetch answer is 16 blocks. */
export const BULK_BLOCK_BYTES = 64 * 1024;

/** The shared memory of one arena (one direction of a shard pair); a whole number of blocks. */
export function createBulkBuffer(bytes: number): SharedArrayBuffer {
  if (!Number.isInteger(bytes) || bytes < BULK_BLOCK_BYTES || bytes % BULK_BLOCK_BYTES !== 0) {
    throw new RangeError(`bulk arena of ${bytes} bytes must be a positive multiple of ${BULK_BLOCK_BYTES}`);
  }
  return new SharedArrayBuffer(bytes);
}

/** A contiguous run of arena blocks. */
export interface BulkRun {
  start: number;
  count: number;
}

/** The writer's side: allocates runs, copies payloads in, frees runs the reader released. */
export class BulkWriter {
  readonly blocks: number;
  readonly #used: Uint8Array;
  readonly #buffer: SharedArrayBuffer;
  readonly #mem: Buffer;
  #cursor = 0;
  #inUse = 0;

  constructor(buffer: SharedArrayBuffer) {
    this.blocks = Math.floor(buffer.byteLength / BULK_BLOCK_BYTES);
    this.#used = new Uint8Array(this.blocks);
    this.#buffer = buffer;
    this.#mem = Buffer.from(buffer);
  }

  /** Blocks allocated and not yet released. */
  get blocksInUse(): number {
    return this.#inUse;
  }

  /**
   * Copies `payloads` (`totalBytes` in all) end to end into one run and returns it; null when they take more
   * than half the arena (one answer never monopolises it) or no run that long is free.
   */
  write(payloads: readonly Uint8Array[], totalBytes: number): BulkRun | null {
    const run = this.#take(Math.max(1, Math.ceil(totalBytes / BULK_BLOCK_BYTES)));
    if (run === null) return null;
    let at = run.start * BULK_BLOCK_BYTES;
    for (const p of payloads) {
      this.#mem.set(p, at);
      at += p.length;
    }
    return run;
  }

  /**
   * Allocates a run of at least `bytes` for the caller to fill (a read into the arena) and returns it with a view
   * of its memory; null under the same rules as `write`.
   */
  reserve(bytes: number): { run: BulkRun; memory: Buffer } | null {
    const run = this.#take(Math.max(1, Math.ceil(bytes / BULK_BLOCK_BYTES)));
    if (run === null) return null;
    return { run, memory: this.#mem.subarray(run.start * BULK_BLOCK_BYTES, (run.start + run.count) * BULK_BLOCK_BYTES) };
  }

  /** Where `view` starts in the arena, in bytes; -1 when it is not a view of this arena. */
  offsetOf(view: Uint8Array): number {
    return view.buffer === this.#buffer ? view.byteOffset : -1;
  }

  #take(count: number): BulkRun | null {
    if (count > this.blocks / 2) return null;
    const start = this.#find(count);
    if (start < 0) return null;
    this.#used.fill(1, start, start + count);
    this.#inUse += count;
    this.#cursor = (start + count) % this.blocks;
    return { start, count };
  }

  /** Frees a run the reader released; false (nothing changed) for a run that is not wholly allocated. */
  free(start: number, count: number): boolean {
    if (count <= 0 || start < 0 || start + count > this.blocks) return false;
    for (let i = start; i < start + count; i++) if (this.#used[i] !== 1) return false;
    this.#used.fill(0, start, start + count);
    this.#inUse -= count;
    return true;
  }

  /** Next fit: the first free run of `count` blocks at or after the cursor, wrapping once. */
  #find(count: number): number {
    const n = this.blocks;
    let runStart = -1;
    let run = 0;
    // Scan from the cursor to the end, then from 0; a run never spans the end.
    for (let k = 0; k < n + count; k++) {
      const i = (this.#cursor + k) % n;
      if (i === 0) run = 0; // runs are contiguous in memory: restart at the wrap
      if (this.#used[i] === 1) {
        run = 0;
        continue;
      }
      if (run === 0) runStart = i;
      if (++run === count) return runStart;
    }
    return -1;
  }
}

/** The reader's side: views of a run, valid until the run is released. */
export class BulkReader {
  readonly #buffer: SharedArrayBuffer;

  constructor(buffer: SharedArrayBuffer) {
    this.#buffer = buffer;
  }

  /**
   * Views (no copy) of payloads at byte `offsets` with `sizes`, each wholly inside one of `runs`; null when a run
   * lies outside the arena or a payload outside the runs (the peer is broken).
   */
  views(runs: readonly BulkRun[], offsets: readonly number[], sizes: readonly number[]): Buffer[] | null {
    for (const r of runs) {
      if (r.count <= 0 || (r.start + r.count) * BULK_BLOCK_BYTES > this.#buffer.byteLength) return null;
    }
    const out: Buffer[] = [];
    for (let i = 0; i < sizes.length; i++) {
      const at = offsets[i]!;
      const end = at + sizes[i]!;
      if (sizes[i]! > 0 && !runs.some((r) => at >= r.start * BULK_BLOCK_BYTES && end <= (r.start + r.count) * BULK_BLOCK_BYTES)) return null;
      out.push(Buffer.from(this.#buffer, sizes[i]! > 0 ? at : 0, sizes[i]!));
    }
    return out;
  }
}
