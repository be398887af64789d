/**
 * GroupCoordinator: Kafka's classic group protocol (JoinGroup / SyncGroup / Heartbeat / LeaveGroup) and the
 * committed offsets of the groups whose `__consumer_offsets` partition it owns.
 *
 * Ownership: a group lives in partition `partitionForGroup(groupId, offsetsTopicPartitions)`. The coordinator
 * is given the partitions it owns (all of them on a single-process broker; one shard's share once groups are
 * spread over shards) and answers NOT_COORDINATOR for any other group, COORDINATOR_LOAD_IN_PROGRESS while the
 * group's partition is being replayed. Every bit of group state is inside this instance, keyed by partition:
 * two coordinators never share anything but the store.
 *
 * Thread and lifecycle: runs on one JS thread (the shard owning its partitions); `start()` loads the owned
 * partitions when the internal topic exists, otherwise the first group request creates it (Kafka creates
 * `__consumer_offsets` lazily too); `close()` cancels every timer and answers waiting joins/syncs with
 * NOT_COORDINATOR (the clients find the coordinator again).
 *
 * Durability: an offset commit is answered after its records are durable in the store, and only then
 * visible to OffsetFetch; a group's metadata (generation, members, assignment) is stored when the leader's
 * SyncGroup completes a generation, when a generation completes empty, when a static member is replaced, and
 * tombstoned when the group is deleted or expires. A restart restores exactly what was stored: groups with
 * members come back Stable, and members that do not heartbeat within their session timeout are removed.
 *
 * Transactional offsets (TxnOffsetCommit, KIP-98/KIP-447, Kafka's GroupMetadataManager): written to the group's
 * partition as a transactional batch carrying the producer id and epoch (base sequence 0, as Kafka's coordinator
 * writes them; the store appends them as the coordinator, never through the client Produce checks), durable
 * before the answer, then PENDING per (group, producer): invisible to OffsetFetch (requireStable answers
 * UNSTABLE_OFFSET_COMMIT for their partitions) until the producer's COMMIT marker is durable on the partition
 * (`completeTxn`, told by the partition side's marker listener on this same thread), which makes them committed
 * unless a commit later in the log already is; an ABORT marker drops them. On load, a transactional batch is
 * pending until its producer's marker is met in the log; one whose marker is not there stays pending (the
 * transaction coordinator writes the marker later, and it arrives through `completeTxn`). Markers told while a
 * partition loads are applied when the load ends. A stale producer epoch (below one seen in a marker or a pending
 * commit on the partition) gets INVALID_PRODUCER_EPOCH; with a TxnVerifier set, the partition must also have been
 * added to the transaction (KIP-890 part 1).
 *
 * Limits (GroupCoordinatorConfig): members per group (GROUP_MAX_SIZE_REACHED), pending MEMBER_ID_REQUIRED
 * joins per group (counted with the members), groups per coordinator (COORDINATOR_NOT_AVAILABLE for a new
 * group beyond it), protocol metadata bytes per member (INVALID_REQUEST... see join), group record bytes,
 * offset metadata bytes (OFFSET_METADATA_TOO_LARGE), pending transactional offsets per `__consumer_offsets`
 * partition (INVALID_COMMIT_OFFSET_SIZE: the producer's transaction aborts, which frees them). Offsets per
 * group are bounded by the partitions that exist (commits for unknown partitions are refused by the handler).
 */
import { randomUUID } from 'node:crypto';
import { ErrorCode } from '../protocol/errors.js';
import { buildRecordBatch, isControl, isTransactional, iterateRecords, readBatchHeader, type RecordInput } from '../protocol/records.js';
import { CONSUMER_PROTOCOL_TYPE } from './consumer-protocol.js';
import { Group, GroupState, Member, offsetKey, parseOffsetKey, type CommittedOffset, type GroupStateName, type JoinResult, type PendingTxnOffset, type Protocol, type SyncResult } from './group.js';
import { InternalTopicPartitions, replayedPayload, type InternalTopic, type CoordinatorRoute, type Logger } from './internal-topic.js';
import { OFFSETS_TOPIC, partitionForGroup } from './partitioning.js';
import { decodeControlKey, decodeGroupValue, decodeKey, decodeOffsetValue, encodeGroupKey, encodeGroupValue, encodeOffsetKey, encodeOffsetValue, type GroupValue } from './records.js';
import type { MarkerListener, TxnVerifier } from '../txn/index.js';
import type { OffsetsStore } from './store.js';
import type { TimerHandle, Timers } from './timers.js';

export interface GroupCoordinatorConfig {
  /** Kafka `offsets.topic.num.partitions`. */
  offsetsTopicPartitions: number;
  /** Kafka `group.initial.rebalance.delay.ms`: how long a group that was Empty waits for more members. */
  groupInitialRebalanceDelayMs: number;
  /** Kafka `group.min.session.timeout.ms` / `group.max.session.timeout.ms`. */
  groupMinSessionTimeoutMs: number;
  groupMaxSessionTimeoutMs: number;
  /** Kafka `group.max.size`: members (and pending joins) per group. */
  groupMembersMax: number;
  /** Groups one coordinator holds (Empty ones with offsets included). */
  groupsMax: number;
  /** Sum of one member's JoinGroup protocol metadata bytes. */
  groupMemberMetadataBytesMax: number;
  /** Encoded group metadata record (members' subscriptions and assignments): Kafka's max.message.bytes of the offsets topic. */
  groupRecordBytesMax: number;
  /** Kafka `offset.metadata.max.bytes`. */
  offsetMetadataBytesMax: number;
  /** Kafka `offsets.retention.minutes`, in ms. */
  offsetsRetentionMs: number;
  /** Kafka `offsets.retention.check.interval.ms`. */
  offsetsRetentionCheckIntervalMs: number;
  /**
   * Offsets committed inside open transactions that one `__consumer_offsets` partition holds, over all its groups
   * and producers (Kafka has no such bound). A TxnOffsetCommit that would pass it: INVALID_COMMIT_OFFSET_SIZE.
   */
  txnOffsetsPendingPerPartitionMax: number;
}

export const groupCoordinatorDefaults: GroupCoordinatorConfig = {
  offsetsTopicPartitions: 50,
  groupInitialRebalanceDelayMs: 3000,
  groupMinSessionTimeoutMs: 6000,
  groupMaxSessionTimeoutMs: 1_800_000,
  groupMembersMax: 1000,
  groupsMax: 100_000,
  groupMemberMetadataBytesMax: 1024 * 1024,
  groupRecordBytesMax: 8 * 1024 * 1024,
  offsetMetadataBytesMax: 4096,
  offsetsRetentionMs: 7 * 24 * 60 * 60 * 1000,
  offsetsRetentionCheckIntervalMs: 600_000,
  txnOffsetsPendingPerPartitionMax: 20_000,
};

/**
 * Producers per `__consumer_offsets` partition whose last known epoch is remembered for fencing (from markers and
 * transactional commits); the oldest is forgotten beyond it (a zombie of a forgotten producer is then caught
 * only by the TxnVerifier, as before KIP-890 in Kafka).
 */
const PRODUCER_EPOCHS_PER_PARTITION_MAX = 10_000;

/** Markers told while a partition loads, kept (one per producer) until the load ends. */
const MARKERS_WHILE_LOADING_MAX = 10_000;

/** Kafka's NewMemberJoinTimeoutMs: a new member that does not rejoin within it is dropped from the rebalance. */
const NEW_MEMBER_JOIN_TIMEOUT_MS = 300_000;

export type { Logger };

export interface JoinGroupInput {
  groupId: string;
  memberId: string;
  groupInstanceId: string | null;
  /** JoinGroup v4+: a member without an id first gets MEMBER_ID_REQUIRED with one (KIP-394). */
  requireKnownMemberId: boolean;
  /** JoinGroup v9+: a rejoining static leader may skip computing the assignment. */
  supportsSkipAssignment: boolean;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocolType: string;
  protocols: Protocol[];
}

export interface SyncGroupInput {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId: string | null;
  /** v5+: must match the group's when given. */
  protocolType: string | null;
  protocolName: string | null;
  assignments: { memberId: string; assignment: Buffer }[];
}

export interface MemberRef {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId: string | null;
}

export interface OffsetCommitEntry {
  topic: string;
  partition: number;
  offset: number;
  leaderEpoch: number;
  metadata: string | null;
  /** The commit timestamp to store; -1: now (OffsetCommit v1 may give one, later versions never). */
  commitTimestamp: number;
  /**
   * OffsetCommit v2-4 RetentionTimeMs: the offset expires this long after now. -1: the broker's rule
   * (offsets.retention.minutes, counted from when the group empties: KIP-211).
   */
  retentionMs: number;
}

/** One partition of a TxnOffsetCommit. */
export interface TxnOffsetCommitEntry {
  topic: string;
  partition: number;
  offset: number;
  leaderEpoch: number;
  metadata: string | null;
}

/** TxnOffsetCommit's request-level fields; v0-2 carry no member: memberId '', generationId -1, groupInstanceId null. */
export interface TxnOffsetCommitInput {
  transactionalId: string;
  groupId: string;
  producerId: number;
  producerEpoch: number;
  memberId: string;
  generationId: number;
  groupInstanceId: string | null;
}

export interface PartitionError {
  topic: string;
  partition: number;
  errorCode: number;
}

export interface FetchedOffset {
  topic: string;
  partition: number;
  offset: number;
  leaderEpoch: number;
  metadata: string;
  errorCode: number;
}

