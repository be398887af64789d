/**
 * The shared fault kit (../shared/fault-kit, see its README) as used by the e2e tests: the failsync LD_PRELOAD
 * shim compiled at test time, its journal of synced sizes (power-loss simulation), and small filesystems that
 * fill up (loop-mounted ext4, or tmpfs when loop devices are missing).
 *
 * Faults that need root or mount are "required in CI": when CI=true and they cannot be set up the test fails
 * with the reason; on a developer machine it is skipped with the reason.
 */
import { existsSync, readFileSync, statSync, truncateSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { check, run } from './proc.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** ../shared relative to the repository root (test/e2e/lib -> repo root is three levels up). */
export const FAULT_KIT_DIR = process.env.TERN_FAULT_KIT ?? path.resolve(HERE, '../../../../shared/fault-kit');

export const IN_CI = process.env.CI === 'true' || process.env.CI === '1';

/** Thrown when a fault cannot be set up on this machine; tests turn it into skip (dev) or failure (CI). */
export class FaultUnavailable extends Error {}

/** Compiles failsync.c into `dir` and returns the .so path. */
export async function buildFailsync(dir: string): Promise<string> {
  const src = path.join(FAULT_KIT_DIR, 'failsync.c');
  if (!existsSync(src)) throw new FaultUnavailable(`fault kit not found at ${src} (set TERN_FAULT_KIT)`);
  const so = path.join(dir, 'libfailsync.so');
  const r = await run('gcc', ['-O2', '-shared', '-fPIC', '-o', so, src, '-ldl'], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new FaultUnavailable(`gcc failed to build failsync.c: ${r.stderr.slice(0, 2000)}`);
  return so;
}

/** Environment that makes every fsync/fdatasync (and, optionally, write) under `prefix` fail. */
export function failsyncEnv(so: string, o: { prefix: string; syncAfter?: number; writeAfter?: number; journal?: string }): Record<string, string> {
  const env: Record<string, string> = {
    LD_PRELOAD: so,
    FAIL_PATH_PREFIX: o.prefix,
    FAILSYNC_AFTER: String(o.syncAfter ?? -1),
    // io_uring would bypass the libc wrappers the shim replaces
    UV_USE_IO_URING: '0',
  };
  if (o.writeAfter !== undefined) env.FAILWRITE_AFTER = String(o.writeAfter);
  if (o.journal) env.FAILSYNC_JOURNAL = o.journal;
  return env;
}

/**
 * Simulates power loss after a SIGKILL: every file named in the failsync journal is cut back to its size at its
 * last successful sync. Files never synced are left alone (they may have been renamed into place after a sync
 * under another name); so this under-approximates the loss, it never invents one. Returns what was cut.
 */
export function dropUnsyncedTails(journal: string, under: string): { file: string; from: number; to: number }[] {
  if (!existsSync(journal)) return [];
  const synced = new Map<string, number>();
  for (const line of readFileSync(journal, 'utf8').split('\n')) {
    const m = /^(\d+) (.+)$/.exec(line);
    if (m) synced.set(m[2]!, Number(m[1]));
  }
  const cut: { file: string; from: number; to: number }[] = [];
  for (const [file, size] of synced) {
    if (!file.startsWith(under) || !existsSync(file)) continue;
    const now = statSync(file).size;
    if (now > size) {
      truncateSync(file, size);
      cut.push({ file, from: now, to: size });
    }
  }
  return cut;
}

export interface SmallFs {
  dir: string;
  kind: 'loop-ext4' | 'tmpfs';
  cleanup(): Promise<void>;
}

/**
 * A filesystem of `sizeMiB` that fills up: loop-mounted ext4 (-m 0, no reserved blocks) when possible, else
 * tmpfs -o size=. Needs root. Throws FaultUnavailable with the reason otherwise.
 */
export async function smallFs(sizeMiB: number): Promise<SmallFs> {
  if (process.getuid?.() !== 0) throw new FaultUnavailable('disk-full test needs root to mount a small filesystem');
  const base = mkdtempSync(path.join(os.tmpdir(), 'tern-e2e-smallfs-'));
  const img = path.join(base, 'disk.img');
  const mnt = path.join(base, 'mnt');
  await run('mkdir', ['-p', mnt]);
  const reasons: string[] = [];
  const mk = await run('truncate', ['-s', `${sizeMiB}M`, img]);
  if (mk.code === 0) {
    const fs = await run('mkfs.ext4', ['-q', '-F', '-m', '0', img], { timeoutMs: 30_000 });
    if (fs.code === 0) {
      const m = await run('mount', ['-o', 'loop', img, mnt], { timeoutMs: 30_000 });
      if (m.code === 0) return { dir: mnt, kind: 'loop-ext4', cleanup: () => unmount(mnt, base) };
      reasons.push(`mount -o loop: ${m.stderr.trim()}`);
    } else reasons.push(`mkfs.ext4: ${fs.stderr.trim()}`);
  } else reasons.push(`truncate: ${mk.stderr.trim()}`);
  const t = await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tern-e2e', mnt], { timeoutMs: 30_000 });
  if (t.code === 0) return { dir: mnt, kind: 'tmpfs', cleanup: () => unmount(mnt, base) };
  reasons.push(`mount -t tmpfs: ${t.stderr.trim()}`);
  rmSync(base, { recursive: true, force: true });
  throw new FaultUnavailable(`cannot mount a small filesystem: ${reasons.join('; ')}`);
}

async function unmount(mnt: string, base: string): Promise<void> {
  const r = await run('umount', [mnt], { timeoutMs: 30_000 });
  if (r.code !== 0) await run('umount', ['-l', mnt], { timeoutMs: 30_000 });
  rmSync(base, { recursive: true, force: true });
}

/** Files under `dir` (recursively) whose bytes contain `needle`. */
export async function filesContaining(dir: string, needle: string): Promise<string[]> {
  const r = await run('grep', ['-rlF', '--', needle, dir], { timeoutMs: 30_000 });
  if (r.code !== 0 && r.code !== 1) check(r, 'grep');
  return r.stdout.split('\n').filter((l) => l !== '');
}
