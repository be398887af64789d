/**
 * Fixtures for the Kafka-layer tests: an in-process broker on a free loopback port with a temporary data
 * directory, and a raw wire client that speaks through a real socket with our generated codecs.
 *
 * The wire client deliberately does not use src/protocol/frame-parser.ts (the thing under test): it has its own
 * few-line framing. It records every response frame in arrival order, so tests can check ordering, and keeps
 * frames whose correlation id nobody waits for in `unexpected` (acks=0 must produce none).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { onTestFinished } from 'vitest';
import { Broker, resolveConfig, startBroker, type BrokerConfig, type BrokerOptions } from '../../src/broker/index.js';
import { decodeResponse, encodeRequest } from '../../src/protocol/frame.js';
import { ApiKey } from '../../src/protocol/messages/index.js';
import type {
  FetchResponse,
  MetadataResponse,
  ProduceResponse,
  ListOffsetsResponse,
  CreateTopicsResponse,
} from '../../src/protocol/messages/index.js';
import { batchPayload, buildRecordBatch, iterateRecords, readBatchHeader, type RecordInput } from '../../src/protocol/records.js';

export const silent = pino({ level: 'silent' });

/** Registers cleanup after the current test; outside a test (beforeAll) the caller cleans up itself. */
function afterThisTest(fn: () => unknown): void {
  try {
    onTestFinished(async () => void (await fn()));
  } catch {
    // not inside a test
  }
}

export function tempDataDir(prefix = 'tern-kafka-test-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  afterThisTest(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface TestBroker {
  broker: Broker;
  port: number;
  dataDir: string;
  /** Closes the broker (idempotent). */
  close(): Promise<void>;
  /** Closes and starts a new broker on the same data dir (new port). */
  restart(opts?: BrokerOptions): Promise<TestBroker>;
}

/**
 * Starts an in-process broker; closed after the test. `overrides` set BrokerConfig limits that BrokerOptions
 * does not expose (responseQueueBytesMax...), through Broker.start directly.
 */
export async function testBroker(opts: BrokerOptions = {}, overrides: Partial<BrokerConfig> = {}, dataDir?: string): Promise<TestBroker> {
  const dir = dataDir ?? tempDataDir();
  const full: BrokerOptions = { listen: '127.0.0.1:0', dataDir: dir, logLevel: 'silent', ...opts };
  const broker = Object.keys(overrides).length === 0 ? await startBroker(full, silent) : await Broker.start({ ...resolveConfig(full), ...overrides }, silent);
  let closing: Promise<void> | null = null;
  const tb: TestBroker = {
    broker,
    port: broker.listenAddress.port,
    dataDir: dir,
    close: () => (closing ??= broker.close()),
    async restart(o?: BrokerOptions) {
      await tb.close();
      return testBroker(o ?? opts, overrides, dir);
    },
  };
  afterThisTest(() => tb.close());
  return tb;
}

interface Waiter {
  apiKey: number;
  version: number;
  resolve(body: unknown): void;
  reject(err: Error): void;
}

export interface Arrival {
  correlationId: number;
  atMs: number;
  frame: Buffer;
}

/** A Kafka client at the byte level: one socket, our codecs, responses matched by correlation id. */
export class WireClient {
  readonly arrivals: Arrival[] = [];
  readonly unexpected: Buffer[] = [];
  readonly closed: Promise<void>;
  isClosed = false;
  private readonly waiters = new Map<number, Waiter>();
  private buf: Buffer = Buffer.alloc(0);
  private nextCorrelationId = 1;
  private frameListeners: ((f: Buffer) => void)[] = [];

