/**
 * The APIs this client speaks, the version range its code fills correctly for each, and the request/response
 * types of each (from the generated codecs). ApiVersions negotiation picks, per API, the highest version in
 * both the broker's range and ours.
 *
 * Why the caps: Fetch stays <= 12 because v13+ names topics by id only (we would need topic ids from Metadata
 * for every fetch); Produce >= 3 because older versions carry message-format v0/v1, which we never build;
 * Metadata >= 1 because v0 cannot ask for "all topics". Every other API is implemented up to the newest
 * version the generated codecs know, filling the fields each version adds.
 */
import { ApiKey } from '../protocol/messages/index.js';
import type {
  AlterConfigsRequestIn,
  AlterConfigsResponse,
  ApiVersionsRequestIn,
  ApiVersionsResponse,
  CreatePartitionsRequestIn,
  CreatePartitionsResponse,
  CreateTopicsRequestIn,
  CreateTopicsResponse,
  DeleteRecordsRequestIn,
  DeleteRecordsResponse,
  DeleteTopicsRequestIn,
  DeleteTopicsResponse,
  DescribeClusterRequestIn,
  DescribeClusterResponse,
  DescribeConfigsRequestIn,
  DescribeConfigsResponse,
  DeleteGroupsRequestIn,
  DeleteGroupsResponse,
  DescribeTransactionsRequestIn,
  DescribeTransactionsResponse,
  ListTransactionsRequestIn,
  ListTransactionsResponse,
  DescribeGroupsRequestIn,
  DescribeGroupsResponse,
  FindCoordinatorRequestIn,
  FindCoordinatorResponse,
  HeartbeatRequestIn,
  HeartbeatResponse,
  JoinGroupRequestIn,
  JoinGroupResponse,
  LeaveGroupRequestIn,
  LeaveGroupResponse,
  SyncGroupRequestIn,
  SyncGroupResponse,
  ListGroupsRequestIn,
  ListGroupsResponse,
  OffsetCommitRequestIn,
  OffsetCommitResponse,
  OffsetFetchRequestIn,
  OffsetFetchResponse,
  FetchRequestIn,
  FetchResponse,
  IncrementalAlterConfigsRequestIn,
  IncrementalAlterConfigsResponse,
  ListOffsetsRequestIn,
  ListOffsetsResponse,
  MetadataRequestIn,
  MetadataResponse,
  ProduceRequestIn,
  ProduceResponse,
} from '../protocol/messages/index.js';

/** Request (input form) and response types of each API the client uses. */
export interface ApiTypes {
  [ApiKey.Produce]: { request: ProduceRequestIn; response: ProduceResponse };
  [ApiKey.Fetch]: { request: FetchRequestIn; response: FetchResponse };
  [ApiKey.ListOffsets]: { request: ListOffsetsRequestIn; response: ListOffsetsResponse };
  [ApiKey.Metadata]: { request: MetadataRequestIn; response: MetadataResponse };
  [ApiKey.ApiVersions]: { request: ApiVersionsRequestIn; response: ApiVersionsResponse };
  [ApiKey.CreateTopics]: { request: CreateTopicsRequestIn; response: CreateTopicsResponse };
  [ApiKey.DeleteTopics]: { request: DeleteTopicsRequestIn; response: DeleteTopicsResponse };
  [ApiKey.DeleteRecords]: { request: DeleteRecordsRequestIn; response: DeleteRecordsResponse };
  [ApiKey.DescribeConfigs]: { request: DescribeConfigsRequestIn; response: DescribeConfigsResponse };
  [ApiKey.AlterConfigs]: { request: AlterConfigsRequestIn; response: AlterConfigsResponse };
  [ApiKey.CreatePartitions]: { request: CreatePartitionsRequestIn; response: CreatePartitionsResponse };
  [ApiKey.IncrementalAlterConfigs]: { request: IncrementalAlterConfigsRequestIn; response: IncrementalAlterConfigsResponse };
  [ApiKey.DescribeCluster]: { request: DescribeClusterRequestIn; response: DescribeClusterResponse };
  [ApiKey.FindCoordinator]: { request: FindCoordinatorRequestIn; response: FindCoordinatorResponse };
  [ApiKey.ListGroups]: { request: ListGroupsRequestIn; response: ListGroupsResponse };
  [ApiKey.DescribeGroups]: { request: DescribeGroupsRequestIn; response: DescribeGroupsResponse };
  [ApiKey.OffsetFetch]: { request: OffsetFetchRequestIn; response: OffsetFetchResponse };
  [ApiKey.OffsetCommit]: { request: OffsetCommitRequestIn; response: OffsetCommitResponse };
  [ApiKey.DeleteGroups]: { request: DeleteGroupsRequestIn; response: DeleteGroupsResponse };
  [ApiKey.JoinGroup]: { request: JoinGroupRequestIn; response: JoinGroupResponse };
  [ApiKey.SyncGroup]: { request: SyncGroupRequestIn; response: SyncGroupResponse };
  [ApiKey.Heartbeat]: { request: HeartbeatRequestIn; response: HeartbeatResponse };
  [ApiKey.LeaveGroup]: { request: LeaveGroupRequestIn; response: LeaveGroupResponse };
  [ApiKey.DescribeTransactions]: { request: DescribeTransactionsRequestIn; response: DescribeTransactionsResponse };
  [ApiKey.ListTransactions]: { request: ListTransactionsRequestIn; response: ListTransactionsResponse };
}

