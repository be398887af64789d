/**
 * Message contents: values of a fixed size whose first 8 bytes carry the producer's timestamp (a float64,
 * big-endian, microseconds on the process-wide monotonic clock that every worker thread shares), and keys
 * drawn by the workload's key distribution.
 *
 * The rest of the value is a template made once per producer from a seeded PRNG: `payloadRandomRatio` of it
 * random bytes, the rest zeros (randomness matters to compressing brokers and disks; Tern stores as sent).
 */
import { partitionForKey } from '../src/client/index.js';
import { mulberry32 } from '../src/io/sim.js';
import type { KeyDistribution } from './workload.js';

export const STAMP_BYTES = 8;

/** Microseconds on CLOCK_MONOTONIC: the same clock in every thread of the process, unlike performance.now(). */
export function nowUs(): number {
  return Number(process.hrtime.bigint()) / 1000;
}

export function payloadTemplate(bytes: number, randomRatio: number, seed: number): Buffer {
  const buf = Buffer.alloc(bytes);
  const rnd = mulberry32(seed);
  const randomBytes = Math.round((bytes - STAMP_BYTES) * randomRatio);
  for (let i = STAMP_BYTES; i < STAMP_BYTES + randomBytes; i++) buf[i] = Math.floor(rnd() * 256);
  return buf;
}

export function writeStamp(buf: Buffer, offset: number, stampUs: number): void {
  buf.writeDoubleBE(stampUs, offset);
}

export function readStamp(buf: Buffer, offset: number): number {
  return buf.readDoubleBE(offset);
}

/** A value: a copy of the template with the stamp written in. */
export function stampedValue(template: Buffer, stampUs: number): Buffer {
  const b = Buffer.allocUnsafe(template.length);
  template.copy(b);
  writeStamp(b, 0, stampUs);
  return b;
}

/**
 * Picks key and partition of each message.
 * - none: no key; the partition is sticky and moves on (round robin over `partitions`) when the producer
 *   closes a batch, like Kafka's sticky partitioner.
 * - roundRobin: keys key-0 .. key-(keyCount-1) in turn; partition = murmur2(key) as Kafka's clients do.
 * - random: a uniformly random key of keyCount (seeded), partition by murmur2.
 */
export class KeyChooser {
  private readonly keys: Buffer[] = [];
  private readonly keyPartitions: number[] = [];
  private next = 0;
  private sticky: number;
  private readonly rnd: () => number;

  constructor(
    readonly mode: KeyDistribution,
    private readonly partitions: readonly number[],
    keyCount: number,
    seed: number,
  ) {
    if (partitions.length === 0) throw new Error('a producer needs at least one partition');
    this.rnd = mulberry32(seed);
    this.sticky = seed % partitions.length;
    if (mode !== 'none') {
      for (let i = 0; i < keyCount; i++) {
        const k = Buffer.from(`key-${i}`);
        this.keys.push(k);
        // Keys map onto the topic's partitions by murmur2; `partitions` is the topic's full partition list.
        this.keyPartitions.push(partitions[partitionForKey(k, partitions.length)]!);
      }
    }
  }

  /** Key (null for none) and partition of the next message. */
  choose(): { key: Buffer | null; partition: number } {
    if (this.mode === 'none') return { key: null, partition: this.partitions[this.sticky]! };
    const i = this.mode === 'roundRobin' ? this.next++ % this.keys.length : Math.floor(this.rnd() * this.keys.length);
    return { key: this.keys[i]!, partition: this.keyPartitions[i]! };
  }

  /** A batch closed: keyless messages move to the next partition. */
  batchClosed(): void {
    if (this.mode === 'none') this.sticky = (this.sticky + 1) % this.partitions.length;
  }
}
