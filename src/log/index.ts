/**
 * src/log: the partition log. Kafka's on-disk layout (`<dataDir>/<topic>-<partition>/%020d.log|.index|
 * .timeindex`), record batches stored exactly as produced, acknowledged only once synced (group commit across
 * partitions), recovered by CRC scan after a crash, trimmed by retention and DeleteRecords.
 * The Raft log will be this log.
 */
export { LogManager, CLEAN_SHUTDOWN_FILE, parsePartitionDir, recoveryConcurrencyMax } from './log-manager.js';
export type { LogManagerOptions, PartitionId } from './log-manager.js';
export { PartitionLog, silentLogger } from './partition-log.js';
export type {
  AppendBatch,
  AppendResult,
  DeleteRecordsResult,
  Logger,
  PartitionLogOptions,
  ReadResult,
  TimestampAndOffset,
} from './partition-log.js';
export { SyncScheduler, type SyncSchedulerOptions, type Syncable } from './sync-scheduler.js';
export { BatchCache, PartitionBatchCache } from './batch-cache.js';
export {
  defaultLogConfig,
  isLogConfigName,
  logConfigDefaults,
  logConfigFromKafka,
  logConfigToKafka,
  timestampAfterMaxMs,
  timestampBeforeMaxMs,
  validateLogConfig,
  batchCacheBytesMax,
  readBytesMax,
  headerScanWindowBytes,
  recoveryReadBytes,
  flushDelayUsMax,
  retentionCheckIntervalMsDefault,
  segmentBytesMax,
  relativeOffsetMax,
} from './config.js';
export type { CleanupPolicy, LogConfig, TimestampType } from './config.js';
export { LogError, KafkaStorageError, LogClosedError, CorruptLogError, type LogErrorCode } from './errors.js';
export { OffsetIndex, OFFSET_INDEX_ENTRY_BYTES } from './offset-index.js';
export { TimeIndex, TIME_INDEX_ENTRY_BYTES } from './time-index.js';
export { segmentFileName } from './segment.js';
export { replayBatches, replayReadBytes, TopicLogStore } from './replay.js';
export { inlineOffload, firstBadCrcIn, type CpuOffload } from './offload.js';
