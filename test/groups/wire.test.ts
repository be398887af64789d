/**
 * The group APIs through a real socket and the generated codecs, per version: lazy creation of the internal
 * topic, version-specific rules (JoinGroup v0 rebalance timeout, MEMBER_ID_REQUIRED only v4+, OffsetCommit v2
 * retention, OffsetFetch v1 and v8 multi-group, ListGroups state filter), and malformed or oversized requests
 * answered with error codes or a closed connection, never a crash.
 */
import { describe, expect, it } from 'vitest';
import { ApiKey } from '../../src/protocol/messages/index.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { encodeAssignment, encodeSubscription } from '../../src/groups/consumer-protocol.js';
import { closesWithin, createTopic, metadata, testBroker, WireClient } from '../kafka/helpers.js';

const sub = encodeSubscription(['wt']);

async function setup(): Promise<{ c: WireClient; port: number }> {
  const tb = await testBroker({ offsetsTopicPartitions: 3, groupInitialRebalanceDelayMs: 0 }, { groupMemberMetadataBytesMax: 1024 });
  const c = await WireClient.connect(tb.port);
  await createTopic(c, 'wt', 2);
  return { c, port: tb.port };
}

function joinBody(groupId: string, o: Record<string, unknown> = {}): Record<string, unknown> {
  return { groupId, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, memberId: '', groupInstanceId: null, protocolType: 'consumer', protocols: [{ name: 'range', metadata: sub }], ...o };
}

