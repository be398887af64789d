/**
 * Captures golden protocol bytes from REAL Kafka clients talking to a Tern broker, for test/protocol/golden.test.ts.
 *
 *   npm run capture-golden            (package.json: "tsc -p tsconfig.json && node dist/scripts/capture-golden.js")
 *   npx tsc -p tsconfig.json && node dist/scripts/capture-golden.js [--clients kcat,kafkajs,kafka-python,confluent-python]
 *       [--out test/fixtures/golden] [--broker HOST:PORT]
 *   npm run capture-golden -- --clients kcat          (one client; the others' fixtures are left as they are)
 *
 * Then `npx vitest run test/protocol/golden.test.ts`, and commit test/fixtures/golden. If a client now negotiates
 * other versions (Tern's advertised ranges changed), update REQUIRED in golden.test.ts to the new file names.
 *
 * How: starts `node bin/tern.js start --listen 127.0.0.1:<b> --advertise 127.0.0.1:<p> --data-dir <tmp>` (unless
 * --broker names one that is already running and advertises the proxy port), opens a TCP proxy (node:net) on <p>
 * in front of it, then runs each client against the proxy. Because the broker advertises the proxy, every
 * connection a client opens after bootstrap also goes through it. The proxy splits both directions into frames
 * (INT32 size + bytes), pairs responses with requests by correlation id per connection, and writes the FIRST frame
 * of each kind per client:
 *
 *   <out>/<client>/<ApiName>-v<version>-request.bin     the whole request frame, size prefix included
 *   <out>/<client>/<ApiName>-v<version>-response.bin    the whole response frame, size prefix included
 *
 * Every frame seen (not only the first of each kind) is decoded and re-encoded on the fly; a frame that fails is
 * saved under the OS temp dir and reported, and the script exits 1. A client's folder is replaced when that client
 * is captured. Topics are created before each client runs,
 * through the proxy with recording off, so fixtures hold only what the client itself sent.
 *
 * Clients (all must be installed; the script stops with a message naming the one that is missing):
 *   kcat              Debian `kcat` (librdkafka 2.0.2): metadata -L, produce -P, consume -C
 *   kafkajs           npm kafkajs 2.2.4 (devDependency): admin createTopics/fetchTopicMetadata/createPartitions/
 *                     describeConfigs/alterConfigs/deleteTopics/fetchTopicOffsets/deleteTopicRecords, producer
 *   kafka-python      /usr/bin/python3 + Debian python3-kafka 2.0.2: admin create_topics/create_partitions/
 *                     describe_configs/alter_configs/delete_topics, producer, consumer assign
 *   confluent-python  /usr/bin/python3 + Debian python3-confluent-kafka 1.7.0: admin create_topics/describe_configs/
 *                     create_partitions/alter_configs/delete_topics, producer, consumer assign
 *
 * Bytes vary between runs (timestamps, CRCs, producer ids); the golden test only needs each fixture to decode
 * completely and re-encode to the same bytes, so re-capturing is always safe.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Reader, Writer } from '../src/protocol/codec.js';
import { requestHeaderVersion, responseHeaderVersion } from '../src/protocol/frame.js';
import { API_SPECS } from '../src/protocol/messages/index.js';
import { readRequestHeader, writeRequestHeader } from '../src/protocol/messages/RequestHeader.js';
import { readResponseHeader, writeResponseHeader } from '../src/protocol/messages/ResponseHeader.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, here.includes(`${path.sep}dist${path.sep}`) ? '../..' : '..');

const ALL_CLIENTS = ['kcat', 'kafkajs', 'kafka-python', 'confluent-python'] as const;
type ClientName = (typeof ALL_CLIENTS)[number];

/** A frame larger than this is not a Kafka frame from these clients: the proxy stops recording that stream. */
const CAPTURE_FRAME_BYTES_MAX = 64 * 1024 * 1024;
const CLIENT_RUN_MS_MAX = 60_000;
const BROKER_START_MS_MAX = 30_000;

