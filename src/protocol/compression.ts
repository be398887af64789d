/**
 * Record-batch compression codecs: the codec id lives in bits 0-2 of a v2 batch's attributes and covers the
 * records section (everything after the 61-byte batch header). Pure: bytes in, bytes out.
 *
 * Wire formats, as real clients send them (shared/kafka/client-compat.md, "Codecs seen on the wire"):
 *   0 none
 *   1 gzip    RFC 1952 (node:zlib).
 *   2 snappy  librdkafka and platformatic send ONE raw snappy block (varint preamble = uncompressed length);
 *             Java and kafkajs-snappy send xerial framing: `82 'SNAPPY' 00`, INT32 version, INT32 compatible
 *             version, then chunks of INT32 length + raw block. Both decode. We ENCODE raw: it is what
 *             librdkafka (the most common non-JVM producer) sends, it is smaller, and every consumer decodes it
 *             (snappy-java's SnappyInputStream falls back to raw when the xerial magic is absent, librdkafka and
 *             kafkajs-snappy detect the magic).
 *   3 lz4     LZ4 frame format (magic 04 22 4D 18), independent blocks (FLG bit 5): Java's
 *             KafkaLZ4BlockInputStream rejects dependent blocks, and lz4-napi (lz4_flex) writes independent ones.
 *   4 zstd    zstd frames (RFC 8878), level 3 as Kafka's default.
 *
 * Libraries: `snappy` and `lz4-napi` are napi-rs addons shipped prebuilt through npm (no compiler, no network
 * beyond the registry); `fzstd` decodes zstd in pure JS with a streaming API we can bound; `@bokuweb/zstd-wasm`
 * is libzstd compiled to WebAssembly, used only to encode (its one-shot decoder sizes its output from the
 * peer's header). Node 20 has no zstd in zlib.
 *
 * Decompression is bounded: the output never exceeds `outputBytesMax` (default DECOMPRESSED_BYTES_MAX). Before
 * any allocation the frame structure is walked (snappy preambles, lz4 block headers, zstd frame and block
 * headers) to compute an upper bound of the output, which must fit the cap; the decoders then run and the
 * result is checked again. A decompression bomb is a CompressionError('too-large'), never an exhausted heap.
 *
 * zstd encoding needs the WebAssembly module: call `loadCompression()` once (async) before `compressSync`
 * with zstd; the async `compress()` does it for you.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { compressSync as snappyCompress, uncompressSync as snappyUncompress } from 'snappy';
import { compressFrameSync as lz4Compress, decompressFrameSync as lz4Decompress } from 'lz4-napi';
import { Decompress as ZstdStreamDecoder } from 'fzstd';
import { ErrorCode } from './errors.js';
// The codec ids (attributes bits 0-2) are defined once, with the batch format.
import { Compression, type CompressionId } from './records.js';
export { Compression, type CompressionId };

export const COMPRESSION_NAMES = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;
export type CompressionName = (typeof COMPRESSION_NAMES)[number];

/**
 * Default cap on one decompressed records section. Kafka's default max.message.bytes is 1 MiB compressed;
 * 128 MiB leaves room for very compressible batches while bounding what one batch can make us allocate.
 */
export const DECOMPRESSED_BYTES_MAX = 128 * 1024 * 1024;

/**
 * Largest zstd window we accept (zstd's own decoder default, ZSTD_WINDOWLOG_LIMIT_DEFAULT = 27): fzstd
 * allocates the window declared by the frame header, so an unchecked header is a 2 GiB allocation.
 */
export const ZSTD_WINDOW_BYTES_MAX = 128 * 1024 * 1024;
/** Windows up to this size are accepted even under a smaller output cap: levels 1-19 use at most 8 MiB. */
const ZSTD_WINDOW_BYTES_FLOOR = 8 * 1024 * 1024;

const GZIP_LEVEL = 6; // java.util.zip.Deflater's default, what Kafka's Java producer uses
const ZSTD_LEVEL = 3; // Kafka's default compression.zstd.level

