/**
 * KafkaClient: a small Kafka client over the generated codecs, for the CLI, benchmarks and tests.
 *
 * Data requests (produce, fetch, listOffsets, deleteRecords) go to the partition's leader from Metadata.
 * Errors that mean "metadata is stale" (NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PARTITION
 * ...) refresh the metadata and retry, at most `retriesMax` times with exponential backoff; those errors mean
 * the write did not happen, so a produce retry cannot duplicate. Read-only requests are also retried once
 * over a new connection when theirs closed. Everything else surfaces as a KafkaError or ConnectionError.
 *
 * Lifecycle: `KafkaClient.connect()` opens the first bootstrap connection (ApiVersions negotiated); `close()`
 * closes every connection. Not safe to share across worker threads.
 */
import { ErrorCode } from '../protocol/errors.js';
import { ApiKey } from '../protocol/messages/index.js';
import * as admin from './admin.js';
import * as groups from './groups.js';
import * as transactions from './transactions.js';
import { ConnectionError, KafkaError, kafkaError } from './errors.js';
import { decodeRecords, type ConsumedRecord } from './decode-records.js';
import { parseBroker, Router } from './router.js';
import type { ConnectionOptions } from './connection.js';
import type { ClientApiKey } from './versions.js';
import type { RecordsValue } from '../protocol/codec.js';
import {
  OffsetSpec,
  type Acks,
  type ClusterInfo,
  type ClusterMetadata,
  type ConfigChange,
  type ConfigResource,
  type ConfigResourceResult,
  type ConfigResourceTypeId,
  type CreateTopicResult,
  type DeleteRecordsResult,
  type ItemResult,
  type ListedOffset,
  type NewTopic,
} from './types.js';

export interface ClientOptions extends Omit<ConnectionOptions, 'host' | 'port'> {
  /** Bootstrap brokers: `host:port` strings, or one comma-separated string. */
  brokers: string | readonly string[];
  /** Cached metadata older than this is refreshed. Default 5 min. */
  metadataMaxAgeMs?: number;
  /** Retries after stale-metadata errors. Default 3. */
  retriesMax?: number;
  /** First retry delay; doubles each retry. Default 100 ms. */
  retryBackoffMs?: number;
}

export interface FetchOptions {
  /** How long the broker may wait for `minBytes`. Default 500 ms. */
  maxWaitMs?: number;
  /** Default 1. */
  minBytes?: number;
  /** Whole response cap. Default 50 MiB (Kafka's fetch.max.bytes). */
  maxBytes?: number;
  /** Per-partition cap. Default 1 MiB (Kafka's max.partition.fetch.bytes). */
  partitionMaxBytes?: number;
  /** 0 read_uncommitted (default), 1 read_committed. */
  isolationLevel?: 0 | 1;
  /** Cap on one batch's decompressed size. */
  decompressedBytesMax?: number;
}

export interface FetchPartitionRequest {
  topic: string;
  partition: number;
  offset: number;
}

export interface FetchResult {
  topic: string;
  partition: number;
  /** The partition's error, if any (fetchMany only: `fetch` throws it). */
  error: KafkaError | null;
  records: ConsumedRecord[];
  /** Offset to fetch next. */
  nextOffset: number;
  highWatermark: number;
  lastStableOffset: number;
  logStartOffset: number;
}

const RETRIES_MAX_DEFAULT = 3;
const RETRY_BACKOFF_MS_DEFAULT = 100;
const FETCH_MAX_WAIT_MS_DEFAULT = 500;
const FETCH_BYTES_MAX_DEFAULT = 50 * 1024 * 1024;
const FETCH_PARTITION_BYTES_MAX_DEFAULT = 1024 * 1024;
const PRODUCE_TIMEOUT_MS_DEFAULT = 30_000;

export class KafkaClient {
  private readonly router: Router;
  private readonly retriesMax: number;
  private readonly retryBackoffMs: number;

  private constructor(opts: ClientOptions) {
    const list = typeof opts.brokers === 'string' ? opts.brokers.split(',') : opts.brokers;
    const bootstrap = list.map((s) => s.trim()).filter((s) => s !== '').map(parseBroker);
    this.router = new Router({ ...opts, bootstrap });
    this.retriesMax = opts.retriesMax ?? RETRIES_MAX_DEFAULT;
    this.retryBackoffMs = opts.retryBackoffMs ?? RETRY_BACKOFF_MS_DEFAULT;
  }

  /** Connects to the first reachable bootstrap broker. */
  static async connect(opts: ClientOptions): Promise<KafkaClient> {
    const client = new KafkaClient(opts);
    try {
      await client.router.any();
    } catch (err) {
      client.close();
      throw err;
    }
    return client;
  }

