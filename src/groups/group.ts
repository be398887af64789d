/**
 * One classic consumer group's state: members, generation, chosen protocol, leader, committed offsets, and
 * the pure rules over them (protocol selection, protocol compatibility). The transitions themselves live in
 * GroupCoordinator, which owns every Group of its partitions and is the only writer.
 *
 * States (Kafka's GroupState; the names are the ones DescribeGroups/ListGroups report):
 *   Empty               no members (maybe committed offsets). -> PreparingRebalance on a join; -> Dead on
 *                       deletion or when its last offset expires.
 *   PreparingRebalance  waiting for every member to (re)join, up to the rebalance timeout (or the initial
 *                       rebalance delay for a group that was Empty). -> CompletingRebalance, or Empty if
 *                       nobody rejoined.
 *   CompletingRebalance joined; waiting for the leader's SyncGroup with the assignment. -> Stable, or back to
 *                       PreparingRebalance when membership changes first.
 *   Stable              assignment handed out; heartbeats flow. -> PreparingRebalance on membership or
 *                       subscription change.
 *   Dead                removed (deleted, expired, or its partition unloaded); requests see it as missing.
 */
import type { TimerHandle } from './timers.js';
import { CONSUMER_PROTOCOL_TYPE, decodeSubscription } from './consumer-protocol.js';

export const GroupState = {
  Empty: 'Empty',
  PreparingRebalance: 'PreparingRebalance',
  CompletingRebalance: 'CompletingRebalance',
  Stable: 'Stable',
  Dead: 'Dead',
} as const;
export type GroupStateName = (typeof GroupState)[keyof typeof GroupState];

export interface Protocol {
  name: string;
  metadata: Buffer;
}

export interface JoinResult {
  errorCode: number;
  memberId: string;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  leader: string;
  skipAssignment: boolean;
  members: { memberId: string; groupInstanceId: string | null; metadata: Buffer }[];
}

export interface SyncResult {
  errorCode: number;
  protocolType: string | null;
  protocolName: string | null;
  assignment: Buffer;
}

export interface CommittedOffset {
  offset: number;
  leaderEpoch: number;
  metadata: string;
  commitTimestamp: number;
  /** Explicit expiry from OffsetCommit v1-4 retention; null: expiry follows the group (KIP-211). */
  expireTimestamp: number | null;
  /**
   * Offset of the batch that stored it in `__consumer_offsets`: of two commits of one partition (a plain one and
   * a transactional one completed later, say), the one later in the log wins, live as on load (Kafka's
   * CommitRecordMetadataAndOffset.olderThan).
   */
  logOffset: number;
}

/** An offset committed inside a transaction, not visible until its COMMIT marker (Kafka's pending txn offset). */
export interface PendingTxnOffset {
  value: CommittedOffset;
  /** False while its append is in flight (value.logOffset is set once it is durable). */
  durable: boolean;
  /** Set when the transaction ended while the append was in flight: applied (or not) once it is durable. */
  outcome: 'commit' | 'abort' | null;
}

/** One producer's open transaction in a group: its epoch and its pending offsets by `topic \0 partition`. */
export interface PendingTxn {
  producerEpoch: number;
  readonly offsets: Map<string, PendingTxnOffset>;
}

export class Member {
  protocols: Protocol[];
  assignment: Buffer = Buffer.alloc(0);
  /** Set while a JoinGroup of this member waits for the rebalance to complete. */
  joinWaiter: ((r: JoinResult) => void) | null = null;
  /** Set while a SyncGroup of this member waits for the leader's assignment. */
  syncWaiter: ((r: SyncResult) => void) | null = null;
  heartbeatTimer: TimerHandle | null = null;
  lastHeartbeatMs: number;
  /** Joined during the current rebalance (not yet part of a generation). */
  isNew = false;

  constructor(
    public memberId: string,
    readonly groupInstanceId: string | null,
    public clientId: string,
    public clientHost: string,
    public rebalanceTimeoutMs: number,
    public sessionTimeoutMs: number,
    protocols: Protocol[],
    nowMs: number,
  ) {
    this.protocols = protocols;
    this.lastHeartbeatMs = nowMs;
  }

