/**
 * DescribeProducers (key 61), v0 (flexible): the producers a partition tracks (KIP-664), as its producer state
 * holds them: id, epoch, last sequence, last timestamp, coordinator epoch, and the first offset of the open
 * transaction (-1 when none). Loads the partition's producer state when it is not loaded yet.
 * Unknown topics and partitions answer UNKNOWN_TOPIC_OR_PARTITION per partition.
 */
import { ApiKey, type DescribeProducersRequest, type DescribeProducersResponseIn } from '../../protocol/messages/index.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler, BrokerServices } from '../context.js';

type PartitionOut = NonNullable<NonNullable<DescribeProducersResponseIn['topics']>[number]['partitions']>[number];

async function describe(b: BrokerServices, topic: string, partition: number): Promise<PartitionOut> {
  const t = b.topics.get(topic);
  if (!t || partition < 0 || partition >= t.partitions) {
    return { partitionIndex: partition, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: null, activeProducers: [] };
  }
  const res = await b.partitions.describeProducers(topic, partition);
  return { partitionIndex: partition, errorCode: res.errorCode, errorMessage: null, activeProducers: res.producers };
}

export const describeProducersHandler: ApiHandler<DescribeProducersRequest, DescribeProducersResponseIn> = {
  key: ApiKey.DescribeProducers,
  minVersion: 0,
  maxVersion: 0,
  async handle(req, ctx) {
    const topics = [];
    for (const t of req.topics) {
      topics.push({ name: t.name, partitions: await Promise.all(t.partitionIndexes.map((p) => describe(ctx.broker, t.name, p))) });
    }
    return { throttleTimeMs: 0, topics };
  },
};