export type CompressionFailure = 'unsupported' | 'corrupt' | 'too-large';

/** An operating error of a codec: unknown codec, malformed input, or output over the cap. */
export class CompressionError extends Error {
  readonly code = 'ERR_TERN_COMPRESSION';
  constructor(
    readonly reason: CompressionFailure,
    message: string,
  ) {
    super(message);
    this.name = 'CompressionError';
  }

  /** The Kafka error code a broker answers with for this failure. */
  get kafkaErrorCode(): number {
    if (this.reason === 'unsupported') return ErrorCode.UNSUPPORTED_COMPRESSION_TYPE;
    if (this.reason === 'too-large') return ErrorCode.RECORD_LIST_TOO_LARGE;
    return ErrorCode.CORRUPT_MESSAGE;
  }
}

export function isCompressionId(n: number): n is CompressionId {
  return Number.isInteger(n) && n >= 0 && n <= 4;
}

export function compressionName(codec: number): string {
  return isCompressionId(codec) ? COMPRESSION_NAMES[codec] : `unknown(${codec})`;
}

export function compressionFromName(name: string): CompressionId {
  const i = (COMPRESSION_NAMES as readonly string[]).indexOf(name.toLowerCase());
  if (i < 0) throw new CompressionError('unsupported', `unknown compression '${name}' (expected ${COMPRESSION_NAMES.join(', ')})`);
  return i as CompressionId;
}

// ---------------------------------------------------------------------------------------------------------
// zstd encoder (WebAssembly), loaded once on demand

interface ZstdEncoder {
  compress(buf: Uint8Array, level?: number): Uint8Array;
}
let zstdEncoder: ZstdEncoder | null = null;
let zstdLoading: Promise<void> | null = null;

/** Makes every codec usable by `compressSync` (only zstd needs loading). Idempotent. */
export function loadCompression(): Promise<void> {
  if (zstdEncoder !== null) return Promise.resolve();
  zstdLoading ??= import('@bokuweb/zstd-wasm').then(async (m) => {
    await m.init();
    zstdEncoder = m;
  });
  return zstdLoading;
}

// ---------------------------------------------------------------------------------------------------------
// Compression

/** Compresses a records section. zstd requires `loadCompression()` to have resolved first. */
export function compressSync(codec: number, payload: Buffer): Buffer {
  switch (codec) {
    case Compression.none:
      return payload;
    case Compression.gzip:
      return gzipSync(payload, { level: GZIP_LEVEL });
    case Compression.snappy:
      return snappyCompress(payload);
    case Compression.lz4:
      return lz4Compress(payload);
    case Compression.zstd: {
      if (zstdEncoder === null) throw new Error('zstd encoder not loaded: await loadCompression() first');
      const out = zstdEncoder.compress(payload, ZSTD_LEVEL); // already copied out of the WASM heap
      return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
    }
    default:
      throw new CompressionError('unsupported', `unsupported compression codec ${codec}`);
  }
}

export async function compress(codec: number, payload: Buffer): Promise<Buffer> {
  if (codec === Compression.zstd) await loadCompression();
  return compressSync(codec, payload);
}

// ---------------------------------------------------------------------------------------------------------
// Decompression

/** Decompresses a records section; the output is at most `outputBytesMax` bytes or this throws. */
export function decompressSync(codec: number, payload: Buffer, outputBytesMax = DECOMPRESSED_BYTES_MAX): Buffer {
  if (!(outputBytesMax >= 1)) throw new RangeError(`outputBytesMax must be >= 1, got ${outputBytesMax}`);
  let out: Buffer;
  switch (codec) {
    case Compression.none:
      out = payload;
      break;
    case Compression.gzip:
      out = gunzip(payload, outputBytesMax);
      break;
    case Compression.snappy:
      out = isXerial(payload) ? xerialUncompress(payload, outputBytesMax) : snappyBlock(payload, outputBytesMax);
      break;
    case Compression.lz4:
      out = lz4Frame(payload, outputBytesMax);
      break;
    case Compression.zstd:
      out = zstdFrames(payload, outputBytesMax);
      break;
    default:
      throw new CompressionError('unsupported', `unsupported compression codec ${codec}`);
  }
  if (out.length > outputBytesMax) throw tooLarge(out.length, outputBytesMax);
  return out;
}

