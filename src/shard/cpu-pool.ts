/**
 * A shard's pool of CPU threads (piscina): the CpuOffload the shard's logs use, so decompressing a batch to look
 * inside it and checking a recovery chunk's CRCs run beside the shard's event loop, not on it.
 *
 * Small work stays inline: a hop to the pool costs tens of microseconds, more than checking a few KiB. The pool
 * starts no thread until the first task and lets idle ones go.
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import { firstBadCrcIn, inlineOffload, type CpuOffload } from '../log/index.js';
import type { CompressionId } from '../protocol/records.js';
import type { CpuTask } from './cpu-tasks.js';

/** Below this many bytes a task runs inline. */
export const offloadBytesMin = 64 * 1024;
/** Threads per shard's pool. */
export const cpuThreadsPerShard = 1;
const IDLE_TIMEOUT_MS = 30_000;

function tasksUrl(): string {
  const here = fileURLToPath(import.meta.url);
  if (!here.endsWith('.ts')) return new URL('./cpu-tasks.js', import.meta.url).href;
  return pathToFileURL(path.resolve(path.dirname(here), '../../dist/src/shard/cpu-tasks.js')).href;
}

export class CpuPool implements CpuOffload {
  readonly #pool: Piscina<CpuTask, Uint8Array | number>;
  /** Work smaller than this many bytes runs inline. */
  readonly bytesMin: number;
  /** Tasks run in the pool (not inline), for stats and tests. */
  offloaded = 0;

  constructor(opts: { threads?: number; bytesMin?: number } = {}) {
    this.#pool = new Piscina({ filename: tasksUrl(), minThreads: 0, maxThreads: opts.threads ?? cpuThreadsPerShard, idleTimeout: IDLE_TIMEOUT_MS });
    this.bytesMin = opts.bytesMin ?? offloadBytesMin;
  }

  async decompress(codec: CompressionId, payload: Buffer): Promise<Buffer> {
    if (payload.length < this.bytesMin) return inlineOffload.decompress(codec, payload);
    this.offloaded++;
    const out = (await this.#pool.run({ kind: 'decompress', codec, payload })) as Uint8Array;
    return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  }

  async firstBadCrc(chunk: Buffer, positions: readonly number[]): Promise<number> {
    if (chunk.length < this.bytesMin) return firstBadCrcIn(chunk, positions);
    this.offloaded++;
    return (await this.#pool.run({ kind: 'firstBadCrc', chunk, positions: [...positions] })) as number;
  }

  close(): Promise<void> {
    return this.#pool.destroy();
  }
}
