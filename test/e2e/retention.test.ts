/**
 * Retention through a real client (kafkajs), on a broker started with a short
 * `--log-retention-check-interval-ms` (Kafka's log.retention.check.interval.ms; 5 minutes by default): a segment
 * whose records are all older than the topic's retention.ms is deleted by the next pass, the earliest offset moves
 * to the next segment, a consumer from the beginning starts there, and newer records stay. And the broker-wide topic
 * defaults (Kafka's log.retention.ms, log.roll.ms, message.max.bytes as start-up flags).
 */
import { afterAll, expect, it } from 'vitest';
import { ConfigResourceTypes } from 'kafkajs';
import { launch, type E2EBroker } from './lib/broker.js';
import { kafkaFor } from './lib/kafkajs.js';
import { sleep } from './lib/proc.js';

const brokers: E2EBroker[] = [];
afterAll(async () => {
  for (const b of brokers.splice(0)) await b.stop().catch(() => b.kill());
});

it('retention.ms deletes an expired segment within the check interval: the earliest offset moves, consumers start there, newer records stay', async () => {
  const b = await launch({ args: ['--log-retention-check-interval-ms', '200'] });
  brokers.push(b);
  const kafka = kafkaFor(b.port, 'retention-e2e');
  const admin = kafka.admin();
  const producer = kafka.producer();
  await admin.connect();
  await producer.connect();
  try {
    const topic = 'retained';
    // segment.ms 100: the second send, 300 ms later, starts a new segment
    await admin.createTopics({
      topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'retention.ms', value: '60000' }, { name: 'segment.ms', value: '100' }] }],
    });
    const hourAgo = String(Date.now() - 3_600_000);
    await producer.send({ topic, acks: -1, messages: Array.from({ length: 5 }, (_, i) => ({ value: `old-${i}`, timestamp: hourAgo })) });
    await sleep(300);
    await producer.send({ topic, acks: -1, messages: Array.from({ length: 5 }, (_, i) => ({ value: `new-${i}` })) });

    const started = Date.now();
    let low = '0';
    while (Date.now() - started < 10_000) {
      const [p] = await admin.fetchTopicOffsets(topic);
      low = p!.low;
      expect(p!.high).toBe('10');
      if (low !== '0') break;
      await sleep(100);
    }
    expect(low, 'the segment of records an hour old was deleted').toBe('5');
    console.info(`[e2e] retention: expired segment deleted ${Date.now() - started} ms after the last produce`);

    const consumer = kafka.consumer({ groupId: 'retention-e2e' });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      const seen: { offset: string; value: string }[] = [];
      await consumer.run({ eachMessage: async ({ message }) => void seen.push({ offset: message.offset, value: message.value!.toString() }) });
      const deadline = Date.now() + 15_000;
      while (seen.length < 5 && Date.now() < deadline) await sleep(50);
      expect(seen).toEqual(Array.from({ length: 5 }, (_, i) => ({ offset: String(5 + i), value: `new-${i}` })));
    } finally {
      await consumer.disconnect();
    }
    // the newer segment stays: its records are within retention.ms
    await sleep(500);
    expect((await admin.fetchTopicOffsets(topic))[0]!.low).toBe('5');
  } finally {
    await producer.disconnect();
    await admin.disconnect();
  }
}, 60_000);

it('broker-wide topic defaults (--log-retention-ms, --log-roll-ms, --message-max-bytes) apply to topics without overrides, are described as Kafka does, and a topic override wins', async () => {
  const b = await launch({ args: ['--log-retention-check-interval-ms', '200', '--log-retention-ms', '60000', '--log-roll-ms', '100', '--message-max-bytes', '2000'] });
  brokers.push(b);
  const kafka = kafkaFor(b.port, 'defaults-e2e', { retries: 0 });
  const admin = kafka.admin();
  const producer = kafka.producer({ retry: { retries: 0 } });
  await admin.connect();
  await producer.connect();
  try {
    await admin.createTopics({
      topics: [
        { topic: 'plain', numPartitions: 1 },
        { topic: 'big', numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '10000' }] },
      ],
    });
    // described: the broker's value, from a static broker config, with the broker setting as its synonym
    const described = await admin.describeConfigs({
      includeSynonyms: true,
      resources: [
        { type: ConfigResourceTypes.TOPIC, name: 'plain', configNames: ['max.message.bytes', 'retention.ms', 'segment.bytes'] },
        { type: ConfigResourceTypes.TOPIC, name: 'big', configNames: ['max.message.bytes'] },
        { type: ConfigResourceTypes.BROKER, name: '0', configNames: ['message.max.bytes', 'log.retention.ms', 'log.segment.bytes'] },
      ],
    });
    const entry = (res: number, name: string) => described.resources[res]!.configEntries.find((e) => e.configName === name)!;
    expect(entry(0, 'max.message.bytes')).toMatchObject({ configValue: '2000', configSource: STATIC_BROKER_CONFIG, isDefault: false });
    expect(entry(0, 'max.message.bytes').configSynonyms[0]).toMatchObject({ configName: 'message.max.bytes', configValue: '2000', configSource: STATIC_BROKER_CONFIG });
    expect(entry(0, 'retention.ms')).toMatchObject({ configValue: '60000', configSource: STATIC_BROKER_CONFIG });
    expect(entry(0, 'segment.bytes')).toMatchObject({ configValue: '1073741824', configSource: DEFAULT_CONFIG });
    expect(entry(1, 'max.message.bytes')).toMatchObject({ configValue: '10000', configSource: DYNAMIC_TOPIC_CONFIG });
    expect(entry(2, 'message.max.bytes')).toMatchObject({ configValue: '2000', configSource: STATIC_BROKER_CONFIG });
    expect(entry(2, 'log.retention.ms')).toMatchObject({ configValue: '60000', configSource: STATIC_BROKER_CONFIG });
    expect(entry(2, 'log.segment.bytes')).toMatchObject({ configValue: '1073741824', configSource: DEFAULT_CONFIG });

    // enforced: a 3,000-byte record is too large for the broker default, fine where the topic allows more
    const value = 'x'.repeat(3000);
    await expect(producer.send({ topic: 'plain', acks: -1, messages: [{ value }] })).rejects.toMatchObject({ type: 'MESSAGE_TOO_LARGE' });
    await producer.send({ topic: 'big', acks: -1, messages: [{ value }] });

    // retention by the broker default (60 s) and segments rolled by it (100 ms)
    const hourAgo = String(Date.now() - 3_600_000);
    await producer.send({ topic: 'plain', acks: -1, messages: Array.from({ length: 3 }, (_, i) => ({ value: `old-${i}`, timestamp: hourAgo })) });
    await sleep(300);
    await producer.send({ topic: 'plain', acks: -1, messages: Array.from({ length: 3 }, (_, i) => ({ value: `new-${i}` })) });
    const started = Date.now();
    let low = '0';
    while (low === '0' && Date.now() - started < 10_000) {
      low = (await admin.fetchTopicOffsets('plain'))[0]!.low;
      if (low === '0') await sleep(100);
    }
    expect(low, 'the segment an hour old went by the broker-wide retention.ms').toBe('3');
  } finally {
    await producer.disconnect();
    await admin.disconnect();
  }
}, 60_000);

/** Kafka's ConfigSource values as kafkajs reports them. */
const DYNAMIC_TOPIC_CONFIG = 1;
const STATIC_BROKER_CONFIG = 4;
const DEFAULT_CONFIG = 5;
