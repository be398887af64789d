/**
 * Per-partition log configuration (Kafka topic configs, camelCase with units) and the log's fixed limits.
 *
 * `cleanup.policy=compact` is accepted and reported, but compaction is not implemented yet: a topic whose
 * policy does not include `delete` is never trimmed by retention (as in Kafka), so a compact-only topic grows
 * until compaction lands.
 *
 * Timestamp bounds (CreateTime topics; checked on produce, src/kafka/partitions.ts): Kafka 3.6's
 * `message.timestamp.before.max.ms` / `message.timestamp.after.max.ms` (KIP-937) and the older
 * `message.timestamp.difference.max.ms` they deprecate. Each is a LONG >= 0, Long.MAX_VALUE by default (no bound),
 * held here as Infinity; a value above 2^53 ms (285,000 years) bounds no real timestamp and is held as
 * Number.MAX_SAFE_INTEGER. As in Kafka's LogConfig, before/after fall back to difference.max.ms while they are at
 * their default: `timestampBeforeMaxMs` / `timestampAfterMaxMs` give the bounds in force.
 */

export type CleanupPolicy = 'delete' | 'compact' | 'compact,delete';
export type TimestampType = 'CreateTime' | 'LogAppendTime';

export interface LogConfig {
  /** segment.bytes: roll the active segment before it would grow past this. */
  segmentBytes: number;
  /** segment.ms: roll a non-empty active segment this long after its first batch. */
  segmentMs: number;
  /** retention.ms: delete segments whose newest timestamp is older than this; -1 keeps forever. */
  retentionMs: number;
  /** retention.bytes: delete oldest segments while the partition is bigger than this; -1 = no limit. */
  retentionBytes: number;
  cleanupPolicy: CleanupPolicy;
  /** max.message.bytes: largest record batch accepted by produce. */
  maxMessageBytes: number;
  /** index.interval.bytes: bytes of log between two sparse offset/time index entries. */
  indexIntervalBytes: number;
  messageTimestampType: TimestampType;
  /** message.timestamp.difference.max.ms (deprecated in Kafka 3.6): both bounds, unless before/after are set. */
  messageTimestampDifferenceMaxMs: number;
  /** message.timestamp.before.max.ms: how far a CreateTime record may lie behind the broker's clock. */
  messageTimestampBeforeMaxMs: number;
  /** message.timestamp.after.max.ms: how far a CreateTime record may lie ahead of the broker's clock. */
  messageTimestampAfterMaxMs: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const INT32_MAX = 2 ** 31 - 1;

export const defaultLogConfig: Readonly<LogConfig> = Object.freeze({
  segmentBytes: 1024 * 1024 * 1024,
  segmentMs: 7 * DAY_MS,
  retentionMs: 7 * DAY_MS,
  retentionBytes: -1,
  cleanupPolicy: 'delete',
  maxMessageBytes: 1048588,
  indexIntervalBytes: 4096,
  messageTimestampType: 'CreateTime',
  messageTimestampDifferenceMaxMs: Infinity,
  messageTimestampBeforeMaxMs: Infinity,
  messageTimestampAfterMaxMs: Infinity,
});

/**
 * How far behind the broker's clock a CreateTime record's timestamp may be (ms; Infinity: no bound):
 * message.timestamp.before.max.ms, or message.timestamp.difference.max.ms while it is at its default (Kafka's
 * LogConfig.getMessageTimestampBeforeMaxMs).
 */
export function timestampBeforeMaxMs(config: Readonly<LogConfig>): number {
  return config.messageTimestampBeforeMaxMs !== Infinity ? config.messageTimestampBeforeMaxMs : config.messageTimestampDifferenceMaxMs;
}

/** How far ahead of the broker's clock a CreateTime record's timestamp may be; as `timestampBeforeMaxMs`. */
export function timestampAfterMaxMs(config: Readonly<LogConfig>): number {
  return config.messageTimestampAfterMaxMs !== Infinity ? config.messageTimestampAfterMaxMs : config.messageTimestampDifferenceMaxMs;
}

// --- limits (fixed, not per topic) -----------------------------------------------------------------------------

/** Default budget of the batch cache shared by all partitions of a LogManager (recent batches, for tailers). */
export const batchCacheBytesMax = 64 * 1024 * 1024;
/** Most bytes one `read` returns (besides KIP-74's single first batch, which is bounded by the segment size). */
export const readBytesMax = 64 * 1024 * 1024;
/** Window read while walking batch headers to locate an offset or timestamp in a segment. */
export const headerScanWindowBytes = 16 * 1024;
/** Chunk read while recovering (CRC-checking) a segment. */
export const recoveryReadBytes = 1024 * 1024;
/** Longest group-commit delay a SyncScheduler accepts. */
export const flushDelayUsMax = 100_000;
/** Default period of the LogManager's background retention pass. */
export const retentionCheckIntervalMsDefault = 5 * 60 * 1000;
/** Segment files store positions and relative offsets as int32. */
export const segmentBytesMax = INT32_MAX;
export const relativeOffsetMax = INT32_MAX;

// --- Kafka string configs --------------------------------------------------------------------------------------

type Parsed<T> = { value: T } | { error: string };
type Parser = (value: string) => Parsed<LogConfig[keyof LogConfig]>;

interface ConfigSpec {
  key: keyof LogConfig;
  parse: Parser;
  /** The value as a Kafka string (default: String(value)). */
  format?: (value: LogConfig[keyof LogConfig]) => string;
}

const LONG_MAX = 9223372036854775807n;
const LONG_MAX_STRING = LONG_MAX.toString();

const int =
  (min: number, max: number): Parser =>
  (v) => {
    if (!/^-?\d+$/.test(v)) return { error: `"${v}" is not an integer` };
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min || n > max) return { error: `${v} is outside [${min}, ${max}]` };
    return { value: n };
  };

