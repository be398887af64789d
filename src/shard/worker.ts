/**
 * One shard: a worker thread with its own event loop, its own Kafka listener (SO_REUSEPORT: the kernel hands it
 * its share of the connections), its own log engine, batch cache and partition logs (only the partitions the
 * table gives it), and links to every other shard for the partitions it does not own.
 *
 * Topic metadata is a mirror of the main thread's table: admin requests (CreateTopics, DeleteTopics, ...) go to
 * the main thread, which changes the table, has the owning shards create or delete the logs, pushes the change
 * to every shard and only then answers, so a topic created through any connection is visible on every shard
 * once the client hears back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Logger } from 'pino';
import { engineJournal, type BrokerConfig } from '../broker/config.js';
import { createLogger } from '../broker/logger.js';
import { logConfigOf } from '../broker/broker.js';
import type { TopicRecord, TopicView } from '../cluster/index.js';
import { createFileSystem, engineReadAheadBudgetBytesDefault, type FileSystem } from '../io/index.js';
import { LogManager, batchCacheBytesMax } from '../log/index.js';
import { KafkaServer, servedApis, validateTopicConfigs, type BrokerServices, type KafkaFailure } from '../kafka/index.js';
import { LocalPartitions } from '../kafka/partitions.js';
import { ControlPort, type LinkInit, type ShardInit } from './control.js';
import { listenReusePort } from './listener.js';
import { ShardPartitions, type Ownership } from './router.js';
import { ShardLink, type RpcServe } from './rpc.js';
import { ShardGroups } from './groups.js';
import { OFFSETS_TOPIC, brokerGroupCoordinator, groupMarkerListener } from '../groups/index.js';
import { CpuPool } from './cpu-pool.js';
import { ShardTxn } from './txn.js';
import { BlockProducerIdSource, TRANSACTION_STATE_TOPIC, brokerTxnCoordinator, type ProducerIdBlock } from '../txn/index.js';

/** The topics as this shard sees them, and who owns each partition. */
export class TopicMirror implements TopicView, Ownership {
  readonly #byName = new Map<string, TopicRecord>();
  readonly #byId = new Map<string, TopicRecord>();
  readonly #owners = new Map<string, number[]>();

  constructor(
    readonly clusterId: string,
    topics: readonly TopicRecord[],
    owners: Record<string, number[]>,
  ) {
    for (const t of topics) this.upsert(t, owners[t.name] ?? []);
  }

  get(name: string): TopicRecord | undefined {
    return this.#byName.get(name);
  }

  getById(id: string): TopicRecord | undefined {
    return this.#byId.get(id);
  }

  list(): TopicRecord[] {
    return [...this.#byName.values()];
  }

  ownerOf(topic: string, partition: number): number | undefined {
    return this.#owners.get(topic)?.[partition];
  }

  upsert(t: TopicRecord, owners: number[]): void {
    const old = this.#byName.get(t.name);
    if (old && old.id !== t.id) this.#byId.delete(old.id);
    this.#byName.set(t.name, t);
    this.#byId.set(t.id, t);
    this.#owners.set(t.name, owners);
  }

  remove(name: string): void {
    const t = this.#byName.get(name);
    if (!t) return;
    this.#byName.delete(name);
    this.#byId.delete(t.id);
    this.#owners.delete(name);
  }
}

/** What the Kafka handlers of a shard see. */
class ShardServices implements BrokerServices {
  readonly #creating = new Map<string, Promise<TopicRecord>>();

  groups!: ShardGroups;
  txn!: ShardTxn;

  constructor(
    readonly config: BrokerConfig,
    readonly logger: Logger,
    readonly topics: TopicMirror,
    readonly partitions: ShardPartitions,
    private readonly control: ControlPort,
  ) {}

