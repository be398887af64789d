/**
 * CreatePartitions (key 37), v0-3. Grows a topic to Count partitions (never shrinks: INVALID_PARTITIONS);
 * assignments, when given, must name this node; ValidateOnly changes nothing. The internal topics keep the
 * partition count their coordinators hash ids over (internal-topics.ts).
 */
import { ApiKey, type CreatePartitionsRequest, type CreatePartitionsResponseIn } from '../../protocol/messages/index.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../context.js';
import { brokerPartitionCount, partitionLimitFailure } from './create-topics.js';
import { internalTopicFailure, isInternalTopic } from './internal-topics.js';

export const createPartitionsHandler: ApiHandler<CreatePartitionsRequest, CreatePartitionsResponseIn> = {
  key: ApiKey.CreatePartitions,
  minVersion: 0,
  maxVersion: 3,
  async handle(req, ctx) {
    const b = ctx.broker;
    const results = [];
    const seen = new Set<string>();
    let existing = brokerPartitionCount(b);
    for (const t of req.topics) {
      const fail = (errorCode: number, errorMessage: string): void => void results.push({ name: t.name, errorCode, errorMessage });
      if (seen.has(t.name)) {
        fail(ErrorCode.INVALID_REQUEST, `Duplicate topic ${t.name} in the request`);
        continue;
      }
      seen.add(t.name);
      const rec = b.topics.get(t.name);
      if (!rec) {
        fail(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `The topic '${t.name}' does not exist.`);
        continue;
      }
      if (isInternalTopic(rec.name)) {
        const f = internalTopicFailure(rec.name, 'given more partitions');
        fail(f.errorCode, f.errorMessage!);
        continue;
      }
      if (t.count <= rec.partitions) {
        fail(ErrorCode.INVALID_PARTITIONS, t.count === rec.partitions ? `Topic already has ${rec.partitions} partitions.` : `Topic currently has ${rec.partitions} partitions, which is higher than the requested ${t.count}.`);
        continue;
      }
      if (t.count > b.config.partitionsPerTopicMax) {
        fail(ErrorCode.INVALID_PARTITIONS, `Number of partitions is above the limit of ${b.config.partitionsPerTopicMax}.`);
        continue;
      }
      const overLimit = partitionLimitFailure(b, existing, t.count - rec.partitions);
      if (overLimit !== null) {
        fail(overLimit.errorCode, overLimit.errorMessage!);
        continue;
      }
      if (t.assignments !== null) {
        const added = t.count - rec.partitions;
        if (t.assignments.length !== added) {
          fail(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `Increasing the number of partitions by ${added} but ${t.assignments.length} assignments provided.`);
          continue;
        }
        if (t.assignments.some((a) => a.brokerIds.length !== 1 || a.brokerIds[0] !== b.config.nodeId)) {
          fail(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `Replicas must be exactly [${b.config.nodeId}] on this single-node cluster.`);
          continue;
        }
      }
      if (!req.validateOnly) {
        try {
          await b.addPartitions(t.name, t.count);
        } catch (err) {
          b.logger.error({ err, topic: t.name }, 'create partitions failed');
          fail(ErrorCode.KAFKA_STORAGE_ERROR, (err as Error).message);
          continue;
        }
      }
      existing += t.count - rec.partitions;
      results.push({ name: t.name, errorCode: 0, errorMessage: null });
    }
    return { throttleTimeMs: 0, results };
  },
};