  get isStatic(): boolean {
    return this.groupInstanceId !== null;
  }

  metadataFor(protocol: string): Buffer {
    return this.protocols.find((p) => p.name === protocol)?.metadata ?? Buffer.alloc(0);
  }

  /** The same protocols, in the same order, with the same metadata. */
  matches(protocols: readonly Protocol[]): boolean {
    return protocols.length === this.protocols.length && protocols.every((p, i) => p.name === this.protocols[i]!.name && p.metadata.equals(this.protocols[i]!.metadata));
  }
}

export class Group {
  state: GroupStateName;
  generationId = 0;
  protocolType: string | null = null;
  protocolName: string | null = null;
  leaderId: string | null = null;
  /** When the group last changed state (Kafka's currentStateTimestamp: offsets of an Empty group expire from it). */
  stateTimestampMs: number;
  /** Invariant: insertion order is join order (the first member becomes leader when none is). */
  readonly members = new Map<string, Member>();
  /** group.instance.id -> member id. Invariant: every value is a key of `members`. */
  readonly staticMembers = new Map<string, string>();
  /** Member ids handed out with MEMBER_ID_REQUIRED (JoinGroup v4+) whose second join has not come yet. */
  readonly pendingMembers = new Map<string, TimerHandle>();
  /** Committed offsets by `topic \0 partition`. */
  readonly offsets = new Map<string, CommittedOffset>();
  /** Offsets committed inside open transactions, by producer id (Kafka's pendingTransactionalOffsetCommits). */
  readonly pendingTxns = new Map<number, PendingTxn>();
  rebalanceTimer: TimerHandle | null = null;
  /** Set while the initial rebalance delay of a group that was Empty runs (Kafka's InitialDelayedJoin). */
  initialDelay: { remainingMs: number } | null = null;
  /** A member joined since the last initial-delay tick. */
  newMemberAdded = false;

  constructor(
    readonly groupId: string,
    readonly partition: number,
    nowMs: number,
  ) {
    this.state = GroupState.Empty;
    this.stateTimestampMs = nowMs;
  }

  is(state: GroupStateName): boolean {
    return this.state === state;
  }

  transition(state: GroupStateName, nowMs: number): void {
    this.state = state;
    this.stateTimestampMs = nowMs;
  }

  get size(): number {
    return this.members.size;
  }

  /** Nothing keeps an Empty group alive: no member, no committed or pending offset, never a generation. */
  get disposable(): boolean {
    return this.state === GroupState.Empty && this.members.size === 0 && this.offsets.size === 0 && this.pendingTxns.size === 0 && this.generationId === 0;
  }

  /** Whether an open transaction holds an offset of this partition (OffsetFetch requireStable: UNSTABLE_OFFSET_COMMIT). */
  hasPendingTxnOffset(key: string): boolean {
    for (const t of this.pendingTxns.values()) if (t.offsets.has(key)) return true;
    return false;
  }

  /** Makes `value` the committed offset unless a commit later in the log already is. */
  putCommitted(key: string, value: CommittedOffset): void {
    const current = this.offsets.get(key);
    if (current === undefined || current.logOffset <= value.logOffset) this.offsets.set(key, value);
  }

  add(member: Member): void {
    this.members.set(member.memberId, member);
    if (member.groupInstanceId !== null) this.staticMembers.set(member.groupInstanceId, member.memberId);
    if (this.leaderId === null) this.leaderId = member.memberId;
  }

  remove(memberId: string): Member | undefined {
    const m = this.members.get(memberId);
    if (!m) return undefined;
    this.members.delete(memberId);
    if (m.groupInstanceId !== null && this.staticMembers.get(m.groupInstanceId) === memberId) this.staticMembers.delete(m.groupInstanceId);
    if (this.leaderId === memberId) this.leaderId = this.members.keys().next().value ?? null;
    return m;
  }