export interface GroupDescription {
  errorCode: number;
  groupId: string;
  state: string;
  protocolType: string;
  protocolData: string;
  members: { memberId: string; groupInstanceId: string | null; clientId: string; clientHost: string; metadata: Buffer; assignment: Buffer }[];
}

export interface GroupListing {
  groupId: string;
  protocolType: string;
  state: string;
}

interface OwnedPartition {
  loading: boolean;
  groups: Map<string, Group>;
  /** producer id -> ids of the groups holding its pending transactional offsets (Kafka's openGroupsForProducer). */
  producers: Map<number, Set<string>>;
  /** Pending transactional offsets of all its groups. Invariant: the sum of their PendingTxn offsets' sizes. */
  pendingTxnOffsets: number;
  /** Last epoch seen per producer (markers, transactional commits), insertion order = least recently seen first. */
  producerEpochs: Map<number, number>;
  /** Markers told while loading: producer id -> commit. */
  markersWhileLoading: Map<number, boolean>;
}

function ownedPartition(): OwnedPartition {
  return { loading: true, groups: new Map(), producers: new Map(), pendingTxnOffsets: 0, producerEpochs: new Map(), markersWhileLoading: new Map() };
}

export interface GroupCoordinatorOptions {
  config: GroupCoordinatorConfig;
  store: OffsetsStore;
  timers: Timers;
  logger: Logger;
  /** `__consumer_offsets` partitions this coordinator owns (default: all). */
  ownedPartitions?: readonly number[] | (() => readonly number[]);
  /** The internal topic: whether it exists, and how to create it (called at most once at a time). */
  offsetsTopic: InternalTopic;
}

export class GroupCoordinator {
  readonly config: GroupCoordinatorConfig;
  private readonly store: OffsetsStore;
  private readonly timers: Timers;
  private readonly logger: Logger;
  /** Invariant: only owned partitions are keys; a loaded partition's map holds every live group of it. */
  private readonly partitions = new Map<number, OwnedPartition>();
  /**
   * `__consumer_offsets`: ownership (on a shard: the partitions the shard table gives it, once the topic exists),
   * creation, loading, routing.
   */
  private readonly offsetsTopic: InternalTopicPartitions<OwnedPartition>;
  private expiryTimer: TimerHandle | null = null;
  private groupCount = 0;
  private txnVerifier: TxnVerifier | null = null;

  constructor(opts: GroupCoordinatorOptions) {
    this.config = opts.config;
    this.store = opts.store;
    this.timers = opts.timers;
    this.logger = opts.logger;
    this.offsetsTopic = new InternalTopicPartitions({
      name: OFFSETS_TOPIC,
      topic: opts.offsetsTopic,
      partitionCount: opts.config.offsetsTopicPartitions,
      ...(opts.ownedPartitions ? { owned: opts.ownedPartitions } : {}),
      partitions: this.partitions,
      load: (p) => this.loadPartition(p),
      logger: opts.logger,
    });
  }

  private get closed(): boolean {
    return this.offsetsTopic.closed;
  }

  /**
   * Starts the expiry pass and, when the internal topic exists (a restart), loading the owned partitions in
   * the background: their groups answer COORDINATOR_LOAD_IN_PROGRESS until `loaded()` resolves.
   */
  start(): void {
    this.scheduleExpiry();
    this.offsetsTopic.start();
  }

  /** Resolves when every owned partition is loaded (or failed to load). */
  loaded(): Promise<void> {
    return this.offsetsTopic.loaded();
  }

  /**
   * Creates the internal topic if needed and loads it (FindCoordinator calls this, as Kafka creates
   * `__consumer_offsets` on the first FindCoordinator for a group); false when the creation failed.
   */
  ensureOffsetsTopic(): Promise<boolean> {
    return this.offsetsTopic.ensureTopic();
  }

  close(): void {
    this.offsetsTopic.close();
    if (this.expiryTimer) this.timers.clearTimeout(this.expiryTimer);
    for (const [p] of this.partitions) this.unloadPartition(p);
  }

  partitionFor(groupId: string): number {
    return partitionForGroup(groupId, this.config.offsetsTopicPartitions);
  }

  // --- loading ----------------------------------------------------------------------------------------------

  /**
   * Replays one partition of the internal topic; its groups answer COORDINATOR_LOAD_IN_PROGRESS meanwhile.
   * Plain offset records apply in log order; transactional ones wait, per producer, for the producer's marker
   * (COMMIT: each becomes committed unless a commit later in the log already is; ABORT: dropped); those whose
   * marker is not in the log stay pending in their group.
   */
  async loadPartition(partition: number): Promise<void> {
    if (this.partitions.has(partition)) return;
    const owned = ownedPartition();
    this.partitions.set(partition, owned);
    const groupValues = new Map<string, GroupValue | null>();
    const offsets = new Map<string, Map<string, CommittedOffset>>();
    /** producer id -> its open transaction: epoch, and offsets by group then partition key. */
    const pending = new Map<number, { epoch: number; groups: Map<string, Map<string, CommittedOffset>> }>();
    let records = 0;
    let skipped = 0;
    for await (const batch of this.store.read(partition)) {
      const header = readBatchHeader(batch, 0);
      const payload = await replayedPayload(batch, header);
      if (isControl(header.attributes)) {
        let type: 'commit' | 'abort' | null = null;
        try {
          for (const r of iterateRecords(payload, header)) {
            type = decodeControlKey(r.key);
            break;
          }
        } catch (err) {
          this.logger.warn({ err, partition, offset: header.baseOffset }, 'skipping an unreadable control batch in __consumer_offsets');
        }
        if (type === null) continue;
        const txn = pending.get(header.producerId);
        pending.delete(header.producerId);
        this.noteProducerEpoch(owned, header.producerId, header.producerEpoch);
        if (txn === undefined || type === 'abort') continue;
        for (const [groupId, byTp] of txn.groups) {
          const committed = offsets.get(groupId) ?? new Map<string, CommittedOffset>();
          offsets.set(groupId, committed);
          for (const [k, v] of byTp) {
            const current = committed.get(k);
            if (current === undefined || current.logOffset <= v.logOffset) committed.set(k, v);
          }
        }
        continue;
      }
      const producerId = isTransactional(header.attributes) && header.producerId >= 0 ? header.producerId : null;
      for (const r of iterateRecords(payload, header)) {
        records++;
        if (r.key === null) {
          skipped++;
          continue;
        }
        try {
          const key = decodeKey(r.key);
          if (key.type === 'offset') {
            let byTp: Map<string, CommittedOffset>;
            if (producerId !== null) {
              const txn = pending.get(producerId) ?? { epoch: header.producerEpoch, groups: new Map() };
              pending.set(producerId, txn);
              txn.epoch = header.producerEpoch;
              byTp = txn.groups.get(key.group) ?? new Map();
              txn.groups.set(key.group, byTp);
            } else {
              byTp = offsets.get(key.group) ?? new Map();
              offsets.set(key.group, byTp);
            }
            if (r.value === null) byTp.delete(offsetKey(key.topic, key.partition));
            else byTp.set(offsetKey(key.topic, key.partition), { ...decodeOffsetValue(r.value), logOffset: header.baseOffset });
          } else if (key.type === 'group') {
            groupValues.set(key.group, r.value === null ? null : decodeGroupValue(r.value));
          } else {
            skipped++;
          }
        } catch (err) {
          skipped++;
          this.logger.warn({ err, partition, offset: r.offset }, 'skipping an unreadable __consumer_offsets record');
        }
      }
    }
    if (this.partitions.get(partition) !== owned) return; // unloaded meanwhile
    const now = this.timers.now();
    const pendingGroups = new Set<string>();
    for (const txn of pending.values()) for (const [id, byTp] of txn.groups) if (byTp.size > 0) pendingGroups.add(id);
    const ids = new Set([...groupValues.keys(), ...offsets.keys(), ...pendingGroups]);
    for (const id of ids) {
      const value = groupValues.get(id) ?? null;
      const committed = offsets.get(id);
      if (value === null && (committed === undefined || committed.size === 0) && !pendingGroups.has(id)) continue;
      const g = new Group(id, partition, now);
      if (value !== null) {
        g.generationId = value.generation;
        g.protocolType = value.protocolType === '' ? null : value.protocolType;
        g.protocolName = value.protocol;
        g.stateTimestampMs = value.currentStateTimestamp >= 0 ? value.currentStateTimestamp : now;
        for (const m of value.members) {
          const member = new Member(m.memberId, m.groupInstanceId, m.clientId, m.clientHost, m.rebalanceTimeoutMs, m.sessionTimeoutMs, value.protocol === null ? [] : [{ name: value.protocol, metadata: m.subscription }], now);
          member.assignment = m.assignment;
          g.add(member);
        }
        g.leaderId = value.leader !== null && g.members.has(value.leader) ? value.leader : g.leaderId;
        if (g.size > 0) g.state = GroupState.Stable;
      }
      for (const [k, v] of committed ?? []) g.offsets.set(k, v);
      owned.groups.set(id, g);
      this.groupCount++;
      for (const m of g.members.values()) this.scheduleHeartbeat(g, m);
    }
    for (const [producerId, txn] of pending) {
      for (const [id, byTp] of txn.groups) {
        const g = owned.groups.get(id);
        if (g === undefined || byTp.size === 0) continue;
        const open = this.openTxn(owned, g, producerId, txn.epoch);
        for (const [k, v] of byTp) {
          open.offsets.set(k, { value: v, durable: true, outcome: null });
          owned.pendingTxnOffsets++;
        }
      }
    }
    owned.loading = false;
    // Markers that became durable while the replay ran: a no-op for those it met already.
    const told = [...owned.markersWhileLoading];
    owned.markersWhileLoading.clear();
    for (const [producerId, commit] of told) this.completeTxn(partition, producerId, commit);
    if (records > 0) this.logger.info({ partition, records, skipped, groups: owned.groups.size, pendingTxnOffsets: owned.pendingTxnOffsets }, 'loaded __consumer_offsets partition');
  }

