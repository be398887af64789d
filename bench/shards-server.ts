/**
 * Tern with shards as a benchmark target: `node bin/tern.js start --smp N`, one process on loopback, its data
 * under the run's directory, stopped by pid (SIGTERM, or SIGKILL for the unclean-restart figure). Besides the
 * TargetServer duties (driver.ts runs it like any target) it reads what the shard benchmark reports about the
 * process from /proc: resident memory, open descriptors, threads, and CPU time per thread.
 *
 * The Kafka side (topic creation in bulk, "Metadata answers with every topic") goes through src/client's
 * Connection, so a figure never depends on a third-party client's retry policy.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '../src/client/index.js';
import { ApiKey } from '../src/protocol/messages/index.js';
import { freePort, HOST, ServerProcess } from './proc.js';
import { topicName, type Endpoint, type TargetInfo, type TargetServer } from './targets/types.js';
import type { Workload } from './workload.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Topics per CreateTopics request when creating in bulk (a request stays well under any frame limit). */
const CREATE_TOPICS_PER_REQUEST = 10;
const ADMIN_TIMEOUT_MS = 300_000;

/** What /proc says about a process right now. */
export interface ProcSample {
  rssBytes: number;
  fds: number;
  threads: number;
}

export function procSample(pid: number): ProcSample {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { rssBytes: field('VmRSS') * 1024, fds: fs.readdirSync(`/proc/${pid}/fd`).length, threads: field('Threads') };
}

/**
 * CPU seconds (user + system) of each thread of a process, by thread id, with the thread's name, and the seconds it
 * spent runnable but waiting for a CPU (schedstat's run-queue delay; 0 where the kernel has no schedstats).
 */
export function threadCpuSeconds(pid: number): Map<number, { name: string; seconds: number; waitSeconds: number }> {
  const out = new Map<number, { name: string; seconds: number; waitSeconds: number }>();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      let waitSeconds = 0;
      try {
        waitSeconds = Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[1]) / 1e9 || 0;
      } catch {
        // no schedstats in this kernel
      }
      out.set(Number(tid), { name, seconds: (Number(f[11]) + Number(f[12])) / 100, waitSeconds });
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

export class ShardedTernServer implements TargetServer {
  readonly id = 'tern';
  server: ServerProcess | null = null;
  endpoint: Endpoint | null = null;
  dataDir = '';

  constructor(readonly smp: number) {}

  async ensureInstalled(): Promise<void> {
    // Built with the project: nothing to install.
  }

  /** Starts a broker on `dir` (data kept: a restart on the same dir recovers it); resolves once it accepts TCP. */
  async start(dir: string, port?: number): Promise<Endpoint> {
    const p = port ?? (await freePort());
    this.dataDir = path.join(dir, 'tern-data');
    this.server = new ServerProcess(`tern --smp ${this.smp}`, process.execPath, [path.join(ROOT, 'bin/tern.js'), 'start', '--smp', String(this.smp), '--listen', `${HOST}:${p}`, '--data-dir', this.dataDir, '--log-level', 'warn']);
    await this.server.waitForPort(p, 600_000);
    this.endpoint = { host: HOST, port: p };
    return this.endpoint;
  }

  get pid(): number {
    const pid = this.server?.proc.pid;
    if (pid === undefined) throw new Error('server not started');
    return pid;
  }

  async prepare(w: Workload): Promise<void> {
    await this.createTopics(Array.from({ length: w.topics }, (_, t) => topicName(t)), w.partitionsPerTopic);
  }

  /** Creates topics through CreateTopics, CREATE_TOPICS_PER_REQUEST per request, one request at a time. */
  async createTopics(names: readonly string[], partitions: number): Promise<void> {
    const conn = await this.connect('tern-bench-admin');
    try {
      for (let i = 0; i < names.length; i += CREATE_TOPICS_PER_REQUEST) {
        const res = await conn.request(
          ApiKey.CreateTopics,
          {
            topics: names.slice(i, i + CREATE_TOPICS_PER_REQUEST).map((name) => ({ name, numPartitions: partitions, replicationFactor: 1, assignments: [], configs: [] })),
            timeoutMs: ADMIN_TIMEOUT_MS,
            validateOnly: false,
          },
          { brokerWaitMs: ADMIN_TIMEOUT_MS },
        );
        for (const t of res.topics) if (t.errorCode !== 0) throw new Error(`create topic ${t.name}: error ${t.errorCode} ${t.errorMessage ?? ''}`);
      }
    } finally {
      conn.close();
    }
  }

  connect(clientId: string, inFlightRequestsMax?: number): Promise<Connection> {
    if (!this.endpoint) throw new Error('server not started');
    return Connection.connect({ host: this.endpoint.host, port: this.endpoint.port, clientId, ...(inFlightRequestsMax === undefined ? {} : { inFlightRequestsMax }) });
  }

  /**
   * Topics and partitions a Metadata request (all topics) shows with a leader, or null when the broker does not
   * answer (not listening yet, connection refused or reset).
   */
  async metadataCounts(): Promise<{ topics: number; partitionsWithLeader: number } | null> {
    let conn: Connection;
    try {
      conn = await Connection.connect({ host: this.endpoint!.host, port: this.endpoint!.port, clientId: 'tern-bench-probe', connectTimeoutMs: 2000, requestTimeoutMs: 30_000 });
    } catch {
      return null;
    }
    try {
      const res = await conn.request(ApiKey.Metadata, { topics: null, allowAutoTopicCreation: false, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false });
      let partitionsWithLeader = 0;
      for (const t of res.topics) for (const p of t.partitions) if (p.errorCode === 0 && p.leaderId >= 0) partitionsWithLeader++;
      return { topics: res.topics.length, partitionsWithLeader };
    } catch {
      return null;
    } finally {
      conn.close();
    }
  }

  /** The partition -> shard table the broker persisted (src/shard/assignment.ts's file format). */
  owners(): Record<string, number> {
    const doc = JSON.parse(fs.readFileSync(path.join(this.dataDir, 'shards.json'), 'utf8')) as { owners: Record<string, number> };
    return doc.owners;
  }

  info(): TargetInfo {
    return {
      id: `tern-smp${this.smp}`,
      label: `Tern --smp ${this.smp} (Node ${process.version})`,
      durability: 'acks=all: the batch and its index are fdatasynced before the acknowledgement (group commit per shard)',
    };
  }

  cpuSeconds(): number | null {
    return this.server?.cpuSeconds() ?? null;
  }

  /** SIGTERM and wait for the exit (SIGKILL after proc.ts's grace period). */
  async stop(): Promise<void> {
    await this.server?.stop();
    this.server = null;
  }

  /** SIGKILL: the unclean stop (no drain, no sync, no clean-shutdown marker). */
  async kill(): Promise<void> {
    const p = this.server?.proc;
    this.server = null;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    p.kill('SIGKILL');
    await exited;
  }
}
