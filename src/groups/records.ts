/**
 * The records of the internal topic `__consumer_offsets`, in Apache Kafka's own key/value formats so that
 * Kafka's tools (kafka-console-consumer with the OffsetsMessageFormatter / GroupMetadataMessageFormatter, or
 * any reader of the group-coordinator schemas) can read what Tern wrote. Pure: bytes in, objects out.
 *
 * Every field is big-endian; strings are INT16 length + UTF-8 (-1 = null for nullable ones); bytes are INT32
 * length + bytes. A key starts with its INT16 version, which names the record type:
 *
 *   OffsetCommitKey     version 0|1: group STRING, topic STRING, partition INT32
 *   GroupMetadataKey    version 2:   group STRING
 *   (version 3+ keys are KIP-848 consumer-group records; Tern neither writes nor reads them: skipped on load)
 *
 *   OffsetCommitValue   version INT16, then
 *     v0: offset INT64, metadata STRING, commitTimestamp INT64
 *     v1: offset INT64, metadata STRING, commitTimestamp INT64, expireTimestamp INT64
 *     v2: offset INT64, metadata STRING, commitTimestamp INT64
 *     v3: offset INT64, leaderEpoch INT32, metadata STRING, commitTimestamp INT64
 *   Tern writes v3, or v1 when the commit carries an explicit expire timestamp (OffsetCommit v1-4 with a
 *   retention), exactly as Kafka 2.1+ does.
 *
 *   GroupMetadataValue  version INT16, then protocolType STRING, generation INT32, protocol NULLABLE_STRING,
 *     leader NULLABLE_STRING, [v2+] currentStateTimestamp INT64, members ARRAY(INT32 count) of
 *     memberId STRING, [v3+] groupInstanceId NULLABLE_STRING, clientId STRING, clientHost STRING,
 *     [v1+] rebalanceTimeout INT32, sessionTimeout INT32, subscription BYTES, assignment BYTES.
 *   Tern writes v3 (what Kafka 2.3+ writes).
 *
 * A record with a key and a null value is a tombstone: the offset (or the group) was deleted or expired.
 *
 * Transactional offset commits (TxnOffsetCommit) are OffsetCommit records in a batch with the transactional
 * attribute and the producer's id and epoch; they count once the producer's COMMIT marker follows them in the
 * partition. A marker is a control batch (attributes bit 0x20) holding one record whose key is
 * version INT16 (0), type INT16 (0 abort, 1 commit) and whose value is version INT16, coordinatorEpoch INT32.
 */
import { Reader, Writer } from '../protocol/codec.js';

export const OFFSET_KEY_VERSION = 1;
export const GROUP_KEY_VERSION = 2;
export const OFFSET_VALUE_VERSION = 3;
export const OFFSET_VALUE_VERSION_WITH_EXPIRE = 1;
export const GROUP_VALUE_VERSION = 3;

export interface OffsetValue {
  offset: number;
  /** -1 when unknown. */
  leaderEpoch: number;
  metadata: string;
  commitTimestamp: number;
  /** Explicit expiry (OffsetCommit v1-4 retention), or null: retention then follows the group (KIP-211). */
  expireTimestamp: number | null;
}

export interface MemberValue {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  rebalanceTimeoutMs: number;
  sessionTimeoutMs: number;
  subscription: Buffer;
  assignment: Buffer;
}

export interface GroupValue {
  protocolType: string;
  generation: number;
  protocol: string | null;
  leader: string | null;
  currentStateTimestamp: number;
  members: MemberValue[];
}

export type OffsetsKey =
  | { type: 'offset'; group: string; topic: string; partition: number }
  | { type: 'group'; group: string }
  | { type: 'unknown'; version: number };

/** A key or value that cannot be parsed (a record written by something else, or damaged). */
export class OffsetsRecordError extends Error {
  readonly code = 'ERR_TERN_OFFSETS_RECORD';
}

export function encodeOffsetKey(group: string, topic: string, partition: number): Buffer {
  const w = new Writer(64);
  w.int16(OFFSET_KEY_VERSION);
  w.string(group, false);
  w.string(topic, false);
  w.int32(partition);
  return w.finish();
}

export function encodeGroupKey(group: string): Buffer {
  const w = new Writer(32);
  w.int16(GROUP_KEY_VERSION);
  w.string(group, false);
  return w.finish();
}

