/**
 * Which partition of `__consumer_offsets` holds a group: Kafka's
 * `Utils.abs(groupId.hashCode()) % offsets.topic.num.partitions`, where `hashCode` is Java's String.hashCode
 * (over UTF-16 code units, 32-bit wrapping) and `Utils.abs` is `h & 0x7fffffff` (not Math.abs: Java's
 * Math.abs(Integer.MIN_VALUE) is negative). Tools that compute a group's coordinator partition the Kafka way
 * agree with Tern.
 */

export const OFFSETS_TOPIC = '__consumer_offsets';

export function javaStringHashCode(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
}

export function partitionForGroup(groupId: string, partitions: number): number {
  return (javaStringHashCode(groupId) & 0x7fffffff) % partitions;
}
