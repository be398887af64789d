/**
 * InternalTopicPartitions: what a coordinator that keeps its state in the partitions of an internal topic does the
 * same way whatever that state is. Two coordinators use it: groups (`__consumer_offsets`, src/groups/coordinator.ts)
 * and transactions (`__transaction_state`, src/txn/coordinator.ts); the state of a partition, its replay and every
 * rule about ids are theirs.
 *
 * - Ownership: the partitions of the topic the coordinator owns (all of them on a single-process broker; one
 *   shard's share on the sharded broker, which can change as the topic appears).
 * - The topic: created lazily (Kafka creates both on first use) by `ensureTopic`, single-flight: concurrent callers
 *   share one creation, and a failed creation is tried again by the next caller. Once it exists (at `start`, when
 *   it already did), the owned partitions are loaded in the background: each by the coordinator's `load`, which
 *   puts the partition's state into `partitions` marked `loading` before its first await and clears the mark at the
 *   end; a partition whose load fails is dropped (its ids answer NOT_COORDINATOR until a restart loads it again).
 * - Routing a request to its partition: NOT_COORDINATOR when closed or not owned here, COORDINATOR_NOT_AVAILABLE
 *   when the topic cannot be created, COORDINATOR_LOAD_IN_PROGRESS while the partition loads (Kafka's codes; the
 *   clients look the coordinator up again, or retry).
 * - A failed append to the topic: NOT_COORDINATOR for a storage failure or a closed log (the client finds the
 *   coordinator again), COORDINATOR_NOT_AVAILABLE otherwise, as Kafka maps them.
 *
 * Thread: the coordinator's (one JS thread); nothing here is shared between coordinators.
 */
import { ErrorCode } from '../protocol/errors.js';
import { decompress } from '../protocol/compression.js';
import { Compression, batchPayload, compressionOf, type BatchHeader } from '../protocol/records.js';

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** An internal topic as its coordinator sees it: whether it exists, and how to create it (called at most once at a time). */
export interface InternalTopic {
  exists(): boolean;
  create(): Promise<void>;
}

/** Where a request goes: the owned, loaded partition of its id, or the Kafka error it is answered. */
export type CoordinatorRoute = { ok: true; partition: number } | { ok: false; errorCode: number };

export interface InternalTopicPartitionsOptions<P extends { loading: boolean }> {
  /** The topic's name (logs). */
  name: string;
  topic: InternalTopic;
  /** The topic's partition count: a coordinator given no ownership owns all of them. */
  partitionCount: number;
  /** The partitions this coordinator owns (default: all). */
  owned?: readonly number[] | (() => readonly number[]);
  /** The coordinator's state per partition; see the file's doc for what `load` must do with it. */
  partitions: Map<number, P>;
  /** Replays one owned partition into `partitions`. */
  load(partition: number): Promise<void>;
  logger: Logger;
}

export class InternalTopicPartitions<P extends { loading: boolean }> {
  readonly name: string;
  /** The owned partitions now (on a shard: its share of the topic, once the topic exists). */
  readonly owned: () => readonly number[];
  readonly #topic: InternalTopic;
  /** Invariant: only owned partitions are keys. */
  readonly #partitions: Map<number, P>;
  readonly #load: (partition: number) => Promise<void>;
  readonly #logger: Logger;
  #ready = false;
  #creating: Promise<boolean> | null = null;
  #loading: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(o: InternalTopicPartitionsOptions<P>) {
    this.name = o.name;
    this.#topic = o.topic;
    this.#partitions = o.partitions;
    this.#load = o.load;
    this.#logger = o.logger;
    const given = o.owned ?? Array.from({ length: o.partitionCount }, (_, i) => i);
    this.owned = typeof given === 'function' ? given : () => given;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** When the topic exists already (a restart), starts loading the owned partitions in the background. */
  start(): void {
    if (this.#topic.exists()) {
      this.#ready = true;
      this.#loading = this.#loadAll();
    }
  }

  /** Resolves when every owned partition is loaded (or failed to load). */
  async loaded(): Promise<void> {
    await this.#creating;
    await this.#loading;
  }

