/**
 * Compiles one of bench/'s C helpers (floor.c, pacer.c) with the machine's C compiler (node-gyp needs one
 * anyway) on first use, into the temp dir, removed when the process exits. Null, with the reason on stderr,
 * where it cannot be compiled.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const binaries = new Map<string, string | null>();

export function compileBenchC(name: 'floor' | 'pacer'): string | null {
  const known = binaries.get(name);
  if (known !== undefined) return known;
  const source = path.resolve(path.dirname(fileURLToPath(import.meta.url)), `../../bench/${name}.c`);
  const out = path.join(os.tmpdir(), `tern-bench-${name}-${process.pid}`);
  let binary: string | null = null;
  try {
    execFileSync('cc', ['-O2', '-o', out, source], { stdio: ['ignore', 'ignore', 'pipe'] });
    process.once('exit', () => fs.rmSync(out, { force: true }));
    binary = out;
  } catch (err) {
    process.stderr.write(`cannot compile ${source}: ${(err as Error).message}\n`);
  }
  binaries.set(name, binary);
  return binary;
}