  /** A static member replaced by a new member id (same instance id): the old id is fenced from now on. */
  replaceStatic(instanceId: string, oldMemberId: string, newMemberId: string): Member {
    const m = this.members.get(oldMemberId)!;
    this.members.delete(oldMemberId);
    m.memberId = newMemberId;
    this.members.set(newMemberId, m);
    this.staticMembers.set(instanceId, newMemberId);
    if (this.leaderId === oldMemberId) this.leaderId = newMemberId;
    return m;
  }

  staticMemberId(instanceId: string | null): string | undefined {
    return instanceId === null ? undefined : this.staticMembers.get(instanceId);
  }

  /** A request naming a group.instance.id that now belongs to another member id (KIP-345 fencing). */
  isStaticMemberFenced(memberId: string, instanceId: string | null): boolean {
    const current = this.staticMemberId(instanceId);
    return current !== undefined && current !== memberId;
  }

  get rebalanceTimeoutMs(): number {
    let max = 0;
    for (const m of this.members.values()) max = Math.max(max, m.rebalanceTimeoutMs);
    return max;
  }

  get awaitingJoinCount(): number {
    let n = 0;
    for (const m of this.members.values()) if (m.joinWaiter !== null) n++;
    return n;
  }

  hasAllMembersJoined(): boolean {
    return this.awaitingJoinCount === this.members.size && this.pendingMembers.size === 0;
  }

  /** Protocol names every current member (but `except`) supports. */
  candidateProtocols(except?: Member): Set<string> {
    const members = [...this.members.values()].filter((m) => m !== except);
    if (members.length === 0) return new Set();
    const out = new Set(members[0]!.protocols.map((p) => p.name));
    for (const m of members.slice(1)) {
      const names = new Set(m.protocols.map((p) => p.name));
      for (const n of [...out]) if (!names.has(n)) out.delete(n);
    }
    return out;
  }

  /**
   * Whether a member with these protocols may join: the first member needs a protocol type and at least one
   * protocol; later ones the group's type and one protocol every current member supports.
   */
  supportsProtocols(protocolType: string, protocols: readonly Protocol[]): boolean {
    if (this.members.size === 0) return protocolType !== '' && protocols.length > 0;
    if (this.protocolType !== protocolType) return false;
    const candidates = this.candidateProtocols();
    return protocols.some((p) => candidates.has(p.name));
  }

  /**
   * Kafka's protocol selection: among the protocols every member supports, each member votes for the first
   * one in its own preference order; the most votes win (ties: the protocol first in the leader's, else the
   * first member's, preference order, so the choice is deterministic).
   */
  selectProtocol(): string {
    const candidates = this.candidateProtocols();
    if (candidates.size === 0) throw new Error(`group ${this.groupId}: no protocol supported by every member`);
    const votes = new Map<string, number>();
    for (const m of this.members.values()) {
      const vote = m.protocols.find((p) => candidates.has(p.name))!.name;
      votes.set(vote, (votes.get(vote) ?? 0) + 1);
    }
    const order = (this.leaderId !== null ? this.members.get(this.leaderId) : undefined) ?? this.members.values().next().value!;
    let best: string | null = null;
    let bestVotes = -1;
    for (const p of order.protocols) {
      const v = votes.get(p.name) ?? 0;
      if (candidates.has(p.name) && v > bestVotes) {
        best = p.name;
        bestVotes = v;
      }
    }
    return best!;
  }

  /**
   * Topics the members of a consumer-protocol group subscribe to; null when unknown (another protocol type,
   * or a subscription that does not parse).
   */
  subscribedTopics(): Set<string> | null {
    if (this.protocolType !== CONSUMER_PROTOCOL_TYPE || this.protocolName === null) return null;
    const out = new Set<string>();
    for (const m of this.members.values()) {
      const sub = decodeSubscription(m.metadataFor(this.protocolName));
      if (sub === null) return null;
      for (const t of sub.topics) out.add(t);
    }
    return out;
  }
}

export function offsetKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

export function parseOffsetKey(key: string): { topic: string; partition: number } {
  const i = key.lastIndexOf('\u0000');
  return { topic: key.slice(0, i), partition: Number(key.slice(i + 1)) };
}
