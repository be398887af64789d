/**
 * Admin APIs as AdminClient users meet them: CreateTopics, DeleteTopics, CreatePartitions, DescribeConfigs,
 * AlterConfigs, IncrementalAlterConfigs, DeleteRecords and DescribeCluster. Each change is checked by its effect
 * (metadata, produce, fetch), not only by the answer's error code.
 */
import { describe, expect, it } from 'vitest';
import { Kafka, logLevel, ConfigResourceTypes } from 'kafkajs';
import {
  ApiKey,
  type AlterConfigsResponse,
  type CreatePartitionsResponse,
  type CreateTopicsResponse,
  type DeleteRecordsResponse,
  type DeleteTopicsResponse,
  type DescribeClusterResponse,
  type DescribeConfigsResponse,
  type IncrementalAlterConfigsResponse,
} from '../../src/protocol/messages/index.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { ZERO_UUID } from '../../src/protocol/codec.js';
import { buildRecordBatch } from '../../src/protocol/records.js';
import { WireClient, createTopic, fetchPartition, listOffset, metadata, produce, produceValues, testBroker, valuesOf } from './helpers.js';

const TOPIC = 2;
const BROKER = 4;
const SET = 0;
const DELETE = 1;
const APPEND = 2;
const SUBTRACT = 3;
const SOURCE_DYNAMIC_TOPIC = 1;
const SOURCE_STATIC_BROKER = 4;
const SOURCE_DEFAULT = 5;

async function setup(opts = {}) {
  const tb = await testBroker(opts);
  const c = await WireClient.connect(tb.port);
  return { tb, c };
}

function createReq(topics: { name: string; numPartitions?: number; replicationFactor?: number; configs?: Record<string, string> }[], validateOnly = false) {
  return {
    topics: topics.map((t) => ({
      name: t.name,
      numPartitions: t.numPartitions ?? 1,
      replicationFactor: t.replicationFactor ?? 1,
      assignments: [],
      configs: Object.entries(t.configs ?? {}).map(([name, value]) => ({ name, value })),
    })),
    timeoutMs: 5000,
    validateOnly,
  };
}

async function describeTopicConfigs(c: WireClient, topic: string, keys: string[] | null = null, v = 4) {
  const res = await c.request<DescribeConfigsResponse>(ApiKey.DescribeConfigs, v, {
    resources: [{ resourceType: TOPIC, resourceName: topic, configurationKeys: keys }],
    includeSynonyms: true,
    includeDocumentation: true,
  });
  return res.results[0]!;
}

async function configValue(c: WireClient, topic: string, name: string): Promise<string | null> {
  const r = await describeTopicConfigs(c, topic, [name]);
  expect(r.errorCode).toBe(0);
  return r.configs[0]!.value;
}

async function incremental(c: WireClient, topic: string, ops: { name: string; op: number; value?: string | null }[], validateOnly = false) {
  const res = await c.request<IncrementalAlterConfigsResponse>(ApiKey.IncrementalAlterConfigs, 1, {
    resources: [{ resourceType: TOPIC, resourceName: topic, configs: ops.map((o) => ({ name: o.name, configOperation: o.op, value: o.value ?? null })) }],
    validateOnly,
  });
  return res.responses[0]!;
}

