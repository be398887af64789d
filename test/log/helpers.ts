/** Shared fixtures for the log tests: temp dirs on the real file system, batches, a controllable clock. */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { onTestFinished } from 'vitest';
import { NodeFileSystem, type FileSystem } from '../../src/io/index.js';
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
  const scheduler = new SyncScheduler();
  const cache = new BatchCache(opts.cacheBytes ?? 0);
  const log = await PartitionLog.open({
    dir,
    config: { ...defaultLogConfig, ...opts.config },
    fs: opts.fs ?? new NodeFileSystem(),
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
