/**
 * The configs DescribeConfigs reports and Create/Alter(Incremental)Configs accept.
 *
 * Topic configs come in three kinds:
 * - enforced by the log (src/log/config.ts: segment.bytes, retention.ms, retention.bytes, cleanup.policy,
 *   max.message.bytes, index.interval.bytes, message.timestamp.type, segment.ms) and on produce with it
 *   (message.timestamp.before.max.ms, message.timestamp.after.max.ms, message.timestamp.difference.max.ms);
 * - enforced by the Produce handler: min.insync.replicas (acks=all needs that many in-sync replicas; this node
 *   is the only one); by the Fetch handler: compression.type=zstd refuses Fetch below v10 (KIP-110);
 * - accepted, validated, stored and reported, but with no effect yet on a single node (compression.type does not
 *   recompress: batches are always stored as the producer compressed them; the rest: replication and compaction
 *   arrive later).
 *   Clients and tools set these routinely, and Kafka would accept them.
 * Anything else is INVALID_CONFIG, as in Kafka.
 *
 * Broker configs are static (start-up flags) and reported read-only, at DEFAULT_CONFIG until a flag changes them.
 */
import { isLogConfigName, logConfigDefaults, logConfigFromKafka } from '../../log/index.js';
import { ErrorCode } from '../../protocol/errors.js';
import { resolveConfig, type BrokerConfig } from '../../broker/config.js';
import type { BrokerServices, KafkaFailure } from '../context.js';

/** Kafka's ConfigSource enum (DescribeConfigs v1+). */
export const ConfigSource = { DYNAMIC_TOPIC_CONFIG: 1, STATIC_BROKER_CONFIG: 4, DEFAULT_CONFIG: 5 } as const;
/** Kafka's ConfigType enum (DescribeConfigs v3+). */
const ConfigType = { BOOLEAN: 1, STRING: 2, INT: 3, LONG: 5, DOUBLE: 6, LIST: 7 } as const;

interface TopicConfigSpec {
  name: string;
  type: number;
  defaultValue: string;
  doc: string;
  /** Broker config that sets the default (reported as a synonym). */
  brokerName?: string;
  /** Validator of the stored-only configs; log-enforced ones are validated by the log. */
  check?: (v: string) => boolean;
}

const isLong = (v: string): boolean => /^-?\d+$/.test(v) && Number.isSafeInteger(Number(v));
const isBool = (v: string): boolean => v === 'true' || v === 'false';
const isDouble = (v: string): boolean => v.trim() !== '' && Number.isFinite(Number(v));
const oneOf = (...values: string[]) => (v: string) => values.includes(v);

const LOG_DOCS: Record<string, { type: number; doc: string; brokerName: string }> = {
  'segment.bytes': { type: ConfigType.INT, doc: 'Size of a log segment file before it is rolled.', brokerName: 'log.segment.bytes' },
  'segment.ms': { type: ConfigType.LONG, doc: 'Time after which a non-empty active segment is rolled.', brokerName: 'log.roll.ms' },
  'retention.ms': { type: ConfigType.LONG, doc: 'Time a segment is kept after its newest record; -1 keeps forever.', brokerName: 'log.retention.ms' },
  'retention.bytes': { type: ConfigType.LONG, doc: 'Partition size above which the oldest segments are deleted; -1 = no limit.', brokerName: 'log.retention.bytes' },
  'cleanup.policy': { type: ConfigType.LIST, doc: 'delete (retention by time and size) or compact (accepted, not enforced yet).', brokerName: 'log.cleanup.policy' },
  'max.message.bytes': { type: ConfigType.INT, doc: 'Largest record batch accepted.', brokerName: 'message.max.bytes' },
  'index.interval.bytes': { type: ConfigType.INT, doc: 'Log bytes between two sparse offset index entries.', brokerName: 'log.index.interval.bytes' },
  'message.timestamp.type': { type: ConfigType.STRING, doc: 'CreateTime (producer timestamp) or LogAppendTime (broker time).', brokerName: 'log.message.timestamp.type' },
  'message.timestamp.before.max.ms': { type: ConfigType.LONG, doc: 'CreateTime topics: a batch with a record timestamp further than this behind the broker clock is refused (INVALID_TIMESTAMP).', brokerName: 'log.message.timestamp.before.max.ms' },
  'message.timestamp.after.max.ms': { type: ConfigType.LONG, doc: 'CreateTime topics: a batch with a record timestamp further than this ahead of the broker clock is refused (INVALID_TIMESTAMP).', brokerName: 'log.message.timestamp.after.max.ms' },
  'message.timestamp.difference.max.ms': { type: ConfigType.LONG, doc: '[DEPRECATED] Both bounds at once; before.max.ms and after.max.ms, when set, take precedence.', brokerName: 'log.message.timestamp.difference.max.ms' },
};

