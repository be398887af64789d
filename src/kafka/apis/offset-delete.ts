/**
 * OffsetDelete (key 47), v0 (KIP-496): deletes committed offsets of a group, refusing those of topics an
 * active consumer group subscribes to (GROUP_SUBSCRIBED_TO_TOPIC). Unknown partitions:
 * UNKNOWN_TOPIC_OR_PARTITION. A group-level error leaves the partition list empty, as in Kafka.
 */
import { ApiKey, type OffsetDeleteRequest, type OffsetDeleteResponseIn } from '../../protocol/messages/index.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../context.js';

export const offsetDeleteHandler: ApiHandler<OffsetDeleteRequest, OffsetDeleteResponseIn> = {
  key: ApiKey.OffsetDelete,
  minVersion: 0,
  maxVersion: 0,
  async handle(req, ctx) {
    const b = ctx.broker;
    const known: { topic: string; partition: number }[] = [];
    const errors = new Map<string, number>();
    for (const t of req.topics) {
      const topic = b.topics.get(t.name);
      for (const p of t.partitions) {
        if (topic === undefined || p.partitionIndex < 0 || p.partitionIndex >= topic.partitions) errors.set(`${t.name}\u0000${p.partitionIndex}`, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
        else known.push({ topic: t.name, partition: p.partitionIndex });
      }
    }
    const r = await b.groups.deleteOffsets(req.groupId, known);
    if (r.errorCode !== 0) return { errorCode: r.errorCode, throttleTimeMs: 0, topics: [] };
    for (const p of r.partitions) errors.set(`${p.topic}\u0000${p.partition}`, p.errorCode);
    return {
      errorCode: 0,
      throttleTimeMs: 0,
      topics: req.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: errors.get(`${t.name}\u0000${p.partitionIndex}`) ?? 0 })),
      })),
    };
  },
};