interface Options {
  clients: ClientName[];
  out: string;
  broker: string | undefined;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { clients: [...ALL_CLIENTS], out: path.join(root, 'test/fixtures/golden'), broker: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--clients') {
      o.clients = next()
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean) as ClientName[];
      for (const c of o.clients) if (!ALL_CLIENTS.includes(c)) throw new Error(`unknown client ${c}; known: ${ALL_CLIENTS.join(', ')}`);
    } else if (a === '--out') o.out = path.resolve(next());
    else if (a === '--broker') o.broker = next();
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node dist/scripts/capture-golden.js [--clients a,b] [--out DIR] [--broker HOST:PORT]\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

// ------------------------------------------------------------------------------------------------------------------
// Recording proxy

/** Splits a byte stream into size-prefixed frames; copies only when a frame spans chunks. */
class FrameSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  broken = false;

  push(chunk: Buffer, onFrame: (frame: Buffer) => void): void {
    if (this.broken) return;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    for (;;) {
      if (this.pendingBytes < 4) return;
      const head = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
      this.pending = [head];
      const size = head.readInt32BE(0);
      if (size < 0 || size > CAPTURE_FRAME_BYTES_MAX) {
        this.broken = true;
        process.stderr.write(`capture: frame size ${size} out of range; not recording this stream further\n`);
        return;
      }
      if (head.length < 4 + size) return;
      onFrame(Buffer.from(head.subarray(0, 4 + size)));
      const rest = head.subarray(4 + size);
      this.pending = rest.length ? [rest] : [];
      this.pendingBytes = rest.length;
    }
  }
}

class RecordingProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  /** Client whose frames are written now; null while setting up (nothing recorded). */
  label: string | null = null;
  private written = new Set<string>();
  readonly counts = new Map<string, number>();
  /** Frames the generated codec could not decode and re-encode exactly. */
  readonly failures: string[] = [];

  constructor(
    private readonly upstream: { host: string; port: number },
    private readonly outDir: string,
  ) {}

  async listen(port: number): Promise<number> {
    this.server = net.createServer((client) => this.onConnection(client));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, '127.0.0.1', () => resolve());
    });
    return (this.server.address() as net.AddressInfo).port;
  }

  startClient(label: string | null): void {
    this.label = label;
    this.written = new Set();
    if (label !== null) {
      const dir = path.join(this.outDir, label);
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(dir, { recursive: true });
    }
  }

  private onConnection(client: net.Socket): void {
    const broker = net.connect(this.upstream.port, this.upstream.host);
    this.sockets.add(client);
    this.sockets.add(broker);
    const label = this.label;
    const inflight = new Map<number, { key: number; version: number }>();
    const up = new FrameSplitter();
    const down = new FrameSplitter();
    client.on('data', (chunk: Buffer) => {
      up.push(chunk, (frame) => {
        if (frame.length < 12) return;
        const key = frame.readInt16BE(4);
        const version = frame.readInt16BE(6);
        const correlationId = frame.readInt32BE(8);
        inflight.set(correlationId, { key, version });
        this.record(label, key, version, 'request', frame);
      });
      broker.write(chunk);
    });
    broker.on('data', (chunk: Buffer) => {
      down.push(chunk, (frame) => {
        if (frame.length < 8) return;
        const correlationId = frame.readInt32BE(4);
        const req = inflight.get(correlationId);
        if (!req) {
          process.stderr.write(`capture: response with unknown correlation id ${correlationId}\n`);
          return;
        }
        inflight.delete(correlationId);
        this.record(label, req.key, req.version, 'response', frame);
      });
      client.write(chunk);
    });
    const close = (): void => {
      client.destroy();
      broker.destroy();
      this.sockets.delete(client);
      this.sockets.delete(broker);
    };
    client.on('close', close);
    broker.on('close', close);
    client.on('error', close);
    broker.on('error', close);
  }

  private record(label: string | null, key: number, version: number, kind: 'request' | 'response', frame: Buffer): void {
    if (label === null) return;
    const name = API_SPECS.get(key)?.name ?? `ApiKey${key}`;
    const file = `${name}-v${version}-${kind}.bin`;
    const tally = `${label}/${file}`;
    this.counts.set(tally, (this.counts.get(tally) ?? 0) + 1);
    // Every frame, not only the first of its kind, must decode completely and re-encode to the same bytes.
    const problem = checkFrame(key, version, kind, frame);
    if (problem !== null) {
      const n = this.failures.length;
      const saved = path.join(os.tmpdir(), `tern-golden-failed-${process.pid}-${n}-${label}-${file}`);
      fs.writeFileSync(saved, frame);
      this.failures.push(`${tally} (occurrence ${this.counts.get(tally)}): ${problem}; frame saved to ${saved}`);
    }
    if (this.written.has(file)) return;
    this.written.add(file);
    fs.writeFileSync(path.join(this.outDir, label, file), frame);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** Decodes a whole frame (size prefix included) and re-encodes it; null when the bytes come back identical. */
function checkFrame(key: number, version: number, kind: 'request' | 'response', frame: Buffer): string | null {
  const api = API_SPECS.get(key);
  if (!api) return `unknown API key ${key}`;
  try {
    const body = frame.subarray(4);
    const r = new Reader(body);
    const w = new Writer();
    if (kind === 'request') {
      const hv = requestHeaderVersion(key, version);
      writeRequestHeader(w, hv, readRequestHeader(r, hv));
      api.writeRequest(w, version, api.readRequest(r, version) as never);
    } else {
      const hv = responseHeaderVersion(key, version);
      writeResponseHeader(w, hv, readResponseHeader(r, hv));
      // KIP-511: an unsupported ApiVersions version is answered in v0 with UNSUPPORTED_VERSION (35).
      const v = key === 18 && r.remaining >= 2 && body.readInt16BE(r.offset) === 35 ? 0 : version;
      api.writeResponse(w, v, api.readResponse(r, v) as never);
    }
    if (r.remaining !== 0) return `${r.remaining} bytes left after decoding`;
    const again = w.finish();
    if (!again.equals(body)) return 're-encoded bytes differ';
    return null;
  } catch (e) {
    return `decode failed: ${(e as Error).message}`;
  }
}

// ------------------------------------------------------------------------------------------------------------------
// Processes

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

async function waitForPort(host: string, port: number, ms: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`broker exited with code ${child.exitCode} before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, host);
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Runs a command to completion with a time limit; fails with its output when it fails. */
async function run(cmd: string, args: string[], input?: string): Promise<string> {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  child.stdin.end(input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), CLIENT_RUN_MS_MAX);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c) => resolve(c));
  });
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${code}:\n${out}`);
  return out;
}

