/**
 * Copy meter: the bytes the data path copies on purpose, counted by reason.
 *
 * Record bytes travel from the socket to the disk, and from the batch cache back to the socket, as views of the
 * socket reads they arrived in (chunked-bytes.ts). The few places that do copy report here, so a test can prove
 * that nothing else is copied and that what is copied is bounded (test/kafka/zero-copy.test.ts instruments the
 * copying primitives and compares them with these counts):
 * - `straddleTemp`: a primitive, or a record batch header, that straddles two pieces is read from a temp of at
 *   most `STRADDLE_TEMP_BYTES_MAX` bytes; the temp holds header fields, never record payload.
 * - `fieldJoin`: a string or bytes field of a request (never records) that straddles pieces is joined to be
 *   decoded; bounded by the field (strings are at most 32 KiB).
 * - `frameJoin`: a frame split over socket reads joined into one Buffer for a caller that asked for one
 *   (`FrameParser.push`, the client side); the broker takes frames as chunk lists and never joins.
 * - `cacheCompact`: the batch cache copies batches that, with the other batches of their socket read, would pin
 *   much more request memory than their own size (batch-cache.ts); a memory policy at cache admission, off the
 *   socket-to-disk path.
 * - `decompressJoin`: the compressed records section of a produced batch that straddles pieces, joined to be
 *   decompressed, only on a topic with a timestamp bound (records.ts `validateBatches`); never on a default topic.
 * - `shardHop`: payload bytes crossing shards (src/shard/rpc.ts). Through a ring they are copied twice, in by the
 *   sender and out by the receiver (ring space is reused at once); a Fetch answer through a bulk arena once, by
 *   the owner shard, for batches from its batch cache (cold reads are read into the arena by the log engine, not
 *   copied in JS), and the connection's shard writes the arena's memory to the socket.
 *
 * The counters are module state, so per thread (each shard counts its own); counting costs two additions on
 * paths that copy anyway.
 */

export type CopyReason = 'straddleTemp' | 'fieldJoin' | 'frameJoin' | 'cacheCompact' | 'decompressJoin' | 'shardHop';

/** Largest temp a straddling read copies: a record batch header (61 bytes), the biggest fixed-size read. */
export const STRADDLE_TEMP_BYTES_MAX = 61;

export interface CopyTally {
  /** Copy operations. */
  count: number;
  bytes: number;
}

export type CopyCounts = Record<CopyReason, CopyTally>;

const REASONS: readonly CopyReason[] = ['straddleTemp', 'fieldJoin', 'frameJoin', 'cacheCompact', 'decompressJoin', 'shardHop'];

function zero(): CopyCounts {
  const out = {} as CopyCounts;
  for (const r of REASONS) out[r] = { count: 0, bytes: 0 };
  return out;
}

let counts: CopyCounts = zero();

/** Records one deliberate copy of `bytes` bytes. */
export function countCopy(reason: CopyReason, bytes: number): void {
  const t = counts[reason];
  t.count++;
  t.bytes += bytes;
}

/** A snapshot of the counts since the last reset. */
export function copyCounts(): CopyCounts {
  const out = zero();
  for (const r of REASONS) out[r] = { ...counts[r] };
  return out;
}

export function resetCopyCounts(): void {
  counts = zero();
}
