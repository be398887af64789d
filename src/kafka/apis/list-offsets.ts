/**
 * ListOffsets (key 2), v0-8. Timestamp specs: -1 latest (the high watermark; the last stable offset under
 * read_committed, IsolationLevel v2+), -2 earliest (log start offset), -3 the record with the
 * largest timestamp (v7+), -4 earliest local (v8+; every segment is local, so the log start offset), and t >= 0
 * the first offset whose timestamp is >= t (offset -1 when there is none).
 * Under read_committed a lookup (t >= 0, -3) whose answer lies at or past the last stable offset answers offset
 * -1 and timestamp -1, as Kafka does (Partition.fetchOffsetForTimestamp's lastFetchableOffset): the record
 * exists but is not readable at that isolation level yet.
 * v0 answers through OldStyleOffsets (at most MaxNumOffsets entries; Tern returns the one offset).
 */
import { ApiKey, type ListOffsetsRequest, type ListOffsetsResponseIn } from '../../protocol/messages/index.js';
import type { ListOffsetsPartitionResponseIn } from '../../protocol/messages/ListOffsetsResponse.js';
import { ErrorCode } from '../../protocol/errors.js';
import { LEADER_EPOCH } from '../partitions.js';
import type { ApiHandler, BrokerServices } from '../context.js';
import { READ_COMMITTED, READ_UNCOMMITTED } from '../../txn/index.js';

async function lookup(b: BrokerServices, topic: string, partition: number, ts: number, epoch: number, v: number, isolationLevel: number): Promise<ListOffsetsPartitionResponseIn> {
  const out: ListOffsetsPartitionResponseIn = { partitionIndex: partition, errorCode: 0, timestamp: -1, offset: -1, leaderEpoch: -1, oldStyleOffsets: [] };
  const found = await b.partitions.listOffset(topic, partition, ts, v, isolationLevel);
  if (found.errorCode !== 0) return { ...out, errorCode: found.errorCode };
  if (epoch > LEADER_EPOCH) return { ...out, errorCode: ErrorCode.UNKNOWN_LEADER_EPOCH };
  if (epoch >= 0 && epoch < LEADER_EPOCH) return { ...out, errorCode: ErrorCode.FENCED_LEADER_EPOCH };
  out.offset = found.offset;
  out.timestamp = found.timestamp;
  out.leaderEpoch = found.leaderEpoch;
  if (v === 0) out.oldStyleOffsets = found.offset >= 0 ? [found.offset] : [];
  return out;
}

export const listOffsetsHandler: ApiHandler<ListOffsetsRequest, ListOffsetsResponseIn> = {
  key: ApiKey.ListOffsets,
  minVersion: 0,
  maxVersion: 8,
  async handle(req, ctx) {
    const topics = [];
    // IsolationLevel exists from v2; earlier versions read uncommitted.
    const isolationLevel = ctx.apiVersion >= 2 && req.isolationLevel === READ_COMMITTED ? READ_COMMITTED : READ_UNCOMMITTED;
    for (const t of req.topics) {
      const partitions = await Promise.all(t.partitions.map((p) => lookup(ctx.broker, t.name, p.partitionIndex, p.timestamp, p.currentLeaderEpoch, ctx.apiVersion, isolationLevel)));
      topics.push({ name: t.name, partitions });
    }
    return { throttleTimeMs: 0, topics };
  },
};
