/**
 * The device floor for the engine benchmark's open-loop cells (bench/floor.c): the same schedule (rate, append
 * size, latency from each append's due time) run by one C thread with ideal group commit straight on the disk.
 * fio's fdatasync p99 is a closed loop that never counts the appends due during a stall; this is what the
 * engine's figures are fairly compared with. Compiled on first use (bench/cc.ts); null where it
 * cannot be.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { compileBenchC } from './cc.js';

export interface FloorResult {
  appends: number;
  rounds: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
}

/** Runs the floor for `seconds` at `rate` appends/s of `appendBytes`, in `dir` (a real disk). */
export function measureFloor(dir: string, rate: number, appendBytes: number, seconds: number): FloorResult | null {
  const bin = compileBenchC('floor');
  if (bin === null) return null;
  const file = path.join(dir, `floor-${process.pid}.dat`);
  try {
    const out = execFileSync(bin, [String(rate), String(appendBytes), String(seconds), file], { encoding: 'utf8' });
    return JSON.parse(out) as FloorResult;
  } finally {
    fs.rmSync(file, { force: true });
  }
}