  close(): void {
    this.router.close();
  }

  /** The negotiated version of an API on the bootstrap (or any) connection; undefined when unsupported. */
  async apiVersion(apiKey: ClientApiKey): Promise<number | undefined> {
    return (await this.router.any()).versionOf(apiKey);
  }

  // ----- metadata and admin -------------------------------------------------------------------------------

  /** Cluster metadata for `topics` (omitted or null: every topic). Per-topic errors are in the result. */
  metadata(topics: readonly string[] | null = null): Promise<ClusterMetadata> {
    return this.retrying(null, true, () => this.router.metadata(topics));
  }

  describeCluster(): Promise<ClusterInfo> {
    return this.retrying(null, true, () => admin.describeCluster(this.router));
  }

  createTopics(topics: readonly NewTopic[], opts?: admin.AdminOptions): Promise<CreateTopicResult[]> {
    return this.retrying(null, false, () => admin.createTopics(this.router, topics, opts));
  }

  deleteTopics(names: readonly string[], opts?: admin.AdminOptions): Promise<ItemResult[]> {
    return this.retrying(null, false, () => admin.deleteTopics(this.router, names, opts));
  }

  createPartitions(topics: readonly { name: string; count: number }[], opts?: admin.AdminOptions): Promise<ItemResult[]> {
    return this.retrying(null, false, () => admin.createPartitions(this.router, topics, opts));
  }

  describeConfigs(resources: readonly ConfigResource[]): Promise<ConfigResourceResult[]> {
    return this.retrying(null, true, () => admin.describeConfigs(this.router, resources));
  }

  alterConfigs(
    resources: readonly { type: ConfigResourceTypeId; name: string; configs: Record<string, string | null> }[],
    opts?: admin.AdminOptions,
  ): Promise<ItemResult[]> {
    return this.retrying(null, false, () => admin.alterConfigs(this.router, resources, opts));
  }

  incrementalAlterConfigs(
    resources: readonly { type: ConfigResourceTypeId; name: string; changes: readonly ConfigChange[] }[],
    opts?: admin.AdminOptions,
  ): Promise<ItemResult[]> {
    return this.retrying(null, false, () => admin.incrementalAlterConfigs(this.router, resources, opts));
  }

  /** Moves each partition's log start offset up to `offset` (-1: the high watermark). */
  async deleteRecords(topic: string, partitions: readonly { partition: number; offset: number }[], opts: { timeoutMs?: number } = {}): Promise<DeleteRecordsResult[]> {
    const timeoutMs = opts.timeoutMs ?? PRODUCE_TIMEOUT_MS_DEFAULT;
    const out: DeleteRecordsResult[] = [];
    // One request per leader; a partition without a leader gets its error in the results.
    const byLeader = new Map<number, { partition: number; offset: number }[]>();
    for (const p of partitions) {
      try {
        const leader = await this.retrying(topic, true, () => this.router.leaderOf(topic, p.partition));
        byLeader.set(leader, [...(byLeader.get(leader) ?? []), p]);
      } catch (err) {
        if (!(err instanceof KafkaError)) throw err;
        out.push({ partition: p.partition, lowWatermark: -1, error: err });
      }
    }
    for (const [leader, ps] of byLeader) {
      const conn = await this.router.node(leader);
      const resp = await conn.request(
        ApiKey.DeleteRecords,
        { topics: [{ name: topic, partitions: ps.map((p) => ({ partitionIndex: p.partition, offset: p.offset })) }], timeoutMs },
        { brokerWaitMs: timeoutMs },
      );
      for (const t of resp.topics) {
        for (const p of t.partitions) {
          const error = kafkaError(p.errorCode, null, { topic, partition: p.partitionIndex });
          if (error?.staleMetadata === true) this.router.invalidate(topic);
          out.push({ partition: p.partitionIndex, lowWatermark: p.lowWatermark, error });
        }
      }
    }
    return out.sort((a, b) => a.partition - b.partition);
  }

  // ----- consumer groups (admin) -----------------------------------------------------------------------

  listGroups(states: readonly string[] = []): Promise<groups.GroupListing[]> {
    return this.retrying(null, true, () => groups.listGroups(this.router, states));
  }

  describeGroup(groupId: string): Promise<groups.GroupInfo> {
    return this.retrying(null, true, () => groups.describeGroup(this.router, groupId));
  }

  fetchGroupOffsets(groupId: string): Promise<groups.CommittedOffsetInfo[]> {
    return this.retrying(null, true, () => groups.fetchOffsets(this.router, groupId));
  }

