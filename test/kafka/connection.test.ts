/**
 * Connection behaviour through real sockets: framing limits, bad requests, KIP-511, response ordering with
 * pipelining, acks=0, back-pressure on a client that does not read, idle timeout and the connection limit.
 */
import { describe, expect, it } from 'vitest';
import { ApiKey, type ApiVersionsResponse, type FetchResponse, type MetadataResponse } from '../../src/protocol/messages/index.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import {
  WireClient,
  closesWithin,
  createTopic,
  fetchBody,
  fetchPartition,
  produceValues,
  recordsOf,
  sleep,
  testBroker,
  valuesOf,
  FETCH_V,
  PRODUCE_V,
} from './helpers.js';

function sizePrefix(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n, 0);
  return b;
}

/** A whole request frame whose version field is replaced (to send versions our codecs cannot encode). */
function withVersion(frame: Buffer, version: number): Buffer {
  const out = Buffer.from(frame);
  out.writeInt16BE(version, 4 + 2);
  return out;
}

async function metadataWorks(c: WireClient): Promise<void> {
  const res = await c.request<MetadataResponse>(ApiKey.Metadata, 1, { topics: [] });
  expect(res.brokers).toHaveLength(1);
}

describe('framing limits', () => {
  it('bounds the partial frames of all connections together (partialFrameBytesMax): the connection crossing it is closed', async () => {
    const tb = await testBroker({ requestBytesMax: 10_000 }, { partialFrameBytesMax: 1000 });
    const a = await WireClient.connect(tb.port);
    const b = await WireClient.connect(tb.port);
    a.writeRaw(Buffer.concat([sizePrefix(5000), Buffer.alloc(600)])); // 600 held: within the budget
    await sleep(100);
    b.writeRaw(Buffer.concat([sizePrefix(5000), Buffer.alloc(600)])); // 1200 held: over it
    expect(await closesWithin(b, 2000)).toBe(true);
    expect(await closesWithin(a, 300)).toBe(false);
    await metadataWorks(await WireClient.connect(tb.port));
    // b's bytes were released: another slow sender fits again
    const c = await WireClient.connect(tb.port);
    c.writeRaw(Buffer.concat([sizePrefix(5000), Buffer.alloc(300)]));
    expect(await closesWithin(c, 300)).toBe(false);
  });

  it('releases the partial-frame budget of connections closed in the middle of a chunk', async () => {
    const tb = await testBroker({ requestBytesMax: 10_000 }, { partialFrameBytesMax: 1000 });
    // one chunk: a request for an API that is not served (closes the connection) then the start of a big frame
    const unknown = Buffer.from([0, 99, 0, 0, 0, 0, 0, 1, 0xff, 0xff]);
    for (let i = 0; i < 5; i++) {
      const c = await WireClient.connect(tb.port);
      c.writeRaw(Buffer.concat([sizePrefix(unknown.length), unknown, sizePrefix(5000), Buffer.alloc(600)]));
      expect(await closesWithin(c, 2000)).toBe(true);
    }
    const slow = await WireClient.connect(tb.port);
    slow.writeRaw(Buffer.concat([sizePrefix(5000), Buffer.alloc(600)]));
    expect(await closesWithin(slow, 300)).toBe(false);
  });

  it('closes the connection (and stays up) on a compact string longer than INT16 max, which could not be echoed back', async () => {
    const tb = await testBroker();
    const name = Buffer.alloc(40_000, 0x61);
    const uvarint = (n: number): Buffer => {
      const out: number[] = [];
      while (n >= 0x80) {
        out.push((n & 0x7f) | 0x80);
        n >>>= 7;
      }
      out.push(n);
      return Buffer.from(out);
    };
    // Metadata v9 (flexible), request header v2: key, version, correlation id, null client id, no tags
    const header = Buffer.from([0, 3, 0, 9, 0, 0, 0, 7, 0xff, 0xff, 0]);
    const body = Buffer.concat([uvarint(2), uvarint(name.length + 1), name, Buffer.from([0]), Buffer.from([1, 0, 0, 0])]);
    const c = await WireClient.connect(tb.port);
    c.writeRaw(Buffer.concat([sizePrefix(header.length + body.length), header, body]));
    expect(await closesWithin(c, 2000)).toBe(true);
    await metadataWorks(await WireClient.connect(tb.port));
  });

  it('closes a connection whose frame exceeds requestBytesMax, while another connection keeps working', async () => {
    const tb = await testBroker({ requestBytesMax: 1024 });
    const bad = await WireClient.connect(tb.port);
    const good = await WireClient.connect(tb.port);
    await metadataWorks(good);
    bad.writeRaw(Buffer.concat([sizePrefix(2048), Buffer.alloc(100)]));
    expect(await closesWithin(bad, 2000)).toBe(true);
    expect(bad.arrivals).toHaveLength(0);
    await metadataWorks(good);
    // A frame just under the limit is served.
    const padded = await good.request<MetadataResponse>(ApiKey.Metadata, 1, { topics: [{ name: 'x'.repeat(200) }] });
    expect(padded.topics).toHaveLength(1);
  });

  it('refuses an oversize size prefix at once, without waiting for (or allocating) the body', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    c.writeRaw(sizePrefix(0x7fffffff)); // 2 GiB announced, nothing follows
    expect(await closesWithin(c, 2000)).toBe(true);
  });

  it('closes on a negative size prefix', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    c.writeRaw(sizePrefix(-5));
    expect(await closesWithin(c, 2000)).toBe(true);
  });

  it('closes on a zero-length frame (too short for a request header) without answering', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    c.writeRaw(sizePrefix(0));
    expect(await closesWithin(c, 2000)).toBe(true);
    expect(c.arrivals).toHaveLength(0);
  });

  it('serves a request whose frame arrives one byte at a time', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    const frame = c.encode(ApiKey.Metadata, 1, { topics: [] }, 77);
    for (const b of frame) {
      c.writeRaw(Buffer.from([b]));
      await new Promise((r) => setImmediate(r));
    }
    const f = await c.nextFrame();
    expect(f.readInt32BE(0)).toBe(77);
  });

  it('serves many requests sent in one write, in order', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    const frames = Array.from({ length: 50 }, (_, i) => c.encode(ApiKey.Metadata, 1, { topics: [] }, 1000 + i));
    c.writeRaw(Buffer.concat(frames));
    while (c.arrivals.length < 50) await sleep(10);
    expect(c.arrivals.map((a) => a.correlationId)).toEqual(frames.map((_, i) => 1000 + i));
  });
});

