/** __consumer_offsets key/value formats (golden bytes of Kafka's schemas) and the group partition hash. */
import { describe, expect, it } from 'vitest';
import {
  decodeGroupValue,
  decodeKey,
  decodeOffsetValue,
  encodeGroupKey,
  encodeGroupValue,
  encodeOffsetKey,
  encodeOffsetValue,
  javaStringHashCode,
  partitionForGroup,
  OffsetsRecordError,
} from '../../src/groups/index.js';
import { decodeAssignment, decodeSubscription, encodeAssignment, encodeSubscription } from '../../src/groups/consumer-protocol.js';

describe('partition of a group', () => {
  it('is Java String.hashCode & 0x7fffffff modulo the partitions', () => {
    expect(javaStringHashCode('')).toBe(0);
    expect(javaStringHashCode('a')).toBe(97);
    expect(javaStringHashCode('hello')).toBe(99162322);
    // Famous: its hashCode is Integer.MIN_VALUE; Utils.abs maps it to 0 (Math.abs would stay negative).
    expect(javaStringHashCode('polygenelubricants')).toBe(-2147483648);
    expect(partitionForGroup('polygenelubricants', 50)).toBe(0);
    // Negative hash codes: 'console-consumer-12345'.hashCode() < 0 in Java.
    const h = javaStringHashCode('console-consumer-12345');
    expect(partitionForGroup('console-consumer-12345', 50)).toBe((h & 0x7fffffff) % 50);
    // UTF-16 code units, as Java: a non-BMP character counts as two.
    expect(javaStringHashCode('\u{1F600}')).toBe(Math.imul(0xd83d, 31) + 0xde00);
  });
});

describe('__consumer_offsets records', () => {
  it('offset commit key v1 and value v3 as Kafka writes them', () => {
    expect(encodeOffsetKey('g', 't', 1).toString('hex')).toBe('0001' + '0001' + '67' + '0001' + '74' + '00000001');
    const v = encodeOffsetValue({ offset: 5, leaderEpoch: 2, metadata: 'm', commitTimestamp: 1000, expireTimestamp: null });
    expect(v.toString('hex')).toBe('0003' + '0000000000000005' + '00000002' + '0001' + '6d' + '00000000000003e8');
    expect(decodeKey(encodeOffsetKey('g', 't', 1))).toEqual({ type: 'offset', group: 'g', topic: 't', partition: 1 });
    expect(decodeOffsetValue(v)).toEqual({ offset: 5, leaderEpoch: 2, metadata: 'm', commitTimestamp: 1000, expireTimestamp: null });
  });

  it('an explicit expire timestamp is written as value v1', () => {
    const v = encodeOffsetValue({ offset: 5, leaderEpoch: 2, metadata: '', commitTimestamp: 1000, expireTimestamp: 2000 });
    expect(v.readInt16BE(0)).toBe(1);
    expect(decodeOffsetValue(v)).toEqual({ offset: 5, leaderEpoch: -1, metadata: '', commitTimestamp: 1000, expireTimestamp: 2000 });
  });

  it('group metadata key v2 and value v3 round-trip; older value versions decode', () => {
    expect(encodeGroupKey('grp').toString('hex')).toBe('0002' + '0003' + Buffer.from('grp').toString('hex'));
    const g = {
      protocolType: 'consumer',
      generation: 7,
      protocol: 'range',
      leader: 'm1',
      currentStateTimestamp: 123,
      members: [{ memberId: 'm1', groupInstanceId: 'i1', clientId: 'c', clientHost: '/127.0.0.1', rebalanceTimeoutMs: 300000, sessionTimeoutMs: 10000, subscription: Buffer.from([1, 2]), assignment: Buffer.from([3]) }],
    };
    expect(decodeGroupValue(encodeGroupValue(g))).toEqual(g);
    // v0: no rebalance timeout (session timeout stands for both), no state timestamp, no instance id.
    const v0 = Buffer.concat([
      Buffer.from('0000', 'hex'),
      Buffer.from('0001', 'hex'), Buffer.from('c'),
      Buffer.from('00000001', 'hex'),
      Buffer.from('ffff', 'hex'),
      Buffer.from('ffff', 'hex'),
      Buffer.from('00000001', 'hex'),
      Buffer.from('0001', 'hex'), Buffer.from('m'),
      Buffer.from('0001', 'hex'), Buffer.from('x'),
      Buffer.from('0001', 'hex'), Buffer.from('h'),
      Buffer.from('00002710', 'hex'),
      Buffer.from('00000000', 'hex'),
      Buffer.from('00000000', 'hex'),
    ]);
    expect(decodeGroupValue(v0)).toMatchObject({ protocolType: 'c', generation: 1, protocol: null, leader: null, currentStateTimestamp: -1, members: [{ memberId: 'm', sessionTimeoutMs: 10000, rebalanceTimeoutMs: 10000, groupInstanceId: null }] });
  });

  it('malformed keys and values throw OffsetsRecordError, never allocate by a bad count', () => {
    expect(() => decodeKey(Buffer.from([0]))).toThrow(OffsetsRecordError);
    expect(() => decodeOffsetValue(Buffer.from([0, 7, 0, 0]))).toThrow(OffsetsRecordError);
    const huge = Buffer.concat([Buffer.from('0003', 'hex'), Buffer.from('0000', 'hex'), Buffer.from('00000001ffffffff', 'hex'), Buffer.from('0000000000000000', 'hex'), Buffer.from('7fffffff', 'hex')]);
    expect(() => decodeGroupValue(huge)).toThrow(OffsetsRecordError);
    expect(decodeKey(Buffer.from([0, 3, 0, 0]))).toEqual({ type: 'unknown', version: 3 });
  });
});

describe('consumer protocol', () => {
  it('subscription and assignment round-trip; garbage decodes to null', () => {
    const s = encodeSubscription(['a', 'b'], [{ topic: 'a', partitions: [1, 2] }]);
    expect(decodeSubscription(s)).toEqual({ version: 1, topics: ['a', 'b'], userData: null, ownedPartitions: [{ topic: 'a', partitions: [1, 2] }] });
    const a = encodeAssignment([{ topic: 'x', partitions: [0, 3] }]);
    expect(decodeAssignment(a)).toEqual({ version: 1, partitions: [{ topic: 'x', partitions: [0, 3] }], userData: null });
    expect(decodeAssignment(Buffer.alloc(0))).toEqual({ version: 0, partitions: [], userData: null });
    expect(decodeSubscription(Buffer.from([0, 0, 0x7f, 0xff, 0xff, 0xff]))).toBeNull();
    expect(decodeAssignment(Buffer.from([0, 0, 0, 0, 0, 1, 0]))).toBeNull();
  });
});
