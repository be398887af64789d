/**
 * The broker's transaction coordinator: a TxnCoordinator over the broker's partition logs of
 * `__transaction_state`, on the process clock. The internal topic is created on first use with
 * cleanup.policy=compact (retention never deletes a transactional id's state) and Kafka's
 * transaction.state.log.num.partitions.
 */
import type { PartitionLog } from '../log/index.js';
import { brokerInternalTopic, systemTimers, type InternalTopicDeps } from '../groups/index.js';
import { txnCoordinatorConfigOf, type TxnCoordinatorConfig } from './config.js';
import { TxnCoordinator, type Logger } from './coordinator.js';
import { LogTxnStateStore } from './state-store.js';
import { TRANSACTION_STATE_TOPIC, type MarkerWriter, type ProducerIdSource } from './types.js';

export const TRANSACTION_STATE_TOPIC_CONFIGS: Readonly<Record<string, string>> = { 'cleanup.policy': 'compact' };

export interface BrokerTxnDeps extends InternalTopicDeps {
  config: TxnCoordinatorConfig & { offsetsTopicPartitions: number };
  logger: Logger;
  markers: MarkerWriter;
  producerIds: ProducerIdSource;
  partitionLog(topic: string, partition: number): PartitionLog | undefined;
  /** Whether the topic has that partition (a marker to a deleted one is dropped). */
  partitionExists(topic: string, partition: number): boolean;
  /** The `__transaction_state` partitions this coordinator owns (a shard's share; default: all). */
  ownedPartitions?: () => readonly number[];
}

export function brokerTxnCoordinator(d: BrokerTxnDeps): TxnCoordinator {
  return new TxnCoordinator({
    config: { ...txnCoordinatorConfigOf(d.config), offsetsTopicPartitions: d.config.offsetsTopicPartitions },
    store: new LogTxnStateStore((t, p) => d.partitionLog(t, p)),
    markers: d.markers,
    producerIds: d.producerIds,
    timers: systemTimers,
    logger: d.logger,
    partitionExists: d.partitionExists,
    ...(d.ownedPartitions ? { ownedPartitions: d.ownedPartitions } : {}),
    stateTopic: brokerInternalTopic(d, TRANSACTION_STATE_TOPIC, d.config.transactionStateTopicPartitions, TRANSACTION_STATE_TOPIC_CONFIGS),
  });
}
