/** Consumer groups: the classic group coordinator and committed offsets in `__consumer_offsets`. */
export { GroupCoordinator, groupCoordinatorDefaults, coordinatorConfigOf, convertOffsetCommitError, groupMarkerListener } from './coordinator.js';
export { brokerGroupCoordinator, OFFSETS_TOPIC_CONFIGS } from './broker-coordinator.js';
export type {
  GroupCoordinatorConfig,
  GroupCoordinatorOptions,
  JoinGroupInput,
  SyncGroupInput,
  MemberRef,
  OffsetCommitEntry,
  TxnOffsetCommitEntry,
  TxnOffsetCommitInput,
  PartitionError,
  FetchedOffset,
  GroupDescription,
  GroupListing,
  GroupService,
} from './coordinator.js';
export { GroupState, type GroupStateName, type JoinResult, type SyncResult, type Protocol } from './group.js';
export {
  InternalTopicPartitions,
  brokerInternalTopic,
  replayedPayload,
  type InternalTopic,
  type InternalTopicDeps,
  type InternalTopicPartitionsOptions,
  type Logger,
  type CoordinatorRoute,
} from './internal-topic.js';
export { OFFSETS_TOPIC, javaStringHashCode, partitionForGroup } from './partitioning.js';
export { MemoryOffsetsStore, type OffsetsStore } from './store.js';
export { LogOffsetsStore } from './log-store.js';
export { systemTimers, type Timers, type TimerHandle } from './timers.js';
export * from './records.js';
export * from './consumer-protocol.js';