const STORED_ONLY: TopicConfigSpec[] = [
  { name: 'compression.type', type: ConfigType.STRING, defaultValue: 'producer', doc: 'Batches are kept as the producer compressed them; zstd makes Fetch below v10 UNSUPPORTED_COMPRESSION_TYPE, as in Kafka.', brokerName: 'compression.type', check: oneOf('producer', 'uncompressed', 'gzip', 'snappy', 'lz4', 'zstd') },
  { name: 'min.insync.replicas', type: ConfigType.INT, defaultValue: '1', doc: 'Minimum in-sync replicas for acks=all: above 1 (this single node) acks=all writes get NOT_ENOUGH_REPLICAS, as in Kafka.', brokerName: 'min.insync.replicas', check: (v) => isLong(v) && Number(v) >= 1 },
  { name: 'unclean.leader.election.enable', type: ConfigType.BOOLEAN, defaultValue: 'false', doc: 'Stored; leader election arrives with replication.', check: isBool },
  { name: 'delete.retention.ms', type: ConfigType.LONG, defaultValue: '86400000', doc: 'Stored; used by compaction (not implemented yet).', check: isLong },
  { name: 'min.compaction.lag.ms', type: ConfigType.LONG, defaultValue: '0', doc: 'Stored; used by compaction (not implemented yet).', check: isLong },
  { name: 'max.compaction.lag.ms', type: ConfigType.LONG, defaultValue: '9223372036854775807', doc: 'Stored; used by compaction (not implemented yet).', check: (v) => /^\d+$/.test(v) },
  { name: 'min.cleanable.dirty.ratio', type: ConfigType.DOUBLE, defaultValue: '0.5', doc: 'Stored; used by compaction (not implemented yet).', check: isDouble },
  { name: 'file.delete.delay.ms', type: ConfigType.LONG, defaultValue: '60000', doc: 'Stored; deleted segments are removed at once.', check: isLong },
  { name: 'flush.messages', type: ConfigType.LONG, defaultValue: '9223372036854775807', doc: 'Stored; Tern syncs every acknowledged write.', check: (v) => /^\d+$/.test(v) },
  { name: 'flush.ms', type: ConfigType.LONG, defaultValue: '9223372036854775807', doc: 'Stored; Tern syncs every acknowledged write.', check: (v) => /^\d+$/.test(v) },
  { name: 'segment.index.bytes', type: ConfigType.INT, defaultValue: '10485760', doc: 'Stored; indexes grow as needed.', check: isLong },
  { name: 'segment.jitter.ms', type: ConfigType.LONG, defaultValue: '0', doc: 'Stored.', check: isLong },
  { name: 'preallocate', type: ConfigType.BOOLEAN, defaultValue: 'false', doc: 'Stored.', check: isBool },
  { name: 'message.downconversion.enable', type: ConfigType.BOOLEAN, defaultValue: 'true', doc: 'Stored; only record batch v2 is served.', check: isBool },
  { name: 'local.retention.ms', type: ConfigType.LONG, defaultValue: '-2', doc: 'Stored; no tiered storage.', check: isLong },
  { name: 'local.retention.bytes', type: ConfigType.LONG, defaultValue: '-2', doc: 'Stored; no tiered storage.', check: isLong },
];

export const TOPIC_CONFIGS: readonly TopicConfigSpec[] = [
  ...logConfigDefaults.map(({ name, defaultValue }) => ({ name, defaultValue, type: LOG_DOCS[name]?.type ?? ConfigType.STRING, doc: LOG_DOCS[name]?.doc ?? '', brokerName: LOG_DOCS[name]?.brokerName })),
  ...STORED_ONLY,
].sort((a, b) => a.name.localeCompare(b.name));

const BY_NAME = new Map(TOPIC_CONFIGS.map((c) => [c.name, c]));

export function isTopicConfigName(name: string): boolean {
  return BY_NAME.has(name);
}

