/**
 * ListGroups (key 16), v0-5. v4+ filters by state (case-insensitive, as Kafka's admin sends "Stable"...),
 * v5+ by group type: every Tern group is a "classic" group (KIP-848 groups are not implemented).
 * COORDINATOR_LOAD_IN_PROGRESS while a partition of __consumer_offsets is still loading.
 */
import { ApiKey, type ListGroupsRequest, type ListGroupsResponseIn } from '../../protocol/messages/index.js';
import type { ApiHandler } from '../context.js';

const CLASSIC = 'classic';

export const listGroupsHandler: ApiHandler<ListGroupsRequest, ListGroupsResponseIn> = {
  key: ApiKey.ListGroups,
  minVersion: 0,
  maxVersion: 5,
  async handle(req, ctx) {
    const v = ctx.apiVersion;
    const r = await ctx.broker.groups.listGroups(v >= 4 ? req.statesFilter : []);
    const types = v >= 5 ? req.typesFilter.map((t) => t.toLowerCase()) : [];
    const groups = types.length > 0 && !types.includes(CLASSIC) ? [] : r.groups;
    return {
      throttleTimeMs: 0,
      errorCode: r.errorCode,
      groups: groups.map((g) => ({ groupId: g.groupId, protocolType: g.protocolType, groupState: g.state, groupType: CLASSIC })),
    };
  },
};