export async function decompress(codec: number, payload: Buffer, outputBytesMax = DECOMPRESSED_BYTES_MAX): Promise<Buffer> {
  return decompressSync(codec, payload, outputBytesMax);
}

function tooLarge(bytes: number, max: number): CompressionError {
  return new CompressionError('too-large', `decompressed size ${bytes} exceeds the limit of ${max} bytes`);
}

function corrupt(codec: string, why: string): CompressionError {
  return new CompressionError('corrupt', `corrupt ${codec} data: ${why}`);
}

// gzip -----------------------------------------------------------------------------------------------------

function gunzip(payload: Buffer, outputBytesMax: number): Buffer {
  try {
    // zlib stops inflating at maxOutputLength: the bound is enforced while decoding.
    return gunzipSync(payload, { maxOutputLength: outputBytesMax });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(outputBytesMax + 1, outputBytesMax);
    throw corrupt('gzip', (err as Error).message);
  }
}

// snappy ---------------------------------------------------------------------------------------------------

const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_BYTES = 16; // magic, INT32 version, INT32 minimum compatible version

function isXerial(payload: Buffer): boolean {
  return payload.length >= XERIAL_HEADER_BYTES && payload.subarray(0, XERIAL_MAGIC.length).equals(XERIAL_MAGIC);
}

/** The uncompressed length a raw snappy block declares (a uvarint of at most 32 bits at its start). */
function snappyDeclaredLength(block: Buffer): number {
  let value = 0;
  for (let i = 0; i < 5; i++) {
    if (i >= block.length) throw corrupt('snappy', 'truncated length preamble');
    const b = block[i]!;
    value += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) return value;
  }
  throw corrupt('snappy', 'length preamble longer than 5 bytes');
}

function snappyBlock(block: Buffer, outputBytesMax: number): Buffer {
  const declared = snappyDeclaredLength(block);
  // The decoder allocates exactly the declared length and fails if the block produces anything else.
  if (declared > outputBytesMax) throw tooLarge(declared, outputBytesMax);
  try {
    return snappyUncompress(block, { asBuffer: true }) as Buffer;
  } catch (err) {
    throw corrupt('snappy', (err as Error).message);
  }
}

function xerialUncompress(payload: Buffer, outputBytesMax: number): Buffer {
  // Walk the chunk headers and sum the declared lengths before decoding anything.
  const blocks: Buffer[] = [];
  let total = 0;
  let pos = XERIAL_HEADER_BYTES;
  while (pos < payload.length) {
    if (pos + 4 > payload.length) throw corrupt('snappy', 'truncated xerial chunk header');
    const len = payload.readInt32BE(pos);
    pos += 4;
    if (len < 0 || pos + len > payload.length) throw corrupt('snappy', `xerial chunk of ${len} bytes runs past the end`);
    const block = payload.subarray(pos, pos + len);
    pos += len;
    total += snappyDeclaredLength(block);
    if (total > outputBytesMax) throw tooLarge(total, outputBytesMax);
    blocks.push(block);
  }
  const parts = blocks.map((b) => snappyBlock(b, outputBytesMax));
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, total);
}

// lz4 ------------------------------------------------------------------------------------------------------

const LZ4_MAGIC = 0x184d2204;
const LZ4_BLOCK_BYTES_MAX = [0, 0, 0, 0, 64 << 10, 256 << 10, 1 << 20, 4 << 20];

