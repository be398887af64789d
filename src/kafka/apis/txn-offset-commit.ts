/**
 * TxnOffsetCommit (key 28), v0-3: a transactional producer commits a consumer group's offsets inside its
 * transaction (KIP-98; `sendOffsetsToTransaction`, kafkajs `transaction.sendOffsets`). The offsets stay pending,
 * invisible to OffsetFetch, until the transaction's COMMIT marker lands on the group's `__consumer_offsets`
 * partition (src/groups/coordinator.ts, txnOffsetCommit and completeTxn).
 *
 *   TxnOffsetCommit Request => transactional_id group_id producer_id producer_epoch
 *                              [generation_id member_id group_instance_id (v3+)] [topics]
 *     topics => name [partitions]
 *       partitions => partition_index committed_offset [committed_leader_epoch (v2+)] committed_metadata
 *   TxnOffsetCommit Response => throttle_time_ms [topics]
 *     topics => name [partitions => partition_index error_code]
 *
 * - v0-2 carry no member: the coordinator skips the member and generation checks; v3 (KIP-447) checks them
 *   (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID). v3 is the first flexible version.
 * - v4 (KIP-890 part 2: the partition added implicitly) is not served: every client here sends 3 at most
 *   (shared/kafka/client-compat.md).
 * - Partitions of topics that do not exist: UNKNOWN_TOPIC_OR_PARTITION, as in Kafka; the others get the group's
 *   answer (COORDINATOR_NOT_AVAILABLE / NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS, INVALID_GROUP_ID,
 *   OFFSET_METADATA_TOO_LARGE, INVALID_PRODUCER_EPOCH, the TxnVerifier's error, INVALID_COMMIT_OFFSET_SIZE when
 *   the pending transactional offsets of the group's partition are at their limit).
 */
import { ApiKey, type TxnOffsetCommitRequest, type TxnOffsetCommitResponseIn } from '../../protocol/messages/index.js';
import type { TxnOffsetCommitEntry } from '../../groups/index.js';
import type { ApiHandler } from '../context.js';
import { commitKnownPartitions } from './offset-commit.js';

export const txnOffsetCommitHandler: ApiHandler<TxnOffsetCommitRequest, TxnOffsetCommitResponseIn> = {
  key: ApiKey.TxnOffsetCommit,
  minVersion: 0,
  maxVersion: 3,
  async handle(req, ctx) {
    const v = ctx.apiVersion;
    const b = ctx.broker;
    const topics = await commitKnownPartitions(
      b,
      req.topics,
      (topic, p): TxnOffsetCommitEntry => ({
        topic,
        partition: p.partitionIndex,
        offset: p.committedOffset,
        leaderEpoch: v >= 2 ? p.committedLeaderEpoch : -1,
        metadata: p.committedMetadata,
      }),
      (entries) =>
        b.groups.txnOffsetCommit(
          {
            transactionalId: req.transactionalId,
            groupId: req.groupId,
            producerId: req.producerId,
            producerEpoch: req.producerEpoch,
            memberId: v >= 3 ? req.memberId : '',
            generationId: v >= 3 ? req.generationId : -1,
            groupInstanceId: v >= 3 ? req.groupInstanceId : null,
          },
          entries,
        ),
    );
    return { throttleTimeMs: 0, topics };
  },
};