// ------------------------------------------------------------------------------------------------------------------
// Clients

interface KafkaJsModule {
  Kafka: new (cfg: object) => {
    admin(): {
      connect(): Promise<void>;
      disconnect(): Promise<void>;
      createTopics(o: object): Promise<boolean>;
      fetchTopicMetadata(o: object): Promise<unknown>;
      fetchTopicOffsets(topic: string): Promise<unknown>;
      createPartitions(o: object): Promise<boolean>;
      describeConfigs(o: object): Promise<unknown>;
      alterConfigs(o: object): Promise<unknown>;
      deleteTopics(o: object): Promise<void>;
      deleteTopicRecords(o: object): Promise<void>;
    };
    producer(o?: object): { connect(): Promise<void>; disconnect(): Promise<void>; send(o: object): Promise<unknown> };
  };
  logLevel: { NOTHING: number; ERROR: number };
}

async function kafkajs(): Promise<KafkaJsModule> {
  const mod = (await import('kafkajs')) as unknown as { default?: KafkaJsModule } & KafkaJsModule;
  return mod.default ?? mod;
}

/** Creates topics through the proxy while it records nothing (kafkajs admin). */
async function createTopics(bootstrap: string, topics: string[]): Promise<void> {
  const { Kafka, logLevel } = await kafkajs();
  const admin = new Kafka({ clientId: 'golden-setup', brokers: [bootstrap], logLevel: logLevel.ERROR }).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: 1, replicationFactor: 1 })), waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

const PY = '/usr/bin/python3';