describe('group APIs on the wire', () => {
  it('FindCoordinator creates __consumer_offsets (internal, offsets.topic.num.partitions) and names this node', async () => {
    const { c, port } = await setup();
    const before = await metadata(c, 9, null);
    expect(before.topics.map((t: { name: string }) => t.name)).not.toContain('__consumer_offsets');
    const fc = await c.request(ApiKey.FindCoordinator, 0, { key: 'g1' });
    expect(fc).toMatchObject({ errorCode: 0, port });
    const batched = await c.request(ApiKey.FindCoordinator, 4, { keyType: 0, coordinatorKeys: ['g1', 'g2', ''] });
    expect(batched.coordinators.map((x: { errorCode: number }) => x.errorCode)).toEqual([0, 0, ErrorCode.INVALID_REQUEST]);
    const md = await metadata(c, 9, null);
    const internal = md.topics.find((t: { name: string }) => t.name === '__consumer_offsets');
    expect(internal).toMatchObject({ isInternal: true });
    expect(internal.partitions).toHaveLength(3);
    // Clients cannot write it.
    const { recordsOf } = await import('../kafka/helpers.js');
    const p = await c.request(ApiKey.Produce, 7, { acks: -1, timeoutMs: 1000, transactionalId: null, topicData: [{ name: '__consumer_offsets', partitionData: [{ index: 0, records: recordsOf(['x']) }] }] });
    expect(p.responses[0].partitionResponses[0].errorCode).toBe(ErrorCode.INVALID_TOPIC_EXCEPTION);
  });

  it('JoinGroup: v0 uses the session timeout as rebalance timeout; MEMBER_ID_REQUIRED only from v4', async () => {
    const { c } = await setup();
    const v0 = await c.request(ApiKey.JoinGroup, 0, joinBody('v0-group'));
    expect(v0.errorCode).toBe(0);
    expect(v0.generationId).toBe(1);
    expect(v0.leader).toBe(v0.memberId);
    const v2 = await c.request(ApiKey.JoinGroup, 2, joinBody('v2-group'));
    expect(v2.errorCode).toBe(0);
    const v4 = await c.request(ApiKey.JoinGroup, 4, joinBody('v4-group'));
    expect(v4.errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);
    expect(v4.memberId).not.toBe('');
    const v4b = await c.request(ApiKey.JoinGroup, 4, joinBody('v4-group', { memberId: v4.memberId }));
    expect(v4b.errorCode).toBe(0);
    expect(v4b.memberId).toBe(v4.memberId);
    // Sync (v0), heartbeat (v0), describe (v0), leave (v0).
    const asg = encodeAssignment([{ topic: 'wt', partitions: [0, 1] }]);
    const s = await c.request(ApiKey.SyncGroup, 0, { groupId: 'v0-group', generationId: 1, memberId: v0.memberId, assignments: [{ memberId: v0.memberId, assignment: asg }] });
    expect(s.errorCode).toBe(0);
    expect(Buffer.from(s.assignment).equals(asg)).toBe(true);
    expect((await c.request(ApiKey.Heartbeat, 0, { groupId: 'v0-group', generationId: 1, memberId: v0.memberId })).errorCode).toBe(0);
    const d = await c.request(ApiKey.DescribeGroups, 0, { groups: ['v0-group', 'nope'] });
    expect(d.groups[0]).toMatchObject({ errorCode: 0, groupState: 'Stable', protocolType: 'consumer', protocolData: 'range' });
    expect(d.groups[0].members[0].clientHost).toBe('/127.0.0.1');
    expect(d.groups[1]).toMatchObject({ errorCode: 0, groupState: 'Dead' });
    const l = await c.request(ApiKey.ListGroups, 4, { statesFilter: ['Stable'] });
    expect(l.groups.map((g: { groupId: string }) => g.groupId)).toEqual(['v0-group']);
    const completing = await c.request(ApiKey.ListGroups, 4, { statesFilter: ['completingrebalance'] });
    expect(completing.groups.map((g: { groupId: string }) => g.groupId)).toEqual(['v2-group', 'v4-group']);
    expect((await c.request(ApiKey.ListGroups, 4, { statesFilter: ['Empty'] })).groups).toEqual([]);
    expect((await c.request(ApiKey.ListGroups, 5, { statesFilter: [], typesFilter: ['consumer'] })).groups).toEqual([]);
    expect((await c.request(ApiKey.LeaveGroup, 0, { groupId: 'v0-group', memberId: v0.memberId })).errorCode).toBe(0);
    expect((await c.request(ApiKey.LeaveGroup, 0, { groupId: 'v0-group', memberId: 'ghost' })).errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    const batch = await c.request(ApiKey.LeaveGroup, 3, { groupId: 'v2-group', members: [{ memberId: v2.memberId, groupInstanceId: null }, { memberId: 'ghost', groupInstanceId: null }] });
    expect(batch.errorCode).toBe(0);
    expect(batch.members.map((m: { errorCode: number }) => m.errorCode)).toEqual([0, ErrorCode.UNKNOWN_MEMBER_ID]);
  });

  it('OffsetCommit v2 (retention) / v0 (simple), OffsetFetch v1 and v8 multi-group, OffsetDelete, DeleteGroups', async () => {
    const { c } = await setup();
    const commit = await c.request(ApiKey.OffsetCommit, 2, {
      groupId: 'kp',
      generationIdOrMemberEpoch: -1,
      memberId: '',
      retentionTimeMs: 60_000,
      topics: [{ name: 'wt', partitions: [{ partitionIndex: 0, committedOffset: 5, committedMetadata: 'hi' }, { partitionIndex: 9, committedOffset: 1 }] }, { name: 'nope', partitions: [{ partitionIndex: 0, committedOffset: 1 }] }],
    });
    expect(commit.topics.map((t: { partitions: { errorCode: number }[] }) => t.partitions.map((p) => p.errorCode))).toEqual([[0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION], [ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]]);
    await c.request(ApiKey.OffsetCommit, 0, { groupId: 'simple0', topics: [{ name: 'wt', partitions: [{ partitionIndex: 1, committedOffset: 3 }] }] });
    const v1 = await c.request(ApiKey.OffsetFetch, 1, { groupId: 'kp', topics: [{ name: 'wt', partitionIndexes: [0, 1] }] });
    expect(v1.topics[0].partitions.map((p: { committedOffset: number; metadata: string }) => [p.committedOffset, p.metadata])).toEqual([[5, 'hi'], [-1, '']]);
    const v8 = await c.request(ApiKey.OffsetFetch, 8, { groups: [{ groupId: 'kp', topics: null }, { groupId: 'simple0', topics: [{ name: 'wt', partitionIndexes: [1] }] }, { groupId: '', topics: null }], requireStable: true });
    expect(v8.groups.map((g: { groupId: string; errorCode: number }) => [g.groupId, g.errorCode])).toEqual([['kp', 0], ['simple0', 0], ['', 0]]);
    expect(v8.groups[1].topics[0].partitions[0].committedOffset).toBe(3);
    const od = await c.request(ApiKey.OffsetDelete, 0, { groupId: 'kp', topics: [{ name: 'wt', partitions: [{ partitionIndex: 0 }] }] });
    expect(od.errorCode).toBe(0);
    expect(od.topics[0].partitions[0].errorCode).toBe(0);
    expect((await c.request(ApiKey.OffsetFetch, 2, { groupId: 'kp', topics: null })).topics).toEqual([]);
    const del = await c.request(ApiKey.DeleteGroups, 1, { groupsNames: ['simple0', 'missing'] });
    expect(del.results.map((r: { errorCode: number }) => r.errorCode)).toEqual([0, ErrorCode.GROUP_ID_NOT_FOUND]);
  });

  it('malformed or oversized group requests get error codes or a closed connection; the broker keeps serving', async () => {
    const { c, port } = await setup();
    // Error codes for bad values.
    expect((await c.request(ApiKey.JoinGroup, 5, joinBody(''))).errorCode).toBe(ErrorCode.INVALID_GROUP_ID);
    expect((await c.request(ApiKey.JoinGroup, 5, joinBody('g', { sessionTimeoutMs: 1 }))).errorCode).toBe(ErrorCode.INVALID_SESSION_TIMEOUT);
    expect((await c.request(ApiKey.JoinGroup, 5, joinBody('g', { protocols: [{ name: 'range', metadata: Buffer.alloc(4096) }] }))).errorCode).toBe(ErrorCode.INVALID_REQUEST);
    expect((await c.request(ApiKey.JoinGroup, 5, joinBody('g', { protocolType: '', protocols: [] }))).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    expect((await c.request(ApiKey.SyncGroup, 3, { groupId: 'g', generationId: 1, memberId: 'x', groupInstanceId: null, assignments: [] })).errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    expect((await c.request(ApiKey.Heartbeat, 3, { groupId: '', generationId: 1, memberId: 'x', groupInstanceId: null })).errorCode).toBe(ErrorCode.INVALID_GROUP_ID);
    const bigMeta = await c.request(ApiKey.OffsetCommit, 7, { groupId: 's', generationIdOrMemberEpoch: -1, memberId: '', groupInstanceId: null, topics: [{ name: 'wt', partitions: [{ partitionIndex: 0, committedOffset: 1, committedLeaderEpoch: -1, committedMetadata: 'm'.repeat(5000) }] }] });
    expect(bigMeta.topics[0].partitions[0].errorCode).toBe(ErrorCode.OFFSET_METADATA_TOO_LARGE);

    // A JoinGroup whose body is cut short, and one claiming 2^31-1 protocols in a few bytes: the connection
    // closes (nothing to answer in a form the client could parse), nothing is allocated by the count.
    for (const body of [Buffer.from([0, 1, 0x67]), Buffer.concat([Buffer.from([0, 1, 0x67, 0, 0, 0x27, 0x10, 0, 0, 0x27, 0x10, 0, 0, 0, 1, 0x63]), Buffer.from([0x7f, 0xff, 0xff, 0xff])])]) {
      const bad = await WireClient.connect(port);
      const header = Buffer.alloc(2 + 2 + 4 + 2);
      header.writeInt16BE(ApiKey.JoinGroup, 0);
      header.writeInt16BE(1, 2);
      header.writeInt32BE(1, 4);
      header.writeInt16BE(-1, 8);
      const frame = Buffer.concat([header, body]);
      const size = Buffer.alloc(4);
      size.writeInt32BE(frame.length);
      bad.writeRaw(Buffer.concat([size, frame]));
      expect(await closesWithin(bad, 5000)).toBe(true);
    }
    // The broker is alive and the group machinery works.
    const ok = await c.request(ApiKey.JoinGroup, 2, joinBody('after'));
    expect(ok.errorCode).toBe(0);
  });
});
