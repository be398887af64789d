/**
 * Partition operations on a shard: a partition this shard owns is served by its own logs (LocalPartitions); any
 * other goes to its owner over that shard's link (rpc.ts) and the answer is assembled here, where the client's
 * connection lives. A request spanning shards is split per owner and the parts run concurrently.
 *
 * When the owner is down (crashed, restarting) the partition answers NOT_LEADER_OR_FOLLOWER, which every client
 * treats as retriable: it refreshes metadata (the partition shows LEADER_NOT_AVAILABLE until its shard is back)
 * and retries. A produce whose owner died before answering may or may not have been written, exactly as with a
 * leader change in Kafka; idempotent producers deduplicate the retry.
 *
 * Transactions: markers are split per owner like reads (MarkerWriter); a marker for a partition whose owner is
 * down answers NOT_LEADER_OR_FOLLOWER and the coordinator retries it. The KIP-890 verification a produce needs is
 * made on the owner shard by the TxnVerifier plugged into its LocalPartitions (it routes itself to the
 * coordinator's shard).
 */
import type { Logger } from 'pino';
import { ErrorCode } from '../protocol/errors.js';
import { piecesOf, type ChunkedBytes } from '../protocol/chunked-bytes.js';
import {
  applyReadBudget,
  produceFailure,
  readFailure,
  type LocalPartitions,
  type OffsetLookup,
  type PartitionOps,
  type PartitionState,
  type ProduceOutcome,
  type ReadOutcome,
  type ReadSpec,
  type WaitSpec,
  type HoldViews,
  type DescribeProducersOutcome,
} from '../kafka/partitions.js';
import type { MarkerOutcome, TopicPartition, TxnMarker } from '../txn/index.js';
import type { RpcServe, ShardLink } from './rpc.js';

const UNAVAILABLE = ErrorCode.NOT_LEADER_OR_FOLLOWER;
const NEVER = new AbortController().signal;

export interface Ownership {
  /** The shard owning the partition, or undefined when the topic or partition is unknown. */
  ownerOf(topic: string, partition: number): number | undefined;
}

export class ShardPartitions implements PartitionOps {
  /** Links to the other shards, by shard id (undefined: that shard is down). */
  readonly links = new Map<number, ShardLink>();

  constructor(
    readonly shardId: number,
    readonly local: LocalPartitions,
    private readonly ownership: Ownership,
    private readonly logger: Logger,
  ) {}