const KAFKA_PYTHON = String.raw`
import sys, time
from kafka import KafkaProducer, KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic, NewPartitions, ConfigResource, ConfigResourceType
bootstrap, topic, created = sys.argv[1], sys.argv[2], sys.argv[3]
admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id='golden-kafka-python')
admin.create_topics([NewTopic(created, 1, 1)])
admin.create_partitions({created: NewPartitions(2)})
admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, created)])
admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, created, configs={'retention.ms': '3600000'})])
admin.delete_topics([created])
admin.close()
p = KafkaProducer(bootstrap_servers=bootstrap, client_id='golden-kafka-python', acks='all')
for i in range(3):
    p.send(topic, key=b'k%d' % i, value=b'kafka-python value %d' % i).get(timeout=30)
p.flush(); p.close()
c = KafkaConsumer(bootstrap_servers=bootstrap, client_id='golden-kafka-python', enable_auto_commit=False, auto_offset_reset='earliest')
tp = TopicPartition(topic, 0)
c.assign([tp]); c.seek_to_beginning(tp)
got, deadline = 0, time.time() + 30
while got < 3 and time.time() < deadline:
    for recs in c.poll(timeout_ms=500).values(): got += len(recs)
c.close()
print('consumed', got)
sys.exit(0 if got >= 3 else 1)
`;

const CONFLUENT_PYTHON = String.raw`
import sys, time
from confluent_kafka import Producer, Consumer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.admin import AdminClient, NewTopic, NewPartitions, ConfigResource
bootstrap, topic, created = sys.argv[1], sys.argv[2], sys.argv[3]
conf = {'bootstrap.servers': bootstrap, 'client.id': 'golden-confluent-python'}
a = AdminClient(conf)
for f in a.create_topics([NewTopic(created, num_partitions=1, replication_factor=1)]).values(): f.result(30)
for f in a.describe_configs([ConfigResource('topic', topic)]).values(): f.result(30)
for f in a.create_partitions([NewPartitions(created, 2)]).values(): f.result(30)
for f in a.alter_configs([ConfigResource('topic', created, set_config={'retention.ms': '3600000'})]).values(): f.result(30)
for f in a.delete_topics([created]).values(): f.result(30)
p = Producer(dict(conf, acks='all'))
for i in range(3): p.produce(topic, key=b'k%d' % i, value=b'confluent value %d' % i)
left = p.flush(30)
if left: sys.exit('produce: %d messages not delivered' % left)
c = Consumer(dict(conf, **{'group.id': 'golden-confluent-python', 'enable.auto.commit': False}))
c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
got, deadline = 0, time.time() + 30
while got < 3 and time.time() < deadline:
    m = c.poll(0.5)
    if m is not None and m.error() is None: got += 1
c.close()
print('consumed', got)
sys.exit(0 if got >= 3 else 1)
`;

async function captureClient(client: ClientName, bootstrap: string, proxy: RecordingProxy): Promise<void> {
  const topic = `golden-${client}`;
  const created = `golden-${client}-created`;
  proxy.startClient(null);
  await createTopics(bootstrap, [topic]);
  proxy.startClient(client);
  switch (client) {
    case 'kcat': {
      await run('kcat', ['-b', bootstrap, '-L']);
      await run('kcat', ['-b', bootstrap, '-P', '-t', topic, '-K:', '-X', 'acks=all'], 'k1:kcat value 1\nk2:kcat value 2\nk3:kcat value 3\n');
      await run('kcat', ['-b', bootstrap, '-C', '-t', topic, '-o', 'beginning', '-c', '3', '-e']);
      break;
    }
    case 'kafkajs': {
      const { Kafka, logLevel } = await kafkajs();
      const kafka = new Kafka({ clientId: 'golden-kafkajs', brokers: [bootstrap], logLevel: logLevel.ERROR });
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic: created, numPartitions: 2, replicationFactor: 1 }], waitForLeaders: true });
      await admin.fetchTopicMetadata({ topics: [topic, created] });
      await admin.createPartitions({ topicPartitions: [{ topic: created, count: 3 }] });
      await admin.describeConfigs({ resources: [{ type: 2, name: created }], includeSynonyms: false });
      await admin.alterConfigs({ resources: [{ type: 2, name: created, configEntries: [{ name: 'retention.ms', value: '3600000' }] }] });
      await admin.deleteTopics({ topics: [created] });
      await admin.disconnect();
      const producer = kafka.producer({ allowAutoTopicCreation: false });
      await producer.connect();
      await producer.send({ topic, acks: -1, messages: [1, 2, 3].map((i) => ({ key: `k${i}`, value: `kafkajs value ${i}`, headers: { h: 'v' } })) });
      await producer.disconnect();
      const admin2 = kafka.admin();
      await admin2.connect();
      await admin2.fetchTopicOffsets(topic);
      await admin2.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '1' }] });
      await admin2.disconnect();
      break;
    }
    case 'kafka-python':
      await run(PY, ['-c', KAFKA_PYTHON, bootstrap, topic, created]);
      break;
    case 'confluent-python':
      await run(PY, ['-c', CONFLUENT_PYTHON, bootstrap, topic, created]);
      break;
  }
  // Let the last responses reach the proxy before the next client starts.
  await new Promise((r) => setTimeout(r, 300));
  proxy.startClient(null);
}

