/**
 * Child processes of the suite: servers under test (Tern, peers) started on loopback on free ports, and the
 * apt-get that installs peers. Every child started here is stopped by the same code (SIGTERM, then SIGKILL
 * after a grace period), by its pid: the suite never kills by name.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';

export const HOST = '127.0.0.1';
const STOP_GRACE_MS = 10_000;
/** USER_HZ: Linux reports /proc CPU times in 1/100 s on every architecture Node runs on. */
const CLOCK_TICKS_PER_SEC = 100;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, HOST, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = net.connect(port, HOST);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/** A started server: its process and the last lines it printed (for error messages). */
export class ServerProcess {
  private tail = '';
  readonly proc: ChildProcess;

  constructor(
    readonly name: string,
    cmd: string,
    args: readonly string[],
    env?: NodeJS.ProcessEnv,
  ) {
    this.proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
    const keep = (b: Buffer): void => {
      this.tail = (this.tail + b.toString()).slice(-4000);
    };
    this.proc.stdout!.on('data', keep);
    this.proc.stderr!.on('data', keep);
    this.proc.once('error', (err) => keep(Buffer.from(`spawn failed: ${err.message}\n`)));
  }

  get output(): string {
    return this.tail;
  }

  /** Waits until `port` accepts connections; throws with the server's output if it exits or times out. */
  async waitForPort(port: number, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) throw new Error(`${this.name} exited (${this.proc.exitCode ?? this.proc.signalCode}) before listening:\n${this.tail}`);
      if (await canConnect(port)) return;
      if (Date.now() > deadline) throw new Error(`${this.name} did not listen on ${HOST}:${port} within ${timeoutMs} ms:\n${this.tail}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * CPU time (user + system, all threads, and reaped children) the server has used so far, in seconds, from
   * /proc/<pid>/stat; null where /proc is not available.
   */
  cpuSeconds(): number | null {
    const f = this.#stat();
    return f === null ? null : (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / CLOCK_TICKS_PER_SEC;
  }

  /**
   * CPU seconds (user + system) of each of the server's threads so far, keyed "tid name", from
   * /proc/<pid>/task/<tid>/stat; empty where /proc is not available.
   */
  threadCpuSeconds(): Map<string, number> {
    const out = new Map<string, number>();
    let tids: string[];
    try {
      tids = fs.readdirSync(`/proc/${this.proc.pid}/task`);
    } catch {
      return out;
    }
    for (const tid of tids) {
      try {
        const stat = fs.readFileSync(`/proc/${this.proc.pid}/task/${tid}/stat`, 'utf8');
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        out.set(`${tid} ${name}`, (Number(f[11]) + Number(f[12])) / CLOCK_TICKS_PER_SEC);
      } catch {
        // the thread ended
      }
    }
    return out;
  }

  /** Minor page faults of the server so far (/proc/<pid>/stat minflt); null where /proc is not available. */
  minorFaults(): number | null {
    const f = this.#stat();
    return f === null ? null : Number(f[7]);
  }

  /** /proc/<pid>/stat from field 3 on (after the command name, which may contain spaces): utime is f[11]. */
  #stat(): string[] | null {
    try {
      const stat = fs.readFileSync(`/proc/${this.proc.pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    } catch {
      return null;
    }
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }
}

export function run(cmd: string, args: readonly string[], timeoutMs = 600_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }, (err, stdout, stderr) => {
      const errCode = (err as { code?: unknown } | null)?.code;
      const code = err === null ? 0 : typeof errCode === 'number' ? errCode : 127;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

/** Where a command is on PATH (or in sbin, where Debian puts some servers), or null. */
export async function which(cmd: string): Promise<string | null> {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/lib/rabbitmq/bin'])) {
    const r = await run('test', ['-x', `${dir}/${cmd}`]);
    if (r.code === 0) return `${dir}/${cmd}`;
  }
  return null;
}

let aptUpdated = false;

/**
 * Installs Debian packages when `binary` is missing: apt-get update once per process, then apt-get install.
 * Debian's postinst may start the service; servers here are always our own child processes on other ports.
 */
export async function aptInstall(binary: string, packages: readonly string[]): Promise<string> {
  const found = await which(binary);
  if (found !== null) return found;
  if (!aptUpdated) {
    const u = await run('apt-get', ['update', '-q']);
    if (u.code !== 0) throw new Error(`apt-get update failed:\n${u.out.slice(-2000)}`);
    aptUpdated = true;
  }
  const r = await run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...packages]);
  if (r.code !== 0) throw new Error(`apt-get install ${packages.join(' ')} failed:\n${r.out.slice(-2000)}`);
  const after = await which(binary);
  if (after === null) throw new Error(`${packages.join(' ')} installed but ${binary} is not on PATH`);
  return after;
}
