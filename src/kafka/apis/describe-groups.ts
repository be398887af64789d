/**
 * DescribeGroups (key 15), v0-5. A group that does not exist is reported as state "Dead" with no error, as
 * Kafka does before v6. Member metadata and assignments are reported only while the group is Stable.
 */
import { ApiKey, type DescribeGroupsRequest, type DescribeGroupsResponseIn } from '../../protocol/messages/index.js';
import type { ApiHandler } from '../context.js';
import { GROUP_OPERATIONS, NO_AUTHORIZED_OPERATIONS } from './acl-operations.js';

export const describeGroupsHandler: ApiHandler<DescribeGroupsRequest, DescribeGroupsResponseIn> = {
  key: ApiKey.DescribeGroups,
  minVersion: 0,
  maxVersion: 5,
  async handle(req, ctx) {
    const groups = [];
    for (const id of req.groups) {
      const d = await ctx.broker.groups.describeGroup(id);
      groups.push({
        errorCode: d.errorCode,
        groupId: d.groupId,
        groupState: d.state,
        protocolType: d.protocolType,
        protocolData: d.protocolData,
        members: d.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, clientId: m.clientId, clientHost: m.clientHost, memberMetadata: m.metadata, memberAssignment: m.assignment })),
        authorizedOperations: req.includeAuthorizedOperations ? GROUP_OPERATIONS : NO_AUTHORIZED_OPERATIONS,
      });
    }
    return { throttleTimeMs: 0, groups };
  },
};
