/**
 * A simulated, in-memory `FileSystem`: the deterministic twin of `NodeFileSystem` for tests and simulations.
 *
 * Model: each file has its current bytes and its durable bytes (a copy taken by the last successful sync).
 * `crash()` replaces every file's bytes with its durable bytes plus, when asked, a seeded-random torn prefix of
 * the unsynced tail (what a power loss can leave behind); every handle opened before the crash becomes dead.
 * Directory operations (create, rename, remove, mkdir) are durable at once, which is what `NodeFileSystem`
 * makes them by syncing the directory.
 *
 * Faults, all reproducible from the seed:
 * - torn writes: `crash({ tornTail: true })` keeps a seeded-random prefix of each file's unsynced bytes;
 * - EIO: `failNextSyncs` / `failNextWrites` (explicit, scoped by path; another errno code may be given) or the
 *   seeded `syncErrorRate` / `writeErrorRate`;
 * - ENOSPC: a capacity (`capacityBytes`, or `setCapacity` for the files under one path, like a quota): an append
 *   that does not fit writes the bytes that do (a short write, as ext4 does) and fails with code 'ENOSPC';
 *   truncating or removing files frees space, and raising the capacity brings the space back;
 * - latency: `latencyMsMax` delays each sync by a seeded random 0..latencyMsMax ms (drawn from its own stream,
 *   so turning latency on does not change which faults a seed gives).
 * A failed sync or write latches the handle, as a real one must be treated. `sync()` completes on a later
 * macrotask (setImmediate, or the latency timer), so work arriving meanwhile queues as it would behind a real
 * fdatasync.
 */
import path from 'node:path';
import type { AppendFile, FileSystem } from './file.js';

export interface SimOptions {
  /** PRNG seed for fault rates and torn tails. */
  seed?: number;
  /** Probability that a sync fails with EIO, 0..1. */
  syncErrorRate?: number;
  /** Probability that an append's write fails with EIO, 0..1. */
  writeErrorRate?: number;
  /** Bytes all files together may hold (default: unlimited); an append past it fails with ENOSPC. */
  capacityBytes?: number;
  /** Each sync completes after a seeded random delay of 0..latencyMsMax ms (default 0: the next macrotask). */
  latencyMsMax?: number;
}

export interface CrashOptions {
  /** Keep a random prefix of each file's unsynced bytes (a torn write) instead of dropping them all. */
  tornTail?: boolean;
}

type PathFilter = (file: string) => boolean;

interface SimNode {
  data: Buffer;
  size: number;
  durable: Buffer;
}

export class SimFileSystem implements FileSystem {
  #files = new Map<string, SimNode>();
  #dirs = new Set<string>(['/']);
  #generation = 0;
  #rand: () => number;
  #latencyRand: () => number;
  #syncErrors: Fault[] = [];
  #writeErrors: Fault[] = [];
  #capacity: { bytes: number; match: PathFilter };
  /** Syncs attempted, all files together (metrics for tests). */
  syncCount = 0;

  constructor(private readonly opts: SimOptions = {}) {
    this.#rand = mulberry32(opts.seed ?? 1);
    this.#latencyRand = mulberry32(((opts.seed ?? 1) ^ 0x5bd1e995) >>> 0);
    this.#capacity = { bytes: opts.capacityBytes ?? Infinity, match: () => true };
    const latency = opts.latencyMsMax ?? 0;
    if (!(latency >= 0 && latency <= 60_000)) throw new RangeError(`latencyMsMax ${latency} outside [0, 60000]`);
  }

  /** The next `count` syncs of files matching `match` fail with `code` (EIO by default). */
  failNextSyncs(count = 1, match: PathFilter = () => true, code = 'EIO'): void {
    this.#syncErrors.push({ count, match, code });
  }

  /** The next `count` appends to files matching `match` fail with `code` (EIO by default), writing nothing. */
  failNextWrites(count = 1, match: PathFilter = () => true, code = 'EIO'): void {
    this.#writeErrors.push({ count, match, code });
  }

  /**
   * From now on the files matching `match` (all by default) may hold `bytes` together (Infinity: no limit);
   * replaces the previous capacity. Lowering it below what they hold loses nothing, later writes fail.
   */
  setCapacity(bytes: number, match: PathFilter = () => true): void {
    if (!(bytes >= 0)) throw new RangeError(`capacity ${bytes}`);
    this.#capacity = { bytes, match };
  }