describe('bad requests close the connection', () => {
  it('closes on an API key Tern does not serve (unknown key and a known but unserved key)', async () => {
    const tb = await testBroker();
    for (const key of [9999, ApiKey.JoinGroup, ApiKey.InitProducerId]) {
      const c = await WireClient.connect(tb.port);
      const frame = c.encode(ApiKey.Metadata, 1, { topics: [] });
      frame.writeInt16BE(key, 4);
      c.writeRaw(frame);
      expect(await closesWithin(c, 2000), `key ${key}`).toBe(true);
      expect(c.arrivals).toHaveLength(0);
    }
  });

  it('closes on a version outside the served range of a known API', async () => {
    const tb = await testBroker();
    const cases: [number, number, unknown, number][] = [
      [ApiKey.Produce, 11, { acks: 1, timeoutMs: 1000, topicData: [] }, 12], // above max
      [ApiKey.Fetch, FETCH_V, fetchBody('t', 0, 0), 3], // below min (4)
      [ApiKey.Metadata, 12, { topics: [] }, 13], // above max
    ];
    for (const [key, v, body, bad] of cases) {
      const c = await WireClient.connect(tb.port);
      c.writeRaw(withVersion(c.encode(key, v, body), bad));
      expect(await closesWithin(c, 2000), `key ${key} v${bad}`).toBe(true);
      expect(c.arrivals).toHaveLength(0);
    }
  });

  it('closes on a truncated request body', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    const frame = c.encode(ApiKey.Metadata, 1, { topics: [{ name: 'abcdef' }] });
    const cut = frame.subarray(0, frame.length - 3);
    cut.writeInt32BE(cut.length - 4, 0);
    c.writeRaw(cut);
    expect(await closesWithin(c, 2000)).toBe(true);
    expect(c.arrivals).toHaveLength(0);
  });
});

