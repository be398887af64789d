/**
 * `tern start`: runs a broker in the foreground until SIGINT/SIGTERM.
 *
 * Settings come from, lowest precedence first: built-in defaults, the `--config` file (YAML or JSON; JSON is
 * YAML), then flags. The file's keys mirror the flags (`data-dir`, or camelCase `dataDir`). The merged plain
 * values go to `runBroker`, which validates them again and owns everything after.
 */
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { parse as parseYaml } from 'yaml';
import { CliError } from './output.js';

export interface StartOptions extends Pick<BrokerOptions, keyof typeof LOG_DEFAULT_FLAGS> {
  listen: string;
  advertise?: string;
  dataDir: string;
  nodeId: number;
  logLevel: string;
  /** Kafka `auto.create.topics.enable`. */
  autoCreateTopics: boolean;
  /** Kafka `num.partitions`: partitions of auto-created topics. */
  defaultPartitions: number;
  /** Storage engine: auto (native when built), native, node. */
  logEngine?: string;
  /** Group-commit delay, µs. */
  flushDelayUs?: number;
  /** Native engine: zeros written ahead of each segment's end, bytes (0: off). */
  zeroAheadBytes?: number;
  /** Native engine: journal a flush round's syncs from this many files (0: no journal). */
  journalFilesMin?: number;
  /** Shards (worker threads); default: the number of cores less one, at least 1 (defaultShards). */
  smp?: number;
  /** Kafka `offsets.topic.num.partitions`. */
  offsetsTopicPartitions?: number;
  /** Kafka `group.initial.rebalance.delay.ms`. */
  groupInitialRebalanceDelayMs?: number;
  /** Kafka `offsets.retention.minutes`. */
  offsetsRetentionMinutes?: number;
  /** Kafka `log.retention.check.interval.ms`: how often retention deletes expired or excess segments. */
  retentionCheckIntervalMs?: number;
  /** Kafka `producer.id.expiration.ms`. */
  producerIdExpirationMs?: number;
  /** Producers tracked per partition. */
  producerIdsPerPartitionMax?: number;
  /** Kafka `transaction.state.log.num.partitions`. */
  transactionStateTopicPartitions?: number;
  /** Kafka `transaction.max.timeout.ms`. */
  transactionMaxTimeoutMs?: number;
  /** Kafka `transaction.abort.timed.out.transaction.cleanup.interval.ms`. */
  transactionAbortTimedOutIntervalMs?: number;
  /** Kafka `transactional.id.expiration.ms`. */
  transactionalIdExpirationMs?: number;
}

export const START_DEFAULTS = { listen: '127.0.0.1:9092', dataDir: './tern-data', nodeId: 0, logLevel: 'info', autoCreateTopics: true, defaultPartitions: 1 } as const;
export { LOG_LEVELS } from '../broker/config.js';
import { LOG_DEFAULT_FLAGS, LOG_ENGINES, LOG_LEVELS, type BrokerOptions } from '../broker/config.js';

/** Setting name (as in StartOptions) -> the flag / file key that sets it. */
const KEYS = {
  listen: 'listen',
  advertise: 'advertise',
  dataDir: 'data-dir',
  nodeId: 'node-id',
  logLevel: 'log-level',
  autoCreateTopics: 'auto-create-topics',
  defaultPartitions: 'num-partitions',
  logEngine: 'log-engine',
  flushDelayUs: 'flush-delay-us',
  zeroAheadBytes: 'zero-ahead-bytes',
  journalFilesMin: 'journal-files-min',
  smp: 'smp',
  offsetsTopicPartitions: 'offsets-topic-partitions',
  groupInitialRebalanceDelayMs: 'group-initial-rebalance-delay-ms',
  offsetsRetentionMinutes: 'offsets-retention-minutes',
  retentionCheckIntervalMs: 'log-retention-check-interval-ms',
  logRetentionMs: 'log-retention-ms',
  logRetentionBytes: 'log-retention-bytes',
  logSegmentBytes: 'log-segment-bytes',
  logRollMs: 'log-roll-ms',
  messageMaxBytes: 'message-max-bytes',
  producerIdExpirationMs: 'producer-id-expiration-ms',
  producerIdsPerPartitionMax: 'producer-ids-per-partition-max',
  transactionStateTopicPartitions: 'transaction-state-partitions',
  transactionMaxTimeoutMs: 'transaction-max-timeout-ms',
  transactionAbortTimedOutIntervalMs: 'transaction-abort-interval-ms',
  transactionalIdExpirationMs: 'transactional-id-expiration-ms',
} as const;
type Key = keyof typeof KEYS;
/** The broker-wide topic defaults (each the default of a topic config: retention.ms, ...). */
const LOG_DEFAULT_KEYS = Object.keys(LOG_DEFAULT_FLAGS) as (keyof typeof LOG_DEFAULT_FLAGS)[];
/** The transaction settings (integers >= 1; the broker config checks their upper bounds). */
const TXN_KEYS = ['transactionStateTopicPartitions', 'transactionMaxTimeoutMs', 'transactionAbortTimedOutIntervalMs', 'transactionalIdExpirationMs'] as const;
type TxnKey = (typeof TXN_KEYS)[number];

