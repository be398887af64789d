/** Plain result and argument types of the client API (no wire shapes: those stay in protocol/messages). */
import type { KafkaError } from './errors.js';

export interface BrokerInfo {
  nodeId: number;
  host: string;
  port: number;
  rack: string | null;
}

export interface PartitionInfo {
  partition: number;
  /** Node id of the leader, -1 when none. */
  leader: number;
  leaderEpoch: number;
  replicas: number[];
  isr: number[];
  offlineReplicas: number[];
  error: KafkaError | null;
}

export interface TopicInfo {
  name: string;
  /** 32 hex digits; all zeros when the broker's Metadata version has no topic ids. */
  topicId: string;
  isInternal: boolean;
  partitions: PartitionInfo[];
  error: KafkaError | null;
}

export interface ClusterMetadata {
  clusterId: string | null;
  controllerId: number;
  brokers: BrokerInfo[];
  topics: TopicInfo[];
}

export interface ClusterInfo {
  clusterId: string | null;
  controllerId: number;
  brokers: BrokerInfo[];
}

export interface NewTopic {
  name: string;
  /** Omitted: the broker's default (num.partitions). */
  partitions?: number;
  /** Omitted: the broker's default (default.replication.factor). */
  replicationFactor?: number;
  configs?: Record<string, string>;
}

/** Outcome for one topic (or resource) of a multi-item admin request. */
export interface ItemResult {
  name: string;
  error: KafkaError | null;
}

export interface CreateTopicResult extends ItemResult {
  topicId: string;
  /** -1 when the broker's CreateTopics version does not report it. */
  partitions: number;
  replicationFactor: number;
}

/** Kafka's ConfigResource.Type. */
export const ConfigResourceType = { Topic: 2, Broker: 4, BrokerLogger: 8 } as const;
export type ConfigResourceTypeId = (typeof ConfigResourceType)[keyof typeof ConfigResourceType];

/** Kafka's DescribeConfigsResponse.ConfigSource, by id. */
export const CONFIG_SOURCES = [
  'UNKNOWN',
  'DYNAMIC_TOPIC_CONFIG',
  'DYNAMIC_BROKER_CONFIG',
  'DYNAMIC_DEFAULT_BROKER_CONFIG',
  'STATIC_BROKER_CONFIG',
  'DEFAULT_CONFIG',
  'DYNAMIC_BROKER_LOGGER_CONFIG',
  'CLIENT_METRICS_CONFIG',
  'GROUP_CONFIG',
] as const;

export interface ConfigResource {
  type: ConfigResourceTypeId;
  name: string;
  /** Only these keys; omitted: all. */
  keys?: string[];
}

export interface ConfigEntry {
  name: string;
  value: string | null;
  readOnly: boolean;
  isDefault: boolean;
  /** One of CONFIG_SOURCES. */
  source: string;
  sensitive: boolean;
}

export interface ConfigResourceResult extends ItemResult {
  type: number;
  configs: ConfigEntry[];
}

/** Kafka's IncrementalAlterConfigs OpType. */
export const ConfigOp = { Set: 0, Delete: 1, Append: 2, Subtract: 3 } as const;
export type ConfigOpId = (typeof ConfigOp)[keyof typeof ConfigOp];

export interface ConfigChange {
  name: string;
  op: ConfigOpId;
  /** Ignored for Delete. */
  value?: string | null;
}

export interface DeleteRecordsResult {
  partition: number;
  /** The partition's new log start offset, -1 on error. */
  lowWatermark: number;
  error: KafkaError | null;
}

/** Special timestamps of ListOffsets. */
export const OffsetSpec = { Latest: -1, Earliest: -2, MaxTimestamp: -3 } as const;

export interface ListedOffset {
  offset: number;
  timestamp: number;
  leaderEpoch: number;
}

/** Produce acknowledgements: 0 (none, no response), 1 (leader), -1 (all in-sync replicas). */
export type Acks = 0 | 1 | -1;
