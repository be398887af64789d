/**
 * Redis Streams as a peer: redis-server from Debian, AOF on, one stream per partition (`bench-t0-3`), one
 * XADD per message (field `v` = the value, field `k` = the key when the workload has keys), pipelined: a
 * producer request is one pipeline of XADDs. Consumers XREAD BLOCK their partitions' streams from the
 * start, COUNT-limited. Client: ioredis.
 *
 * Durability (redis.conf `appendfsync`):
 * - always: Redis fsyncs the AOF before it sends the replies of each event-loop round (group commit), so an
 *   acknowledged XADD is on disk: the same promise as Tern's acks=all.
 * - everysec: the AOF is written before replying but fsynced once a second by a background thread: up to
 *   about a second of acknowledged writes can be lost on power failure or kernel crash (not on a process
 *   crash).
 */
import { Redis } from 'ioredis';
import { payloadTemplate, nowUs, stampedValue } from '../payload.js';
import type { ConsumerRecorder, PublishRequest, Publisher } from '../producer.js';
import { aptInstall, freePort, HOST, run, ServerProcess } from '../proc.js';
import type { PartitionRef, Workload } from '../workload.js';
import { TargetUnavailable, topicName, type Endpoint, type Subscriber, type TargetClient, type TargetInfo, type TargetServer } from './types.js';

const XREAD_COUNT_MAX = 1000;
const XREAD_BLOCK_MS = 500;

function streamKey(topic: number, partition: number): string {
  return `${topicName(topic)}-${partition}`;
}

export class RedisServer implements TargetServer {
  readonly id: string;
  private binary = 'redis-server';
  private version = 'redis';
  private server: ServerProcess | null = null;

  constructor(private readonly fsync: 'always' | 'everysec') {
    this.id = `redis-${fsync}`;
  }

  async ensureInstalled(): Promise<void> {
    try {
      this.binary = await aptInstall('redis-server', ['redis-server']);
    } catch (err) {
      throw new TargetUnavailable(this.id, (err as Error).message);
    }
    const v = await run(this.binary, ['--version']);
    this.version = /v=(\S+)/.exec(v.out)?.[1] ?? 'unknown';
  }

  async start(dir: string): Promise<Endpoint> {
    const port = await freePort();
    this.server = new ServerProcess(this.id, this.binary, [
      '--port', String(port), '--bind', HOST, '--dir', dir, '--daemonize', 'no', '--save', '', '--logfile', '',
      '--appendonly', 'yes', '--appendfsync', this.fsync,
      // Default 64 mb AOF rewrite growth would rewrite mid-run: keep the AOF a plain append log, as Tern's.
      '--auto-aof-rewrite-percentage', '0',
    ]);
    await this.server.waitForPort(port);
    return { host: HOST, port };
  }

  async prepare(): Promise<void> {
    // Streams are created by the first XADD.
  }

  info(): TargetInfo {
    return {
      id: this.id,
      label: `Redis ${this.version} Streams`,
      durability:
        this.fsync === 'always'
          ? 'appendfsync always: the AOF is fsynced before replies (group commit per event-loop round): comparable to Tern acks=all'
          : 'appendfsync everysec: the AOF is fsynced once a second: up to ~1 s of acknowledged writes lost on power failure (weaker than Tern acks=all)',
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

async function connect(endpoint: Endpoint): Promise<Redis> {
  const r = new Redis({ host: endpoint.host, port: endpoint.port, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
  await r.connect();
  return r;
}

class RedisPublisher implements Publisher {
  private readonly template: Buffer;

  constructor(
    private readonly redis: Redis,
    w: Workload,
    seed: number,
  ) {
    this.template = payloadTemplate(w.messageBytes, w.payloadRandomRatio, seed);
  }

  async publish(req: PublishRequest): Promise<void> {
    const commands: (string | Buffer)[][] = [];
    for (const b of req.batches) {
      const key = streamKey(b.topic, b.partition);
      for (let i = 0; i < b.stampsUs.length; i++) {
        const k = b.keys[i] ?? null;
        const value = stampedValue(this.template, b.stampsUs[i]!);
        commands.push(k === null ? ['xadd', key, '*', 'v', value] : ['xadd', key, '*', 'k', k, 'v', value]);
      }
    }
    const res = await this.redis.pipeline(commands).exec();
    if (res === null) throw new Error('redis pipeline aborted');
    for (const [err] of res) if (err) throw err;
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}

type XReadReply = [Buffer, [Buffer, Buffer[]][]][] | null;

class RedisSubscriber implements Subscriber {
  failure: string | null = null;
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(
    private readonly redis: Redis,
    assignment: readonly PartitionRef[],
    recorder: ConsumerRecorder,
  ) {
    this.loop = this.run(assignment, recorder).catch((err: unknown) => {
      if (!this.stopped) this.failure ??= (err as Error).message;
    });
  }

  private async run(assignment: readonly PartitionRef[], recorder: ConsumerRecorder): Promise<void> {
    const keys = assignment.map((a) => streamKey(a.topic, a.partition));
    const ids = new Map<string, string>(keys.map((k) => [k, '0']));
    while (!this.stopped) {
      const reply = (await this.redis.xreadBuffer('COUNT', XREAD_COUNT_MAX, 'BLOCK', XREAD_BLOCK_MS, 'STREAMS', ...keys, ...keys.map((k) => ids.get(k)!))) as XReadReply;
      if (reply === null) continue;
      const now = nowUs();
      let n = 0;
      for (const [keyBuf, entries] of reply) {
        for (const [, fields] of entries) {
          const v = fields[fields.length - 1]!;
          recorder.received(v.readDoubleBE(0), now, v.length);
          n++;
        }
        if (entries.length > 0) ids.set(keyBuf.toString(), entries[entries.length - 1]![0].toString());
      }
      recorder.receivedBatch(n, now);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.redis.disconnect();
    await this.loop;
  }
}

export const redisClient: TargetClient = {
  async publisher(endpoint: Endpoint, w: Workload, producerIndex: number): Promise<Publisher> {
    return new RedisPublisher(await connect(endpoint), w, 1000 + producerIndex);
  },
  async subscriber(endpoint: Endpoint, _w: Workload, assignment: readonly PartitionRef[], recorder: ConsumerRecorder): Promise<Subscriber> {
    return new RedisSubscriber(await connect(endpoint), assignment, recorder);
  },
};
