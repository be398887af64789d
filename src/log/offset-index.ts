/**
 * Sparse offset index of one segment, file `%020d.index` (named by the segment's base offset).
 *
 * Format: 8-byte entries, big-endian, no header:
 *   relativeOffset int32   base offset of a batch minus the segment's base offset
 *   position       int32   byte position of that batch in the segment's .log file
 * An entry is added when more than `index.interval.bytes` of log were appended since the previous one, for the
 * first batch after that point. Both fields strictly increase. Lookup returns the last entry at or below an
 * offset; the reader then walks batch headers from that position, at most about one interval.
 *
 * Pure arithmetic over entries held in memory: the Segment writes the encoded index to the file. The file is
 * a cache of the log: recovery rebuilds it from the .log whenever it is scanned or fails `decode`'s checks.
 */
import assert from 'node:assert/strict';

export const OFFSET_INDEX_ENTRY_BYTES = 8;

export interface IndexPosition {
  offset: number;
  position: number;
}

export class OffsetIndex {
  #offsets: number[] = [];
  #positions: number[] = [];

  constructor(readonly baseOffset: number) {}

  /** Parses and sanity-checks an index file; returns what is wrong instead when it must be rebuilt. */
  static decode(baseOffset: number, bytes: Buffer, logBytes: number): OffsetIndex | string {
    if (bytes.length % OFFSET_INDEX_ENTRY_BYTES !== 0) return `size ${bytes.length} is not a multiple of 8`;
    const index = new OffsetIndex(baseOffset);
    for (let p = 0; p < bytes.length; p += OFFSET_INDEX_ENTRY_BYTES) {
      const rel = bytes.readInt32BE(p);
      const position = bytes.readInt32BE(p + 4);
      const last = index.#offsets.length - 1;
      if (rel < 0 || position < 0 || position >= logBytes) return `entry ${p / 8} (${rel}, ${position}) out of range`;
      if (last >= 0 && (rel <= index.#offsets[last]! || position <= index.#positions[last]!)) {
        return `entry ${p / 8} (${rel}, ${position}) is not increasing`;
      }
      index.#offsets.push(rel);
      index.#positions.push(position);
    }
    return index;
  }

  get entryCount(): number {
    return this.#offsets.length;
  }

  /** Records that the batch starting at `offset` lies at `position`. */
  append(offset: number, position: number): void {
    const rel = offset - this.baseOffset;
    const last = this.#offsets.length - 1;
    assert(rel >= 0 && rel <= 0x7fffffff, `relative offset ${rel} out of int32 range`);
    const increasing = last < 0 || (rel > this.#offsets[last]! && position > this.#positions[last]!);
    assert(increasing, 'index entries must increase');
    this.#offsets.push(rel);
    this.#positions.push(position);
  }

  /** The index file's bytes: every entry, in order. */
  encode(): Buffer {
    const out = Buffer.allocUnsafe(this.#offsets.length * OFFSET_INDEX_ENTRY_BYTES);
    for (let i = 0; i < this.#offsets.length; i++) {
      out.writeInt32BE(this.#offsets[i]!, i * OFFSET_INDEX_ENTRY_BYTES);
      out.writeInt32BE(this.#positions[i]!, i * OFFSET_INDEX_ENTRY_BYTES + 4);
    }
    return out;
  }

  /** The last entry whose offset is <= `offset`, or the segment start (base offset, position 0). */
  lookup(offset: number): IndexPosition {
    const i = lastAtOrBelow(this.#offsets, offset - this.baseOffset);
    if (i < 0) return { offset: this.baseOffset, position: 0 };
    return { offset: this.baseOffset + this.#offsets[i]!, position: this.#positions[i]! };
  }
}

/** Index of the last element <= `target` in an increasing array, or -1. */
export function lastAtOrBelow(sorted: readonly number[], target: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= target) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}