describe('ApiVersions (KIP-511)', () => {
  for (const version of [5, 127]) {
    it(`answers ApiVersions v${version} in v0 format with UNSUPPORTED_VERSION and ApiVersions' own range`, async () => {
      const tb = await testBroker();
      const c = await WireClient.connect(tb.port);
      c.writeRaw(withVersion(c.encode(ApiKey.ApiVersions, 3, { clientSoftwareName: 'x', clientSoftwareVersion: '1' }, 42), version));
      const f = await c.nextFrame();
      // v0 header (correlation id only) + v0 body: error INT16, ApiKeys INT32 count + (key, min, max) INT16s.
      expect(f.length).toBe(4 + 2 + 4 + 6);
      expect(f.readInt32BE(0)).toBe(42);
      expect(f.readInt16BE(4)).toBe(ErrorCode.UNSUPPORTED_VERSION);
      expect(f.readInt32BE(6)).toBe(1);
      expect(f.readInt16BE(10)).toBe(ApiKey.ApiVersions);
      expect(f.readInt16BE(12)).toBe(0);
      expect(f.readInt16BE(14)).toBeGreaterThanOrEqual(3);
      // The connection stays usable: the client falls back to a version we serve.
      const res = await c.request<ApiVersionsResponse>(ApiKey.ApiVersions, 0, {});
      expect(res.errorCode).toBe(0);
      expect(c.isClosed).toBe(false);
    });
  }

  it('answers ApiVersions v3 (flexible body) with a v0 response header: no tagged-field byte', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    c.writeRaw(c.encode(ApiKey.ApiVersions, 3, { clientSoftwareName: 'tern-test', clientSoftwareVersion: '0.1' }, 7));
    const f = await c.nextFrame();
    expect(f.readInt32BE(0)).toBe(7);
    // Right after the correlation id comes the body's ErrorCode (0), then the compact array length (n + 1).
    expect(f.readInt16BE(4)).toBe(0);
    const n = f[6]! - 1;
    expect(n).toBeGreaterThan(5);
    // The first entry follows at once: the lowest key Tern serves is Produce (0).
    expect(f.readInt16BE(7)).toBe(ApiKey.Produce);
  });
});

describe('ordering and pipelining', () => {
  it('answers a Metadata pipelined behind a long-polling Fetch only after the Fetch', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'pipe');
    const t0 = Date.now();
    const fetch = c.send<FetchResponse>(ApiKey.Fetch, FETCH_V, fetchBody('pipe', 0, 0, { maxWaitMs: 600 }));
    const meta = c.send<MetadataResponse>(ApiKey.Metadata, 1, { topics: [] });
    await Promise.all([fetch.response, meta.response]);
    const order = c.arrivals.map((a) => a.correlationId).filter((id) => id === fetch.correlationId || id === meta.correlationId);
    expect(order).toEqual([fetch.correlationId, meta.correlationId]);
    const metaAt = c.arrivals.find((a) => a.correlationId === meta.correlationId)!.atMs;
    expect(metaAt - t0).toBeGreaterThanOrEqual(550);
  });

  it('sends no response to acks=0 Produce; the next request is answered and the data is readable', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'acks0');
    c.sendNoResponse(ApiKey.Produce, PRODUCE_V, {
      transactionalId: null,
      acks: 0,
      timeoutMs: 1000,
      topicData: [{ name: 'acks0', partitionData: [{ index: 0, records: recordsOf(['fire', 'and', 'forget']) }] }],
    });
    const before = c.arrivals.length;
    const meta = c.send<MetadataResponse>(ApiKey.Metadata, 1, { topics: [{ name: 'acks0' }] });
    await meta.response;
    expect(c.arrivals.slice(before).map((a) => a.correlationId)).toEqual([meta.correlationId]);
    // The write was made (durable before being served): wait for it to become readable.
    let values: string[] = [];
    for (let i = 0; i < 50 && values.length < 3; i++) {
      values = valuesOf((await fetchPartition(c, 'acks0', 0, 0, { maxWaitMs: 100 })).records);
    }
    expect(values).toEqual(['fire', 'and', 'forget']);
    await sleep(50);
    expect(c.unexpected).toHaveLength(0);
  });

  it('closes the connection after earlier responses when an acks=0 Produce fails (the client must learn of it)', async () => {
    const tb = await testBroker({ autoCreateTopics: false });
    const c = await WireClient.connect(tb.port);
    const meta = c.send<MetadataResponse>(ApiKey.Metadata, 1, { topics: null });
    c.sendNoResponse(ApiKey.Produce, PRODUCE_V, {
      transactionalId: null,
      acks: 0,
      timeoutMs: 1000,
      topicData: [{ name: 'no-such-topic', partitionData: [{ index: 0, records: recordsOf(['lost']) }] }],
    });
    await meta.response; // sent before the failing produce: still answered
    expect(await closesWithin(c, 2000)).toBe(true);
    // other connections are unaffected
    const other = await WireClient.connect(tb.port);
    await other.send<MetadataResponse>(ApiKey.Metadata, 1, { topics: null }).response;
  });

  it('answers pipelined requests of different APIs in request order', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'mix');
    await produceValues(c, 'mix', 0, ['a']);
    const sent = [
      c.send(ApiKey.Fetch, FETCH_V, fetchBody('mix', 0, 1, { maxWaitMs: 300 })), // waits
      c.send(ApiKey.Produce, PRODUCE_V, { transactionalId: null, acks: -1, timeoutMs: 1000, topicData: [{ name: 'mix', partitionData: [{ index: 0, records: recordsOf(['b']) }] }] }),
      c.send(ApiKey.ApiVersions, 0, {}),
      c.send(ApiKey.Metadata, 1, { topics: null }),
    ];
    await Promise.all(sent.map((s) => s.response));
    expect(c.arrivals.slice(-4).map((a) => a.correlationId)).toEqual(sent.map((s) => s.correlationId));
  });
});

