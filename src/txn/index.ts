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
