/**
 * All partition logs of one data directory (Kafka's log.dirs entry): `<dataDir>/<topic>-<partition>/`.
 *
 * Lifecycle: `LogManager.open` reads and removes the clean-shutdown marker `<dataDir>/.tern_cleanshutdown`,
 * removes leftovers of interrupted deletions (`*-delete` directories), and opens every partition directory
 * (recovering each, see PartitionLog.open). `start` begins the background retention pass. `close` closes every
 * log (each drains and syncs) and, when all closed cleanly, writes the marker again, so the next open scans only
 * each partition's last segment. One SyncScheduler and one BatchCache are shared by all partitions, so syncs
 * group-commit across partitions and the cache has one budget.
 *
 * Disk full: a partition whose write fails with ENOSPC/EDQUOT goes offline (KAFKA_STORAGE_ERROR, its unacknowledged
 * appends fail) and is reopened — recovered from its files, as after a crash — every `storageRetryMs` until that
 * succeeds, so producing resumes once space returns, without a restart. Any other storage failure (EIO, a failed
 * fsync) leaves the partition offline until restart: after a failed fsync the file's state is unknown.
 *
 * Partition directory names split at the LAST '-': topic names may contain '-', partitions are digits.
 * Deleting a partition renames its directory to `<topic>-<partition>.<uuid>-delete` (atomic, so a crash never
 * leaves a half-deleted partition that looks live), then removes it in the background, as Kafka does.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { NodeFileSystem, isOutOfSpace, type FileSystem } from '../io/index.js';
import { BatchCache } from './batch-cache.js';
import { batchCacheBytesMax, defaultLogConfig, retentionCheckIntervalMsDefault, type LogConfig } from './config.js';
import { PartitionLog, silentLogger, type Logger } from './partition-log.js';
import { SyncScheduler } from './sync-scheduler.js';
import { KafkaStorageError } from './errors.js';
import type { CpuOffload } from './offload.js';

export const CLEAN_SHUTDOWN_FILE = '.tern_cleanshutdown';
/** Partition directories opened (recovered) concurrently at startup: each open waits on small reads. */
export const recoveryConcurrencyMax = 32;
export const storageRetryMsDefault = 1000;
const DELETE_DIR = /-delete$/;
const PARTITION_DIR = /^(.+)-(\d{1,10})$/;
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

export interface LogManagerOptions {
  dataDir: string;
  fs?: FileSystem;
  logger?: Logger;
  /** Wall clock, ms. */
  clock?: () => number;
  /** Group-commit delay for the shared SyncScheduler, µs. */
  flushDelayUs?: number;
  /** Budget of the shared batch cache, bytes. */
  batchCacheBytesMax?: number;
  /** Period of the background retention pass, ms. */
  retentionCheckIntervalMs?: number;
  /** Retry period for reopening a partition that failed on a full disk, ms. */
  storageRetryMs?: number;
  /** Config of partitions found on disk at open (topic configs live in cluster metadata, not in the log dir). */
  configFor?: (topic: string, partition: number) => LogConfig;
  /**
   * The partitions this manager serves, of those found on disk (a shard opens only its own; others' directories,
   * and their leftovers of deletions, are not touched). Default: all.
   */
  owns?: (topic: string, partition: number) => boolean;
  /** Name of the clean-shutdown marker in the data dir (one per shard). */
  cleanShutdownFile?: string;
  /** Where the logs' decompression and recovery CRC checks run (a shard's CPU pool; default inline). */
  offload?: CpuOffload;
}

export interface PartitionId {
  topic: string;
  partition: number;
}

export class LogManager {
  readonly dataDir: string;
  readonly scheduler: SyncScheduler;
  readonly cache: BatchCache;
  readonly retentionCheckIntervalMs: number;
  readonly storageRetryMs: number;
  readonly #fs: FileSystem;
  readonly #logger: Logger;
  readonly #clock: () => number;
  readonly #owns: (topic: string, partition: number) => boolean;
  readonly #cleanShutdownFile: string;
  readonly #offload: CpuOffload | undefined;
  #logs = new PartitionTable<PartitionLog>();
  #offline = new PartitionTable<KafkaStorageError>();
  #creating = new Map<string, Promise<PartitionLog>>();
  #removals = new Set<Promise<void>>();
  /** Partitions waiting for disk space, with their retry timer. */
  #reopening = new Map<string, NodeJS.Timeout>();
  #timer: NodeJS.Timeout | null = null;
  #retention: Promise<number> | null = null;
  #closing: Promise<void> | null = null;
  #cleanShutdown = false;

