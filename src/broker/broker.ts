/**
 * The single-node broker: topic table + partition logs + Kafka listener.
 *
 * Lifecycle: `Broker.start()` opens the topic table and the logs (recovering each partition: torn tails
 * truncated, indexes rebuilt), reconciles them (a crash between the table write and the partition directories
 * leaves either an orphan directory, deleted here, or a missing one, created here), starts the retention pass,
 * then listens. `close()` stops accepting, lets connections answer what they have read, syncs and closes the
 * logs.
 */
import type { Logger } from 'pino';
import { TopicTable, collidingTopic, collisionMessage, type TopicRecord } from '../cluster/index.js';
import { LogManager, isLogConfigName, logConfigFromKafka, type LogConfig, type PartitionLog } from '../log/index.js';
import { KafkaServer, servedApis, validateTopicConfigs, type BrokerServices, type KafkaFailure } from '../kafka/index.js';
import { LocalPartitions } from '../kafka/partitions.js';
import { createFileSystem, replayJournals, type FileSystem } from '../io/index.js';
import { engineJournal, type BrokerConfig } from './config.js';
import { lockDataDir } from './lock.js';
import { brokerGroupCoordinator, groupMarkerListener, type GroupCoordinator, type InternalTopicDeps } from '../groups/index.js';
import { BlockProducerIdSource, ProducerIdBlocks, brokerTxnCoordinator, type TxnCoordinator, type TxnVerifier } from '../txn/index.js';
import { NodeFileSystem } from '../io/index.js';

/**
 * The log's part of a topic's config overrides (the rest are stored and reported only), over the broker-wide
 * defaults (`logDefaults`: --log-retention-ms and the like). A stored value this
 * version cannot read (one an older version took without checking, such as a message.timestamp.difference.max.ms
 * past Long.MAX) stays at its default, so the partition still opens: its config was accepted once.
 */
export function logConfigOf(overrides: Record<string, string>, brokerDefaults: Readonly<Record<string, string>> = {}): LogConfig {
  const logPart: Record<string, string> = { ...brokerDefaults };
  for (const [k, v] of Object.entries(overrides)) if (isLogConfigName(k)) logPart[k] = v;
  const res = logConfigFromKafka(logPart);
  if (res.ok) return res.config;
  const readable: Record<string, string> = {};
  for (const [k, v] of Object.entries(logPart)) if (logConfigFromKafka({ [k]: v }).ok) readable[k] = v;
  const again = logConfigFromKafka(readable);
  if (!again.ok) throw new Error(`stored topic config is invalid: ${again.error}`);
  return again.config;
}

/** The name differs from an existing topic's (or one being created) only by '.' vs '_' (Kafka: InvalidTopicException). */
export class TopicCollisionError extends Error {
  readonly code = 'INVALID_TOPIC_EXCEPTION';
  constructor(name: string, other: string) {
    super(collisionMessage(name, other));
  }
}

/** A topic of that name exists or is being created. */
export class TopicExistsError extends Error {
  readonly code = 'TOPIC_ALREADY_EXISTS';
  constructor(name: string, why = 'already exists') {
    super(`Topic '${name}' ${why}.`);
  }
}

export class Broker implements BrokerServices {
  private readonly creating = new Map<string, Promise<TopicRecord>>();
  /** Topics whose partitions are being removed: a new topic of that name must wait (Kafka: "marked for deletion"). */
  private readonly deleting = new Set<string>();
  readonly partitions: LocalPartitions;
  private server: KafkaServer | null = null;
  private address: { host: string; port: number } | null = null;
  /** What both coordinators' internal topics are kept in, and created through. */
  private readonly internalTopics: InternalTopicDeps & { partitionLog(topic: string, partition: number): PartitionLog | undefined };

  private constructor(
    readonly config: BrokerConfig,
    readonly logger: Logger,
    readonly topics: TopicTable,
    private readonly logs: LogManager,
    private readonly fs: FileSystem & { shutdown?(): void },
  ) {
    this.partitions = new LocalPartitions(logs, logger, { producerState: config });
    this.internalTopics = {
      partitionLog: (t, p) => logs.get(t, p),
      topicExists: (name) => topics.get(name) !== undefined,
      createTopic: (name, partitions, configs) => this.createTopic(name, partitions, configs),
      pendingTopic: (name) => this.pendingTopic(name),
    };
    // Consumer groups (issue 5): the coordinator of every __consumer_offsets partition, over these logs.
    this.groups = brokerGroupCoordinator({ config, logger, ...this.internalTopics });
    // Transactional offsets complete when their marker is durable on a __consumer_offsets partition.
    this.partitions.onMarker(groupMarkerListener(this.groups));
  }

