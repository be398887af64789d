/**
 * Broker configuration: listeners, data dir, identity, defaults for topics, and every limit, each with its unit
 * in its name. `resolveConfig` validates everything once at start; a bad value stops the broker before it
 * listens (an operating error with a clear message, not a crash later).
 */

export interface HostPort {
  host: string;
  port: number;
}

/**
 * The consumer-group settings, the transaction coordinator's (Kafka's names in their fields' comments) and the
 * producer state limits (src/txn/producer-state.ts: producerIdsPerPartitionMax, producerIdExpirationMs as Kafka's
 * producer.id.expiration.ms, producerSnapshotIntervalBytes) are part of it.
 */
export interface BrokerConfig extends GroupCoordinatorConfig, TxnCoordinatorConfig, ProducerStateConfig {
  listen: HostPort;
  /** What Metadata tells clients to connect to (defaults to `listen`; 0.0.0.0 is replaced by 127.0.0.1). */
  advertise: HostPort;
  dataDir: string;
  nodeId: number;
  logLevel: string;

  /** Kafka `auto.create.topics.enable`. */
  autoCreateTopics: boolean;
  /** Kafka `num.partitions`: partitions of auto-created topics and of CreateTopics with -1. */
  defaultPartitions: number;

  /** Largest request frame accepted (checked on the size prefix, before any allocation). */
  requestBytesMax: number;
  /** Open client connections; more are closed on accept. */
  connectionsMax: number;
  /** Bytes of incomplete request frames held across all connections; the connection crossing it is closed. */
  partialFrameBytesMax: number;
  /** Requests read from one connection and not yet answered; reading pauses above it. */
  inflightRequestsPerConnectionMax: number;
  /**
   * Fetches one connection may have in progress; a further Fetch (and what follows it) waits until one is
   * answered. Real consumers keep one Fetch per broker in flight; a client pipelining Fetches without reading
   * would otherwise start `inflightRequestsPerConnectionMax` of them, each building a response of up to
   * fetch.max.bytes (copied, when it crosses shards) before the response queue limit stops it.
   */
  fetchesInFlightPerConnectionMax: number;
  /** Response bytes queued on one socket; reading pauses above it (a client that does not read). */
  responseQueueBytesMax: number;
  /**
   * Bytes of requests read and not yet answered, over all connections of a listener (one per shard), as Kafka's
   * queued.max.request.bytes: above it every connection stops reading until answers free some.
   */
  requestQueueBytesMax: number;
  /** Kafka `connections.max.idle.ms`: a connection silent this long is closed. */
  connectionIdleMs: number;
  /** Upper bound on a Fetch's MaxWaitMs. */
  fetchWaitMsMax: number;
  /** Kafka `fetch.max.bytes`: upper bound on one Fetch response's record bytes. */
  fetchResponseBytesMax: number;
  /** Partitions of one topic (CreateTopics, CreatePartitions); more get INVALID_PARTITIONS. */
  partitionsPerTopicMax: number;
  /**
   * Partitions per shard, as Redpanda's topic_partitions_per_shard: CreateTopics and CreatePartitions that would
   * take the broker past `smp` times this get INVALID_PARTITIONS, so it never reaches its open-file limit (each
   * partition holds a descriptor per segment) or exhausts memory with idle partitions.
   */
  partitionsPerShardMax: number;
  /** How often the retention pass runs. */
  retentionCheckIntervalMs: number;
  /**
   * Broker-wide topic config defaults (Kafka's log.retention.ms, log.retention.bytes, log.segment.bytes,
   * log.roll.ms, message.max.bytes), as topic config names and values: a topic's own override wins.
   */
  logDefaults: Readonly<Record<string, string>>;
  /** Time allowed for in-flight requests to finish on shutdown. */
  shutdownGraceMs: number;

  /** Storage engine: 'native' (O_DIRECT + group commit in native threads), 'node' (node:fs), 'auto' (native if built). */
  logEngine: LogEngine;
  /** Group commit: extra wait before a flush round starts, to gather more appends, µs (0: start at once). */
  flushDelayUs: number;
  /** Group commit: a waiting round starts early once this many bytes are queued. */
  flushBytesMax: number;
  /** Threads writing and syncing the files of one flush round in parallel. */
  ioThreads: number;
  /** Native engine: zeros kept written ahead of each segment's end, bytes (0: off); see EngineOptions. */
  zeroAheadBytes: number;
  /**
   * Native engine: a flush round journals its syncs (one journal fdatasync for all its files, the files synced
   * later by a checkpoint) when at least this many files ask to sync; 0: no journal. See src/io/journal.ts.
   */
  journalFilesMin: number;
  /** Native engine: size of each engine's journal ring, bytes. */
  journalBytes: number;
  /** Retry period for bringing back a partition that went offline on a full disk. */
  storageRetryMs: number;