/** Validates topic config overrides: unknown names and bad values are INVALID_CONFIG. */
export function validateTopicConfigs(configs: Record<string, string>): KafkaFailure | null {
  const logPart: Record<string, string> = {};
  for (const [name, value] of Object.entries(configs)) {
    const spec = BY_NAME.get(name);
    if (!spec) return { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: `Unknown topic config name: ${name}` };
    if (isLogConfigName(name)) logPart[name] = value;
    else if (spec.check && !spec.check(value.trim())) return { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: `Invalid value ${value} for configuration ${name}` };
  }
  const res = logConfigFromKafka(logPart);
  if (!res.ok) return { errorCode: ErrorCode.INVALID_CONFIG, errorMessage: `Invalid config: ${res.error}` };
  return null;
}

export interface ConfigEntry {
  name: string;
  value: string | null;
  readOnly: boolean;
  source: number;
  type: number;
  doc: string;
  synonyms: { name: string; value: string | null; source: number }[];
}

/**
 * Effective topic configs (overrides over the broker's defaults over Kafka's), optionally filtered by `keys`. A
 * value a broker flag set (--log-retention-ms ...) is reported as Kafka does: source STATIC_BROKER_CONFIG, with
 * the broker setting (log.retention.ms ...) as its synonym.
 */
export function describeTopicConfigs(b: BrokerServices, overrides: Record<string, string>, keys: readonly string[] | null): ConfigEntry[] {
  const out: ConfigEntry[] = [];
  const brokerSet = b.config.logDefaults;
  for (const spec of TOPIC_CONFIGS) {
    if (keys !== null && !keys.includes(spec.name)) continue;
    const override = Object.hasOwn(overrides, spec.name) ? overrides[spec.name]! : undefined;
    const fromBroker = Object.hasOwn(brokerSet, spec.name) ? brokerSet[spec.name]! : undefined;
    const synonyms: ConfigEntry['synonyms'] = [];
    if (override !== undefined) synonyms.push({ name: spec.name, value: override, source: ConfigSource.DYNAMIC_TOPIC_CONFIG });
    if (spec.brokerName && fromBroker !== undefined) synonyms.push({ name: spec.brokerName, value: fromBroker, source: ConfigSource.STATIC_BROKER_CONFIG });
    if (spec.brokerName) synonyms.push({ name: spec.brokerName, value: spec.defaultValue, source: ConfigSource.DEFAULT_CONFIG });
    out.push({
      name: spec.name,
      value: override ?? fromBroker ?? spec.defaultValue,
      readOnly: false,
      source: override !== undefined ? ConfigSource.DYNAMIC_TOPIC_CONFIG : fromBroker !== undefined ? ConfigSource.STATIC_BROKER_CONFIG : ConfigSource.DEFAULT_CONFIG,
      type: spec.type,
      doc: spec.doc,
      synonyms,
    });
  }
  return out;
}

/** What a broker setting is when no flag or config file sets it (resolveConfig's defaults), made once. */
let brokerDefaults: BrokerConfig | null = null;

type BrokerEntry = [name: string, value: (c: BrokerConfig) => string, type: number, doc: string];

/** Settings every broker has its own value for (no default to compare with): always STATIC_BROKER_CONFIG. */
const IDENTITY: readonly BrokerEntry[] = [
  ['broker.id', (c) => String(c.nodeId), ConfigType.INT, 'This node\'s id (--node-id).'],
  ['node.id', (c) => String(c.nodeId), ConfigType.INT, 'This node\'s id (--node-id).'],
  ['listeners', (c) => `PLAINTEXT://${c.listen.host}:${c.listen.port}`, ConfigType.STRING, 'Kafka API listener (--listen).'],
  ['advertised.listeners', (c) => `PLAINTEXT://${c.advertise.host}:${c.advertise.port}`, ConfigType.STRING, 'Address given to clients (--advertise).'],
  ['log.dirs', (c) => c.dataDir, ConfigType.STRING, 'Data directory (--data-dir).'],
];

