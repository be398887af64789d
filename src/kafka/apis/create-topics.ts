/**
 * CreateTopics (key 19), v0-7. Validates names (Kafka's rules; a name that differs from an existing topic's only
 * by '.' vs '_' is INVALID_TOPIC_EXCEPTION, as in Kafka), partition counts, replication factor (a single node can
 * hold one replica: anything above is INVALID_REPLICATION_FACTOR), manual assignments and configs
 * (unknown names and bad values are INVALID_CONFIG). ValidateOnly checks everything and creates nothing.
 * v5+ answers with the topic's partitions, replication factor and effective configs; v7+ with its id.
 * The internal topics are created by their coordinators only (internal-topics.ts).
 */
import { ApiKey, type CreateTopicsRequest, type CreateTopicsResponseIn } from '../../protocol/messages/index.js';
import type { CreatableTopicResultIn } from '../../protocol/messages/CreateTopicsResponse.js';
import type { CreatableTopic } from '../../protocol/messages/CreateTopicsRequest.js';
import { ErrorCode } from '../../protocol/errors.js';
import { collidingTopic, collisionMessage, topicNameError } from '../../cluster/index.js';
import type { ApiHandler, BrokerServices, KafkaFailure } from '../context.js';
import { describeTopicConfigs } from './config-catalog.js';
import { internalTopicFailure, isInternalTopic } from './internal-topics.js';

/** Partitions on the broker now, internal topics included. */
export function brokerPartitionCount(b: BrokerServices): number {
  let n = 0;
  for (const t of b.topics.list()) n += t.partitions;
  return n;
}

/** INVALID_PARTITIONS when `added` more partitions (on top of `existing`) would pass the broker's limit. */
export function partitionLimitFailure(b: BrokerServices, existing: number, added: number): KafkaFailure | null {
  const max = b.config.partitionsPerShardMax * b.config.smp;
  if (existing + added <= max) return null;
  return {
    errorCode: ErrorCode.INVALID_PARTITIONS,
    errorMessage: `${added} more partitions would take the broker to ${existing + added}, above its limit of ${max} (partitionsPerShardMax ${b.config.partitionsPerShardMax} x ${b.config.smp} shards).`,
  };
}

function check(b: BrokerServices, t: CreatableTopic): KafkaFailure | { partitions: number; configs: Record<string, string> } {
  const nameError = topicNameError(t.name);
  if (nameError) return { errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, errorMessage: nameError };
  if (b.topics.get(t.name)) return { errorCode: ErrorCode.TOPIC_ALREADY_EXISTS, errorMessage: `Topic '${t.name}' already exists.` };
  if (isInternalTopic(t.name)) return internalTopicFailure(t.name, 'created');
  // Kafka: a name equal to an existing topic's up to '.' vs '_' is INVALID_TOPIC_EXCEPTION (validateOnly too).
  const other = collidingTopic(t.name, b.topics.list().map((x) => x.name));
  if (other !== null) return { errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, errorMessage: collisionMessage(t.name, other) };
  let partitions = t.numPartitions;
  if (t.assignments.length > 0) {
    if (t.numPartitions !== -1 || t.replicationFactor !== -1) {
      return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: 'Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.' };
    }
    const indexes = t.assignments.map((a) => a.partitionIndex).sort((x, y) => x - y);
    if (indexes.some((p, i) => p !== i)) return { errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT, errorMessage: 'Partitions must be numbered 0..n-1 without gaps.' };
    for (const a of t.assignments) {
      if (a.brokerIds.length !== 1 || a.brokerIds[0] !== b.config.nodeId) {
        return { errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT, errorMessage: `Replicas must be exactly [${b.config.nodeId}] on this single-node cluster.` };
      }
    }
    partitions = t.assignments.length;
    if (partitions > b.config.partitionsPerTopicMax) return { errorCode: ErrorCode.INVALID_PARTITIONS, errorMessage: `Number of partitions is above the limit of ${b.config.partitionsPerTopicMax}.` };
  } else {
    if (partitions === -1) partitions = b.config.defaultPartitions;
    if (partitions <= 0) return { errorCode: ErrorCode.INVALID_PARTITIONS, errorMessage: 'Number of partitions must be larger than 0.' };
    if (partitions > b.config.partitionsPerTopicMax) return { errorCode: ErrorCode.INVALID_PARTITIONS, errorMessage: `Number of partitions is above the limit of ${b.config.partitionsPerTopicMax}.` };
    const rf = t.replicationFactor === -1 ? 1 : t.replicationFactor;
    if (rf <= 0) return { errorCode: ErrorCode.INVALID_REPLICATION_FACTOR, errorMessage: 'Replication factor must be larger than 0.' };
    if (rf > 1) return { errorCode: ErrorCode.INVALID_REPLICATION_FACTOR, errorMessage: `Replication factor: ${rf} larger than available brokers: 1.` };
  }
  const configs: Record<string, string> = {};
  for (const c of t.configs) {
    if (c.value === null) return { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: `Null value not supported for topic configs: ${c.name}` };
    configs[c.name] = c.value;
  }
  const bad = b.validateTopicConfigs(configs);
  if (bad) return bad;
  return { partitions, configs };
}

