/**
 * The main thread of a sharded broker: it owns the topic table and the partition -> shard table, starts one
 * shard (worker thread) per core, and never touches a record byte.
 *
 * - Start: open both tables, place every partition (a changed --smp moves partitions of shards that no longer
 *   exist; then every shard recovers its partitions by full scans), remove directories of topics that no longer
 *   exist, start the shards, then have them listen: shard 0 binds the port (port 0 picks one), the others bind
 *   the same port through SO_REUSEPORT.
 * - Topic admin, asked by any shard: place new partitions, have their owners create the logs, commit the table,
 *   push the change to every shard, and only then answer (DeleteTopics: the reverse order).
 * - A shard that dies (uncaught error, abort) is restarted with backoff: its peers drop their links to it (its
 *   partitions answer NOT_LEADER_OR_FOLLOWER meanwhile), the new one recovers its partitions from the log,
 *   gets fresh rings, and the peers are handed links to it. Its clients reconnect (to any shard).
 * - Shutdown: every shard stops accepting and drains its connections (still serving its peers), then every shard
 *   syncs and closes its logs.
 */
import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import type { BrokerConfig } from '../broker/config.js';
import { TopicTable, collidingTopic, collisionMessage, type TopicRecord } from '../cluster/index.js';
import { NodeFileSystem, replayJournals } from '../io/index.js';
import { parsePartitionDir } from '../log/index.js';
import { createChannelBuffer } from './channel.js';
import { createBulkBuffer } from './bulk.js';
import { ControlPort, type LinkInit, type ShardInit } from './control.js';
import { ShardTable } from './assignment.js';
import { lockDataDir } from '../broker/lock.js';
import { ProducerIdBlocks } from '../txn/index.js';

const RESTART_DELAY_MS_MAX = 30_000;
/** Placeholder for the diagonal of the ring matrix. */
const EMPTY_RING = new SharedArrayBuffer(0);
/** How often shards report per-partition append rates (the load new partitions are placed by). */
const LOAD_SAMPLE_MS = 10_000;
/** How long topic admin waits for a restarting shard before failing. */
const ADMIN_WAIT_MS = 15_000;

/** The compiled worker, also when this module runs from TypeScript sources (tests). */
function workerUrl(): URL {
  const here = fileURLToPath(import.meta.url);
  if (!here.endsWith('.ts')) return new URL('./worker.js', import.meta.url);
  return pathToFileURL(path.resolve(path.dirname(here), '../../dist/src/shard/worker.js'));
}

/**
 * Old-generation size a shard's V8 heap starts with, MiB. A shard's live heap is small (10-30 MiB) while every
 * produced and fetched byte passes through it as ArrayBuffers; with V8's default starting limits the headroom above
 * the live heap stays below the young generation's size, so V8 kept starting incremental marking: a Mark-Compact
 * (2-21 ms pause) every ~13 MB produced. Starting at 128 MiB cut them 3-6x in the fetch probe (docs/benchmarks.md,
 * "Round 8"). Set before the first shard's isolate is created (heap flags apply to isolates created after); the main
 * thread's heap is already configured.
 */
export const SHARD_OLD_SPACE_INITIAL_MIB = 128;
let shardHeapsConfigured = false;

export function configureShardHeaps(): void {
  if (shardHeapsConfigured) return;
  shardHeapsConfigured = true;
  v8.setFlagsFromString(`--initial-old-space-size=${SHARD_OLD_SPACE_INITIAL_MIB}`);
}

export class AdminError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

interface Shard {
  id: number;
  worker: Worker | null;
  control: ControlPort | null;
  up: boolean;
  /** Crashes in a row (reset once a restarted shard has run for a while). */
  crashes: number;
  startedAt: number;
}

export class ShardedBroker {
  readonly #shards: Shard[] = [];
  /** rings[a][b]: the ring shard a writes and shard b reads. */
  readonly #rings: SharedArrayBuffer[][] = [];
  /**
   * Bulk arenas (bulk.ts), one per ordered pair like the rings: `#bulk[a][c]` holds a's answers to c. Twice the ring
   * (8 MiB by default): seven or eight 1 MiB fetch answers in flight to one shard (a cold read reserves 17 blocks,
   * its alignment slack included) before answers fall back to the ring.
   */
  readonly #bulk: SharedArrayBuffer[][] = [];
  readonly #deleting = new Set<string>();
  readonly #creating = new Set<string>();
  #upWaiters: (() => void)[] = [];
  #stopping = false;
  #address: { host: string; port: number } | null = null;
  #loadTimer: NodeJS.Timeout | null = null;
  /** Serializes topic admin: one table change at a time. */
  #admin: Promise<unknown> = Promise.resolve();
  readonly #fs = new NodeFileSystem();
  /** Producer id blocks (issue 6): this thread owns <dataDir>/producer-ids and hands blocks to shards. */
  #producerIds: ProducerIdBlocks | null = null;
  /** Restarts so far (tests and stats). */
  restarts = 0;

