/**
 * Child processes for end-to-end tests: every run has a deadline, its output is kept whole, and a failure
 * message carries the command line and the tail of stderr so a red test says what went wrong.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

/** The Debian python that has python3-confluent-kafka and python3-kafka (the python3 first on PATH may not). */
export const PYTHON = '/usr/bin/python3';
export const KCAT = 'kcat';

export interface RunOptions {
  input?: string | Buffer;
  timeoutMs?: number;
  env?: Record<string, string | undefined>;
  cwd?: string;
}

export interface RunResult {
  cmd: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

const OUTPUT_BYTES_MAX = 64 * 1024 * 1024;

/** Runs a command to completion (or its deadline, then SIGKILL). Never rejects on a non-zero exit. */
export function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const cmd = [file, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(file, args, {
        cwd: opts.cwd,
        env: { ...process.env, ...opts.env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
    } catch (err) {
      reject(err);
      return;
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    const collect = (into: Buffer[]) => (b: Buffer) => {
      outBytes += b.length;
      if (outBytes <= OUTPUT_BYTES_MAX) into.push(b);
    };
    child.stdout!.on('data', collect(out));
    child.stderr!.on('data', collect(err));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${cmd}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        cmd,
        code,
        signal,
        timedOut,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin!.on('error', () => {
      /* the child may exit before reading all input; its exit status tells */
    });
    child.stdin!.end(opts.input ?? '');
  });
}

/** Last `lines` lines of a text, for failure messages. */
export function tail(text: string, lines = 40): string {
  const all = text.trimEnd().split('\n');
  return all.slice(Math.max(0, all.length - lines)).join('\n');
}

export function describeRun(r: RunResult): string {
  const how = r.timedOut ? 'timed out (killed)' : r.signal ? `killed by ${r.signal}` : `exit ${r.code}`;
  return `${r.cmd}\n  -> ${how}\n  stderr tail:\n${indent(tail(r.stderr))}\n  stdout tail:\n${indent(tail(r.stdout, 20))}`;
}

function indent(s: string): string {
  return s
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

/** Throws with the command, exit status and output tails unless the run exited 0. */
export function check(r: RunResult, what = 'command'): RunResult {
  if (r.code !== 0 || r.timedOut) throw new Error(`${what} failed: ${describeRun(r)}`);
  return r;
}

/** Tools the e2e suite needs; a missing one is an error in CI (installed by .ci/run), never a silent skip. */
export function requireTools(): void {
  const missing: string[] = [];
  if (!existsSync(PYTHON)) missing.push(PYTHON);
  if (!onPath(KCAT)) missing.push('kcat (apt-get install -y kcat)');
  if (missing.length > 0) throw new Error(`e2e tools missing: ${missing.join(', ')}`);
}

export function onPath(name: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d !== '' && existsSync(`${d}/${name}`));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `probe` until it returns a value other than undefined, or throws after `timeoutMs` with `what`. */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}`);
    }
    await sleep(intervalMs);
  }
}

/** Races a promise against a deadline so no test step can hang the suite. */
export async function within<T>(what: string, timeoutMs: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
