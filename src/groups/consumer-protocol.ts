/**
 * The "consumer" embedded protocol (ConsumerProtocolSubscription / ConsumerProtocolAssignment in
 * ../shared/kafka/message-specs): what consumers put in JoinGroup metadata and SyncGroup assignments. The
 * coordinator treats these bytes as opaque, except to learn a consumer group's subscribed topics (offset
 * expiry and OffsetDelete keep the offsets of subscribed topics) and to show assignments (`tern group
 * describe`). Decoding is lenient: versions above 3 are read as 3 (fields are only ever appended), and
 * anything unparseable yields null, never a throw.
 */
import { Reader, Writer } from '../protocol/codec.js';

export const CONSUMER_PROTOCOL_TYPE = 'consumer';

export interface TopicPartitions {
  topic: string;
  partitions: number[];
}

export interface Subscription {
  version: number;
  topics: string[];
  userData: Buffer | null;
  ownedPartitions: TopicPartitions[];
}

export interface Assignment {
  version: number;
  partitions: TopicPartitions[];
  userData: Buffer | null;
}

/** An array count that cannot fit in the bytes left is a malformed input, not an allocation request. */
function count(r: Reader, elementBytesMin: number): number {
  const n = r.int32();
  if (n < 0) return 0;
  if (n * elementBytesMin > r.remaining) throw new RangeError(`array of ${n} overruns the input`);
  return n;
}

function readTopicPartitions(r: Reader): TopicPartitions[] {
  const out: TopicPartitions[] = [];
  const n = count(r, 6);
  for (let i = 0; i < n; i++) {
    const topic = r.string(false);
    const pn = count(r, 4);
    const partitions: number[] = [];
    for (let j = 0; j < pn; j++) partitions.push(r.int32());
    out.push({ topic, partitions });
  }
  return out;
}

export function decodeSubscription(b: Buffer): Subscription | null {
  try {
    const r = new Reader(b);
    const version = r.int16();
    if (version < 0) return null;
    const topics: string[] = [];
    const n = count(r, 2);
    for (let i = 0; i < n; i++) topics.push(r.string(false));
    const userData = r.remaining > 0 ? r.nullableBytes(false) : null;
    const ownedPartitions = version >= 1 && r.remaining > 0 ? readTopicPartitions(r) : [];
    return { version, topics, userData, ownedPartitions };
  } catch {
    return null;
  }
}

export function decodeAssignment(b: Buffer): Assignment | null {
  if (b.length === 0) return { version: 0, partitions: [], userData: null };
  try {
    const r = new Reader(b);
    const version = r.int16();
    if (version < 0) return null;
    const partitions = readTopicPartitions(r);
    const userData = r.remaining > 0 ? r.nullableBytes(false) : null;
    return { version, partitions, userData };
  } catch {
    return null;
  }
}

export function encodeSubscription(topics: readonly string[], ownedPartitions: readonly TopicPartitions[] = [], version = 1): Buffer {
  const w = new Writer(64);
  w.int16(version);
  w.int32(topics.length);
  for (const t of topics) w.string(t, false);
  w.nullableBytes(null, false);
  if (version >= 1) writeTopicPartitions(w, ownedPartitions);
  return w.finish();
}

export function encodeAssignment(partitions: readonly TopicPartitions[], version = 1): Buffer {
  const w = new Writer(64);
  w.int16(version);
  writeTopicPartitions(w, partitions);
  w.nullableBytes(null, false);
  return w.finish();
}

function writeTopicPartitions(w: Writer, tps: readonly TopicPartitions[]): void {
  w.int32(tps.length);
  for (const tp of tps) {
    w.string(tp.topic, false);
    w.int32(tp.partitions.length);
    for (const p of tp.partitions) w.int32(p);
  }
}
