/**
 * Kafka record batch v2 (magic 2): the unit producers send, the log stores and consumers fetch.
 *
 * Layout (big-endian; offsets are byte positions from the start of the batch):
 * ```
 *   0 baseOffset            int64   assigned by the broker (producers send 0)
 *   8 batchLength           int32   bytes after this field, so a batch is 12 + batchLength bytes
 *  12 partitionLeaderEpoch  int32   assigned by the broker; outside the CRC
 *  16 magic                 int8    2 (at byte 16 in every message format, so it is read before the rest)
 *  17 crc                   uint32  CRC-32C of bytes 21..end
 *  21 attributes            int16   bits 0-2 compression, 3 timestampType (1 = LogAppendTime),
 *                                   4 transactional, 5 control, 6 hasDeleteHorizonMs
 *  23 lastOffsetDelta       int32
 *  27 baseTimestamp         int64
 *  35 maxTimestamp          int64
 *  43 producerId            int64
 *  51 producerEpoch         int16
 *  53 baseSequence          int32
 *  57 recordCount           int32
 *  61 records               Record[] (compressed as one block when compression != 0)
 * Record: length varint, attributes int8, timestampDelta varlong, offsetDelta varint,
 *         keyLength varint (-1 = null), key, valueLength varint (-1 = null), value,
 *         headerCount varint, then per header: keyLength varint, key (UTF-8), valueLength varint, value.
 * ```
 * Pure: bytes in, objects out. Parsers return views (`subarray`) into the caller's buffer, never copies.
 * int64 fields are read as `number`: offsets and timestamps stay below 2^53.
 *
 * The produce path (`validateBatches`, `assignOffsets`) takes the records as chunked bytes: a Buffer, or the
 * list of views of the socket reads a large request arrived in (chunked-bytes.ts). A batch may straddle pieces;
 * it is validated and rewritten where it lies, never joined: the CRC is chained over the pieces, the record walk
 * reads varints across boundaries and skips payload, a straddling batch header is read from a 61-byte temp, and
 * the broker's in-place rewrites land in whichever pieces hold those bytes.
 */
import assert from 'node:assert/strict';
import { ChunkedView, joinChunks, type ChunkedBytes, type PieceCursor } from './chunked-bytes.js';
import { crc32c } from './crc32c.js';
import {
  readVarint,
  readVarlong,
  sizeOfVarint,
  sizeOfVarlong,
  writeVarint,
  writeVarlong,
  type Cursor,
} from './varint.js';

export const BASE_OFFSET_OFFSET = 0;
export const BATCH_LENGTH_OFFSET = 8;
export const PARTITION_LEADER_EPOCH_OFFSET = 12;
export const MAGIC_OFFSET = 16;
export const CRC_OFFSET = 17;
export const ATTRIBUTES_OFFSET = 21;
export const LAST_OFFSET_DELTA_OFFSET = 23;
export const BASE_TIMESTAMP_OFFSET = 27;
export const MAX_TIMESTAMP_OFFSET = 35;
export const PRODUCER_ID_OFFSET = 43;
export const PRODUCER_EPOCH_OFFSET = 51;
export const BASE_SEQUENCE_OFFSET = 53;
export const RECORD_COUNT_OFFSET = 57;
export const RECORDS_OFFSET = 61;

/** Bytes before batchLength's count starts: baseOffset + batchLength. */
export const LOG_OVERHEAD = 12;
/** Size of a batch header; the smallest possible batch (no records). */
export const RECORD_BATCH_OVERHEAD = RECORDS_OFFSET;
export const MAGIC_V2 = 2;

export const COMPRESSION_MASK = 0x07;
export const TIMESTAMP_TYPE_MASK = 0x08;
export const TRANSACTIONAL_MASK = 0x10;
export const CONTROL_MASK = 0x20;
export const DELETE_HORIZON_MASK = 0x40;

/** Compression codec ids of attributes bits 0-2. */
export const Compression = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 } as const;
export type CompressionId = (typeof Compression)[keyof typeof Compression];
const COMPRESSION_ID_MAX = Compression.zstd;

/** Smallest record body: attributes, timestampDelta, offsetDelta, keyLength, valueLength, headerCount. */
const RECORD_BODY_BYTES_MIN = 6;

