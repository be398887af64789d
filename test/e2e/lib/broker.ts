/**
 * The e2e suite's view of a broker process: test/helpers/broker.ts starts it (free port, data dir, wait for
 * TCP, output kept, SIGKILL on test-process exit); this adds what the e2e tests check and report: liveness,
 * exit status, RSS, the output tail for failure messages, and temp-dir bookkeeping so every test file cleans
 * up what it made. A data dir passed in is never removed by the helper (restart after a crash reuses it).
 */
import { mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { startBroker } from '../../helpers/broker.js';
import { requireTools, tail } from './proc.js';

type Started = Awaited<ReturnType<typeof startBroker>>;

export interface LaunchOptions {
  /** Reuse a data dir (restart after a crash); otherwise the helper makes a fresh one and removes it on stop. */
  dataDir?: string;
  /** Extra environment for the broker process (LD_PRELOAD for the fault shim). */
  env?: Record<string, string>;
  /** More `tern start` arguments. */
  args?: string[];
  /** Listen on this port (a restart where running clients must find the broker again); default: a free one. */
  port?: number;
}

export class E2EBroker {
  private exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;

  constructor(readonly started: Started) {
    const proc = started.proc;
    if (proc.exitCode !== null || proc.signalCode !== null) this.exit = { code: proc.exitCode, signal: proc.signalCode };
    proc.once('exit', (code, signal) => {
      this.exit = { code, signal };
    });
  }

  get port(): number {
    return this.started.port;
  }
  get dataDir(): string {
    return this.started.dataDir;
  }
  get pid(): number {
    return this.started.proc.pid!;
  }

  alive(): boolean {
    return this.exit === null;
  }

  /** How the process ended, for messages ("running" while alive). */
  exitStatus(): string {
    if (!this.exit) return 'running';
    return this.exit.signal ? `killed by ${this.exit.signal}` : `exited with code ${this.exit.code}`;
  }

  /** Resident set size from /proc (Linux), or -1 when the process is gone. */
  rssBytes(): number {
    try {
      const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
      const m = /VmRSS:\s+(\d+)\s+kB/.exec(status);
      return m ? Number(m[1]) * 1024 : -1;
    } catch {
      return -1;
    }
  }

  /** The last lines the broker wrote (stderr and stdout, kept by the helper). */
  stderrTail(lines = 40): string {
    return tail(this.started.output(), lines);
  }

  /** A line for assertion messages: process state and the stderr tail. */
  diagnose(): string {
    return `\n[broker pid ${this.started.proc.pid} on port ${this.port}: ${this.exitStatus()}]\n[broker stderr tail]\n${this.stderrTail() || '(empty)'}`;
  }

  /** SIGTERM (clean shutdown; the helper escalates to SIGKILL after its timeout) and wait for the exit. */
  async stop(): Promise<void> {
    await this.started.stop(); // also when already dead: the helper then only removes its own temp data dir
  }

  /** SIGKILL and wait for the process to be gone. */
  async kill(): Promise<void> {
    await this.started.kill();
  }
}

export async function launch(opts: LaunchOptions = {}): Promise<E2EBroker> {
  const started = await startBroker({ dataDir: opts.dataDir, env: opts.env, args: opts.args, port: opts.port, logLevel: 'warn' });
  return new E2EBroker(started);
}

/** Brokers started by one test file, all killed by `killAll()` (call it in afterAll). */
export class BrokerPool {
  private readonly brokers: E2EBroker[] = [];
  async start(dataDir: string, env?: Record<string, string>, args?: string[]): Promise<E2EBroker> {
    const b = await launch({ dataDir, env, args });
    this.brokers.push(b);
    return b;
  }
  async killAll(): Promise<void> {
    for (const b of this.brokers.splice(0)) await b.kill().catch(() => undefined);
  }
}

/** Temp dirs under os.tmpdir() (ext4 on the CI disk), removed by `cleanup()`. */
export class TempDirs {
  private dirs: string[] = [];
  make(prefix: string): string {
    const d = mkdtempSync(path.join(os.tmpdir(), `tern-e2e-${prefix}-`));
    this.dirs.push(d);
    return d;
  }
  cleanup(): void {
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}

const TMPFS_MAGIC = 0x01021994;
const RAMFS_MAGIC = 0x858458f6;

/** Durability tests must run on a real disk: tmpfs/ramfs ignore fsync, so they would prove nothing. */
export function assertRealDisk(dir: string): void {
  const t = statfsSync(dir).type;
  if (t === TMPFS_MAGIC || t === RAMFS_MAGIC) {
    throw new Error(`${dir} is on tmpfs/ramfs (statfs type 0x${t.toString(16)}): crash-durability tests need a real disk; set TMPDIR to an ext4/xfs path`);
  }
}

/** The broker a test file shares (fileBroker). */
export interface FileBroker {
  /** The running broker (after beforeAll). */
  readonly broker: E2EBroker;
  /** Stops it cleanly (SIGTERM) and starts it again on the same data dir (and port, with `samePort`). */
  restart(opts?: { samePort?: boolean }): Promise<E2EBroker>;
}

/**
 * One broker for a whole test file: started in beforeAll (after requireTools) on a fresh data dir, stopped in
 * afterAll, its dir removed.
 */
export function fileBroker(name: string, args: string[]): FileBroker {
  const dirs = new TempDirs();
  let current: E2EBroker | undefined;
  beforeAll(async () => {
    requireTools();
    current = await launch({ args, dataDir: dirs.make(name) });
  });
  afterAll(async () => {
    await current?.stop();
    dirs.cleanup();
  });
  return {
    get broker(): E2EBroker {
      if (current === undefined) throw new Error('fileBroker: the broker is not started (used outside a test?)');
      return current;
    },
    async restart(opts = {}) {
      const old = this.broker;
      await old.stop();
      current = await launch({ args, dataDir: old.dataDir, ...(opts.samePort ? { port: old.port } : {}) });
      return current;
    },
  };
}