export type ClientApiKey = keyof ApiTypes;
export type ApiRequest<K extends ClientApiKey> = ApiTypes[K]['request'];
export type ApiResponse<K extends ClientApiKey> = ApiTypes[K]['response'];

export interface VersionRange {
  min: number;
  max: number;
}

/** Versions the client code implements, per API. */
export const CLIENT_API_VERSIONS: ReadonlyMap<ClientApiKey, VersionRange> = new Map<ClientApiKey, VersionRange>([
  [ApiKey.Produce, { min: 3, max: 11 }],
  [ApiKey.Fetch, { min: 4, max: 12 }],
  [ApiKey.ListOffsets, { min: 1, max: 10 }],
  [ApiKey.Metadata, { min: 1, max: 12 }],
  [ApiKey.ApiVersions, { min: 0, max: 3 }],
  [ApiKey.CreateTopics, { min: 0, max: 7 }],
  [ApiKey.DeleteTopics, { min: 0, max: 6 }],
  [ApiKey.DeleteRecords, { min: 0, max: 2 }],
  [ApiKey.DescribeConfigs, { min: 0, max: 4 }],
  [ApiKey.AlterConfigs, { min: 0, max: 2 }],
  [ApiKey.CreatePartitions, { min: 0, max: 3 }],
  [ApiKey.IncrementalAlterConfigs, { min: 0, max: 1 }],
  [ApiKey.DescribeCluster, { min: 0, max: 1 }],
  // Group admin (tern group): FindCoordinator < 4 names one key; OffsetFetch 2-7 has one group with a
  // top-level error; OffsetCommit 2+ has generation/member (simple commits use -1/'').
  [ApiKey.FindCoordinator, { min: 1, max: 3 }],
  [ApiKey.ListGroups, { min: 0, max: 4 }],
  [ApiKey.DescribeGroups, { min: 0, max: 5 }],
  [ApiKey.OffsetFetch, { min: 2, max: 7 }],
  [ApiKey.OffsetCommit, { min: 2, max: 8 }],
  [ApiKey.DeleteGroups, { min: 0, max: 2 }],
  // Group membership (bench/groups.ts drives the protocol directly; callers fill every field of v0-9).
  [ApiKey.JoinGroup, { min: 0, max: 9 }],
  [ApiKey.SyncGroup, { min: 0, max: 5 }],
  [ApiKey.Heartbeat, { min: 0, max: 4 }],
  [ApiKey.LeaveGroup, { min: 0, max: 5 }],
  // Transaction admin (tern txn).
  [ApiKey.DescribeTransactions, { min: 0, max: 0 }],
  [ApiKey.ListTransactions, { min: 0, max: 1 }],
]);

/**
 * Picks, for every API the client implements, the highest version both sides support. APIs the broker does
 * not list, or whose ranges do not overlap ours, are absent from the result.
 */
export function negotiateVersions(broker: readonly { apiKey: number; minVersion: number; maxVersion: number }[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const b of broker) {
    const ours = CLIENT_API_VERSIONS.get(b.apiKey as ClientApiKey);
    if (ours === undefined) continue;
    const max = Math.min(ours.max, b.maxVersion);
    if (max >= Math.max(ours.min, b.minVersion)) out.set(b.apiKey, max);
  }
  return out;
}