  /** Creates the topic if needed and loads the owned partitions; false when the creation failed. */
  ensureTopic(): Promise<boolean> {
    if (this.#ready) return Promise.resolve(true);
    if (this.#creating !== null) return this.#creating;
    const creating = (async () => {
      try {
        if (!this.#topic.exists()) await this.#topic.create();
      } catch (err) {
        this.#logger.warn({ err }, `creating ${this.name} failed`);
        this.#creating = null;
        return false;
      }
      this.#ready = true;
      // An empty new topic loads at once; a topic that existed (created by another path) replays.
      this.#loading = this.#loadAll();
      await this.#loading;
      return true;
    })();
    this.#creating = creating;
    return creating;
  }

  /** From now on every request is routed to NOT_COORDINATOR. The coordinator drops its partitions itself. */
  close(): void {
    this.#closed = true;
  }

  async #loadAll(): Promise<void> {
    await Promise.all(
      this.owned()
        .filter((p) => !this.#partitions.has(p))
        .map((p) =>
          this.#load(p).catch((err: unknown) => {
            // Its ids answer NOT_COORDINATOR; a restart (or a reassignment) tries again.
            this.#logger.error({ err, partition: p }, `loading ${this.name} partition failed`);
            this.#partitions.delete(p);
          }),
        ),
    );
  }

  /** The owned, loaded partition `partition` (the id's), or the error its request is answered. */
  async route(partition: number): Promise<CoordinatorRoute> {
    if (this.#closed) return { ok: false, errorCode: ErrorCode.NOT_COORDINATOR };
    if (!this.owned().includes(partition)) return { ok: false, errorCode: ErrorCode.NOT_COORDINATOR };
    // A request before any FindCoordinator (or while one creates the topic) waits for the creation.
    if (!this.#ready && !(await this.ensureTopic())) return { ok: false, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE };
    if (this.#closed) return { ok: false, errorCode: ErrorCode.NOT_COORDINATOR };
    const state = this.#partitions.get(partition);
    if (!state) return { ok: false, errorCode: ErrorCode.NOT_COORDINATOR };
    if (state.loading) return { ok: false, errorCode: ErrorCode.COORDINATOR_LOAD_IN_PROGRESS };
    return { ok: true, partition };
  }

  /** The Kafka error for an append to the topic that rejected with `err` (logged here). */
  appendFailed(partition: number, err: unknown): number {
    this.#logger.warn({ err, partition }, `appending to ${this.name} failed`);
    const code = (err as { code?: unknown }).code;
    if (code === 'KAFKA_STORAGE_ERROR' || code === 'LOG_CLOSED') return ErrorCode.NOT_COORDINATOR;
    return ErrorCode.COORDINATOR_NOT_AVAILABLE;
  }
}

/** The records' bytes of a batch replayed from an internal topic, decompressed when the batch is compressed. */
export async function replayedPayload(batch: Buffer, header: BatchHeader): Promise<Buffer> {
  const payload = batchPayload(batch, 0, header);
  const codec = compressionOf(header.attributes);
  return codec === Compression.none ? payload : decompress(codec, payload);
}

/** What a broker gives a coordinator to reach its internal topic (the topic table, on this thread). */
export interface InternalTopicDeps {
  topicExists(name: string): boolean;
  createTopic(name: string, partitions: number, configs: Record<string, string>): Promise<unknown>;
  /** The creation of a topic another request started, if any. */
  pendingTopic(name: string): Promise<unknown> | undefined;
}

/** The broker's internal topic `name`: created with `partitions` and `configs`, or awaited when a creation is under way. */
export function brokerInternalTopic(d: InternalTopicDeps, name: string, partitions: number, configs: Readonly<Record<string, string>>): InternalTopic {
  return {
    exists: () => d.topicExists(name),
    create: async () => {
      const pending = d.pendingTopic(name);
      if (pending !== undefined) await pending;
      else await d.createTopic(name, partitions, { ...configs });
    },
  };
}