describe('CreateTopics', () => {
  it('creates topics usable at once; v5+ answers partitions, replication factor and effective configs; v7 the id', async () => {
    const { c } = await setup();
    const res = await c.request<CreateTopicsResponse>(ApiKey.CreateTopics, 7, createReq([{ name: 'new', numPartitions: 3, configs: { 'retention.ms': '12345' } }]));
    const t = res.topics[0]!;
    expect(t).toMatchObject({ name: 'new', errorCode: 0, numPartitions: 3, replicationFactor: 1 });
    expect(t.topicId).not.toBe(ZERO_UUID);
    const retention = t.configs!.find((x) => x.name === 'retention.ms')!;
    expect(retention).toMatchObject({ value: '12345', configSource: SOURCE_DYNAMIC_TOPIC });
    expect(t.configs!.find((x) => x.name === 'cleanup.policy')).toMatchObject({ value: 'delete', configSource: SOURCE_DEFAULT });
    const md = await metadata(c, 12, [{ name: 'new' }]);
    expect(md.topics[0]!.topicId).toBe(t.topicId);
    expect(md.topics[0]!.partitions).toHaveLength(3);
    expect((await produce(c, 'new', 2, buildRecordBatch([{ value: 'x' }]))).errorCode).toBe(0);
  });

  it('validateOnly checks and answers as if created, but creates nothing', async () => {
    const { c } = await setup();
    const ok = await c.request<CreateTopicsResponse>(ApiKey.CreateTopics, 5, createReq([{ name: 'dry', numPartitions: 4 }], true));
    expect(ok.topics[0]).toMatchObject({ errorCode: 0, numPartitions: 4 });
    const bad = await c.request<CreateTopicsResponse>(ApiKey.CreateTopics, 5, createReq([{ name: 'dry2', configs: { 'retention.ms': 'soon' } }], true));
    expect(bad.topics[0]!.errorCode).toBe(ErrorCode.INVALID_CONFIG);
    expect((await metadata(c, 1, null)).topics).toEqual([]);
  });

  it('answers TOPIC_ALREADY_EXISTS for an existing topic, INVALID_REQUEST for a name given twice', async () => {
    const { c } = await setup();
    await createTopic(c, 'dup', 2);
    const again = await c.request<CreateTopicsResponse>(ApiKey.CreateTopics, 4, createReq([{ name: 'dup', numPartitions: 5 }]));
    expect(again.topics[0]!.errorCode).toBe(ErrorCode.TOPIC_ALREADY_EXISTS);
    expect((await metadata(c, 1, [{ name: 'dup' }])).topics[0]!.partitions).toHaveLength(2);
    const twice = await c.request<CreateTopicsResponse>(ApiKey.CreateTopics, 4, createReq([{ name: 'twice' }, { name: 'twice' }]));
    expect(twice.topics.map((t) => t.errorCode)).toEqual([ErrorCode.INVALID_REQUEST, ErrorCode.INVALID_REQUEST]);
    expect(tbTopics(await metadata(c, 1, null))).toEqual(['dup']);
  });

  it('refuses a name that differs from an existing topic only by . vs _ with INVALID_TOPIC_EXCEPTION, as Kafka', async () => {
    const { c } = await setup();
    await createTopic(c, 'orders.eu');
    const res = await c.request<CreateTopicsResponse>(ApiKey.CreateTopics, 7, createReq([{ name: 'orders_eu' }, { name: 'orders.eu' }, { name: 'orders-eu' }]));
    expect(res.topics.map((t) => [t.name, t.errorCode, t.errorMessage])).toEqual([
      ['orders_eu', ErrorCode.INVALID_TOPIC_EXCEPTION, "Topic 'orders_eu' collides with existing topic: orders.eu"],
      ['orders.eu', ErrorCode.TOPIC_ALREADY_EXISTS, "Topic 'orders.eu' already exists."],
      ['orders-eu', 0, null],
    ]);
    // validateOnly answers the same
    const dry = await c.request<CreateTopicsResponse>(ApiKey.CreateTopics, 4, createReq([{ name: 'orders_eu' }], true));
    expect(dry.topics[0]!.errorCode).toBe(ErrorCode.INVALID_TOPIC_EXCEPTION);
    expect(tbTopics(await metadata(c, 1, null))).toEqual(['orders-eu', 'orders.eu']);
    // once the other topic is gone the name is free
    await c.request<DeleteTopicsResponse>(ApiKey.DeleteTopics, 1, { topicNames: ['orders.eu'], timeoutMs: 5000 });
    const after = await c.request<CreateTopicsResponse>(ApiKey.CreateTopics, 4, createReq([{ name: 'orders_eu' }]));
    expect(after.topics[0]!.errorCode).toBe(0);
  });

  it('of two colliding names created at once on two connections exactly one is created', async () => {
    const { tb, c } = await setup();
    const c2 = await WireClient.connect(tb.port);
    const [a, b] = await Promise.all([
      c.request<CreateTopicsResponse>(ApiKey.CreateTopics, 4, createReq([{ name: 'race.x', numPartitions: 4 }])),
      c2.request<CreateTopicsResponse>(ApiKey.CreateTopics, 4, createReq([{ name: 'race_x', numPartitions: 4 }])),
    ]);
    expect([a.topics[0]!.errorCode, b.topics[0]!.errorCode].sort()).toEqual([0, ErrorCode.INVALID_TOPIC_EXCEPTION]);
    expect(tbTopics(await metadata(c, 1, null))).toHaveLength(1);
  });

  it('answers INVALID_CONFIG for unknown config names and bad values', async () => {
    const { c } = await setup();
    const cases: Record<string, string>[] = [{ 'no.such.config': '1' }, { 'retention.ms': 'abc' }, { 'cleanup.policy': 'shred' }, { 'max.message.bytes': '-5' }, { 'compression.type': 'brotli' }];
    for (const configs of cases) {
      const res = await c.request<CreateTopicsResponse>(ApiKey.CreateTopics, 4, createReq([{ name: 'cfg', configs }]));
      expect(res.topics[0]!.errorCode, JSON.stringify(configs)).toBe(ErrorCode.INVALID_CONFIG);
    }
    expect((await metadata(c, 1, null)).topics).toEqual([]);
  });

  it('answers INVALID_REPLICATION_FACTOR for RF 3 (one node), INVALID_PARTITIONS for 0, INVALID_TOPIC_EXCEPTION for a bad name', async () => {
    const { c } = await setup();
    const res = await c.request<CreateTopicsResponse>(
      ApiKey.CreateTopics,
      4,
      createReq([{ name: 'rf3', replicationFactor: 3 }, { name: 'zero', numPartitions: 0 }, { name: 'bad name' }, { name: 'defaults', numPartitions: -1, replicationFactor: -1 }]),
    );
    expect(res.topics.map((t) => [t.name, t.errorCode])).toEqual([
      ['rf3', ErrorCode.INVALID_REPLICATION_FACTOR],
      ['zero', ErrorCode.INVALID_PARTITIONS],
      ['bad name', ErrorCode.INVALID_TOPIC_EXCEPTION],
      ['defaults', 0],
    ]);
    expect(tbTopics(await metadata(c, 1, null))).toEqual(['defaults']);
  });
});

