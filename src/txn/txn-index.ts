/**
 * The aborted-transaction index of one partition (Kafka's .txnindex): one file per segment, next to it, named
 * after the segment's base offset (`00000000000000000000.txnindex`), holding an entry for every transaction whose
 * ABORT marker lies in that segment, in marker order. PartitionLog deletes the file with its segment (retention,
 * DeleteRecords, recovery cleanup of strays).
 *
 * Entry, 34 bytes, big-endian:
 *   version int16 (0) | producerId int64 | firstOffset int64 | lastOffset int64 (the marker) | lastStableOffset int64
 * A torn tail (a partial entry, or one of another version) ends the file: what follows is ignored.
 *
 * Durability: derived data. An entry is appended and synced when its marker is appended; after a crash, the
 * producer state load (partition-txn.ts) drops entries beyond the recovered log end and re-adds missing ones for
 * the markers it replays from its snapshot offset on. Snapshots are written only after every entry before them
 * is synced, so nothing below a snapshot's offset can be missing.
 *
 * Memory: the entries of every segment are mirrored in memory while the partition's producer state is loaded
 * (4 numbers per aborted transaction still in the log), so Fetch never reads the files.
 */
import path from 'node:path';
import type { FileSystem } from '../io/index.js';
import { readInt64, writeInt64 } from '../protocol/records.js';
import type { AbortedTxn } from './types.js';

export const TXN_INDEX_ENTRY_BYTES = 34;
const ENTRY_VERSION = 0;
export const TXN_INDEX_FILE = /^(\d{20})\.txnindex$/;

export interface AbortedTxnEntry {
  producerId: number;
  firstOffset: number;
  lastOffset: number;
  lastStableOffset: number;
}

export function txnIndexFileName(segmentBaseOffset: number): string {
  return `${String(segmentBaseOffset).padStart(20, '0')}.txnindex`;
}

export function encodeTxnIndexEntry(e: AbortedTxnEntry): Buffer {
  const b = Buffer.alloc(TXN_INDEX_ENTRY_BYTES);
  b.writeInt16BE(ENTRY_VERSION, 0);
  writeInt64(b, 2, e.producerId);
  writeInt64(b, 10, e.firstOffset);
  writeInt64(b, 18, e.lastOffset);
  writeInt64(b, 26, e.lastStableOffset);
  return b;
}

/** The whole entries of a file's bytes, up to the first torn or unknown one. */
export function decodeTxnIndex(bytes: Buffer): AbortedTxnEntry[] {
  const out: AbortedTxnEntry[] = [];
  for (let pos = 0; pos + TXN_INDEX_ENTRY_BYTES <= bytes.length; pos += TXN_INDEX_ENTRY_BYTES) {
    if (bytes.readInt16BE(pos) !== ENTRY_VERSION) break;
    const e = { producerId: readInt64(bytes, pos + 2), firstOffset: readInt64(bytes, pos + 10), lastOffset: readInt64(bytes, pos + 18), lastStableOffset: readInt64(bytes, pos + 26) };
    if (e.producerId < 0 || e.firstOffset < 0 || e.lastOffset < e.firstOffset) break;
    out.push(e);
  }
  return out;
}

interface SegmentEntries {
  base: number;
  entries: AbortedTxnEntry[];
  /** Smallest firstOffset of the entries: a fetch ending before it skips the segment. */
  minFirstOffset: number;
}

export class AbortedTxnIndex {
  /** Invariant: ascending base offsets. */
  #segments: SegmentEntries[] = [];
  /** File writes, one at a time (two handles appending to one file would overwrite each other). */
  #writes: Promise<void> = Promise.resolve();
  #writeError: unknown = null;

  constructor(
    private readonly fs: FileSystem,
    private readonly dir: string,
  ) {}