  /**
   * Shards (worker threads, one per core), as Redpanda's --smp; `tern start` runs them, in-process tests run one.
   * Default: `defaultShards()`, the cores less one.
   */
  smp: number;
  /** Capacity of each one-way ring between two shards (a power of two); larger messages are sent in fragments. */
  shardChannelBytes: number;
  /**
   * Cross-shard record bytes by reference (src/io/share.ts): a produce's records and a fetch's cached batches are
   * handed to the other shard's isolate without a copy. Off: they are copied through the ring and the bulk arena.
   */
  shardShareMemory: boolean;
  /** First delay before restarting a crashed shard; doubles per crash in a row, up to 30 s. */
  shardRestartDelayMs: number;
}

export interface BrokerOptions {
  listen?: string;
  advertise?: string;
  dataDir?: string;
  nodeId?: number;
  logLevel?: string;
  autoCreateTopics?: boolean;
  defaultPartitions?: number;
  requestBytesMax?: number;
  connectionsMax?: number;
  connectionIdleMs?: number;
  retentionCheckIntervalMs?: number;
  /** Kafka log.retention.ms: default retention.ms of every topic. */
  logRetentionMs?: number;
  /** Kafka log.retention.bytes: default retention.bytes. */
  logRetentionBytes?: number;
  /** Kafka log.segment.bytes: default segment.bytes. */
  logSegmentBytes?: number;
  /** Kafka log.roll.ms: default segment.ms. */
  logRollMs?: number;
  /** Kafka message.max.bytes: default max.message.bytes. */
  messageMaxBytes?: number;
  logEngine?: string;
  flushDelayUs?: number;
  flushBytesMax?: number;
  ioThreads?: number;
  zeroAheadBytes?: number;
  journalFilesMin?: number;
  journalBytes?: number;
  storageRetryMs?: number;
  smp?: number;
  partitionsPerShardMax?: number;
  shardChannelBytes?: number;
  shardShareMemory?: boolean;
  offsetsTopicPartitions?: number;
  groupInitialRebalanceDelayMs?: number;
  groupMinSessionTimeoutMs?: number;
  groupMaxSessionTimeoutMs?: number;
  groupMembersMax?: number;
  offsetsRetentionMinutes?: number;
  offsetsRetentionCheckIntervalMs?: number;
  producerIdsPerPartitionMax?: number;
  producerIdExpirationMs?: number;
  producerSnapshotIntervalBytes?: number;
  transactionStateTopicPartitions?: number;
  transactionMaxTimeoutMs?: number;
  transactionalIdExpirationMs?: number;
  transactionAbortTimedOutIntervalMs?: number;
  transactionRemoveExpiredIntervalMs?: number;
}

export const LOG_ENGINES = ['auto', 'native', 'node'] as const;

import { availableParallelism } from 'node:os';
import type { GroupCoordinatorConfig } from '../groups/coordinator.js';
import { producerStateDefaults, validateProducerStateConfig, type ProducerStateConfig } from '../txn/producer-state.js';
import { txnConfigOf, type TxnCoordinatorConfig } from '../txn/config.js';
import {
  engineFlushBytesMaxLimit,
  engineFlushDelayUsMax,
  engineIoThreadsDefault,
  engineIoThreadsMax,
  engineZeroAheadBytesDefault,
  engineZeroAheadBytesMax,
  journalBytesDefault,
  journalFilesMinDefault,
  journalPath,
  type EngineOptions,
  type LogEngine,
} from '../io/index.js';
import { channelBytesMax } from '../shard/channel.js';
import { shardsMax } from '../shard/assignment.js';
import { logConfigFromKafka } from '../log/config.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export class ConfigError extends Error {
  readonly code = 'ERR_TERN_CONFIG';
}

export function parseHostPort(s: string, what: string): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(s.trim());
  if (!m) throw new ConfigError(`${what}: expected HOST:PORT, got "${s}"`);
  const host = m[1] ?? m[2] ?? '';
  const port = Number(m[3]);
  if (port > 65535) throw new ConfigError(`${what}: port ${port} is out of range`);
  return { host: host === '' ? '0.0.0.0' : host, port };
}

function positiveInt(v: number, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(v) || v <= 0 || v > max) throw new ConfigError(`${what} must be an integer in 1..${max}, got ${v}`);
  return v;
}

const MiB = 1024 * 1024;

function nonNegativeInt(v: number, what: string, max: number): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new ConfigError(`${what} must be an integer in 0..${max}, got ${v}`);
  return v;
}

