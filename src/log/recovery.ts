/**
 * The recovery scan: walks a segment's .log from the start and finds where its valid prefix ends.
 *
 * A batch is valid when its length fits the file and is at least a header, its magic is 2, its CRC-32C
 * matches, and its offsets follow the previous batch's. The first batch that fails (a torn write, or garbage
 * a crash appended) ends the valid prefix; the caller truncates the file there. Reads are `recoveryReadBytes`
 * chunks; a batch bigger than a chunk is read whole (bounded by the file's size, never by a header alone).
 */
import type { AppendFile } from '../io/index.js';
import {
  BATCH_LENGTH_OFFSET,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  MAGIC_V2,
  RECORD_BATCH_OVERHEAD,
  lastOffsetOf,
  readBatchHeader,
  type BatchHeader,
} from '../protocol/records.js';
import { recoveryReadBytes } from './config.js';
import { inlineOffload, type CpuOffload } from './offload.js';

export interface ScanResult {
  /** Bytes of the valid prefix. */
  validBytes: number;
  /** Offset after the last valid batch (`baseOffset` when there is none). */
  nextOffset: number;
  /** Why the scan stopped before the end of the file, or null when the whole file is valid. */
  problem: string | null;
}

/**
 * Calls `visit` for each valid batch in order; stops at the first invalid one. The structure of a chunk's batches
 * (sizes, magic, offsets) is walked here; their CRCs are checked in one call to `offload` (a shard's CPU pool,
 * so a long scan does not stall its event loop), then the batches up to the first bad one are visited.
 */
export async function scanLog(
  file: AppendFile,
  baseOffset: number,
  visit: (position: number, header: BatchHeader) => void,
  offload: CpuOffload = inlineOffload,
): Promise<ScanResult> {
  const fileBytes = file.size;
  let nextOffset = baseOffset;
  let pos = 0;
  const stop = (at: number, problem: string | null): ScanResult => ({ validBytes: at, nextOffset, problem });

  while (pos < fileBytes) {
    if (fileBytes - pos < LOG_OVERHEAD) return stop(pos, `${fileBytes - pos} trailing bytes`);
    let chunk = await file.read(pos, Math.min(recoveryReadBytes, fileBytes - pos));
    let p = 0;
    const positions: number[] = [];
    const headers: BatchHeader[] = [];
    let problem: { at: number; why: string } | null = null;
    let expectOffset = nextOffset;
    for (;;) {
      if (p + LOG_OVERHEAD > chunk.length) break;
      const at = pos + p;
      const size = LOG_OVERHEAD + chunk.readInt32BE(p + BATCH_LENGTH_OFFSET);
      if (size < RECORD_BATCH_OVERHEAD) {
        problem = { at, why: `batch at ${at} has impossible size ${size}` };
        break;
      }
      if (size > fileBytes - at) {
        problem = { at, why: `batch at ${at} of ${size} bytes is torn` };
        break;
      }
      if (p + size > chunk.length) {
        if (p > 0) break; // continue with a chunk starting at this batch
        chunk = await file.read(at, size); // one batch bigger than a chunk
        if (chunk.length < size) return stop(at, `short read of batch at ${at}`);
        continue;
      }
      if (chunk.readInt8(p + MAGIC_OFFSET) !== MAGIC_V2) {
        problem = { at, why: `batch at ${at} has bad magic` };
        break;
      }
      const header = readBatchHeader(chunk, p);
      if (header.baseOffset < expectOffset || header.lastOffsetDelta < 0) {
        problem = { at, why: `batch at ${at} has offsets out of order` };
        break;
      }
      positions.push(p);
      headers.push(header);
      expectOffset = lastOffsetOf(header) + 1;
      p += size;
    }
    const bad = positions.length === 0 ? -1 : await offload.firstBadCrc(chunk, positions);
    const good = bad === -1 ? positions.length : bad;
    for (let i = 0; i < good; i++) {
      visit(pos + positions[i]!, headers[i]!);
      nextOffset = lastOffsetOf(headers[i]!) + 1;
    }
    if (bad !== -1) return stop(pos + positions[bad]!, `batch at ${pos + positions[bad]!} fails its CRC`);
    if (problem) return stop(problem.at, problem.why);
    if (p === 0) return stop(pos, `short read at ${pos}`);
    pos += p;
  }
  return stop(pos, null);
}
