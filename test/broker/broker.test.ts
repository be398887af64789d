/**
 * The broker's lifecycle: configuration checks, restart on the same data (topics, ids, configs, data, offsets),
 * start-up reconciliation of the topic table with the partition directories, and graceful shutdown (in-flight
 * long polls answered, pipelined answers delivered, then the connection closed).
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Kafka, logLevel, ConfigResourceTypes } from 'kafkajs';
import { ConfigError, defaultShards, resolveConfig } from '../../src/broker/index.js';
import { logConfigOf } from '../../src/broker/broker.js';
import { ApiKey, type DescribeConfigsResponse, type FetchResponse, type MetadataResponse } from '../../src/protocol/messages/index.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import {
  WireClient,
  closesWithin,
  createTopic,
  fetchBody,
  fetchPartition,
  listOffset,
  metadata,
  produceValues,
  testBroker,
  valuesOf,
  FETCH_V,
} from '../kafka/helpers.js';

describe('resolveConfig', () => {
  it('fills defaults', () => {
    const c = resolveConfig({});
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 9092 });
    expect(c.advertise).toEqual({ host: '127.0.0.1', port: 9092 });
    expect(c.autoCreateTopics).toBe(true);
    expect(c.requestBytesMax).toBe(100 * 1024 * 1024);
    expect(c.smp).toBe(defaultShards());
    expect(resolveConfig({ smp: 3 }).smp).toBe(3);
  });

  it('runs one shard per core less one by default, at least one', () => {
    expect([1, 2, 3, 16].map((cores) => defaultShards(cores))).toEqual([1, 1, 2, 15]);
  });

  it('advertises 127.0.0.1 for a wildcard listen address', () => {
    expect(resolveConfig({ listen: '0.0.0.0:9000' }).advertise).toEqual({ host: '127.0.0.1', port: 9000 });
    expect(resolveConfig({ listen: '0.0.0.0:9000', advertise: 'kafka.example:19092' }).advertise).toEqual({ host: 'kafka.example', port: 19092 });
  });

  it('rejects bad values with a ConfigError before anything starts', () => {
    const bad = [
      { listen: 'nope' },
      { listen: '127.0.0.1:70000' },
      { nodeId: -1 },
      { logLevel: 'loud' },
      { requestBytesMax: 0 },
      { requestBytesMax: 2 * 1024 * 1024 * 1024 },
      { connectionIdleMs: 1.5 },
      { connectionsMax: -3 },
      { defaultPartitions: 0 },
    ];
    for (const o of bad) expect(() => resolveConfig(o), JSON.stringify(o)).toThrow(ConfigError);
  });
});

describe('broker-wide topic defaults', () => {
  it('become the topic config defaults they stand for, checked as those are', () => {
    expect(resolveConfig({ logRetentionMs: 3_600_000, messageMaxBytes: 2000 }).logDefaults).toEqual({ 'retention.ms': '3600000', 'max.message.bytes': '2000' });
    expect(resolveConfig({}).logDefaults).toEqual({});
    expect(() => resolveConfig({ logSegmentBytes: 10 })).toThrow(ConfigError);
    const c = logConfigOf({ 'retention.ms': '1000' }, { 'retention.ms': '3600000', 'max.message.bytes': '2000' });
    expect(c.retentionMs).toBe(1000); // the topic's own value wins
    expect(c.maxMessageBytes).toBe(2000);
  });
});

describe('stored topic configs', () => {
  it('a value this version cannot read stays at its default; the readable ones apply (the partition still opens)', () => {
    const c = logConfigOf({ 'retention.ms': '1000', 'message.timestamp.difference.max.ms': '99999999999999999999', 'some.other': 'x' });
    expect(c.retentionMs).toBe(1000);
    expect(c.messageTimestampDifferenceMaxMs).toBe(Infinity);
    expect(logConfigOf({ 'message.timestamp.difference.max.ms': '60000' }).messageTimestampDifferenceMaxMs).toBe(60000);
  });
});

describe('restart', () => {
  it('keeps topics, ids, configs and data; offsets continue where they were', async () => {
    const tb = await testBroker({ autoCreateTopics: false });
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'durable', 2, { 'retention.ms': '86400000', 'max.message.bytes': '50000' });
    await createTopic(c, 'other');
    await produceValues(c, 'durable', 0, ['a', 'b']);
    await produceValues(c, 'durable', 1, ['x']);
    await produceValues(c, 'durable', 0, ['c']);
    const before = await metadata(c, 12, null);

    const tb2 = await tb.restart();
    const c2 = await WireClient.connect(tb2.port);
    const after = await metadata(c2, 12, null);
    expect(after.clusterId).toBe(before.clusterId);
    const shape = (m: MetadataResponse) => m.topics.map((t) => [t.name, t.topicId, t.partitions.length]).sort();
    expect(shape(after)).toEqual(shape(before));

    const cfg = await c2.request<DescribeConfigsResponse>(ApiKey.DescribeConfigs, 1, {
      resources: [{ resourceType: 2, resourceName: 'durable', configurationKeys: ['retention.ms', 'max.message.bytes'] }],
    });
    expect(Object.fromEntries(cfg.results[0]!.configs.map((e) => [e.name, e.value]))).toEqual({ 'retention.ms': '86400000', 'max.message.bytes': '50000' });

    expect(valuesOf((await fetchPartition(c2, 'durable', 0, 0)).records)).toEqual(['a', 'b', 'c']);
    expect(valuesOf((await fetchPartition(c2, 'durable', 1, 0)).records)).toEqual(['x']);
    expect(await produceValues(c2, 'durable', 0, ['d'])).toBe(3);
    expect((await listOffset(c2, 'durable', 0, -1)).offset).toBe(4);
  });

  it('keeps what kafkajs produced with acks=-1 and the configs it altered', async () => {
    const tb = await testBroker({ autoCreateTopics: false });
    const kafka = new Kafka({ clientId: 'tern-restart', brokers: [`127.0.0.1:${tb.port}`], logLevel: logLevel.NOTHING, retry: { retries: 1 } });
    const admin = kafka.admin();
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await admin.connect();
    await producer.connect();
    await admin.createTopics({ topics: [{ topic: 'kjs', numPartitions: 1 }] });
    await producer.send({ topic: 'kjs', acks: -1, messages: [{ key: 'k1', value: 'v1' }, { key: 'k2', value: 'v2' }] });
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: 'kjs', configEntries: [{ name: 'segment.ms', value: '3600000' }] }] });
    await producer.disconnect();
    await admin.disconnect();

    const tb2 = await tb.restart();
    const c = await WireClient.connect(tb2.port);
    expect(valuesOf((await fetchPartition(c, 'kjs', 0, 0)).records)).toEqual(['v1', 'v2']);
    const cfg = await c.request<DescribeConfigsResponse>(ApiKey.DescribeConfigs, 1, { resources: [{ resourceType: 2, resourceName: 'kjs', configurationKeys: ['segment.ms'] }] });
    expect(cfg.results[0]!.configs[0]!.value).toBe('3600000');
  });

  it('reconciles the table with the partition directories: a missing one is created, an orphan removed', async () => {
    const tb = await testBroker({ autoCreateTopics: false });
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'keep', 2);
    await produceValues(c, 'keep', 0, ['safe']);
    await tb.close();
    rmSync(path.join(tb.dataDir, 'keep-1'), { recursive: true, force: true });
    mkdirSync(path.join(tb.dataDir, 'orphan-0'));
    const tb2 = await tb.restart();
    expect(existsSync(path.join(tb.dataDir, 'keep-1'))).toBe(true);
    expect(existsSync(path.join(tb.dataDir, 'orphan-0'))).toBe(false);
    const c2 = await WireClient.connect(tb2.port);
    expect(await produceValues(c2, 'keep', 1, ['new'])).toBe(0);
    expect(valuesOf((await fetchPartition(c2, 'keep', 0, 0)).records)).toEqual(['safe']);
    expect((await metadata(c2, 1, null)).topics.map((t) => t.name)).toEqual(['keep']);
  });
});

describe('deleting and re-creating a topic', () => {
  it('refuses a re-creation while the old partitions are being removed, and the topic works once it is re-created', async () => {
    const tb = await testBroker({ autoCreateTopics: false });
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'again', 2);
    await produceValues(c, 'again', 0, ['old']);
    const deleting = tb.broker.deleteTopic('again');
    await expect(tb.broker.createTopic('again', 2, {})).rejects.toThrow(/marked for deletion|already exists/);
    await deleting;
    const t = await tb.broker.createTopic('again', 2, {});
    expect(t.partitions).toBe(2);
    for (let p = 0; p < 2; p++) expect(tb.broker.partitionLog('again', p)?.logEndOffset).toBe(0);
    expect(await produceValues(c, 'again', 1, ['new'])).toBe(0);
    expect(valuesOf((await fetchPartition(c, 'again', 1, 0)).records)).toEqual(['new']);
  });
});

describe('topic names colliding on . vs _', () => {
  it('a name colliding with a topic still being created is refused (INVALID_TOPIC_EXCEPTION), not created beside it', async () => {
    const tb = await testBroker({ autoCreateTopics: false });
    const creating = tb.broker.createTopic('in.flight', 3, {});
    await expect(tb.broker.createTopic('in_flight', 1, {})).rejects.toMatchObject({ code: 'INVALID_TOPIC_EXCEPTION', message: "Topic 'in_flight' collides with existing topic: in.flight" });
    await creating;
    await expect(tb.broker.createTopic('in_flight', 1, {})).rejects.toMatchObject({ code: 'INVALID_TOPIC_EXCEPTION' });
    expect(tb.broker.topics.list().map((t) => t.name)).toEqual(['in.flight']);
  });
});

describe('a partition whose storage fails at start-up', () => {
  it('goes offline alone: KAFKA_STORAGE_ERROR for it, the broker and other partitions keep serving', async () => {
    const tb = await testBroker({ autoCreateTopics: false });
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'disk', 2);
    await produceValues(c, 'disk', 0, ['p0']);
    await produceValues(c, 'disk', 1, ['p1']);
    await tb.close();
    // Make partition 1 unopenable: its first segment file becomes a directory (EISDIR on open/read).
    const seg = path.join(tb.dataDir, 'disk-1', '00000000000000000000.log');
    expect(existsSync(seg)).toBe(true);
    rmSync(seg);
    mkdirSync(seg);
    const tb2 = await tb.restart();
    const c2 = await WireClient.connect(tb2.port);
    expect(valuesOf((await fetchPartition(c2, 'disk', 0, 0)).records)).toEqual(['p0']);
    expect(await produceValues(c2, 'disk', 0, ['more'])).toBe(1);
    expect((await fetchPartition(c2, 'disk', 1, 0)).errorCode).toBe(ErrorCode.KAFKA_STORAGE_ERROR);
    expect((await listOffset(c2, 'disk', 1, -1)).errorCode).toBe(ErrorCode.KAFKA_STORAGE_ERROR);
    const md = await metadata(c2, 12, [{ name: 'disk' }]);
    expect(md.topics[0]!.partitions).toHaveLength(2);
    // The offline partition's directory is kept (its data may be recoverable), not reconciled away.
    expect(existsSync(path.join(tb.dataDir, 'disk-1'))).toBe(true);
    // A shutdown with a partition offline is not clean: the next start must recover (scan) again.
    await tb2.close();
    expect(existsSync(path.join(tb.dataDir, '.tern_cleanshutdown'))).toBe(false);
  });
});

describe('graceful close', () => {
  it('answers an in-flight long-poll Fetch (and what is pipelined behind it) before closing', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'poll');
    await produceValues(c, 'poll', 0, ['one']);
    const t0 = Date.now();
    const fetch = c.send<FetchResponse>(ApiKey.Fetch, FETCH_V, fetchBody('poll', 0, 1, { maxWaitMs: 30_000 }));
    const meta = c.send<MetadataResponse>(ApiKey.Metadata, 1, { topics: [] });
    await new Promise((r) => setTimeout(r, 200));
    const closing = tb.close();
    const res = await fetch.response;
    expect(res.errorCode).toBe(0);
    expect(res.responses[0]!.partitions[0]!.errorCode).toBe(0);
    expect(res.responses[0]!.partitions[0]!.highWatermark).toBe(1);
    expect((await meta.response).brokers).toHaveLength(1);
    expect(await closesWithin(c, 5000)).toBe(true);
    await closing;
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(c.arrivals.map((a) => a.correlationId).slice(-2)).toEqual([fetch.correlationId, meta.correlationId]);
  });

  it('closes promptly with idle clients connected, and refuses new connections afterwards', async () => {
    const tb = await testBroker();
    const idle = await WireClient.connect(tb.port);
    await metadata(idle, 1, []);
    const t0 = Date.now();
    await tb.close();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(await closesWithin(idle, 1000)).toBe(true);
    const refused = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: tb.port });
      s.once('connect', () => {
        s.destroy();
        resolve(false);
      });
      s.once('error', () => resolve(true));
    });
    expect(refused).toBe(true);
  });

  it('makes acknowledged writes durable, and closes promptly even with requests it has not read yet', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'flush');
    const writes = Array.from({ length: 20 }, (_, i) => produceValues(c, 'flush', 0, [`w${i}`]).catch(() => -1));
    const t0 = Date.now();
    const closing = tb.close();
    const offsets = await Promise.all(writes);
    await closing;
    // Requests still unread when the close began are dropped (the client sees the connection close and
    // retries); they must not hold the close until the shutdown grace period (10 s) runs out.
    expect(Date.now() - t0).toBeLessThan(3000);
    const acked = offsets.filter((o) => o >= 0).length;
    const tb2 = await tb.restart();
    const c2 = await WireClient.connect(tb2.port);
    const hw = (await listOffset(c2, 'flush', 0, -1)).offset;
    expect(hw).toBeGreaterThanOrEqual(acked);
    expect(valuesOf((await fetchPartition(c2, 'flush', 0, 0)).records).slice(0, acked)).toEqual(offsets.filter((o) => o >= 0).map((o) => `w${o}`));
    expect((await fetchPartition(c2, 'flush', 0, hw + 1)).errorCode).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
  });
});