/** A LONG >= 0 where Long.MAX_VALUE means no bound: Infinity; above 2^53 clamped (see the file comment). */
const boundMs: Parser = (v) => {
  if (!/^\d+$/.test(v)) return { error: `"${v}" is not an integer >= 0` };
  const n = BigInt(v);
  if (n > LONG_MAX) return { error: `${v} is outside [0, ${LONG_MAX_STRING}]` };
  if (n === LONG_MAX) return { value: Infinity };
  return { value: n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n) };
};
const formatBoundMs = (v: LogConfig[keyof LogConfig]): string => (v === Infinity ? LONG_MAX_STRING : String(v));

const cleanupPolicy: Parser = (v) => {
  const parts = new Set(v.split(',').map((p) => p.trim()));
  if (![...parts].every((p) => p === 'delete' || p === 'compact')) {
    return { error: `"${v}" is not a list of delete and compact` };
  }
  if (parts.has('compact') && parts.has('delete')) return { value: 'compact,delete' };
  return { value: parts.has('compact') ? 'compact' : 'delete' };
};

const timestampType: Parser = (v) =>
  v === 'CreateTime' || v === 'LogAppendTime' ? { value: v } : { error: `"${v}" is not CreateTime or LogAppendTime` };

const specs: { [name: string]: ConfigSpec } = {
  'segment.bytes': { key: 'segmentBytes', parse: int(14, segmentBytesMax) },
  'segment.ms': { key: 'segmentMs', parse: int(1, Number.MAX_SAFE_INTEGER) },
  'retention.ms': { key: 'retentionMs', parse: int(-1, Number.MAX_SAFE_INTEGER) },
  // Kafka has no lower bound here: any negative value means no limit.
  'retention.bytes': { key: 'retentionBytes', parse: int(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER) },
  'cleanup.policy': { key: 'cleanupPolicy', parse: cleanupPolicy },
  'max.message.bytes': { key: 'maxMessageBytes', parse: int(0, INT32_MAX) },
  'index.interval.bytes': { key: 'indexIntervalBytes', parse: int(0, INT32_MAX) },
  'message.timestamp.type': { key: 'messageTimestampType', parse: timestampType },
  'message.timestamp.difference.max.ms': { key: 'messageTimestampDifferenceMaxMs', parse: boundMs, format: formatBoundMs },
  'message.timestamp.before.max.ms': { key: 'messageTimestampBeforeMaxMs', parse: boundMs, format: formatBoundMs },
  'message.timestamp.after.max.ms': { key: 'messageTimestampAfterMaxMs', parse: boundMs, format: formatBoundMs },
};

function formatted(spec: ConfigSpec, config: Readonly<LogConfig>): string {
  const value = config[spec.key];
  return spec.format ? spec.format(value) : String(value);
}

/** Topic config names the log implements, with their defaults as Kafka strings (for DescribeConfigs). */
export const logConfigDefaults: ReadonlyArray<{ name: string; defaultValue: string }> = Object.entries(specs).map(
  ([name, spec]) => ({ name, defaultValue: formatted(spec, defaultLogConfig) }),
);

export function isLogConfigName(name: string): boolean {
  return Object.hasOwn(specs, name);
}

/** `config` as Kafka topic config strings, e.g. `{ 'retention.ms': '604800000' }`. */
export function logConfigToKafka(config: Readonly<LogConfig>): { [name: string]: string } {
  const out: { [name: string]: string } = {};
  for (const [name, spec] of Object.entries(specs)) out[name] = formatted(spec, config);
  return out;
}

/**
 * Builds a LogConfig from Kafka topic config strings over `base`; a null value resets to the default.
 * Unknown names and bad values are errors (Kafka answers INVALID_CONFIG); filter with `isLogConfigName` first
 * to pass other topic configs (compression.type, min.insync.replicas) through.
 */
export function logConfigFromKafka(
  entries: Readonly<{ [name: string]: string | null | undefined }>,
  base: Readonly<LogConfig> = defaultLogConfig,
): { ok: true; config: LogConfig } | { ok: false; error: string } {
  const config: LogConfig = { ...base };
  for (const [name, value] of Object.entries(entries)) {
    const spec = specs[name];
    if (spec === undefined) return { ok: false, error: `unknown topic config ${name}` };
    if (value === null || value === undefined) {
      assign(config, spec.key, defaultLogConfig[spec.key]);
      continue;
    }
    const parsed = spec.parse(value.trim());
    if ('error' in parsed) return { ok: false, error: `${name}: ${parsed.error}` };
    assign(config, spec.key, parsed.value);
  }
  return { ok: true, config };
}

/** Checks a LogConfig built in code; returns what is wrong, or null. */
export function validateLogConfig(config: Readonly<LogConfig>): string | null {
  const result = logConfigFromKafka(logConfigToKafka(config));
  return result.ok ? null : result.error;
}

function assign<K extends keyof LogConfig>(config: LogConfig, key: K, value: LogConfig[keyof LogConfig]): void {
  config[key] = value as LogConfig[K];
}
