/**
 * RabbitMQ streams as a peer: rabbitmq-server from Debian (Erlang node started as our child with its own
 * node name, ports, epmd and dirs under the run's data dir), one stream queue (`x-queue-type: stream`) per
 * partition (`bench-t0-3`). Published over AMQP 0.9.1 with publisher confirms: every message is one
 * basic.publish and its confirm is the acknowledgement. Consumers use basic.consume on their partitions'
 * streams from `x-stream-offset: first` with a prefetch window, acknowledging in bulk. Client: amqplib.
 *
 * Not the stream protocol (port 5552, the faster path for streams): the AMQP route is the one with a
 * well-kept Node client; the report names the path so the figures are read as RabbitMQ-via-AMQP.
 *
 * Durability: a stream confirms once the write reached the stream's segment file on the (here: one)
 * member; streams do not fsync per write and rely on replication (with one node: the OS page cache):
 * weaker than Tern acks=all.
 */
import fs from 'node:fs';
import path from 'node:path';
import amqp from 'amqplib';
import { nowUs, payloadTemplate, stampedValue } from '../payload.js';
import type { ConsumerRecorder, PublishRequest, Publisher } from '../producer.js';
import { aptInstall, freePort, HOST, run, ServerProcess, which } from '../proc.js';
import type { PartitionRef, Workload } from '../workload.js';
import { TargetUnavailable, topicName, type Endpoint, type Subscriber, type TargetClient, type TargetInfo, type TargetServer } from './types.js';

const SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';
/** Unacknowledged deliveries a consumer channel may hold (streams require a prefetch). */
const PREFETCH_MESSAGES = 2000;
/** A consumer acknowledges (multiple=true) every this many messages. */
const ACK_EVERY_MESSAGES = 500;
/** RabbitMQ needs ~6 s to boot here; a loaded machine may need more. */
const START_TIMEOUT_MS = 90_000;

function queueName(topic: number, partition: number): string {
  return `${topicName(topic)}-${partition}`;
}

function url(e: Endpoint): string {
  return `amqp://guest:guest@${e.host}:${e.port}`;
}

export class RabbitServer implements TargetServer {
  readonly id = 'rabbitmq';
  private version = 'unknown';
  private server: ServerProcess | null = null;
  private epmd: ServerProcess | null = null;
  private endpoint: Endpoint | null = null;

  async ensureInstalled(): Promise<void> {
    try {
      await aptInstall('rabbitmq-server', ['rabbitmq-server']);
    } catch (err) {
      throw new TargetUnavailable(this.id, (err as Error).message);
    }
    if (!fs.existsSync(SERVER) || (await which('epmd')) === null) throw new TargetUnavailable(this.id, `${SERVER} or epmd missing after install`);
    const v = await run('dpkg-query', ['-W', '-f=${Version}', 'rabbitmq-server']);
    this.version = v.code === 0 ? v.out.trim() : 'unknown';
  }

  async start(dir: string): Promise<Endpoint> {
    const [port, distPort, epmdPort] = [await freePort(), await freePort(), await freePort()];
    const home = path.join(dir, 'home');
    fs.mkdirSync(home, { recursive: true });
    fs.writeFileSync(path.join(dir, 'enabled_plugins'), '[].\n');
    fs.writeFileSync(path.join(dir, 'rabbitmq.conf'), 'loopback_users = none\n');
    // Our own epmd in the foreground, so nothing outlives the run (rabbitmq would start a daemon one).
    this.epmd = new ServerProcess('epmd', 'epmd', ['-port', String(epmdPort), '-address', HOST]);
    await this.epmd.waitForPort(epmdPort);
    const env = {
      ...process.env,
      HOME: home,
      ERL_EPMD_PORT: String(epmdPort),
      RABBITMQ_NODENAME: `tern-bench-${port}@localhost`,
      RABBITMQ_NODE_IP_ADDRESS: HOST,
      RABBITMQ_NODE_PORT: String(port),
      RABBITMQ_DIST_PORT: String(distPort),
      RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
      RABBITMQ_LOG_BASE: path.join(dir, 'log'),
      RABBITMQ_LOGS: '-',
      RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
      RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq'),
      RABBITMQ_PID_FILE: path.join(dir, 'rabbitmq.pid'),
    };
    this.server = new ServerProcess(this.id, SERVER, [], env);
    await this.server.waitForPort(port, START_TIMEOUT_MS);
    this.endpoint = { host: HOST, port };
    return this.endpoint;
  }

