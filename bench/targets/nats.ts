/**
 * NATS JetStream as a peer: nats-server from Debian with JetStream on and file storage, one stream per topic
 * (`bench-t0`) with one subject per partition (`bench-t0.3`). Every message is one JetStream publish whose
 * PubAck is the acknowledgement; a producer request is that many publishes in flight at once. Consumers are
 * ephemeral push consumers, one per assigned partition, or one on `bench-t0.>` when a consumer owns the
 * whole topic. Keys pick the subject (murmur2, as for the Kafka targets) and are not sent.
 * Client: nats (nats.js v2).
 *
 * Publishes: see NatsPublisher.
 *
 * Durability: nats-server 2.9 has no per-write sync option (`sync_interval` came with 2.10): a PubAck means
 * the message is stored in the file store's buffers / the OS page cache, fsynced later by the server's
 * periodic sync (2 minutes by default). Acknowledged messages survive a server crash but not a power
 * failure or kernel crash: weaker than Tern acks=all.
 */
import { AckPolicy, connect, createInbox, DeliverPolicy, ReplayPolicy, StorageType, type NatsConnection, type Subscription } from 'nats';
import { payloadTemplate, nowUs, stampedValue } from '../payload.js';
import type { ConsumerRecorder, PublishRequest, Publisher } from '../producer.js';
import { aptInstall, freePort, HOST, run, ServerProcess } from '../proc.js';
import type { PartitionRef, Workload } from '../workload.js';
import { TargetUnavailable, topicName, type Endpoint, type Subscriber, type TargetClient, type TargetInfo, type TargetServer } from './types.js';

function subject(topic: number, partition: number): string {
  return `${topicName(topic)}.${partition}`;
}

export class NatsServer implements TargetServer {
  readonly id = 'nats';
  private binary = 'nats-server';
  private version = 'unknown';
  private server: ServerProcess | null = null;
  private endpoint: Endpoint | null = null;

  async ensureInstalled(): Promise<void> {
    try {
      this.binary = await aptInstall('nats-server', ['nats-server']);
    } catch (err) {
      throw new TargetUnavailable(this.id, (err as Error).message);
    }
    const v = await run(this.binary, ['--version']);
    this.version = /v(\d+\.\d+\.\d+)/.exec(v.out)?.[1] ?? 'unknown';
  }

  async start(dir: string): Promise<Endpoint> {
    const port = await freePort();
    this.server = new ServerProcess(this.id, this.binary, ['-a', HOST, '-p', String(port), '-js', '-sd', dir]);
    await this.server.waitForPort(port);
    this.endpoint = { host: HOST, port };
    return this.endpoint;
  }

  async prepare(w: Workload): Promise<void> {
    const nc = await connect({ servers: `${HOST}:${this.endpoint!.port}` });
    try {
      const jsm = await nc.jetstreamManager();
      for (let t = 0; t < w.topics; t++) await jsm.streams.add({ name: topicName(t), subjects: [`${topicName(t)}.>`], storage: StorageType.File, num_replicas: 1 });
    } finally {
      await nc.close();
    }
  }

