/**
 * Kafka's default partitioner for keyed records: murmur2 of the key bytes, made positive, modulo the
 * partition count (org.apache.kafka.common.utils.Utils.murmur2 / toPositive). Using the same function as the
 * Java client (and kafkajs' JavaCompatiblePartitioner, librdkafka's murmur2_random) keeps a key on the same
 * partition whichever client wrote it.
 */

const SEED = 0x9747b28c;
const M = 0x5bd1e995;
const R = 24;

/** Kafka's murmur2 of `data`, as a signed 32-bit integer. */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = (SEED ^ length) | 0;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> R;
    k = Math.imul(k, M);
    h = Math.imul(h, M);
    h ^= k;
  }
  const tail = length & 3;
  // Java's switch falls through from case 3 to case 1.
  if (tail >= 3) h ^= data[whole + 2]! << 16;
  if (tail >= 2) h ^= data[whole + 1]! << 8;
  if (tail >= 1) {
    h ^= data[whole]!;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition Kafka's default partitioner picks for a keyed record. */
export function partitionForKey(key: Uint8Array, partitionCount: number): number {
  if (!(partitionCount >= 1)) throw new RangeError(`partition count must be >= 1, got ${partitionCount}`);
  return (murmur2(key) & 0x7fffffff) % partitionCount;
}