  private constructor(readonly socket: net.Socket) {
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.isClosed = true;
        for (const w of this.waiters.values()) w.reject(new Error('connection closed'));
        this.waiters.clear();
        resolve();
      });
    });
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  static connect(port: number): Promise<WireClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.off('error', reject);
        const c = new WireClient(s);
        afterThisTest(() => c.destroy());
        resolve(c);
      });
      s.once('error', reject);
    });
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 4) {
      const size = this.buf.readInt32BE(0);
      if (this.buf.length < 4 + size) return;
      const frame = Buffer.from(this.buf.subarray(4, 4 + size));
      this.buf = this.buf.subarray(4 + size);
      const correlationId = frame.readInt32BE(0);
      this.arrivals.push({ correlationId, atMs: Date.now(), frame });
      for (const l of this.frameListeners) l(frame);
      const w = this.waiters.get(correlationId);
      if (!w) {
        this.unexpected.push(frame);
        continue;
      }
      this.waiters.delete(correlationId);
      try {
        w.resolve(decodeResponse(w.apiKey, w.version, frame).body);
      } catch (err) {
        w.reject(err as Error);
      }
    }
  }

  /** Encodes a request frame without sending it. */
  encode(apiKey: number, version: number, body: unknown, correlationId = this.nextCorrelationId++): Buffer {
    return Buffer.concat(encodeRequest(apiKey, version, correlationId, 'tern-test', body));
  }

  /** Sends a request and resolves with the decoded response body. */
  request<T = any>(apiKey: number, version: number, body: unknown): Promise<T> {
    return this.send<T>(apiKey, version, body).response;
  }

  /** Sends a request; `response` resolves with its decoded body. */
  send<T = any>(apiKey: number, version: number, body: unknown): { correlationId: number; response: Promise<T> } {
    const correlationId = this.nextCorrelationId++;
    const response = new Promise<T>((resolve, reject) => {
      this.waiters.set(correlationId, { apiKey, version, resolve: resolve as (b: unknown) => void, reject });
    });
    response.catch(() => undefined); // observed by the caller; avoid unhandled rejections on close
    this.socket.write(this.encode(apiKey, version, body, correlationId));
    return { correlationId, response };
  }

  /** Sends a request that gets no response (Produce acks=0): no waiter is registered. */
  sendNoResponse(apiKey: number, version: number, body: unknown): number {
    const correlationId = this.nextCorrelationId++;
    this.socket.write(this.encode(apiKey, version, body, correlationId));
    return correlationId;
  }

  /** Resolves with the next raw response frame (without its size prefix). */
  nextFrame(): Promise<Buffer> {
    return new Promise((resolve) => {
      const l = (f: Buffer): void => {
        this.frameListeners = this.frameListeners.filter((x) => x !== l);
        resolve(f);
      };
      this.frameListeners.push(l);
    });
  }

  writeRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Resolves true when the socket closes within `ms`, false otherwise. */
