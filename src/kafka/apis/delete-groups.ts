/** DeleteGroups (key 42), v0-2: only empty groups (NON_EMPTY_GROUP); their offsets and metadata are tombstoned. */
import { ApiKey, type DeleteGroupsRequest, type DeleteGroupsResponseIn } from '../../protocol/messages/index.js';
import type { ApiHandler } from '../context.js';

export const deleteGroupsHandler: ApiHandler<DeleteGroupsRequest, DeleteGroupsResponseIn> = {
  key: ApiKey.DeleteGroups,
  minVersion: 0,
  maxVersion: 2,
  async handle(req, ctx) {
    const results = [];
    for (const groupId of req.groupsNames) results.push({ groupId, errorCode: await ctx.broker.groups.deleteGroup(groupId) });
    return { throttleTimeMs: 0, results };
  },
};