  createTopic(name: string, partitions: number, configs: Record<string, string>): Promise<TopicRecord> {
    const pending = this.#creating.get(name);
    if (pending) return pending.then(() => Promise.reject(Object.assign(new Error(`Topic '${name}' already exists.`), { code: 'TOPIC_ALREADY_EXISTS' })));
    const p = this.control.call<TopicRecord>('createTopic', { name, partitions, configs }).finally(() => this.#creating.delete(name));
    this.#creating.set(name, p);
    return p;
  }

  pendingTopic(name: string): Promise<TopicRecord> | undefined {
    return this.#creating.get(name);
  }

  async deleteTopic(name: string): Promise<void> {
    await this.control.call('deleteTopic', { name });
  }

  async addPartitions(name: string, total: number): Promise<void> {
    await this.control.call('addPartitions', { name, total });
  }

  async setTopicConfigs(name: string, configs: Record<string, string>): Promise<void> {
    await this.control.call('setTopicConfigs', { name, configs });
  }

  validateTopicConfigs(configs: Record<string, string>): KafkaFailure | null {
    return validateTopicConfigs(configs);
  }
}

/** Runs a shard until the main thread tells it to stop. */
const MiB = 1024 * 1024;

async function runShard(init: ShardInit): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('src/shard/worker.js runs as a worker thread');
  // Memory budgets are the broker's: each shard gets its share.
  const share = (total: number, floorBytes: number): number => Math.max(floorBytes, Math.floor(total / init.shards));
  const config: BrokerConfig = { ...init.config, requestQueueBytesMax: share(init.config.requestQueueBytesMax, 8 * MiB) };
  const logger = createLogger(config.logLevel).child({ shard: init.shardId });
  const mirror = new TopicMirror(init.clusterId, init.topics, init.owners);
  const fs: FileSystem & { shutdown?(): void } = createFileSystem({
    engine: config.logEngine,
    flushDelayUs: config.flushDelayUs,
    flushBytesMax: config.flushBytesMax,
    ioThreads: config.ioThreads,
    zeroAheadBytes: config.zeroAheadBytes,
    readAheadBudgetBytes: share(engineReadAheadBudgetBytesDefault, 16 * MiB),
    ...engineJournal(config, `shard-${init.shardId}`),
    logger,
  });
  const cpu = new CpuPool();
  const owns = (topic: string, partition: number): boolean => mirror.ownerOf(topic, partition) === init.shardId;
  const logs = await LogManager.open({
    dataDir: config.dataDir,
    fs,
    storageRetryMs: config.storageRetryMs,
    logger,
    retentionCheckIntervalMs: config.retentionCheckIntervalMs,
    configFor: (topic) => logConfigOf(mirror.get(topic)?.configs ?? {}, config.logDefaults),
    owns,
    cleanShutdownFile: init.cleanShutdownFile,
    offload: cpu,
    batchCacheBytesMax: share(batchCacheBytesMax, 8 * MiB),
  });
  // A partition in the table without a directory (a crash between the table write and its creation): create it.
  for (const t of mirror.list()) {
    for (let p = 0; p < t.partitions; p++) {
      if (owns(t.name, p) && !logs.get(t.name, p) && !logs.offline(t.name, p)) await logs.createPartition(t.name, p, logConfigOf(t.configs, config.logDefaults));
    }
  }
  logs.start();

  const partitions = new ShardPartitions(init.shardId, new LocalPartitions(logs, logger, { countLoad: true, producerState: config }), mirror, logger);
  // Consumer groups: this shard coordinates the groups of its own __consumer_offsets partitions.
  let services: ShardServices | null = null;
  /** What both coordinators' internal topics are kept in, and created through. */
  const internalTopics = {
    partitionLog: (t: string, p: number) => logs.get(t, p),
    topicExists: (name: string) => mirror.get(name) !== undefined,
    createTopic: (name: string, n: number, configs: Record<string, string>) => services!.createTopic(name, n, configs),
    pendingTopic: (name: string) => services!.pendingTopic(name),
  };
  /** This shard's share of an internal topic: its partitions the shard table gives this shard (none before it exists). */
  const ownedShare = (topic: string) => (): readonly number[] => {
    const t = mirror.get(topic);
    return t ? Array.from({ length: t.partitions }, (_, p) => p).filter((p) => owns(topic, p)) : [];
  };
  const coordinator = brokerGroupCoordinator({ config, logger, ...internalTopics, ownedPartitions: ownedShare(OFFSETS_TOPIC) });
  // Transactional offsets complete when their marker is durable on this shard's __consumer_offsets partitions.
  partitions.local.onMarker(groupMarkerListener(coordinator));
  const groups = new ShardGroups(init.shardId, coordinator, mirror, partitions.links, logger);
  // Transactions (issue 6): this shard coordinates the ids of its own __transaction_state partitions; producer id
  // blocks come from the main thread, which owns the block file.
  let control: ControlPort | null = null;
  const txnCoordinator = brokerTxnCoordinator({
    config,
    logger,
    markers: partitions,
    producerIds: new BlockProducerIdSource(() => control!.call<ProducerIdBlock>('producerIdBlock')),
    ...internalTopics,
    partitionExists: (t, p) => p < (mirror.get(t)?.partitions ?? 0),
    ownedPartitions: ownedShare(TRANSACTION_STATE_TOPIC),
  });
  const txn = new ShardTxn(init.shardId, txnCoordinator, mirror, partitions.links, logger);
  // KIP-890 part 1: this shard's partitions and group coordinator ask the transaction's coordinator (routed to its
  // shard) before the first transactional write of a transaction.
  partitions.local.setTxnVerifier(txn);
  coordinator.setTxnVerifier(txn);
  const serveLink: RpcServe = async (op, args, payloads, ctx) => {
    if (op === 'txn') return { result: null, payloads: [await txn.serve((args as { method: string }).method, payloads[0]!)] };
    if (op === 'txnList') return { result: null, payloads: [txn.serveList(payloads[0]!)] };
    if (op === 'group') return { result: null, payloads: [await groups.serve((args as { method: string }).method, payloads[0]!)] };
    if (op === 'groupList') return { result: null, payloads: [groups.serveList((args as { states: string[] }).states)] };
    return partitions.serve(op, args, payloads, ctx);
  };
  const addLink = (l: LinkInit): void => {
    partitions.links.get(l.peer)?.close(new Error('replaced'));
    const onClose = (why: Error): void => {
      if (!/replaced|crashed|shutting down/.test(why.message)) logger.error({ peer: l.peer, err: why }, 'link to shard closed');
    };
    partitions.links.set(l.peer, new ShardLink(l.peer, l.tx, l.rx, serveLink, { onClose, bulk: { tx: l.bulkTx, rx: l.bulkRx }, share: config.shardShareMemory }));
  };
  for (const l of init.links) addLink(l);