export const createTopicsHandler: ApiHandler<CreateTopicsRequest, CreateTopicsResponseIn> = {
  key: ApiKey.CreateTopics,
  minVersion: 0,
  maxVersion: 7,
  async handle(req, ctx) {
    const b = ctx.broker;
    const counts = new Map<string, number>();
    for (const t of req.topics) counts.set(t.name, (counts.get(t.name) ?? 0) + 1);
    const topics: CreatableTopicResultIn[] = [];
    // Counted once per request and grown as topics are accepted (validate-only ones too: the answer must say
    // whether the whole request would be accepted).
    let existing = brokerPartitionCount(b);
    for (const t of req.topics) {
      const base: CreatableTopicResultIn = { name: t.name, numPartitions: -1, replicationFactor: -1, configs: null };
      if (counts.get(t.name)! > 1) {
        topics.push({ ...base, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Create topics request from client contains multiple entries for topic ${t.name}` });
        continue;
      }
      const ok = check(b, t);
      if ('errorCode' in ok) {
        topics.push({ ...base, errorCode: ok.errorCode, errorMessage: ok.errorMessage });
        continue;
      }
      const overLimit = partitionLimitFailure(b, existing, ok.partitions);
      if (overLimit !== null) {
        topics.push({ ...base, errorCode: overLimit.errorCode, errorMessage: overLimit.errorMessage });
        continue;
      }
      existing += ok.partitions;
      let id: string | undefined;
      if (!req.validateOnly) {
        try {
          id = (await b.createTopic(t.name, ok.partitions, ok.configs)).id;
        } catch (err) {
          const code = (err as { code?: unknown }).code;
          if (code === 'TOPIC_ALREADY_EXISTS' || code === 'INVALID_TOPIC_EXCEPTION') {
            // INVALID_TOPIC_EXCEPTION: a topic colliding with this one ('.' vs '_') was created meanwhile
            topics.push({ ...base, errorCode: ErrorCode[code], errorMessage: (err as Error).message });
            continue;
          }
          b.logger.error({ err, topic: t.name }, 'create topic failed');
          topics.push({ ...base, errorCode: ErrorCode.KAFKA_STORAGE_ERROR, errorMessage: (err as Error).message });
          continue;
        }
      }
      const configs = describeTopicConfigs(b, ok.configs, null).map((c) => ({ name: c.name, value: c.value, readOnly: c.readOnly, configSource: c.source, isSensitive: false }));
      topics.push({ ...base, topicId: id, errorCode: 0, errorMessage: null, numPartitions: ok.partitions, replicationFactor: 1, configs });
    }
    return { throttleTimeMs: 0, topics };
  },
};