  /** Drops a partition's groups (its ownership moved): waiting joins and syncs get NOT_COORDINATOR. */
  unloadPartition(partition: number): void {
    const owned = this.partitions.get(partition);
    if (!owned) return;
    this.partitions.delete(partition);
    for (const g of owned.groups.values()) {
      this.groupCount--;
      this.clearGroupTimers(g);
      for (const m of g.members.values()) {
        m.joinWaiter?.(joinError(ErrorCode.NOT_COORDINATOR, m.memberId));
        m.joinWaiter = null;
        m.syncWaiter?.(syncError(ErrorCode.NOT_COORDINATOR));
        m.syncWaiter = null;
      }
      g.transition(GroupState.Dead, this.timers.now());
    }
  }

  // --- routing ----------------------------------------------------------------------------------------------

  private async route(groupId: string, allowEmptyId: boolean): Promise<CoordinatorRoute> {
    if (!allowEmptyId && groupId === '') return { ok: false, errorCode: ErrorCode.INVALID_GROUP_ID };
    return this.offsetsTopic.route(this.partitionFor(groupId));
  }

  private group(partition: number, groupId: string): Group | undefined {
    const g = this.partitions.get(partition)?.groups.get(groupId);
    return g === undefined || g.is(GroupState.Dead) ? undefined : g;
  }

  private addGroup(partition: number, groupId: string): Group | null {
    if (this.groupCount >= this.config.groupsMax) return null;
    const g = new Group(groupId, partition, this.timers.now());
    this.partitions.get(partition)!.groups.set(groupId, g);
    this.groupCount++;
    return g;
  }

  private removeGroup(g: Group): void {
    const owned = this.partitions.get(g.partition);
    if (owned?.groups.get(g.groupId) === g) {
      owned.groups.delete(g.groupId);
      this.groupCount--;
      // As Kafka: a deleted group's open transactions lose their offsets (their markers find nothing).
      for (const [producerId, txn] of g.pendingTxns) {
        owned.pendingTxnOffsets -= txn.offsets.size;
        this.unindexProducer(owned, producerId, g.groupId);
      }
    }
    g.pendingTxns.clear();
    this.clearGroupTimers(g);
    g.transition(GroupState.Dead, this.timers.now());
  }

  /** The group's open transaction of `producerId`, created (and indexed) if it has none. */
  private openTxn(owned: OwnedPartition, g: Group, producerId: number, producerEpoch: number): { producerEpoch: number; offsets: Map<string, PendingTxnOffset> } {
    let txn = g.pendingTxns.get(producerId);
    if (txn === undefined) {
      txn = { producerEpoch, offsets: new Map() };
      g.pendingTxns.set(producerId, txn);
      let ids = owned.producers.get(producerId);
      if (ids === undefined) {
        ids = new Set();
        owned.producers.set(producerId, ids);
      }
      ids.add(g.groupId);
    }
    txn.producerEpoch = Math.max(txn.producerEpoch, producerEpoch);
    return txn;
  }

  private unindexProducer(owned: OwnedPartition, producerId: number, groupId: string): void {
    const ids = owned.producers.get(producerId);
    if (ids === undefined) return;
    ids.delete(groupId);
    if (ids.size === 0) owned.producers.delete(producerId);
  }

  /** Remembers the producer's latest epoch on the partition (most recently seen last; the oldest forgotten). */
  private noteProducerEpoch(owned: OwnedPartition, producerId: number, producerEpoch: number): void {
    if (producerId < 0) return;
    const known = owned.producerEpochs.get(producerId);
    owned.producerEpochs.delete(producerId);
    owned.producerEpochs.set(producerId, known === undefined ? producerEpoch : Math.max(known, producerEpoch));
    if (owned.producerEpochs.size > PRODUCER_EPOCHS_PER_PARTITION_MAX) {
      const oldest = owned.producerEpochs.keys().next().value as number;
      owned.producerEpochs.delete(oldest);
    }
  }

  private clearGroupTimers(g: Group): void {
    if (g.rebalanceTimer) this.timers.clearTimeout(g.rebalanceTimer);
    g.rebalanceTimer = null;
    for (const m of g.members.values()) if (m.heartbeatTimer) this.timers.clearTimeout(m.heartbeatTimer);
    for (const t of g.pendingMembers.values()) this.timers.clearTimeout(t);
  }

  // --- JoinGroup --------------------------------------------------------------------------------------------

  async joinGroup(req: JoinGroupInput): Promise<JoinResult> {
    const route = await this.route(req.groupId, false);
    if (!route.ok) return joinError(route.errorCode, req.memberId);
    const { groupMinSessionTimeoutMs: min, groupMaxSessionTimeoutMs: max } = this.config;
    if (req.sessionTimeoutMs < min || req.sessionTimeoutMs > max) return joinError(ErrorCode.INVALID_SESSION_TIMEOUT, req.memberId);
    let metadataBytes = 0;
    for (const p of req.protocols) metadataBytes += p.metadata.length + Buffer.byteLength(p.name);
    // No Kafka error names "subscription too big"; Kafka itself fails such a group when storing it.
    if (metadataBytes > this.config.groupMemberMetadataBytesMax) return joinError(ErrorCode.INVALID_REQUEST, req.memberId);
    let g = this.group(route.partition, req.groupId);
    if (g === undefined) {
      if (req.memberId !== '') return joinError(ErrorCode.UNKNOWN_MEMBER_ID, req.memberId);
      g = this.addGroup(route.partition, req.groupId) ?? undefined;
      if (g === undefined) return joinError(ErrorCode.COORDINATOR_NOT_AVAILABLE, req.memberId);
    }
    const known = req.memberId !== '' && (g.members.has(req.memberId) || g.pendingMembers.has(req.memberId));
    const knownStatic = g.staticMemberId(req.groupInstanceId) !== undefined;
    if (!known && !knownStatic && g.size + g.pendingMembers.size >= this.config.groupMembersMax) {
      return joinError(ErrorCode.GROUP_MAX_SIZE_REACHED, req.memberId);
    }
    const result = req.memberId === '' ? this.joinUnknownMember(g, req) : this.joinKnownMember(g, req);
    // A group created by this join that ended up with nobody in it (the join was refused) is not kept.
    if (g.disposable && g.pendingMembers.size === 0) this.removeGroup(g);
    return result;
  }

