/**
 * Consumer groups on a sharded broker. A group is coordinated by the shard that owns its `__consumer_offsets`
 * partition (the group id's hash, as in Kafka), so its state and its commits live beside that partition's log.
 * Every shard runs a GroupCoordinator for the partitions it owns; this router gives the Kafka handlers the same
 * face (GroupService) and forwards each call to the owning shard over the shard links. Arguments and results
 * carry member metadata and assignments as bytes, so they cross as one v8-serialized payload.
 *
 * While the owning shard is down its groups answer NOT_COORDINATOR: clients look the coordinator up again and
 * retry, as after a coordinator move in Kafka.
 *
 * Transactions: TxnOffsetCommit goes to the owning shard like any group call; the COMMIT/ABORT markers that
 * complete it are written to the group's `__consumer_offsets` partition, so they become durable on that same
 * shard, whose LocalPartitions tells its coordinator (groupMarkerListener): no cross-shard step.
 */
import v8 from 'node:v8';
import type { Logger } from 'pino';
import { ErrorCode } from '../protocol/errors.js';
import { OFFSETS_TOPIC, type GroupCoordinator, type GroupListing, type GroupService } from '../groups/index.js';
import type { Ownership } from './router.js';
import type { ShardLink } from './rpc.js';

type Method = Exclude<keyof GroupService, 'ensureOffsetsTopic' | 'partitionFor' | 'listGroups'>;
const METHODS: ReadonlySet<string> = new Set<Method>(['joinGroup', 'syncGroup', 'heartbeat', 'leaveGroup', 'commitOffsets', 'txnOffsetCommit', 'fetchOffsets', 'deleteOffsets', 'describeGroup', 'deleteGroup']);

const NOT_COORDINATOR = ErrorCode.NOT_COORDINATOR;

/** What a call answers when its coordinator's shard cannot be reached. */
function unavailable(method: Method, args: unknown[]): unknown {
  switch (method) {
    case 'joinGroup':
      return { errorCode: NOT_COORDINATOR, memberId: (args[0] as { memberId?: string }).memberId ?? '', generationId: -1, protocolType: null, protocolName: null, leader: '', skipAssignment: false, members: [] };
    case 'syncGroup':
      return { errorCode: NOT_COORDINATOR, protocolType: null, protocolName: null, assignment: Buffer.alloc(0) };
    case 'heartbeat':
    case 'deleteGroup':
      return NOT_COORDINATOR;
    case 'leaveGroup':
      return { errorCode: NOT_COORDINATOR, members: [] };
    case 'commitOffsets':
    case 'txnOffsetCommit':
      return (args[1] as { topic: string; partition: number }[]).map((e) => ({ topic: e.topic, partition: e.partition, errorCode: NOT_COORDINATOR }));
    case 'fetchOffsets':
      return { errorCode: NOT_COORDINATOR, offsets: [] };
    case 'deleteOffsets':
      return { errorCode: NOT_COORDINATOR, partitions: [] };
    case 'describeGroup':
      return { errorCode: NOT_COORDINATOR, groupId: args[0] as string, state: '', protocolType: '', protocolData: '', members: [] };
  }
}

function groupIdOf(method: Method, args: unknown[]): string {
  const first = args[0];
  return typeof first === 'string' ? first : (first as { groupId: string }).groupId;
}

export class ShardGroups implements GroupService {
  constructor(
    readonly shardId: number,
    readonly local: GroupCoordinator,
    private readonly ownership: Ownership,
    private readonly links: Map<number, ShardLink>,
    private readonly logger: Logger,
  ) {}

  ensureOffsetsTopic(): Promise<boolean> {
    return this.local.ensureOffsetsTopic();
  }

  partitionFor(groupId: string): number {
    return this.local.partitionFor(groupId);
  }