/**
 * Walks one LZ4 frame (header, block sizes, checksums) without decoding and returns an upper bound of its
 * output: stored blocks count their size, compressed blocks the frame's maximum block size.
 */
export function lz4OutputBound(frame: Buffer): number {
  if (frame.length < 7 || frame.readUInt32LE(0) !== LZ4_MAGIC) throw corrupt('lz4', 'missing LZ4 frame magic');
  const flg = frame[4]!;
  const bd = frame[5]!;
  if (flg >> 6 !== 1) throw corrupt('lz4', `unsupported frame version ${flg >> 6}`);
  if ((flg & 0x01) !== 0) throw corrupt('lz4', 'dictionary frames are not used by Kafka');
  const blockChecksum = (flg & 0x10) !== 0;
  const contentSize = (flg & 0x08) !== 0;
  const contentChecksum = (flg & 0x04) !== 0;
  const blockMax = LZ4_BLOCK_BYTES_MAX[(bd >> 4) & 0x07]!;
  if (blockMax === 0) throw corrupt('lz4', `invalid block size id ${(bd >> 4) & 0x07}`);
  let pos = 6;
  let declared = -1;
  if (contentSize) {
    if (frame.length < pos + 8) throw corrupt('lz4', 'truncated frame header');
    declared = frame.readUInt32LE(pos) + frame.readUInt32LE(pos + 4) * 2 ** 32;
    pos += 8;
  }
  pos += 1; // header checksum, verified by the decoder
  let bound = 0;
  for (;;) {
    if (pos + 4 > frame.length) throw corrupt('lz4', 'truncated block header');
    const word = frame.readUInt32LE(pos);
    pos += 4;
    if (word === 0) break; // end mark
    const stored = (word & 0x80000000) !== 0;
    const size = word & 0x7fffffff;
    if (size > blockMax) throw corrupt('lz4', `block of ${size} bytes exceeds the frame's ${blockMax}`);
    pos += size + (blockChecksum ? 4 : 0);
    if (pos > frame.length) throw corrupt('lz4', 'block runs past the end');
    bound += stored ? size : blockMax;
  }
  pos += contentChecksum ? 4 : 0;
  if (pos !== frame.length) throw corrupt('lz4', `${frame.length - pos} bytes after the frame`);
  return declared >= 0 ? Math.min(declared, bound) : bound;
}

function lz4Frame(payload: Buffer, outputBytesMax: number): Buffer {
  const bound = lz4OutputBound(payload);
  // The bound overshoots the real size by less than one block (the last one is rarely full): refuse here only
  // what no legitimate frame can produce; the exact cap is checked on the output (at most 4 MiB more memory).
  if (bound > outputBytesMax + LZ4_BLOCK_BYTES_MAX[7]!) throw tooLarge(bound, outputBytesMax);
  try {
    return lz4Decompress(payload);
  } catch (err) {
    throw corrupt('lz4', (err as Error).message);
  }
}

// zstd -----------------------------------------------------------------------------------------------------

const ZSTD_MAGIC = 0xfd2fb528;
const ZSTD_BLOCK_BYTES_MAX = 128 * 1024;

/**
 * Walks every zstd frame (and skippable frame) in `data` without decoding: validates the headers, refuses
 * windows over `windowBytesMax`, and returns an upper bound of the output (raw and RLE blocks count their
 * regenerated size, compressed blocks min(window, 128 KiB)).
 */
