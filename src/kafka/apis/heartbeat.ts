/** Heartbeat (key 12), v0-4: keeps a member's session; REBALANCE_IN_PROGRESS tells it to rejoin. */
import { ApiKey, type HeartbeatRequest, type HeartbeatResponseIn } from '../../protocol/messages/index.js';
import type { ApiHandler } from '../context.js';

export const heartbeatHandler: ApiHandler<HeartbeatRequest, HeartbeatResponseIn> = {
  key: ApiKey.Heartbeat,
  minVersion: 0,
  maxVersion: 4,
  async handle(req, ctx) {
    const errorCode = await ctx.broker.groups.heartbeat({
      groupId: req.groupId,
      generationId: req.generationId,
      memberId: req.memberId,
      groupInstanceId: ctx.apiVersion >= 3 ? req.groupInstanceId : null,
    });
    return { throttleTimeMs: 0, errorCode };
  },
};