  private joinUnknownMember(g: Group, req: JoinGroupInput): Promise<JoinResult> | JoinResult {
    if (!g.supportsProtocols(req.protocolType, req.protocols)) return joinError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, '');
    const newMemberId = `${req.groupInstanceId ?? req.clientId}-${randomUUID()}`;
    if (req.groupInstanceId !== null) {
      const oldMemberId = g.staticMemberId(req.groupInstanceId);
      if (oldMemberId !== undefined) return this.replaceStaticMember(g, req, oldMemberId, newMemberId);
      return this.addMemberAndRebalance(g, req, newMemberId);
    }
    if (req.requireKnownMemberId) {
      // KIP-394: hand out the id first; the member is counted as pending (the rebalance waits for it) until
      // it rejoins with it, or for its session timeout.
      const timer = this.timers.setTimeout(() => {
        if (g.pendingMembers.delete(newMemberId) && g.is(GroupState.PreparingRebalance)) this.tryCompleteJoin(g);
      }, req.sessionTimeoutMs);
      g.pendingMembers.set(newMemberId, timer);
      return joinError(ErrorCode.MEMBER_ID_REQUIRED, newMemberId);
    }
    return this.addMemberAndRebalance(g, req, newMemberId);
  }

  private joinKnownMember(g: Group, req: JoinGroupInput): Promise<JoinResult> | JoinResult {
    const memberId = req.memberId;
    if (g.isStaticMemberFenced(memberId, req.groupInstanceId)) return joinError(ErrorCode.FENCED_INSTANCE_ID, memberId);
    const pending = g.pendingMembers.get(memberId);
    if (pending !== undefined) {
      this.timers.clearTimeout(pending);
      g.pendingMembers.delete(memberId);
      if (!g.supportsProtocols(req.protocolType, req.protocols)) {
        if (g.is(GroupState.PreparingRebalance)) this.tryCompleteJoin(g);
        return joinError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, memberId);
      }
      return this.addMemberAndRebalance(g, req, memberId);
    }
    const member = g.members.get(memberId);
    if (!member) return joinError(ErrorCode.UNKNOWN_MEMBER_ID, memberId);
    // A known member may change its protocols, but they must still fit the group's type and candidates.
    if (g.protocolType !== req.protocolType || !req.protocols.some((p) => g.size === 1 || g.candidateProtocols(member).has(p.name))) {
      return joinError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, memberId);
    }
    switch (g.state) {
      case GroupState.PreparingRebalance:
        return this.updateMemberAndRebalance(g, member, req);
      case GroupState.CompletingRebalance:
        if (member.matches(req.protocols)) {
          // Its JoinGroup response was lost: answer again with the current generation.
          return this.joinResponse(g, member, false);
        }
        return this.updateMemberAndRebalance(g, member, req);
      case GroupState.Stable:
        if (memberId === g.leaderId || !member.matches(req.protocols)) return this.updateMemberAndRebalance(g, member, req);
        this.scheduleHeartbeat(g, member);
        return this.joinResponse(g, member, false);
      default:
        return joinError(ErrorCode.UNKNOWN_MEMBER_ID, memberId);
    }
  }

  private joinResponse(g: Group, member: Member, skipAssignment: boolean): JoinResult {
    const isLeader = member.memberId === g.leaderId;
    return {
      errorCode: ErrorCode.NONE,
      memberId: member.memberId,
      generationId: g.generationId,
      protocolType: g.protocolType,
      protocolName: g.protocolName,
      leader: g.leaderId ?? '',
      skipAssignment,
      members: isLeader ? this.memberMetadata(g) : [],
    };
  }

  private memberMetadata(g: Group): JoinResult['members'] {
    const protocol = g.protocolName ?? '';
    return [...g.members.values()].map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, metadata: m.metadataFor(protocol) }));
  }

  private addMemberAndRebalance(g: Group, req: JoinGroupInput, memberId: string): Promise<JoinResult> {
    const now = this.timers.now();
    const member = new Member(memberId, req.groupInstanceId, req.clientId, req.clientHost, req.rebalanceTimeoutMs, req.sessionTimeoutMs, req.protocols, now);
    member.isNew = true;
    if (g.size === 0) g.protocolType = req.protocolType;
    const done = new Promise<JoinResult>((resolve) => {
      member.joinWaiter = resolve;
    });
    g.add(member);
    // Kafka: during the initial delay, every new member extends the wait (up to the rebalance timeout).
    if (g.is(GroupState.PreparingRebalance) && g.initialDelay !== null) g.newMemberAdded = true;
    // A new member that never completes its join is dropped (Kafka's NewMemberJoinTimeoutMs).
    this.scheduleHeartbeatAt(g, member, NEW_MEMBER_JOIN_TIMEOUT_MS);
    this.maybePrepareRebalance(g, `member ${memberId} joined`);
    if (g.is(GroupState.PreparingRebalance)) this.tryCompleteJoin(g);
    return done;
  }

  private updateMemberAndRebalance(g: Group, member: Member, req: JoinGroupInput): Promise<JoinResult> {
    const done = this.awaitJoin(member, req);
    this.maybePrepareRebalance(g, `member ${member.memberId} rejoined`);
    if (g.is(GroupState.PreparingRebalance)) this.tryCompleteJoin(g);
    return done;
  }

  private awaitJoin(member: Member, req: JoinGroupInput): Promise<JoinResult> {
    member.protocols = req.protocols;
    member.rebalanceTimeoutMs = req.rebalanceTimeoutMs;
    member.sessionTimeoutMs = req.sessionTimeoutMs;
    member.clientId = req.clientId;
    member.clientHost = req.clientHost;
    // A second JoinGroup from a member replaces the first (whose client gave up on it).
    member.joinWaiter?.(joinError(ErrorCode.REBALANCE_IN_PROGRESS, member.memberId));
    return new Promise<JoinResult>((resolve) => {
      member.joinWaiter = resolve;
    });
  }

  /**
   * A static member (known group.instance.id) rejoining with a new member id: the old id is fenced. In a
   * Stable group whose protocol would not change, this is not a rebalance: the group is stored with the new
   * id and the member gets the current generation back, then its old assignment through SyncGroup (KIP-345).
   */
  private async replaceStaticMember(g: Group, req: JoinGroupInput, oldMemberId: string, newMemberId: string): Promise<JoinResult> {
    const oldLeader = g.leaderId;
    const old = g.members.get(oldMemberId)!;
    const saved = { protocols: old.protocols, rebalance: old.rebalanceTimeoutMs, session: old.sessionTimeoutMs, clientId: old.clientId, clientHost: old.clientHost };
    // The old member's pending join or sync (if any) is fenced.
    old.joinWaiter?.(joinError(ErrorCode.FENCED_INSTANCE_ID, oldMemberId));
    old.joinWaiter = null;
    old.syncWaiter?.(syncError(ErrorCode.FENCED_INSTANCE_ID));
    old.syncWaiter = null;
    const member = g.replaceStatic(req.groupInstanceId!, oldMemberId, newMemberId);
    this.scheduleHeartbeat(g, member);
    switch (g.state) {
      case GroupState.Stable: {
        member.protocols = req.protocols;
        member.rebalanceTimeoutMs = req.rebalanceTimeoutMs;
        member.sessionTimeoutMs = req.sessionTimeoutMs;
        member.clientId = req.clientId;
        member.clientHost = req.clientHost;
        if (g.selectProtocol() !== g.protocolName) {
          const done = this.awaitJoin(member, req);
          this.prepareRebalance(g, `static member ${req.groupInstanceId} rejoined with other protocols`);
          return done;
        }
        const generation = g.generationId;
        const error = await this.storeGroup(g);
        if (error !== ErrorCode.NONE) {
          // Undo, unless the group moved on meanwhile.
          if (g.members.get(newMemberId) === member && g.generationId === generation) {
            g.replaceStatic(req.groupInstanceId!, newMemberId, oldMemberId);
            member.protocols = saved.protocols;
            member.rebalanceTimeoutMs = saved.rebalance;
            member.sessionTimeoutMs = saved.session;
            member.clientId = saved.clientId;
            member.clientHost = saved.clientHost;
          }
          return joinError(error, '');
        }
        const isLeader = g.leaderId === newMemberId;
        // The rejoined leader is told the old leader id (so it acts as a follower and keeps the stored
        // assignment), or, from v9, that it may skip the assignment.
        return {
          errorCode: ErrorCode.NONE,
          memberId: newMemberId,
          generationId: g.generationId,
          protocolType: g.protocolType,
          protocolName: g.protocolName,
          leader: isLeader && req.supportsSkipAssignment ? newMemberId : (oldLeader ?? ''),
          skipAssignment: isLeader && req.supportsSkipAssignment,
          members: isLeader && req.supportsSkipAssignment ? this.memberMetadata(g) : [],
        };
      }
      case GroupState.CompletingRebalance: {
        const done = this.awaitJoin(member, req);
        this.prepareRebalance(g, `static member ${req.groupInstanceId} rejoined during CompletingRebalance`);
        return done;
      }
      default: {
        const done = this.awaitJoin(member, req);
        this.tryCompleteJoin(g);
        return done;
      }
    }
  }

  private maybePrepareRebalance(g: Group, reason: string): void {
    if (g.is(GroupState.Stable) || g.is(GroupState.CompletingRebalance) || g.is(GroupState.Empty)) this.prepareRebalance(g, reason);
  }

  private prepareRebalance(g: Group, reason: string): void {
    if (g.is(GroupState.CompletingRebalance)) this.resetAndPropagateAssignmentError(g, ErrorCode.REBALANCE_IN_PROGRESS);
    const wasEmpty = g.is(GroupState.Empty);
    g.transition(GroupState.PreparingRebalance, this.timers.now());
    if (g.rebalanceTimer) this.timers.clearTimeout(g.rebalanceTimer);
    this.logger.info({ group: g.groupId, generation: g.generationId, reason }, 'preparing to rebalance group');
    if (wasEmpty) {
      const delay = Math.min(this.config.groupInitialRebalanceDelayMs, g.rebalanceTimeoutMs);
      g.initialDelay = { remainingMs: Math.max(g.rebalanceTimeoutMs - delay, 0) };
      g.newMemberAdded = false;
      g.rebalanceTimer = this.timers.setTimeout(() => this.onInitialDelay(g), delay);
    } else {
      g.initialDelay = null;
      g.rebalanceTimer = this.timers.setTimeout(() => this.completeJoin(g), g.rebalanceTimeoutMs);
    }
  }

  private onInitialDelay(g: Group): void {
    g.rebalanceTimer = null;
    const d = g.initialDelay;
    if (d === null || !g.is(GroupState.PreparingRebalance)) return;
    if (g.newMemberAdded && d.remainingMs > 0) {
      g.newMemberAdded = false;
      const delay = Math.min(this.config.groupInitialRebalanceDelayMs, d.remainingMs);
      d.remainingMs = Math.max(d.remainingMs - this.config.groupInitialRebalanceDelayMs, 0);
      g.rebalanceTimer = this.timers.setTimeout(() => this.onInitialDelay(g), delay);
      return;
    }
    this.completeJoin(g);
  }

  /** Completes the join phase early once every member has rejoined (not during the initial delay). */
  private tryCompleteJoin(g: Group): void {
    if (g.is(GroupState.PreparingRebalance) && g.initialDelay === null && g.hasAllMembersJoined()) this.completeJoin(g);
  }

  private completeJoin(g: Group): void {
    if (!g.is(GroupState.PreparingRebalance)) return;
    if (g.rebalanceTimer) this.timers.clearTimeout(g.rebalanceTimer);
    g.rebalanceTimer = null;
    g.initialDelay = null;
    const now = this.timers.now();
    // Dynamic members that did not rejoin in time are out; static ones keep their place (KIP-345).
    for (const m of [...g.members.values()]) {
      if (m.joinWaiter === null && !m.isStatic) this.removeMember(g, m, 'did not rejoin in time');
    }
    if (g.size === 0) {
      g.generationId++;
      g.protocolName = null;
      g.leaderId = null;
      g.transition(GroupState.Empty, now);
      this.logger.info({ group: g.groupId, generation: g.generationId }, 'group is empty');
      void this.storeGroup(g);
      return;
    }
    // The leader must be a member that rejoined; if none did (only absent static members), wait again.
    const leader = g.leaderId !== null ? g.members.get(g.leaderId) : undefined;
    if (leader === undefined || leader.joinWaiter === null) {
      const joined = [...g.members.values()].find((m) => m.joinWaiter !== null);
      if (joined === undefined) {
        g.rebalanceTimer = this.timers.setTimeout(() => this.completeJoin(g), g.rebalanceTimeoutMs);
        return;
      }
      g.leaderId = joined.memberId;
    }
    g.generationId++;
    g.protocolName = g.selectProtocol();
    g.transition(GroupState.CompletingRebalance, now);
    this.logger.info({ group: g.groupId, generation: g.generationId, protocol: g.protocolName, members: g.size }, 'group joined');
    for (const m of g.members.values()) {
      const waiter = m.joinWaiter;
      m.isNew = false;
      if (waiter === null) continue;
      m.joinWaiter = null;
      this.scheduleHeartbeat(g, m);
      waiter(this.joinResponse(g, m, false));
    }
  }

  // --- SyncGroup --------------------------------------------------------------------------------------------

  async syncGroup(req: SyncGroupInput): Promise<SyncResult> {
    const route = await this.route(req.groupId, false);
    if (!route.ok) return syncError(route.errorCode);
    const g = this.group(route.partition, req.groupId);
    if (g === undefined) return syncError(ErrorCode.UNKNOWN_MEMBER_ID);
    if (g.isStaticMemberFenced(req.memberId, req.groupInstanceId)) return syncError(ErrorCode.FENCED_INSTANCE_ID);
    const member = g.members.get(req.memberId);
    if (!member) return syncError(ErrorCode.UNKNOWN_MEMBER_ID);
    if (req.generationId !== g.generationId) return syncError(ErrorCode.ILLEGAL_GENERATION);
    if ((req.protocolType !== null && req.protocolType !== g.protocolType) || (req.protocolName !== null && req.protocolName !== g.protocolName)) {
      return syncError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    }
    switch (g.state) {
      case GroupState.Empty:
        return syncError(ErrorCode.UNKNOWN_MEMBER_ID);
      case GroupState.PreparingRebalance:
        return syncError(ErrorCode.REBALANCE_IN_PROGRESS);
      case GroupState.Stable:
        this.scheduleHeartbeat(g, member);
        return { errorCode: ErrorCode.NONE, protocolType: g.protocolType, protocolName: g.protocolName, assignment: member.assignment };
      case GroupState.CompletingRebalance:
        break;
      default:
        return syncError(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    }
    member.syncWaiter?.(syncError(ErrorCode.REBALANCE_IN_PROGRESS));
    const done = new Promise<SyncResult>((resolve) => {
      member.syncWaiter = resolve;
    });
    this.scheduleHeartbeat(g, member);
    if (member.memberId === g.leaderId) {
      const assignments = new Map<string, Buffer>();
      for (const a of req.assignments) if (g.members.has(a.memberId)) assignments.set(a.memberId, a.assignment);
      const generation = g.generationId;
      const error = await this.storeGroup(g, assignments);
      if (g.is(GroupState.CompletingRebalance) && g.generationId === generation) {
        if (error !== ErrorCode.NONE) {
          this.resetAndPropagateAssignmentError(g, error);
          this.maybePrepareRebalance(g, 'storing the group failed');
        } else {
          for (const m of g.members.values()) m.assignment = assignments.get(m.memberId) ?? Buffer.alloc(0);
          g.transition(GroupState.Stable, this.timers.now());
          this.logger.info({ group: g.groupId, generation }, 'group stabilized');
          for (const m of g.members.values()) {
            const waiter = m.syncWaiter;
            if (waiter === null) continue;
            m.syncWaiter = null;
            this.scheduleHeartbeat(g, m);
            waiter({ errorCode: ErrorCode.NONE, protocolType: g.protocolType, protocolName: g.protocolName, assignment: m.assignment });
          }
        }
      }
    }
    return done;
  }

  private resetAndPropagateAssignmentError(g: Group, errorCode: number): void {
    for (const m of g.members.values()) {
      m.assignment = Buffer.alloc(0);
      const waiter = m.syncWaiter;
      if (waiter === null) continue;
      m.syncWaiter = null;
      waiter(syncError(errorCode));
    }
  }

  // --- Heartbeat and session expiry -------------------------------------------------------------------------

  async heartbeat(req: MemberRef): Promise<number> {
    const route = await this.route(req.groupId, false);
    if (!route.ok) return route.errorCode;
    const g = this.group(route.partition, req.groupId);
    if (g === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (g.isStaticMemberFenced(req.memberId, req.groupInstanceId)) return ErrorCode.FENCED_INSTANCE_ID;
    const member = g.members.get(req.memberId);
    if (!member || g.is(GroupState.Empty)) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (req.generationId !== g.generationId) return ErrorCode.ILLEGAL_GENERATION;
    this.scheduleHeartbeat(g, member);
    return g.is(GroupState.PreparingRebalance) ? ErrorCode.REBALANCE_IN_PROGRESS : ErrorCode.NONE;
  }

  private scheduleHeartbeat(g: Group, m: Member): void {
    this.scheduleHeartbeatAt(g, m, m.sessionTimeoutMs);
  }

  private scheduleHeartbeatAt(g: Group, m: Member, timeoutMs: number): void {
    m.lastHeartbeatMs = this.timers.now();
    if (m.heartbeatTimer) this.timers.clearTimeout(m.heartbeatTimer);
    m.heartbeatTimer = this.timers.setTimeout(() => this.onHeartbeatExpired(g, m), timeoutMs);
  }

  private onHeartbeatExpired(g: Group, m: Member): void {
    m.heartbeatTimer = null;
    if (g.members.get(m.memberId) !== m || g.is(GroupState.Dead)) return;
    // Members waiting in a rebalance are kept: the rebalance timeout decides for them (new members: 5 min).
    const waitingJoin = m.joinWaiter !== null && !m.isNew;
    if (waitingJoin || m.syncWaiter !== null) {
      this.scheduleHeartbeat(g, m);
      return;
    }
    this.removeMemberAndUpdateGroup(g, m, 'session timeout expired');
  }

  // --- LeaveGroup -------------------------------------------------------------------------------------------

  /** Removes members (LeaveGroup v3+ batches them); a per-member error for unknown or fenced ones. */
  async leaveGroup(groupId: string, members: readonly { memberId: string; groupInstanceId: string | null }[]): Promise<{ errorCode: number; members: { memberId: string; groupInstanceId: string | null; errorCode: number }[] }> {
    const route = await this.route(groupId, false);
    if (!route.ok) return { errorCode: route.errorCode, members: [] };
    const g = this.group(route.partition, groupId);
    // As Kafka: no top-level error, every member unknown (LeaveGroup v0-2 report the member's error).
    if (g === undefined) return { errorCode: ErrorCode.NONE, members: members.map((m) => ({ ...m, errorCode: ErrorCode.UNKNOWN_MEMBER_ID })) };
    const out = [];
    for (const req of members) {
      let errorCode: number = ErrorCode.NONE;
      if (req.groupInstanceId !== null) {
        const current = g.staticMemberId(req.groupInstanceId);
        if (current === undefined) errorCode = ErrorCode.UNKNOWN_MEMBER_ID;
        else if (req.memberId !== '' && req.memberId !== current) errorCode = ErrorCode.FENCED_INSTANCE_ID;
        else this.removeMemberAndUpdateGroup(g, g.members.get(current)!, 'left the group');
      } else {
        const pending = g.pendingMembers.get(req.memberId);
        const member = g.members.get(req.memberId);
        if (pending !== undefined) {
          this.timers.clearTimeout(pending);
          g.pendingMembers.delete(req.memberId);
          this.tryCompleteJoin(g);
        } else if (member !== undefined) {
          this.removeMemberAndUpdateGroup(g, member, 'left the group');
        } else {
          errorCode = ErrorCode.UNKNOWN_MEMBER_ID;
        }
      }
      out.push({ memberId: req.memberId, groupInstanceId: req.groupInstanceId, errorCode });
    }
    return { errorCode: ErrorCode.NONE, members: out };
  }

  private removeMember(g: Group, m: Member, reason: string): void {
    if (m.heartbeatTimer) this.timers.clearTimeout(m.heartbeatTimer);
    m.heartbeatTimer = null;
    m.joinWaiter?.(joinError(ErrorCode.UNKNOWN_MEMBER_ID, m.memberId));
    m.joinWaiter = null;
    m.syncWaiter?.(syncError(ErrorCode.UNKNOWN_MEMBER_ID));
    m.syncWaiter = null;
    g.remove(m.memberId);
    this.logger.info({ group: g.groupId, member: m.memberId, reason }, 'member removed from group');
  }

  private removeMemberAndUpdateGroup(g: Group, m: Member, reason: string): void {
    this.removeMember(g, m, reason);
    if (g.is(GroupState.Stable) || g.is(GroupState.CompletingRebalance)) this.prepareRebalance(g, `member ${m.memberId} ${reason}`);
    else if (g.is(GroupState.PreparingRebalance)) this.tryCompleteJoin(g);
  }

  // --- offsets ----------------------------------------------------------------------------------------------

  /**
   * OffsetCommit. Generation -1 with an empty member id is a "simple" commit (a consumer that assigns its
   * partitions itself), allowed only while the group has no members; otherwise the member and generation must
   * match, and a group completing a rebalance answers REBALANCE_IN_PROGRESS (commits are allowed while
   * PreparingRebalance: consumers commit what they processed before rejoining).
   */
  async commitOffsets(ref: MemberRef, entries: readonly OffsetCommitEntry[]): Promise<PartitionError[]> {
    const all = (errorCode: number): PartitionError[] => entries.map((e) => ({ topic: e.topic, partition: e.partition, errorCode }));
    const route = await this.route(ref.groupId, true);
    if (!route.ok) return all(route.errorCode);
    let g = this.group(route.partition, ref.groupId);
    if (g === undefined) {
      if (ref.generationId >= 0) return all(ErrorCode.ILLEGAL_GENERATION);
      g = this.addGroup(route.partition, ref.groupId) ?? undefined;
      if (g === undefined) return all(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    }
    let errorCode: number = ErrorCode.NONE;
    if (g.isStaticMemberFenced(ref.memberId, ref.groupInstanceId)) errorCode = ErrorCode.FENCED_INSTANCE_ID;
    else if (ref.generationId < 0 && g.is(GroupState.Empty)) errorCode = ErrorCode.NONE;
    else if (g.is(GroupState.CompletingRebalance)) errorCode = ErrorCode.REBALANCE_IN_PROGRESS;
    else if (!g.members.has(ref.memberId)) errorCode = ErrorCode.UNKNOWN_MEMBER_ID;
    else if (ref.generationId !== g.generationId) errorCode = ErrorCode.ILLEGAL_GENERATION;
    if (errorCode !== ErrorCode.NONE) {
      if (g.disposable) this.removeGroup(g);
      return all(errorCode);
    }
    const member = g.members.get(ref.memberId);
    if (member) this.scheduleHeartbeat(g, member);
    const now = this.timers.now();
    const results: PartitionError[] = [];
    const accepted: { entry: OffsetCommitEntry; value: CommittedOffset }[] = [];
    for (const e of entries) {
      const metadata = e.metadata ?? '';
      if (Buffer.byteLength(metadata) > this.config.offsetMetadataBytesMax) {
        results.push({ topic: e.topic, partition: e.partition, errorCode: ErrorCode.OFFSET_METADATA_TOO_LARGE });
        continue;
      }
      const commitTimestamp = e.commitTimestamp === -1 ? now : e.commitTimestamp;
      const expireTimestamp = e.retentionMs === -1 ? null : now + e.retentionMs;
      accepted.push({ entry: e, value: { offset: e.offset, leaderEpoch: e.leaderEpoch, metadata, commitTimestamp, expireTimestamp, logOffset: -1 } });
    }
    if (accepted.length > 0) {
      const records: RecordInput[] = accepted.map((a) => ({ key: encodeOffsetKey(g.groupId, a.entry.topic, a.entry.partition), value: encodeOffsetValue(a.value) }));
      const { errorCode: error, baseOffset } = await this.appendBatch(g.partition, records, null);
      if (error === ErrorCode.NONE && !g.is(GroupState.Dead)) {
        for (const a of accepted) g.putCommitted(offsetKey(a.entry.topic, a.entry.partition), { ...a.value, logOffset: baseOffset });
      }
      for (const a of accepted) results.push({ topic: a.entry.topic, partition: a.entry.partition, errorCode: error });
    }
    if (g.disposable) this.removeGroup(g);
    return results;
  }

  /**
   * TxnOffsetCommit: stores offsets inside the producer's transaction (see the file comment). v3 carries the
   * member: checked as Kafka does for transactional commits (a fenced static member, a member id given but not
   * in the group, a generation given (>= 0) but not the group's); v0-2 skip those checks. Pending offsets of the
   * same producer and partition replace each other. Answers each partition's error; all share the append's.
   */
  async txnOffsetCommit(req: TxnOffsetCommitInput, entries: readonly TxnOffsetCommitEntry[]): Promise<PartitionError[]> {
    const all = (errorCode: number): PartitionError[] => entries.map((e) => ({ topic: e.topic, partition: e.partition, errorCode }));
    const route = await this.route(req.groupId, false);
    if (!route.ok) return all(route.errorCode);
    if (req.producerId < 0) return all(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    if (req.producerEpoch < 0) return all(ErrorCode.INVALID_PRODUCER_EPOCH);
    if (this.txnVerifier !== null) {
      let verified: number;
      try {
        verified = await this.txnVerifier.verifyPartition(req.transactionalId, req.producerId, req.producerEpoch, OFFSETS_TOPIC, route.partition);
      } catch (err) {
        this.logger.warn({ err, group: req.groupId }, 'verifying a transactional offset commit failed');
        verified = ErrorCode.COORDINATOR_NOT_AVAILABLE;
      }
      if (verified !== ErrorCode.NONE) return all(convertOffsetCommitError(verified));
    }
    // Nothing is awaited from here to the append: the checks and the pending state hold when it is placed.
    const owned = this.partitions.get(route.partition);
    if (owned === undefined || this.closed) return all(ErrorCode.NOT_COORDINATOR);
    if (owned.loading) return all(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
    let g = this.group(route.partition, req.groupId);
    if (g === undefined) {
      g = this.addGroup(route.partition, req.groupId) ?? undefined;
      if (g === undefined) return all(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    }
    const knownEpoch = Math.max(owned.producerEpochs.get(req.producerId) ?? -1, g.pendingTxns.get(req.producerId)?.producerEpoch ?? -1);
    let errorCode: number = ErrorCode.NONE;
    if (g.isStaticMemberFenced(req.memberId, req.groupInstanceId)) errorCode = ErrorCode.FENCED_INSTANCE_ID;
    else if (req.memberId !== '' && !g.members.has(req.memberId)) errorCode = ErrorCode.UNKNOWN_MEMBER_ID;
    else if (req.generationId >= 0 && req.generationId !== g.generationId) errorCode = ErrorCode.ILLEGAL_GENERATION;
    else if (req.producerEpoch < knownEpoch) errorCode = ErrorCode.INVALID_PRODUCER_EPOCH;
    const results: PartitionError[] = [];
    const accepted: TxnOffsetCommitEntry[] = [];
    if (errorCode === ErrorCode.NONE) {
      for (const e of entries) {
        if (Buffer.byteLength(e.metadata ?? '') > this.config.offsetMetadataBytesMax) results.push({ topic: e.topic, partition: e.partition, errorCode: ErrorCode.OFFSET_METADATA_TOO_LARGE });
        else accepted.push(e);
      }
      const open = g.pendingTxns.get(req.producerId);
      const added = new Set(accepted.map((e) => offsetKey(e.topic, e.partition)).filter((k) => open?.offsets.has(k) !== true)).size;
      if (owned.pendingTxnOffsets + added > this.config.txnOffsetsPendingPerPartitionMax) errorCode = ErrorCode.INVALID_COMMIT_OFFSET_SIZE;
    }
    if (errorCode !== ErrorCode.NONE || accepted.length === 0) {
      if (g.disposable) this.removeGroup(g);
      return errorCode !== ErrorCode.NONE ? all(errorCode) : results;
    }
    const now = this.timers.now();
    const txn = this.openTxn(owned, g, req.producerId, req.producerEpoch);
    this.noteProducerEpoch(owned, req.producerId, req.producerEpoch);
    const placed: { key: string; entry: PendingTxnOffset }[] = [];
    for (const e of accepted) {
      const key = offsetKey(e.topic, e.partition);
      const entry: PendingTxnOffset = { value: { offset: e.offset, leaderEpoch: e.leaderEpoch, metadata: e.metadata ?? '', commitTimestamp: now, expireTimestamp: null, logOffset: -1 }, durable: false, outcome: null };
      if (!txn.offsets.has(key)) owned.pendingTxnOffsets++;
      txn.offsets.set(key, entry);
      placed.push({ key, entry });
    }
    const records: RecordInput[] = placed.map(({ key, entry }) => {
      const { topic, partition } = parseOffsetKey(key);
      return { key: encodeOffsetKey(g.groupId, topic, partition), value: encodeOffsetValue(entry.value) };
    });
    const { errorCode: error, baseOffset } = await this.appendBatch(g.partition, records, { producerId: req.producerId, producerEpoch: req.producerEpoch });
    for (const { key, entry } of placed) {
      const open = g.pendingTxns.get(req.producerId);
      const stillPending = open?.offsets.get(key) === entry;
      if (error === ErrorCode.NONE) {
        entry.value.logOffset = baseOffset;
        entry.durable = true;
        // The transaction ended while the append was in flight: its marker follows this batch in the log.
        if (!stillPending && entry.outcome === 'commit' && !g.is(GroupState.Dead)) g.putCommitted(key, entry.value);
      } else if (stillPending) {
        open!.offsets.delete(key);
        owned.pendingTxnOffsets--;
        if (open!.offsets.size === 0) {
          g.pendingTxns.delete(req.producerId);
          this.unindexProducer(owned, req.producerId, g.groupId);
        }
      }
    }
    if (g.disposable && !g.is(GroupState.Dead)) this.removeGroup(g);
    for (const e of accepted) results.push({ topic: e.topic, partition: e.partition, errorCode: error });
    return results;
  }

  /**
   * A COMMIT or ABORT marker of `producerId` is durable on `__consumer_offsets` partition `partition` (the
   * partition side's MarkerListener, on this thread): the producer's pending offsets in that partition's groups
   * become committed (unless a commit later in the log already is) or are dropped. A partition still loading
   * applies it when the load ends; one not owned ignores it (its load replays the marker from the log).
   */
  completeTxn(partition: number, producerId: number, commit: boolean, producerEpoch = -1): void {
    const owned = this.partitions.get(partition);
    if (owned === undefined) return;
    if (producerEpoch >= 0) this.noteProducerEpoch(owned, producerId, producerEpoch);
    if (owned.loading) {
      if (owned.markersWhileLoading.size >= MARKERS_WHILE_LOADING_MAX && !owned.markersWhileLoading.has(producerId)) {
        // Its offsets stay pending until the next load of the partition replays the marker.
        this.logger.error({ partition, producerId }, 'too many transaction markers while loading __consumer_offsets; one is left to the next load');
        return;
      }
      owned.markersWhileLoading.set(producerId, commit);
      return;
    }
    const ids = owned.producers.get(producerId);
    if (ids === undefined) return;
    owned.producers.delete(producerId);
    for (const id of ids) {
      const g = owned.groups.get(id);
      const txn = g?.pendingTxns.get(producerId);
      if (g === undefined || txn === undefined) continue;
      g.pendingTxns.delete(producerId);
      owned.pendingTxnOffsets -= txn.offsets.size;
      let inFlight = false;
      for (const [k, p] of txn.offsets) {
        if (!p.durable) {
          p.outcome = commit ? 'commit' : 'abort'; // applied when its append is durable (txnOffsetCommit)
          inFlight = true;
        } else if (commit) {
          g.putCommitted(k, p.value);
        }
      }
      // A group left with nothing goes, unless an append in flight still has to land in it (it removes it then).
      if (g.disposable && !inFlight) this.removeGroup(g);
    }
  }

  /** KIP-890 part 1: TxnOffsetCommit asks it whether the group's partition is in the transaction; null skips. */
  setTxnVerifier(verifier: TxnVerifier | null): void {
    this.txnVerifier = verifier;
  }

  /**
   * OffsetFetch of one group: `topics` null means every committed offset. Unknown partitions: offset -1. With
   * `requireStable` (OffsetFetch v7+), a partition with offsets pending in an open transaction answers
   * UNSTABLE_OFFSET_COMMIT (the client retries); without it, the committed offset as if none were pending.
   */
  async fetchOffsets(groupId: string, topics: readonly { topic: string; partitions: readonly number[] }[] | null, requireStable = false): Promise<{ errorCode: number; offsets: FetchedOffset[] }> {
    const route = await this.route(groupId, true);
    if (!route.ok) return { errorCode: route.errorCode, offsets: [] };
    const g = this.group(route.partition, groupId);
    const out: FetchedOffset[] = [];
    const fetched = (topic: string, partition: number): FetchedOffset => {
      const key = offsetKey(topic, partition);
      if (requireStable && g?.hasPendingTxnOffset(key) === true) return { topic, partition, offset: -1, leaderEpoch: -1, metadata: '', errorCode: ErrorCode.UNSTABLE_OFFSET_COMMIT };
      const v = g?.offsets.get(key);
      return v ? { topic, partition, offset: v.offset, leaderEpoch: v.leaderEpoch, metadata: v.metadata, errorCode: ErrorCode.NONE } : { topic, partition, offset: -1, leaderEpoch: -1, metadata: '', errorCode: ErrorCode.NONE };
    };
    if (topics === null) {
      for (const k of g?.offsets.keys() ?? []) {
        const { topic, partition } = parseOffsetKey(k);
        out.push(fetched(topic, partition));
      }
      out.sort((a, b) => (a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1));
      return { errorCode: ErrorCode.NONE, offsets: out };
    }
    for (const t of topics) for (const p of t.partitions) out.push(fetched(t.topic, p));
    return { errorCode: ErrorCode.NONE, offsets: out };
  }

  /**
   * OffsetDelete: removes a group's offsets, except those of topics its consumers subscribe to
   * (GROUP_SUBSCRIBED_TO_TOPIC). A non-empty group that is not a consumer group: NON_EMPTY_GROUP.
   */
  async deleteOffsets(groupId: string, partitions: readonly { topic: string; partition: number }[]): Promise<{ errorCode: number; partitions: PartitionError[] }> {
    const route = await this.route(groupId, false);
    if (!route.ok) return { errorCode: route.errorCode, partitions: [] };
    const g = this.group(route.partition, groupId);
    if (g === undefined) return { errorCode: ErrorCode.GROUP_ID_NOT_FOUND, partitions: [] };
    let subscribed: Set<string> = new Set();
    if (!g.is(GroupState.Empty)) {
      const topics = g.subscribedTopics();
      if (topics === null) return { errorCode: ErrorCode.NON_EMPTY_GROUP, partitions: [] };
      subscribed = topics;
    }
    const out: PartitionError[] = [];
    const deleting: { topic: string; partition: number }[] = [];
    for (const p of partitions) {
      if (subscribed.has(p.topic)) out.push({ ...p, errorCode: ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC });
      else deleting.push(p);
    }
    const present = deleting.filter((p) => g.offsets.has(offsetKey(p.topic, p.partition)));
    let error: number = ErrorCode.NONE;
    if (present.length > 0) {
      error = await this.append(g.partition, present.map((p) => ({ key: encodeOffsetKey(groupId, p.topic, p.partition), value: null })));
      if (error === ErrorCode.NONE) for (const p of present) g.offsets.delete(offsetKey(p.topic, p.partition));
    }
    for (const p of deleting) out.push({ ...p, errorCode: error });
    return { errorCode: ErrorCode.NONE, partitions: out };
  }

  // --- describe, list, delete -------------------------------------------------------------------------------

  async describeGroup(groupId: string): Promise<GroupDescription> {
    const empty = { groupId, state: GroupState.Dead as string, protocolType: '', protocolData: '', members: [] };
    const route = await this.route(groupId, true);
    if (!route.ok) return { errorCode: route.errorCode, ...empty };
    const g = this.group(route.partition, groupId);
    if (g === undefined) return { errorCode: ErrorCode.NONE, ...empty };
    const stable = g.is(GroupState.Stable);
    return {
      errorCode: ErrorCode.NONE,
      groupId,
      state: g.state,
      protocolType: g.protocolType ?? '',
      protocolData: stable ? (g.protocolName ?? '') : '',
      members: [...g.members.values()].map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        metadata: stable ? m.metadataFor(g.protocolName ?? '') : Buffer.alloc(0),
        assignment: stable ? m.assignment : Buffer.alloc(0),
      })),
    };
  }

  /** Every live group of the loaded owned partitions; COORDINATOR_LOAD_IN_PROGRESS while any is loading. */
  listGroups(states: readonly string[]): { errorCode: number; groups: GroupListing[] } {
    const wanted = new Set(states.map((s) => s.toLowerCase()));
    const groups: GroupListing[] = [];
    let errorCode: number = ErrorCode.NONE;
    for (const owned of this.partitions.values()) {
      if (owned.loading) errorCode = ErrorCode.COORDINATOR_LOAD_IN_PROGRESS;
      for (const g of owned.groups.values()) {
        if (g.is(GroupState.Dead)) continue;
        if (wanted.size > 0 && !wanted.has(g.state.toLowerCase())) continue;
        groups.push({ groupId: g.groupId, protocolType: g.protocolType ?? '', state: g.state });
      }
    }
    groups.sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0));
    return { errorCode, groups };
  }

  /** DeleteGroups: only an Empty group (NON_EMPTY_GROUP otherwise); its offsets and metadata are tombstoned. */
  async deleteGroup(groupId: string): Promise<number> {
    const route = await this.route(groupId, true);
    if (!route.ok) return route.errorCode;
    const g = this.group(route.partition, groupId);
    if (g === undefined) return ErrorCode.GROUP_ID_NOT_FOUND;
    if (!g.is(GroupState.Empty)) return ErrorCode.NON_EMPTY_GROUP;
    return this.tombstoneGroup(g);
  }

  private async tombstoneGroup(g: Group): Promise<number> {
    const records: RecordInput[] = [...g.offsets.keys()].map((k) => {
      const { topic, partition } = parseOffsetKey(k);
      return { key: encodeOffsetKey(g.groupId, topic, partition), value: null };
    });
    records.push({ key: encodeGroupKey(g.groupId), value: null });
    // Gone for every request from now on; if the tombstones cannot be stored, a restart brings it back.
    this.removeGroup(g);
    return this.append(g.partition, records);
  }

  /**
   * A deleted topic: its committed offsets leave every group this coordinator owns, tombstoned in
   * `__consumer_offsets` so a restart does not bring them back (Kafka's onPartitionsDeleted). Without this, a
   * topic created again under the same name was read by a group from the old topic's positions, silently
   * skipping the new topic's first records. A group left Empty with no offsets is removed, as Kafka does.
   * Partitions still loading are waited for. Returns how many offsets were removed.
   */
  async removeTopicOffsets(topic: string): Promise<number> {
    await this.loaded();
    let removed = 0;
    for (const owned of [...this.partitions.values()]) {
      if (owned.loading) continue;
      for (const g of [...owned.groups.values()]) {
        const gone = [...g.offsets.keys()].filter((k) => parseOffsetKey(k).topic === topic);
        if (gone.length === 0) continue;
        const records: RecordInput[] = gone.map((k) => ({ key: encodeOffsetKey(g.groupId, topic, parseOffsetKey(k).partition), value: null }));
        for (const k of gone) g.offsets.delete(k);
        removed += gone.length;
        if (g.is(GroupState.Empty) && g.offsets.size === 0 && g.pendingTxns.size === 0 && g.size === 0) {
          records.push({ key: encodeGroupKey(g.groupId), value: null });
          this.removeGroup(g);
        }
        const error = await this.append(g.partition, records);
        if (error !== ErrorCode.NONE) this.logger.warn({ group: g.groupId, topic, errorCode: error }, 'storing tombstones for a deleted topic\'s offsets failed');
      }
    }
    if (removed > 0) this.logger.info({ topic, removed }, 'removed committed offsets of a deleted topic');
    return removed;
  }

  // --- offset expiry ----------------------------------------------------------------------------------------

  private scheduleExpiry(): void {
    if (this.closed) return;
    this.expiryTimer = this.timers.setTimeout(() => {
      this.expireOffsets()
        .catch((err: unknown) => this.logger.error({ err }, 'offset expiry failed'))
        .finally(() => this.scheduleExpiry());
    }, this.config.offsetsRetentionCheckIntervalMs);
  }

  /**
   * Kafka's expiry rules (offsets.retention.minutes, KIP-211): an offset with an explicit expire timestamp
   * (OffsetCommit v1-4 with a retention) expires then; otherwise, in an Empty group, `retention` after the
   * group became empty (or after the commit, if later... Kafka uses the state timestamp when known); in a
   * group without a protocol (simple commits only), `retention` after the commit; in a Stable consumer group,
   * only offsets of topics no member subscribes to, `retention` after the commit. A group left Empty with no
   * offsets is removed. Returns how many offsets expired.
   */
  async expireOffsets(): Promise<number> {
    const now = this.timers.now();
    const retention = this.config.offsetsRetentionMs;
    let expired = 0;
    for (const owned of [...this.partitions.values()]) {
      if (owned.loading) continue;
      for (const g of [...owned.groups.values()]) {
        let base: ((o: CommittedOffset) => number) | null = null;
        let keep: Set<string> = new Set();
        if (g.protocolType === null) base = (o) => o.commitTimestamp;
        else if (g.is(GroupState.Empty)) base = () => g.stateTimestampMs;
        else if (g.protocolType === CONSUMER_PROTOCOL_TYPE && g.is(GroupState.Stable)) {
          const topics = g.subscribedTopics();
          if (topics !== null) {
            keep = topics;
            base = (o) => o.commitTimestamp;
          }
        }
        if (base === null) continue;
        const gone: string[] = [];
        for (const [k, o] of g.offsets) {
          if (keep.has(parseOffsetKey(k).topic)) continue;
          const due = o.expireTimestamp !== null ? now >= o.expireTimestamp : now - base(o) >= retention;
          if (due) gone.push(k);
        }
        const emptied = g.is(GroupState.Empty) && g.offsets.size === 0 && g.pendingTxns.size === 0;
        if (gone.length === 0 && !emptied) continue;
        const records: RecordInput[] = gone.map((k) => {
          const { topic, partition } = parseOffsetKey(k);
          return { key: encodeOffsetKey(g.groupId, topic, partition), value: null };
        });
        for (const k of gone) g.offsets.delete(k);
        expired += gone.length;
        if (g.is(GroupState.Empty) && g.offsets.size === 0 && g.pendingTxns.size === 0 && g.size === 0) {
          records.push({ key: encodeGroupKey(g.groupId), value: null });
          this.removeGroup(g);
        }
        if (records.length > 0) {
          const error = await this.append(g.partition, records);
          if (error !== ErrorCode.NONE) this.logger.warn({ group: g.groupId, errorCode: error }, 'storing expired offsets tombstones failed');
        }
      }
    }
    if (expired > 0) this.logger.info({ expired }, 'expired committed offsets');
    return expired;
  }

  // --- storage ----------------------------------------------------------------------------------------------

  /** Stores the group's metadata (with `assignments`, or the members' current ones). Kafka error code. */
  private async storeGroup(g: Group, assignments?: Map<string, Buffer>): Promise<number> {
    const value = encodeGroupValue({
      protocolType: g.protocolType ?? '',
      generation: g.generationId,
      protocol: g.protocolName,
      leader: g.leaderId,
      currentStateTimestamp: g.stateTimestampMs,
      members: [...g.members.values()].map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        rebalanceTimeoutMs: m.rebalanceTimeoutMs,
        sessionTimeoutMs: m.sessionTimeoutMs,
        subscription: m.metadataFor(g.protocolName ?? ''),
        assignment: assignments ? (assignments.get(m.memberId) ?? Buffer.alloc(0)) : m.assignment,
      })),
    });
    // Kafka answers a group record over max.message.bytes with UNKNOWN_SERVER_ERROR too.
    if (value.length > this.config.groupRecordBytesMax) return ErrorCode.UNKNOWN_SERVER_ERROR;
    return this.append(g.partition, [{ key: encodeGroupKey(g.groupId), value }]);
  }

  /** Appends records as one plain batch: a Kafka error code. */
  private async append(partition: number, records: RecordInput[]): Promise<number> {
    return (await this.appendBatch(partition, records, null)).errorCode;
  }

  /**
   * Appends records as one batch, transactional when `txn` is given (producer id and epoch, base sequence 0 as
   * Kafka's coordinator writes it); maps a storage failure the way Kafka does (the client finds the coordinator
   * again). The store is called synchronously, before the first await: the batch's place in the log is fixed by
   * the time this returns its promise (callers register pending state in the same turn).
   */
  private async appendBatch(partition: number, records: RecordInput[], txn: { producerId: number; producerEpoch: number } | null): Promise<{ errorCode: number; baseOffset: number }> {
    if (!this.partitions.has(partition)) return { errorCode: ErrorCode.NOT_COORDINATOR, baseOffset: -1 };
    const batch = buildRecordBatch(records, txn === null ? { nowMs: this.timers.now() } : { nowMs: this.timers.now(), transactional: true, producerId: txn.producerId, producerEpoch: txn.producerEpoch, baseSequence: 0 });
    try {
      return { errorCode: ErrorCode.NONE, baseOffset: await this.store.append(partition, batch) };
    } catch (err) {
      return { errorCode: this.offsetsTopic.appendFailed(partition, err), baseOffset: -1 };
    }
  }

  // --- introspection for tests and tools ------------------------------------------------------------------

  /** The group's state name, or undefined when it does not exist (tests, admin tools). */
  stateOf(groupId: string): { state: GroupStateName; generationId: number; leaderId: string | null; protocolName: string | null; members: string[] } | undefined {
    const g = this.group(this.partitionFor(groupId), groupId);
    if (g === undefined) return undefined;
    return { state: g.state, generationId: g.generationId, leaderId: g.leaderId, protocolName: g.protocolName, members: [...g.members.keys()] };
  }
}