function channelBytes(v: number): number {
  if (!Number.isInteger(v) || v < 64 * 1024 || v > channelBytesMax || (v & (v - 1)) !== 0) {
    throw new ConfigError(`shard-channel-bytes must be a power of two in ${64 * 1024}..${channelBytesMax}, got ${v}`);
  }
  return v;
}

/**
 * Shards when `--smp` is not given: one per core, less one core left to what runs beside the shards' event loops
 * (the log engines' I/O threads, the kernel's network and disk work, clients on the same box); at least one.
 * Measured on a 2-vCPU VM with the load generator on the same box (docs/benchmarks.md, "Shards by default"):
 * one shard beat two in every workload of the standard set (throughput +29%, p99 -29% to -70%), because the
 * second shard's cross-shard hops cost more than the parallelism gained when no core is free for the rest.
 */
export function defaultShards(cores = availableParallelism()): number {
  return Math.max(1, cores - 1);
}

/** The engine options for the journal of the engine `name` ("broker", "shard-N"); none when it is off. */
export function engineJournal(c: Pick<BrokerConfig, 'dataDir' | 'journalFilesMin' | 'journalBytes'>, name: string): Pick<EngineOptions, 'journal'> {
  if (c.journalFilesMin === 0) return {};
  return { journal: { path: journalPath(c.dataDir, name), root: c.dataDir, bytes: c.journalBytes, filesMin: c.journalFilesMin } };
}

