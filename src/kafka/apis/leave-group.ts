/**
 * LeaveGroup (key 13), v0-5. v0-2 name one member (its error is the response's error); v3+ a batch of
 * members, by member id or by group.instance.id (KIP-345: an admin may remove static members), each with its
 * own error.
 */
import { ApiKey, type LeaveGroupRequest, type LeaveGroupResponseIn } from '../../protocol/messages/index.js';
import type { ApiHandler } from '../context.js';

export const leaveGroupHandler: ApiHandler<LeaveGroupRequest, LeaveGroupResponseIn> = {
  key: ApiKey.LeaveGroup,
  minVersion: 0,
  maxVersion: 5,
  async handle(req, ctx) {
    const v = ctx.apiVersion;
    const members = v >= 3 ? req.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId })) : [{ memberId: req.memberId, groupInstanceId: null }];
    const r = await ctx.broker.groups.leaveGroup(req.groupId, members);
    if (v < 3) return { throttleTimeMs: 0, errorCode: r.errorCode !== 0 ? r.errorCode : (r.members[0]?.errorCode ?? 0), members: [] };
    return { throttleTimeMs: 0, errorCode: r.errorCode, members: r.members };
  },
};