export function zstdOutputBound(data: Buffer, windowBytesMax = ZSTD_WINDOW_BYTES_MAX): number {
  let pos = 0;
  let bound = 0;
  if (data.length === 0) throw corrupt('zstd', 'empty input');
  while (pos < data.length) {
    if (pos + 4 > data.length) throw corrupt('zstd', 'truncated frame magic');
    const magic = data.readUInt32LE(pos);
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      if (pos + 8 > data.length) throw corrupt('zstd', 'truncated skippable frame');
      pos += 8 + data.readUInt32LE(pos + 4);
      if (pos > data.length) throw corrupt('zstd', 'skippable frame runs past the end');
      continue;
    }
    if (magic !== ZSTD_MAGIC) throw corrupt('zstd', 'missing zstd frame magic');
    pos += 4;
    if (pos >= data.length) throw corrupt('zstd', 'truncated frame header');
    const fhd = data[pos++]!;
    const fcsFlag = fhd >> 6;
    const singleSegment = (fhd & 0x20) !== 0;
    const checksum = (fhd & 0x04) !== 0;
    const dictFlag = fhd & 0x03;
    if ((fhd & 0x08) !== 0) throw corrupt('zstd', 'reserved header bit set');
    if (dictFlag !== 0) throw corrupt('zstd', 'dictionary frames are not used by Kafka');
    let window = 0;
    if (!singleSegment) {
      if (pos >= data.length) throw corrupt('zstd', 'truncated frame header');
      const wd = data[pos++]!;
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 0x07);
    }
    const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag]!;
    let contentSize = -1;
    if (fcsBytes > 0) {
      if (pos + fcsBytes > data.length) throw corrupt('zstd', 'truncated frame header');
      if (fcsBytes === 1) contentSize = data[pos]!;
      else if (fcsBytes === 2) contentSize = data.readUInt16LE(pos) + 256;
      else if (fcsBytes === 4) contentSize = data.readUInt32LE(pos);
      else contentSize = data.readUInt32LE(pos) + data.readUInt32LE(pos + 4) * 2 ** 32;
      pos += fcsBytes;
    }
    if (singleSegment) window = contentSize;
    if (window > windowBytesMax) throw new CompressionError('too-large', `zstd window of ${window} bytes exceeds the limit of ${windowBytesMax}`);
    const blockMax = Math.min(window, ZSTD_BLOCK_BYTES_MAX);
    let frameBound = 0;
    for (let last = false; !last; ) {
      if (pos + 3 > data.length) throw corrupt('zstd', 'truncated block header');
      const header = data[pos]! | (data[pos + 1]! << 8) | (data[pos + 2]! << 16);
      pos += 3;
      last = (header & 1) !== 0;
      const type = (header >> 1) & 0x03;
      const size = header >>> 3;
      if (type === 3) throw corrupt('zstd', 'reserved block type');
      if (size > ZSTD_BLOCK_BYTES_MAX) throw corrupt('zstd', `block of ${size} bytes exceeds 128 KiB`);
      pos += type === 1 ? 1 : size;
      if (pos > data.length) throw corrupt('zstd', 'block runs past the end');
      frameBound += type === 2 ? blockMax : size;
    }
    pos += checksum ? 4 : 0;
    if (pos > data.length) throw corrupt('zstd', 'truncated content checksum');
    bound += contentSize >= 0 ? Math.min(contentSize, frameBound) : frameBound;
  }
  return bound;
}

function zstdFrames(payload: Buffer, outputBytesMax: number): Buffer {
  const windowBytesMax = Math.min(ZSTD_WINDOW_BYTES_MAX, Math.max(outputBytesMax, ZSTD_WINDOW_BYTES_FLOOR));
  const bound = zstdOutputBound(payload, windowBytesMax);
  if (bound > outputBytesMax + ZSTD_BLOCK_BYTES_MAX) throw tooLarge(bound, outputBytesMax);
  // Streaming decode: blocks arrive one by one (<= 128 KiB each) and are counted as they come.
  const parts: Uint8Array[] = [];
  let total = 0;
  const decoder = new ZstdStreamDecoder((chunk) => {
    total += chunk.length;
    if (total > outputBytesMax) throw tooLarge(total, outputBytesMax);
    if (chunk.length > 0) parts.push(chunk);
  });
  try {
    decoder.push(payload, true);
  } catch (err) {
    if (err instanceof CompressionError) throw err;
    throw corrupt('zstd', (err as Error).message);
  }
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
