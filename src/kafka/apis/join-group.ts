/**
 * JoinGroup (key 11), v0-9. The request waits in the coordinator until the group's join phase completes
 * (every member rejoined, the rebalance timeout, or the initial rebalance delay of a group that was empty).
 * - v0 has no RebalanceTimeoutMs: the session timeout stands for it (as Kafka; -1 loops some clients).
 * - v4+: a member without an id is answered MEMBER_ID_REQUIRED with one, and rejoins with it (KIP-394);
 *   v0-3 clients (kafka-python 2.0.2 uses v2) get an id and join at once.
 * - v5+ carries group.instance.id (static membership, KIP-345); v7+ answers ProtocolType; v9 SkipAssignment.
 * Protocol metadata is copied out of the request (it lives as long as the group; the request's bytes are
 * views of a socket read).
 */
import { ApiKey, type JoinGroupRequest, type JoinGroupResponseIn } from '../../protocol/messages/index.js';
import type { ApiHandler } from '../context.js';

export const joinGroupHandler: ApiHandler<JoinGroupRequest, JoinGroupResponseIn> = {
  key: ApiKey.JoinGroup,
  minVersion: 0,
  maxVersion: 9,
  async handle(req, ctx) {
    const v = ctx.apiVersion;
    const r = await ctx.broker.groups.joinGroup({
      groupId: req.groupId,
      memberId: req.memberId,
      groupInstanceId: v >= 5 ? req.groupInstanceId : null,
      requireKnownMemberId: v >= 4,
      supportsSkipAssignment: v >= 9,
      clientId: ctx.clientId ?? '',
      clientHost: ctx.clientHost ?? '',
      sessionTimeoutMs: req.sessionTimeoutMs,
      rebalanceTimeoutMs: v >= 1 ? req.rebalanceTimeoutMs : req.sessionTimeoutMs,
      protocolType: req.protocolType,
      protocols: req.protocols.map((p) => ({ name: p.name, metadata: Buffer.from(p.metadata) })),
    });
    return {
      throttleTimeMs: 0,
      errorCode: r.errorCode,
      generationId: r.generationId,
      protocolType: r.protocolType,
      // Not nullable before v7.
      protocolName: v >= 7 ? r.protocolName : (r.protocolName ?? ''),
      leader: r.leader,
      skipAssignment: r.skipAssignment,
      memberId: r.memberId,
      members: r.members,
    };
  },
};
