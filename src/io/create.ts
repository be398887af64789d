/**
 * Picks the storage engine: the native one (O_DIRECT, group commit in native threads) where the addon is built,
 * node:fs otherwise. `engine: 'native'` insists (an error when the addon is missing), `'node'` forces the
 * TypeScript path (the baseline the benchmarks compare against).
 */
import type { FileSystem } from './file.js';
import { NativeFileSystem, nativeEngineAvailable, type EngineOptions } from './native-file.js';
import { NodeFileSystem } from './node-file.js';

export type LogEngine = 'auto' | 'native' | 'node';

export interface CreateFileSystemOptions extends EngineOptions {
  engine?: LogEngine;
}

export function createFileSystem(opts: CreateFileSystemOptions = {}): FileSystem & { shutdown?(): void } {
  const engine = opts.engine ?? 'auto';
  if (engine === 'node') return new NodeFileSystem();
  if (!nativeEngineAvailable()) {
    if (engine === 'native') throw new Error('log engine "native" requested but the native addon is not built (npm install builds it)');
    opts.logger?.warn({}, 'native addon not built: using the node:fs log engine');
    return new NodeFileSystem();
  }
  return new NativeFileSystem(opts);
}

/** True for errors meaning the disk (or quota) is full: the partition can come back once space returns. */
export function isOutOfSpace(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== null && e !== undefined && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