export async function closesWithin(c: WireClient, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([c.closed.then(() => true), new Promise<boolean>((res) => (timer = setTimeout(() => res(false), ms)))]);
  clearTimeout(timer);
  return r;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Connections to a sharded broker (ShardedBroker) until every shard holds at least one: the kernel spreads them
 * over the shards' SO_REUSEPORT sockets. Throws after 60 connections.
 */
export async function connectionsOnEveryShard(b: { stats(): Promise<unknown[]> }, port: number): Promise<WireClient[]> {
  const clients: WireClient[] = [];
  for (let i = 0; i < 60; i++) {
    clients.push(await WireClient.connect(port));
    if (clients.length >= 6) {
      await sleep(20);
      const stats = (await b.stats()) as { connections: number }[];
      if (stats.every((s) => s.connections > 0)) return clients;
    }
  }
  throw new Error('60 connections did not reach every shard');
}

// --- requests used by many tests --------------------------------------------------------------------------

export async function createTopic(c: WireClient, name: string, partitions = 1, configs: Record<string, string> = {}): Promise<void> {
  const res = await c.request<CreateTopicsResponse>(ApiKey.CreateTopics, 4, {
    topics: [{ name, numPartitions: partitions, replicationFactor: 1, configs: Object.entries(configs).map(([n, value]) => ({ name: n, value })) }],
    timeoutMs: 5000,
  });
  const t = res.topics[0]!;
  if (t.errorCode !== 0) throw new Error(`create ${name}: error ${t.errorCode} ${t.errorMessage}`);
}

export function recordsOf(values: string[], opts: { timestamp?: number; key?: string } = {}): Buffer {
  const records: RecordInput[] = values.map((v) => ({ key: opts.key ?? null, value: v, timestamp: opts.timestamp }));
  return buildRecordBatch(records);
}

export const PRODUCE_V = 7;

/** Produces one batch to one partition (acks=-1); returns the partition response. */
export async function produce(c: WireClient, topic: string, partition: number, records: Buffer, opts: { acks?: number; version?: number } = {}) {
  const res = await c.request<ProduceResponse>(ApiKey.Produce, opts.version ?? PRODUCE_V, {
    transactionalId: null,
    acks: opts.acks ?? -1,
    timeoutMs: 5000,
    topicData: [{ name: topic, partitionData: [{ index: partition, records }] }],
  });
  return res.responses[0]!.partitionResponses[0]!;
}

export async function produceValues(c: WireClient, topic: string, partition: number, values: string[], opts: { timestamp?: number } = {}): Promise<number> {
  const r = await produce(c, topic, partition, recordsOf(values, opts));
  if (r.errorCode !== 0) throw new Error(`produce to ${topic}-${partition}: error ${r.errorCode}`);
  return r.baseOffset;
}

export const FETCH_V = 11;

export function fetchBody(topic: string, partition: number, fetchOffset: number, o: { maxWaitMs?: number; minBytes?: number; maxBytes?: number; partitionMaxBytes?: number; isolationLevel?: number } = {}) {
  return {
    replicaId: -1,
    maxWaitMs: o.maxWaitMs ?? 0,
    minBytes: o.minBytes ?? 1,
    maxBytes: o.maxBytes ?? 50 * 1024 * 1024,
    isolationLevel: o.isolationLevel ?? 0,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [{ topic, partitions: [{ partition, fetchOffset, partitionMaxBytes: o.partitionMaxBytes ?? 1024 * 1024, currentLeaderEpoch: -1, logStartOffset: -1 }] }],
    forgottenTopicsData: [],
    rackId: '',
  };
}

/** One partition's Fetch answer at FETCH_V. */
export async function fetchPartition(c: WireClient, topic: string, partition: number, fetchOffset: number, o: Parameters<typeof fetchBody>[3] = {}) {
  const res = await c.request<FetchResponse>(ApiKey.Fetch, FETCH_V, fetchBody(topic, partition, fetchOffset, o));
  if (res.errorCode !== 0) throw new Error(`fetch: top-level error ${res.errorCode}`);
  return res.responses[0]!.partitions[0]!;
}

export interface DecodedRecord {
  offset: number;
  timestamp: number;
  key: string | null;
  value: string | null;
}

/** Records field (one buffer or a list) as batches: headers and decoded records. */
export function decodeBatches(records: Buffer | readonly Buffer[] | null): { baseOffset: number; size: number; records: DecodedRecord[] }[] {
  if (records === null) return [];
  const buf = Buffer.isBuffer(records) ? records : Buffer.concat(records as Buffer[]);
  const out: { baseOffset: number; size: number; records: DecodedRecord[] }[] = [];
  let pos = 0;
  while (pos + 12 <= buf.length) {
    const h = readBatchHeader(buf, pos);
    const size = 12 + h.batchLength;
    if (pos + size > buf.length) break; // a partial trailing batch (allowed by Kafka)
    const recs: DecodedRecord[] = [];
    for (const r of iterateRecords(batchPayload(buf, pos, h), h)) {
      recs.push({ offset: r.offset, timestamp: r.timestamp, key: r.key ? Buffer.from(r.key).toString() : null, value: r.value ? Buffer.from(r.value).toString() : null });
    }
    out.push({ baseOffset: h.baseOffset, size, records: recs });
    pos += size;
  }
  return out;
}

export function valuesOf(records: Buffer | readonly Buffer[] | null, fromOffset = 0): string[] {
  return decodeBatches(records)
    .flatMap((b) => b.records)
    .filter((r) => r.offset >= fromOffset)
    .map((r) => r.value ?? '');
}

/** The values of the data records of whole batches, in order; control batches (transaction markers) left out. */
export function dataValuesOf(records: readonly Buffer[]): string[] {
  const buf = Buffer.concat(records);
  const out: string[] = [];
  for (let pos = 0; pos < buf.length; ) {
    const h = readBatchHeader(buf, pos);
    if ((h.attributes & 0x20) === 0) for (const r of iterateRecords(batchPayload(buf, pos, h), h)) out.push(r.value!.toString());
    pos += 12 + h.batchLength;
  }
  return out;
}

export async function metadata(c: WireClient, version: number, topics: { name?: string | null; topicId?: string }[] | null, extra: Record<string, unknown> = {}) {
  return c.request<MetadataResponse>(ApiKey.Metadata, version, { topics, ...extra });
}

export async function listOffset(c: WireClient, topic: string, partition: number, timestamp: number, version = 7) {
  const res = await c.request<ListOffsetsResponse>(ApiKey.ListOffsets, version, {
    replicaId: -1,
    isolationLevel: 0,
    topics: [{ name: topic, partitions: [{ partitionIndex: partition, timestamp, currentLeaderEpoch: -1, maxNumOffsets: 1 }] }],
  });
  return res.topics[0]!.partitions[0]!;
}