  #route(topic: string, partition: number): ShardLink | 'local' | null {
    const owner = this.ownership.ownerOf(topic, partition);
    if (owner === undefined || owner === this.shardId) return 'local';
    const link = this.links.get(owner);
    return link && !link.closed ? link : null;
  }

  state(topic: string, partition: number): PartitionState {
    const r = this.#route(topic, partition);
    if (r === 'local') return this.local.state(topic, partition);
    return r === null ? 'missing' : 'online';
  }

  async produce(topic: string, partition: number, records: ChunkedBytes, apiVersion: number, transactionalId: string | null = null): Promise<ProduceOutcome> {
    const r = this.#route(topic, partition);
    if (r === 'local') return this.local.produce(topic, partition, records, apiVersion, transactionalId);
    if (r === null) return produceFailure(UNAVAILABLE, 'the partition\'s shard is restarting');
    try {
      const m = await r.call('produce', { topic, partition, apiVersion, transactionalId }, piecesOf(records));
      return m.args as ProduceOutcome;
    } catch (err) {
      this.logger.warn({ topic, partition, err }, 'cross-shard produce failed');
      return produceFailure(UNAVAILABLE, (err as Error).message);
    }
  }

  /**
   * With `hold`, a part answered by another shard may come as views of that shard's bulk arena (rpc.ts): no copy
   * on this side; its release goes to `hold`.
   */
  async read(specs: readonly ReadSpec[], maxBytes: number, hold?: HoldViews): Promise<ReadOutcome[]> {
    const groups = new Map<ShardLink | 'local' | null, number[]>();
    specs.forEach((s, i) => {
      const r = this.#route(s.topic, s.partition);
      const g = groups.get(r);
      if (g) g.push(i);
      else groups.set(r, [i]);
    });
    if (groups.size === 1 && groups.has('local')) return this.local.read(specs, maxBytes);
    const out = new Array<ReadOutcome>(specs.length);
    await Promise.all(
      [...groups].map(async ([r, idx]) => {
        const sub = idx.map((i) => specs[i]!);
        let res: ReadOutcome[];
        if (r === 'local') res = await this.local.read(sub, maxBytes);
        else if (r === null) res = sub.map(() => readFailure(UNAVAILABLE));
        else {
          try {
            const m = await r.call('read', { specs: sub, maxBytes }, [], { bulk: hold !== undefined });
            if (m.release) hold!(m.release);
            res = unpackReads(m.args as PackedRead[], m.payloads);
          } catch {
            res = sub.map(() => readFailure(UNAVAILABLE));
          }
        }
        idx.forEach((i, k) => (out[i] = res[k]!));
      }),
    );
    return applyReadBudget(out, maxBytes);
  }

  async waitForAppend(specs: readonly WaitSpec[], ms: number, signal: AbortSignal): Promise<void> {
    const groups = new Map<ShardLink | 'local' | null, WaitSpec[]>();
    for (const s of specs) {
      const r = this.#route(s.topic, s.partition);
      const g = groups.get(r);
      if (g) g.push(s);
      else groups.set(r, [s]);
    }
    if (groups.has(null)) return; // an owner is down: answer now, the client retries against fresh metadata
    if (groups.size === 1 && groups.has('local')) return this.local.waitForAppend(specs, ms, signal);
    const stop = new AbortController();
    const onAbort = (): void => stop.abort();
    signal.addEventListener('abort', onAbort);
    try {
      await Promise.race(
        [...groups].map(([r, sub]) => {
          if (r === 'local') return this.local.waitForAppend(sub, ms, stop.signal);
          // The owner waits at most `ms`; an answer after we stopped waiting is dropped by the link.
          return (r as ShardLink).call('wait', { specs: sub, ms }).then(
            () => undefined,
            () => undefined,
          );
        }).concat(new Promise<void>((resolve) => (stop.signal.aborted ? resolve() : stop.signal.addEventListener('abort', () => resolve())))),
      );
    } finally {
      signal.removeEventListener('abort', onAbort);
      stop.abort();
    }
  }

  async listOffset(topic: string, partition: number, timestamp: number, apiVersion: number, isolationLevel = 0): Promise<OffsetLookup> {
    const r = this.#route(topic, partition);
    if (r === 'local') return this.local.listOffset(topic, partition, timestamp, apiVersion, isolationLevel);
    const failed: OffsetLookup = { errorCode: UNAVAILABLE, offset: -1, timestamp: -1, leaderEpoch: -1 };
    if (r === null) return failed;
    try {
      return (await r.call('listOffset', { topic, partition, timestamp, apiVersion, isolationLevel })).args as OffsetLookup;
    } catch {
      return failed;
    }
  }

  async deleteRecords(topic: string, partition: number, offset: number): Promise<{ errorCode: number; lowWatermark: number }> {
    const r = this.#route(topic, partition);
    if (r === 'local') return this.local.deleteRecords(topic, partition, offset);
    if (r === null) return { errorCode: UNAVAILABLE, lowWatermark: -1 };
    try {
      return (await r.call('deleteRecords', { topic, partition, offset })).args as { errorCode: number; lowWatermark: number };
    } catch {
      return { errorCode: UNAVAILABLE, lowWatermark: -1 };
    }
  }

  async writeMarkers(partitions: readonly TopicPartition[], marker: TxnMarker): Promise<MarkerOutcome[]> {
    const groups = new Map<ShardLink | 'local' | null, TopicPartition[]>();
    for (const tp of partitions) {
      const r = this.#route(tp.topic, tp.partition);
      const g = groups.get(r);
      if (g) g.push(tp);
      else groups.set(r, [tp]);
    }
    const failed = (sub: TopicPartition[]): MarkerOutcome[] => sub.map((tp) => ({ topic: tp.topic, partition: tp.partition, errorCode: UNAVAILABLE }));
    const parts = await Promise.all(
      [...groups].map(async ([r, sub]) => {
        if (r === 'local') return this.local.writeMarkers(sub, marker);
        if (r === null) return failed(sub);
        try {
          return (await r.call('writeMarkers', { partitions: sub, marker })).args as MarkerOutcome[];
        } catch (err) {
          this.logger.warn({ err }, 'cross-shard marker write failed');
          return failed(sub);
        }
      }),
    );
    return parts.flat();
  }

  async describeProducers(topic: string, partition: number): Promise<DescribeProducersOutcome> {
    const r = this.#route(topic, partition);
    if (r === 'local') return this.local.describeProducers(topic, partition);
    if (r === null) return { errorCode: UNAVAILABLE, producers: [] };
    try {
      return (await r.call('describeProducers', { topic, partition })).args as DescribeProducersOutcome;
    } catch {
      return { errorCode: UNAVAILABLE, producers: [] };
    }
  }

  /** Serves the other shards' calls for this shard's partitions. */
  readonly serve: RpcServe = async (op, args, payloads, ctx) => {
    const a = args as Record<string, unknown>;
    switch (op) {
      case 'produce':
        return { result: await this.local.produce(a.topic as string, a.partition as number, payloads, a.apiVersion as number, (a.transactionalId as string | null | undefined) ?? null) };
      case 'read': {
        // Cold reads go straight into the bulk arena when the caller asked for a bulk answer (rpc.ts).
        const res = await this.local.read(a.specs as ReadSpec[], a.maxBytes as number, undefined, ctx.reserve);
        return packReads(res);
      }
      case 'wait':
        await this.local.waitForAppend(a.specs as WaitSpec[], a.ms as number, NEVER);
        return { result: null };
      case 'listOffset':
        return { result: await this.local.listOffset(a.topic as string, a.partition as number, a.timestamp as number, a.apiVersion as number, a.isolationLevel as number | undefined) };
      case 'deleteRecords':
        return { result: await this.local.deleteRecords(a.topic as string, a.partition as number, a.offset as number) };
      case 'writeMarkers':
        return { result: await this.local.writeMarkers(a.partitions as TopicPartition[], a.marker as TxnMarker) };
      case 'describeProducers':
        return { result: await this.local.describeProducers(a.topic as string, a.partition as number) };
      default:
        this.logger.error({ op }, 'unknown cross-shard operation');
        throw new Error(`unknown operation ${op}`);
    }
  };
}

/** A read outcome on the wire: its records travel as payloads, `pieces` of them. */
type PackedRead = Omit<ReadOutcome, 'records'> & { pieces: number };

function packReads(res: ReadOutcome[]): { result: PackedRead[]; payloads: Buffer[] } {
  const payloads: Buffer[] = [];
  const result = res.map(({ records, ...rest }) => {
    payloads.push(...records);
    return { ...rest, pieces: records.length };
  });
  return { result, payloads };
}

function unpackReads(packed: PackedRead[], payloads: Buffer[]): ReadOutcome[] {
  let at = 0;
  return packed.map(({ pieces, ...rest }) => {
    const records = payloads.slice(at, at + pieces);
    at += pieces;
    return { ...rest, records };
  });
}
