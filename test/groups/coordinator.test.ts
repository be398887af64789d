/**
 * The group coordinator's state machine under fake time: join/sync/heartbeat/leave, session and rebalance
 * timeouts, the initial rebalance delay, static membership, offset commit rules, persistence and reload,
 * retention, limits, and ownership/loading errors.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/protocol/errors.js';
import { GroupState, MemoryOffsetsStore, type JoinResult, type OffsetCommitEntry } from '../../src/groups/index.js';
import { encodeAssignment, encodeSubscription } from '../../src/groups/consumer-protocol.js';
import { FakeTimers, join, joinAll, makeCoordinator, settle, type Harness } from './harness.js';

const G = 'group-a';

function commit(topic: string, partition: number, offset: number, extra: Partial<OffsetCommitEntry> = {}): OffsetCommitEntry {
  return { topic, partition, offset, leaderEpoch: -1, metadata: '', commitTimestamp: -1, retentionMs: -1, ...extra };
}

/** Two members joined and synced: returns [leader, follower] results and the assignments given. */
async function stableGroup(h: Harness, groupId = G): Promise<{ leader: JoinResult; follower: JoinResult }> {
  const [a, b] = await joinAll(h, groupId, [join(groupId, { clientId: 'a' }), join(groupId, { clientId: 'b' })]);
  const leader = a!.leader === a!.memberId ? a! : b!;
  const follower = leader === a ? b! : a!;
  const assignments = [
    { memberId: leader.memberId, assignment: encodeAssignment([{ topic: 't', partitions: [0] }]) },
    { memberId: follower.memberId, assignment: encodeAssignment([{ topic: 't', partitions: [1] }]) },
  ];
  const [ls, fs] = await Promise.all([
    h.coordinator.syncGroup({ groupId, generationId: leader.generationId, memberId: leader.memberId, groupInstanceId: null, protocolType: null, protocolName: null, assignments }),
    h.coordinator.syncGroup({ groupId, generationId: follower.generationId, memberId: follower.memberId, groupInstanceId: null, protocolType: null, protocolName: null, assignments: [] }),
  ]);
  expect(ls.errorCode).toBe(0);
  expect(fs.errorCode).toBe(0);
  return { leader, follower };
}

