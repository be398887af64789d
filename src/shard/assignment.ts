/**
 * The partition -> shard table: every partition has exactly one owning shard. Kept by the main thread and
 * persisted to `<dataDir>/shards.json` (atomically, through FileSystem.writeFileDurable) so a restart keeps each
 * partition on the shard whose engine and cache already serve it.
 *
 * Placement: a new partition goes to the shard with the fewest partitions, ties broken by the lowest load (a
 * per-partition weight the caller maintains, e.g. bytes/s), then the lowest shard id. `rebalance` moves
 * partitions from the most to the least loaded shards until partition counts differ by at most one, moving the
 * lightest partitions first (cheapest to move). When the shard count changes (`--smp`), partitions of shards that
 * no longer exist are placed again and the table is rebalanced.
 *
 * File format (JSON, versioned): { "version": 1, "shards": N, "owners": { "<topic>-<partition>": shard } }.
 */
import path from 'node:path';
import type { FileSystem } from '../io/index.js';

export const SHARD_TABLE_FILE = 'shards.json';
export const shardsMax = 256;

export interface Move {
  key: string;
  from: number;
  to: number;
}

interface TableFile {
  version: 1;
  shards: number;
  owners: Record<string, number>;
}

export function partitionKey(topic: string, partition: number): string {
  return `${topic}-${partition}`;
}

export class ShardTable {
  readonly shards: number;
  readonly #owners = new Map<string, number>();
  readonly #load = new Map<string, number>();
  readonly #counts: number[];

  constructor(shards: number) {
    if (!Number.isInteger(shards) || shards < 1 || shards > shardsMax) throw new RangeError(`shards ${shards} outside [1, ${shardsMax}]`);
    this.shards = shards;
    this.#counts = new Array<number>(shards).fill(0);
  }

  /** Loads the persisted table (placing again what belonged to shards beyond `shards`), or an empty one. */
  static async open(fs: FileSystem, dataDir: string, shards: number): Promise<{ table: ShardTable; moves: Move[] }> {
    const table = new ShardTable(shards);
    const bytes = await fs.readFile(path.join(dataDir, SHARD_TABLE_FILE));
    const moves: Move[] = [];
    if (bytes !== null) {
      const doc = JSON.parse(bytes.toString('utf8')) as Partial<TableFile>;
      if (doc.version !== 1 || typeof doc.owners !== 'object' || doc.owners === null) throw new Error(`${SHARD_TABLE_FILE}: unsupported format`);
      const orphans: [string, number][] = [];
      for (const [key, shard] of Object.entries(doc.owners)) {
        if (Number.isInteger(shard) && shard >= 0 && shard < shards) table.#set(key, shard);
        else orphans.push([key, shard]);
      }
      for (const [key, from] of orphans) moves.push({ key, from, to: table.#place(key) });
      moves.push(...table.rebalance());
    }
    return { table, moves };
  }

  /** Writes the table durably. */
  async commit(fs: FileSystem, dataDir: string): Promise<void> {
    const doc: TableFile = { version: 1, shards: this.shards, owners: Object.fromEntries(this.#owners) };
    await fs.writeFileDurable(path.join(dataDir, SHARD_TABLE_FILE), Buffer.from(JSON.stringify(doc)));
  }

  get size(): number {
    return this.#owners.size;
  }

  /** Every placed partition's key (`<topic>-<partition>`). */
  keys(): string[] {
    return [...this.#owners.keys()];
  }

  owner(topic: string, partition: number): number | undefined {
    return this.#owners.get(partitionKey(topic, partition));
  }

  /** Partitions per shard. */
  counts(): readonly number[] {
    return [...this.#counts];
  }

  /** The owner of a partition, placing it first when new. */
  assign(topic: string, partition: number): number {
    const key = partitionKey(topic, partition);
    return this.#owners.get(key) ?? this.#place(key);
  }

  remove(topic: string, partition: number): void {
    const key = partitionKey(topic, partition);
    const shard = this.#owners.get(key);
    if (shard === undefined) return;
    this.#owners.delete(key);
    this.#load.delete(key);
    this.#counts[shard]!--;
  }

  /** Sets a partition's load weight (used to break ties and to pick what to move). */
  setLoad(topic: string, partition: number, load: number): void {
    const key = partitionKey(topic, partition);
    if (this.#owners.has(key)) this.#load.set(key, load);
  }

  /** Evens out partition counts (max - min <= 1); returns the moves made, lightest partitions first. */
  rebalance(): Move[] {
    const moves: Move[] = [];
    for (;;) {
      let hi = 0;
      let lo = 0;
      for (let s = 1; s < this.shards; s++) {
        if (this.#counts[s]! > this.#counts[hi]!) hi = s;
        if (this.#counts[s]! < this.#counts[lo]!) lo = s;
      }
      if (this.#counts[hi]! - this.#counts[lo]! <= 1) return moves;
      let lightest: string | undefined;
      let lightestLoad = Infinity;
      for (const [key, shard] of this.#owners) {
        if (shard !== hi) continue;
        const load = this.#load.get(key) ?? 0;
        if (load < lightestLoad) {
          lightest = key;
          lightestLoad = load;
        }
      }
      this.#set(lightest!, lo);
      moves.push({ key: lightest!, from: hi, to: lo });
    }
  }

  #shardLoad(shard: number): number {
    let sum = 0;
    for (const [key, s] of this.#owners) if (s === shard) sum += this.#load.get(key) ?? 0;
    return sum;
  }

  #place(key: string): number {
    let best = 0;
    for (let s = 1; s < this.shards; s++) {
      const c = this.#counts[s]!;
      const b = this.#counts[best]!;
      if (c < b || (c === b && this.#load.size > 0 && this.#shardLoad(s) < this.#shardLoad(best))) best = s;
    }
    this.#set(key, best);
    return best;
  }

  #set(key: string, shard: number): void {
    const prev = this.#owners.get(key);
    if (prev !== undefined) this.#counts[prev]!--;
    this.#owners.set(key, shard);
    this.#counts[shard]!++;
  }
}