  private constructor(
    readonly config: BrokerConfig,
    readonly logger: Logger,
    readonly topics: TopicTable,
    readonly table: ShardTable,
  ) {}

  static async start(given: BrokerConfig, logger: Logger): Promise<ShardedBroker> {
    const config: BrokerConfig = { ...given, listen: { ...given.listen }, advertise: { ...given.advertise } };
    const unlock = lockDataDir(config.dataDir);
    try {
      const b = await ShardedBroker.open(config, logger);
      b.#unlock = unlock;
      return b;
    } catch (err) {
      unlock();
      throw err;
    }
  }

  #unlock: () => void = () => undefined;

  private static async open(config: BrokerConfig, logger: Logger): Promise<ShardedBroker> {
    const nodeFs = new NodeFileSystem();
    await nodeFs.mkdirp(config.dataDir);
    // Before any shard opens a file: bytes acknowledged through the engines' journals go back into their files
    // (every journal, whichever shard wrote it: partitions may have changed shards since).
    await replayJournals(nodeFs, config.dataDir, logger, Array.from({ length: config.smp }, (_, i) => `shard-${i}`));
    const topics = await TopicTable.open(config.dataDir, nodeFs);
    const { table, moves } = await ShardTable.open(nodeFs, config.dataDir, config.smp);
    const b = new ShardedBroker(config, logger, topics, table);
    b.#producerIds = await ProducerIdBlocks.open(nodeFs, config.dataDir);
    // Every partition of the topic table has an owner; the table holds nothing else.
    const live = new Set<string>();
    for (const t of topics.list()) {
      for (let p = 0; p < t.partitions; p++) {
        table.assign(t.name, p);
        live.add(`${t.name}-${p}`);
      }
    }
    for (const key of table.keys()) {
      if (!live.has(key)) {
        const id = parsePartitionDir(key);
        if (id) table.remove(id.topic, id.partition);
      }
    }
    await table.commit(nodeFs, config.dataDir);
    b.#removeOrphans(live);
    // Partitions that changed shards must be recovered by full scans: their new shard's marker says nothing.
    if (moves.length > 0) {
      logger.warn({ moves: moves.length, shards: config.smp }, 'shard count changed: partitions moved, every shard recovers its logs');
      b.#removeMarkers();
    }
    // One ring per ordered pair of distinct shards (a shard never writes to itself).
    for (let a = 0; a < config.smp; a++) {
      b.#rings.push(Array.from({ length: config.smp }, () => EMPTY_RING));
      b.#bulk.push(Array.from({ length: config.smp }, () => EMPTY_RING));
      for (let c = 0; c < config.smp; c++) if (a !== c) b.#openDirection(a, c);
    }
    for (let id = 0; id < config.smp; id++) b.#shards.push({ id, worker: null, control: null, up: false, crashes: 0, startedAt: 0 });
    try {
      await Promise.all(b.#shards.map((s) => b.#spawn(s)));
      await b.#listen();
    } catch (err) {
      await b.#stop().catch(() => undefined);
      throw err;
    }
    b.#loadTimer = setInterval(() => void b.sampleLoad(), LOAD_SAMPLE_MS);
    b.#loadTimer.unref();
    logger.info({ shards: config.smp }, 'shards started');
    return b;
  }

  get listenAddress(): { host: string; port: number } {
    if (!this.#address) throw new Error('broker is not listening');
    return this.#address;
  }

  get shardCount(): number {
    return this.#shards.length;
  }

  #markerFile(id: number): string {
    return `.tern_cleanshutdown-shard${id}`;
  }

  #removeMarkers(): void {
    for (const name of fs.readdirSync(this.config.dataDir)) {
      if (name.startsWith('.tern_cleanshutdown')) fs.rmSync(path.join(this.config.dataDir, name), { force: true });
    }
  }