describe('back-pressure', () => {
  it('stops reading every connection while unanswered requests hold more than requestQueueBytesMax, and resumes', async () => {
    // Pipelined long polls are the queued requests here: lift the per-connection Fetch limit out of the way.
    const tb = await testBroker({}, { requestQueueBytesMax: 300 * 1024, fetchesInFlightPerConnectionMax: 100 });
    const admin = await WireClient.connect(tb.port);
    await createTopic(admin, 'queued');
    let served = 0;
    const original = tb.broker.partitions.read.bind(tb.broker.partitions);
    tb.broker.partitions.read = (specs, maxBytes) => {
      if (specs.some((s) => s.topic === 'queued')) served++;
      return original(specs, maxBytes);
    };
    // 20 long polls of ~30 KiB each (a padded rack id), all in one write: 600 KiB of requests nobody answers yet.
    const c = await WireClient.connect(tb.port);
    const body = { ...fetchBody('queued', 0, 0, { maxWaitMs: 20_000, minBytes: 1 }), rackId: 'r'.repeat(30 * 1024) };
    const frames = Array.from({ length: 20 }, (_, i) => c.encode(ApiKey.Fetch, FETCH_V, body, 5000 + i));
    const answered: number[] = [];
    c.socket.on('data', () => undefined);
    const before = c.arrivals.length;
    c.writeRaw(Buffer.concat(frames));
    let last = -1;
    for (let i = 0; i < 30 && served !== last; i++) {
      last = served;
      await sleep(200);
    }
    // ~300 KiB of them were taken in (the one that crossed the budget included), not all 600 KiB.
    expect(served).toBeGreaterThanOrEqual(9);
    expect(served).toBeLessThanOrEqual(12);
    // A record arrives: the polls answer, the budget frees, the rest are read and answered too.
    await produceValues(admin, 'queued', 0, ['wake']);
    for (let i = 0; i < 100 && c.arrivals.length - before < 20; i++) await sleep(50);
    for (const a of c.arrivals.slice(before)) answered.push(a.correlationId);
    expect(answered.sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => 5000 + i));
  });

  it('stops reading from a client that never reads its responses, and keeps serving others', async () => {
    const tb = await testBroker({}, { responseQueueBytesMax: 256 * 1024, inflightRequestsPerConnectionMax: 16 });
    const admin = await WireClient.connect(tb.port);
    await createTopic(admin, 'big');
    await produceValues(admin, 'big', 0, ['v'.repeat(60 * 1024)]);

    // Count the Fetch handler's partition reads: one per Fetch served.
    let served = 0;
    const original = tb.broker.partitions.read.bind(tb.broker.partitions);
    tb.broker.partitions.read = (specs, maxBytes) => {
      if (specs.some((s) => s.topic === 'big')) served++;
      return original(specs, maxBytes);
    };

    const greedy = await WireClient.connect(tb.port);
    greedy.socket.pause(); // never reads
    // 2000 pipelined Fetches in one write (~190 KB: the broker reads hundreds per chunk), each answered with
    // ~60 KiB: ~120 MiB if the broker buffered every answer.
    const requests = 2000;
    const frames = Array.from({ length: requests }, (_, i) => greedy.encode(ApiKey.Fetch, FETCH_V, fetchBody('big', 0, 0), 10_000 + i));
    greedy.writeRaw(Buffer.concat(frames));
    // Wait until the broker has stalled (no Fetch served for 300 ms), not just slowed down.
    let servedWhilePaused = -1;
    for (let i = 0; i < 30 && served !== servedWhilePaused; i++) {
      servedWhilePaused = served;
      await sleep(300);
    }
    expect(served).toBe(servedWhilePaused);
    // Bounded by the limits (16 in flight, 256 KiB queued) plus what the kernel socket buffers hold (a few
    // MiB), checked per request: not by how many requests one read chunk happens to hold.
    expect(servedWhilePaused).toBeLessThan(300);
    expect(servedWhilePaused).toBeGreaterThan(0);

    // Another connection is served meanwhile.
    await metadataWorks(admin);
    expect(valuesOf((await fetchPartition(admin, 'big', 0, 0)).records)).toHaveLength(1);

    // Once the client reads, everything it asked for is answered, in order.
    greedy.socket.resume();
    const deadline = Date.now() + 30_000;
    while (greedy.arrivals.length < requests && Date.now() < deadline) await sleep(20);
    expect(greedy.arrivals).toHaveLength(requests);
    expect(greedy.arrivals.every((a, i) => a.correlationId === 10_000 + i)).toBe(true);
  });
});