export interface BatchHeader {
  baseOffset: number;
  batchLength: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

/** A batch header found by `validateBatches`, with where the batch starts in the validated buffer. */
export interface ValidatedBatch extends BatchHeader {
  /** Byte position of the batch in the buffer given to `validateBatches`. */
  position: number;
}

export interface Record {
  offset: number;
  timestamp: number;
  /** View into the payload, or null. */
  key: Buffer | null;
  /** View into the payload, or null. */
  value: Buffer | null;
  headers: RecordHeader[];
}

export interface RecordHeader {
  key: string;
  value: Buffer | null;
}

export function readInt64(buf: Buffer, pos: number): number {
  return buf.readInt32BE(pos) * 0x1_0000_0000 + buf.readUInt32BE(pos + 4);
}

export function writeInt64(buf: Buffer, pos: number, value: number): void {
  const hi = Math.floor(value / 0x1_0000_0000);
  buf.writeInt32BE(hi, pos);
  buf.writeUInt32BE(value - hi * 0x1_0000_0000, pos + 4);
}

/** Reads the 61-byte header at `pos`. The caller guarantees `pos + RECORD_BATCH_OVERHEAD <= buf.length`. */
export function readBatchHeader(buf: Buffer, pos: number): BatchHeader {
  return {
    baseOffset: readInt64(buf, pos + BASE_OFFSET_OFFSET),
    batchLength: buf.readInt32BE(pos + BATCH_LENGTH_OFFSET),
    partitionLeaderEpoch: buf.readInt32BE(pos + PARTITION_LEADER_EPOCH_OFFSET),
    magic: buf.readInt8(pos + MAGIC_OFFSET),
    crc: buf.readUInt32BE(pos + CRC_OFFSET),
    attributes: buf.readInt16BE(pos + ATTRIBUTES_OFFSET),
    lastOffsetDelta: buf.readInt32BE(pos + LAST_OFFSET_DELTA_OFFSET),
    baseTimestamp: readInt64(buf, pos + BASE_TIMESTAMP_OFFSET),
    maxTimestamp: readInt64(buf, pos + MAX_TIMESTAMP_OFFSET),
    producerId: readInt64(buf, pos + PRODUCER_ID_OFFSET),
    producerEpoch: buf.readInt16BE(pos + PRODUCER_EPOCH_OFFSET),
    baseSequence: buf.readInt32BE(pos + BASE_SEQUENCE_OFFSET),
    recordCount: buf.readInt32BE(pos + RECORD_COUNT_OFFSET),
  };
}

/** `readBatchHeader` over chunked bytes: through a 61-byte temp when the header straddles two pieces. */
export function readBatchHeaderAt(view: ChunkedView, pos: number): BatchHeader {
  return readBatchHeader(view.window(pos, RECORD_BATCH_OVERHEAD), 0);
}

export function batchSize(header: Pick<BatchHeader, 'batchLength'>): number {
  return LOG_OVERHEAD + header.batchLength;
}

export function lastOffsetOf(header: Pick<BatchHeader, 'baseOffset' | 'lastOffsetDelta'>): number {
  return header.baseOffset + header.lastOffsetDelta;
}

export function compressionOf(attributes: number): number {
  return attributes & COMPRESSION_MASK;
}

export function isLogAppendTime(attributes: number): boolean {
  return (attributes & TIMESTAMP_TYPE_MASK) !== 0;
}

export function isTransactional(attributes: number): boolean {
  return (attributes & TRANSACTIONAL_MASK) !== 0;
}

export function isControl(attributes: number): boolean {
  return (attributes & CONTROL_MASK) !== 0;
}

/** Whether the stored CRC matches bytes attributes..end. The batch must lie inside `buf`. */
export function isBatchCrcValid(buf: Buffer, pos: number, header: BatchHeader): boolean {
  return crc32c(buf.subarray(pos + ATTRIBUTES_OFFSET, pos + batchSize(header))) === header.crc;
}

/** The records section of a stored batch (compressed bytes when the batch is compressed). */
export function batchPayload(buf: Buffer, pos: number, header: BatchHeader): Buffer {
  return buf.subarray(pos + RECORDS_OFFSET, pos + batchSize(header));
}

// ---------------------------------------------------------------------------------------------------------------
// Produce-path validation
// ---------------------------------------------------------------------------------------------------------------

/** Kafka error names `validateBatches` can answer with; the caller maps them to wire codes. */
export type RecordsErrorCode =
  | 'CORRUPT_MESSAGE'
  | 'MESSAGE_TOO_LARGE'
  | 'INVALID_RECORD'
  | 'INVALID_TIMESTAMP'
  | 'UNSUPPORTED_COMPRESSION_TYPE';

/** One refused record, as Produce v8+ reports it (RecordErrors): its index in its batch and why. */
export interface RecordError {
  batchIndex: number;
  batchIndexErrorMessage: string | null;
}

export type ValidateResult =
  | { ok: true; batches: ValidatedBatch[]; recordCount: number }
  | { ok: false; error: RecordsErrorCode; message: string; recordErrors?: RecordError[] };

/** A record timestamp that means "none" (Kafka's RecordBatch.NO_TIMESTAMP): never out of bounds. */
export const NO_TIMESTAMP = -1;

/** Most refused records one batch lists in `recordErrors` (the rest are refused with it, unlisted). */
export const recordErrorsMax = 1000;

export interface ValidateOptions {
  /** Largest batch accepted, bytes (the topic's `max.message.bytes`). */
  maxBatchBytes: number;
  /** Produce v3+ in Kafka allows exactly one batch per partition; set this to enforce it. */
  exactlyOneBatch?: boolean;
  /** Clients may not write control batches (Kafka: INVALID_RECORD); the broker's own writers may. */
  allowControlBatches?: boolean;
  /**
   * Bounds of record timestamps, ms, inclusive (a CreateTime topic's message.timestamp.before/after.max.ms around
   * the broker's clock); -Infinity / Infinity (the defaults) leave that side open. A record outside them (one
   * with NO_TIMESTAMP excepted) makes its batch INVALID_TIMESTAMP, with every such record in `recordErrors`.
   */
  timestampMinMs?: number;
  timestampMaxMs?: number;
  /**
   * Decompresses a records section (compression.decompressSync); needed when a timestamp bound is set, for
   * compressed batches are then opened to check each record, as Kafka does. Synchronous on purpose: the produce
   * path appends in arrival order, and an await here would let a later request overtake this one.
   */
  decompress?: (codec: number, payload: Buffer) => Buffer;
}

/**
 * Validates the records field of one partition of a Produce request: one or more v2 batches back to back.
 * Never throws and never allocates by a size read from the input; the first problem found is returned.
 *
 * Error choices follow Kafka's broker (ProduceRequest.validateRecords, UnifiedLog.analyzeAndValidateRecords,
 * LogValidator):
 * - magic != 2 -> INVALID_RECORD: Kafka answers Produce v3+ so, and v0-v2 (the only requests that may carry
 *   magic 0/1) are gone since Kafka 4.0. UNSUPPORTED_VERSION is a request-level error about API versions.
 * - bad length, trailing partial batch, CRC mismatch -> CORRUPT_MESSAGE. (Kafka drops a trailing partial batch
 *   silently; we reject it: a producer never sends one, so it means a broken client.)
 * - batch bigger than `maxBatchBytes` -> MESSAGE_TOO_LARGE.
 * - baseOffset != 0, recordCount < 1, lastOffsetDelta != recordCount - 1, a control batch from a client,
 *   a producer id with a negative base sequence, and any malformed record -> INVALID_RECORD.
 * - compression id 5-7 -> UNSUPPORTED_COMPRESSION_TYPE.
 * - a record timestamp outside [timestampMinMs, timestampMaxMs] -> INVALID_TIMESTAMP (LogValidator.validateTimestamp:
 *   each record is checked; in a batch whose timestampType bit says LogAppendTime every record reads as the
 *   batch's maxTimestamp, as in Kafka's DefaultRecordBatch). The refused records are listed as Kafka lists them,
 *   the first `recordErrorsMax` of them (Kafka lists all: a 1 MiB batch of tiny records would make a response of
 *   megabytes).
 *
 * Compressed batches: the CRC covers the compressed bytes, so integrity is checked, but the records are not
 * decompressed here. Decompressing every produce would cost CPU on the hot path for a check the consumer's own
 * decoder repeats; the bytes are stored as received either way. A compressed batch whose inner records are
 * malformed but whose CRC is right is therefore accepted (the producer built it that way). The exception is a
 * topic with a timestamp bound: its compressed batches are decompressed (`decompress`, on this thread) and their
 * records walked like an uncompressed batch's, so that bound costs a decompression per compressed batch, as in
 * Kafka; a records section that straddles pieces is joined first (counted as `decompressJoin`).
 */
export function validateBatches(records: ChunkedBytes, opts: ValidateOptions): ValidateResult {
  const v = new ChunkedView(records);
  const batches: ValidatedBatch[] = [];
  let recordCount = 0;
  let pos = 0;
  const minMs = opts.timestampMinMs ?? -Infinity;
  const maxMs = opts.timestampMaxMs ?? Infinity;
  // Checked once per call: unbounded (every topic by default) walks exactly as before, with no timestamp work.
  const bounded = minMs !== -Infinity || maxMs !== Infinity;
  if (bounded && opts.decompress === undefined) assert.fail('validateBatches: a timestamp bound needs `decompress`');
  if (v.length === 0) return invalid('INVALID_RECORD', 'produce records hold no record batch');
  while (pos < v.length) {
    const remaining = v.length - pos;
    if (remaining < LOG_OVERHEAD) return invalid('CORRUPT_MESSAGE', `trailing ${remaining} bytes are not a batch`);
    const batchLength = v.readInt32BE(pos + BATCH_LENGTH_OFFSET);
    if (remaining > MAGIC_OFFSET) {
      const magic = v.readInt8(pos + MAGIC_OFFSET);
      if (magic !== MAGIC_V2) {
        return invalid('INVALID_RECORD', `record batches must have magic 2, batch at byte ${pos} has magic ${magic}`);
      }
    }
    if (batchLength < RECORD_BATCH_OVERHEAD - LOG_OVERHEAD) {
      return invalid('CORRUPT_MESSAGE', `batch at byte ${pos} has length ${batchLength}, below the header size`);
    }
    const size = LOG_OVERHEAD + batchLength;
    if (size > remaining) {
      return invalid('CORRUPT_MESSAGE', `batch at byte ${pos} claims ${size} bytes, only ${remaining} remain`);
    }
    if (size > opts.maxBatchBytes) {
      return invalid('MESSAGE_TOO_LARGE', `batch of ${size} bytes exceeds max.message.bytes ${opts.maxBatchBytes}`);
    }
    if (opts.exactlyOneBatch === true && pos > 0) {
      return invalid('INVALID_RECORD', 'produce requests may contain exactly one record batch per partition');
    }
    const header = readBatchHeaderAt(v, pos);
    const ts: TimestampCheck | null = bounded ? newTimestampCheck(header, minMs, maxMs) : null;
    const error = checkBatch(v, pos, header, opts, ts);
    if (error !== null) return error;
    batches.push({ ...header, position: pos });
    recordCount += header.recordCount;
    pos += size;
  }
  return { ok: true, batches, recordCount };
}

/**
 * The timestamp bounds one batch is checked against, and the records found outside them. Made once per batch, and
 * only when a bound is set; a record adds to `bad` only when it is refused.
 */
interface TimestampCheck {
  readonly minMs: number;
  readonly maxMs: number;
  /** baseTimestamp, to which each record's delta is added (CreateTime batches). */
  readonly base: number;
  /** The timestamp of every record of a LogAppendTime batch (its maxTimestamp), else null. */
  readonly fixed: number | null;
  bad: RecordError[] | null;
}

function newTimestampCheck(h: BatchHeader, minMs: number, maxMs: number): TimestampCheck {
  return { minMs, maxMs, base: h.baseTimestamp, fixed: isLogAppendTime(h.attributes) ? h.maxTimestamp : null, bad: null };
}

/** Checks record `index` whose timestampDelta is `delta`; refused ones are listed as Kafka words them. */
function checkTimestamp(ts: TimestampCheck, index: number, delta: number): void {
  const t = ts.fixed ?? ts.base + delta;
  if (t === NO_TIMESTAMP || (t >= ts.minMs && t <= ts.maxMs)) return;
  ts.bad ??= [];
  if (ts.bad.length >= recordErrorsMax) return;
  ts.bad.push({
    batchIndex: index,
    batchIndexErrorMessage: `Timestamp ${t} of message with offset ${index} is out of range. The timestamp should be within [${ts.minMs}, ${ts.maxMs}]`,
  });
}

function checkBatch(v: ChunkedView, pos: number, h: BatchHeader, opts: ValidateOptions, ts: TimestampCheck | null): ValidateResult | null {
  if (h.baseOffset !== 0) return invalid('INVALID_RECORD', `batch baseOffset must be 0, got ${h.baseOffset}`);
  if (v.crc32c(pos + ATTRIBUTES_OFFSET, pos + batchSize(h)) !== h.crc) {
    return invalid('CORRUPT_MESSAGE', `batch at byte ${pos} fails its CRC`);
  }
  const compression = compressionOf(h.attributes);
  if (compression > COMPRESSION_ID_MAX) {
    return invalid('UNSUPPORTED_COMPRESSION_TYPE', `unknown compression id ${compression}`);
  }
  if (isControl(h.attributes) && opts.allowControlBatches !== true) {
    return invalid('INVALID_RECORD', 'clients may not write control batches');
  }
  if (h.recordCount < 1) return invalid('INVALID_RECORD', `batch record count ${h.recordCount} is below 1`);
  if (h.lastOffsetDelta !== h.recordCount - 1) {
    return invalid('INVALID_RECORD', `lastOffsetDelta ${h.lastOffsetDelta} disagrees with ${h.recordCount} records`);
  }
  if (h.producerId >= 0 && h.baseSequence < 0) {
    return invalid('INVALID_RECORD', `producer id ${h.producerId} with negative base sequence ${h.baseSequence}`);
  }
  const start = pos + RECORDS_OFFSET;
  const end = pos + batchSize(h);
  let problem: string | null;
  if (compression !== Compression.none) {
    if (ts === null) return null; // see the doc comment: not decompressed here
    let payload: Buffer;
    try {
      payload = opts.decompress!(compression, joinChunks(v.slice(start, end), 'decompressJoin'));
    } catch (err) {
      return invalid('CORRUPT_MESSAGE', `batch at byte ${pos} does not decompress: ${(err as Error).message}`);
    }
    problem = checkRecords(payload, 0, payload.length, h.recordCount, ts);
  } else {
    // The records of a batch inside one piece (always, for a request in one socket read) take the walk over a
    // Buffer; only a batch whose records straddle pieces takes the cursor, which is slower per varint.
    const i = v.pieceAt(start);
    const pieceStart = v.startOf(i);
    problem =
      end <= pieceStart + v.pieces[i]!.length
        ? checkRecords(v.pieces[i]!, start - pieceStart, end - pieceStart, h.recordCount, ts)
        : checkRecordsAcross(v, start, end, h.recordCount, ts);
  }
  if (problem !== null) return invalid('INVALID_RECORD', `batch at byte ${pos}: ${problem}`);
  if (ts !== null && ts.bad !== null) {
    return { ok: false, error: 'INVALID_TIMESTAMP', message: 'One or more records have been rejected due to invalid timestamp', recordErrors: ts.bad };
  }
  return null;
}

/**
 * Walks every record of an uncompressed payload buf[start, end); returns what is wrong, or null. With `ts`, each
 * record's timestamp is checked too (refused ones collect in `ts.bad`; the walk goes on, as Kafka lists them all).
 */
function checkRecords(buf: Buffer, start: number, end: number, count: number, ts: TimestampCheck | null): string | null {
  const cur: Cursor = { offset: start };
  try {
    for (let i = 0; i < count; i++) {
      if (cur.offset >= end) return `${count} records declared, payload ends after ${i}`;
      const length = readVarint(buf, cur, end);
      const recordEnd = cur.offset + length;
      if (length < RECORD_BODY_BYTES_MIN || recordEnd > end) return `record ${i} has bad length ${length}`;
      cur.offset += 1; // attributes: unused in v2
      const timestampDelta = readVarlong(buf, cur, recordEnd);
      if (ts !== null) checkTimestamp(ts, i, timestampDelta);
      const offsetDelta = readVarint(buf, cur, recordEnd);
      if (offsetDelta !== i) return `record ${i} has offsetDelta ${offsetDelta}`;
      if (!skipBytes(buf, cur, recordEnd, true)) return `record ${i} key overruns the record`;
      if (!skipBytes(buf, cur, recordEnd, true)) return `record ${i} value overruns the record`;
      const headerCount = readVarint(buf, cur, recordEnd);
      if (headerCount < 0) return `record ${i} has header count ${headerCount}`;
      for (let j = 0; j < headerCount; j++) {
        if (!skipBytes(buf, cur, recordEnd, false)) return `record ${i} header ${j} key is bad`;
        if (!skipBytes(buf, cur, recordEnd, true)) return `record ${i} header ${j} value is bad`;
      }
      if (cur.offset !== recordEnd) return `record ${i} has ${recordEnd - cur.offset} bytes beyond its fields`;
    }
  } catch (err) {
    if (err instanceof RangeError) return `malformed varint: ${err.message}`;
    throw err;
  }
  if (cur.offset !== end) return `${end - cur.offset} bytes after the last of ${count} records`;
  return null;
}

/** Skips a varint-length-prefixed byte string; false when it is negative (unless nullable) or overruns. */
function skipBytes(buf: Buffer, cur: Cursor, end: number, nullable: boolean): boolean {
  const len = readVarint(buf, cur, end);
  if (len === -1 && nullable) return true;
  if (len < 0 || cur.offset + len > end) return false;
  cur.offset += len;
  return true;
}

/**
 * `checkRecords` over pieces: the same checks, step for step, with positions in the whole view. Reads only the
 * varints (across boundaries where they straddle); keys, values and headers are skipped, never copied. The
 * two walks must agree: test/protocol/records.test.ts compares them on seeded splits of corrupted batches.
 */
function checkRecordsAcross(v: ChunkedView, start: number, end: number, count: number, ts: TimestampCheck | null): string | null {
  const cur = v.cursor(start);
  try {
    for (let i = 0; i < count; i++) {
      if (cur.position >= end) return `${count} records declared, payload ends after ${i}`;
      const length = cur.varint(end);
      const recordEnd = cur.position + length;
      if (length < RECORD_BODY_BYTES_MIN || recordEnd > end) return `record ${i} has bad length ${length}`;
      cur.seek(cur.position + 1); // attributes: unused in v2
      const timestampDelta = cur.varlong(recordEnd);
      if (ts !== null) checkTimestamp(ts, i, timestampDelta);
      const offsetDelta = cur.varint(recordEnd);
      if (offsetDelta !== i) return `record ${i} has offsetDelta ${offsetDelta}`;
      if (!skipBytesAcross(cur, recordEnd, true)) return `record ${i} key overruns the record`;
      if (!skipBytesAcross(cur, recordEnd, true)) return `record ${i} value overruns the record`;
      const headerCount = cur.varint(recordEnd);
      if (headerCount < 0) return `record ${i} has header count ${headerCount}`;
      for (let j = 0; j < headerCount; j++) {
        if (!skipBytesAcross(cur, recordEnd, false)) return `record ${i} header ${j} key is bad`;
        if (!skipBytesAcross(cur, recordEnd, true)) return `record ${i} header ${j} value is bad`;
      }
      if (cur.position !== recordEnd) return `record ${i} has ${recordEnd - cur.position} bytes beyond its fields`;
    }
  } catch (err) {
    if (err instanceof RangeError) return `malformed varint: ${err.message}`;
    throw err;
  }
  if (cur.position !== end) return `${end - cur.position} bytes after the last of ${count} records`;
  return null;
}

function skipBytesAcross(cur: PieceCursor, end: number, nullable: boolean): boolean {
  const len = cur.varint(end);
  if (len === -1 && nullable) return true;
  if (len < 0 || cur.position + len > end) return false;
  cur.seek(cur.position + len);
  return true;
}

function invalid(error: RecordsErrorCode, message: string): ValidateResult {
  return { ok: false, error, message };
}

// ---------------------------------------------------------------------------------------------------------------
// Broker rewrites
// ---------------------------------------------------------------------------------------------------------------

/**
 * Rewrites the broker-owned fields of the batch at `batchPos` in place: baseOffset and partitionLeaderEpoch,
 * both outside the CRC. With `logAppendTimeMs` (topic `message.timestamp.type=LogAppendTime`) it also sets the
 * timestampType attribute and maxTimestamp, as Kafka does; those are inside the CRC, so only then is the CRC
 * recomputed (one pass over the batch). `records` may be chunked: each field is written into the piece, or the
 * pieces, holding it.
 */
export function assignOffsets(
  records: ChunkedBytes,
  batchPos: number,
  baseOffset: number,
  partitionLeaderEpoch: number,
  logAppendTimeMs?: number,
): void {
  if (!Buffer.isBuffer(records)) {
    assignOffsetsChunked(new ChunkedView(records), batchPos, baseOffset, partitionLeaderEpoch, logAppendTimeMs);
    return;
  }
  const buf = records;
  writeInt64(buf, batchPos + BASE_OFFSET_OFFSET, baseOffset);
  buf.writeInt32BE(partitionLeaderEpoch, batchPos + PARTITION_LEADER_EPOCH_OFFSET);
  if (logAppendTimeMs === undefined) return;
  const attributes = buf.readInt16BE(batchPos + ATTRIBUTES_OFFSET);
  buf.writeInt16BE(attributes | TIMESTAMP_TYPE_MASK, batchPos + ATTRIBUTES_OFFSET);
  writeInt64(buf, batchPos + MAX_TIMESTAMP_OFFSET, logAppendTimeMs);
  const end = batchPos + LOG_OVERHEAD + buf.readInt32BE(batchPos + BATCH_LENGTH_OFFSET);
  buf.writeUInt32BE(crc32c(buf.subarray(batchPos + ATTRIBUTES_OFFSET, end)), batchPos + CRC_OFFSET);
}

function assignOffsetsChunked(v: ChunkedView, pos: number, baseOffset: number, epoch: number, logAppendTimeMs?: number): void {
  const field = Buffer.allocUnsafe(8); // the new value of one field, written into the pieces
  writeInt64(field, 0, baseOffset);
  v.write(pos + BASE_OFFSET_OFFSET, field);
  field.writeInt32BE(epoch, 0);
  v.write(pos + PARTITION_LEADER_EPOCH_OFFSET, field.subarray(0, 4));
  if (logAppendTimeMs === undefined) return;
  field.writeInt16BE(v.window(pos + ATTRIBUTES_OFFSET, 2).readInt16BE(0) | TIMESTAMP_TYPE_MASK, 0);
  v.write(pos + ATTRIBUTES_OFFSET, field.subarray(0, 2));
  writeInt64(field, 0, logAppendTimeMs);
  v.write(pos + MAX_TIMESTAMP_OFFSET, field);
  const end = pos + LOG_OVERHEAD + v.readInt32BE(pos + BATCH_LENGTH_OFFSET);
  field.writeUInt32BE(v.crc32c(pos + ATTRIBUTES_OFFSET, end), 0);
  v.write(pos + CRC_OFFSET, field.subarray(0, 4));
}

// ---------------------------------------------------------------------------------------------------------------
// Reading records
// ---------------------------------------------------------------------------------------------------------------

/** Thrown by `iterateRecords` on a malformed payload (data from a peer or a disk, not a programming error). */
export class RecordFormatError extends Error {
  readonly code = 'CORRUPT_MESSAGE';
  override readonly name = 'RecordFormatError';
}

/**
 * Iterates the records of an uncompressed records payload (`batchPayload` of an uncompressed batch, or the
 * decompressed payload of a compressed one). Keys, values and header values are views into `payload`.
 * Timestamps follow the batch's timestamp type: LogAppendTime batches report maxTimestamp for every record.
 * Throws `RecordFormatError` when the payload is malformed.
 */
export function* iterateRecords(payload: Buffer, header: BatchHeader): IterableIterator<Record> {
  const cur: Cursor = { offset: 0 };
  const end = payload.length;
  const appendTime = isLogAppendTime(header.attributes);
  for (let i = 0; i < header.recordCount; i++) {
    let record: Record;
    try {
      record = readRecord(payload, cur, end, header, appendTime);
    } catch (err) {
      if (err instanceof RangeError) throw new RecordFormatError(`record ${i}: ${err.message}`);
      throw err;
    }
    yield record;
  }
}

function readRecord(payload: Buffer, cur: Cursor, end: number, header: BatchHeader, appendTime: boolean): Record {
  const length = readVarint(payload, cur, end);
  const recordEnd = cur.offset + length;
  if (length < RECORD_BODY_BYTES_MIN || recordEnd > end) throw new RangeError(`bad record length ${length}`);
  cur.offset += 1; // attributes: unused in v2
  const timestampDelta = readVarlong(payload, cur, recordEnd);
  const offsetDelta = readVarint(payload, cur, recordEnd);
  const key = readBytes(payload, cur, recordEnd);
  const value = readBytes(payload, cur, recordEnd);
  const headerCount = readVarint(payload, cur, recordEnd);
  if (headerCount < 0) throw new RangeError(`bad header count ${headerCount}`);
  const headers: RecordHeader[] = [];
  for (let j = 0; j < headerCount; j++) {
    const hkey = readBytes(payload, cur, recordEnd);
    if (hkey === null) throw new RangeError('null header key');
    headers.push({ key: hkey.toString('utf8'), value: readBytes(payload, cur, recordEnd) });
  }
  cur.offset = recordEnd;
  return {
    offset: header.baseOffset + offsetDelta,
    timestamp: appendTime ? header.maxTimestamp : header.baseTimestamp + timestampDelta,
    key,
    value,
    headers,
  };
}

function readBytes(buf: Buffer, cur: Cursor, end: number): Buffer | null {
  const len = readVarint(buf, cur, end);
  if (len === -1) return null;
  if (len < 0 || cur.offset + len > end) throw new RangeError(`byte string of ${len} overruns the record`);
  const out = buf.subarray(cur.offset, cur.offset + len);
  cur.offset += len;
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Building batches (CLI producer, tests, broker-written control batches)
// ---------------------------------------------------------------------------------------------------------------

export type Bytes = Buffer | Uint8Array | string;

export interface RecordInput {
  key?: Bytes | null;
  value: Bytes | null;
  headers?: { key: string; value: Bytes | null }[];
  /** Milliseconds since the epoch; defaults to `BuildBatchOptions.nowMs`. */
  timestamp?: number;
}

export interface BuildBatchOptions {
  baseOffset?: number;
  partitionLeaderEpoch?: number;
  producerId?: number;
  producerEpoch?: number;
  baseSequence?: number;
  /** Compression id (attributes bits 0-2); when not 0, `compress` must be given. */
  compression?: number;
  /** Compresses the encoded records section. */
  compress?: (payload: Buffer) => Buffer;
  transactional?: boolean;
  control?: boolean;
  /** Timestamp for records that carry none; defaults to Date.now(). */
  nowMs?: number;
}

/** Encodes `records` as one v2 batch with a valid CRC. Programming errors (no records, no codec) throw. */
export function buildRecordBatch(records: readonly RecordInput[], opts: BuildBatchOptions = {}): Buffer {
  if (records.length === 0) throw new Error('a record batch needs at least one record');
  const compression = opts.compression ?? Compression.none;
  if (compression !== Compression.none && opts.compress === undefined) {
    throw new Error(`compression ${compression} needs a compress function`);
  }
  const now = opts.nowMs ?? Date.now();
  const timestamps = records.map((r) => r.timestamp ?? now);
  const baseTimestamp = timestamps[0]!;
  let maxTimestamp = baseTimestamp;
  for (const t of timestamps) if (t > maxTimestamp) maxTimestamp = t;

  const encoded = records.map((r, i) => encodeRecord(r, i, timestamps[i]! - baseTimestamp));
  let payload: Buffer = Buffer.concat(encoded);
  if (compression !== Compression.none) payload = opts.compress!(payload);

  const batch = Buffer.alloc(RECORDS_OFFSET + payload.length);
  let attributes = compression & COMPRESSION_MASK;
  if (opts.transactional === true) attributes |= TRANSACTIONAL_MASK;
  if (opts.control === true) attributes |= CONTROL_MASK;
  writeInt64(batch, BASE_OFFSET_OFFSET, opts.baseOffset ?? 0);
  batch.writeInt32BE(batch.length - LOG_OVERHEAD, BATCH_LENGTH_OFFSET);
  batch.writeInt32BE(opts.partitionLeaderEpoch ?? -1, PARTITION_LEADER_EPOCH_OFFSET);
  batch.writeInt8(MAGIC_V2, MAGIC_OFFSET);
  batch.writeInt16BE(attributes, ATTRIBUTES_OFFSET);
  batch.writeInt32BE(records.length - 1, LAST_OFFSET_DELTA_OFFSET);
  writeInt64(batch, BASE_TIMESTAMP_OFFSET, baseTimestamp);
  writeInt64(batch, MAX_TIMESTAMP_OFFSET, maxTimestamp);
  writeInt64(batch, PRODUCER_ID_OFFSET, opts.producerId ?? -1);
  batch.writeInt16BE(opts.producerEpoch ?? -1, PRODUCER_EPOCH_OFFSET);
  batch.writeInt32BE(opts.baseSequence ?? -1, BASE_SEQUENCE_OFFSET);
  batch.writeInt32BE(records.length, RECORD_COUNT_OFFSET);
  payload.copy(batch, RECORDS_OFFSET);
  batch.writeUInt32BE(crc32c(batch.subarray(ATTRIBUTES_OFFSET)), CRC_OFFSET);
  return batch;
}

function toBytes(b: Bytes | null | undefined): Uint8Array | null {
  if (b === null || b === undefined) return null;
  return typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
}

function sizeOfBytes(b: Uint8Array | null): number {
  return b === null ? sizeOfVarint(-1) : sizeOfVarint(b.length) + b.length;
}

function writeBytes(out: Buffer, off: number, b: Uint8Array | null): number {
  if (b === null) return writeVarint(out, off, -1);
  off = writeVarint(out, off, b.length);
  out.set(b, off);
  return off + b.length;
}

function encodeRecord(r: RecordInput, offsetDelta: number, timestampDelta: number): Buffer {
  const key = toBytes(r.key);
  const value = toBytes(r.value);
  const headers = (r.headers ?? []).map((h) => ({ key: Buffer.from(h.key, 'utf8'), value: toBytes(h.value) }));
  let body =
    1 + sizeOfVarlong(timestampDelta) + sizeOfVarint(offsetDelta) + sizeOfBytes(key) + sizeOfBytes(value);
  body += sizeOfVarint(headers.length);
  for (const h of headers) body += sizeOfBytes(h.key) + sizeOfBytes(h.value);
  const out = Buffer.alloc(sizeOfVarint(body) + body);
  let off = writeVarint(out, 0, body);
  out[off++] = 0;
  off = writeVarlong(out, off, timestampDelta);
  off = writeVarint(out, off, offsetDelta);
  off = writeBytes(out, off, key);
  off = writeBytes(out, off, value);
  off = writeVarint(out, off, headers.length);
  for (const h of headers) {
    off = writeBytes(out, off, h.key);
    off = writeBytes(out, off, h.value);
  }
  return out;
}