  /** Bytes the files matching `match` hold now (current, not durable, sizes). */
  usedBytes(match: PathFilter = () => true): number {
    let used = 0;
    for (const [p, node] of this.#files) if (match(p)) used += node.size;
    return used;
  }

  /** Simulates a power loss: unsynced bytes vanish (or are torn), open handles die. */
  crash(opts: CrashOptions = {}): void {
    this.#generation++;
    for (const node of this.#files.values()) {
      let keep = 0;
      const unsynced = node.size - node.durable.length;
      if (opts.tornTail === true && unsynced > 0 && node.size >= node.durable.length) {
        keep = Math.floor(this.#rand() * (unsynced + 1));
      }
      const torn = node.data.subarray(node.durable.length, node.durable.length + keep);
      const data = Buffer.concat([node.durable, torn]);
      node.data = data;
      node.size = data.length;
    }
  }

  /** Current bytes of a file (test inspection). */
  peek(file: string): Buffer | null {
    const node = this.#files.get(path.resolve(file));
    return node === undefined ? null : Buffer.from(node.data.subarray(0, node.size));
  }

  /** Replaces a file's bytes, current and durable (test corruption). */
  poke(file: string, data: Uint8Array): void {
    const node = this.#node(file, true);
    node.data = Buffer.from(data);
    node.size = data.length;
    node.durable = Buffer.from(data);
  }

  async open(file: string): Promise<AppendFile> {
    await Promise.resolve();
    return new SimAppendFile(this, path.resolve(file), this.#node(file, true), this.#generation);
  }

  create(file: string): AppendFile {
    const abs = path.resolve(file);
    const problem = this.#files.has(abs) ? 'EEXIST' : this.#dirs.has(path.dirname(abs)) ? null : 'ENOENT';
    if (problem === null) return new SimAppendFile(this, abs, this.#node(abs, true), this.#generation);
    // Like NodeFileSystem.create, the failure surfaces on the handle's first operation.
    const detached: SimNode = { data: Buffer.alloc(0), size: 0, durable: Buffer.alloc(0) };
    const handle = new SimAppendFile(this, abs, detached, this.#generation);
    handle.latch(errno(problem, abs));
    return handle;
  }

  async readFile(file: string): Promise<Buffer | null> {
    await Promise.resolve();
    return this.peek(file);
  }

  async writeFileDurable(file: string, data: Uint8Array): Promise<void> {
    await Promise.resolve();
    const abs = path.resolve(file);
    // written to a temporary file first: the old bytes stay until the rename, so both must fit
    if (data.length > this.freeBytes(abs)) throw errno('ENOSPC', abs);
    this.poke(file, data);
  }

  async list(dir: string): Promise<string[]> {
    await Promise.resolve();
    const abs = path.resolve(dir);
    if (!this.#dirs.has(abs)) throw errno('ENOENT', abs);
    const names = new Set<string>();
    for (const p of [...this.#files.keys(), ...this.#dirs]) {
      if (path.dirname(p) === abs && p !== abs) names.add(path.basename(p));
    }
    return [...names];
  }

  async mkdirp(dir: string): Promise<void> {
    await Promise.resolve();
    for (let d = path.resolve(dir); !this.#dirs.has(d); d = path.dirname(d)) this.#dirs.add(d);
  }

  async rename(from: string, to: string): Promise<void> {
    await Promise.resolve();
    const src = path.resolve(from);
    const dst = path.resolve(to);
    if (!this.#dirs.has(path.dirname(dst))) throw errno('ENOENT', dst);
    const file = this.#files.get(src);
    if (file !== undefined) {
      this.#files.delete(src);
      this.#files.set(dst, file);
      return;
    }
    if (!this.#dirs.has(src)) throw errno('ENOENT', src);
    for (const d of [...this.#dirs]) {
      if (d === src || d.startsWith(src + path.sep)) {
        this.#dirs.delete(d);
        this.#dirs.add(dst + d.slice(src.length));
      }
    }
    for (const [p, node] of [...this.#files]) {
      if (p.startsWith(src + path.sep)) {
        this.#files.delete(p);
        this.#files.set(dst + p.slice(src.length), node);
      }
    }
  }

  async remove(target: string): Promise<void> {
    await Promise.resolve();
    const abs = path.resolve(target);
    this.#files.delete(abs);
    for (const p of [...this.#files.keys()]) if (p.startsWith(abs + path.sep)) this.#files.delete(p);
    for (const d of [...this.#dirs]) if (d === abs || d.startsWith(abs + path.sep)) this.#dirs.delete(d);
  }

  async exists(target: string): Promise<boolean> {
    await Promise.resolve();
    const abs = path.resolve(target);
    return this.#files.has(abs) || this.#dirs.has(abs);
  }

  async isDirectory(target: string): Promise<boolean> {
    await Promise.resolve();
    return this.#dirs.has(path.resolve(target));
  }

  // --- used by SimAppendFile --------------------------------------------------------------------------------

  get generation(): number {
    return this.#generation;
  }

  /** The errno code this sync fails with, or null. */
  takeSyncFault(file: string): string | null {
    this.syncCount++;
    return takeFault(this.#syncErrors, file) ?? (this.#rand() < (this.opts.syncErrorRate ?? 0) ? 'EIO' : null);
  }

  /** The errno code this write fails with, or null. */
  takeWriteFault(file: string): string | null {
    return takeFault(this.#writeErrors, file) ?? (this.#rand() < (this.opts.writeErrorRate ?? 0) ? 'EIO' : null);
  }

  /** Bytes `file` may still grow by under the capacity. */
  freeBytes(file: string): number {
    const { bytes, match } = this.#capacity;
    if (bytes === Infinity || !match(file)) return Infinity;
    return Math.max(0, bytes - this.usedBytes(match));
  }

  /** Waits as a sync does: the next macrotask, or the seeded latency. */
  syncDelay(): Promise<void> {
    const max = this.opts.latencyMsMax ?? 0;
    if (max === 0) return new Promise<void>((resolve) => setImmediate(resolve));
    const ms = Math.floor(this.#latencyRand() * (max + 1));
    return new Promise<void>((resolve) => setTimeout(resolve, ms));
  }

  #node(file: string, create: boolean): SimNode {
    const abs = path.resolve(file);
    let node = this.#files.get(abs);
    if (node === undefined) {
      if (!create || !this.#dirs.has(path.dirname(abs))) throw errno('ENOENT', abs);
      node = { data: Buffer.alloc(0), size: 0, durable: Buffer.alloc(0) };
      this.#files.set(abs, node);
    }
    return node;
  }
}

class SimAppendFile implements AppendFile {
  #error: Error | null = null;
  #closed = false;
  #syncedSize: number;

  constructor(
    private readonly fs: SimFileSystem,
    readonly path: string,
    readonly node: SimNode,
    private readonly generation: number,
  ) {
    this.#syncedSize = node.durable.length;
  }

  get size(): number {
    return this.node.size;
  }

  get syncedSize(): number {
    return this.#syncedSize;
  }

  latch(err: Error): void {
    this.#error ??= err;
  }

  append(chunks: readonly Uint8Array[]): void {
    if (this.#closed) throw new Error(`append to closed file ${this.path}`);
    if (this.#check() !== null) return;
    const fault = this.fs.takeWriteFault(this.path);
    if (fault !== null) {
      this.latch(errno(fault, this.path));
      return;
    }
    let n = chunks.reduce((sum, c) => sum + c.length, 0);
    const free = this.fs.freeBytes(this.path);
    if (n > free) {
      // A full disk: the bytes that fit are written (a short write), then the write fails.
      this.latch(errno('ENOSPC', this.path));
      chunks = cutTo(chunks, free);
      n = free;
    }
    const node = this.node;
    if (node.size + n > node.data.length) {
      const grown = Buffer.alloc(Math.max(node.size + n, node.data.length * 2, 1024));
      node.data.copy(grown, 0, 0, node.size);
      node.data = grown;
    }
    for (const c of chunks) {
      node.data.set(c, node.size);
      node.size += c.length;
    }
  }

  async sync(): Promise<void> {
    const target = this.node.size;
    await this.fs.syncDelay();
    const err = this.#check();
    if (err !== null) throw err;
    const fault = this.fs.takeSyncFault(this.path);
    if (fault !== null) {
      this.latch(errno(fault, this.path));
      throw this.#error;
    }
    this.node.durable = Buffer.from(this.node.data.subarray(0, this.node.size));
    this.#syncedSize = Math.max(this.#syncedSize, target);
  }

  async read(position: number, length: number): Promise<Buffer> {
    await Promise.resolve();
    const err = this.#check();
    if (err !== null) throw err;
    const end = Math.min(this.node.size, position + length);
    return Buffer.from(this.node.data.subarray(Math.min(position, end), end));
  }

  async truncate(size: number): Promise<void> {
    await Promise.resolve();
    const err = this.#check();
    if (err !== null) throw err;
    if (size < this.node.size) {
      this.node.data.fill(0, size, this.node.size);
      this.node.size = size;
    }
    this.#syncedSize = Math.min(this.#syncedSize, size);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.resolve();
  }

  #check(): Error | null {
    if (this.#error === null && this.generation !== this.fs.generation) {
      this.#error = errno('EIO', `${this.path} (handle from before a simulated crash)`);
    }
    return this.#error;
  }
}

interface Fault {
  count: number;
  match: PathFilter;
  code: string;
}

function takeFault(faults: Fault[], file: string): string | null {
  const fault = faults.find((f) => f.count > 0 && f.match(file));
  if (fault === undefined) return null;
  fault.count--;
  return fault.code;
}

/** The first `n` bytes of `chunks` (views). */
function cutTo(chunks: readonly Uint8Array[], n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const c of chunks) {
    if (n <= 0) break;
    out.push(c.length <= n ? c : c.subarray(0, n));
    n -= Math.min(n, c.length);
  }
  return out;
}

function errno(code: string, file: string): Error & { code: string } {
  return Object.assign(new Error(`${code}: simulated, ${file}`), { code });
}

/** Small seeded PRNG (mulberry32): same seed, same faults. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
