/**
 * AddPartitionsToTxn (key 24), v0-3: adds partitions to the producer's transaction before it produces to them.
 * v4+ (the broker-to-broker batched form, KIP-890) is not advertised: @platformatic/kafka picks the highest
 * advertised version and would send it. Partitions of unknown topics get UNKNOWN_TOPIC_OR_PARTITION and the
 * others OPERATION_NOT_ATTEMPTED (Kafka's answer); otherwise every partition gets the coordinator's one answer.
 * PRODUCER_FENCED is answered as INVALID_PRODUCER_EPOCH below v2.
 */
import { ApiKey, type AddPartitionsToTxnRequest, type AddPartitionsToTxnResponseIn } from '../../protocol/messages/index.js';
import { ErrorCode } from '../../protocol/errors.js';
import { requestClockUs, type TopicPartition } from '../../txn/index.js';
import type { ApiHandler } from '../context.js';

export const addPartitionsToTxnHandler: ApiHandler<AddPartitionsToTxnRequest, AddPartitionsToTxnResponseIn> = {
  key: ApiKey.AddPartitionsToTxn,
  minVersion: 0,
  maxVersion: 3,
  async handle(req, ctx) {
    const receivedAtUs = requestClockUs();
    const topics = req.v3AndBelowTopics;
    const unknown = new Set<string>();
    for (const t of topics) {
      const rec = ctx.broker.topics.get(t.name);
      for (const p of t.partitions) if (rec === undefined || p < 0 || p >= rec.partitions) unknown.add(`${t.name}\u0000${p}`);
    }
    let codeOf: (topic: string, partition: number) => number;
    if (unknown.size > 0) {
      codeOf = (topic, p) => (unknown.has(`${topic}\u0000${p}`) ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION : ErrorCode.OPERATION_NOT_ATTEMPTED);
    } else {
      const partitions: TopicPartition[] = topics.flatMap((t) => t.partitions.map((partition) => ({ topic: t.name, partition })));
      let error = await ctx.broker.txn.addPartitions(
        { transactionalId: req.v3AndBelowTransactionalId, producerId: req.v3AndBelowProducerId, producerEpoch: req.v3AndBelowProducerEpoch, partitions },
        { signal: ctx.signal, receivedAtUs },
      );
      if (error === ErrorCode.PRODUCER_FENCED && ctx.apiVersion < 2) error = ErrorCode.INVALID_PRODUCER_EPOCH;
      codeOf = () => error;
    }
    return {
      throttleTimeMs: 0,
      resultsByTopicV3AndBelow: topics.map((t) => ({ name: t.name, resultsByPartition: t.partitions.map((p) => ({ partitionIndex: p, partitionErrorCode: codeOf(t.name, p) })) })),
    };
  },
};
