/**
 * The topic table: every topic's name, stable id, partition count and config overrides.
 *
 * Single node for now: the table is the controller state, kept in memory and persisted to
 * `<dataDir>/topics.json`. Every change is written to a temp file, fsynced, renamed over the old file
 * and the directory fsynced, so after a crash the table is either the old or the new one, never torn. Changes
 * are serialized (one write in flight); callers await `commit()` before answering the client.
 * Later the controller Raft group replaces the file with its log; the table's API stays.
 *
 * File format (JSON, versioned): { "version": 1, "clusterId": string, "topics": [TopicRecord...] }.
 */
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { NodeFileSystem, type FileSystem } from '../io/index.js';

export interface TopicRecord {
  name: string;
  /** 32 lowercase hex chars, never all zero (clients use Fetch v13+ only with real ids). */
  id: string;
  partitions: number;
  /** Overrides only (`retention.ms` etc.); defaults come from the broker config. */
  configs: Record<string, string>;
}

interface TableFile {
  version: 1;
  clusterId: string;
  topics: TopicRecord[];
}

const FILE_NAME = 'topics.json';
// At the data dir's top, beside the partition directories (a directory here would look like a partition).
const DIR_NAME = '.';

/** Kafka's topic name rule: 1-249 chars of [a-zA-Z0-9._-], not "." or "..". */
export function topicNameError(name: string): string | null {
  if (name.length === 0) return 'Topic name is empty';
  if (name === '.' || name === '..') return `Topic name cannot be "." or ".."`;
  if (name.length > 249) return `Topic name is longer than 249 characters`;
  if (!/^[a-zA-Z0-9._-]+$/.test(name)) return `Topic name "${name}" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'`;
  return null;
}

const DOT = 0x2e;
const UNDERSCORE = 0x5f;

/**
 * The existing topic that `name` collides with, or null: Kafka refuses a new topic whose name equals another's
 * once every '.' is read as '_' (metric names replace one with the other, so the two topics' metrics would
 * mix). `existing` holds the names of the topics there are (and those being created); a name equal to `name`
 * is not a collision (the caller answers TOPIC_ALREADY_EXISTS for it). A name without '.' or '_' collides with
 * nothing, so the common case costs no scan.
 */
export function collidingTopic(name: string, existing: Iterable<string>): string | null {
  if (!name.includes('.') && !name.includes('_')) return null;
  for (const other of existing) if (other !== name && sameUpToDotUnderscore(name, other)) return other;
  return null;
}

function sameUpToDotUnderscore(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y && !((x === DOT || x === UNDERSCORE) && (y === DOT || y === UNDERSCORE))) return false;
  }
  return true;
}

/** The error message Kafka gives for a colliding name (ReplicationControlManager.validateNewTopicNames). */
export function collisionMessage(name: string, other: string): string {
  return `Topic '${name}' collides with existing topic: ${other}`;
}

function newTopicId(): string {
  for (;;) {
    const id = randomBytes(16).toString('hex');
    if (!/^0+$/.test(id)) return id;
  }
}

/** What request handlers read of the topic table. */
export interface TopicView {
  readonly clusterId: string;
  get(name: string): TopicRecord | undefined;
  getById(id: string): TopicRecord | undefined;
  list(): TopicRecord[];
}

export class TopicTable implements TopicView {
  private readonly byName = new Map<string, TopicRecord>();
  private readonly byId = new Map<string, TopicRecord>();
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly dir: string,
    readonly clusterId: string,
    private readonly fs: FileSystem,
  ) {}

  /** `fileSystem`: the simulated twin in tests; node:fs by default (temp file, fsync, rename, fsync dir). */
  static async open(dataDir: string, fileSystem: FileSystem = new NodeFileSystem()): Promise<TopicTable> {
    const dir = path.join(dataDir, DIR_NAME);
    await fileSystem.mkdirp(dir);
    const bytes = await fileSystem.readFile(path.join(dir, FILE_NAME));
    // A corrupt table throws (JSON.parse): starting with an empty cluster would silently drop every topic.
    const file = bytes === null ? null : (JSON.parse(bytes.toString('utf8')) as TableFile);
    // Kafka cluster ids are 22-char url-safe base64 of a UUID.
    const table = new TopicTable(dir, file?.clusterId ?? Buffer.from(randomUUID().replace(/-/g, ''), 'hex').toString('base64url'), fileSystem);
    for (const t of file?.topics ?? []) table.put(t);
    if (!file) await table.commit();
    return table;
  }

  private put(t: TopicRecord): void {
    this.byName.set(t.name, t);
    this.byId.set(t.id, t);
  }

  get(name: string): TopicRecord | undefined {
    return this.byName.get(name);
  }

  getById(id: string): TopicRecord | undefined {
    return this.byId.get(id);
  }

  list(): TopicRecord[] {
    return [...this.byName.values()];
  }

  /** Adds a topic (in memory); persist with commit(). */
  add(name: string, partitions: number, configs: Record<string, string>): TopicRecord {
    if (this.byName.has(name)) throw new Error(`topic ${name} exists`);
    const t: TopicRecord = { name, id: newTopicId(), partitions, configs: { ...configs } };
    this.put(t);
    return t;
  }

  remove(name: string): TopicRecord | undefined {
    const t = this.byName.get(name);
    if (!t) return undefined;
    this.byName.delete(name);
    this.byId.delete(t.id);
    return t;
  }

  setPartitions(name: string, partitions: number): void {
    const t = this.byName.get(name);
    if (t) t.partitions = partitions;
  }

  setConfigs(name: string, configs: Record<string, string>): void {
    const t = this.byName.get(name);
    if (t) t.configs = { ...configs };
  }

  /** Durably writes the current table. Writes are serialized; each one writes the latest state. */
  commit(): Promise<void> {
    const next = this.writing.then(() => this.writeFile());
    this.writing = next.catch(() => undefined);
    return next;
  }

  private async writeFile(): Promise<void> {
    const body: TableFile = { version: 1, clusterId: this.clusterId, topics: this.list() };
    await this.fs.writeFileDurable(path.join(this.dir, FILE_NAME), Buffer.from(JSON.stringify(body, null, 1)));
  }

}
