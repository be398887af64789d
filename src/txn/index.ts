/** Producer ids, idempotence and transactions (issue 6). */
export * from './types.js';
export * from './config.js';
export * from './records.js';
export * from './coordinator.js';
export { brokerTxnCoordinator, TRANSACTION_STATE_TOPIC_CONFIGS, type BrokerTxnDeps } from './broker-coordinator.js';
export { ProducerIdBlocks, BlockProducerIdSource, ProducerIdError, PRODUCER_ID_BLOCK_SIZE, PRODUCER_ID_LIMIT, PRODUCER_IDS_FILE, type ProducerIdBlock } from './producer-ids.js';
export { LogTxnStateStore, type TxnStateStore } from './state-store.js';
export { markerWriterOf, type TxnService } from './service.js';
