// Connection against a scripted endpoint: negotiation (and the KIP-511 fallback), pipelining, split and
// oversized frames, timeouts, closes, and responses that answer nothing.
import { afterEach, describe, expect, it } from 'vitest';
import { Writer } from '../../src/protocol/codec.js';
import { ApiKey, writeApiVersionsResponse } from '../../src/protocol/messages/index.js';
import { Connection, ConnectionError, KafkaError, type ConnectionErrorCode } from '../../src/client/index.js';
import { defaultApiVersions, fakeBroker, type FakeBroker, type FakeReply, type FakeRequest } from './fake-broker.js';

let broker: FakeBroker | null = null;
let conn: Connection | null = null;

afterEach(async () => {
  conn?.close();
  conn = null;
  await broker?.close();
  broker = null;
});

const METADATA_BODY = { brokers: [{ nodeId: 0, host: '127.0.0.1', port: 1 }], clusterId: 'c', controllerId: 0, topics: [] };

async function open(handle: (req: FakeRequest) => FakeReply | undefined, opts: { chunkBytes?: number; requestTimeoutMs?: number; frameBytesMax?: number; inFlightRequestsMax?: number } = {}): Promise<Connection> {
  broker = await fakeBroker(handle, opts.chunkBytes === undefined ? {} : { chunkBytes: opts.chunkBytes });
  conn = await Connection.connect({
    host: '127.0.0.1',
    port: broker.port,
    clientId: 'test',
    ...(opts.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: opts.requestTimeoutMs }),
    ...(opts.frameBytesMax === undefined ? {} : { frameBytesMax: opts.frameBytesMax }),
    ...(opts.inFlightRequestsMax === undefined ? {} : { inFlightRequestsMax: opts.inFlightRequestsMax }),
  });
  return conn;
}

async function connectionError(p: Promise<unknown>): Promise<ConnectionErrorCode> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConnectionError);
  return (err as ConnectionError).code;
}

describe('negotiation', () => {
  it('sends ApiVersions v3 and takes the highest common version per API', async () => {
    const c = await open((req) =>
      req.apiKey === ApiKey.ApiVersions
        ? { body: { errorCode: 0, apiKeys: [{ apiKey: 3, minVersion: 0, maxVersion: 8 }, { apiKey: 1, minVersion: 4, maxVersion: 17 }, { apiKey: 0, minVersion: 0, maxVersion: 2 }, { apiKey: 999, minVersion: 0, maxVersion: 5 }] } }
        : undefined,
    );
    expect(broker!.requests[0]!.apiVersion).toBe(3);
    expect(broker!.requests[0]!.clientId).toBe('test');
    expect(c.versionOf(ApiKey.Metadata)).toBe(8); // ours go to 12
    expect(c.versionOf(ApiKey.Fetch)).toBe(12); // capped by ours
    expect(c.versionOf(ApiKey.Produce)).toBeUndefined(); // 0..2 does not meet our 3..11
    expect(c.versionOf(ApiKey.ListOffsets)).toBeUndefined(); // not listed
    expect(() => c.requireVersion(ApiKey.Produce)).toThrow(KafkaError);
  });

  it('falls back when the broker answers UNSUPPORTED_VERSION in v0 form (KIP-511)', async () => {
    await open((req) => {
      if (req.apiKey !== ApiKey.ApiVersions) return undefined;
      if (req.apiVersion >= 3) {
        // v0 body regardless of the request version: error 35 + the ApiVersions range supported
        const w = new Writer(64);
        w.int32(0);
        w.int32(req.correlationId);
        writeApiVersionsResponse(w, 0, { errorCode: 35, apiKeys: [{ apiKey: 18, minVersion: 0, maxVersion: 2 }] });
        const b = w.finish();
        b.writeInt32BE(b.length - 4, 0);
        return { raw: b };
      }
      return { body: defaultApiVersions() };
    });
    expect(broker!.requests.map((r) => r.apiVersion)).toEqual([3, 2]);
    expect(conn!.versionOf(ApiKey.Metadata)).toBe(12);
  });

  it('fails to connect with ERR_TERN_CONNECT when nothing listens', async () => {
    const b = await fakeBroker(() => undefined);
    const port = b.port;
    await b.close();
    expect(await connectionError(Connection.connect({ host: '127.0.0.1', port }))).toBe('ERR_TERN_CONNECT');
  });

  it('fails to connect when ApiVersions never comes back', async () => {
    broker = await fakeBroker(() => 'ignore');
    expect(await connectionError(Connection.connect({ host: '127.0.0.1', port: broker.port, connectTimeoutMs: 200 }))).toBe('ERR_TERN_CONNECT');
  });
});