  /** Partition directories of topics that are no longer in the table (a crash between the two): removed. */
  #removeOrphans(live: Set<string>): void {
    for (const name of fs.readdirSync(this.config.dataDir)) {
      if (name.startsWith('.') || name.endsWith('-delete') || live.has(name)) continue;
      const full = path.join(this.config.dataDir, name);
      if (!parsePartitionDir(name) || !fs.statSync(full).isDirectory()) continue;
      this.logger.warn({ dir: full }, 'removing partition directory of a topic that no longer exists');
      fs.rmSync(full, { recursive: true, force: true });
    }
  }

  /** A new ring and bulk arena for what shard `a` sends shard `c`. */
  #openDirection(a: number, c: number): void {
    this.#rings[a]![c] = createChannelBuffer(this.config.shardChannelBytes);
    this.#bulk[a]![c] = createBulkBuffer(2 * this.config.shardChannelBytes);
  }

  /** Shard `id`'s end of its link to `peer`. */
  #link(id: number, peer: number): LinkInit {
    return { peer, tx: this.#rings[id]![peer]!, rx: this.#rings[peer]![id]!, bulkTx: this.#bulk[id]![peer]!, bulkRx: this.#bulk[peer]![id]! };
  }

  #ownersOf(t: TopicRecord): number[] {
    return Array.from({ length: t.partitions }, (_, p) => this.table.owner(t.name, p) ?? 0);
  }

  #init(id: number): ShardInit {
    const links: LinkInit[] = [];
    for (let peer = 0; peer < this.config.smp; peer++) {
      if (peer !== id) links.push(this.#link(id, peer));
    }
    const list = this.topics.list();
    return {
      shardId: id,
      shards: this.config.smp,
      config: this.config,
      clusterId: this.topics.clusterId,
      topics: list,
      owners: Object.fromEntries(list.map((t) => [t.name, this.#ownersOf(t)])),
      links,
      cleanShutdownFile: this.#markerFile(id),
    };
  }

  /** Starts a shard's worker; resolves when its logs are open and it is ready to listen. */
  #spawn(s: Shard): Promise<void> {
    configureShardHeaps();
    return new Promise((resolve, reject) => {
      const worker = new Worker(workerUrl(), { workerData: { tern: this.#init(s.id) } });
      s.worker = worker;
      s.startedAt = Date.now();
      let ready = false;
      const control = new ControlPort(worker, (op, args) => this.#serve(s, op, args, () => {
        ready = true;
        resolve();
      }));
      s.control = control;
      worker.on('error', (err) => this.logger.error({ shard: s.id, err }, 'shard failed'));
      worker.on('exit', (code) => {
        control.close(new Error(`shard ${s.id} exited (${code})`));
        const wasUp = s.up;
        s.up = false;
        s.worker = null;
        s.control = null;
        if (!ready) {
          reject(new Error(`shard ${s.id} exited during start-up (code ${code})`));
          return;
        }
        if (this.#stopping) return;
        this.logger.error({ shard: s.id, code }, 'shard died: restarting it');
        if (wasUp) void this.#restart(s);
      });
    });
  }

  async #restart(s: Shard): Promise<void> {
    for (const peer of this.#shards) if (peer.up) void peer.control!.call('peerDown', { peer: s.id }).catch(() => undefined);
    // Fresh rings both ways: the old ones may hold half a message of the dead thread.
    for (let p = 0; p < this.config.smp; p++) {
      if (p === s.id) continue;
      // Fresh arenas too: the peer may still hold views of the old ones, which stay valid (and unused) for it.
      this.#openDirection(s.id, p);
      this.#openDirection(p, s.id);
    }
    if (Date.now() - s.startedAt > 60_000) s.crashes = 0;
    const delay = Math.min(RESTART_DELAY_MS_MAX, this.config.shardRestartDelayMs * 2 ** s.crashes);
    s.crashes++;
    await new Promise((r) => setTimeout(r, delay));
    if (this.#stopping) return;
    try {
      await this.#spawn(s);
      await s.control!.call('listen', { port: this.#address!.port, advertisePort: this.config.advertise.port });
      for (const peer of this.#shards) {
        if (peer.id !== s.id && peer.up) await peer.control!.call('link', this.#link(peer.id, s.id));
      }
      this.restarts++;
      this.#markUp(s);
      this.logger.info({ shard: s.id, restarts: this.restarts }, 'shard restarted');
    } catch (err) {
      this.logger.error({ shard: s.id, err }, 'shard restart failed: retrying');
      if (!this.#stopping && !s.worker) void this.#restart(s);
    }
  }

  #markUp(s: Shard): void {
    s.up = true;
    if (this.#shards.every((x) => x.up)) {
      const w = this.#upWaiters;
      this.#upWaiters = [];
      for (const f of w) f();
    }
  }

  async #listen(): Promise<void> {
    const [first, ...rest] = this.#shards;
    // Port 0: shard 0 binds a free port and advertises it (set before its first accept); the others join it.
    const port = await first!.control!.call<number>('listen', { port: this.config.listen.port });
    if (this.config.advertise.port === 0) this.config.advertise.port = port;
    await Promise.all(rest.map((s) => s.control!.call('listen', { port, advertisePort: this.config.advertise.port })));
    this.#address = { host: this.config.listen.host, port };
    for (const s of this.#shards) this.#markUp(s);
  }

  #allUp(): Promise<void> {
    if (this.#shards.every((s) => s.up)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new AdminError('a shard is restarting; try again', 'REQUEST_TIMED_OUT')), ADMIN_WAIT_MS);
      this.#upWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Calls from shards. */
  #serve(s: Shard, op: string, args: unknown, onReady: () => void): Promise<unknown> | unknown {
    const a = args as Record<string, unknown>;
    switch (op) {
      case 'ready':
        onReady();
        return null;
      case 'createTopic':
        return this.createTopic(a.name as string, a.partitions as number, a.configs as Record<string, string>);
      case 'deleteTopic':
        return this.#serial(() => this.#deleteTopic(a.name as string));
      case 'addPartitions':
        return this.#serial(() => this.#addPartitions(a.name as string, a.total as number));
      case 'setTopicConfigs':
        return this.#serial(() => this.#setTopicConfigs(a.name as string, a.configs as Record<string, string>));
      case 'producerIdBlock':
        return this.#producerIds!.allocate();
      default:
        throw new Error(`unknown call ${op} from shard ${s.id}`);
    }
  }

  #serial<T>(f: () => Promise<T>): Promise<T> {
    const next = this.#admin.then(f, f);
    this.#admin = next.catch(() => undefined);
    return next;
  }

  /** Pushes a topic's record and owners to every shard; resolves when all have it. */
  async #publish(t: TopicRecord): Promise<void> {
    await Promise.all(this.#shards.filter((s) => s.up).map((s) => s.control!.call('topic', { record: t, owners: this.#ownersOf(t) })));
  }

  /** Has each owning shard run `op` for its partitions of `topic`. */
  async #onOwners(op: string, topic: string, partitions: number[], extra: Record<string, unknown> = {}): Promise<void> {
    const by = new Map<number, number[]>();
    for (const p of partitions) {
      const owner = this.table.owner(topic, p)!;
      const list = by.get(owner);
      if (list) list.push(p);
      else by.set(owner, [p]);
    }
    await Promise.all([...by].map(([owner, ps]) => this.#shards[owner]!.control!.call(op, { topic, partitions: ps, ...extra })));
  }

  *#topicNamesAndPending(): Iterable<string> {
    for (const t of this.topics.list()) yield t.name;
    yield* this.#creating;
  }

  createTopic(name: string, partitions: number, configs: Record<string, string>): Promise<TopicRecord> {
    if (this.topics.get(name) || this.#creating.has(name)) return Promise.reject(new AdminError(`Topic '${name}' already exists.`, 'TOPIC_ALREADY_EXISTS'));
    if (this.#deleting.has(name)) return Promise.reject(new AdminError(`Topic '${name}' is marked for deletion.`, 'TOPIC_ALREADY_EXISTS'));
    // Kafka refuses a name equal to an existing (or pending) topic's up to '.' vs '_': their metrics would mix.
    const other = collidingTopic(name, this.#topicNamesAndPending());
    if (other !== null) return Promise.reject(new AdminError(collisionMessage(name, other), 'INVALID_TOPIC_EXCEPTION'));
    this.#creating.add(name);
    return this.#serial(async () => {
      try {
        await this.#allUp();
        const ps = Array.from({ length: partitions }, (_, p) => p);
        for (const p of ps) this.table.assign(name, p);
        await this.table.commit(this.#fs, this.config.dataDir);
        await this.#onOwners('createPartitions', name, ps, { configs });
        const t = this.topics.add(name, partitions, configs);
        try {
          await this.topics.commit();
        } catch (err) {
          this.topics.remove(name);
          await this.#onOwners('deletePartitions', name, ps).catch(() => undefined);
          for (const p of ps) this.table.remove(name, p);
          throw err;
        }
        await this.#publish(t);
        this.logger.info({ topic: name, partitions, id: t.id }, 'topic created');
        return t;
      } finally {
        this.#creating.delete(name);
      }
    });
  }

  async #deleteTopic(name: string): Promise<void> {
    const t = this.topics.get(name);
    if (!t) return;
    await this.#allUp();
    this.topics.remove(name);
    this.#deleting.add(name);
    try {
      await this.topics.commit();
      await Promise.all(this.#shards.map((s) => s.control!.call('topicRemoved', { name })));
      const ps = Array.from({ length: t.partitions }, (_, p) => p);
      await this.#onOwners('deletePartitions', name, ps);
      for (const p of ps) this.table.remove(name, p);
      await this.table.commit(this.#fs, this.config.dataDir);
    } finally {
      this.#deleting.delete(name);
    }
    this.logger.info({ topic: name }, 'topic deleted');
  }

  async #addPartitions(name: string, total: number): Promise<void> {
    const t = this.topics.get(name);
    if (!t) return;
    await this.#allUp();
    const ps: number[] = [];
    for (let p = t.partitions; p < total; p++) {
      this.table.assign(name, p);
      ps.push(p);
    }
    await this.table.commit(this.#fs, this.config.dataDir);
    await this.#onOwners('createPartitions', name, ps, { configs: t.configs });
    this.topics.setPartitions(name, total);
    await this.topics.commit();
    await this.#publish(this.topics.get(name)!);
    this.logger.info({ topic: name, partitions: total }, 'partitions added');
  }

  async #setTopicConfigs(name: string, configs: Record<string, string>): Promise<void> {
    if (!this.topics.get(name)) return;
    await this.#allUp();
    this.topics.setConfigs(name, configs);
    await this.topics.commit();
    await this.#publish(this.topics.get(name)!);
    this.logger.info({ topic: name, configs }, 'topic configs changed');
  }

  /**
   * Asks every shard for bytes appended per partition since the last sample and sets each partition's load
   * (bytes/s, smoothed) in the table: new partitions go to the least loaded of the shards with the fewest.
   */
  async sampleLoad(): Promise<void> {
    const now = Date.now();
    const seconds = Math.max(0.001, (now - this.#lastLoadSample) / 1000);
    this.#lastLoadSample = now;
    const reports = await Promise.allSettled(this.#shards.filter((s) => s.up).map((s) => s.control!.call<Record<string, number>>('load')));
    const rates = new Map<string, number>();
    for (const r of reports) if (r.status === 'fulfilled') for (const [k, bytes] of Object.entries(r.value)) rates.set(k, bytes / seconds);
    const loads = new Map<string, number>();
    for (const key of this.table.keys()) {
      const id = parsePartitionDir(key);
      if (!id) continue;
      const next = (this.#loads.get(key) ?? 0) * 0.5 + (rates.get(key) ?? 0) * 0.5;
      loads.set(key, next);
      this.table.setLoad(id.topic, id.partition, next);
    }
    this.#loads = loads;
  }

  #lastLoadSample = Date.now();
  #loads = new Map<string, number>();

  /** Per-shard counters (partitions, connections, heap). */
  async stats(): Promise<unknown[]> {
    return Promise.all(this.#shards.map((s) => (s.up ? s.control!.call('stats') : Promise.resolve({ shard: s.id, down: true }))));
  }

  /** Test hook: makes a shard die as an uncaught exception would; the supervisor restarts it. */
  async crashShard(id: number): Promise<void> {
    const s = this.#shards[id];
    if (!s?.up) throw new Error(`shard ${id} is not up`);
    const exited = new Promise((r) => s.worker!.once('exit', r));
    await s.control!.call('crash').catch(() => undefined);
    await exited;
  }

  /** Resolves once every shard is up (after restarts). */
  whenAllUp(): Promise<void> {
    return this.#allUp();
  }

  /** Stops accepting everywhere, drains connections, then syncs and closes every shard's logs. */
  async close(): Promise<void> {
    await this.#stop();
    this.#unlock();
  }

  async #stop(): Promise<void> {
    this.#stopping = true;
    if (this.#loadTimer) clearInterval(this.#loadTimer);
    const live = this.#shards.filter((s) => s.control);
    await Promise.allSettled(live.map((s) => s.control!.call('drain')));
    await Promise.allSettled(live.map((s) => s.control!.call('close')));
    await Promise.allSettled(
      live.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (!s.worker) return resolve();
            const timer = setTimeout(() => void s.worker?.terminate(), 5000);
            s.worker.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
          }),
      ),
    );
  }
}