  let server: KafkaServer | null = null;
  let stopped!: () => void;
  const done = new Promise<void>((resolve) => (stopped = resolve));
  const serve = async (op: string, args: unknown): Promise<unknown> => {
    const a = args as Record<string, unknown>;
    switch (op) {
      case 'listen': {
        // Before the listener accepts anything: the port clients are told (port 0: the one just bound).
        if (typeof a.advertisePort === 'number') config.advertise.port = a.advertisePort;
        const bound = await listenReusePort(server!.netServer, config.listen.host, a.port as number);
        if (config.advertise.port === 0) config.advertise.port = bound;
        return bound;
      }
      case 'topic': {
        const t = a.record as TopicRecord;
        mirror.upsert(t, a.owners as number[]);
        const lc = logConfigOf(t.configs, config.logDefaults);
        for (let p = 0; p < t.partitions; p++) logs.get(t.name, p)?.updateConfig(lc);
        // The internal topic appeared (created through some shard): load this shard's share of it.
        if (t.name === OFFSETS_TOPIC) void coordinator.ensureOffsetsTopic();
        if (t.name === TRANSACTION_STATE_TOPIC) void txnCoordinator.ensureStateTopic();
        return null;
      }
      case 'topicRemoved':
        mirror.remove(a.name as string);
        // Before the client hears back, so a topic created again under the name is not read from old offsets.
        await coordinator.removeTopicOffsets(a.name as string).catch((err: unknown) => logger.error({ err, topic: a.name }, 'removing a deleted topic\'s offsets failed'));
        return null;
      case 'createPartitions': {
        const lc = logConfigOf(a.configs as Record<string, string>, config.logDefaults);
        for (const p of a.partitions as number[]) await logs.createPartition(a.topic as string, p, lc);
        return null;
      }
      case 'deletePartitions':
        for (const p of a.partitions as number[]) await logs.deletePartition(a.topic as string, p);
        return null;
      case 'link':
        addLink(a as unknown as LinkInit);
        return null;
      case 'peerDown':
        partitions.links.get(a.peer as number)?.close(new Error('crashed'));
        partitions.links.delete(a.peer as number);
        return null;
      case 'drain':
        // Stop accepting and finish what connections have read; peers' calls are still served.
        if (server) await server.close(config.shutdownGraceMs);
        return null;
      case 'close':
        coordinator.close();
        txnCoordinator.close();
        for (const l of partitions.links.values()) l.close(new Error('shutting down'));
        await partitions.local.close(); // producer snapshots before the logs close
        await logs.close();
        fs.shutdown?.();
        await cpu.close();
        setImmediate(stopped);
        return null;
      case 'stats':
        return {
          shard: init.shardId,
          partitions: [...logs.partitions()].length,
          connections: server?.connectionCount ?? 0,
          heapUsed: process.memoryUsage().heapUsed,
          cpuTasksOffloaded: cpu.offloaded,
          links: [...partitions.links.values()].map((l) => ({ peer: l.peer, ...l.stats })),
        };
      case 'load':
        // Bytes appended per partition since the last ask: the main thread's placement weighs shards by it.
        return Object.fromEntries(partitions.local.takeAppendedBytes());
      case 'crash':
        // Fault injection for tests: dies as an uncaught exception would.
        setImmediate(() => {
          throw new Error('shard crash requested');
        });
        return null;
      default:
        throw new Error(`unknown control op ${op}`);
    }
  };
  control = new ControlPort(port, serve);
  services = new ShardServices(config, logger, mirror, partitions, control);
  services.groups = groups;
  services.txn = txn;
  coordinator.start();
  txnCoordinator.start();
  server = new KafkaServer(services, servedApis());
  await control.call('ready', { shard: init.shardId });
  await done;
  control!.close(new Error('stopped'));
}

if (parentPort && (workerData as { tern?: ShardInit } | null)?.tern) {
  runShard((workerData as { tern: ShardInit }).tern).catch((err: unknown) => {
    // Start-up failed (storage unreadable, port taken): the main thread sees the worker exit with this error.
    throw err;
  });
}
