/**
 * Starts a REAL Tern broker as a child process for tests: `node bin/tern.js start` on a free loopback port
 * with a temporary data directory. Needs the compiled CLI in dist/ (`npm run build`; `npm test` builds first).
 *
 * - The port is picked by binding port 0 and releasing it; if the broker then loses the race for it
 *   (EADDRINUSE), another port is tried, up to PORT_ATTEMPTS_MAX times.
 * - `startBroker` resolves once the port accepts TCP connections (it first checks that nothing listens there
 *   yet), and rejects with the broker's output if it exits first or is not listening within `startTimeoutMs`.
 * - stderr and stdout are kept (the last OUTPUT_BYTES_MAX bytes) for diagnostics: `output()`.
 * - `stop()` sends SIGTERM (clean shutdown) and escalates to SIGKILL after `stopTimeoutMs`; `kill()` is an
 *   immediate SIGKILL (crash). Both wait for the exit. A data directory the helper created is removed after
 *   the exit unless `keepDataDir` is set; one passed in (`dataDir`, e.g. to restart on the same data) is never
 *   removed.
 * - A broker must not outlive its test process, even when a test forgets `stop()` or the vitest worker is
 *   killed (vitest ends fork workers with a signal, so 'exit' hooks do not run): on Linux the broker is
 *   started through util-linux `setpriv --pdeathsig SIGKILL`, which execs node in place (so `proc.pid` is
 *   the broker) and makes the kernel SIGKILL it when its parent dies. An 'exit' hook kills the rest.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TERN_BIN = join(REPO_ROOT, 'bin', 'tern.js');

const PORT_ATTEMPTS_MAX = 3;
const OUTPUT_BYTES_MAX = 64 * 1024;
const START_TIMEOUT_MS_DEFAULT = 20_000;
const STOP_TIMEOUT_MS_DEFAULT = 10_000;
const PROBE_INTERVAL_MS = 50;

export interface StartBrokerOptions {
  /** Data directory to use (kept afterwards). Default: a new temporary directory, removed on stop/kill. */
  dataDir?: string;
  /** Keep the temporary data directory after stop/kill. */
  keepDataDir?: boolean;
  /** Port to listen on (default: a free one). */
  port?: number;
  /** Default 'warn'. */
  logLevel?: string;
  /** More arguments for `tern start`. */
  args?: string[];
  /** Extra environment for the broker process. */
  env?: Record<string, string>;
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
}

export interface RunningBroker {
  host: string;
  port: number;
  /** `host:port`, ready for `--brokers` or a client's `brokers`. */
  brokers: string;
  dataDir: string;
  proc: ChildProcess;
  /** The last bytes the broker wrote to stderr and stdout. */
  output(): string;
  /** Signals the broker (default SIGTERM), waits for it to exit (SIGKILL after stopTimeoutMs). */
  stop(signal?: NodeJS.Signals): Promise<ExitStatus>;
  /** SIGKILL now (a crash), and wait for the exit. */
  kill(): Promise<ExitStatus>;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** `setpriv` (util-linux) if installed: the broker then dies with the test process. */
const SETPRIV: string | null = findExecutable('setpriv');

function findExecutable(name: string): string | null {
  if (process.platform !== 'linux') return null;
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, name), fsConstants.X_OK);
      return join(dir, name);
    } catch {
      // not in this directory
    }
  }
  return null;
}

/** Command and arguments that run `node ...args`, bound to die with this process where possible. */
function boundToParent(args: string[]): [string, string[]] {
  return SETPRIV === null ? [process.execPath, args] : [SETPRIV, ['--pdeathsig', 'SIGKILL', process.execPath, ...args]];
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of running) p.kill('SIGKILL');
  });
}

/** A port that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr !== null ? resolvePort(addr.port) : reject(new Error('no port'))));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
  });
}

export async function startBroker(opts: StartBrokerOptions = {}): Promise<RunningBroker> {
  installExitHook();
  const ownsDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'tern-test-'));
  let lastErr: unknown = null;
  for (let attempt = 0; attempt < PORT_ATTEMPTS_MAX; attempt++) {
    const port = opts.port ?? (await freePort());
    try {
      return await launch(port, dataDir, ownsDir, opts);
    } catch (err) {
      lastErr = err;
      if (opts.port !== undefined || !String((err as Error).message).includes('EADDRINUSE')) break;
    }
  }
  if (ownsDir && opts.keepDataDir !== true) rmSync(dataDir, { recursive: true, force: true });
  throw lastErr;
}

async function launch(port: number, dataDir: string, ownsDir: boolean, opts: StartBrokerOptions): Promise<RunningBroker> {
  // Readiness is "the port accepts TCP": make sure nothing else answers there already.
  if (await canConnect(port)) throw new Error(`port 127.0.0.1:${port} is already in use (EADDRINUSE before start)`);
  const args = [TERN_BIN, 'start', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--log-level', opts.logLevel ?? 'warn', ...(opts.args ?? [])];
  const [command, argv] = boundToParent(args);
  const proc = spawn(command, argv, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  running.add(proc);
  let out = '';
  const keep = (chunk: Buffer): void => {
    out += chunk.toString('utf8');
    if (out.length > OUTPUT_BYTES_MAX) out = out.slice(out.length - OUTPUT_BYTES_MAX);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<ExitStatus>((res) => {
    proc.once('exit', (code, signal) => {
      running.delete(proc);
      res({ code, signal });
    });
  });
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const startTimeoutMs = opts.startTimeoutMs ?? START_TIMEOUT_MS_DEFAULT;
  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (hasExited) {
      const st = await exited;
      throw new Error(`broker exited before listening (code ${st.code}, signal ${st.signal}); output:\n${out}`);
    }
    if (await canConnect(port)) break;
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      await exited;
      throw new Error(`broker not listening on 127.0.0.1:${port} after ${startTimeoutMs} ms; output:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, PROBE_INTERVAL_MS));
  }

  const cleanup = (): void => {
    if (ownsDir && opts.keepDataDir !== true) rmSync(dataDir, { recursive: true, force: true });
  };
  const stopTimeoutMs = opts.stopTimeoutMs ?? STOP_TIMEOUT_MS_DEFAULT;
  return {
    host: '127.0.0.1',
    port,
    brokers: `127.0.0.1:${port}`,
    dataDir,
    proc,
    output: () => out,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (!hasExited) proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), stopTimeoutMs);
      const st = await exited;
      clearTimeout(timer);
      cleanup();
      return st;
    },
    async kill() {
      if (!hasExited) proc.kill('SIGKILL');
      const st = await exited;
      cleanup();
      return st;
    },
  };
}

/** Runs the `tern` CLI to completion; resolves with its exit code and output (never rejects on exit code). */
export function runCli(
  args: readonly string[],
  opts: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res, reject) => {
    const proc = spawn(process.execPath, [TERN_BIN, ...args], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`tern ${args.join(' ')} did not finish in ${opts.timeoutMs ?? 30_000} ms; stderr:\n${stderr}`));
    }, opts.timeoutMs ?? 30_000);
    proc.once('error', reject);
    proc.once('close', (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr });
    });
    proc.stdin.on('error', () => undefined); // the CLI may exit before reading all input
    proc.stdin.end(opts.input ?? '');
  });
}
