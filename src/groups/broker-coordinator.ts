/**
 * The broker's group coordinator: a GroupCoordinator owning every partition of `__consumer_offsets`, stored in
 * the broker's partition logs, on the process clock. The internal topic is created on first use with
 * cleanup.policy=compact (so retention never deletes committed offsets; compaction itself is not implemented
 * yet, see src/log/config.ts) and Kafka's offsets.topic.num.partitions.
 */
import type { PartitionLog } from '../log/index.js';
import { GroupCoordinator, coordinatorConfigOf, type GroupCoordinatorConfig } from './coordinator.js';
import { brokerInternalTopic, type InternalTopicDeps, type Logger } from './internal-topic.js';
import { LogOffsetsStore } from './log-store.js';
import { OFFSETS_TOPIC } from './partitioning.js';
import { systemTimers } from './timers.js';

export const OFFSETS_TOPIC_CONFIGS: Readonly<Record<string, string>> = { 'cleanup.policy': 'compact' };

export interface BrokerGroupDeps extends InternalTopicDeps {
  config: GroupCoordinatorConfig;
  logger: Logger;
  partitionLog(topic: string, partition: number): PartitionLog | undefined;
  /** The `__consumer_offsets` partitions this coordinator owns (a shard's share; default: all). */
  ownedPartitions?: () => readonly number[];
}

export function brokerGroupCoordinator(d: BrokerGroupDeps): GroupCoordinator {
  return new GroupCoordinator({
    config: coordinatorConfigOf(d.config),
    store: new LogOffsetsStore((t, p) => d.partitionLog(t, p)),
    timers: systemTimers,
    logger: d.logger,
    ...(d.ownedPartitions ? { ownedPartitions: d.ownedPartitions } : {}),
    offsetsTopic: brokerInternalTopic(d, OFFSETS_TOPIC, d.config.offsetsTopicPartitions, OFFSETS_TOPIC_CONFIGS),
  });
}
