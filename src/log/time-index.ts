/**
 * Sparse time index of one segment, file `%020d.timeindex`.
 *
 * Format: 12-byte entries, big-endian, no header:
 *   timestamp      int64   the largest batch maxTimestamp appended to the segment so far
 *   relativeOffset int32   base offset of the batch that holds it, minus the segment's base offset
 * Entries are added at the same points as offset index entries, and only when the timestamp grew, so
 * timestamps strictly increase and offsets never decrease. When a segment stops being active its final
 * largest timestamp is appended, so the last entry of an inactive segment is the segment's largest timestamp
 * (retention.ms reads it after a restart without scanning the segment).
 *
 * Pure; the Segment persists the encoded index. Rebuilt with the offset index.
 */
import assert from 'node:assert/strict';
import { lastAtOrBelow } from './offset-index.js';

export const TIME_INDEX_ENTRY_BYTES = 12;

export class TimeIndex {
  #timestamps: number[] = [];
  #offsets: number[] = [];

  constructor(readonly baseOffset: number) {}

  /** Parses and sanity-checks an index file; returns what is wrong instead when it must be rebuilt. */
  static decode(baseOffset: number, bytes: Buffer): TimeIndex | string {
    if (bytes.length % TIME_INDEX_ENTRY_BYTES !== 0) return `size ${bytes.length} is not a multiple of 12`;
    const index = new TimeIndex(baseOffset);
    for (let p = 0; p < bytes.length; p += TIME_INDEX_ENTRY_BYTES) {
      const ts = bytes.readInt32BE(p) * 0x1_0000_0000 + bytes.readUInt32BE(p + 4);
      const rel = bytes.readInt32BE(p + 8);
      const n = index.#timestamps.length;
      if (rel < 0) return `entry ${n} has negative relative offset ${rel}`;
      if (n > 0 && (ts <= index.#timestamps[n - 1]! || rel < index.#offsets[n - 1]!)) {
        return `entry ${n} (${ts}, ${rel}) is not increasing`;
      }
      index.#timestamps.push(ts);
      index.#offsets.push(rel);
    }
    return index;
  }

  get entryCount(): number {
    return this.#timestamps.length;
  }

  /** Largest indexed timestamp, or -1. */
  get lastTimestamp(): number {
    return this.#timestamps.at(-1) ?? -1;
  }

  /** Offset of the batch holding `lastTimestamp`, or -1. */
  get lastOffset(): number {
    const rel = this.#offsets.at(-1);
    return rel === undefined ? -1 : this.baseOffset + rel;
  }

  /** Adds an entry when `timestamp` exceeds the last one; returns whether it did. */
  maybeAppend(timestamp: number, offset: number): boolean {
    if (timestamp <= this.lastTimestamp) return false;
    const rel = offset - this.baseOffset;
    assert(rel >= 0 && rel <= 0x7fffffff && rel >= (this.#offsets.at(-1) ?? 0), `bad time index offset ${rel}`);
    this.#timestamps.push(timestamp);
    this.#offsets.push(rel);
    return true;
  }

  /** The index file's bytes: every entry, in order. */
  encode(): Buffer {
    const out = Buffer.allocUnsafe(this.#timestamps.length * TIME_INDEX_ENTRY_BYTES);
    for (let i = 0; i < this.#timestamps.length; i++) {
      const p = i * TIME_INDEX_ENTRY_BYTES;
      const ts = this.#timestamps[i]!;
      const hi = Math.floor(ts / 0x1_0000_0000);
      out.writeInt32BE(hi, p);
      out.writeUInt32BE(ts - hi * 0x1_0000_0000, p + 4);
      out.writeInt32BE(this.#offsets[i]!, p + 8);
    }
    return out;
  }

  /**
   * An offset from which to search for the first batch with maxTimestamp >= `timestamp`: the offset of the last
   * entry whose timestamp is strictly below it (every batch up to that one is older), else the segment base.
   */
  searchStart(timestamp: number): number {
    const i = lastAtOrBelow(this.#timestamps, timestamp - 1);
    return i < 0 ? this.baseOffset : this.baseOffset + this.#offsets[i]!;
  }
}
