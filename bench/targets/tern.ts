/**
 * Tern as a benchmark target: the broker started as users start it (`node bin/tern.js start`), one process,
 * data dir on the benchmark's disk; load through src/client's Connection (pipelined requests) with batches
 * encoded by kafka-records.ts. Consumers Fetch their assigned partitions directly (static assignment, no
 * group coordinator: the figures are about the data path).
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '../../src/client/index.js';
import { ApiKey } from '../../src/protocol/messages/index.js';
import { payloadTemplate, nowUs } from '../payload.js';
import type { ConsumerRecorder, PublishRequest, Publisher } from '../producer.js';
import { freePort, HOST, ServerProcess } from '../proc.js';
import type { PartitionRef, Workload } from '../workload.js';
import { encodeBatch, walkStamps } from './kafka-records.js';
import { topicName, type Endpoint, type Subscriber, type TargetClient, type TargetInfo, type TargetServer } from './types.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const PRODUCE_TIMEOUT_MS = 30_000;
const FETCH_MAX_WAIT_MS = 500;
const FETCH_BYTES_MAX = 32 * 1024 * 1024;
/** Kafka's default max.partition.fetch.bytes. */
const FETCH_PARTITION_BYTES_MAX = 1024 * 1024;

function gitRevision(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

export class TernServer implements TargetServer {
  readonly id = 'tern';
  private server: ServerProcess | null = null;
  private endpoint: Endpoint | null = null;

  async ensureInstalled(): Promise<void> {
    // Built with the project (npm install / npm run build): nothing to install.
  }

  async start(dir: string): Promise<Endpoint> {
    const port = await freePort();
    // TERN_BENCH_SERVER_ARGS: extra `tern start` flags (space-separated) for A/B runs, e.g. "--smp 2".
    const extra = (process.env.TERN_BENCH_SERVER_ARGS ?? '').split(' ').filter((a) => a !== '');
    this.server = new ServerProcess('tern', process.execPath, [path.join(ROOT, 'bin/tern.js'), 'start', '--listen', `${HOST}:${port}`, '--data-dir', path.join(dir, 'tern-data'), '--log-level', 'warn', ...extra]);
    await this.server.waitForPort(port);
    this.endpoint = { host: HOST, port };
    return this.endpoint;
  }

  async prepare(w: Workload): Promise<void> {
    const conn = await Connection.connect({ host: HOST, port: this.endpoint!.port, clientId: 'tern-bench-admin' });
    try {
      const res = await conn.request(
        ApiKey.CreateTopics,
        { topics: Array.from({ length: w.topics }, (_, t) => ({ name: topicName(t), numPartitions: w.partitionsPerTopic, replicationFactor: 1, assignments: [], configs: [] })), timeoutMs: 60_000, validateOnly: false },
        { brokerWaitMs: 60_000 },
      );
      for (const t of res.topics) if (t.errorCode !== 0) throw new Error(`create topic ${t.name}: error ${t.errorCode} ${t.errorMessage ?? ''}`);
    } finally {
      conn.close();
    }
  }

  info(): TargetInfo {
    return {
      id: this.id,
      label: `Tern ${gitRevision()} (Node ${process.version})`,
      durability: 'acks=all: the batch and its index are fdatasynced before the acknowledgement (group commit)',
    };
  }

  cpuSeconds(): number | null {
    return this.server?.cpuSeconds() ?? null;
  }

  async stop(): Promise<void> {
    await this.server?.stop();
    this.server = null;
  }
}

class TernPublisher implements Publisher {
  private readonly template: Buffer;
  private readonly acks: number;

  constructor(
    private readonly conn: Connection,
    w: Workload,
    seed: number,
  ) {
    this.template = payloadTemplate(w.messageBytes, w.payloadRandomRatio, seed);
    this.acks = w.acks === 'all' ? -1 : Number(w.acks);
  }

  async publish(req: PublishRequest): Promise<void> {
    const now = Date.now();
    const byTopic = new Map<number, { index: number; records: Buffer }[]>();
    for (const b of req.batches) {
      const list = byTopic.get(b.topic) ?? [];
      list.push({ index: b.partition, records: encodeBatch(this.template, b.keys, b.stampsUs, now) });
      byTopic.set(b.topic, list);
    }
    const body = { transactionalId: null, acks: this.acks, timeoutMs: PRODUCE_TIMEOUT_MS, topicData: [...byTopic].map(([t, partitionData]) => ({ name: topicName(t), partitionData })) };
    if (this.acks === 0) {
      await this.conn.send(ApiKey.Produce, body);
      return;
    }
    const res = await this.conn.request(ApiKey.Produce, body, { brokerWaitMs: PRODUCE_TIMEOUT_MS });
    for (const t of res.responses) {
      for (const p of t.partitionResponses) if (p.errorCode !== 0) throw new Error(`produce ${t.name}/${p.index}: error ${p.errorCode}`);
    }
  }

  async close(): Promise<void> {
    this.conn.close();
  }
}

class TernSubscriber implements Subscriber {
  failure: string | null = null;
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(
    private readonly conn: Connection,
    assignment: readonly PartitionRef[],
    recorder: ConsumerRecorder,
  ) {
    this.loop = this.run(assignment, recorder).catch((err: unknown) => {
      this.failure ??= (err as Error).message;
    });
  }

  private async run(assignment: readonly PartitionRef[], recorder: ConsumerRecorder): Promise<void> {
    const offsets = new Map<string, number>(assignment.map((a) => [`${topicName(a.topic)}/${a.partition}`, 0]));
    const byTopic = new Map<string, number[]>();
    for (const a of assignment) byTopic.set(topicName(a.topic), [...(byTopic.get(topicName(a.topic)) ?? []), a.partition]);
    while (!this.stopped) {
      let res;
      try {
        res = await this.conn.request(
          ApiKey.Fetch,
          {
            replicaId: -1,
            maxWaitMs: FETCH_MAX_WAIT_MS,
            minBytes: 1,
            maxBytes: FETCH_BYTES_MAX,
            isolationLevel: 0,
            sessionId: 0,
            sessionEpoch: -1,
            topics: [...byTopic].map(([topic, ps]) => ({
              topic,
              partitions: ps.map((partition) => ({ partition, currentLeaderEpoch: -1, fetchOffset: offsets.get(`${topic}/${partition}`)!, lastFetchedEpoch: -1, logStartOffset: -1, partitionMaxBytes: FETCH_PARTITION_BYTES_MAX })),
            })),
            forgottenTopicsData: [],
            rackId: '',
          },
          { brokerWaitMs: FETCH_MAX_WAIT_MS },
        );
      } catch (err) {
        if (this.stopped) return;
        throw err;
      }
      const now = nowUs();
      let n = 0;
      for (const t of res.responses) {
        for (const pd of t.partitions) {
          if (pd.errorCode !== 0) throw new Error(`fetch ${t.topic}/${pd.partitionIndex}: error ${pd.errorCode}`);
          const rec = pd.records;
          if (rec === null) continue;
          const buf = Buffer.isBuffer(rec) ? rec : Buffer.concat([...rec]);
          const key = `${t.topic}/${pd.partitionIndex}`;
          const r = walkStamps(buf, offsets.get(key)!, (stampUs, bytes) => recorder.received(stampUs, now, bytes));
          offsets.set(key, r.nextOffset);
          n += r.records;
        }
      }
      recorder.receivedBatch(n, now);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.conn.close();
    await this.loop;
  }
}

export const ternClient: TargetClient = {
  async publisher(endpoint: Endpoint, w: Workload, producerIndex: number): Promise<Publisher> {
    const conn = await Connection.connect({ host: endpoint.host, port: endpoint.port, clientId: `tern-bench-p${producerIndex}`, inFlightRequestsMax: w.inFlightPerProducer });
    return new TernPublisher(conn, w, 1000 + producerIndex);
  },
  async subscriber(endpoint: Endpoint, _w: Workload, assignment: readonly PartitionRef[], recorder: ConsumerRecorder): Promise<Subscriber> {
    const conn = await Connection.connect({ host: endpoint.host, port: endpoint.port, clientId: 'tern-bench-c' });
    return new TernSubscriber(conn, assignment, recorder);
  },
};
