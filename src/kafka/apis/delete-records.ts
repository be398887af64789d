/**
 * DeleteRecords (key 21), v0-2: raises a partition's log start offset (Offset -1 = the high watermark);
 * whole segments below it are deleted. Offsets above the high watermark are OFFSET_OUT_OF_RANGE.
 */
import { ApiKey, type DeleteRecordsRequest, type DeleteRecordsResponseIn } from '../../protocol/messages/index.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler, BrokerServices } from '../context.js';
import { storageFailure } from './errors.js';

async function deleteBefore(b: BrokerServices, topic: string, partition: number, offset: number): Promise<{ partitionIndex: number; lowWatermark: number; errorCode: number }> {
  const log = b.partitionLog(topic, partition);
  if (!log) return { partitionIndex: partition, lowWatermark: -1, errorCode: b.missingPartitionError(topic, partition) };
  try {
    // The log maps -1 to the high watermark and checks the range.
    const res = await log.deleteRecordsBefore(offset);
    if (!res.ok) return { partitionIndex: partition, lowWatermark: -1, errorCode: ErrorCode.OFFSET_OUT_OF_RANGE };
    return { partitionIndex: partition, lowWatermark: res.lowWatermark, errorCode: 0 };
  } catch (err) {
    return { partitionIndex: partition, lowWatermark: -1, errorCode: storageFailure(b, err, 'delete records').errorCode };
  }
}

export const deleteRecordsHandler: ApiHandler<DeleteRecordsRequest, DeleteRecordsResponseIn> = {
  key: ApiKey.DeleteRecords,
  minVersion: 0,
  maxVersion: 2,
  async handle(req, ctx) {
    const topics = [];
    for (const t of req.topics) {
      topics.push({ name: t.name, partitions: await Promise.all(t.partitions.map((p) => deleteBefore(ctx.broker, t.name, p.partitionIndex, p.offset))) });
    }
    return { throttleTimeMs: 0, topics };
  },
};