  /** A standalone commit (generation -1): refused with UNKNOWN_MEMBER_ID while the group has members. */
  commitGroupOffsets(groupId: string, offsets: readonly { topic: string; partition: number; offset: number }[]): Promise<{ topic: string; partition: number; error: KafkaError | null }[]> {
    return this.retrying(null, false, () => groups.commitOffsets(this.router, groupId, offsets));
  }

  deleteGroups(groupIds: readonly string[]): Promise<{ name: string; error: KafkaError | null }[]> {
    return this.retrying(null, false, () => groups.deleteGroups(this.router, groupIds));
  }

  // ----- transactions (admin) -----------------------------------------------------------------------------

  listTransactions(o: transactions.ListTransactionsOptions = {}): Promise<transactions.TransactionListing[]> {
    return this.retrying(null, true, () => transactions.listTransactions(this.router, o));
  }

  describeTransaction(transactionalId: string): Promise<transactions.TransactionInfo> {
    return this.retrying(null, true, () => transactions.describeTransaction(this.router, transactionalId));
  }

  // ----- data ---------------------------------------------------------------------------------------------

  /**
   * Looks up an offset: `timestamp` -1 latest (high watermark), -2 earliest (log start), -3 the record with
   * the largest timestamp (ListOffsets v7+), or a time in ms (first offset whose timestamp is >= it; -1 if none).
   */
  listOffsets(topic: string, partition: number, timestamp: number, opts: { isolationLevel?: 0 | 1 } = {}): Promise<ListedOffset> {
    return this.retrying(topic, true, async () => {
      const conn = await this.router.leader(topic, partition);
      const version = conn.requireVersion(ApiKey.ListOffsets);
      if (timestamp === OffsetSpec.MaxTimestamp && version < 7) {
        throw new KafkaError(ErrorCode.UNSUPPORTED_VERSION, `the max-timestamp lookup needs ListOffsets v7; broker ${conn.broker} supports v${version}`);
      }
      const resp = await conn.request(ApiKey.ListOffsets, {
        replicaId: -1,
        isolationLevel: opts.isolationLevel ?? 0,
        topics: [{ name: topic, partitions: [{ partitionIndex: partition, currentLeaderEpoch: -1, timestamp, maxNumOffsets: 1 }] }],
        timeoutMs: 30_000,
      });
      const p = resp.topics[0]?.partitions[0];
      if (p === undefined) throw new KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR, `ListOffsets answered no partition for ${topic}/${partition}`);
      const error = kafkaError(p.errorCode, null, { topic, partition });
      if (error !== null) throw error;
      return { offset: p.offset, timestamp: p.timestamp, leaderEpoch: p.leaderEpoch };
    });
  }

  /**
   * Produces one encoded record batch (protocol/records buildRecordBatch) to a partition's leader. Resolves
   * with the batch's base offset, or -1 for acks=0 (the broker sends no response). Throws KafkaError with the
   * partition's error code.
   */
  produce(topic: string, partition: number, batch: Buffer, acks: Acks = -1, timeoutMs = PRODUCE_TIMEOUT_MS_DEFAULT): Promise<number> {
    return this.retrying(topic, false, async () => {
      const conn = await this.router.leader(topic, partition);
      const body = { transactionalId: null, acks, timeoutMs, topicData: [{ name: topic, partitionData: [{ index: partition, records: batch }] }] };
      if (acks === 0) {
        await conn.send(ApiKey.Produce, body);
        return -1;
      }
      const resp = await conn.request(ApiKey.Produce, body, { brokerWaitMs: timeoutMs });
      const p = resp.responses[0]?.partitionResponses[0];
      if (p === undefined) throw new KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR, `Produce answered no partition for ${topic}/${partition}`);
      const error = kafkaError(p.errorCode, p.errorMessage, { topic, partition });
      if (error !== null) throw error;
      return p.baseOffset;
    });
  }

  /** Fetches one partition from `offset`; throws the partition's KafkaError (OFFSET_OUT_OF_RANGE ...). */
  async fetch(topic: string, partition: number, offset: number, opts: FetchOptions = {}): Promise<FetchResult> {
    return this.retrying(topic, true, async () => {
      const [r] = await this.fetchMany([{ topic, partition, offset }], opts);
      if (r!.error !== null) throw r!.error;
      return r!;
    });
  }

  /**
   * Fetches several partitions: one Fetch per leader, sent concurrently, each long-polling up to maxWaitMs.
   * Per-partition errors are in the results (and invalidate stale metadata); a request-level error throws.
   */
  async fetchMany(partitions: readonly FetchPartitionRequest[], opts: FetchOptions = {}): Promise<FetchResult[]> {
    const byLeader = new Map<number, FetchPartitionRequest[]>();
    const failed: FetchResult[] = [];
    for (const p of partitions) {
      try {
        const leader = await this.router.leaderOf(p.topic, p.partition);
        byLeader.set(leader, [...(byLeader.get(leader) ?? []), p]);
      } catch (err) {
        if (!(err instanceof KafkaError)) throw err;
        failed.push(emptyResult(p, err));
      }
    }
    const perLeader = await Promise.all([...byLeader].map(([leader, ps]) => this.fetchFromLeader(leader, ps, opts)));
    return [...failed, ...perLeader.flat()];
  }

  private async fetchFromLeader(leader: number, partitions: readonly FetchPartitionRequest[], opts: FetchOptions): Promise<FetchResult[]> {
    const conn = await this.router.node(leader);
    const maxWaitMs = opts.maxWaitMs ?? FETCH_MAX_WAIT_MS_DEFAULT;
    const topics = new Map<string, FetchPartitionRequest[]>();
    for (const p of partitions) topics.set(p.topic, [...(topics.get(p.topic) ?? []), p]);
    const resp = await conn.request(
      ApiKey.Fetch,
      {
        replicaId: -1,
        maxWaitMs,
        minBytes: opts.minBytes ?? 1,
        maxBytes: opts.maxBytes ?? FETCH_BYTES_MAX_DEFAULT,
        isolationLevel: opts.isolationLevel ?? 0,
        sessionId: 0, // sessionless (KIP-227 sessions are optional)
        sessionEpoch: -1,
        topics: [...topics].map(([topic, ps]) => ({
          topic,
          partitions: ps.map((p) => ({
            partition: p.partition,
            currentLeaderEpoch: -1,
            fetchOffset: p.offset,
            lastFetchedEpoch: -1,
            logStartOffset: -1,
            partitionMaxBytes: opts.partitionMaxBytes ?? FETCH_PARTITION_BYTES_MAX_DEFAULT,
          })),
        })),
        forgottenTopicsData: [],
        rackId: '',
      },
      { brokerWaitMs: maxWaitMs },
    );
    if (resp.errorCode !== ErrorCode.NONE) throw new KafkaError(resp.errorCode, `Fetch failed on ${conn.broker}`);
    const requested = new Map(partitions.map((p) => [`${p.topic}\u0000${p.partition}`, p]));
    const out: FetchResult[] = [];
    for (const t of resp.responses) {
      for (const pd of t.partitions) {
        const req = requested.get(`${t.topic}\u0000${pd.partitionIndex}`);
        if (req === undefined) continue; // a partition we did not ask for: ignore
        requested.delete(`${t.topic}\u0000${pd.partitionIndex}`);
        const error = kafkaError(pd.errorCode, null, { topic: t.topic, partition: pd.partitionIndex });
        if (error !== null) {
          if (error.staleMetadata) this.router.invalidate(t.topic);
          out.push({ ...emptyResult(req, error), highWatermark: pd.highWatermark, logStartOffset: pd.logStartOffset });
          continue;
        }
        const records = recordsBuffer(pd.records);
        const decoded = decodeRecords(records, {
          topic: t.topic,
          partition: pd.partitionIndex,
          fromOffset: req.offset,
          ...(opts.decompressedBytesMax === undefined ? {} : { decompressedBytesMax: opts.decompressedBytesMax }),
        });
        out.push({
          topic: t.topic,
          partition: pd.partitionIndex,
          error: null,
          records: decoded.records,
          nextOffset: decoded.nextOffset,
          highWatermark: pd.highWatermark,
          lastStableOffset: pd.lastStableOffset,
          logStartOffset: pd.logStartOffset,
        });
      }
    }
    // Partitions the broker left out of its answer: nothing new for them.
    for (const req of requested.values()) out.push(emptyResult(req, null));
    return out;
  }

  // ----- retries ------------------------------------------------------------------------------------------

  private async retrying<T>(topic: string | null, idempotent: boolean, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const staleMetadata = err instanceof KafkaError && err.staleMetadata;
        const lostConnection = idempotent && err instanceof ConnectionError && err.code === 'ERR_TERN_CONNECTION_CLOSED';
        if (attempt >= this.retriesMax || (!staleMetadata && !lostConnection)) throw err;
        if (topic === null) this.router.invalidate();
        else this.router.invalidate(topic);
        await new Promise((r) => setTimeout(r, this.retryBackoffMs * 2 ** attempt));
      }
    }
  }
}

function emptyResult(p: FetchPartitionRequest, error: KafkaError | null): FetchResult {
  return { topic: p.topic, partition: p.partition, error, records: [], nextOffset: p.offset, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1 };
}

/** The codec hands records over as one view, or (when written by us) as a list of chunks. */
function recordsBuffer(v: RecordsValue): Buffer | null {
  if (v === null || Buffer.isBuffer(v)) return v;
  return Buffer.concat([...v]);
}
