/**
 * CRC-32C (Castagnoli), the checksum of Kafka record batch v2. It covers the batch from `attributes` to the
 * end, so the broker may rewrite baseOffset and partitionLeaderEpoch without recomputing it.
 *
 * Uses the native addon (SSE4.2 `crc32` instruction) when loaded, else a slicing-by-8 table in TypeScript.
 */
import { nativeBinding } from '../io/native.js';

const POLY = 0x82f63b78;
const T = new Int32Array(8 * 256);
for (let i = 0; i < 256; i++) {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
  T[i] = c;
}
for (let i = 0; i < 256; i++) {
  for (let s = 1; s < 8; s++) T[s * 256 + i] = (T[(s - 1) * 256 + i]! >>> 8) ^ T[T[(s - 1) * 256 + i]! & 0xff]!;
}

/** CRC-32C of `data` in TypeScript (the twin of the native function; also used when the addon is absent). */
export function crc32cJs(data: Uint8Array, seed = 0): number {
  let crc = ~seed;
  let i = 0;
  const n = data.length;
  for (; i + 8 <= n; i += 8) {
    crc ^= data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    crc =
      T[7 * 256 + (crc & 0xff)]! ^
      T[6 * 256 + ((crc >>> 8) & 0xff)]! ^
      T[5 * 256 + ((crc >>> 16) & 0xff)]! ^
      T[4 * 256 + (crc >>> 24)]! ^
      T[3 * 256 + data[i + 4]!]! ^
      T[2 * 256 + data[i + 5]!]! ^
      T[256 + data[i + 6]!]! ^
      T[data[i + 7]!]!;
  }
  for (; i < n; i++) crc = T[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

// Below this size the N-API call costs more than the table loop.
const NATIVE_MIN_BYTES = 256;
const native = nativeBinding();

/**
 * CRC-32C of `data` (unsigned 32-bit). `seed` continues a CRC: crc32c(b, crc32c(a)) === crc32c(a ++ b), so bytes
 * held as several pieces (chunked-bytes.ts) are checked without joining them.
 */
export function crc32c(data: Uint8Array, seed = 0): number {
  if (native !== null && data.length >= NATIVE_MIN_BYTES) return native.crc32c(data, seed) >>> 0;
  return crc32cJs(data, seed);
}