  readonly groups: GroupCoordinator;

  /** Producer ids and the transaction coordinator of every `__transaction_state` partition (issue 6); set by open(). */
  txn!: TxnCoordinator;

  private openTxn(blocks: ProducerIdBlocks): void {
    this.txn = brokerTxnCoordinator({
      config: this.config,
      logger: this.logger,
      markers: this.partitions,
      producerIds: new BlockProducerIdSource(() => blocks.allocate()),
      ...this.internalTopics,
      partitionExists: (t, p) => p < (this.topics.get(t)?.partitions ?? 0),
    });
    // KIP-890 part 1: partitions (and the group coordinator, for TxnOffsetCommit) ask it before the first
    // transactional write of a transaction.
    this.partitions.setTxnVerifier(this.txn);
    this.groups.setTxnVerifier(this.txn);
  }

  static async start(given: BrokerConfig, logger: Logger): Promise<Broker> {
    // A copy: the advertised port is filled in below when listening on port 0.
    const config: BrokerConfig = { ...given, listen: { ...given.listen }, advertise: { ...given.advertise } };
    const unlock = lockDataDir(config.dataDir);
    try {
      const broker = await Broker.open(config, logger);
      broker.unlock = unlock;
      return broker;
    } catch (err) {
      unlock();
      throw err;
    }
  }

  /** Releases the data dir lock (set by start). */
  private unlock: () => void = () => undefined;

  private static async open(config: BrokerConfig, logger: Logger): Promise<Broker> {
    const topics = await TopicTable.open(config.dataDir);
    // Before any log opens a file: bytes acknowledged through the engine's journal go back into their files.
    await replayJournals(new NodeFileSystem(), config.dataDir, logger);
    const fs = createFileSystem({
      engine: config.logEngine,
      flushDelayUs: config.flushDelayUs,
      flushBytesMax: config.flushBytesMax,
      ioThreads: config.ioThreads,
      zeroAheadBytes: config.zeroAheadBytes,
      ...engineJournal(config, 'broker'),
      logger,
    });
    const logs = await LogManager.open({
      dataDir: config.dataDir,
      fs,
      storageRetryMs: config.storageRetryMs,
      logger,
      retentionCheckIntervalMs: config.retentionCheckIntervalMs,
      configFor: (topic) => logConfigOf(topics.get(topic)?.configs ?? {}, config.logDefaults),
    });
    const broker = new Broker(config, logger, topics, logs, fs);
    // Producer id blocks are reserved in <dataDir>/producer-ids before use (never reused after a crash).
    broker.openTxn(await ProducerIdBlocks.open(new NodeFileSystem(), config.dataDir));
    await broker.reconcile();
    logs.start();
    broker.groups.start(); // loads __consumer_offsets in the background when it exists
    broker.txn.start(); // loads __transaction_state likewise; Prepare* transactions complete
    const server = new KafkaServer(broker, servedApis());
    const addr = await server.listen(config.listen.host, config.listen.port);
    // Port 0 binds a free port; clients must be told the real one (Metadata, DescribeCluster), not 0. This runs
    // before any connection is handled (the listen callback and this continuation precede accept callbacks).
    if (config.advertise.port === 0) config.advertise.port = addr.port;
    broker.server = server;
    broker.address = { host: addr.address, port: addr.port };
    return broker;
  }

  /** Replaces the KIP-890 verifier (tests: a partition-side test without the coordinator's bookkeeping). */
  setTxnVerifier(verifier: TxnVerifier | null): void {
    this.partitions.setTxnVerifier(verifier);
  }

  /** The bound listener address (useful with port 0). */
  get listenAddress(): { host: string; port: number } {
    if (!this.address) throw new Error('broker is not listening');
    return this.address;
  }

  private async reconcile(): Promise<void> {
    for (const t of this.topics.list()) {
      const config = logConfigOf(t.configs, this.config.logDefaults);
      for (let p = 0; p < t.partitions; p++) {
        const log = this.logs.get(t.name, p);
        if (log) log.updateConfig(config);
        else if (!this.logs.offline(t.name, p)) await this.logs.createPartition(t.name, p, config);
      }
    }
    for (const { topic, partition } of [...this.logs.partitions(), ...this.logs.offlinePartitions()]) {
      const t = this.topics.get(topic);
      if (!t || partition >= t.partitions) {
        this.logger.warn({ topic, partition }, 'removing partition directory of a topic that no longer exists');
        await this.logs.deletePartition(topic, partition);
      }
    }
  }