function joinError(errorCode: number, memberId: string): JoinResult {
  return { errorCode, memberId, generationId: -1, protocolType: null, protocolName: null, leader: '', skipAssignment: false, members: [] };
}

function syncError(errorCode: number): SyncResult {
  return { errorCode, protocolType: null, protocolName: null, assignment: Buffer.alloc(0) };
}

/**
 * What Kafka API handlers use (BrokerServices.groups). A GroupCoordinator on a single-process broker; once
 * groups are spread over shards, a router with this face forwards each group's calls to its owning shard.
 */
export type GroupService = Pick<
  GroupCoordinator,
  | 'ensureOffsetsTopic'
  | 'partitionFor'
  | 'joinGroup'
  | 'syncGroup'
  | 'heartbeat'
  | 'leaveGroup'
  | 'commitOffsets'
  | 'txnOffsetCommit'
  | 'fetchOffsets'
  | 'deleteOffsets'
  | 'describeGroup'
  | 'deleteGroup'
> & {
  /** Every group of every coordinator (on shards: all of them, asked in parallel). */
  listGroups(states: readonly string[]): { errorCode: number; groups: GroupListing[] } | Promise<{ errorCode: number; groups: GroupListing[] }>;
};

/**
 * Kafka's mapping of an append or verification failure to what an offset commit answers
 * (GroupMetadataManager.maybeConvertOffsetCommitError).
 */
