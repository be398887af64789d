/**
 * Metadata as clients use it: v0 empty list = all topics, v1+ null = all and empty = none, auto-creation (broker
 * switch and v4 AllowAutoTopicCreation), invalid names, topic ids (stable, non-zero, v12 lookup by id), and the
 * advertised broker address.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/protocol/errors.js';
import { ZERO_UUID } from '../../src/protocol/codec.js';
import { WireClient, createTopic, metadata, produce, recordsOf, testBroker } from './helpers.js';

const names = (res: { topics: { name: string | null }[] }): (string | null)[] => res.topics.map((t) => t.name).sort();

describe('Metadata topic selection', () => {
  it('v0: an empty list means all topics', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'a');
    await createTopic(c, 'b', 3);
    const res = await metadata(c, 0, []);
    expect(names(res)).toEqual(['a', 'b']);
    expect(res.topics.find((t) => t.name === 'b')!.partitions.map((p) => p.partitionIndex)).toEqual([0, 1, 2]);
  });

  it('v1+: null means all topics, an empty list means none', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'a');
    await createTopic(c, 'b');
    for (const v of [1, 4, 9, 12]) {
      expect(names(await metadata(c, v, null)), `v${v} null`).toEqual(['a', 'b']);
      expect((await metadata(c, v, [])).topics, `v${v} empty`).toEqual([]);
    }
  });

  it('describes this node as the only broker, leader and controller, at its real (bound) port', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'p', 2);
    const res = await metadata(c, 12, [{ name: 'p' }]);
    expect(res.brokers).toEqual([{ nodeId: 0, host: '127.0.0.1', port: tb.port, rack: null }]);
    expect(res.controllerId).toBe(0);
    expect(res.clusterId).toBe(tb.broker.topics.clusterId);
    const t = res.topics[0]!;
    expect(t.errorCode).toBe(0);
    for (const p of t.partitions) {
      expect(p.leaderId).toBe(0);
      expect(p.replicaNodes).toEqual([0]);
      expect(p.isrNodes).toEqual([0]);
    }
  });
});

describe('auto-creation', () => {
  it('creates a named topic when the broker allows it (num.partitions = defaultPartitions)', async () => {
    const tb = await testBroker({ autoCreateTopics: true, defaultPartitions: 2 });
    const c = await WireClient.connect(tb.port);
    const res = await metadata(c, 1, [{ name: 'auto' }]);
    expect(res.topics[0]!.errorCode).toBe(0);
    expect(res.topics[0]!.partitions).toHaveLength(2);
    expect(names(await metadata(c, 1, null))).toEqual(['auto']);
  });

  it('does not create with autoCreateTopics off: UNKNOWN_TOPIC_OR_PARTITION', async () => {
    const tb = await testBroker({ autoCreateTopics: false });
    const c = await WireClient.connect(tb.port);
    for (const v of [0, 1, 4, 12]) {
      const res = await metadata(c, v, [{ name: 'nope' }]);
      expect(res.topics[0]!.errorCode, `v${v}`).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    }
    expect((await metadata(c, 1, null)).topics).toEqual([]);
  });

  it('v4+: AllowAutoTopicCreation=false is honoured even when the broker allows it', async () => {
    const tb = await testBroker({ autoCreateTopics: true });
    const c = await WireClient.connect(tb.port);
    const res = await metadata(c, 4, [{ name: 'maybe' }], { allowAutoTopicCreation: false });
    expect(res.topics[0]!.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    expect((await metadata(c, 1, null)).topics).toEqual([]);
    const yes = await metadata(c, 4, [{ name: 'maybe' }], { allowAutoTopicCreation: true });
    expect(yes.topics[0]!.errorCode).toBe(0);
  });

  it('answers INVALID_TOPIC_EXCEPTION for an illegal name and creates nothing', async () => {
    const tb = await testBroker({ autoCreateTopics: true });
    const c = await WireClient.connect(tb.port);
    for (const bad of ['has space', 'slash/no', '..', 'x'.repeat(250), 'ünï']) {
      const res = await metadata(c, 1, [{ name: bad }]);
      expect(res.topics[0]!.errorCode, bad).toBe(ErrorCode.INVALID_TOPIC_EXCEPTION);
    }
    expect((await metadata(c, 1, null)).topics).toEqual([]);
  });

  it('does not create a name that differs from an existing topic only by . vs _: INVALID_TOPIC_EXCEPTION, as Kafka', async () => {
    const tb = await testBroker({ autoCreateTopics: true });
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'clicks_raw');
    for (const v of [1, 4, 12]) {
      const res = await metadata(c, v, [{ name: 'clicks.raw' }], v >= 4 ? { allowAutoTopicCreation: true } : {});
      expect(res.topics[0]!.errorCode, `v${v}`).toBe(ErrorCode.INVALID_TOPIC_EXCEPTION);
    }
    expect((await metadata(c, 1, null)).topics.map((t) => t.name)).toEqual(['clicks_raw']);
  });

  it('creates a concurrently requested topic once, and never reports a leader for a partition not yet created', async () => {
    const tb = await testBroker({ autoCreateTopics: true, defaultPartitions: 8 });
    const a = await WireClient.connect(tb.port);
    const b = await WireClient.connect(tb.port);
    const first = metadata(a, 12, [{ name: 'race' }]);
    const second = await metadata(b, 12, [{ name: 'race' }]);
    // The second request may arrive while the first is still creating the partitions: every partition it
    // reports with a leader must take a write at once (else LEADER_NOT_AVAILABLE, and the client retries).
    for (const p of second.topics[0]!.partitions) {
      if (p.errorCode === 0) {
        expect(p.leaderId).toBe(0);
        expect((await produce(b, 'race', p.partitionIndex, recordsOf(['x']))).errorCode, `partition ${p.partitionIndex}`).toBe(0);
      } else {
        expect(p.errorCode).toBe(ErrorCode.LEADER_NOT_AVAILABLE);
        expect(p.leaderId).toBe(-1);
      }
    }
    const ra = await first;
    expect(ra.topics[0]!.errorCode).toBe(0);
    expect(ra.topics[0]!.partitions.every((p) => p.errorCode === 0)).toBe(true);
    const again = await metadata(b, 12, [{ name: 'race' }]);
    expect(again.topics[0]!.topicId).toBe(ra.topics[0]!.topicId);
    expect(again.topics[0]!.partitions.every((p) => p.errorCode === 0 && p.leaderId === 0)).toBe(true);
  });
});

describe('topic ids', () => {
  it('are non-zero, distinct, and stable across a broker restart', async () => {
    let tb = await testBroker();
    let c = await WireClient.connect(tb.port);
    await createTopic(c, 'one');
    await createTopic(c, 'two');
    const before = await metadata(c, 12, null);
    const ids = new Map(before.topics.map((t) => [t.name, t.topicId]));
    expect(ids.get('one')).not.toBe(ZERO_UUID);
    expect(ids.get('two')).not.toBe(ZERO_UUID);
    expect(ids.get('one')).not.toBe(ids.get('two'));
    tb = await tb.restart();
    c = await WireClient.connect(tb.port);
    const after = await metadata(c, 10, null);
    expect(new Map(after.topics.map((t) => [t.name, t.topicId]))).toEqual(ids);
    expect(after.clusterId).toBe(before.clusterId);
  });

  it('v12 looks a topic up by id (null name); an unknown id is UNKNOWN_TOPIC_ID', async () => {
    const tb = await testBroker({ autoCreateTopics: true });
    const c = await WireClient.connect(tb.port);
    await createTopic(c, 'byid', 2);
    const id = (await metadata(c, 12, [{ name: 'byid' }])).topics[0]!.topicId;
    const res = await metadata(c, 12, [{ name: null, topicId: id }]);
    expect(res.topics[0]!.errorCode).toBe(0);
    expect(res.topics[0]!.name).toBe('byid');
    expect(res.topics[0]!.topicId).toBe(id);
    expect(res.topics[0]!.partitions).toHaveLength(2);
    const unknown = await metadata(c, 12, [{ name: null, topicId: '0123456789abcdef0123456789abcdef' }]);
    expect(unknown.topics[0]!.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_ID);
    // A lookup by id never auto-creates.
    expect(names(await metadata(c, 12, null))).toEqual(['byid']);
  });
});
