/**
 * A bulk arena: shared memory one shard writes large response payloads into and its peer reads in place.
 *
 * Why: a payload sent through the ring (channel.ts) is copied in by the sender and copied out again by the
 * receiver, into a fresh buffer, because a ring slot is reused as soon as it is read. A cross-shard Fetch answer
 * is then copied twice on its way to the consumer's socket. Through the arena it is copied once, by the owner
 * shard (from its batch cache or read buffer), and the connection's shard writes views of the arena straight to
 * the socket; it hands the blocks back (a RELEASE frame, rpc.ts) once the socket has taken them.
 *
 * Layout: blocks of `BULK_BLOCK_BYTES`; a payload takes a contiguous run of them. Only the writing shard allocates and
 * frees (its own thread, no atomics): the reader's releases reach it as messages. Allocation is next-fit over a
 * used-flag per block, so runs are freed in any order and a slow consumer holding one run never blocks the rest.
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

/** The writer's side: allocates runs, copies payloads in, frees runs the reader released. */
export class BulkWriter {
  readonly blocks: number;
  readonly #used: Uint8Array;
  readonly #mem: Buffer;
  #cursor = 0;
  #inUse = 0;

  constructor(buffer: SharedArrayBuffer) {
    this.blocks = Math.floor(buffer.byteLength / BULK_BLOCK_BYTES);
    this.#used = new Uint8Array(this.blocks);
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
  write(payloads: readonly Uint8Array[], totalBytes: number): { start: number; count: number } | null {
    const count = Math.max(1, Math.ceil(totalBytes / BULK_BLOCK_BYTES));
    if (count > this.blocks / 2) return null;
    const start = this.#find(count);
    if (start < 0) return null;
    this.#used.fill(1, start, start + count);
    this.#inUse += count;
    this.#cursor = (start + count) % this.blocks;
    let at = start * BULK_BLOCK_BYTES;
    for (const p of payloads) {
      this.#mem.set(p, at);
      at += p.length;
    }
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

  /** Views of `sizes` bytes laid end to end from block `start` (no copy). */
  views(start: number, count: number, sizes: readonly number[]): Buffer[] | null {
    const base = start * BULK_BLOCK_BYTES;
    let total = 0;
    for (const s of sizes) total += s;
    if (count <= 0 || base + count * BULK_BLOCK_BYTES > this.#buffer.byteLength || total > count * BULK_BLOCK_BYTES) return null;
    const out: Buffer[] = [];
    let at = base;
    for (const s of sizes) {
      out.push(Buffer.from(this.#buffer, at, s));
      at += s;
    }
    return out;
  }
}