  info(): TargetInfo {
    return {
      id: this.id,
      label: `NATS JetStream ${this.version}`,
      durability: 'file storage, PubAck after the write reaches the OS page cache; fsync on a periodic timer (2.9 has no per-write sync option): weaker than Tern acks=all',
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

/**
 * JetStream publishes as the wire has them: a core NATS publish with a reply subject, the PubAck coming back
 * on it. One inbox subscription per connection collects the PubAcks of all requests (`<inbox>.<request>`).
 * Not nats.js's `js.publish`: it builds an Error (a stack trace) per message for its async context, which
 * made the client, not the server, the bottleneck on this machine (profiled: ~150 µs of client CPU per
 * publish, the server idle).
 */
class NatsPublisher implements Publisher {
  private readonly template: Buffer;
  private readonly inbox: string;
  private nextRequest = 0;
  private readonly pending = new Map<number, { remaining: number; resolve: () => void; reject: (err: Error) => void }>();

  constructor(
    private readonly nc: NatsConnection,
    w: Workload,
    seed: number,
  ) {
    this.template = payloadTemplate(w.messageBytes, w.payloadRandomRatio, seed);
    this.inbox = createInbox();
    const prefix = this.inbox.length + 1;
    nc.subscribe(`${this.inbox}.*`, {
      callback: (err, m) => {
        const id = Number(m.subject.slice(prefix));
        const p = this.pending.get(id);
        if (p === undefined) return;
        const text = err === null ? m.string() : '';
        if (err !== null || text.includes('"error"')) {
          this.pending.delete(id);
          p.reject(new Error(err !== null ? err.message : `publish failed: ${text}`));
          return;
        }
        if (--p.remaining === 0) {
          this.pending.delete(id);
          p.resolve();
        }
      },
    });
  }

  publish(req: PublishRequest): Promise<void> {
    const id = this.nextRequest++;
    const reply = `${this.inbox}.${id}`;
    const done = new Promise<void>((resolve, reject) => this.pending.set(id, { remaining: req.messages, resolve, reject }));
    for (const b of req.batches) {
      const subj = subject(b.topic, b.partition);
      for (const s of b.stampsUs) this.nc.publish(subj, stampedValue(this.template, s), { reply });
    }
    return done;
  }

  async close(): Promise<void> {
    await this.nc.close();
    for (const p of this.pending.values()) p.reject(new Error('connection closed'));
  }
}

/**
 * A consumer: per filter subject, an ephemeral push consumer (AckNone, deliver all, server-side filter)
 * whose messages arrive on a core NATS subscription. Not nats.js's ordered-consumer iterator: it created
 * a JsMsg and an async-iterator step per message and capped consumption at ~13k msg/s here, far below the
 * server; the push consumer is what the wire offers for exactly this (a stream read from the start, no acks).
 */
class NatsSubscriber implements Subscriber {
  failure: string | null = null;
  private readonly subs: Subscription[] = [];

  constructor(private readonly nc: NatsConnection) {}

  async start(w: Workload, assignment: readonly PartitionRef[], recorder: ConsumerRecorder): Promise<void> {
    const jsm = await this.nc.jetstreamManager();
    const topics = new Map<number, number[]>();
    for (const a of assignment) topics.set(a.topic, [...(topics.get(a.topic) ?? []), a.partition]);
    for (const [t, parts] of topics) {
      const filters = parts.length === w.partitionsPerTopic ? [`${topicName(t)}.>`] : parts.map((p) => subject(t, p));
      for (const filter of filters) {
        const deliver = createInbox();
        const sub = this.nc.subscribe(deliver, {
          callback: (err, m) => {
            if (err !== null) {
              this.failure ??= err.message;
              return;
            }
            const d = m.data;
            if (d.byteLength < 8) return; // a status message (heartbeat / flow control), not data
            const now = nowUs();
            recorder.received(Buffer.from(d.buffer, d.byteOffset, d.byteLength).readDoubleBE(0), now, d.byteLength);
            recorder.receivedBatch(1, now);
          },
        });
        this.subs.push(sub);
        await jsm.consumers.add(topicName(t), { deliver_subject: deliver, ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All, filter_subject: filter, replay_policy: ReplayPolicy.Instant });
      }
    }
  }

  async stop(): Promise<void> {
    for (const s of this.subs) s.unsubscribe();
    await this.nc.close();
  }
}

export const natsClient: TargetClient = {
  async publisher(endpoint: Endpoint, w: Workload, producerIndex: number): Promise<Publisher> {
    return new NatsPublisher(await connect({ servers: `${endpoint.host}:${endpoint.port}` }), w, 1000 + producerIndex);
  },
  async subscriber(endpoint: Endpoint, w: Workload, assignment: readonly PartitionRef[], recorder: ConsumerRecorder): Promise<Subscriber> {
    const s = new NatsSubscriber(await connect({ servers: `${endpoint.host}:${endpoint.port}` }));
    await s.start(w, assignment, recorder);
    return s;
  },
};