export function resolveConfig(o: BrokerOptions): BrokerConfig {
  const listen = parseHostPort(o.listen ?? '127.0.0.1:9092', 'listen');
  let advertise = o.advertise ? parseHostPort(o.advertise, 'advertise') : { ...listen };
  if (advertise.host === '0.0.0.0' || advertise.host === '::') advertise = { host: '127.0.0.1', port: advertise.port };
  const nodeId = o.nodeId ?? 0;
  if (!Number.isInteger(nodeId) || nodeId < 0 || nodeId > 0x7fffffff) throw new ConfigError(`node-id must be a non-negative integer, got ${nodeId}`);
  const logLevel = o.logLevel ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new ConfigError(`log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const logEngine = o.logEngine ?? 'auto';
  if (!(LOG_ENGINES as readonly string[]).includes(logEngine)) throw new ConfigError(`log-engine must be one of ${LOG_ENGINES.join(', ')}, got ${logEngine}`);
  return {
    listen,
    advertise,
    dataDir: o.dataDir ?? './tern-data',
    nodeId,
    logLevel,
    autoCreateTopics: o.autoCreateTopics ?? true,
    defaultPartitions: positiveInt(o.defaultPartitions ?? 1, 'num.partitions', 100_000),
    requestBytesMax: positiveInt(o.requestBytesMax ?? 100 * MiB, 'requestBytesMax', 1024 * MiB),
    connectionsMax: positiveInt(o.connectionsMax ?? 10_000, 'connectionsMax'),
    partialFrameBytesMax: Math.max(512 * MiB, o.requestBytesMax ?? 100 * MiB),
    inflightRequestsPerConnectionMax: 128,
    fetchesInFlightPerConnectionMax: 2,
    responseQueueBytesMax: 64 * MiB,
    requestQueueBytesMax: 64 * MiB,
    connectionIdleMs: positiveInt(o.connectionIdleMs ?? 600_000, 'connectionIdleMs'),
    fetchWaitMsMax: 60_000,
    fetchResponseBytesMax: 55 * MiB,
    partitionsPerTopicMax: 100_000,
    partitionsPerShardMax: positiveInt(o.partitionsPerShardMax ?? 7_000, 'partitionsPerShardMax'),
    retentionCheckIntervalMs: positiveInt(o.retentionCheckIntervalMs ?? 300_000, 'retentionCheckIntervalMs'),
    logDefaults: logDefaultsOf(o),
    shutdownGraceMs: 10_000,
    logEngine: logEngine as LogEngine,
    flushDelayUs: nonNegativeInt(o.flushDelayUs ?? 0, 'flush-delay-us', engineFlushDelayUsMax),
    flushBytesMax: positiveInt(o.flushBytesMax ?? 8 * MiB, 'flushBytesMax', engineFlushBytesMaxLimit),
    ioThreads: positiveInt(o.ioThreads ?? engineIoThreadsDefault, 'ioThreads', engineIoThreadsMax),
    zeroAheadBytes: nonNegativeInt(o.zeroAheadBytes ?? engineZeroAheadBytesDefault, 'zero-ahead-bytes', engineZeroAheadBytesMax),
    journalFilesMin: nonNegativeInt(o.journalFilesMin ?? journalFilesMinDefault, 'journalFilesMin', 1_000_000),
    journalBytes: positiveInt(o.journalBytes ?? journalBytesDefault, 'journalBytes', 1024 * MiB),
    storageRetryMs: positiveInt(o.storageRetryMs ?? 1000, 'storageRetryMs'),
    smp: positiveInt(o.smp ?? defaultShards(), 'smp', shardsMax),
    shardChannelBytes: channelBytes(o.shardChannelBytes ?? 4 * MiB),
    shardShareMemory: o.shardShareMemory ?? true,
    shardRestartDelayMs: 100,
    ...groupConfig(o),
    ...producerStateConfig(o),
    ...txnConfig(o),
  };
}

/** Broker flag -> the topic config it is the default of (Kafka's synonyms). */
export const LOG_DEFAULT_FLAGS = {
  logRetentionMs: 'retention.ms',
  logRetentionBytes: 'retention.bytes',
  logSegmentBytes: 'segment.bytes',
  logRollMs: 'segment.ms',
  messageMaxBytes: 'max.message.bytes',
} as const;

/** The broker-wide topic defaults that were set, checked as topic configs are. */
function logDefaultsOf(o: BrokerOptions): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [flag, name] of Object.entries(LOG_DEFAULT_FLAGS) as [keyof typeof LOG_DEFAULT_FLAGS, string][]) {
    const v = o[flag];
    if (v !== undefined) out[name] = String(v);
  }
  const res = logConfigFromKafka(out);
  if (!res.ok) throw new ConfigError(`broker topic defaults: ${res.error}`);
  return Object.freeze(out);
}

/** The producer state limits, Kafka's producer.id.expiration.ms default. */
function producerStateConfig(o: BrokerOptions): ProducerStateConfig {
  const c: ProducerStateConfig = {
    producerIdsPerPartitionMax: o.producerIdsPerPartitionMax ?? producerStateDefaults.producerIdsPerPartitionMax,
    producerIdExpirationMs: o.producerIdExpirationMs ?? producerStateDefaults.producerIdExpirationMs,
    producerSnapshotIntervalBytes: o.producerSnapshotIntervalBytes ?? producerStateDefaults.producerSnapshotIntervalBytes,
  };
  const problem = validateProducerStateConfig(c);
  if (problem !== null) throw new ConfigError(problem);
  return c;
}

/** The transaction coordinator's settings, Kafka's defaults (src/txn/config.ts validates them). */
function txnConfig(o: BrokerOptions): TxnCoordinatorConfig {
  try {
    return txnConfigOf(o);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

/** The consumer-group settings, Kafka's defaults (group.max.size bounded: Kafka's default is unbounded). */
function groupConfig(o: BrokerOptions): GroupCoordinatorConfig {
  const delay = o.groupInitialRebalanceDelayMs ?? 3000;
  if (!Number.isInteger(delay) || delay < 0 || delay > 300_000) throw new ConfigError(`group-initial-rebalance-delay-ms must be an integer in 0..300000, got ${delay}`);
  const minSession = positiveInt(o.groupMinSessionTimeoutMs ?? 6000, 'group.min.session.timeout.ms');
  const maxSession = positiveInt(o.groupMaxSessionTimeoutMs ?? 1_800_000, 'group.max.session.timeout.ms', 0x7fffffff);
  if (maxSession < minSession) throw new ConfigError(`group.max.session.timeout.ms (${maxSession}) is below group.min.session.timeout.ms (${minSession})`);
  const retentionMinutes = positiveInt(o.offsetsRetentionMinutes ?? 7 * 24 * 60, 'offsets-retention-minutes', 0x7fffffff);
  return {
    offsetsTopicPartitions: positiveInt(o.offsetsTopicPartitions ?? 50, 'offsets-topic-partitions', 1000),
    groupInitialRebalanceDelayMs: delay,
    groupMinSessionTimeoutMs: minSession,
    groupMaxSessionTimeoutMs: maxSession,
    groupMembersMax: positiveInt(o.groupMembersMax ?? 1000, 'group.max.size', 100_000),
    groupsMax: 100_000,
    groupMemberMetadataBytesMax: 1 * MiB,
    groupRecordBytesMax: 8 * MiB,
    offsetMetadataBytesMax: 4096,
    offsetsRetentionMs: retentionMinutes * 60_000,
    offsetsRetentionCheckIntervalMs: positiveInt(o.offsetsRetentionCheckIntervalMs ?? 600_000, 'offsets.retention.check.interval.ms'),
    txnOffsetsPendingPerPartitionMax: 20_000,
  };
}