export function encodeOffsetValue(v: OffsetValue): Buffer {
  const w = new Writer(64);
  if (v.expireTimestamp !== null) {
    w.int16(OFFSET_VALUE_VERSION_WITH_EXPIRE);
    w.int64(v.offset);
    w.string(v.metadata, false);
    w.int64(v.commitTimestamp);
    w.int64(v.expireTimestamp);
  } else {
    w.int16(OFFSET_VALUE_VERSION);
    w.int64(v.offset);
    w.int32(v.leaderEpoch);
    w.string(v.metadata, false);
    w.int64(v.commitTimestamp);
  }
  return w.finish();
}

export function encodeGroupValue(g: GroupValue): Buffer {
  const w = new Writer(256);
  w.int16(GROUP_VALUE_VERSION);
  w.string(g.protocolType, false);
  w.int32(g.generation);
  w.nullableString(g.protocol, false);
  w.nullableString(g.leader, false);
  w.int64(g.currentStateTimestamp);
  w.int32(g.members.length);
  for (const m of g.members) {
    w.string(m.memberId, false);
    w.nullableString(m.groupInstanceId, false);
    w.string(m.clientId, false);
    w.string(m.clientHost, false);
    w.int32(m.rebalanceTimeoutMs);
    w.int32(m.sessionTimeoutMs);
    w.bytes(m.subscription, false);
    w.bytes(m.assignment, false);
  }
  return w.finish();
}

function parsing<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof OffsetsRecordError) throw err;
    throw new OffsetsRecordError(`${what}: ${(err as Error).message}`);
  }
}

export function decodeKey(key: Buffer): OffsetsKey {
  return parsing('key', () => {
    const r = new Reader(key);
    const version = r.int16();
    if (version === 0 || version === 1) return { type: 'offset', group: r.string(false), topic: r.string(false), partition: r.int32() };
    if (version === 2) return { type: 'group', group: r.string(false) };
    return { type: 'unknown', version };
  });
}

export function decodeOffsetValue(value: Buffer): OffsetValue {
  return parsing('offset commit value', () => {
    const r = new Reader(value);
    const version = r.int16();
    if (version < 0 || version > 3) throw new OffsetsRecordError(`unknown offset commit value version ${version}`);
    const offset = r.int64();
    const leaderEpoch = version >= 3 ? r.int32() : -1;
    const metadata = r.string(false);
    const commitTimestamp = r.int64();
    const expireTimestamp = version === 1 ? r.int64() : null;
    return { offset, leaderEpoch, metadata, commitTimestamp, expireTimestamp };
  });
}

/** A control record's key: 'commit' or 'abort', or null for another control type (or damaged bytes). */
export function decodeControlKey(key: Buffer | null): 'commit' | 'abort' | null {
  if (key === null || key.length < 4) return null;
  const type = key.readInt16BE(2);
  return type === 1 ? 'commit' : type === 0 ? 'abort' : null;
}

/** Array counts are checked against the bytes left before anything is allocated (a damaged count cannot). */
const MEMBER_BYTES_MIN = 2 + 2 + 2 + 4 + 4 + 4;

export function decodeGroupValue(value: Buffer): GroupValue {
  return parsing('group metadata value', () => {
    const r = new Reader(value);
    const version = r.int16();
    if (version < 0 || version > 3) throw new OffsetsRecordError(`unknown group metadata value version ${version}`);
    const protocolType = r.string(false);
    const generation = r.int32();
    const protocol = r.nullableString(false);
    const leader = r.nullableString(false);
    const currentStateTimestamp = version >= 2 ? r.int64() : -1;
    const count = r.int32();
    if (count < 0 || count * MEMBER_BYTES_MIN > r.remaining) throw new OffsetsRecordError(`bad member count ${count}`);
    const members: MemberValue[] = [];
    for (let i = 0; i < count; i++) {
      const memberId = r.string(false);
      const groupInstanceId = version >= 3 ? r.nullableString(false) : null;
      const clientId = r.string(false);
      const clientHost = r.string(false);
      const sessionOrRebalance = r.int32();
      const rebalanceTimeoutMs = sessionOrRebalance;
      const sessionTimeoutMs = version >= 1 ? r.int32() : sessionOrRebalance;
      // Copies: the value is a view of a log read that is not kept.
      const subscription = Buffer.from(r.bytes(false));
      const assignment = Buffer.from(r.bytes(false));
      members.push({ memberId, groupInstanceId, clientId, clientHost, rebalanceTimeoutMs, sessionTimeoutMs, subscription, assignment });
    }
    return { protocolType, generation, protocol, leader, currentStateTimestamp, members };
  });
}
