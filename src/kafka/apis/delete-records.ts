/**
 * DeleteRecords (key 21), v0-2: raises a partition's log start offset (Offset -1 = the high watermark);
 * whole segments below it are deleted. Offsets above the high watermark are OFFSET_OUT_OF_RANGE.
 */
import { ApiKey, type DeleteRecordsRequest, type DeleteRecordsResponseIn } from '../../protocol/messages/index.js';
import type { ApiHandler, BrokerServices } from '../context.js';

async function deleteBefore(b: BrokerServices, topic: string, partition: number, offset: number): Promise<{ partitionIndex: number; lowWatermark: number; errorCode: number }> {
  return { partitionIndex: partition, ...(await b.partitions.deleteRecords(topic, partition, offset)) };
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
