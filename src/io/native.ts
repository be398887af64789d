/**
 * The typed face of the native addon (native/, built by `npm install` through node-gyp).
 *
 * Loading is lazy and tolerant: when the addon is missing (not built, or a platform without a compiler)
 * callers get `null` and use their TypeScript twin. `TERN_NATIVE=0` forces the twin, so tests can cover both.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export interface NativeBinding {
  crc32c(data: Uint8Array, seed?: number): number;
  readonly crc32cHardware: boolean;
}

let cached: NativeBinding | null | undefined;

function repoRoot(): string {
  // this file is dist/src/io/native.js (compiled) or src/io/native.ts (vitest); both are 2 levels under root
  const here = path.dirname(fileURLToPath(import.meta.url));
  const up = here.includes(`${path.sep}dist${path.sep}`) ? '../../..' : '../..';
  return path.resolve(here, up);
}

export function nativeBinding(): NativeBinding | null {
  if (cached !== undefined) return cached;
  if (process.env.TERN_NATIVE === '0') return (cached = null);
  const require = createRequire(import.meta.url);
  const file = path.join(repoRoot(), 'build', 'Release', 'tern_native.node');
  try {
    cached = require(file) as NativeBinding;
  } catch {
    cached = null;
  }
  return cached;
}