  private constructor(opts: LogManagerOptions) {
    this.dataDir = path.resolve(opts.dataDir);
    this.#fs = opts.fs ?? new NodeFileSystem();
    this.#logger = opts.logger ?? silentLogger;
    this.#clock = opts.clock ?? Date.now;
    this.#owns = opts.owns ?? (() => true);
    this.#cleanShutdownFile = opts.cleanShutdownFile ?? CLEAN_SHUTDOWN_FILE;
    this.#offload = opts.offload;
    this.scheduler = new SyncScheduler({ flushDelayUs: opts.flushDelayUs ?? 0, immediate: this.#fs.groupCommits === true });
    this.cache = new BatchCache(opts.batchCacheBytesMax ?? batchCacheBytesMax);
    this.retentionCheckIntervalMs = opts.retentionCheckIntervalMs ?? retentionCheckIntervalMsDefault;
    this.storageRetryMs = opts.storageRetryMs ?? storageRetryMsDefault;
    if (!Number.isSafeInteger(this.storageRetryMs) || this.storageRetryMs < 1) throw new RangeError(`storageRetryMs ${this.storageRetryMs}`);
    if (!Number.isSafeInteger(this.retentionCheckIntervalMs) || this.retentionCheckIntervalMs < 1) {
      throw new RangeError(`retentionCheckIntervalMs ${this.retentionCheckIntervalMs}`);
    }
  }

  static async open(opts: LogManagerOptions): Promise<LogManager> {
    const manager = new LogManager(opts);
    await manager.#load(opts.configFor ?? (() => defaultLogConfig));
    return manager;
  }

  async #load(configFor: (topic: string, partition: number) => LogConfig): Promise<void> {
    const fs = this.#fs;
    await fs.mkdirp(this.dataDir);
    const marker = path.join(this.dataDir, this.#cleanShutdownFile);
    const cleanShutdown = await fs.exists(marker);
    this.#cleanShutdown = cleanShutdown;
    // Removed before any write: from here on a crash must be treated as unclean.
    if (cleanShutdown) await fs.remove(marker);

    const found: PartitionId[] = [];
    for (const name of await fs.list(this.dataDir)) {
      if (name.startsWith('.')) continue;
      const full = path.join(this.dataDir, name);
      // Names first: a shard skips the other shards' partitions without a stat each.
      if (DELETE_DIR.test(name)) {
        const of = parsePartitionDir(name.slice(0, name.lastIndexOf('.')));
        if ((of === null || this.#owns(of.topic, of.partition)) && (await fs.isDirectory(full))) this.#removeInBackground(full);
        continue;
      }
      const id = parsePartitionDir(name);
      if (id !== null && !this.#owns(id.topic, id.partition)) continue;
      if (!(await fs.isDirectory(full))) continue;
      if (id === null) {
        this.#logger.warn({ dir: full }, 'ignoring directory that is not <topic>-<partition>');
        continue;
      }
      found.push(id);
    }
    if (!cleanShutdown && found.length > 0) {
      this.#logger.warn({ dataDir: this.dataDir }, 'no clean shutdown marker: recovering all segments');
    }

    // A pool of openers, each taking the next partition as soon as it is done (no batch barrier).
    let next = 0;
    const opener = async (): Promise<void> => {
      while (next < found.length) {
        const { topic, partition } = found[next++]!;
        try {
          const log = await this.#openLog(topic, partition, configFor(topic, partition), cleanShutdown);
          this.#logs.set(topic, partition, log);
        } catch (err) {
          // One partition's storage failing (EIO on its recovery sync, unreadable files) takes that partition
          // offline, not the broker: it answers KAFKA_STORAGE_ERROR until the disk is fixed and the broker
          // restarted, while every other partition keeps serving (design.md, durability contract).
          const error = err instanceof KafkaStorageError ? err : new KafkaStorageError(`${topic}-${partition}: ${(err as Error).message}`, { cause: err });
          this.#offline.set(topic, partition, error);
          this.#logger.error({ topic, partition, err }, 'partition failed to open; it is offline');
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(recoveryConcurrencyMax, found.length) }, opener));
    this.#logger.info({ dataDir: this.dataDir, partitions: this.#logs.size, cleanShutdown }, 'log manager open');
  }

  #openLog(topic: string, partition: number, config: LogConfig, cleanShutdown: boolean): Promise<PartitionLog> {
    return PartitionLog.open({
      onFailure: (err) => this.#onLogFailure(topic, partition, err),
      dir: path.join(this.dataDir, `${topic}-${partition}`),
      config,
      fs: this.#fs,
      scheduler: this.scheduler,
      cache: this.cache.forPartition(),
      clock: this.#clock,
      logger: this.#logger,
      cleanShutdown,
      ...(this.#offload ? { offload: this.#offload } : {}),
    });
  }

  /** A log failed: on a full disk, take it offline and reopen it once space returns. */
  #onLogFailure(topic: string, partition: number, err: KafkaStorageError): void {
    const k = key(topic, partition);
    const log = this.#logs.get(topic, partition);
    if (!isOutOfSpace(err) || log === undefined || this.#closing !== null || this.#reopening.has(k)) return;
    this.#logs.delete(topic, partition);
    this.#offline.set(topic, partition, err);
    this.#logger.warn({ topic, partition, retryMs: this.storageRetryMs }, 'disk full: partition offline until space returns');
    const closed = log.close().catch(() => undefined);
    const attempt = (): void => {
      this.#reopening.set(
        k,
        setTimeout(() => {
          void closed.then(() => this.#reopen(topic, partition, log.config, err, attempt));
        }, this.storageRetryMs).unref(),
      );
    };
    attempt();
  }

  async #reopen(topic: string, partition: number, config: LogConfig, err: KafkaStorageError, retry: () => void): Promise<void> {
    const k = key(topic, partition);
    // Deleted meanwhile, or shutting down: nothing to bring back.
    if (this.#offline.get(topic, partition) !== err || this.#closing !== null) {
      this.#reopening.delete(k);
      return;
    }
    try {
      const log = await this.#openLog(topic, partition, config, false);
      if (this.#offline.get(topic, partition) !== err || this.#closing !== null) {
        this.#reopening.delete(k);
        await log.close();
        // Deleted while reopening: the open may have recreated the directory the deletion moved away.
        if (this.#closing === null && this.#offline.get(topic, partition) === undefined && this.#logs.get(topic, partition) === undefined) await this.#fs.remove(log.dir);
        return;
      }
      this.#reopening.delete(k);
      this.#offline.delete(topic, partition);
      this.#logs.set(topic, partition, log);
      this.#logger.info({ topic, partition }, 'disk space back: partition online again');
    } catch (e) {
      if (isOutOfSpace(e)) {
        retry();
        return;
      }
      this.#reopening.delete(k);
      this.#logger.error({ topic, partition, err: e }, 'partition failed to reopen; it stays offline until restart');
    }
  }

  get(topic: string, partition: number): PartitionLog | undefined {
    return this.#logs.get(topic, partition);
  }

  /** Why a partition found on disk could not be opened (it is offline), or undefined. */
  offline(topic: string, partition: number): KafkaStorageError | undefined {
    return this.#offline.get(topic, partition);
  }

  /** Partitions found on disk that failed to open. */
  *offlinePartitions(): IterableIterator<PartitionId> {
    for (const [topic, partition] of this.#offline.entries()) yield { topic, partition };
  }

  /** Every open partition, in no particular order. */
  *partitions(): IterableIterator<PartitionId & { log: PartitionLog }> {
    for (const [topic, partition, log] of this.#logs.entries()) yield { topic, partition, log };
  }

  /** Gets or creates a partition log; an existing one takes `config`. */
  async createPartition(topic: string, partition: number, config: LogConfig = defaultLogConfig): Promise<PartitionLog> {
    assertPartitionId(topic, partition);
    if (this.#closing !== null) throw new Error('log manager is closed');
    const k = key(topic, partition);
    const offline = this.#offline.get(topic, partition);
    if (offline !== undefined) throw offline;
    const existing = this.#logs.get(topic, partition);
    if (existing !== undefined) {
      existing.updateConfig(config);
      return existing;
    }
    const pending = this.#creating.get(k);
    if (pending !== undefined) return pending;
    const creating = this.#openLog(topic, partition, config, this.#cleanShutdown).then(
      (log) => {
        this.#creating.delete(k);
        this.#logs.set(topic, partition, log);
        return log;
      },
      (err: unknown) => {
        this.#creating.delete(k);
        throw err;
      },
    );
    this.#creating.set(k, creating);
    return creating;
  }

  /**
   * Closes the partition's log (pending appends settle first; later calls get LogClosedError), renames its
   * directory out of the way, and removes it in the background. False when there was no such partition.
   */
  async deletePartition(topic: string, partition: number): Promise<boolean> {
    const log = this.#logs.get(topic, partition);
    const dir = path.join(this.dataDir, `${topic}-${partition}`);
    if (log === undefined) {
      // An offline partition can still be deleted (its topic is being removed): just move its files away.
      if (!this.#offline.delete(topic, partition)) return false;
    } else {
      this.#logs.delete(topic, partition);
      await log.close();
    }
    const doomed = `${dir}.${randomUUID().replaceAll('-', '')}-delete`;
    await this.#fs.rename(dir, doomed);
    this.#removeInBackground(doomed);
    return true;
  }

  #removeInBackground(dir: string): void {
    const removal = this.#fs.remove(dir).catch((err: unknown) => {
      this.#logger.error({ dir, err }, 'failed to remove deleted partition directory');
    });
    this.#removals.add(removal);
    void removal.then(() => this.#removals.delete(removal));
  }

  /** Runs retention over every partition; returns segments deleted. A failed or closed log is skipped. */
  async applyRetention(nowMs: number = this.#clock()): Promise<number> {
    let deleted = 0;
    for (const [topic, partition, log] of [...this.#logs.entries()]) {
      if (log.failed || log.closed) continue;
      try {
        deleted += await log.applyRetention(nowMs);
      } catch (err) {
        this.#logger.error({ topic, partition, err }, 'retention failed');
      }
    }
    return deleted;
  }

  /** Starts the background retention pass every `retentionCheckIntervalMs` (unref'd: never keeps the process up). */
  start(): void {
    if (this.#timer !== null || this.#closing !== null) return;
    this.#timer = setInterval(() => {
      if (this.#retention !== null) return; // the previous pass is still running
      this.#retention = this.applyRetention();
      void this.#retention.finally(() => (this.#retention = null));
    }, this.retentionCheckIntervalMs);
    this.#timer.unref();
  }

  /** Closes every log; writes the clean-shutdown marker only when all of them closed without failure. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    for (const t of this.#reopening.values()) clearTimeout(t);
    this.#reopening.clear();
    await this.#retention;
    await Promise.allSettled([...this.#creating.values()]);
    const logs = [...this.#logs.values()];
    await Promise.allSettled(logs.map((log) => log.close()));
    await Promise.allSettled([...this.#removals]);
    // An offline partition never finished recovery: the next open must scan it (and so every partition) again.
    const clean = this.#offline.size === 0 && logs.every((log) => !log.failed);
    if (clean) await this.#fs.writeFileDurable(path.join(this.dataDir, this.#cleanShutdownFile), Buffer.alloc(0));
    else this.#logger.warn({ dataDir: this.dataDir }, 'a log failed or is offline: next open recovers every segment');
    this.#logs.clear();
  }
}

function key(topic: string, partition: number): string {
  return `${topic}-${partition}`;
}

/**
 * Values by (topic, partition), looked up without building a string key: produce and fetch look up every
 * partition they carry (a fetch over 1,000 partitions, 1,000 lookups), and a `${topic}-${partition}` key per
 * lookup cost 2.6% of a shard's CPU in the partitions-1000 workload.
 */
class PartitionTable<V> {
  readonly #byTopic = new Map<string, Map<number, V>>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(topic: string, partition: number): V | undefined {
    return this.#byTopic.get(topic)?.get(partition);
  }

  set(topic: string, partition: number, value: V): void {
    let parts = this.#byTopic.get(topic);
    if (parts === undefined) this.#byTopic.set(topic, (parts = new Map()));
    if (!parts.has(partition)) this.#size++;
    parts.set(partition, value);
  }

  delete(topic: string, partition: number): boolean {
    const parts = this.#byTopic.get(topic);
    if (parts === undefined || !parts.delete(partition)) return false;
    this.#size--;
    if (parts.size === 0) this.#byTopic.delete(topic);
    return true;
  }

  *entries(): IterableIterator<[string, number, V]> {
    for (const [topic, parts] of this.#byTopic) for (const [partition, value] of parts) yield [topic, partition, value];
  }

  *values(): IterableIterator<V> {
    for (const parts of this.#byTopic.values()) yield* parts.values();
  }

  clear(): void {
    this.#byTopic.clear();
    this.#size = 0;
  }
}

/** `<topic>-<partition>` split at the last '-', or null when the name is not a partition directory. */
export function parsePartitionDir(name: string): PartitionId | null {
  const m = PARTITION_DIR.exec(name);
  if (m === null) return null;
  const topic = m[1]!;
  const partition = Number(m[2]);
  if (!TOPIC_NAME.test(topic) || topic === '.' || topic === '..' || partition > 0x7fffffff) return null;
  return { topic, partition };
}

/** Topic names become path components: Kafka's legal characters only, so no '/' or '..' reaches the disk. */
function assertPartitionId(topic: string, partition: number): void {
  if (!TOPIC_NAME.test(topic) || topic === '.' || topic === '..') throw new RangeError(`illegal topic name ${topic}`);
  if (!Number.isInteger(partition) || partition < 0 || partition > 0x7fffffff) {
    throw new RangeError(`illegal partition ${partition}`);
  }
}