  /** This broker's log of the partition (tests and local services; handlers go through `partitions`). */
  partitionLog(topic: string, partition: number): PartitionLog | undefined {
    return this.logs.get(topic, partition);
  }

  validateTopicConfigs(configs: Record<string, string>): KafkaFailure | null {
    return validateTopicConfigs(configs);
  }

  /**
   * Creates the partitions first, then makes the topic visible in the table and writes the table durably; a
   * topic is never visible before it is usable. Concurrent creations of one name: the first wins, the others
   * get TopicExistsError (auto-creation waits for the first through `pendingTopic`). A name that differs from
   * an existing or pending topic's only by '.' vs '_' gets TopicCollisionError, as Kafka refuses it.
   */
  createTopic(name: string, partitions: number, configs: Record<string, string>): Promise<TopicRecord> {
    if (this.topics.get(name) || this.creating.has(name)) return Promise.reject(new TopicExistsError(name));
    if (this.deleting.has(name)) return Promise.reject(new TopicExistsError(name, 'is marked for deletion'));
    const other = collidingTopic(name, this.topicNamesAndPending());
    if (other !== null) return Promise.reject(new TopicCollisionError(name, other));
    const creating = this.create(name, partitions, configs).finally(() => this.creating.delete(name));
    this.creating.set(name, creating);
    return creating;
  }

  pendingTopic(name: string): Promise<TopicRecord> | undefined {
    return this.creating.get(name);
  }

  private *topicNamesAndPending(): Iterable<string> {
    for (const t of this.topics.list()) yield t.name;
    yield* this.creating.keys();
  }

  private async create(name: string, partitions: number, configs: Record<string, string>): Promise<TopicRecord> {
    const config = logConfigOf(configs, this.config.logDefaults);
    for (let p = 0; p < partitions; p++) await this.logs.createPartition(name, p, config);
    const t = this.topics.add(name, partitions, configs);
    try {
      await this.topics.commit();
    } catch (err) {
      this.topics.remove(name);
      for (let p = 0; p < partitions; p++) await this.logs.deletePartition(name, p).catch(() => false);
      throw err;
    }
    this.logger.info({ topic: name, partitions, id: t.id }, 'topic created');
    return t;
  }

  async deleteTopic(name: string): Promise<void> {
    const t = this.topics.remove(name);
    if (!t) return;
    this.deleting.add(name);
    try {
      await this.topics.commit();
      for (let p = 0; p < t.partitions; p++) await this.logs.deletePartition(name, p);
    } finally {
      this.deleting.delete(name);
    }
    // Before the client hears back, so a topic created again under the name is not read from old offsets.
    await this.groups.removeTopicOffsets(name).catch((err: unknown) => this.logger.error({ err, topic: name }, 'removing a deleted topic\'s offsets failed'));
    this.logger.info({ topic: name }, 'topic deleted');
  }

  async addPartitions(name: string, total: number): Promise<void> {
    const t = this.topics.get(name);
    if (!t) return;
    const config = logConfigOf(t.configs, this.config.logDefaults);
    for (let p = t.partitions; p < total; p++) await this.logs.createPartition(name, p, config);
    this.topics.setPartitions(name, total);
    await this.topics.commit();
    this.logger.info({ topic: name, partitions: total }, 'partitions added');
  }

  async setTopicConfigs(name: string, configs: Record<string, string>): Promise<void> {
    const t = this.topics.get(name);
    if (!t) return;
    const config = logConfigOf(configs, this.config.logDefaults);
    this.topics.setConfigs(name, configs);
    await this.topics.commit();
    for (let p = 0; p < t.partitions; p++) this.logs.get(name, p)?.updateConfig(config);
    this.logger.info({ topic: name, configs }, 'topic configs changed');
  }

  async close(): Promise<void> {
    if (this.server) await this.server.close(this.config.shutdownGraceMs);
    this.groups.close();
    this.txn.close();
    await this.partitions.close(); // producer snapshots, so the next start loads no log tail
    await this.logs.close();
    this.fs.shutdown?.();
    this.unlock();
  }
}
