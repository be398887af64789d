/**
 * Consumer-group admin requests (tern group): find a group's coordinator, list, describe, fetch and commit
 * offsets ("simple" commits: generation -1, no member, allowed only while the group has no members), delete.
 * Each group request goes to the group's coordinator (FindCoordinator); COORDINATOR_LOAD_IN_PROGRESS,
 * COORDINATOR_NOT_AVAILABLE and NOT_COORDINATOR are retried a few times.
 */
import { ErrorCode } from '../protocol/errors.js';
import { ApiKey } from '../protocol/messages/index.js';
import { KafkaError, kafkaError } from './errors.js';
import type { Connection } from './connection.js';
import type { Router } from './router.js';

export interface GroupListing {
  groupId: string;
  protocolType: string;
  state: string;
}

export interface GroupMemberInfo {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  metadata: Buffer;
  assignment: Buffer;
}

export interface GroupInfo {
  groupId: string;
  error: KafkaError | null;
  state: string;
  protocolType: string;
  protocol: string;
  members: GroupMemberInfo[];
}

export interface CommittedOffsetInfo {
  topic: string;
  partition: number;
  offset: number;
  metadata: string | null;
}

const COORDINATOR_RETRIES_MAX = 10;
const COORDINATOR_RETRY_MS = 200;
const RETRIABLE = new Set<number>([ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, ErrorCode.COORDINATOR_NOT_AVAILABLE, ErrorCode.NOT_COORDINATOR]);

export async function coordinator(router: Router, groupId: string): Promise<Connection> {
  const conn = await router.any();
  const resp = await conn.request(ApiKey.FindCoordinator, { key: groupId, keyType: 0 });
  const err = kafkaError(resp.errorCode, resp.errorMessage);
  if (err !== null) throw err;
  return router.node(resp.nodeId);
}

/** Runs `fn` against the group's coordinator; retries while it is loading or moved. */
async function withCoordinator<T>(router: Router, groupId: string, fn: (c: Connection) => Promise<{ errorCode: number; value: T }>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const r = await fn(await coordinator(router, groupId));
    if (r.errorCode === ErrorCode.NONE) return r.value;
    if (!RETRIABLE.has(r.errorCode) || attempt >= COORDINATOR_RETRIES_MAX) throw new KafkaError(r.errorCode, `group '${groupId}'`);
    await new Promise((res) => setTimeout(res, COORDINATOR_RETRY_MS));
  }
}

/** Every group of every broker (ListGroups is answered per broker for the groups it coordinates). */
export async function listGroups(router: Router, states: readonly string[] = []): Promise<GroupListing[]> {
  const md = await router.metadata([]);
  const out: GroupListing[] = [];
  for (const b of md.brokers) {
    const conn = await router.node(b.nodeId);
    const version = conn.requireVersion(ApiKey.ListGroups);
    if (states.length > 0 && version < 4) throw new KafkaError(ErrorCode.UNSUPPORTED_VERSION, `filtering groups by state needs ListGroups v4; broker ${conn.broker} supports v${version}`);
    const resp = await conn.request(ApiKey.ListGroups, { statesFilter: [...states], typesFilter: [] });
    const err = kafkaError(resp.errorCode, null);
    if (err !== null) throw err;
    for (const g of resp.groups) out.push({ groupId: g.groupId, protocolType: g.protocolType, state: g.groupState });
  }
  return out.sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0));
}

export async function describeGroup(router: Router, groupId: string): Promise<GroupInfo> {
  return withCoordinator(router, groupId, async (conn) => {
    const resp = await conn.request(ApiKey.DescribeGroups, { groups: [groupId], includeAuthorizedOperations: false });
    const g = resp.groups[0];
    if (g === undefined) throw new KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR, `DescribeGroups answered no group for '${groupId}'`);
    return {
      errorCode: g.errorCode,
      value: {
        groupId,
        error: null,
        state: g.groupState,
        protocolType: g.protocolType,
        protocol: g.protocolData,
        members: g.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, clientId: m.clientId, clientHost: m.clientHost, metadata: Buffer.from(m.memberMetadata), assignment: Buffer.from(m.memberAssignment) })),
      },
    };
  });
}

/** The group's committed offsets (all of them). */
export async function fetchOffsets(router: Router, groupId: string): Promise<CommittedOffsetInfo[]> {
  return withCoordinator(router, groupId, async (conn) => {
    const resp = await conn.request(ApiKey.OffsetFetch, { groupId, topics: null, requireStable: false });
    const value: CommittedOffsetInfo[] = [];
    for (const t of resp.topics) for (const p of t.partitions) if (p.errorCode === 0 && p.committedOffset >= 0) value.push({ topic: t.name, partition: p.partitionIndex, offset: p.committedOffset, metadata: p.metadata });
    return { errorCode: resp.errorCode, value };
  });
}

/** Commits offsets as a standalone consumer (generation -1): the group must have no active members. */
export async function commitOffsets(router: Router, groupId: string, offsets: readonly { topic: string; partition: number; offset: number }[]): Promise<{ topic: string; partition: number; error: KafkaError | null }[]> {
  const byTopic = new Map<string, { partitionIndex: number; committedOffset: number; committedLeaderEpoch: number; committedMetadata: string | null }[]>();
  for (const o of offsets) byTopic.set(o.topic, [...(byTopic.get(o.topic) ?? []), { partitionIndex: o.partition, committedOffset: o.offset, committedLeaderEpoch: -1, committedMetadata: '' }]);
  return withCoordinator(router, groupId, async (conn) => {
    const resp = await conn.request(ApiKey.OffsetCommit, { groupId, generationIdOrMemberEpoch: -1, memberId: '', groupInstanceId: null, retentionTimeMs: -1, topics: [...byTopic].map(([name, partitions]) => ({ name, partitions })) });
    const value = resp.topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partitionIndex, error: kafkaError(p.errorCode, null, { topic: t.name, partition: p.partitionIndex }) })));
    const retry = value.find((v) => v.error !== null && RETRIABLE.has(v.error.code));
    return { errorCode: retry?.error?.code ?? ErrorCode.NONE, value };
  });
}

export async function deleteGroups(router: Router, groupIds: readonly string[]): Promise<{ name: string; error: KafkaError | null }[]> {
  const out: { name: string; error: KafkaError | null }[] = [];
  for (const id of groupIds) {
    const error = await withCoordinator(router, id, async (conn) => {
      const resp = await conn.request(ApiKey.DeleteGroups, { groupsNames: [id] });
      const code = resp.results[0]?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR;
      return { errorCode: RETRIABLE.has(code) ? code : ErrorCode.NONE, value: kafkaError(code, null) };
    });
    out.push({ name: id, error });
  }
  return out;
}
