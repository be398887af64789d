/**
 * Module face of src/client: a small Kafka client over the generated protocol codecs (used by the CLI,
 * bench/ and tests). `KafkaClient` routes by partition leader; `Connection` is one negotiated broker
 * connection for callers that want raw requests.
 */
export { KafkaClient, type ClientOptions, type FetchOptions, type FetchPartitionRequest, type FetchResult } from './client.js';
export {
  Connection,
  CONNECT_TIMEOUT_MS_DEFAULT,
  FRAME_BYTES_MAX_DEFAULT,
  IN_FLIGHT_REQUESTS_MAX_DEFAULT,
  REQUEST_TIMEOUT_MS_DEFAULT,
  type ConnectionOptions,
  type RequestOptions,
} from './connection.js';
export { ConnectionError, KafkaError, type ConnectionErrorCode } from './errors.js';
export { decodeRecords, type ConsumedRecord, type DecodedRecords, type DecodeOptions } from './decode-records.js';
export { parseBroker, DEFAULT_PORT, type HostPort } from './router.js';
export { CLIENT_API_VERSIONS, negotiateVersions, type ApiRequest, type ApiResponse, type ClientApiKey, type VersionRange } from './versions.js';
export type { AdminOptions } from './admin.js';
export * from './types.js';
export { murmur2, partitionForKey } from './partitioner.js';
export type { GroupListing, GroupInfo, GroupMemberInfo, CommittedOffsetInfo } from './groups.js';
export type { TransactionListing, TransactionInfo, ListTransactionsOptions } from './transactions.js';