  async #route(method: Method, args: unknown[]): Promise<unknown> {
    const owner = this.ownership.ownerOf(OFFSETS_TOPIC, this.local.partitionFor(groupIdOf(method, args)));
    if (owner === undefined || owner === this.shardId) return (this.local[method] as (...a: unknown[]) => Promise<unknown>)(...args);
    const link = this.links.get(owner);
    if (!link || link.closed) return unavailable(method, args);
    try {
      const m = await link.call('group', { method }, [v8.serialize(args)]);
      return v8.deserialize(m.payloads[0]!);
    } catch (err) {
      this.logger.warn({ method, owner, err }, 'group call to its coordinator shard failed');
      return unavailable(method, args);
    }
  }

  /** Serves another shard's call for a group this shard coordinates. */
  async serve(method: string, payload: Buffer): Promise<Buffer> {
    const args = v8.deserialize(payload) as unknown[];
    if (!METHODS.has(method)) throw new Error(`unknown group method ${method}`);
    const f = this.local[method as Method] as (...a: unknown[]) => Promise<unknown>;
    return v8.serialize(await f.apply(this.local, args));
  }

  joinGroup: GroupService['joinGroup'] = (req) => this.#route('joinGroup', [req]) as ReturnType<GroupService['joinGroup']>;
  syncGroup: GroupService['syncGroup'] = (req) => this.#route('syncGroup', [req]) as ReturnType<GroupService['syncGroup']>;
  heartbeat: GroupService['heartbeat'] = (req) => this.#route('heartbeat', [req]) as ReturnType<GroupService['heartbeat']>;
  leaveGroup: GroupService['leaveGroup'] = (groupId, members) => this.#route('leaveGroup', [groupId, members]) as ReturnType<GroupService['leaveGroup']>;
  commitOffsets: GroupService['commitOffsets'] = (ref, entries) => this.#route('commitOffsets', [ref, entries]) as ReturnType<GroupService['commitOffsets']>;
  txnOffsetCommit: GroupService['txnOffsetCommit'] = (req, entries) => this.#route('txnOffsetCommit', [req, entries]) as ReturnType<GroupService['txnOffsetCommit']>;
  fetchOffsets: GroupService['fetchOffsets'] = (groupId, topics, requireStable) => this.#route('fetchOffsets', [groupId, topics, requireStable ?? false]) as ReturnType<GroupService['fetchOffsets']>;
  deleteOffsets: GroupService['deleteOffsets'] = (groupId, partitions) => this.#route('deleteOffsets', [groupId, partitions]) as ReturnType<GroupService['deleteOffsets']>;
  describeGroup: GroupService['describeGroup'] = (groupId) => this.#route('describeGroup', [groupId]) as ReturnType<GroupService['describeGroup']>;
  deleteGroup: GroupService['deleteGroup'] = (groupId) => this.#route('deleteGroup', [groupId]) as ReturnType<GroupService['deleteGroup']>;

  /** Every shard's groups; a shard that cannot be reached makes the answer COORDINATOR_NOT_AVAILABLE. */
  async listGroups(states: readonly string[]): Promise<{ errorCode: number; groups: GroupListing[] }> {
    const mine = this.local.listGroups(states);
    let errorCode = mine.errorCode;
    const groups = [...mine.groups];
    await Promise.all(
      [...this.links.values()].map(async (link) => {
        try {
          const m = await link.call('groupList', { states });
          const r = v8.deserialize(m.payloads[0]!) as { errorCode: number; groups: GroupListing[] };
          if (r.errorCode !== 0 && errorCode === 0) errorCode = r.errorCode;
          groups.push(...r.groups);
        } catch {
          if (errorCode === 0) errorCode = ErrorCode.COORDINATOR_NOT_AVAILABLE;
        }
      }),
    );
    return { errorCode, groups };
  }

  /** Serves another shard's ListGroups: this shard's own groups. */
  serveList(states: readonly string[]): Buffer {
    return v8.serialize(this.local.listGroups(states));
  }
}