describe('join and sync', () => {
  it('two members join one generation; the leader gets every member, followers none; sync hands out the assignment', async () => {
    const h = makeCoordinator();
    const [a, b] = await joinAll(h, G, [join(G, { clientId: 'a' }), join(G, { clientId: 'b' })]);
    expect(a!.errorCode).toBe(0);
    expect(b!.errorCode).toBe(0);
    expect(a!.generationId).toBe(1);
    expect(b!.generationId).toBe(1);
    expect(a!.leader).toBe(a!.memberId);
    expect(b!.leader).toBe(a!.memberId);
    expect(a!.members.map((m) => m.memberId).sort()).toEqual([a!.memberId, b!.memberId].sort());
    expect(b!.members).toEqual([]);
    expect(a!.protocolName).toBe('range');
    expect(h.coordinator.stateOf(G)?.state).toBe(GroupState.CompletingRebalance);

    const asg = encodeAssignment([{ topic: 't', partitions: [1] }]);
    const followerSync = h.coordinator.syncGroup({ groupId: G, generationId: 1, memberId: b!.memberId, groupInstanceId: null, protocolType: 'consumer', protocolName: 'range', assignments: [] });
    await settle();
    const leaderSync = await h.coordinator.syncGroup({ groupId: G, generationId: 1, memberId: a!.memberId, groupInstanceId: null, protocolType: null, protocolName: null, assignments: [{ memberId: b!.memberId, assignment: asg }] });
    expect(leaderSync.errorCode).toBe(0);
    expect(leaderSync.assignment.length).toBe(0); // the leader assigned itself nothing
    const fs = await followerSync;
    expect(fs.errorCode).toBe(0);
    expect(fs.assignment.equals(asg)).toBe(true);
    expect(h.coordinator.stateOf(G)?.state).toBe(GroupState.Stable);
    expect(await h.coordinator.heartbeat({ groupId: G, generationId: 1, memberId: b!.memberId, groupInstanceId: null })).toBe(0);
  });

  it('JoinGroup v4+ answers MEMBER_ID_REQUIRED with an id first; v0-3 joins at once', async () => {
    const h = makeCoordinator();
    const first = await h.coordinator.joinGroup(join(G, { requireKnownMemberId: true }));
    expect(first.errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);
    expect(first.memberId).toMatch(/^client-/);
    const [second] = await joinAll(h, G, [join(G, { requireKnownMemberId: true, memberId: first.memberId })]);
    expect(second!.errorCode).toBe(0);
    expect(second!.memberId).toBe(first.memberId);

    const [old] = await joinAll(h, 'group-b', [join('group-b', { requireKnownMemberId: false })]);
    expect(old!.errorCode).toBe(0);
    expect(old!.memberId).not.toBe('');
  });

  it('a pending MEMBER_ID_REQUIRED member holds the rebalance until its session timeout', async () => {
    const h = makeCoordinator();
    const { leader, follower } = await stableGroup(h);
    const pending = await h.coordinator.joinGroup(join(G, { requireKnownMemberId: true, sessionTimeoutMs: 8000 }));
    expect(pending.errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);
    // Both existing members rejoin; the pending one never comes back.
    const rejoins = [leader, follower].map((m) => h.coordinator.joinGroup(join(G, { memberId: m.memberId })));
    await h.timers.advance(100);
    expect(h.coordinator.stateOf(G)?.state).toBe(GroupState.PreparingRebalance);
    await h.timers.advance(8000);
    const results = await Promise.all(rejoins);
    expect(results.map((r) => r.errorCode)).toEqual([0, 0]);
    expect(results[0]!.generationId).toBe(2);
  });

  it('selects the protocol most members prefer among those all support', async () => {
    const h = makeCoordinator();
    const p = (n: string): { name: string; metadata: Buffer } => ({ name: n, metadata: encodeSubscription(['t']) });
    const res = await joinAll(h, G, [
      join(G, { protocols: [p('range'), p('roundrobin')] }),
      join(G, { protocols: [p('roundrobin'), p('range')] }),
      join(G, { protocols: [p('sticky'), p('roundrobin'), p('range')] }),
    ]);
    expect(res.map((r) => r.errorCode)).toEqual([0, 0, 0]);
    expect(res[0]!.protocolName).toBe('roundrobin');
    // The leader receives each member's metadata for the chosen protocol.
    expect(res.find((r) => r.members.length > 0)!.members).toHaveLength(3);
  });

  it('refuses incompatible protocols and protocol types, and an empty first join', async () => {
    const h = makeCoordinator();
    await stableGroup(h);
    const sticky = await h.coordinator.joinGroup(join(G, { protocols: [{ name: 'sticky', metadata: Buffer.alloc(0) }] }));
    expect(sticky.errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    const otherType = await h.coordinator.joinGroup(join(G, { protocolType: 'connect' }));
    expect(otherType.errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    const empty = await h.coordinator.joinGroup(join('fresh', { protocols: [] }));
    expect(empty.errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    expect(h.coordinator.stateOf('fresh')).toBeUndefined(); // a refused first join leaves no group behind
  });

  it('validates group id and session timeout', async () => {
    const h = makeCoordinator();
    expect((await h.coordinator.joinGroup(join(''))).errorCode).toBe(ErrorCode.INVALID_GROUP_ID);
    expect((await h.coordinator.joinGroup(join(G, { sessionTimeoutMs: 10 }))).errorCode).toBe(ErrorCode.INVALID_SESSION_TIMEOUT);
    expect((await h.coordinator.joinGroup(join(G, { sessionTimeoutMs: 1_800_001 }))).errorCode).toBe(ErrorCode.INVALID_SESSION_TIMEOUT);
    expect((await h.coordinator.joinGroup(join(G, { memberId: 'nobody' }))).errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  it('sync and heartbeat check member, generation and state', async () => {
    const h = makeCoordinator();
    const { leader, follower } = await stableGroup(h);
    const ref = { groupId: G, generationId: 1, memberId: follower.memberId, groupInstanceId: null };
    expect(await h.coordinator.heartbeat({ ...ref, generationId: 7 })).toBe(ErrorCode.ILLEGAL_GENERATION);
    expect(await h.coordinator.heartbeat({ ...ref, memberId: 'x' })).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    expect(await h.coordinator.heartbeat({ ...ref, groupId: 'nope' })).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    const sync = { groupId: G, generationId: 1, memberId: follower.memberId, groupInstanceId: null, protocolType: null, protocolName: null, assignments: [] };
    expect((await h.coordinator.syncGroup({ ...sync, generationId: 0 })).errorCode).toBe(ErrorCode.ILLEGAL_GENERATION);
    expect((await h.coordinator.syncGroup({ ...sync, protocolName: 'roundrobin' })).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    // Stable: a late sync gets the stored assignment.
    const late = await h.coordinator.syncGroup(sync);
    expect(late.errorCode).toBe(0);
    expect(late.assignment.length).toBeGreaterThan(0);
    // The leader rejoins: rebalance; heartbeats now say REBALANCE_IN_PROGRESS and syncs too.
    const rejoin = h.coordinator.joinGroup(join(G, { memberId: leader.memberId }));
    await settle();
    expect(await h.coordinator.heartbeat(ref)).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    expect((await h.coordinator.syncGroup(sync)).errorCode).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    const again = h.coordinator.joinGroup(join(G, { memberId: follower.memberId }));
    const [r1, r2] = await Promise.all([rejoin, again]);
    expect(r1.generationId).toBe(2);
    expect(r2.generationId).toBe(2);
  });

  it('a rebalance interrupting CompletingRebalance answers waiting syncs with REBALANCE_IN_PROGRESS', async () => {
    const h = makeCoordinator();
    const [a, b] = await joinAll(h, G, [join(G), join(G)]);
    const follower = a!.leader === a!.memberId ? b! : a!;
    const waiting = h.coordinator.syncGroup({ groupId: G, generationId: 1, memberId: follower.memberId, groupInstanceId: null, protocolType: null, protocolName: null, assignments: [] });
    await settle();
    const newcomer = h.coordinator.joinGroup(join(G));
    expect((await waiting).errorCode).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    void newcomer;
  });
});

describe('timeouts', { timeout: 10_000 }, () => {
  it('a member that stops heartbeating is removed after its session timeout; the group rebalances', async () => {
    const h = makeCoordinator();
    const { leader, follower } = await stableGroup(h);
    // The follower keeps heartbeating, the leader goes silent.
    for (let i = 0; i < 4; i++) {
      await h.timers.advance(3000);
      const err = await h.coordinator.heartbeat({ groupId: G, generationId: 1, memberId: follower.memberId, groupInstanceId: null });
      if (i < 3) expect(err).toBe(0);
      else expect(err).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    }
    expect(h.coordinator.stateOf(G)?.members).toEqual([follower.memberId]);
    const rejoin = await h.coordinator.joinGroup(join(G, { memberId: follower.memberId }));
    expect(rejoin.generationId).toBe(2);
    expect(rejoin.leader).toBe(follower.memberId);
    expect(await h.coordinator.heartbeat({ groupId: G, generationId: 1, memberId: leader.memberId, groupInstanceId: null })).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  it('a member that does not rejoin within the rebalance timeout is dropped from the next generation', async () => {
    const h = makeCoordinator();
    const { leader, follower } = await stableGroup(h);
    const rejoin = h.coordinator.joinGroup(join(G, { memberId: leader.memberId, rebalanceTimeoutMs: 5000 }));
    let done = false;
    void rejoin.then(() => (done = true));
    // The follower heartbeats (so its session does not expire) but never rejoins; the group's rebalance
    // timeout is the largest of its members' (the follower's 30 s).
    let elapsed = 0;
    while (!done && elapsed < 40_000) {
      await h.timers.advance(2000);
      elapsed += 2000;
      if (!done) expect(await h.coordinator.heartbeat({ groupId: G, generationId: 1, memberId: follower.memberId, groupInstanceId: null })).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    }
    expect(elapsed).toBeGreaterThanOrEqual(30_000);
    expect(elapsed).toBeLessThanOrEqual(32_000);
    const r = await rejoin;
    expect(r.errorCode).toBe(0);
    expect(r.generationId).toBe(2);
    expect(r.members.map((m) => m.memberId)).toEqual([leader.memberId]);
  });

  it('the initial rebalance delay gathers members joining an empty group, extended per new member up to the rebalance timeout', async () => {
    const h = makeCoordinator({ groupInitialRebalanceDelayMs: 3000 });
    const first = h.coordinator.joinGroup(join(G, { rebalanceTimeoutMs: 10_000 }));
    let done = false;
    void first.then(() => (done = true));
    await h.timers.advance(2000);
    const second = h.coordinator.joinGroup(join(G, { rebalanceTimeoutMs: 10_000 }));
    await h.timers.advance(1500); // first delay over, but a member came: wait another delay
    expect(done).toBe(false);
    await h.timers.advance(3000);
    const [a, b] = await Promise.all([first, second]);
    expect(a.generationId).toBe(1);
    expect(b.generationId).toBe(1);
    expect(a.members.length + b.members.length).toBe(2);
  });

  it('a group whose members all leave becomes Empty with a new generation', async () => {
    const h = makeCoordinator();
    const { leader, follower } = await stableGroup(h);
    const res = await h.coordinator.leaveGroup(G, [
      { memberId: leader.memberId, groupInstanceId: null },
      { memberId: follower.memberId, groupInstanceId: null },
      { memberId: 'ghost', groupInstanceId: null },
    ]);
    expect(res.errorCode).toBe(0);
    expect(res.members.map((m) => m.errorCode)).toEqual([0, 0, ErrorCode.UNKNOWN_MEMBER_ID]);
    await h.timers.advance(30_001);
    expect(h.coordinator.stateOf(G)).toMatchObject({ state: GroupState.Empty, generationId: 2, members: [] });
    expect((await h.coordinator.leaveGroup('nope', [{ memberId: 'x', groupInstanceId: null }])).members[0]!.errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });
});

describe('static membership', () => {
  it('a static member rejoining with a new member id gets its old assignment without a rebalance; the old id is fenced', async () => {
    const h = makeCoordinator();
    const [a, b] = await joinAll(h, G, [join(G, { groupInstanceId: 'i-a' }), join(G, { groupInstanceId: 'i-b' })]);
    const leader = a!.leader === a!.memberId ? a! : b!;
    const follower = leader === a ? b! : a!;
    const followerInstance = follower === a ? 'i-a' : 'i-b';
    const asg = encodeAssignment([{ topic: 't', partitions: [3] }]);
    const fsync = h.coordinator.syncGroup({ groupId: G, generationId: 1, memberId: follower.memberId, groupInstanceId: followerInstance, protocolType: null, protocolName: null, assignments: [] });
    await h.coordinator.syncGroup({ groupId: G, generationId: 1, memberId: leader.memberId, groupInstanceId: null, protocolType: null, protocolName: null, assignments: [{ memberId: follower.memberId, assignment: asg }] });
    await fsync;

    // The follower restarts: same instance id, no member id.
    const back = await h.coordinator.joinGroup(join(G, { groupInstanceId: followerInstance }));
    expect(back.errorCode).toBe(0);
    expect(back.generationId).toBe(1); // no new generation
    expect(back.memberId).not.toBe(follower.memberId);
    expect(h.coordinator.stateOf(G)?.state).toBe(GroupState.Stable);
    const s = await h.coordinator.syncGroup({ groupId: G, generationId: 1, memberId: back.memberId, groupInstanceId: followerInstance, protocolType: null, protocolName: null, assignments: [] });
    expect(s.assignment.equals(asg)).toBe(true);
    // The leader heartbeats on, undisturbed.
    expect(await h.coordinator.heartbeat({ groupId: G, generationId: 1, memberId: leader.memberId, groupInstanceId: null })).toBe(0);
    // The old incarnation is fenced.
    expect(await h.coordinator.heartbeat({ groupId: G, generationId: 1, memberId: follower.memberId, groupInstanceId: followerInstance })).toBe(ErrorCode.FENCED_INSTANCE_ID);
    const c = await h.coordinator.commitOffsets({ groupId: G, generationId: 1, memberId: follower.memberId, groupInstanceId: followerInstance }, [commit('t', 0, 5)]);
    expect(c[0]!.errorCode).toBe(ErrorCode.FENCED_INSTANCE_ID);
    // The metadata with the new member id was stored.
    const h2 = makeCoordinator({}, { store: h.store, topicExists: true });
    await h2.coordinator.loaded();
    expect(h2.coordinator.stateOf(G)?.members).toContain(back.memberId);
  });

  it('a static leader rejoining is told the old leader id (v0-8) or to skip the assignment (v9)', async () => {
    const h = makeCoordinator();
    const [a] = await joinAll(h, G, [join(G, { groupInstanceId: 'solo' })]);
    await h.coordinator.syncGroup({ groupId: G, generationId: 1, memberId: a!.memberId, groupInstanceId: 'solo', protocolType: null, protocolName: null, assignments: [{ memberId: a!.memberId, assignment: encodeAssignment([{ topic: 't', partitions: [0] }]) }] });
    const v8 = await h.coordinator.joinGroup(join(G, { groupInstanceId: 'solo' }));
    expect(v8.leader).toBe(a!.memberId);
    expect(v8.skipAssignment).toBe(false);
    const v9 = await h.coordinator.joinGroup(join(G, { groupInstanceId: 'solo', supportsSkipAssignment: true }));
    expect(v9.leader).toBe(v9.memberId);
    expect(v9.skipAssignment).toBe(true);
    expect(v9.members).toHaveLength(1);
    expect(v9.generationId).toBe(1);
  });

  it('LeaveGroup by instance id removes a static member; a wrong member id for it is fenced', async () => {
    const h = makeCoordinator();
    await joinAll(h, G, [join(G, { groupInstanceId: 'x' }), join(G, { groupInstanceId: 'y' })]);
    const res = await h.coordinator.leaveGroup(G, [
      { memberId: 'wrong', groupInstanceId: 'x' },
      { memberId: '', groupInstanceId: 'y' },
      { memberId: '', groupInstanceId: 'z' },
    ]);
    expect(res.members.map((m) => m.errorCode)).toEqual([ErrorCode.FENCED_INSTANCE_ID, 0, ErrorCode.UNKNOWN_MEMBER_ID]);
  });
});

describe('offset commits', () => {
  it('simple commits (generation -1) create a group without members; fetch returns them, -1 for the rest', async () => {
    const h = makeCoordinator();
    const res = await h.coordinator.commitOffsets({ groupId: 'simple', generationId: -1, memberId: '', groupInstanceId: null }, [commit('t', 0, 42, { metadata: 'm' })]);
    expect(res).toEqual([{ topic: 't', partition: 0, errorCode: 0 }]);
    const f = await h.coordinator.fetchOffsets('simple', [{ topic: 't', partitions: [0, 1] }]);
    expect(f.offsets).toEqual([
      { topic: 't', partition: 0, offset: 42, leaderEpoch: -1, metadata: 'm', errorCode: 0 },
      { topic: 't', partition: 1, offset: -1, leaderEpoch: -1, metadata: '', errorCode: 0 },
    ]);
    expect((await h.coordinator.fetchOffsets('simple', null)).offsets).toHaveLength(1);
    expect((await h.coordinator.fetchOffsets('unknown-group', null)).offsets).toEqual([]);
    expect(h.coordinator.listGroups([]).groups).toEqual([{ groupId: 'simple', protocolType: '', state: 'Empty' }]);
  });

  it('checks generation, member and state', async () => {
    const h = makeCoordinator();
    const ref = { groupId: 'nogroup', generationId: 3, memberId: 'm', groupInstanceId: null };
    expect((await h.coordinator.commitOffsets(ref, [commit('t', 0, 1)]))[0]!.errorCode).toBe(ErrorCode.ILLEGAL_GENERATION);
    const [a, b] = await joinAll(h, G, [join(G), join(G)]);
    // CompletingRebalance: REBALANCE_IN_PROGRESS.
    expect((await h.coordinator.commitOffsets({ groupId: G, generationId: 1, memberId: a!.memberId, groupInstanceId: null }, [commit('t', 0, 1)]))[0]!.errorCode).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    const leader = a!.leader === a!.memberId ? a! : b!;
    const follower = leader === a ? b! : a!;
    const fsync = h.coordinator.syncGroup({ groupId: G, generationId: 1, memberId: follower.memberId, groupInstanceId: null, protocolType: null, protocolName: null, assignments: [] });
    await h.coordinator.syncGroup({ groupId: G, generationId: 1, memberId: leader.memberId, groupInstanceId: null, protocolType: null, protocolName: null, assignments: [] });
    await fsync;
    const c = (ref2: Partial<typeof ref>): Promise<number> =>
      h.coordinator.commitOffsets({ groupId: G, generationId: 1, memberId: a!.memberId, groupInstanceId: null, ...ref2 }, [commit('t', 0, 9)]).then((r) => r[0]!.errorCode);
    expect(await c({})).toBe(0);
    expect(await c({ generationId: 2 })).toBe(ErrorCode.ILLEGAL_GENERATION);
    expect(await c({ memberId: 'stranger' })).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    // A simple commit into a group with members: UNKNOWN_MEMBER_ID (as Kafka).
    expect(await c({ generationId: -1, memberId: '' })).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    // During PreparingRebalance a member of the current generation may still commit.
    void h.coordinator.joinGroup(join(G));
    await settle();
    expect(h.coordinator.stateOf(G)?.state).toBe(GroupState.PreparingRebalance);
    expect(await c({})).toBe(0);
  });

  it('offset metadata over offset.metadata.max.bytes gets OFFSET_METADATA_TOO_LARGE for that partition only', async () => {
    const h = makeCoordinator({ offsetMetadataBytesMax: 10 });
    const res = await h.coordinator.commitOffsets({ groupId: 's', generationId: -1, memberId: '', groupInstanceId: null }, [commit('t', 0, 1, { metadata: 'x'.repeat(11) }), commit('t', 1, 1, { metadata: 'ok' })]);
    expect(res).toEqual([
      { topic: 't', partition: 0, errorCode: ErrorCode.OFFSET_METADATA_TOO_LARGE },
      { topic: 't', partition: 1, errorCode: 0 },
    ]);
  });

  it('a storage failure answers NOT_COORDINATOR and leaves the committed offset unchanged', async () => {
    const h = makeCoordinator();
    const ref = { groupId: 's', generationId: -1, memberId: '', groupInstanceId: null };
    await h.coordinator.commitOffsets(ref, [commit('t', 0, 5)]);
    h.store.failNext();
    expect((await h.coordinator.commitOffsets(ref, [commit('t', 0, 6)]))[0]!.errorCode).toBe(ErrorCode.NOT_COORDINATOR);
    expect((await h.coordinator.fetchOffsets('s', [{ topic: 't', partitions: [0] }])).offsets[0]!.offset).toBe(5);
  });

  it('a commit is visible only once durable', async () => {
    const h = makeCoordinator();
    const ref = { groupId: 's', generationId: -1, memberId: '', groupInstanceId: null };
    await h.coordinator.commitOffsets(ref, [commit('t', 0, 1)]);
    h.store.hold();
    let answered = false;
    const pending = h.coordinator.commitOffsets(ref, [commit('t', 0, 2)]).then((r) => ((answered = true), r));
    await settle();
    expect(answered).toBe(false);
    expect((await h.coordinator.fetchOffsets('s', [{ topic: 't', partitions: [0] }])).offsets[0]!.offset).toBe(1);
    h.store.release();
    expect((await pending)[0]!.errorCode).toBe(0);
    expect((await h.coordinator.fetchOffsets('s', [{ topic: 't', partitions: [0] }])).offsets[0]!.offset).toBe(2);
  });
});

describe('persistence', () => {
  it('a new coordinator over the same store restores offsets and groups; deletion tombstones survive reload', async () => {
    const store = new MemoryOffsetsStore();
    const timers = new FakeTimers();
    const h = makeCoordinator({}, { store, timers });
    const { leader, follower } = await stableGroup(h);
    await h.coordinator.commitOffsets({ groupId: G, generationId: 1, memberId: leader.memberId, groupInstanceId: null }, [commit('t', 0, 100, { leaderEpoch: 3, metadata: 'meta' }), commit('t', 1, 200)]);
    await h.coordinator.commitOffsets({ groupId: 'gone', generationId: -1, memberId: '', groupInstanceId: null }, [commit('u', 0, 1)]);
    expect(await h.coordinator.deleteGroup('gone')).toBe(0);
    h.coordinator.close();

    const h2 = makeCoordinator({}, { store, timers, topicExists: true });
    await h2.coordinator.loaded();
    expect((await h2.coordinator.fetchOffsets(G, null)).offsets).toEqual([
      { topic: 't', partition: 0, offset: 100, leaderEpoch: 3, metadata: 'meta', errorCode: 0 },
      { topic: 't', partition: 1, offset: 200, leaderEpoch: -1, metadata: '', errorCode: 0 },
    ]);
    expect(h2.coordinator.stateOf('gone')).toBeUndefined();
    const st = h2.coordinator.stateOf(G)!;
    expect(st.state).toBe(GroupState.Stable);
    expect(st.generationId).toBe(1);
    expect(st.members.sort()).toEqual([leader.memberId, follower.memberId].sort());
    // Members carry on with their generation after the restart.
    expect(await h2.coordinator.heartbeat({ groupId: G, generationId: 1, memberId: follower.memberId, groupInstanceId: null })).toBe(0);
    const d = await h2.coordinator.describeGroup(G);
    expect(d.state).toBe('Stable');
    expect(d.members.find((m) => m.memberId === follower.memberId)!.assignment.length).toBeGreaterThan(0);
  });

  it('a deleted topic: its offsets leave every group (a Stable one keeps the others), an Empty group left without offsets is removed, and a reload agrees', async () => {
    const store = new MemoryOffsetsStore();
    const timers = new FakeTimers();
    const h = makeCoordinator({}, { store, timers });
    const { leader } = await stableGroup(h);
    await h.coordinator.commitOffsets({ groupId: G, generationId: 1, memberId: leader.memberId, groupInstanceId: null }, [commit('gone', 0, 5), commit('gone', 1, 6), commit('kept', 0, 7)]);
    const simple = { generationId: -1, memberId: '', groupInstanceId: null };
    await h.coordinator.commitOffsets({ groupId: 'only-gone', ...simple }, [commit('gone', 0, 1)]);
    await h.coordinator.commitOffsets({ groupId: 'other', ...simple }, [commit('kept', 0, 2)]);

    expect(await h.coordinator.removeTopicOffsets('gone')).toBe(3);
    expect(await h.coordinator.removeTopicOffsets('gone'), 'nothing left the second time').toBe(0);
    const check = async (c: typeof h.coordinator): Promise<void> => {
      expect((await c.fetchOffsets(G, null)).offsets.map((o) => [o.topic, o.partition, o.offset])).toEqual([['kept', 0, 7]]);
      expect((await c.fetchOffsets('other', null)).offsets.map((o) => [o.topic, o.offset])).toEqual([['kept', 2]]);
      expect(c.stateOf('only-gone'), 'an Empty group left without offsets is removed').toBeUndefined();
      expect(c.stateOf(G)?.state).toBe(GroupState.Stable);
    };
    await check(h.coordinator);
    h.coordinator.close();

    const h2 = makeCoordinator({}, { store, timers, topicExists: true });
    await h2.coordinator.loaded();
    await check(h2.coordinator);
  });

  it('answers COORDINATOR_LOAD_IN_PROGRESS while loading and NOT_COORDINATOR for partitions it does not own', async () => {
    const store = new MemoryOffsetsStore();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = { append: store.append.bind(store), read: async function* (p: number) { await gate; yield* store.read(p); } };
    const timers = new FakeTimers();
    const { GroupCoordinator, groupCoordinatorDefaults } = await import('../../src/groups/index.js');
    const c = new GroupCoordinator({ config: { ...groupCoordinatorDefaults, offsetsTopicPartitions: 4 }, store: slow, timers, logger: { info() {}, warn() {}, error() {} }, ownedPartitions: [c0(), 1], offsetsTopic: { exists: () => true, create: async () => {} } });
    function c0(): number {
      return 0;
    }
    c.start();
    const owned = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].find((id) => c.partitionFor(id) <= 1)!;
    const other = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].find((id) => c.partitionFor(id) > 1)!;
    expect((await c.joinGroup(join(owned))).errorCode).toBe(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
    expect((await c.fetchOffsets(owned, null)).errorCode).toBe(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
    expect(c.listGroups([]).errorCode).toBe(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
    expect((await c.joinGroup(join(other))).errorCode).toBe(ErrorCode.NOT_COORDINATOR);
    release();
    await c.loaded();
    expect((await c.fetchOffsets(owned, null)).errorCode).toBe(0);
    c.close();
  });

  it('skips unreadable records on load instead of failing', async () => {
    const store = new MemoryOffsetsStore();
    const { buildRecordBatch } = await import('../../src/protocol/records.js');
    const h = makeCoordinator({}, { store });
    await h.coordinator.commitOffsets({ groupId: 's', generationId: -1, memberId: '', groupInstanceId: null }, [commit('t', 0, 7)]);
    const p = h.coordinator.partitionFor('s');
    await store.append(p, buildRecordBatch([{ key: Buffer.from([0, 1, 0]), value: Buffer.from('junk') }, { key: null, value: Buffer.from('x') }, { key: Buffer.from([0, 9]), value: null }]));
    await store.append(p, buildRecordBatch([{ key: Buffer.from([0, 1, 0, 1, 0x73, 0, 1, 0x74, 0, 0, 0, 1]), value: Buffer.from([0, 9, 1]) }]));
    const h2 = makeCoordinator({}, { store, topicExists: true });
    await h2.coordinator.loaded();
    expect((await h2.coordinator.fetchOffsets('s', [{ topic: 't', partitions: [0] }])).offsets[0]!.offset).toBe(7);
  });
});

describe('retention', () => {
  const DAY = 24 * 60 * 60 * 1000;

  it('v2-4 explicit retention expires at its own time; v5+ offsets of an Empty group expire retention after it emptied', async () => {
    const h = makeCoordinator({ offsetsRetentionMs: 7 * DAY, offsetsRetentionCheckIntervalMs: DAY });
    const ref = { groupId: 's', generationId: -1, memberId: '', groupInstanceId: null };
    await h.coordinator.commitOffsets(ref, [commit('t', 0, 1, { retentionMs: 2 * DAY }), commit('t', 1, 1)]);
    await h.timers.advance(2 * DAY + 1);
    expect((await h.coordinator.fetchOffsets('s', null)).offsets.map((o) => o.partition)).toEqual([1]);
    await h.timers.advance(5 * DAY);
    expect((await h.coordinator.fetchOffsets('s', null)).offsets).toEqual([]);
    // A group left with nothing is removed (and tombstoned).
    expect(h.coordinator.stateOf('s')).toBeUndefined();
  });

  it('a Stable consumer group keeps offsets of subscribed topics and expires the others', async () => {
    const h = makeCoordinator({ offsetsRetentionMs: 7 * DAY, offsetsRetentionCheckIntervalMs: DAY, groupMaxSessionTimeoutMs: 3 * DAY });
    const [m] = await joinAll(h, G, [join(G, { topics: ['t'], sessionTimeoutMs: 2 * DAY })]);
    await h.coordinator.syncGroup({ groupId: G, generationId: 1, memberId: m!.memberId, groupInstanceId: null, protocolType: null, protocolName: null, assignments: [] });
    const ref = { groupId: G, generationId: 1, memberId: m!.memberId, groupInstanceId: null };
    await h.coordinator.commitOffsets(ref, [commit('t', 0, 1), commit('old', 0, 1)]);
    for (let d = 0; d < 8; d++) {
      await h.timers.advance(DAY);
      expect(await h.coordinator.heartbeat(ref)).toBe(0);
    }
    expect((await h.coordinator.fetchOffsets(G, null)).offsets.map((o) => o.topic)).toEqual(['t']);
  });

  it('expiry tombstones survive a reload', async () => {
    const store = new MemoryOffsetsStore();
    const h = makeCoordinator({ offsetsRetentionMs: 1000, offsetsRetentionCheckIntervalMs: 500 }, { store });
    await h.coordinator.commitOffsets({ groupId: 's', generationId: -1, memberId: '', groupInstanceId: null }, [commit('t', 0, 1)]);
    await h.timers.advance(1600);
    const h2 = makeCoordinator({}, { store, topicExists: true });
    await h2.coordinator.loaded();
    expect((await h2.coordinator.fetchOffsets('s', null)).offsets).toEqual([]);
  });
});

describe('limits, describe, list, delete', () => {
  it('GROUP_MAX_SIZE_REACHED beyond group.max.size (pending joins count)', async () => {
    const h = makeCoordinator({ groupMembersMax: 2 });
    const first = await h.coordinator.joinGroup(join(G, { requireKnownMemberId: true }));
    expect(first.errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);
    void h.coordinator.joinGroup(join(G));
    await settle();
    expect((await h.coordinator.joinGroup(join(G))).errorCode).toBe(ErrorCode.GROUP_MAX_SIZE_REACHED);
    expect((await h.coordinator.joinGroup(join(G, { requireKnownMemberId: true }))).errorCode).toBe(ErrorCode.GROUP_MAX_SIZE_REACHED);
  });

  it('groupsMax bounds the groups held; protocol metadata over its limit is refused', async () => {
    const h = makeCoordinator({ groupsMax: 1, groupMemberMetadataBytesMax: 100 });
    await h.coordinator.commitOffsets({ groupId: 'one', generationId: -1, memberId: '', groupInstanceId: null }, [commit('t', 0, 1)]);
    expect((await h.coordinator.commitOffsets({ groupId: 'two', generationId: -1, memberId: '', groupInstanceId: null }, [commit('t', 0, 1)]))[0]!.errorCode).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    expect((await h.coordinator.joinGroup(join('three'))).errorCode).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    expect((await h.coordinator.joinGroup(join('one', { protocols: [{ name: 'range', metadata: Buffer.alloc(200) }] }))).errorCode).toBe(ErrorCode.INVALID_REQUEST);
  });

  it('describe reports state, protocol and members (metadata and assignment when Stable); list filters by state', async () => {
    const h = makeCoordinator();
    await stableGroup(h);
    await h.coordinator.commitOffsets({ groupId: 'lonely', generationId: -1, memberId: '', groupInstanceId: null }, [commit('t', 0, 1)]);
    const d = await h.coordinator.describeGroup(G);
    expect(d).toMatchObject({ errorCode: 0, state: 'Stable', protocolType: 'consumer', protocolData: 'range' });
    expect(d.members).toHaveLength(2);
    expect(d.members[0]!.clientHost).toBe('/127.0.0.1');
    expect(await h.coordinator.describeGroup('missing')).toMatchObject({ errorCode: 0, state: 'Dead', members: [] });
    expect(h.coordinator.listGroups(['stable']).groups.map((g) => g.groupId)).toEqual([G]);
    expect(h.coordinator.listGroups(['Empty']).groups.map((g) => g.groupId)).toEqual(['lonely']);
    expect(h.coordinator.listGroups([]).groups).toHaveLength(2);
  });

  it('DeleteGroups removes only empty groups', async () => {
    const h = makeCoordinator();
    await stableGroup(h);
    expect(await h.coordinator.deleteGroup(G)).toBe(ErrorCode.NON_EMPTY_GROUP);
    expect(await h.coordinator.deleteGroup('missing')).toBe(ErrorCode.GROUP_ID_NOT_FOUND);
    await h.coordinator.commitOffsets({ groupId: 'e', generationId: -1, memberId: '', groupInstanceId: null }, [commit('t', 0, 1)]);
    expect(await h.coordinator.deleteGroup('e')).toBe(0);
    expect((await h.coordinator.fetchOffsets('e', null)).offsets).toEqual([]);
  });

  it('OffsetDelete refuses subscribed topics of an active consumer group and deletes the rest', async () => {
    const h = makeCoordinator();
    const { leader } = await stableGroup(h);
    await h.coordinator.commitOffsets({ groupId: G, generationId: 1, memberId: leader.memberId, groupInstanceId: null }, [commit('t', 0, 1), commit('other', 0, 1)]);
    const res = await h.coordinator.deleteOffsets(G, [
      { topic: 't', partition: 0 },
      { topic: 'other', partition: 0 },
    ]);
    expect(res.errorCode).toBe(0);
    expect(res.partitions).toEqual([
      { topic: 't', partition: 0, errorCode: ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC },
      { topic: 'other', partition: 0, errorCode: 0 },
    ]);
    expect((await h.coordinator.fetchOffsets(G, null)).offsets.map((o) => o.topic)).toEqual(['t']);
    expect((await h.coordinator.deleteOffsets('missing', [])).errorCode).toBe(ErrorCode.GROUP_ID_NOT_FOUND);
  });

  it('a failed group store during sync answers the error and rebalances', async () => {
    const h = makeCoordinator();
    const [a] = await joinAll(h, G, [join(G)]);
    h.store.failNext();
    const s = await h.coordinator.syncGroup({ groupId: G, generationId: 1, memberId: a!.memberId, groupInstanceId: null, protocolType: null, protocolName: null, assignments: [] });
    expect(s.errorCode).toBe(ErrorCode.NOT_COORDINATOR);
    expect(h.coordinator.stateOf(G)?.state).toBe(GroupState.PreparingRebalance);
  });
});
