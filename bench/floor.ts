/**
 * The device floor for the engine benchmark's open-loop cells (bench/floor.c): the same schedule (rate, append
 * size, latency from each append's due time) run by one C thread with ideal group commit straight on the disk.
 * fio's fdatasync p99 is a closed loop that never counts the appends due during a stall; this is what the
 * engine's figures are fairly compared with. Compiled on first use with the machine's C compiler (node-gyp
 * needs one anyway); null where there is none.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface FloorResult {
  appends: number;
  rounds: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
}

let binary: string | null | undefined;

function compile(): string | null {
  if (binary !== undefined) return binary;
  const source = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/floor.c');
  const out = path.join(os.tmpdir(), `tern-bench-floor-${process.pid}`);
  try {
    execFileSync('cc', ['-O2', '-o', out, source], { stdio: ['ignore', 'ignore', 'pipe'] });
    process.once('exit', () => fs.rmSync(out, { force: true }));
    binary = out;
  } catch (err) {
    process.stderr.write(`device floor not measured: cannot compile ${source}: ${(err as Error).message}\n`);
    binary = null;
  }
  return binary;
}

/** Runs the floor for `seconds` at `rate` appends/s of `appendBytes`, in `dir` (a real disk). */
export function measureFloor(dir: string, rate: number, appendBytes: number, seconds: number): FloorResult | null {
  const bin = compile();
  if (bin === null) return null;
  const file = path.join(dir, `floor-${process.pid}.dat`);
  try {
    const out = execFileSync(bin, [String(rate), String(appendBytes), String(seconds), file], { encoding: 'utf8' });
    return JSON.parse(out) as FloorResult;
  } finally {
    fs.rmSync(file, { force: true });
  }
}