describe('Fetches in progress per connection', () => {
  it('starts at most fetchesInFlightPerConnectionMax pipelined Fetches at once; the rest, and what follows, wait in order', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'polls');
    expect(tb.broker.config.fetchesInFlightPerConnectionMax).toBe(2);
    // Count long polls waiting at the same time (an empty partition: every Fetch waits its MaxWaitMs).
    let waiting = 0;
    let mostWaiting = 0;
    const original = tb.broker.partitions.waitForAppend.bind(tb.broker.partitions);
    tb.broker.partitions.waitForAppend = async (specs, ms, signal) => {
      mostWaiting = Math.max(mostWaiting, ++waiting);
      try {
        return await original(specs, ms, signal);
      } finally {
        waiting--;
      }
    };
    const t0 = Date.now();
    const fetches = Array.from({ length: 6 }, () => c.send<FetchResponse>(ApiKey.Fetch, FETCH_V, fetchBody('polls', 0, 0, { maxWaitMs: 150 })));
    const meta = c.send<MetadataResponse>(ApiKey.Metadata, 1, { topics: [] });
    await Promise.all([...fetches.map((f) => f.response), meta.response]);
    expect(mostWaiting).toBe(2);
    // Three rounds of two 150 ms long polls.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(3 * 140);
    const ids = [...fetches.map((f) => f.correlationId), meta.correlationId];
    expect(c.arrivals.map((a) => a.correlationId).filter((id) => ids.includes(id))).toEqual(ids);
  });
});

describe('idle and connection limits', () => {
  it('closes a connection idle longer than connectionIdleMs, not an active one', async () => {
    const tb = await testBroker({ connectionIdleMs: 300 });
    const idle = await WireClient.connect(tb.port);
    const active = await WireClient.connect(tb.port);
    const t0 = Date.now();
    const closedIdle = idle.closed.then(() => Date.now() - t0);
    for (let i = 0; i < 8; i++) {
      await metadataWorks(active);
      await sleep(100);
    }
    const ms = await closedIdle;
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(ms).toBeLessThan(1500);
    expect(active.isClosed).toBe(false);
  });

  it('does not count a request in progress (a long poll) as idle time', async () => {
    const tb = await testBroker({ connectionIdleMs: 300 });
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'idle');
    const t0 = Date.now();
    const p = await fetchPartition(c, 'idle', 0, 0, { maxWaitMs: 900 });
    expect(p.errorCode).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(850);
    expect(c.isClosed).toBe(false);
    // Idle again after the answer: closed after connectionIdleMs.
    expect(await closesWithin(c, 1500)).toBe(true);
  });

  it('closes connections above connectionsMax and accepts again once one leaves', async () => {
    const tb = await testBroker({ connectionsMax: 2 });
    const a = await WireClient.connect(tb.port);
    const b = await WireClient.connect(tb.port);
    await metadataWorks(a);
    await metadataWorks(b);
    const c = await WireClient.connect(tb.port);
    expect(await closesWithin(c, 2000)).toBe(true);
    a.destroy();
    await sleep(100);
    const d = await WireClient.connect(tb.port);
    await metadataWorks(d);
  });
});

describe('produce pipelining', () => {
  it('assigns offsets in request order across pipelined Produce requests', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'order');
    const sends = Array.from({ length: 40 }, (_, i) =>
      c.send(ApiKey.Produce, PRODUCE_V, {
        transactionalId: null,
        acks: i % 2 === 0 ? -1 : 1,
        timeoutMs: 1000,
        topicData: [{ name: 'order', partitionData: [{ index: 0, records: recordsOf([`m${i}-a`, `m${i}-b`]) }] }],
      }),
    );
    const res = await Promise.all(sends.map((s) => s.response));
    expect(res.map((r: any) => r.responses[0].partitionResponses[0].baseOffset)).toEqual(sends.map((_, i) => 2 * i));
    const got = valuesOf((await fetchPartition(c, 'order', 0, 0)).records);
    expect(got).toEqual(sends.flatMap((_, i) => [`m${i}-a`, `m${i}-b`]));
  });
});