/** What the flags set (undefined: not given). */
export type StartFlags = Partial<Record<Key, string | number | boolean>>;

/** Parses a config file's text (YAML or JSON) into settings; unknown keys and wrong types are errors. */
export function parseConfigFile(text: string, file: string): StartFlags {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new CliError(`config file ${file}: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new CliError(`config file ${file}: expected a mapping of settings`);
  const out: StartFlags = {};
  for (const [rawKey, value] of Object.entries(doc as Record<string, unknown>)) {
    const key = (Object.keys(KEYS) as Key[]).find((k) => k === rawKey || KEYS[k] === rawKey);
    if (key === undefined) throw new CliError(`config file ${file}: unknown setting '${rawKey}' (known: ${Object.values(KEYS).join(', ')})`);
    if (value === null) continue;
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') throw new CliError(`config file ${file}: '${rawKey}' must be a string, a number or a boolean`);
    out[key] = value;
  }
  return out;
}

/** Merges defaults < file < flags and checks each value. */
export function mergeStartOptions(file: StartFlags, flags: StartFlags): StartOptions {
  const pick = (k: Key): string | number | boolean | undefined => flags[k] ?? file[k];
  const str = (k: Key, dflt?: string): string | undefined => {
    const v = pick(k);
    return v === undefined ? dflt : String(v);
  };
  const nodeIdRaw = pick('nodeId') ?? START_DEFAULTS.nodeId;
  const nodeId = Number(nodeIdRaw);
  if (String(nodeIdRaw).trim() === '' || !Number.isInteger(nodeId) || nodeId < 0 || nodeId > 0x7fffffff) {
    throw new CliError(`node-id must be an integer >= 0, got '${nodeIdRaw}'`);
  }
  const logLevel = str('logLevel', START_DEFAULTS.logLevel)!;
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new CliError(`log-level must be one of ${LOG_LEVELS.join(', ')}, got '${logLevel}'`);
  const listen = str('listen', START_DEFAULTS.listen)!;
  const advertise = str('advertise');
  for (const [name, v] of [['listen', listen], ['advertise', advertise]] as const) {
    if (v !== undefined && !/^(\[[^\]]+\]|[^:\s]*):\d{1,5}$/.test(v)) throw new CliError(`${name} must be HOST:PORT, got '${v}'`);
  }
  const autoRaw = String(pick('autoCreateTopics') ?? START_DEFAULTS.autoCreateTopics);
  if (autoRaw !== 'true' && autoRaw !== 'false') throw new CliError(`auto-create-topics must be true or false, got '${autoRaw}'`);
  const partitionsRaw = pick('defaultPartitions') ?? START_DEFAULTS.defaultPartitions;
  const defaultPartitions = Number(partitionsRaw);
  if (String(partitionsRaw).trim() === '' || !Number.isInteger(defaultPartitions) || defaultPartitions < 1) {
    throw new CliError(`num-partitions must be an integer >= 1, got '${partitionsRaw}'`);
  }
  const logEngine = str('logEngine');
  if (logEngine !== undefined && !(LOG_ENGINES as readonly string[]).includes(logEngine)) {
    throw new CliError(`log-engine must be one of ${LOG_ENGINES.join(', ')}, got '${logEngine}'`);
  }
  const delayRaw = pick('flushDelayUs');
  const flushDelayUs = delayRaw === undefined ? undefined : Number(delayRaw);
  if (flushDelayUs !== undefined && (String(delayRaw).trim() === '' || !Number.isInteger(flushDelayUs) || flushDelayUs < 0)) {
    throw new CliError(`flush-delay-us must be an integer >= 0, got '${delayRaw}'`);
  }
  const zeroRaw = pick('zeroAheadBytes');
  const zeroAheadBytes = zeroRaw === undefined ? undefined : Number(zeroRaw);
  if (zeroAheadBytes !== undefined && (String(zeroRaw).trim() === '' || !Number.isInteger(zeroAheadBytes) || zeroAheadBytes < 0)) {
    throw new CliError(`zero-ahead-bytes must be an integer >= 0, got '${zeroRaw}'`);
  }
  const journalRaw = pick('journalFilesMin');
  const journalFilesMin = journalRaw === undefined ? undefined : Number(journalRaw);
  if (journalFilesMin !== undefined && (String(journalRaw).trim() === '' || !Number.isInteger(journalFilesMin) || journalFilesMin < 0)) {
    throw new CliError(`journal-files-min must be an integer >= 0, got '${journalRaw}'`);
  }
  const smpRaw = pick('smp');
  const smp = smpRaw === undefined ? undefined : Number(smpRaw);
  if (smp !== undefined && (String(smpRaw).trim() === '' || !Number.isInteger(smp) || smp < 1 || smp > 256)) {
    throw new CliError(`smp must be an integer in 1..256, got '${smpRaw}'`);
  }
  const groupInts: Partial<Record<'offsetsTopicPartitions' | 'groupInitialRebalanceDelayMs' | 'offsetsRetentionMinutes' | 'retentionCheckIntervalMs' | 'producerIdExpirationMs' | 'producerIdsPerPartitionMax' | TxnKey, number>> = {};
  for (const k of ['offsetsTopicPartitions', 'groupInitialRebalanceDelayMs', 'offsetsRetentionMinutes', 'retentionCheckIntervalMs', 'producerIdExpirationMs', 'producerIdsPerPartitionMax', ...TXN_KEYS] as const) {
    const raw = pick(k);
    if (raw === undefined) continue;
    const n = Number(raw);
    if (String(raw).trim() === '' || !Number.isInteger(n) || n < (k === 'groupInitialRebalanceDelayMs' ? 0 : 1)) throw new CliError(`${KEYS[k]} must be an integer >= ${k === 'groupInitialRebalanceDelayMs' ? 0 : 1}, got '${raw}'`);
    groupInts[k] = n;
  }
  // Broker-wide topic defaults: integers here (-1 is "no limit" for the retention ones); the broker checks each
  // as the topic config it is the default of.
  const logDefaults: Partial<Record<keyof typeof LOG_DEFAULT_FLAGS, number>> = {};
  for (const k of LOG_DEFAULT_KEYS) {
    const raw = pick(k);
    if (raw === undefined) continue;
    const n = Number(raw);
    if (String(raw).trim() === '' || !Number.isSafeInteger(n)) throw new CliError(`${KEYS[k]} must be an integer, got '${raw}'`);
    logDefaults[k] = n;
  }
  return {
    ...groupInts,
    ...logDefaults,
    listen,
    ...(advertise === undefined ? {} : { advertise }),
    ...(smp === undefined ? {} : { smp }),
    ...(logEngine === undefined ? {} : { logEngine }),
    ...(flushDelayUs === undefined ? {} : { flushDelayUs }),
    ...(zeroAheadBytes === undefined ? {} : { zeroAheadBytes }),
    ...(journalFilesMin === undefined ? {} : { journalFilesMin }),
    dataDir: str('dataDir', START_DEFAULTS.dataDir)!,
    nodeId,
    logLevel,
    autoCreateTopics: autoRaw === 'true',
    defaultPartitions,
  };
}

export function startCommand(): Command {
  return new Command('start')
    .summary('run a broker in the foreground')
    .description(
      'Run a Tern broker in the foreground until interrupted (Ctrl-C or SIGTERM shut it down cleanly).\n' +
        'Settings: flags override the --config file, which overrides the defaults.',
    )
    .option('--listen <host:port>', `address of the Kafka listener (default: ${START_DEFAULTS.listen})`)
    .option('--advertise <host:port>', 'address clients are told to connect to (default: the listen address)')
    .option('--data-dir <dir>', `where partitions and metadata are stored (default: ${START_DEFAULTS.dataDir})`)
    .option('--node-id <n>', `this broker's node id (default: ${START_DEFAULTS.nodeId})`)
    .addOption(new Option('--log-level <level>', `log verbosity (default: ${START_DEFAULTS.logLevel})`).choices(LOG_LEVELS))
    .option('--auto-create-topics <bool>', 'create topics named in Metadata requests, as Kafka auto.create.topics.enable (default: true)')
    .option('--num-partitions <n>', 'partitions of auto-created topics, as Kafka num.partitions (default: 1)')
    .addOption(new Option('--log-engine <engine>', 'storage engine: native (O_DIRECT, group commit off the JS thread), node (node:fs), auto (native when built; default)').choices(LOG_ENGINES))
    .option('--flush-delay-us <us>', 'group commit: extra wait before a flush round, to gather more appends (default: 0)')
    .option('--journal-files-min <n>', 'native engine: a flush round with at least this many files to sync writes their bytes into one journal and fdatasyncs only it (the files are synced by a checkpoint within about 1 s); 0: no journal (default: 4)')
    .option('--zero-ahead-bytes <bytes>', 'native engine: zeros kept written ahead of each segment end, so low-rate appends overwrite and sync without a journal commit (default: 1048576; 0: off)')
    .option('--smp <n>', 'shards: worker threads, each with its own connections, partitions and log engine (default: the number of cores less one, at least 1)')
    .option('--offsets-topic-partitions <n>', 'partitions of __consumer_offsets, as Kafka offsets.topic.num.partitions (default: 50)')
    .option('--group-initial-rebalance-delay-ms <ms>', 'how long a new group waits for more members, as Kafka group.initial.rebalance.delay.ms (default: 3000)')
    .option('--offsets-retention-minutes <n>', 'committed offsets retention, as Kafka offsets.retention.minutes (default: 10080, 7 days)')
    .option('--log-retention-ms <ms>', 'default retention.ms of every topic, as Kafka log.retention.ms (default: 604800000, 7 days; -1: keep forever)')
    .option('--log-retention-bytes <bytes>', 'default retention.bytes of every partition, as Kafka log.retention.bytes (default: -1, no limit)')
    .option('--log-segment-bytes <bytes>', 'default segment.bytes, as Kafka log.segment.bytes (default: 1073741824)')
    .option('--log-roll-ms <ms>', 'default segment.ms, as Kafka log.roll.ms (default: 604800000)')
    .option('--message-max-bytes <bytes>', 'default max.message.bytes (largest record batch), as Kafka message.max.bytes (default: 1048588)')
    .option('--log-retention-check-interval-ms <ms>', 'how often segments past a topic retention.ms / retention.bytes are deleted, as Kafka log.retention.check.interval.ms (default: 300000, 5 min)')
    .option('--producer-id-expiration-ms <ms>', 'forget an idle producer id after this, as Kafka producer.id.expiration.ms (default: 86400000, 1 day)')
    .option('--producer-ids-per-partition-max <n>', 'producer ids tracked per partition; beyond it the least recently active idle one is forgotten (default: 10000)')
    .option('--transaction-state-partitions <n>', 'partitions of __transaction_state, as Kafka transaction.state.log.num.partitions (default: 50)')
    .option('--transaction-max-timeout-ms <ms>', 'largest transaction timeout a producer may ask for, as Kafka transaction.max.timeout.ms (default: 900000)')
    .option('--transaction-abort-interval-ms <ms>', 'how often timed-out transactions are aborted, as Kafka transaction.abort.timed.out.transaction.cleanup.interval.ms (default: 10000)')
    .option('--transactional-id-expiration-ms <ms>', 'idle transactional ids are removed after this, as Kafka transactional.id.expiration.ms (default: 604800000, 7 days)')
    .option('--config <file>', `YAML or JSON file with the same settings (keys: ${Object.values(KEYS).join(', ')})`)
    .addHelpText(
      'after',
      `
Examples:
  $ tern start
  $ tern start --listen 0.0.0.0:9092 --advertise broker1.example:9092 --data-dir /var/lib/tern
  $ tern start --config tern.yaml --log-level debug
  $ tern start --smp 4

Example tern.yaml:
  listen: 0.0.0.0:9092
  advertise: broker1.example:9092
  data-dir: /var/lib/tern
  node-id: 0
  log-level: info
  auto-create-topics: true
  num-partitions: 1`,
    )
    .action(async (opts: { listen?: string; advertise?: string; dataDir?: string; nodeId?: string; logLevel?: string; autoCreateTopics?: string; numPartitions?: string; logEngine?: string; flushDelayUs?: string; zeroAheadBytes?: string; journalFilesMin?: string; smp?: string; offsetsTopicPartitions?: string; groupInitialRebalanceDelayMs?: string; offsetsRetentionMinutes?: string; logRetentionCheckIntervalMs?: string; logRetentionMs?: string; logRetentionBytes?: string; logSegmentBytes?: string; logRollMs?: string; messageMaxBytes?: string; producerIdExpirationMs?: string; producerIdsPerPartitionMax?: string; transactionStatePartitions?: string; transactionMaxTimeoutMs?: string; transactionAbortIntervalMs?: string; transactionalIdExpirationMs?: string; config?: string }) => {
      let file: StartFlags = {};
      if (opts.config !== undefined) {
        let text: string;
        try {
          text = readFileSync(opts.config, 'utf8');
        } catch (err) {
          throw new CliError(`cannot read config file ${opts.config}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        }
        file = parseConfigFile(text, opts.config);
      }
      const flags: StartFlags = {};
      if (opts.listen !== undefined) flags.listen = opts.listen;
      if (opts.advertise !== undefined) flags.advertise = opts.advertise;
      if (opts.dataDir !== undefined) flags.dataDir = opts.dataDir;
      if (opts.nodeId !== undefined) flags.nodeId = opts.nodeId;
      if (opts.logLevel !== undefined) flags.logLevel = opts.logLevel;
      if (opts.autoCreateTopics !== undefined) flags.autoCreateTopics = opts.autoCreateTopics;
      if (opts.numPartitions !== undefined) flags.defaultPartitions = opts.numPartitions;
      if (opts.logEngine !== undefined) flags.logEngine = opts.logEngine;
      if (opts.flushDelayUs !== undefined) flags.flushDelayUs = opts.flushDelayUs;
      if (opts.zeroAheadBytes !== undefined) flags.zeroAheadBytes = opts.zeroAheadBytes;
      if (opts.journalFilesMin !== undefined) flags.journalFilesMin = opts.journalFilesMin;
      if (opts.smp !== undefined) flags.smp = opts.smp;
      if (opts.offsetsTopicPartitions !== undefined) flags.offsetsTopicPartitions = opts.offsetsTopicPartitions;
      if (opts.groupInitialRebalanceDelayMs !== undefined) flags.groupInitialRebalanceDelayMs = opts.groupInitialRebalanceDelayMs;
      if (opts.offsetsRetentionMinutes !== undefined) flags.offsetsRetentionMinutes = opts.offsetsRetentionMinutes;
      if (opts.logRetentionCheckIntervalMs !== undefined) flags.retentionCheckIntervalMs = opts.logRetentionCheckIntervalMs;
      for (const k of LOG_DEFAULT_KEYS) if (opts[k] !== undefined) flags[k] = opts[k];
      if (opts.producerIdExpirationMs !== undefined) flags.producerIdExpirationMs = opts.producerIdExpirationMs;
      if (opts.producerIdsPerPartitionMax !== undefined) flags.producerIdsPerPartitionMax = opts.producerIdsPerPartitionMax;
      if (opts.transactionStatePartitions !== undefined) flags.transactionStateTopicPartitions = opts.transactionStatePartitions;
      if (opts.transactionMaxTimeoutMs !== undefined) flags.transactionMaxTimeoutMs = opts.transactionMaxTimeoutMs;
      if (opts.transactionAbortIntervalMs !== undefined) flags.transactionAbortTimedOutIntervalMs = opts.transactionAbortIntervalMs;
      if (opts.transactionalIdExpirationMs !== undefined) flags.transactionalIdExpirationMs = opts.transactionalIdExpirationMs;
      const merged = mergeStartOptions(file, flags);
      // Loaded only here: the other commands need none of the broker's modules.
      const { runBroker } = await import('../broker/index.js');
      await runBroker(merged);
    });
}
