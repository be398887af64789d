/**
 * A small, independent Kafka wire client for e2e tests (fuzz's well-behaved client, crash checks). It speaks
 * only old, non-flexible versions that every broker must support (client-compat.md): ApiVersions v0,
 * Metadata v1, CreateTopics v0, Produce v3, Fetch v4, ListOffsets v1. Independent of src/protocol so that a
 * codec bug in the broker cannot hide itself by being shared with the checker.
 *
 * Requests are pipelined and matched by correlation id; every request has a deadline; a closed socket fails
 * all pending requests.
 */
import net from 'node:net';
import { decodeBatches, type DecodedBatch, type DecodedRecord } from './records.js';

export class W {
  private parts: Buffer[] = [];
  int8(v: number): this {
    const b = Buffer.alloc(1);
    b.writeInt8(v);
    this.parts.push(b);
    return this;
  }
  int16(v: number): this {
    const b = Buffer.alloc(2);
    b.writeInt16BE(v);
    this.parts.push(b);
    return this;
  }
  int32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32BE(v);
    this.parts.push(b);
    return this;
  }
  int64(v: number | bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(BigInt(v));
    this.parts.push(b);
    return this;
  }
  string(s: string | null): this {
    if (s === null) return this.int16(-1);
    const b = Buffer.from(s, 'utf8');
    this.int16(b.length);
    this.parts.push(b);
    return this;
  }
  bytes(b: Buffer | null): this {
    if (b === null) return this.int32(-1);
    this.int32(b.length);
    this.parts.push(b);
    return this;
  }
  array<T>(items: readonly T[], f: (w: this, item: T) => void): this {
    this.int32(items.length);
    for (const it of items) f(this, it);
    return this;
  }
  raw(b: Buffer): this {
    this.parts.push(b);
    return this;
  }
  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export class R {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new Error(`response truncated: need ${n} bytes at ${this.pos} of ${this.buf.length}`);
  }
  int8(): number {
    this.need(1);
    return this.buf.readInt8(this.pos++);
  }
  bool(): boolean {
    return this.int8() !== 0;
  }
  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  int64(): number {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return Number(v);
  }
  string(): string | null {
    const n = this.int16();
    if (n < 0) return null;
    this.need(n);
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  bytes(): Buffer | null {
    const n = this.int32();
    if (n < 0) return null;
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  array<T>(f: () => T): T[] {
    const n = this.int32();
    if (n < 0) return [];
    if (n > this.buf.length - this.pos) throw new Error(`array count ${n} exceeds the ${this.buf.length - this.pos} bytes left`);
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(f());
    return out;
  }
}

export const API = { Produce: 0, Fetch: 1, ListOffsets: 2, Metadata: 3, ApiVersions: 18, CreateTopics: 19 } as const;

interface Pending {
  resolve: (body: Buffer) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  what: string;
}

const RESPONSE_BYTES_MAX = 64 * 1024 * 1024;

export class WireClient {
  private socket!: net.Socket;
  private nextCorrelation = 1;
  private pending = new Map<number, Pending>();
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private closedErr: Error | null = null;

  private constructor(readonly port: number, readonly clientId: string) {}

  static async connect(port: number, clientId = 'tern-e2e', timeoutMs = 5_000): Promise<WireClient> {
    const c = new WireClient(port, clientId);
    await new Promise<void>((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`connect to 127.0.0.1:${port} timed out`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      s.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      c.socket = s;
    });
    c.socket.setNoDelay(true);
    c.socket.on('data', (d) => c.onData(d));
    c.socket.on('error', (e) => c.fail(new Error(`socket error: ${e.message}`)));
    c.socket.on('close', () => c.fail(new Error('connection closed by broker')));
    return c;
  }

  private fail(err: Error): void {
    if (this.closedErr) return;
    this.closedErr = err;
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Error(`${p.what}: ${err.message}`));
    }
    this.pending.clear();
  }

  private onData(d: Buffer): void {
    this.buffered.push(d);
    this.bufferedBytes += d.length;
    for (;;) {
      if (this.bufferedBytes < 4) return;
      let all = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered);
      const size = all.readInt32BE(0);
      if (size < 4 || size > RESPONSE_BYTES_MAX) {
        this.fail(new Error(`broker sent a response frame of ${size} bytes`));
        this.socket.destroy();
        return;
      }
      if (all.length < 4 + size) {
        this.buffered = [all];
        return;
      }
      const frame = all.subarray(4, 4 + size);
      all = all.subarray(4 + size);
      this.buffered = all.length > 0 ? [all] : [];
      this.bufferedBytes = all.length;
      const correlation = frame.readInt32BE(0);
      const p = this.pending.get(correlation);
      if (!p) {
        this.fail(new Error(`broker answered unknown correlation id ${correlation}`));
        this.socket.destroy();
        return;
      }
      this.pending.delete(correlation);
      clearTimeout(p.timer);
      p.resolve(frame.subarray(4)); // request header v0 response: correlation id only (non-flexible versions)
    }
  }

  /** Sends one request (header v1) and resolves with the response body (after the correlation id). */
  request(apiKey: number, version: number, body: Buffer, timeoutMs = 10_000): Promise<Buffer> {
    if (this.closedErr) return Promise.reject(this.closedErr);
    const correlation = this.nextCorrelation++;
    const header = new W().int16(apiKey).int16(version).int32(correlation).string(this.clientId).finish();
    const size = Buffer.alloc(4);
    size.writeInt32BE(header.length + body.length);
    const what = `api ${apiKey} v${version} (correlation ${correlation})`;
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(correlation);
        reject(new Error(`${what}: no response within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(correlation, { resolve, reject, timer, what });
      this.socket.write(Buffer.concat([size, header, body]));
    });
  }

  /** Sends without expecting a response (Produce acks=0). */
  send(apiKey: number, version: number, body: Buffer): void {
    const correlation = this.nextCorrelation++;
    const header = new W().int16(apiKey).int16(version).int32(correlation).string(this.clientId).finish();
    const size = Buffer.alloc(4);
    size.writeInt32BE(header.length + body.length);
    this.socket.write(Buffer.concat([size, header, body]));
  }

  close(): void {
    this.fail(new Error('closed by client'));
    this.socket.destroy();
  }

  async apiVersions(): Promise<{ errorCode: number; apis: Map<number, [number, number]> }> {
    const r = new R(await this.request(API.ApiVersions, 0, Buffer.alloc(0)));
    const errorCode = r.int16();
    const apis = new Map<number, [number, number]>();
    for (const [k, lo, hi] of r.array(() => [r.int16(), r.int16(), r.int16()] as const)) apis.set(k, [lo, hi]);
    return { errorCode, apis };
  }

  async metadata(topics: string[] | null): Promise<MetadataV1> {
    const w = new W();
    if (topics === null) w.int32(-1);
    else w.array(topics, (w, t) => w.string(t));
    const r = new R(await this.request(API.Metadata, 1, w.finish()));
    const brokers = r.array(() => ({ nodeId: r.int32(), host: r.string() ?? '', port: r.int32(), rack: r.string() }));
    const controllerId = r.int32();
    const ts = r.array(() => ({
      errorCode: r.int16(),
      name: r.string() ?? '',
      isInternal: r.bool(),
      partitions: r.array(() => ({
        errorCode: r.int16(),
        index: r.int32(),
        leader: r.int32(),
        replicas: r.array(() => r.int32()),
        isr: r.array(() => r.int32()),
      })),
    }));
    return { brokers, controllerId, topics: ts };
  }

  async createTopic(name: string, partitions: number, replicationFactor = 1): Promise<number> {
    const body = new W()
      .array([name], (w, n) => {
        w.string(n).int32(partitions).int16(replicationFactor).int32(0).int32(0);
      })
      .int32(10_000)
      .finish();
    const r = new R(await this.request(API.CreateTopics, 0, body, 15_000));
    const res = r.array(() => ({ name: r.string(), errorCode: r.int16() }));
    const mine = res.find((x) => x.name === name);
    if (!mine) throw new Error(`CreateTopics v0 response does not mention ${name}`);
    return mine.errorCode;
  }

  /** Produce v3 of one batch to one partition; returns the partition's result. */
  async produce(topic: string, partition: number, batch: Buffer, acks: number, timeoutMs = 10_000): Promise<{ errorCode: number; baseOffset: number }> {
    const body = new W()
      .string(null)
      .int16(acks)
      .int32(timeoutMs)
      .array([topic], (w, t) => {
        w.string(t).array([partition], (w, p) => w.int32(p).bytes(batch));
      })
      .finish();
    if (acks === 0) {
      this.send(API.Produce, 3, body);
      return { errorCode: 0, baseOffset: -1 };
    }
    const r = new R(await this.request(API.Produce, 3, body, timeoutMs + 5_000));
    const topics = r.array(() => ({
      name: r.string(),
      partitions: r.array(() => ({ index: r.int32(), errorCode: r.int16(), baseOffset: r.int64(), logAppendTime: r.int64() })),
    }));
    const p = topics.find((t) => t.name === topic)?.partitions.find((x) => x.index === partition);
    if (!p) throw new Error(`Produce v3 response does not mention ${topic}[${partition}]`);
    return { errorCode: p.errorCode, baseOffset: p.baseOffset };
  }

  /** Fetch v4 (read_uncommitted) of one partition from `offset`. */
  async fetch(topic: string, partition: number, offset: number, opts: { maxWaitMs?: number; maxBytes?: number } = {}): Promise<FetchResult> {
    const maxBytes = opts.maxBytes ?? 1024 * 1024;
    const body = new W()
      .int32(-1)
      .int32(opts.maxWaitMs ?? 0)
      .int32(1)
      .int32(maxBytes)
      .int8(0)
      .array([topic], (w, t) => {
        w.string(t).array([partition], (w, p) => w.int32(p).int64(offset).int32(maxBytes));
      })
      .finish();
    const r = new R(await this.request(API.Fetch, 4, body, (opts.maxWaitMs ?? 0) + 10_000));
    r.int32(); // throttle
    const topics = r.array(() => ({
      name: r.string(),
      partitions: r.array(() => ({
        index: r.int32(),
        errorCode: r.int16(),
        highWatermark: r.int64(),
        lastStableOffset: r.int64(),
        aborted: r.array(() => [r.int64(), r.int64()]),
        records: r.bytes(),
      })),
    }));
    const p = topics.find((t) => t.name === topic)?.partitions.find((x) => x.index === partition);
    if (!p) throw new Error(`Fetch v4 response does not mention ${topic}[${partition}]`);
    const batches = decodeBatches(p.records);
    const records: DecodedRecord[] = [];
    for (const b of batches) records.push(...b.records);
    return { errorCode: p.errorCode, highWatermark: p.highWatermark, lastStableOffset: p.lastStableOffset, batches, records };
  }

  /** Reads every record of a partition from `from` up to the high watermark. */
  async fetchAll(topic: string, partition: number, from = 0, deadlineMs = 30_000): Promise<DecodedRecord[]> {
    const out: DecodedRecord[] = [];
    let next = from;
    const deadline = Date.now() + deadlineMs;
    for (;;) {
      const f = await this.fetch(topic, partition, next);
      if (f.errorCode !== 0) throw new Error(`Fetch ${topic}[${partition}] at ${next}: error ${f.errorCode}`);
      for (const rec of f.records) {
        if (rec.offset >= next) {
          out.push(rec);
          next = rec.offset + 1;
        }
      }
      if (next >= f.highWatermark) return out;
      if (f.records.length === 0 || Date.now() > deadline) {
        throw new Error(`Fetch ${topic}[${partition}] stalled at offset ${next} below high watermark ${f.highWatermark}`);
      }
    }
  }

  /** ListOffsets v1: timestamp -1 = latest, -2 = earliest, else the first offset with timestamp >= ts. */
  async listOffset(topic: string, partition: number, timestamp: number): Promise<{ errorCode: number; offset: number; timestamp: number }> {
    const body = new W()
      .int32(-1)
      .array([topic], (w, t) => {
        w.string(t).array([partition], (w, p) => w.int32(p).int64(timestamp));
      })
      .finish();
    const r = new R(await this.request(API.ListOffsets, 1, body));
    const topics = r.array(() => ({
      name: r.string(),
      partitions: r.array(() => ({ index: r.int32(), errorCode: r.int16(), timestamp: r.int64(), offset: r.int64() })),
    }));
    const p = topics.find((t) => t.name === topic)?.partitions.find((x) => x.index === partition);
    if (!p) throw new Error(`ListOffsets v1 response does not mention ${topic}[${partition}]`);
    return p;
  }
}

export interface MetadataV1 {
  brokers: { nodeId: number; host: string; port: number; rack: string | null }[];
  controllerId: number;
  topics: {
    errorCode: number;
    name: string;
    isInternal: boolean;
    partitions: { errorCode: number; index: number; leader: number; replicas: number[]; isr: number[] }[];
  }[];
}

export interface FetchResult {
  errorCode: number;
  highWatermark: number;
  lastStableOffset: number;
  batches: DecodedBatch[];
  records: DecodedRecord[];
}
