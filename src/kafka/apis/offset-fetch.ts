/**
 * OffsetFetch (key 9), v0-9. A partition without a committed offset answers offset -1.
 * - v0-1: one group, named partitions; a group-level error is reported in every partition.
 * - v2-7: Topics null means every committed offset of the group; the group's error is top-level.
 * - v5+: committed leader epoch; v7+ RequireStable: a partition with offsets pending in an open transaction
 *   answers UNSTABLE_OFFSET_COMMIT (the client retries); older versions get the committed offset.
 * - v8+: several groups per request, each with its own error (v9's member id/epoch are for KIP-848 groups
 *   and ignored for classic ones).
 */
import { ApiKey, type OffsetFetchRequest, type OffsetFetchResponseIn } from '../../protocol/messages/index.js';
import type { FetchedOffset, GroupService } from '../../groups/index.js';
import type { ApiHandler } from '../context.js';

interface Fetched {
  errorCode: number;
  topics: { name: string; partitions: { partitionIndex: number; committedOffset: number; committedLeaderEpoch: number; metadata: string; errorCode: number }[] }[];
}

async function fetchGroup(groups: GroupService, groupId: string, topics: readonly { name: string; partitionIndexes: number[] }[] | null, requireStable: boolean): Promise<Fetched> {
  const r = await groups.fetchOffsets(groupId, topics === null ? null : topics.map((t) => ({ topic: t.name, partitions: t.partitionIndexes })), requireStable);
  const byTopic = new Map<string, FetchedOffset[]>();
  for (const o of r.offsets) byTopic.set(o.topic, [...(byTopic.get(o.topic) ?? []), o]);
  return {
    errorCode: r.errorCode,
    topics: [...byTopic].map(([name, ps]) => ({
      name,
      partitions: ps.map((o) => ({ partitionIndex: o.partition, committedOffset: o.offset, committedLeaderEpoch: o.leaderEpoch, metadata: o.metadata, errorCode: o.errorCode })),
    })),
  };
}

export const offsetFetchHandler: ApiHandler<OffsetFetchRequest, OffsetFetchResponseIn> = {
  key: ApiKey.OffsetFetch,
  minVersion: 0,
  maxVersion: 9,
  async handle(req, ctx) {
    const v = ctx.apiVersion;
    const groups = ctx.broker.groups;
    const requireStable = v >= 7 && req.requireStable;
    if (v >= 8) {
      const out = [];
      for (const g of req.groups) {
        const f = await fetchGroup(groups, g.groupId, g.topics, requireStable);
        out.push({ groupId: g.groupId, errorCode: f.errorCode, topics: f.errorCode === 0 ? f.topics : [] });
      }
      return { throttleTimeMs: 0, groups: out };
    }
    const topics = v >= 2 ? req.topics : (req.topics ?? []);
    const f = await fetchGroup(groups, req.groupId, topics, requireStable);
    if (f.errorCode !== 0) {
      if (v >= 2) return { throttleTimeMs: 0, errorCode: f.errorCode, topics: [] };
      // v0-1 have no top-level error: every asked partition carries it.
      return {
        throttleTimeMs: 0,
        topics: (topics ?? []).map((t) => ({
          name: t.name,
          partitions: t.partitionIndexes.map((p) => ({ partitionIndex: p, committedOffset: -1, committedLeaderEpoch: -1, metadata: '', errorCode: f.errorCode })),
        })),
      };
    }
    return { throttleTimeMs: 0, errorCode: 0, topics: f.topics };
  },
};
