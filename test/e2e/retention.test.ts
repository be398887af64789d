/**
 * Retention through a real client (kafkajs), on a broker started with a short
 * `--log-retention-check-interval-ms` (Kafka's log.retention.check.interval.ms; 5 minutes by default): a segment
 * whose records are all older than the topic's retention.ms is deleted by the next pass, the earliest offset moves
 * to the next segment, a consumer from the beginning starts there, and newer records stay.
 */
import { afterAll, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { launch, type E2EBroker } from './lib/broker.js';
import { sleep } from './lib/proc.js';

const brokers: E2EBroker[] = [];
afterAll(async () => {
  for (const b of brokers.splice(0)) await b.stop().catch(() => b.kill());
});

it('retention.ms deletes an expired segment within the check interval: the earliest offset moves, consumers start there, newer records stay', async () => {
  const b = await launch({ args: ['--log-retention-check-interval-ms', '200'] });
  brokers.push(b);
  const kafka = new Kafka({ clientId: 'retention-e2e', brokers: [`127.0.0.1:${b.port}`], logLevel: logLevel.NOTHING });
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
