/**
 * Turns the records field of one partition of a Fetch response into consumed records: walks the v2 batches,
 * verifies each CRC (as Kafka consumers do with check.crcs=true), decompresses, skips control batches and
 * records before the requested offset (a fetch returns whole batches, which may start earlier).
 *
 * A trailing partial batch is normal (the broker cuts the response at MaxBytes) and is ignored; `nextOffset`
 * then points at it so the next fetch reads it whole.
 *
 * Not done: read_committed filtering of aborted transactions (this client fetches read_uncommitted).
 */
import { decompressSync, DECOMPRESSED_BYTES_MAX } from '../protocol/compression.js';
import { ErrorCode } from '../protocol/errors.js';
import {
  batchPayload,
  batchSize,
  compressionOf,
  isBatchCrcValid,
  isControl,
  iterateRecords,
  lastOffsetOf,
  MAGIC_OFFSET,
  MAGIC_V2,
  readBatchHeader,
  RECORD_BATCH_OVERHEAD,
} from '../protocol/records.js';
import { CompressionError } from '../protocol/compression.js';
import { KafkaError } from './errors.js';

export interface ConsumedRecord {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: { key: string; value: Buffer | null }[];
}

export interface DecodedRecords {
  records: ConsumedRecord[];
  /** Offset to fetch next: after the last complete batch, or `fromOffset` when there was none. */
  nextOffset: number;
}

export interface DecodeOptions {
  topic: string;
  partition: number;
  fromOffset: number;
  /** Cap on one batch's decompressed records. */
  decompressedBytesMax?: number;
}

export function decodeRecords(records: Buffer | null, opts: DecodeOptions): DecodedRecords {
  const out: ConsumedRecord[] = [];
  let nextOffset = opts.fromOffset;
  if (records === null) return { records: out, nextOffset };
  const where = { topic: opts.topic, partition: opts.partition };
  let pos = 0;
  while (records.length - pos >= RECORD_BATCH_OVERHEAD) {
    const magic = records.readInt8(pos + MAGIC_OFFSET);
    if (magic !== MAGIC_V2) throw new KafkaError(ErrorCode.CORRUPT_MESSAGE, `record batch with magic ${magic} at offset ${nextOffset}: only v2 batches are supported`, where);
    const header = readBatchHeader(records, pos);
    const size = batchSize(header);
    if (size < RECORD_BATCH_OVERHEAD) throw new KafkaError(ErrorCode.CORRUPT_MESSAGE, `record batch of ${size} bytes at offset ${header.baseOffset}`, where);
    if (pos + size > records.length) break; // partial batch at the end of the response
    if (!isBatchCrcValid(records, pos, header)) throw new KafkaError(ErrorCode.CORRUPT_MESSAGE, `CRC mismatch in the batch at offset ${header.baseOffset}`, where);
    const last = lastOffsetOf(header);
    if (!isControl(header.attributes) && last >= opts.fromOffset) {
      let payload: Buffer;
      try {
        payload = decompressSync(compressionOf(header.attributes), batchPayload(records, pos, header), opts.decompressedBytesMax ?? DECOMPRESSED_BYTES_MAX);
      } catch (err) {
        if (err instanceof CompressionError) throw new KafkaError(err.kafkaErrorCode, `batch at offset ${header.baseOffset}: ${err.message}`, where);
        throw err;
      }
      try {
        for (const r of iterateRecords(payload, header)) {
          if (r.offset < opts.fromOffset) continue;
          out.push({ topic: opts.topic, partition: opts.partition, offset: r.offset, timestamp: r.timestamp, key: r.key, value: r.value, headers: r.headers });
        }
      } catch (err) {
        throw new KafkaError(ErrorCode.CORRUPT_MESSAGE, `batch at offset ${header.baseOffset}: ${(err as Error).message}`, where);
      }
    }
    nextOffset = Math.max(nextOffset, last + 1);
    pos += size;
  }
  return { records: out, nextOffset };
}
