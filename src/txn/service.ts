/**
 * TxnService: the transaction coordinator as the Kafka handlers (BrokerServices.txn) and the partition side
 * (TxnVerifier) see it. On the single-process broker it is the TxnCoordinator itself; on the sharded broker a
 * router with this face (src/shard/txn.ts) forwards each transactional id's calls to the shard owning its
 * `__transaction_state` partition. Arguments and results are plain data (they cross shards v8-serialized), except
 * `opts.signal`, which stays on the connection's shard (see src/shard/txn.ts).
 */
import type { TxnCoordinator } from './coordinator.js';

export type TxnService = Pick<TxnCoordinator, 'ensureStateTopic' | 'partitionFor' | 'initProducerId' | 'addPartitions' | 'addOffsets' | 'endTxn' | 'describeTransaction' | 'verifyPartition'> & {
  /** Every coordinator's transactions (on shards: all of them, asked in parallel). */
  listTransactions(filter: Parameters<TxnCoordinator['listTransactions']>[0]): ReturnType<TxnCoordinator['listTransactions']> | Promise<ReturnType<TxnCoordinator['listTransactions']>>;
};