describe('requests', () => {
  it('pipelines requests and matches responses by correlation id, even out of order', async () => {
    const held: FakeRequest[] = [];
    let release: (() => void) | null = null;
    const c = await open((req) => {
      if (req.apiKey !== ApiKey.Metadata) return undefined;
      held.push(req);
      if (held.length === 3) release?.();
      return 'ignore';
    });
    const all = Promise.all([1, 2, 3].map((i) => c.request(ApiKey.Metadata, { topics: [{ name: `t${i}` }] })));
    await new Promise<void>((r) => (held.length === 3 ? r() : (release = r)));
    expect(c.inFlight).toBe(3);
    // answer in reverse order, each naming the topic its request asked for
    for (const req of [...held].reverse()) {
      const name = (req.body as { topics: { name: string }[] }).topics[0]!.name;
      broker!.reply(req, { ...METADATA_BODY, topics: [{ name, partitions: [] }] });
    }
    const res = await all;
    expect(res.map((r) => r.topics[0]!.name)).toEqual(['t1', 't2', 't3']);
  });

  it('reassembles frames split into 1-byte chunks', async () => {
    const c = await open((req) => (req.apiKey === ApiKey.Metadata ? { body: METADATA_BODY } : undefined), { chunkBytes: 1 });
    const r = await c.request(ApiKey.Metadata, { topics: null });
    expect(r.clusterId).toBe('c');
    expect(r.brokers[0]!.host).toBe('127.0.0.1');
  });

  it('waits for a slot beyond inFlightRequestsMax', async () => {
    const pending: FakeRequest[] = [];
    const c = await open((req) => {
      if (req.apiKey === ApiKey.Metadata) pending.push(req);
      return req.apiKey === ApiKey.Metadata ? 'ignore' : undefined;
    }, { inFlightRequestsMax: 2 });
    const ps = [1, 2, 3].map(() => c.request(ApiKey.Metadata, { topics: [] }));
    await until(() => pending.length === 2);
    await new Promise((r) => setTimeout(r, 50));
    expect(pending.length).toBe(2); // the third waits
    broker!.reply(pending[0]!, METADATA_BODY);
    await until(() => pending.length === 3);
    for (const req of pending.slice(1)) broker!.reply(req, METADATA_BODY);
    expect((await Promise.all(ps)).length).toBe(3);
  });

  it('times out, closes the connection, and fails the other pending requests', async () => {
    const c = await open((req) => (req.apiKey === ApiKey.Metadata ? 'ignore' : undefined), { requestTimeoutMs: 100 });
    const first = c.request(ApiKey.Metadata, { topics: [] });
    const second = c.request(ApiKey.Metadata, { topics: [] }, { brokerWaitMs: 10_000 });
    expect(await connectionError(first)).toBe('ERR_TERN_REQUEST_TIMEOUT');
    expect(await connectionError(second)).toBe('ERR_TERN_CONNECTION_CLOSED');
    expect(c.closed).toBe(true);
    expect(await connectionError(c.request(ApiKey.Metadata, { topics: [] }))).toBe('ERR_TERN_REQUEST_TIMEOUT');
  });

  it('brokerWaitMs extends the timeout (long polls)', async () => {
    let answer: (() => void) | null = null;
    const c = await open((req) => {
      if (req.apiKey !== ApiKey.Metadata) return undefined;
      answer = () => broker!.reply(req, METADATA_BODY);
      return 'ignore';
    }, { requestTimeoutMs: 100 });
    const p = c.request(ApiKey.Metadata, { topics: [] }, { brokerWaitMs: 1000 });
    await new Promise((r) => setTimeout(r, 300));
    answer!();
    expect((await p).clusterId).toBe('c');
  });

  it('rejects pending requests when the broker closes the connection', async () => {
    const c = await open((req) => (req.apiKey === ApiKey.Metadata ? 'close' : undefined));
    expect(await connectionError(c.request(ApiKey.Metadata, { topics: [] }))).toBe('ERR_TERN_CONNECTION_CLOSED');
    let closedWith: Error | null | undefined;
    c.onClose((e) => (closedWith = e));
    expect(closedWith).toBeInstanceOf(ConnectionError);
  });

  it('closes on a frame over frameBytesMax, before reading it', async () => {
    const c = await open(
      (req) => {
        if (req.apiKey !== ApiKey.Metadata) return undefined;
        const b = Buffer.alloc(8);
        b.writeInt32BE(64 * 1024 * 1024, 0); // claims 64 MiB, sends 4 bytes
        b.writeInt32BE(req.correlationId, 4);
        return { raw: b };
      },
      { frameBytesMax: 1024 * 1024 },
    );
    expect(await connectionError(c.request(ApiKey.Metadata, { topics: [] }))).toBe('ERR_TERN_FRAME_TOO_LARGE');
  });

  it('closes on a response that answers no request', async () => {
    const c = await open((req) => {
      if (req.apiKey !== ApiKey.Metadata) return undefined;
      const b = Buffer.alloc(8);
      b.writeInt32BE(4, 0);
      b.writeInt32BE(req.correlationId + 1000, 4);
      return { raw: b };
    });
    expect(await connectionError(c.request(ApiKey.Metadata, { topics: [] }))).toBe('ERR_TERN_PROTOCOL');
  });

  it('closes on a response that does not decode', async () => {
    const c = await open((req) => {
      if (req.apiKey !== ApiKey.Metadata) return undefined;
      const b = Buffer.alloc(10);
      b.writeInt32BE(6, 0);
      b.writeInt32BE(req.correlationId, 4); // then 2 bytes: far too short for a Metadata body
      return { raw: b };
    });
    expect(await connectionError(c.request(ApiKey.Metadata, { topics: [] }))).toBe('ERR_TERN_PROTOCOL');
    expect(c.closed).toBe(true);
  });

  it('send() writes a request that gets no response (acks=0)', async () => {
    const c = await open(() => undefined);
    await c.send(ApiKey.Produce, { acks: 0, timeoutMs: 1000, topicData: [{ name: 't', partitionData: [{ index: 0, records: Buffer.alloc(0) }] }] });
    await until(() => broker!.requests.some((r) => r.apiKey === ApiKey.Produce));
    expect(c.inFlight).toBe(0);
  });

  it('close() is idempotent and fails later requests', async () => {
    const c = await open(() => undefined);
    c.close();
    c.close();
    expect(await connectionError(c.request(ApiKey.Metadata, { topics: [] }))).toBe('ERR_TERN_CONNECTION_CLOSED');
  });
});

async function until(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
