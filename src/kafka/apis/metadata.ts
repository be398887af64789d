/**
 * Metadata (key 3), v0-12. Brokers (this node), cluster id, controller, and topics with their partitions.
 * - v0: an empty topic list means all topics; v1+: null means all, empty means none.
 * - Auto-creation (`auto.create.topics.enable`, num.partitions) for named topics: always allowed before v4,
 *   per AllowAutoTopicCreation from v4. The topic is created before the answer, so it is usable at once. An
 *   internal topic is created by its coordinator, with its own partition count and configs (internal-topics.ts).
 *   A name that differs from an existing topic's only by '.' vs '_' is not created: INVALID_TOPIC_EXCEPTION.
 * - v10+ carries topic ids (stable, non-zero); v12 may look topics up by id (null name).
 * - Authorized operations are reported only when asked (v8+); without ACLs every operation is allowed.
 */
import { ApiKey, type MetadataRequest, type MetadataResponseIn } from '../../protocol/messages/index.js';
import { ErrorCode } from '../../protocol/errors.js';
import { ZERO_UUID } from '../../protocol/codec.js';
import { topicNameError, type TopicRecord } from '../../cluster/index.js';
import type { ApiHandler, BrokerServices } from '../context.js';
import { CLUSTER_OPERATIONS, NO_AUTHORIZED_OPERATIONS, TOPIC_OPERATIONS } from './acl-operations.js';
import { OFFSETS_TOPIC } from '../../groups/index.js';
import { TRANSACTION_STATE_TOPIC } from '../../txn/index.js';
import { ensureInternalTopic, isInternalTopic } from './internal-topics.js';

type TopicOut = NonNullable<MetadataResponseIn['topics']>[number];

export function brokersOf(b: BrokerServices): { nodeId: number; host: string; port: number; rack: null }[] {
  return [{ nodeId: b.config.nodeId, host: b.config.advertise.host, port: b.config.advertise.port, rack: null }];
}

function describeTopic(b: BrokerServices, t: TopicRecord, includeOps: boolean): TopicOut {
  const node = b.config.nodeId;
  const partitions = [];
  for (let p = 0; p < t.partitions; p++) {
    // A topic enters the table before its partition logs exist (CreateTopics or auto-creation still running,
    // possibly for another connection): such a partition has no leader yet, and a client told otherwise would
    // produce into UNKNOWN_TOPIC_OR_PARTITION. LEADER_NOT_AVAILABLE makes it refresh metadata and retry.
    // (An offline partition, whose storage failed at start-up, keeps its leader: requests to it answer
    // KAFKA_STORAGE_ERROR.)
    if (b.partitions.state(t.name, p) === 'missing') {
      partitions.push({ errorCode: ErrorCode.LEADER_NOT_AVAILABLE, partitionIndex: p, leaderId: -1, leaderEpoch: -1, replicaNodes: [node], isrNodes: [], offlineReplicas: [] });
      continue;
    }
    partitions.push({ errorCode: 0, partitionIndex: p, leaderId: node, leaderEpoch: 0, replicaNodes: [node], isrNodes: [node], offlineReplicas: [] });
  }
  return { errorCode: 0, name: t.name, topicId: t.id, isInternal: t.name === OFFSETS_TOPIC || t.name === TRANSACTION_STATE_TOPIC, partitions, topicAuthorizedOperations: includeOps ? TOPIC_OPERATIONS : NO_AUTHORIZED_OPERATIONS };
}

export const metadataHandler: ApiHandler<MetadataRequest, MetadataResponseIn> = {
  key: ApiKey.Metadata,
  minVersion: 0,
  maxVersion: 12,
  async handle(req, ctx) {
    const b = ctx.broker;
    const v = ctx.apiVersion;
    const includeOps = req.includeTopicAuthorizedOperations;
    const allowAutoCreate = b.config.autoCreateTopics && (v < 4 || req.allowAutoTopicCreation);
    const all = req.topics === null || (v === 0 && req.topics.length === 0);
    const topics: TopicOut[] = [];
    if (all) {
      for (const t of b.topics.list()) topics.push(describeTopic(b, t, includeOps));
    } else {
      for (const rt of req.topics!) {
        if (rt.name === null) {
          const t = rt.topicId === ZERO_UUID ? undefined : b.topics.getById(rt.topicId);
          topics.push(t ? describeTopic(b, t, includeOps) : { errorCode: ErrorCode.UNKNOWN_TOPIC_ID, name: null, topicId: rt.topicId, partitions: [] });
          continue;
        }
        const name = rt.name;
        let t = b.topics.get(name);
        if (!t) {
          const invalid = topicNameError(name);
          if (invalid) {
            topics.push({ errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, name, partitions: [] });
            continue;
          }
          if (!allowAutoCreate) {
            topics.push({ errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name, partitions: [] });
            continue;
          }
          try {
            if (isInternalTopic(name)) {
              if (!(await ensureInternalTopic(b, name))) throw new Error(`creating ${name} failed`);
              t = b.topics.get(name);
              if (!t) throw new Error(`${name} is not in the topic table after its creation`);
            } else {
              t = b.topics.get(name) ?? (await (b.pendingTopic(name) ?? b.createTopic(name, b.config.defaultPartitions, {})));
            }
          } catch (err) {
            // A name colliding with an existing topic's ('.' vs '_') is refused for good: Kafka's synchronous
            // auto-creation (AutoTopicCreationManager.createTopicsInZk) answers the creation's INVALID_TOPIC_EXCEPTION
            // as it is. Anything else may pass: retriable.
            if ((err as { code?: unknown }).code === 'INVALID_TOPIC_EXCEPTION') {
              topics.push({ errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, name, partitions: [] });
              continue;
            }
            b.logger.warn({ err, topic: name }, 'auto-create failed');
            topics.push({ errorCode: ErrorCode.LEADER_NOT_AVAILABLE, name, partitions: [] });
            continue;
          }
        }
        topics.push(describeTopic(b, t, includeOps));
      }
    }
    return {
      throttleTimeMs: 0,
      brokers: brokersOf(b),
      clusterId: b.topics.clusterId,
      controllerId: b.config.nodeId,
      topics,
      clusterAuthorizedOperations: req.includeClusterAuthorizedOperations ? CLUSTER_OPERATIONS : NO_AUTHORIZED_OPERATIONS,
    };
  },
};
