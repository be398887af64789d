/**
 * CPU work the log can hand to another thread so it does not stall the event loop that serves requests:
 * decompressing a batch when something must look inside it (ListOffsets by timestamp), and checking the CRCs
 * of a recovery scan's chunk. A shard passes its piscina pool (src/shard/cpu-pool.ts); tests and the
 * single-process broker run the same code inline.
 */
import { decompress } from '../protocol/compression.js';
import { isBatchCrcValid, readBatchHeader, type CompressionId } from '../protocol/records.js';

export interface CpuOffload {
  decompress(codec: CompressionId, payload: Buffer): Promise<Buffer>;
  /** The index in `positions` of the first batch of `chunk` whose CRC-32C fails, or -1 when all pass. */
  firstBadCrc(chunk: Buffer, positions: readonly number[]): Promise<number>;
}

/** Checks batches of a chunk (also the body of the pool's task). */
export function firstBadCrcIn(chunk: Buffer, positions: readonly number[]): number {
  for (let i = 0; i < positions.length; i++) {
    const p = positions[i]!;
    if (!isBatchCrcValid(chunk, p, readBatchHeader(chunk, p))) return i;
  }
  return -1;
}

export const inlineOffload: CpuOffload = {
  decompress: (codec, payload) => decompress(codec, payload),
  firstBadCrc: (chunk, positions) => Promise.resolve(firstBadCrcIn(chunk, positions)),
};