describe('the broker partition limit (partitionsPerShardMax x smp)', () => {
  it('refuses CreateTopics and CreatePartitions past it with INVALID_PARTITIONS, counting the whole request', async () => {
    const { c } = await setup({ smp: 2, partitionsPerShardMax: 5 }); // 10 partitions on the broker at most
    const res = await c.request<CreateTopicsResponse>(ApiKey.CreateTopics, 4, createReq([{ name: 'a', numPartitions: 4 }, { name: 'b', numPartitions: 4 }, { name: 'c', numPartitions: 4 }]));
    expect(res.topics.map((t) => [t.name, t.errorCode])).toEqual([
      ['a', 0],
      ['b', 0],
      ['c', ErrorCode.INVALID_PARTITIONS],
    ]);
    expect(res.topics[2]!.errorMessage).toMatch(/limit of 10 \(partitionsPerShardMax 5 x 2 shards\)/);
    expect(tbTopics(await metadata(c, 1, null))).toEqual(['a', 'b']);
    const grow = (count: number) => c.request<CreatePartitionsResponse>(ApiKey.CreatePartitions, 1, { topics: [{ name: 'a', count, assignments: null }], timeoutMs: 5000, validateOnly: false });
    expect((await grow(7)).results[0]!.errorCode).toBe(ErrorCode.INVALID_PARTITIONS);
    expect((await grow(6)).results[0]!.errorCode).toBe(0);
    expect((await metadata(c, 1, [{ name: 'a' }])).topics[0]!.partitions).toHaveLength(6);
    const one = await c.request<CreateTopicsResponse>(ApiKey.CreateTopics, 4, createReq([{ name: 'd', numPartitions: 1 }]));
    expect(one.topics[0]!.errorCode).toBe(ErrorCode.INVALID_PARTITIONS);
  });
});

function tbTopics(res: { topics: { name: string | null }[] }): (string | null)[] {
  return res.topics.map((t) => t.name).sort();
}

