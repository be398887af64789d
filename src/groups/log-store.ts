/**
 * LogOffsetsStore: the OffsetsStore over the broker's partition logs of `__consumer_offsets` (src/log's
 * TopicLogStore): appends go through PartitionLog.append like a Produce with acks=all (durable when resolved,
 * answering the batch's offset); reads replay the partition from the log start in whole batches (replayBatches).
 *
 * Appends go straight into the log, not through the Produce path (LocalPartitions): the coordinator's own batches
 * are not a client's, so no sequence check applies to its transactional offset batches (Kafka appends them with
 * origin = coordinator).
 */
import { TopicLogStore, type PartitionLog } from '../log/index.js';
import type { OffsetsStore } from './store.js';
import { OFFSETS_TOPIC } from './partitioning.js';

export class LogOffsetsStore extends TopicLogStore implements OffsetsStore {
  constructor(logOf: (topic: string, partition: number) => PartitionLog | undefined) {
    super(OFFSETS_TOPIC, logOf);
  }
}