/** Settings with a default: DEFAULT_CONFIG while they have it, STATIC_BROKER_CONFIG once a flag changed them. */
const SETTINGS: readonly BrokerEntry[] = [
  ['auto.create.topics.enable', (c) => String(c.autoCreateTopics), ConfigType.BOOLEAN, 'Create topics named in Metadata requests (--auto-create-topics).'],
  ['num.partitions', (c) => String(c.defaultPartitions), ConfigType.INT, 'Partitions of auto-created topics (--num-partitions).'],
  ['default.replication.factor', () => '1', ConfigType.INT, 'Replication factor of auto-created topics.'],
  ['socket.request.max.bytes', (c) => String(c.requestBytesMax), ConfigType.INT, 'Largest request accepted.'],
  ['connections.max.idle.ms', (c) => String(c.connectionIdleMs), ConfigType.LONG, 'Idle connections are closed after this.'],
  ['fetch.max.bytes', (c) => String(c.fetchResponseBytesMax), ConfigType.INT, 'Most record bytes in one Fetch response.'],
  ['log.retention.check.interval.ms', (c) => String(c.retentionCheckIntervalMs), ConfigType.LONG, 'Period of the retention pass.'],
  ['offsets.topic.num.partitions', (c) => String(c.offsetsTopicPartitions), ConfigType.INT, 'Partitions of __consumer_offsets (--offsets-topic-partitions).'],
  ['offsets.retention.minutes', (c) => String(c.offsetsRetentionMs / 60_000), ConfigType.INT, 'Committed offsets retention (--offsets-retention-minutes).'],
  ['group.initial.rebalance.delay.ms', (c) => String(c.groupInitialRebalanceDelayMs), ConfigType.INT, 'How long a new group waits for more members (--group-initial-rebalance-delay-ms).'],
  ['group.min.session.timeout.ms', (c) => String(c.groupMinSessionTimeoutMs), ConfigType.INT, 'Smallest session timeout a member may ask for.'],
  ['group.max.session.timeout.ms', (c) => String(c.groupMaxSessionTimeoutMs), ConfigType.INT, 'Largest session timeout a member may ask for.'],
  ['group.max.size', (c) => String(c.groupMembersMax), ConfigType.INT, 'Most members of one group.'],
  ['transaction.state.log.num.partitions', (c) => String(c.transactionStateTopicPartitions), ConfigType.INT, 'Partitions of __transaction_state (--transaction-state-partitions).'],
  ['transaction.max.timeout.ms', (c) => String(c.transactionMaxTimeoutMs), ConfigType.INT, 'Largest transaction timeout a producer may ask for (--transaction-max-timeout-ms).'],
  ['transactional.id.expiration.ms', (c) => String(c.transactionalIdExpirationMs), ConfigType.INT, 'Idle transactional ids are removed after this (--transactional-id-expiration-ms).'],
  ['transaction.abort.timed.out.transaction.cleanup.interval.ms', (c) => String(c.transactionAbortTimedOutIntervalMs), ConfigType.INT, 'How often timed-out transactions are aborted (--transaction-abort-interval-ms).'],
  ['producer.id.expiration.ms', (c) => String(c.producerIdExpirationMs), ConfigType.INT, 'An idle producer id is forgotten after this (--producer-id-expiration-ms).'],
];

/**
 * The broker's configs: static (start-up flags), so all read-only. The source is Kafka's: DEFAULT_CONFIG (and
 * IsDefault) for a setting at its default, STATIC_BROKER_CONFIG for one a flag or the config file changed and for
 * the node's identity, so tools that list a broker's overrides show what the operator set. The topic defaults
 * (log.retention.ms, message.max.bytes, ...) are Kafka's unless a flag set them (--log-retention-ms ...).
 */
export function describeBrokerConfigs(b: BrokerServices, keys: readonly string[] | null): ConfigEntry[] {
  const c = b.config;
  const d = (brokerDefaults ??= resolveConfig({}));
  const entries: { name: string; value: string; type: number; doc: string; source: number }[] = [];
  for (const [name, value, type, doc] of IDENTITY) entries.push({ name, value: value(c), type, doc, source: ConfigSource.STATIC_BROKER_CONFIG });
  for (const [name, value, type, doc] of SETTINGS) {
    const v = value(c);
    entries.push({ name, value: v, type, doc, source: v === value(d) ? ConfigSource.DEFAULT_CONFIG : ConfigSource.STATIC_BROKER_CONFIG });
  }
  for (const spec of TOPIC_CONFIGS) {
    if (!spec.brokerName) continue;
    const set = Object.hasOwn(c.logDefaults, spec.name) ? c.logDefaults[spec.name]! : undefined;
    entries.push({ name: spec.brokerName, value: set ?? spec.defaultValue, type: spec.type, doc: spec.doc, source: set !== undefined ? ConfigSource.STATIC_BROKER_CONFIG : ConfigSource.DEFAULT_CONFIG });
  }
  return entries
    .filter((e) => keys === null || keys.includes(e.name))
    .map((e) => ({ name: e.name, value: e.value, readOnly: true, source: e.source, type: e.type, doc: e.doc, synonyms: [{ name: e.name, value: e.value, source: e.source }] }));
}