export function convertOffsetCommitError(errorCode: number): number {
  switch (errorCode) {
    case ErrorCode.NETWORK_EXCEPTION:
      return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS; // retried by every client version, without a new lookup
    case ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
    case ErrorCode.NOT_ENOUGH_REPLICAS:
    case ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND:
      return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    case ErrorCode.NOT_LEADER_OR_FOLLOWER:
    case ErrorCode.KAFKA_STORAGE_ERROR:
      return ErrorCode.NOT_COORDINATOR;
    case ErrorCode.MESSAGE_TOO_LARGE:
    case ErrorCode.RECORD_LIST_TOO_LARGE:
    case ErrorCode.INVALID_FETCH_SIZE:
      return ErrorCode.INVALID_COMMIT_OFFSET_SIZE;
    default:
      return errorCode;
  }
}

/**
 * The MarkerListener that completes transactional offsets: register it with the partition side of the thread
 * that runs `coordinator` (LocalPartitions.onMarker); markers on other topics are not its business.
 */
export function groupMarkerListener(coordinator: Pick<GroupCoordinator, 'completeTxn'>): MarkerListener {
  return (topic, partition, marker) => {
    if (topic === OFFSETS_TOPIC) coordinator.completeTxn(partition, marker.producerId, marker.commit, marker.producerEpoch);
  };
}

/** The coordinator's settings out of a broker config (which names them the same). */
export function coordinatorConfigOf(c: GroupCoordinatorConfig): GroupCoordinatorConfig {
  return {
    offsetsTopicPartitions: c.offsetsTopicPartitions,
    groupInitialRebalanceDelayMs: c.groupInitialRebalanceDelayMs,
    groupMinSessionTimeoutMs: c.groupMinSessionTimeoutMs,
    groupMaxSessionTimeoutMs: c.groupMaxSessionTimeoutMs,
    groupMembersMax: c.groupMembersMax,
    groupsMax: c.groupsMax,
    groupMemberMetadataBytesMax: c.groupMemberMetadataBytesMax,
    groupRecordBytesMax: c.groupRecordBytesMax,
    offsetMetadataBytesMax: c.offsetMetadataBytesMax,
    offsetsRetentionMs: c.offsetsRetentionMs,
    offsetsRetentionCheckIntervalMs: c.offsetsRetentionCheckIntervalMs,
    txnOffsetsPendingPerPartitionMax: c.txnOffsetsPendingPerPartitionMax,
  };
}
