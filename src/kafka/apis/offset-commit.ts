/**
 * OffsetCommit (key 8), v0-9. Retention follows the version (client-compat note 13):
 * - v1: a partition may carry its CommitTimestamp (-1: now); retention then counts from it.
 * - v2-4: RetentionTimeMs (-1: the broker's offsets.retention.minutes) gives an explicit expiry from now
 *   (kafka-python 2.0.2 commits with v2).
 * - v5+: no per-commit retention; offsets expire offsets.retention.minutes after the group becomes empty.
 * v0 has no generation or member (a "simple" commit); v7 adds group.instance.id; v9 is v8 for classic groups.
 * Partitions of topics that do not exist get UNKNOWN_TOPIC_OR_PARTITION, as in Kafka (`commitKnownPartitions`,
 * which TxnOffsetCommit shares).
 */
import { ApiKey, type OffsetCommitRequest, type OffsetCommitResponseIn } from '../../protocol/messages/index.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { OffsetCommitEntry, PartitionError } from '../../groups/index.js';
import type { ApiHandler, BrokerServices } from '../context.js';

/** One partition of a commit request, as both OffsetCommit and TxnOffsetCommit carry it. */
interface RequestPartition {
  partitionIndex: number;
}

/** The per-partition answer of a commit: every requested partition, in request order. */
export interface CommitAnswerTopic {
  name: string;
  partitions: { partitionIndex: number; errorCode: number }[];
}

/**
 * What OffsetCommit and TxnOffsetCommit share: partitions of topics that do not exist (or beyond their partition
 * count) get UNKNOWN_TOPIC_OR_PARTITION, as in Kafka; the others become entries (`entry`) committed in one call
 * (`commit`, not made when there are none). Every requested partition is answered in request order, with the
 * coordinator's code (UNKNOWN_SERVER_ERROR for one it left out).
 */
export async function commitKnownPartitions<P extends RequestPartition, E>(
  broker: Pick<BrokerServices, 'topics'>,
  topics: readonly { name: string; partitions: readonly P[] }[],
  entry: (topic: string, p: P) => E,
  commit: (entries: E[]) => Promise<readonly PartitionError[]>,
): Promise<CommitAnswerTopic[]> {
  const entries: E[] = [];
  const errors = new Map<string, number>();
  for (const t of topics) {
    const topic = broker.topics.get(t.name);
    for (const p of t.partitions) {
      if (topic === undefined || p.partitionIndex < 0 || p.partitionIndex >= topic.partitions) {
        errors.set(`${t.name}\u0000${p.partitionIndex}`, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
        continue;
      }
      entries.push(entry(t.name, p));
    }
  }
  if (entries.length > 0) {
    for (const r of await commit(entries)) errors.set(`${r.topic}\u0000${r.partition}`, r.errorCode);
  }
  return topics.map((t) => ({
    name: t.name,
    partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: errors.get(`${t.name}\u0000${p.partitionIndex}`) ?? ErrorCode.UNKNOWN_SERVER_ERROR })),
  }));
}

export const offsetCommitHandler: ApiHandler<OffsetCommitRequest, OffsetCommitResponseIn> = {
  key: ApiKey.OffsetCommit,
  minVersion: 0,
  maxVersion: 9,
  async handle(req, ctx) {
    const v = ctx.apiVersion;
    const b = ctx.broker;
    const retentionMs = v >= 2 && v <= 4 ? req.retentionTimeMs : -1;
    const topics = await commitKnownPartitions(
      b,
      req.topics,
      (topic, p): OffsetCommitEntry => ({
        topic,
        partition: p.partitionIndex,
        offset: p.committedOffset,
        leaderEpoch: v >= 6 ? p.committedLeaderEpoch : -1,
        metadata: p.committedMetadata,
        commitTimestamp: v === 1 ? p.commitTimestamp : -1,
        retentionMs: retentionMs < 0 ? -1 : retentionMs,
      }),
      (entries) =>
        b.groups.commitOffsets(
          { groupId: req.groupId, generationId: v >= 1 ? req.generationIdOrMemberEpoch : -1, memberId: v >= 1 ? req.memberId : '', groupInstanceId: v >= 7 ? req.groupInstanceId : null },
          entries,
        ),
    );
    return { throttleTimeMs: 0, topics };
  },
};