  async prepare(w: Workload): Promise<void> {
    const conn = await amqp.connect(url(this.endpoint!));
    try {
      const ch = await conn.createChannel();
      for (let t = 0; t < w.topics; t++) {
        for (let p = 0; p < w.partitionsPerTopic; p++) await ch.assertQueue(queueName(t, p), { durable: true, arguments: { 'x-queue-type': 'stream' } });
      }
      await ch.close();
    } finally {
      await conn.close();
    }
  }

  info(): TargetInfo {
    return {
      id: this.id,
      label: `RabbitMQ ${this.version} streams (AMQP 0.9.1, publisher confirms)`,
      durability: 'stream queue, confirm after the write reached the segment file (OS page cache): no fsync per write, durability comes from replication (1 node here): weaker than Tern acks=all',
    };
  }

  cpuSeconds(): number | null {
    // The Erlang VM is a child of the start script: add the children's time the script has not reaped yet.
    const pid = this.server?.proc.pid;
    if (pid === undefined) return null;
    try {
      let total = 0;
      for (const child of [pid, ...childPids(pid)]) total += procCpuSeconds(child);
      return total;
    } catch {
      return null;
    }
  }

  async stop(): Promise<void> {
    await this.server?.stop();
    await this.epmd?.stop();
    this.server = null;
    this.epmd = null;
  }
}

function childPids(pid: number): number[] {
  try {
    const direct = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((s) => s !== '').map(Number);
    return direct.flatMap((c) => [c, ...childPids(c)]);
  } catch {
    return [];
  }
}

function procCpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

class RabbitPublisher implements Publisher {
  private readonly template: Buffer;

  constructor(
    private readonly conn: amqp.ChannelModel,
    private readonly ch: amqp.ConfirmChannel,
    w: Workload,
    seed: number,
  ) {
    this.template = payloadTemplate(w.messageBytes, w.payloadRandomRatio, seed);
  }

  publish(req: PublishRequest): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let remaining = req.messages;
      let failed = false;
      const done = (err: unknown): void => {
        if (failed) return;
        if (err !== null && err !== undefined) {
          failed = true;
          reject(err instanceof Error ? err : new Error(String(err)));
        } else if (--remaining === 0) resolve();
      };
      for (const b of req.batches) {
        const q = queueName(b.topic, b.partition);
        for (let i = 0; i < b.stampsUs.length; i++) {
          const key = b.keys[i];
          this.ch.publish('', q, stampedValue(this.template, b.stampsUs[i]!), key ? { persistent: true, headers: { key: key.toString() } } : { persistent: true }, done);
        }
      }
    });
  }

  async close(): Promise<void> {
    await this.conn.close().catch(() => undefined);
  }
}

class RabbitSubscriber implements Subscriber {
  failure: string | null = null;

  constructor(private readonly conn: amqp.ChannelModel) {}

  async start(assignment: readonly PartitionRef[], recorder: ConsumerRecorder): Promise<void> {
    const ch = await this.conn.createChannel();
    ch.on('error', (err: Error) => (this.failure ??= err.message));
    await ch.prefetch(PREFETCH_MESSAGES);
    for (const a of assignment) {
      let unacked = 0;
      await ch.consume(
        queueName(a.topic, a.partition),
        (m) => {
          if (m === null) return;
          const now = nowUs();
          recorder.received(m.content.readDoubleBE(0), now, m.content.length);
          recorder.receivedBatch(1, now);
          if (++unacked >= ACK_EVERY_MESSAGES) {
            ch.ack(m, true);
            unacked = 0;
          }
        },
        { noAck: false, arguments: { 'x-stream-offset': 'first' } },
      );
    }
  }

  async stop(): Promise<void> {
    await this.conn.close().catch(() => undefined);
  }
}

export const rabbitClient: TargetClient = {
  async publisher(endpoint: Endpoint, w: Workload, producerIndex: number): Promise<Publisher> {
    const conn = await amqp.connect(url(endpoint));
    return new RabbitPublisher(conn, await conn.createConfirmChannel(), w, 1000 + producerIndex);
  },
  async subscriber(endpoint: Endpoint, _w: Workload, assignment: readonly PartitionRef[], recorder: ConsumerRecorder): Promise<Subscriber> {
    const s = new RabbitSubscriber(await amqp.connect(url(endpoint)));
    await s.start(assignment, recorder);
    return s;
  },
};
