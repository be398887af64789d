/**
 * The machine's own limits, measured with fio in the same run as the broker benchmarks (design.md:
 * "within 80% of this machine's O_DIRECT sequential write limit", "p99 within 2x of the fdatasync p99").
 *
 * - seqWrite: O_DIRECT sequential writes of 1 MiB blocks with one fdatasync per 16 MiB: the disk's
 *   streaming write limit, with sync cost amortized as a group-committing log would.
 * - syncLatency: 4 KiB appends each followed by fdatasync (the cost floor of one acks=all round trip).
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

export function measureDisk(dir: string, seconds: number): FioResult {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'fio.bench');
  try {
    const seq = runFio(['--name=seqwrite', `--filename=${file}`, '--rw=write', '--bs=1M', '--direct=1', '--ioengine=psync', '--size=2G', '--fdatasync=16', `--runtime=${seconds}`, '--time_based', '--end_fsync=1']);
    const sync = runFio(['--name=synclat', `--filename=${file}`, '--rw=write', '--bs=4k', '--ioengine=psync', '--size=256M', '--fdatasync=1', `--runtime=${seconds}`, '--time_based']);
    const pct = sync.sync?.lat_ns?.percentile ?? {};
    const p = (k: string): number => Math.round((pct[k] ?? NaN) / 1000);
    return {
      seqWriteMBps: seq.write.bw_bytes / 1e6,
      fdatasyncP50Us: p('50.000000'),
      fdatasyncP99Us: p('99.000000'),
      fdatasyncP999Us: p('99.900000'),
      syncedWritesPerSec: sync.write.iops,
    };
  } finally {
    fs.rmSync(file, { force: true });
  }
}
