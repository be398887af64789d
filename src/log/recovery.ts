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
  isBatchCrcValid,
  lastOffsetOf,
  readBatchHeader,
  type BatchHeader,
} from '../protocol/records.js';
import { recoveryReadBytes } from './config.js';

export interface ScanResult {
  /** Bytes of the valid prefix. */
  validBytes: number;
  /** Offset after the last valid batch (`baseOffset` when there is none). */
  nextOffset: number;
  /** Why the scan stopped before the end of the file, or null when the whole file is valid. */
  problem: string | null;
}

/** Calls `visit` for each valid batch in order; stops at the first invalid one. */
export async function scanLog(
  file: AppendFile,
  baseOffset: number,
  visit: (position: number, header: BatchHeader) => void,
): Promise<ScanResult> {
  const fileBytes = file.size;
  let nextOffset = baseOffset;
  let pos = 0;
  const stop = (at: number, problem: string | null): ScanResult => ({ validBytes: at, nextOffset, problem });

  while (pos < fileBytes) {
    if (fileBytes - pos < LOG_OVERHEAD) return stop(pos, `${fileBytes - pos} trailing bytes`);
    let chunk = await file.read(pos, Math.min(recoveryReadBytes, fileBytes - pos));
    let p = 0;
    for (;;) {
      if (p + LOG_OVERHEAD > chunk.length) break;
      const at = pos + p;
      const size = LOG_OVERHEAD + chunk.readInt32BE(p + BATCH_LENGTH_OFFSET);
      if (size < RECORD_BATCH_OVERHEAD) return stop(at, `batch at ${at} has impossible size ${size}`);
      if (size > fileBytes - at) return stop(at, `batch at ${at} of ${size} bytes is torn`);
      if (p + size > chunk.length) {
        if (p > 0) break; // continue with a chunk starting at this batch
        chunk = await file.read(at, size); // one batch bigger than a chunk
        if (chunk.length < size) return stop(at, `short read of batch at ${at}`);
        continue;
      }
      if (chunk.readInt8(p + MAGIC_OFFSET) !== MAGIC_V2) return stop(at, `batch at ${at} has bad magic`);
      const header = readBatchHeader(chunk, p);
      if (!isBatchCrcValid(chunk, p, header)) return stop(at, `batch at ${at} fails its CRC`);
      if (header.baseOffset < nextOffset || header.lastOffsetDelta < 0) {
        return stop(at, `batch at ${at} has offsets out of order`);
      }
      visit(at, header);
      nextOffset = lastOffsetOf(header) + 1;
      p += size;
    }
    if (p === 0) return stop(pos, `short read at ${pos}`);
    pos += p;
  }
  return stop(pos, null);
}
