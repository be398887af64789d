/**
 * The machine's own limits, measured in the same run as the brokers: disk (fio, bench/fio.ts) and loopback
 * TCP (one Node stream, 64 KiB writes, client and server in this process: the ceiling a single Node
 * connection can move on this machine, which bounds any Node load generator's connection).
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { fioAvailable, measureDisk, type FioResult } from './fio.js';
import { HOST } from './proc.js';

export interface MachineInfo {
  description: string;
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  node: string;
  /** Filesystem of the data dirs (from /proc/mounts; tmpfs would make fsync a no-op). */
  filesystem: string;
}

export interface MachineLimits {
  disk: FioResult | null;
  loopbackMBps: number;
}

export function describeMachine(dataDir: string): MachineInfo {
  const cpus = os.cpus();
  return {
    description: `${cpus.length} x ${cpus[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    filesystem: filesystemOf(dataDir),
  };
}

/** Device and type of the mount holding `dir` (longest mount point that prefixes it). */
function filesystemOf(dir: string): string {
  try {
    fs.mkdirSync(dir, { recursive: true });
    const real = fs.realpathSync(dir);
    let best = { point: '', text: 'unknown' };
    for (const line of fs.readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [dev, point, type] = line.split(' ');
      if (dev === undefined || point === undefined || type === undefined) continue;
      if ((real === point || real.startsWith(point.endsWith('/') ? point : `${point}/`)) && point.length >= best.point.length) best = { point, text: `${type} on ${dev}` };
    }
    return best.text;
  } catch {
    return 'unknown';
  }
}

/** Loopback TCP throughput of one connection for `seconds`, in MB/s (1e6 bytes). */
export async function measureLoopback(seconds: number): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  let received = 0;
  const server = net.createServer((s) => s.on('data', (d: Buffer) => (received += d.length)));
  await new Promise<void>((r) => server.listen(0, HOST, () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const client = net.connect(port, HOST);
  await new Promise<void>((r) => client.once('connect', () => r()));
  const start = performance.now();
  const end = start + seconds * 1000;
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      while (performance.now() < end) {
        if (!client.write(chunk)) {
          client.once('drain', pump);
          return;
        }
      }
      resolve();
    };
    pump();
  });
  const elapsed = (performance.now() - start) / 1000;
  client.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  return received / elapsed / 1e6;
}

export async function measureLimits(dir: string, fioSeconds: number, log: (s: string) => void): Promise<MachineLimits> {
  let disk: FioResult | null = null;
  if (fioAvailable()) {
    log(`fio: O_DIRECT sequential write and 4 KiB write+fdatasync, ${fioSeconds} s each...`);
    disk = measureDisk(dir, fioSeconds);
  } else {
    log('fio not found (apt-get install fio): disk limits not measured');
  }
  log('loopback: one TCP connection, 64 KiB writes, 3 s...');
  const loopbackMBps = await measureLoopback(3);
  return { disk, loopbackMBps };
}
