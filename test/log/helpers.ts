/**
 * Shared fixtures for the log tests: temp dirs on the real file system, batches, a controllable clock, and the
 * file systems the log runs on (`fsCases`: the simulated twin, node:fs, and the native engine where the addon is
 * built), so log and recovery tests run with and without the addon.
 */
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { onTestFinished } from 'vitest';
import { NativeFileSystem, NodeFileSystem, SimFileSystem, nativeEngineAvailable, type FileSystem } from '../../src/io/index.js';
import {
  BatchCache,
  PartitionLog,
  SyncScheduler,
  defaultLogConfig,
  type LogConfig,
  type ReadResult,
} from '../../src/log/index.js';
import {
  batchPayload,
  buildRecordBatch,
  iterateRecords,
  readBatchHeader,
  validateBatches,
} from '../../src/protocol/records.js';

export const T0 = 1_700_000_000_000;

/** A temp directory under os.tmpdir(), removed after the test. */
export function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tern-log-test-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** One batch of `count` records of `valueBytes` each, all with timestamp `ts`. */
export function batch(count: number, opts: { ts?: number; valueBytes?: number; tag?: string } = {}): Buffer {
  const ts = opts.ts ?? T0;
  const records = Array.from({ length: count }, (_, i) => ({
    key: `${opts.tag ?? 'k'}${i}`,
    value: Buffer.alloc(opts.valueBytes ?? 10, i),
    timestamp: ts,
  }));
  return buildRecordBatch(records);
}

/** Validated header list, as the produce path passes it. */
export function validated(records: Buffer) {
  const v = validateBatches(records, { maxBatchBytes: 1 << 30 });
  if (!v.ok) throw new Error(v.message);
  return v.batches;
}

export class Clock {
  constructor(public now = T0) {}
  readonly fn = (): number => this.now;
}

export interface TestLog {
  log: PartitionLog;
  scheduler: SyncScheduler;
  cache: BatchCache;
}

export async function openLog(
  dir: string,
  opts: { config?: Partial<LogConfig>; fs?: FileSystem; clock?: Clock; clean?: boolean; cacheBytes?: number } = {},
): Promise<TestLog> {
  const fs = opts.fs ?? new NodeFileSystem();
  // as LogManager does: a file system that group-commits by itself gets every sync directly
  const scheduler = new SyncScheduler({ immediate: fs.groupCommits === true });
  const cache = new BatchCache(opts.cacheBytes ?? 0);
  const log = await PartitionLog.open({
    dir,
    config: { ...defaultLogConfig, ...opts.config },
    fs,
    scheduler,
    cache: cache.forPartition(),
    clock: (opts.clock ?? new Clock()).fn,
    logger: { info() {}, warn() {}, error() {} },
    cleanShutdown: opts.clean ?? false,
  });
  return { log, scheduler, cache };
}

/** Offsets of every record in the batches of a read (a batch may come as several pieces: joined here). */
export function offsetsOf(result: ReadResult): number[] {
  if (!result.ok) throw new Error(result.error);
  const out: number[] = [];
  const all = Buffer.concat(result.records);
  for (let pos = 0; pos < all.length; ) {
    const h = readBatchHeader(all, pos);
    for (const r of iterateRecords(batchPayload(all, pos, h), h)) out.push(r.offset);
    pos += 12 + h.batchLength;
  }
  return out;
}

export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

/**
 * One file system the log tests run on, with synchronous access to the bytes of its files for the test itself
 * (inspection and damage), bypassing the log: node:fs for the real ones, peek/poke for the simulated one.
 */
export interface TestFs {
  readonly name: FsName;
  readonly fs: FileSystem;
  /** A fresh directory on `fs` for this test. */
  readonly dir: string;
  /** A file's current bytes, or null when missing. */
  bytes(file: string): Buffer | null;
  /** Replaces a file's bytes (durably, on the simulated disk). */
  write(file: string, data: Uint8Array): void;
  append(file: string, data: Uint8Array): void;
  truncate(file: string, size: number): void;
  size(file: string): number;
  exists(file: string): boolean;
}

export type FsName = 'sim' | 'node' | 'native';

export interface FsCase {
  readonly name: FsName;
  /** Why this case cannot run here (the addon is not built), or null. */
  readonly skip: string | null;
  /** A fresh file system and directory for one test (cleaned up after it). */
  make(): TestFs;
}

const nativeSkip = nativeEngineAvailable() ? null : 'native addon not built (npm install builds it) or TERN_NATIVE=0';

function realFs(name: 'node' | 'native', fs: FileSystem): TestFs {
  return {
    name,
    fs,
    dir: tempDir(),
    bytes: (file) => (existsSync(file) ? readFileSync(file) : null),
    write: (file, data) => writeFileSync(file, data),
    append: (file, data) => appendFileSync(file, data),
    truncate: (file, size) => truncateSync(file, size),
    size: (file) => statSync(file).size,
    exists: (file) => existsSync(file),
  };
}

let simDirs = 0;

/**
 * Shut-down engines stay referenced until the worker exits: native/engine.cc's environment cleanup hook points at
 * the engine and is never removed, so one garbage-collected before exit makes the process abort or hang there.
 */
const retainedEngines: NativeFileSystem[] = [];

export const fsCases: readonly FsCase[] = [
  {
    name: 'sim',
    skip: null,
    make(): TestFs {
      const fs = new SimFileSystem({ seed: 1 });
      return {
        name: 'sim',
        fs,
        dir: `/data/t${simDirs++}-0`,
        bytes: (file) => fs.peek(file),
        write: (file, data) => fs.poke(file, data),
        append: (file, data) => fs.poke(file, Buffer.concat([fs.peek(file) ?? Buffer.alloc(0), data])),
        truncate: (file, size) => fs.poke(file, fs.peek(file)!.subarray(0, size)),
        size: (file) => {
          const b = fs.peek(file);
          if (b === null) throw new Error(`${file}: no such file`);
          return b.length;
        },
        exists: (file) => fs.peek(file) !== null,
      };
    },
  },
  { name: 'node', skip: null, make: () => realFs('node', new NodeFileSystem()) },
  {
    name: 'native',
    skip: nativeSkip,
    make(): TestFs {
      const fs = new NativeFileSystem();
      retainedEngines.push(fs);
      onTestFinished(() => fs.shutdown());
      return realFs('native', fs);
    },
  },
];

if (nativeSkip !== null) console.warn(`[log tests] native engine cases skipped: ${nativeSkip}`);