function checkInstalled(clients: ClientName[]): void {
  const probes: Record<ClientName, [string, string[]]> = {
    kcat: ['kcat', ['-V']],
    kafkajs: [process.execPath, ['-e', "require.resolve('kafkajs')"]],
    'kafka-python': [PY, ['-c', 'import kafka']],
    'confluent-python': [PY, ['-c', 'import confluent_kafka']],
  };
  for (const c of clients) {
    const [cmd, args] = probes[c];
    const r = spawnSync(cmd, args, { cwd: root, stdio: 'ignore', timeout: 10_000 });
    if (r.status !== 0) throw new Error(`client ${c} is not installed (${cmd} ${args.join(' ')} failed)`);
  }
}

// ------------------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  checkInstalled(opts.clients);
  const proxyPort = await freePort();
  let broker: ChildProcess | undefined;
  let dataDir: string | undefined;
  let upstream: { host: string; port: number };
  if (opts.broker) {
    const [host, port] = opts.broker.split(':');
    upstream = { host: host!, port: Number(port) };
  } else {
    const brokerPort = await freePort();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tern-golden-'));
    upstream = { host: '127.0.0.1', port: brokerPort };
    const args = [path.join(root, 'bin/tern.js'), 'start', '--listen', `127.0.0.1:${brokerPort}`, '--advertise', `127.0.0.1:${proxyPort}`, '--data-dir', dataDir];
    broker = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    broker.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    try {
      await waitForPort('127.0.0.1', brokerPort, BROKER_START_MS_MAX, broker);
    } catch (e) {
      broker.kill('SIGKILL');
      throw new Error(`${(e as Error).message}\n${err}`);
    }
  }
  const proxy = new RecordingProxy(upstream, opts.out);
  await proxy.listen(proxyPort);
  const bootstrap = `127.0.0.1:${proxyPort}`;
  const failures: string[] = [];
  try {
    for (const client of opts.clients) {
      process.stdout.write(`capturing ${client} via ${bootstrap} -> ${upstream.host}:${upstream.port}\n`);
      try {
        await captureClient(client, bootstrap, proxy);
      } catch (e) {
        failures.push(`${client}: ${(e as Error).message}`);
        proxy.startClient(null);
      }
      const files = fs.existsSync(path.join(opts.out, client)) ? fs.readdirSync(path.join(opts.out, client)).sort() : [];
      process.stdout.write(`  ${files.length} fixtures: ${files.join(' ')}\n`);
    }
    failures.push(...proxy.failures);
    for (const [k, n] of [...proxy.counts].sort()) process.stdout.write(`  ${k} x${n}\n`);
  } finally {
    await proxy.close();
    if (broker) {
      broker.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 500));
      if (broker.exitCode === null) broker.kill('SIGKILL');
    }
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  }
  if (failures.length) {
    process.stderr.write(`capture-golden: ${failures.length} failure(s):\n${failures.join('\n')}\n`);
    process.exit(1);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`capture-golden: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
