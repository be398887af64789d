/**
 * `FileSystem` over node:fs (libuv's thread pool). Writes are positional `pwritev`s of everything queued,
 * one in flight per file, so appends arriving while a write runs are coalesced into the next one.
 * `sync()` waits for the queue to drain, then `fdatasync`s; the first sync of a file also fsyncs its
 * directory so a newly created file's name survives a crash.
 */
import { constants, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { AppendFile, FileSystem } from './file.js';

export class NodeFileSystem implements FileSystem {
  async open(file: string): Promise<AppendFile> {
    const handle = await fsp.open(file, constants.O_RDWR | constants.O_CREAT, 0o644);
    try {
      const { size } = await handle.stat();
      return new NodeAppendFile(file, Promise.resolve(handle), size);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  create(file: string): AppendFile {
    const opening = fsp.open(file, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o644);
    return new NodeAppendFile(file, opening, 0);
  }

  async readFile(file: string): Promise<Buffer | null> {
    try {
      return await fsp.readFile(file);
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async writeFileDurable(file: string, data: Uint8Array): Promise<void> {
    const tmp = `${file}.tmp`;
    const handle = await fsp.open(tmp, 'w', 0o644);
    try {
      await handle.writeFile(data);
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await fsp.rename(tmp, file);
    await syncDir(path.dirname(file));
  }

  async list(dir: string): Promise<string[]> {
    return fsp.readdir(dir);
  }

  async mkdirp(dir: string): Promise<void> {
    const created = await fsp.mkdir(dir, { recursive: true });
    if (created !== undefined) await syncDir(path.dirname(dir));
  }

  async rename(from: string, to: string): Promise<void> {
    await fsp.rename(from, to);
    await syncDir(path.dirname(to));
    if (path.dirname(from) !== path.dirname(to)) await syncDir(path.dirname(from));
  }

  async remove(target: string): Promise<void> {
    await fsp.rm(target, { recursive: true, force: true });
    await syncDir(path.dirname(target)).catch((err: unknown) => {
      if (!isNotFound(err)) throw err; // the parent went too (a directory removed recursively)
    });
  }

  async exists(target: string): Promise<boolean> {
    try {
      await fsp.stat(target);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async isDirectory(target: string): Promise<boolean> {
    try {
      return (await fsp.stat(target)).isDirectory();
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }
}

class NodeAppendFile implements AppendFile {
  #size: number;
  #syncedSize: number;
  /** Bytes handed to the OS (written or being written at `#writtenSize`). */
  #writtenSize: number;
  #queue: Uint8Array[] = [];
  #draining: Promise<void> | null = null;
  #error: Error | null = null;
  #dirSynced = false;
  #closed = false;

  constructor(
    readonly path: string,
    private readonly handle: Promise<FileHandle>,
    size: number,
  ) {
    this.#size = size;
    this.#syncedSize = size;
    this.#writtenSize = size;
    // An open failure of a `create`d file surfaces on the next operation, not as an unhandled rejection.
    handle.catch((err: unknown) => this.#fail(err));
  }

  get size(): number {
    return this.#size;
  }

  get syncedSize(): number {
    return this.#syncedSize;
  }

  append(chunks: readonly Uint8Array[]): void {
    if (this.#closed) throw new Error(`append to closed file ${this.path}`);
    for (const c of chunks) {
      if (c.length === 0) continue;
      this.#queue.push(c);
      this.#size += c.length;
    }
    if (this.#draining === null && this.#queue.length > 0) this.#draining = this.#drain();
  }

  async sync(): Promise<void> {
    const target = this.#size;
    await this.#flushQueue();
    const handle = await this.#usable();
    try {
      await handle.datasync();
      if (!this.#dirSynced) {
        await syncDir(path.dirname(this.path));
        this.#dirSynced = true;
      }
    } catch (err) {
      throw this.#fail(err);
    }
    if (target > this.#syncedSize) this.#syncedSize = target;
  }

  async read(position: number, length: number): Promise<Buffer> {
    const handle = await this.#usable();
    const out = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await handle.read(out, done, length - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return out.subarray(0, done);
  }

  async truncate(size: number): Promise<void> {
    if (this.#queue.length > 0 || this.#draining !== null) {
      throw new Error(`truncate of ${this.path} with queued writes`);
    }
    const handle = await this.#usable();
    try {
      await handle.truncate(size);
    } catch (err) {
      throw this.#fail(err);
    }
    this.#size = size;
    this.#writtenSize = size;
    this.#syncedSize = Math.min(this.#syncedSize, size);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#flushQueue().catch(() => undefined);
    const handle = await this.handle.catch(() => null);
    await handle?.close();
  }

  async #flushQueue(): Promise<void> {
    while (this.#draining !== null) await this.#draining;
    if (this.#error !== null) throw this.#error;
  }

  async #usable(): Promise<FileHandle> {
    if (this.#error !== null) throw this.#error;
    try {
      return await this.handle;
    } catch (err) {
      throw this.#fail(err);
    }
  }

  /** Writes queued chunks until the queue is empty; one pwritev per round. */
  async #drain(): Promise<void> {
    try {
      const handle = await this.#usable();
      while (this.#queue.length > 0 && this.#error === null) {
        let chunks = this.#queue;
        this.#queue = [];
        let remaining = chunks.reduce((n, c) => n + c.length, 0);
        while (remaining > 0) {
          const { bytesWritten } = await handle.writev(chunks, this.#writtenSize);
          this.#writtenSize += bytesWritten;
          remaining -= bytesWritten;
          if (remaining > 0) chunks = dropPrefix(chunks, bytesWritten);
        }
      }
    } catch (err) {
      this.#fail(err);
    } finally {
      this.#draining = null;
    }
  }

  #fail(err: unknown): Error {
    if (this.#error === null) this.#error = err instanceof Error ? err : new Error(String(err));
    return this.#error;
  }
}

/** The chunks left after the first `n` bytes (a short write); views, no copies. */
function dropPrefix(chunks: Uint8Array[], n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const c of chunks) {
    if (n >= c.length) {
      n -= c.length;
      continue;
    }
    out.push(n > 0 ? c.subarray(n) : c);
    n = 0;
  }
  return out;
}

async function syncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ENOENT';
}