describe('DeleteTopics', () => {
  it('deletes by name (v1); a topic re-created under the same name is new and empty', async () => {
    const { c } = await setup({ autoCreateTopics: false });
    await createTopic(c, 'gone');
    await produceValues(c, 'gone', 0, ['old', 'data']);
    const oldId = (await metadata(c, 12, [{ name: 'gone' }])).topics[0]!.topicId;
    const res = await c.request<DeleteTopicsResponse>(ApiKey.DeleteTopics, 1, { topicNames: ['gone', 'never-was'], timeoutMs: 5000 });
    expect(res.responses.map((r) => [r.name, r.errorCode])).toEqual([
      ['gone', 0],
      ['never-was', ErrorCode.UNKNOWN_TOPIC_OR_PARTITION],
    ]);
    expect((await metadata(c, 1, [{ name: 'gone' }])).topics[0]!.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    expect((await produce(c, 'gone', 0, buildRecordBatch([{ value: 'x' }]))).errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    await createTopic(c, 'gone');
    const fresh = await metadata(c, 12, [{ name: 'gone' }]);
    expect(fresh.topics[0]!.topicId).not.toBe(oldId);
    const p = await fetchPartition(c, 'gone', 0, 0);
    expect(p.highWatermark).toBe(0);
    expect(valuesOf(p.records)).toEqual([]);
  });

  it('v6 deletes by topic id; an unknown id is UNKNOWN_TOPIC_ID', async () => {
    const { c } = await setup({ autoCreateTopics: false });
    await createTopic(c, 'byid');
    await createTopic(c, 'stays');
    const id = (await metadata(c, 12, [{ name: 'byid' }])).topics[0]!.topicId;
    const res = await c.request<DeleteTopicsResponse>(ApiKey.DeleteTopics, 6, {
      topics: [{ name: null, topicId: id }, { name: null, topicId: '11111111111111111111111111111111' }],
      timeoutMs: 5000,
    });
    expect(res.responses[0]).toMatchObject({ name: 'byid', topicId: id, errorCode: 0 });
    expect(res.responses[1]!.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_ID);
    expect(tbTopics(await metadata(c, 1, null))).toEqual(['stays']);
  });

  it('a deleted topic stays deleted across a restart', async () => {
    const { tb, c } = await setup({ autoCreateTopics: false });
    await createTopic(c, 'a');
    await createTopic(c, 'b');
    await c.request(ApiKey.DeleteTopics, 4, { topicNames: ['a'], timeoutMs: 5000 });
    const tb2 = await tb.restart();
    const c2 = await WireClient.connect(tb2.port);
    expect(tbTopics(await metadata(c2, 1, null))).toEqual(['b']);
  });
});

describe('CreatePartitions', () => {
  it('grows a topic; the new partitions take writes; shrinking or keeping the count is INVALID_PARTITIONS', async () => {
    const { c } = await setup();
    await createTopic(c, 'grow', 2);
    const req = (count: number, validateOnly = false) => ({ topics: [{ name: 'grow', count, assignments: null }], timeoutMs: 5000, validateOnly });
    const dry = await c.request<CreatePartitionsResponse>(ApiKey.CreatePartitions, 1, req(6, true));
    expect(dry.results[0]!.errorCode).toBe(0);
    expect((await metadata(c, 1, [{ name: 'grow' }])).topics[0]!.partitions).toHaveLength(2);
    const grown = await c.request<CreatePartitionsResponse>(ApiKey.CreatePartitions, 1, req(4));
    expect(grown.results[0]!.errorCode).toBe(0);
    expect((await metadata(c, 1, [{ name: 'grow' }])).topics[0]!.partitions.map((p) => p.partitionIndex)).toEqual([0, 1, 2, 3]);
    expect((await produce(c, 'grow', 3, buildRecordBatch([{ value: 'p3' }]))).errorCode).toBe(0);
    for (const count of [3, 4]) {
      const res = await c.request<CreatePartitionsResponse>(ApiKey.CreatePartitions, 1, req(count));
      expect(res.results[0]!.errorCode, `count ${count}`).toBe(ErrorCode.INVALID_PARTITIONS);
    }
    const unknown = await c.request<CreatePartitionsResponse>(ApiKey.CreatePartitions, 0, { topics: [{ name: 'nope', count: 3, assignments: null }], timeoutMs: 5000 });
    expect(unknown.results[0]!.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });
});

describe('DescribeConfigs', () => {
  it('topic: effective values with sources, synonyms (override, then the broker default) and documentation', async () => {
    const { c } = await setup();
    await createTopic(c, 'cfg', 1, { 'retention.ms': '3600000', 'compression.type': 'zstd' });
    const r = await describeTopicConfigs(c, 'cfg');
    expect(r.errorCode).toBe(0);
    const byName = new Map(r.configs.map((e) => [e.name, e]));
    const retention = byName.get('retention.ms')!;
    expect(retention).toMatchObject({ value: '3600000', configSource: SOURCE_DYNAMIC_TOPIC, readOnly: false, isSensitive: false });
    expect(retention.synonyms.map((s) => [s.name, s.source])).toEqual([
      ['retention.ms', SOURCE_DYNAMIC_TOPIC],
      ['log.retention.ms', SOURCE_DEFAULT],
    ]);
    expect(retention.documentation).toBeTruthy();
    expect(byName.get('compression.type')).toMatchObject({ value: 'zstd', configSource: SOURCE_DYNAMIC_TOPIC });
    expect(byName.get('max.message.bytes')).toMatchObject({ value: '1048588', configSource: SOURCE_DEFAULT });
    expect(byName.get('cleanup.policy')!.synonyms.map((s) => s.name)).toEqual(['log.cleanup.policy']);
  });

  it('topic: an empty key list means all configs, as null does (Kafka)', async () => {
    const { c } = await setup();
    await createTopic(c, 'cfg');
    const all = await describeTopicConfigs(c, 'cfg', null);
    const empty = await describeTopicConfigs(c, 'cfg', []);
    expect(all.configs.length).toBeGreaterThan(10);
    expect(empty.configs.map((e) => e.name)).toEqual(all.configs.map((e) => e.name));
  });

  it('topic: only the keys asked for; v0 reports IsDefault', async () => {
    const { c } = await setup();
    await createTopic(c, 'cfg', 1, { 'segment.bytes': '1048576' });
    const r = await describeTopicConfigs(c, 'cfg', ['segment.bytes', 'retention.bytes']);
    expect(r.configs.map((e) => e.name).sort()).toEqual(['retention.bytes', 'segment.bytes']);
    const v0 = await describeTopicConfigs(c, 'cfg', ['segment.bytes', 'retention.bytes'], 0);
    const isDefault = new Map(v0.configs.map((e) => [e.name, e.isDefault]));
    expect(isDefault).toEqual(new Map([['retention.bytes', true], ['segment.bytes', false]]));
  });

  it('broker: static, read-only configs by node id or the cluster default (""); DEFAULT_CONFIG until a flag sets them', async () => {
    const { c } = await setup({ autoCreateTopics: false, defaultPartitions: 3 });
    for (const name of ['0', '']) {
      const res = await c.request<DescribeConfigsResponse>(ApiKey.DescribeConfigs, 4, { resources: [{ resourceType: BROKER, resourceName: name, configurationKeys: null }], includeSynonyms: true });
      const r = res.results[0]!;
      expect(r.errorCode).toBe(0);
      const byName = new Map(r.configs.map((e) => [e.name, e]));
      expect(byName.get('auto.create.topics.enable')).toMatchObject({ value: 'false', readOnly: true, configSource: SOURCE_STATIC_BROKER });
      expect(byName.get('num.partitions')!.value).toBe('3');
      expect(byName.get('message.max.bytes')).toMatchObject({ value: '1048588', readOnly: true, configSource: SOURCE_DEFAULT });
      expect(byName.get('num.partitions')).toMatchObject({ configSource: SOURCE_STATIC_BROKER });
      expect(byName.get('offsets.topic.num.partitions')).toMatchObject({ value: '50', configSource: SOURCE_DEFAULT });
      expect(byName.get('broker.id')).toMatchObject({ value: '0', configSource: SOURCE_STATIC_BROKER });
    }
    const wrong = await c.request<DescribeConfigsResponse>(ApiKey.DescribeConfigs, 2, { resources: [{ resourceType: BROKER, resourceName: '7', configurationKeys: null }] });
    expect(wrong.results[0]!.errorCode).not.toBe(0);
  });

  it('an unknown topic is UNKNOWN_TOPIC_OR_PARTITION, answered beside the other resources', async () => {
    const { c } = await setup();
    await createTopic(c, 'real');
    const res = await c.request<DescribeConfigsResponse>(ApiKey.DescribeConfigs, 1, {
      resources: [
        { resourceType: TOPIC, resourceName: 'ghost', configurationKeys: null },
        { resourceType: TOPIC, resourceName: 'real', configurationKeys: ['retention.ms'] },
      ],
    });
    expect(res.results.map((r) => [r.resourceName, r.errorCode])).toEqual([
      ['ghost', ErrorCode.UNKNOWN_TOPIC_OR_PARTITION],
      ['real', 0],
    ]);
  });
});

describe('AlterConfigs', () => {
  it('replaces the whole override set and applies it: a lowered max.message.bytes rejects a bigger batch', async () => {
    const { c } = await setup();
    await createTopic(c, 'alt', 1, { 'retention.ms': '1000000' });
    const batch = buildRecordBatch([{ value: Buffer.alloc(3000, 1) }]);
    expect((await produce(c, 'alt', 0, batch)).errorCode).toBe(0);
    const res = await c.request<AlterConfigsResponse>(ApiKey.AlterConfigs, 1, {
      resources: [{ resourceType: TOPIC, resourceName: 'alt', configs: [{ name: 'max.message.bytes', value: '2000' }] }],
      validateOnly: false,
    });
    expect(res.responses[0]!.errorCode).toBe(0);
    expect(await configValue(c, 'alt', 'max.message.bytes')).toBe('2000');
    expect(await configValue(c, 'alt', 'retention.ms')).toBe('604800000'); // the old override is gone
    expect((await produce(c, 'alt', 0, batch)).errorCode).toBe(ErrorCode.MESSAGE_TOO_LARGE);
  });

  it('validateOnly changes nothing; bad values and unknown topics are refused', async () => {
    const { c } = await setup();
    await createTopic(c, 'alt');
    const alter = (name: string, value: string, validateOnly: boolean, topic = 'alt') =>
      c.request<AlterConfigsResponse>(ApiKey.AlterConfigs, 0, { resources: [{ resourceType: TOPIC, resourceName: topic, configs: [{ name, value }] }], validateOnly });
    expect((await alter('retention.ms', '5000', true)).responses[0]!.errorCode).toBe(0);
    expect(await configValue(c, 'alt', 'retention.ms')).toBe('604800000');
    expect((await alter('retention.ms', 'never', false)).responses[0]!.errorCode).toBe(ErrorCode.INVALID_CONFIG);
    expect((await alter('bogus.name', '1', false)).responses[0]!.errorCode).toBe(ErrorCode.INVALID_CONFIG);
    expect((await alter('retention.ms', '5000', false, 'ghost')).responses[0]!.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });
});

describe('IncrementalAlterConfigs', () => {
  it('SET, APPEND, SUBTRACT and DELETE on cleanup.policy (a list)', async () => {
    const { c } = await setup();
    await createTopic(c, 'inc');
    expect((await incremental(c, 'inc', [{ name: 'cleanup.policy', op: SET, value: 'compact' }])).errorCode).toBe(0);
    expect(await configValue(c, 'inc', 'cleanup.policy')).toBe('compact');
    expect((await incremental(c, 'inc', [{ name: 'cleanup.policy', op: APPEND, value: 'delete' }])).errorCode).toBe(0);
    expect(await configValue(c, 'inc', 'cleanup.policy')).toBe('compact,delete');
    expect((await incremental(c, 'inc', [{ name: 'cleanup.policy', op: APPEND, value: 'delete' }])).errorCode).toBe(0);
    expect(await configValue(c, 'inc', 'cleanup.policy')).toBe('compact,delete'); // no duplicates
    expect((await incremental(c, 'inc', [{ name: 'cleanup.policy', op: SUBTRACT, value: 'compact' }])).errorCode).toBe(0);
    expect(await configValue(c, 'inc', 'cleanup.policy')).toBe('delete');
    expect((await incremental(c, 'inc', [{ name: 'cleanup.policy', op: DELETE }])).errorCode).toBe(0);
    const r = await describeTopicConfigs(c, 'inc', ['cleanup.policy']);
    expect(r.configs[0]).toMatchObject({ value: 'delete', configSource: SOURCE_DEFAULT });
  });

  it('APPEND to a list with no override starts from the default value, as Kafka does', async () => {
    const { c } = await setup();
    await createTopic(c, 'inc');
    expect((await incremental(c, 'inc', [{ name: 'cleanup.policy', op: APPEND, value: 'compact' }])).errorCode).toBe(0);
    // Kafka: old value = override, else the default ("delete"); "delete" + "compact".
    const v = await configValue(c, 'inc', 'cleanup.policy');
    expect(v!.split(',').sort()).toEqual(['compact', 'delete']);
  });

  it('keeps other overrides; validateOnly changes nothing; APPEND to a non-list and unknown names are refused', async () => {
    const { c } = await setup();
    await createTopic(c, 'inc', 1, { 'retention.ms': '7777' });
    expect((await incremental(c, 'inc', [{ name: 'segment.bytes', op: SET, value: '2000000' }])).errorCode).toBe(0);
    expect(await configValue(c, 'inc', 'retention.ms')).toBe('7777');
    expect(await configValue(c, 'inc', 'segment.bytes')).toBe('2000000');
    expect((await incremental(c, 'inc', [{ name: 'retention.ms', op: SET, value: '1' }], true)).errorCode).toBe(0);
    expect(await configValue(c, 'inc', 'retention.ms')).toBe('7777');
    const nonList = await incremental(c, 'inc', [{ name: 'retention.ms', op: APPEND, value: '5' }]);
    expect(nonList.errorCode).toBe(ErrorCode.INVALID_REQUEST); // Kafka: InvalidRequestException
    expect((await incremental(c, 'inc', [{ name: 'nope.nope', op: SET, value: '5' }])).errorCode).toBe(ErrorCode.INVALID_CONFIG);
    expect((await incremental(c, 'inc', [{ name: 'cleanup.policy', op: SET, value: 'shred' }])).errorCode).toBe(ErrorCode.INVALID_CONFIG);
    expect(await configValue(c, 'inc', 'retention.ms')).toBe('7777');
  });

  it('applies max.message.bytes to the log at once', async () => {
    const { c } = await setup();
    await createTopic(c, 'inc');
    const batch = buildRecordBatch([{ value: Buffer.alloc(5000, 1) }]);
    expect((await incremental(c, 'inc', [{ name: 'max.message.bytes', op: SET, value: '4096' }])).errorCode).toBe(0);
    expect((await produce(c, 'inc', 0, batch)).errorCode).toBe(ErrorCode.MESSAGE_TOO_LARGE);
    expect((await incremental(c, 'inc', [{ name: 'max.message.bytes', op: DELETE }])).errorCode).toBe(0);
    expect((await produce(c, 'inc', 0, batch)).errorCode).toBe(0);
  });

  it('broker resources are static: refused with an error, not a crash', async () => {
    const { c } = await setup();
    const res = await c.request<IncrementalAlterConfigsResponse>(ApiKey.IncrementalAlterConfigs, 0, {
      resources: [{ resourceType: BROKER, resourceName: '0', configs: [{ name: 'num.partitions', configOperation: SET, value: '5' }] }],
      validateOnly: false,
    });
    expect(res.responses[0]!.errorCode).not.toBe(0);
  });
});

describe('DeleteRecords', () => {
  it('raises the low watermark; fetching below it is OFFSET_OUT_OF_RANGE; beyond the HW is refused', async () => {
    const { c } = await setup();
    await createTopic(c, 'dr');
    await produceValues(c, 'dr', 0, ['0', '1', '2', '3', '4']);
    const del = (offset: number) =>
      c.request<DeleteRecordsResponse>(ApiKey.DeleteRecords, 1, { topics: [{ name: 'dr', partitions: [{ partitionIndex: 0, offset }] }], timeoutMs: 5000 });
    expect((await del(3)).topics[0]!.partitions[0]).toMatchObject({ errorCode: 0, lowWatermark: 3 });
    expect((await fetchPartition(c, 'dr', 0, 2)).errorCode).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
    expect(valuesOf((await fetchPartition(c, 'dr', 0, 3)).records, 3)).toEqual(['3', '4']);
    expect((await listOffset(c, 'dr', 0, -2)).offset).toBe(3);
    // Lower than the current start: no change. Above the HW: OFFSET_OUT_OF_RANGE. -1: up to the HW.
    expect((await del(1)).topics[0]!.partitions[0]).toMatchObject({ errorCode: 0, lowWatermark: 3 });
    expect((await del(6)).topics[0]!.partitions[0]!.errorCode).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
    expect((await del(-1)).topics[0]!.partitions[0]).toMatchObject({ errorCode: 0, lowWatermark: 5 });
    // Appends continue after the end.
    expect((await produce(c, 'dr', 0, buildRecordBatch([{ value: 'five' }]))).baseOffset).toBe(5);
    const unknown = await c.request<DeleteRecordsResponse>(ApiKey.DeleteRecords, 0, { topics: [{ name: 'nope', partitions: [{ partitionIndex: 0, offset: 0 }] }], timeoutMs: 5000 });
    expect(unknown.topics[0]!.partitions[0]!.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });

  it('the low watermark survives a restart', async () => {
    const { tb, c } = await setup();
    await createTopic(c, 'dr');
    await produceValues(c, 'dr', 0, ['0', '1', '2']);
    await c.request(ApiKey.DeleteRecords, 2, { topics: [{ name: 'dr', partitions: [{ partitionIndex: 0, offset: 2 }] }], timeoutMs: 5000 });
    const tb2 = await tb.restart();
    const c2 = await WireClient.connect(tb2.port);
    expect((await listOffset(c2, 'dr', 0, -2)).offset).toBe(2);
    expect((await fetchPartition(c2, 'dr', 0, 0)).errorCode).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
  });
});

describe('DescribeCluster', () => {
  it('answers the cluster id, this node at its real port, and the controller', async () => {
    const { tb, c } = await setup();
    const md = await metadata(c, 12, []);
    for (const v of [0, 1]) {
      const res = await c.request<DescribeClusterResponse>(ApiKey.DescribeCluster, v, { includeClusterAuthorizedOperations: false, endpointType: 1 });
      expect(res.errorCode).toBe(0);
      expect(res.clusterId).toBe(md.clusterId);
      expect(res.controllerId).toBe(0);
      expect(res.brokers).toEqual([{ brokerId: 0, host: '127.0.0.1', port: tb.port, rack: null }]);
    }
    const controllers = await c.request<DescribeClusterResponse>(ApiKey.DescribeCluster, 1, { endpointType: 2 });
    expect(controllers.errorCode).toBe(ErrorCode.UNSUPPORTED_ENDPOINT_TYPE);
  });
});

describe('kafkajs admin', () => {
  it('creates, describes, alters and deletes through a real client', async () => {
    const { tb } = await setup();
    const kafka = new Kafka({ clientId: 'tern-admin-test', brokers: [`127.0.0.1:${tb.port}`], logLevel: logLevel.NOTHING, retry: { retries: 1 } });
    const admin = kafka.admin();
    await admin.connect();
    try {
      expect(await admin.createTopics({ topics: [{ topic: 'kjs', numPartitions: 2, configEntries: [{ name: 'retention.ms', value: '60000' }] }], waitForLeaders: true })).toBe(true);
      const md = await admin.fetchTopicMetadata({ topics: ['kjs'] });
      expect(md.topics[0]!.partitions).toHaveLength(2);
      await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: 'kjs', configEntries: [{ name: 'retention.ms', value: '120000' }] }] });
      const cfg = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: 'kjs', configNames: ['retention.ms'] }] });
      expect(cfg.resources[0]!.configEntries[0]!.configValue).toBe('120000');
      await admin.createPartitions({ topicPartitions: [{ topic: 'kjs', count: 3 }] });
      expect((await admin.fetchTopicOffsets('kjs')).map((o) => o.partition).sort()).toEqual([0, 1, 2]);
      await admin.deleteTopics({ topics: ['kjs'] });
      expect(await admin.listTopics()).toEqual([]);
      // Kafka refuses names that differ from an existing one only by . vs _, in CreateTopics and auto-creation
      await admin.createTopics({ topics: [{ topic: 'metrics.eu' }] });
      await expect(admin.createTopics({ topics: [{ topic: 'metrics_eu' }] })).rejects.toMatchObject({ errors: [{ type: 'INVALID_TOPIC_EXCEPTION' }] });
      const producer = kafka.producer({ allowAutoTopicCreation: true, retry: { retries: 0 } });
      await producer.connect();
      try {
        await expect(producer.send({ topic: 'metrics_eu', messages: [{ value: 'x' }] })).rejects.toMatchObject({ retriable: false, cause: { type: 'INVALID_TOPIC_EXCEPTION' } });
      } finally {
        await producer.disconnect();
      }
      expect(await admin.listTopics()).toEqual(['metrics.eu']);
    } finally {
      await admin.disconnect();
    }
  });
});
