/**
 * SyncGroup (key 14), v0-5. The leader sends every member's assignment; each member's request waits until
 * the leader's has been stored, then gets its own assignment. v5 carries ProtocolType/ProtocolName, checked
 * against the group's (INCONSISTENT_GROUP_PROTOCOL). Assignments are copied out of the request.
 */
import { ApiKey, type SyncGroupRequest, type SyncGroupResponseIn } from '../../protocol/messages/index.js';
import type { ApiHandler } from '../context.js';

export const syncGroupHandler: ApiHandler<SyncGroupRequest, SyncGroupResponseIn> = {
  key: ApiKey.SyncGroup,
  minVersion: 0,
  maxVersion: 5,
  async handle(req, ctx) {
    const v = ctx.apiVersion;
    const r = await ctx.broker.groups.syncGroup({
      groupId: req.groupId,
      generationId: req.generationId,
      memberId: req.memberId,
      groupInstanceId: v >= 3 ? req.groupInstanceId : null,
      protocolType: v >= 5 ? req.protocolType : null,
      protocolName: v >= 5 ? req.protocolName : null,
      assignments: req.assignments.map((a) => ({ memberId: a.memberId, assignment: Buffer.from(a.assignment) })),
    });
    return { throttleTimeMs: 0, errorCode: r.errorCode, protocolType: r.protocolType, protocolName: r.protocolName, assignment: r.assignment };
  },
};
