/** Producer ids, idempotence and transactions (issue 6). */
export * from './types.js';
export {
  ProducerStateManager,
  ProducerEntry,
  lastSequenceOf,
  producerBatchesRetainedMax,
  producerStateDefaults,
  validateProducerStateConfig,
  type BatchMetadata,
  type CompletedTxn,
  type DataCheck,
  type ProducerBatch,
  type ProducerStateConfig,
} from './producer-state.js';
export { PartitionTxn, producerSnapshotsKeptMax, producerExpirationCheckIntervalMs, snapshotFileName, waitUntilDurable, type DataAppend, type PartitionTxnOptions } from './partition-txn.js';
export { AbortedTxnIndex, TXN_INDEX_ENTRY_BYTES, decodeTxnIndex, encodeTxnIndexEntry, txnIndexFileName, type AbortedTxnEntry } from './txn-index.js';
export { buildMarkerBatch, parseMarker, CONTROL_TYPE_ABORT, CONTROL_TYPE_COMMIT, type ParsedMarker } from './markers.js';
export * from './config.js';
export * from './records.js';
export * from './coordinator.js';
export { brokerTxnCoordinator, TRANSACTION_STATE_TOPIC_CONFIGS, type BrokerTxnDeps } from './broker-coordinator.js';
export { ProducerIdBlocks, BlockProducerIdSource, ProducerIdError, PRODUCER_ID_BLOCK_SIZE, PRODUCER_ID_LIMIT, PRODUCER_IDS_FILE, type ProducerIdBlock } from './producer-ids.js';
export { LogTxnStateStore, type TxnStateStore } from './state-store.js';
export type { TxnService } from './service.js';
