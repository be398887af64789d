/**
 * The machine's own limits, measured with fio in the same run as the broker benchmarks (design.md:
 * "within 80% of this machine's O_DIRECT sequential write limit", "p99 within 2x of the fdatasync p99").
 *
 * - seqWrite: O_DIRECT sequential writes of 1 MiB blocks with one fdatasync per 16 MiB: the disk's
 *   streaming write limit, with sync cost amortized as a group-committing log would.
 * - syncLatency: 4 KiB appends each followed by fdatasync (the cost floor of one acks=all round trip); on request
 *   the same at other block sizes (`syncBlockBytes`), so an append of that size has a like-for-like floor.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface FioResult {
  seqWriteMBps: number;
  fdatasyncP50Us: number;
  fdatasyncP99Us: number;
  fdatasyncP999Us: number;
  syncedWritesPerSec: number;
  /** The same job at the extra block sizes asked for, by size in bytes. */
  syncAtSize: Record<number, { p50Us: number; p99Us: number; p999Us: number; perSec: number }>;
}

interface FioJob {
  write: { bw_bytes: number; iops: number };
  sync?: { lat_ns?: { percentile?: Record<string, number> } };
}

function runFio(args: string[]): FioJob {
  const out = execFileSync('fio', [...args, '--output-format=json'], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  const json = JSON.parse(out.slice(out.indexOf('{'))) as { jobs: FioJob[] };
  return json.jobs[0]!;
}

export function fioAvailable(): boolean {
  try {
    execFileSync('fio', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** `syncBlockBytes`: extra block sizes for the write + fdatasync job (4 KiB always runs). */
export function measureDisk(dir: string, seconds: number, syncBlockBytes: readonly number[] = []): FioResult {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'fio.bench');
  const syncJob = (bytes: number): { job: FioJob; p: (k: string) => number } => {
    const job = runFio(['--name=synclat', `--filename=${file}`, '--rw=write', `--bs=${bytes}`, '--ioengine=psync', '--size=256M', '--fdatasync=1', `--runtime=${seconds}`, '--time_based']);
    const pct = job.sync?.lat_ns?.percentile ?? {};
    return { job, p: (k: string): number => Math.round((pct[k] ?? NaN) / 1000) };
  };
  try {
    const seq = runFio(['--name=seqwrite', `--filename=${file}`, '--rw=write', '--bs=1M', '--direct=1', '--ioengine=psync', '--size=2G', '--fdatasync=16', `--runtime=${seconds}`, '--time_based', '--end_fsync=1']);
    const sync = syncJob(4096);
    const syncAtSize: FioResult['syncAtSize'] = {};
    for (const bytes of syncBlockBytes) {
      const { job, p } = syncJob(bytes);
      syncAtSize[bytes] = { p50Us: p('50.000000'), p99Us: p('99.000000'), p999Us: p('99.900000'), perSec: job.write.iops };
    }
    return {
      seqWriteMBps: seq.write.bw_bytes / 1e6,
      fdatasyncP50Us: sync.p('50.000000'),
      fdatasyncP99Us: sync.p('99.000000'),
      fdatasyncP999Us: sync.p('99.900000'),
      syncedWritesPerSec: sync.job.write.iops,
      syncAtSize,
    };
  } finally {
    fs.rmSync(file, { force: true });
  }
}