  /**
   * Reads every index file of the directory, keeping entries whose marker lies below `logEndOffset` (a crash may
   * have cut the log under them: the file is rewritten without them) and whose segment is still in the log.
   */
  async load(logEndOffset: number, segmentBases: readonly number[]): Promise<void> {
    const live = new Set(segmentBases);
    for (const name of await this.fs.list(this.dir)) {
      const m = TXN_INDEX_FILE.exec(name);
      if (m === null) continue;
      const base = Number(m[1]);
      const file = path.join(this.dir, name);
      if (!live.has(base)) continue; // a stray: PartitionLog removes it at its next open
      const bytes = (await this.fs.readFile(file)) ?? Buffer.alloc(0);
      const all = decodeTxnIndex(bytes);
      const kept = all.filter((e) => e.lastOffset < logEndOffset);
      if (kept.length !== all.length || kept.length * TXN_INDEX_ENTRY_BYTES !== bytes.length) {
        await this.fs.writeFileDurable(file, Buffer.concat(kept.map(encodeTxnIndexEntry)));
      }
      if (kept.length > 0) this.#segment(base).entries.push(...kept);
    }
    for (const s of this.#segments) s.minFirstOffset = Math.min(...s.entries.map((e) => e.firstOffset));
  }

  /** No aborted transaction indexed: read_committed fetches skip the lookup. */
  get empty(): boolean {
    return this.#segments.length === 0;
  }

  /** Whether an entry for the marker at `lastOffset` is already indexed (replay after a crash). */
  has(lastOffset: number): boolean {
    for (let i = this.#segments.length - 1; i >= 0; i--) {
      const s = this.#segments[i]!;
      if (s.base > lastOffset) continue;
      return s.entries.some((e) => e.lastOffset === lastOffset);
    }
    return false;
  }

  /** Indexes an aborted transaction in the segment `segmentBase` (where its marker lies); resolves once synced. */
  add(segmentBase: number, entry: AbortedTxnEntry): Promise<void> {
    const s = this.#segment(segmentBase);
    s.entries.push(entry);
    s.minFirstOffset = Math.min(s.minFirstOffset, entry.firstOffset);
    const file = path.join(this.dir, txnIndexFileName(segmentBase));
    const bytes = encodeTxnIndexEntry(entry);
    const write = this.#writes.then(async () => {
      if (this.#writeError !== null) throw this.#writeError;
      const f = await this.fs.open(file);
      try {
        f.append([bytes]);
        await f.sync();
      } finally {
        await f.close();
      }
    });
    this.#writes = write.catch((err: unknown) => {
      this.#writeError ??= err;
    });
    return write;
  }

  /** Resolves once every entry added so far is synced (before a snapshot); rejects if a write failed. */
  async flush(): Promise<void> {
    await this.#writes;
    if (this.#writeError !== null) throw this.#writeError;
  }

  /**
   * Aborted transactions overlapping [fetchOffset, upperBound): marker at or after fetchOffset, first offset
   * before upperBound, in live segments only (segments deleted since are dropped from memory here).
   */
  collect(fetchOffset: number, upperBound: number, segmentBases: readonly number[]): AbortedTxn[] {
    const out: AbortedTxn[] = [];
    if (this.#segments.length === 0) return out;
    this.#prune(segmentBases);
    for (let i = 0; i < this.#segments.length; i++) {
      const s = this.#segments[i]!;
      const next = this.#segments[i + 1];
      // Markers of segment i lie below the next indexed segment's base: none reach fetchOffset.
      if (next !== undefined && next.base <= fetchOffset) continue;
      if (s.minFirstOffset >= upperBound) continue;
      for (const e of s.entries) {
        if (e.lastOffset >= fetchOffset && e.firstOffset < upperBound) out.push({ producerId: e.producerId, firstOffset: e.firstOffset });
      }
    }
    return out;
  }

  /** Every entry, oldest marker first (tests, diagnostics). */
  entries(): AbortedTxnEntry[] {
    return this.#segments.flatMap((s) => s.entries);
  }

  #prune(segmentBases: readonly number[]): void {
    const first = segmentBases[0] ?? 0;
    if (this.#segments[0] !== undefined && this.#segments[0].base < first) this.#segments = this.#segments.filter((s) => s.base >= first);
  }

  #segment(base: number): SegmentEntries {
    let i = this.#segments.length;
    while (i > 0 && this.#segments[i - 1]!.base > base) i--;
    const at = this.#segments[i - 1];
    if (at !== undefined && at.base === base) return at;
    const s: SegmentEntries = { base, entries: [], minFirstOffset: Number.MAX_SAFE_INTEGER };
    this.#segments.splice(i, 0, s);
    return s;
  }
}
