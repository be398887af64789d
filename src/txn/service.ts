/**
 * TxnService: the transaction coordinator as the Kafka handlers (BrokerServices.txn) and the partition side
 * (TxnVerifier) see it. On the single-process broker it is the TxnCoordinator itself; on the sharded broker a
 * router with this face (src/shard/txn.ts) forwards each transactional id's calls to the shard owning its
 * `__transaction_state` partition. Arguments and results are plain data (they cross shards v8-serialized), except
 * `opts.signal`, which stays on the connection's shard (see src/shard/txn.ts).
 */
import type { Logger } from './coordinator.js';
import type { TxnCoordinator } from './coordinator.js';
import type { MarkerOutcome, MarkerWriter, TopicPartition, TxnMarker } from './types.js';
import { ErrorCode } from '../protocol/errors.js';

export type TxnService = Pick<TxnCoordinator, 'ensureStateTopic' | 'partitionFor' | 'initProducerId' | 'addPartitions' | 'addOffsets' | 'endTxn' | 'describeTransaction' | 'verifyPartition'> & {
  /** Every coordinator's transactions (on shards: all of them, asked in parallel). */
  listTransactions(filter: Parameters<TxnCoordinator['listTransactions']>[0]): ReturnType<TxnCoordinator['listTransactions']> | Promise<ReturnType<TxnCoordinator['listTransactions']>>;
};

/**
 * The MarkerWriter over the broker's partition operations: PartitionOps.writeMarkers once the partition side
 * provides it. Until then (a broker built without it) every marker is answered as written, with a warning once:
 * such a broker has no transactional read path for a marker to matter to.
 */
export function markerWriterOf(partitions: object, logger: Pick<Logger, 'warn'>): MarkerWriter {
  const w = partitions as Partial<MarkerWriter>;
  if (typeof w.writeMarkers === 'function') return { writeMarkers: (tps, marker) => w.writeMarkers!.call(partitions, tps, marker) };
  let warned = false;
  return {
    async writeMarkers(tps: readonly TopicPartition[], marker: TxnMarker): Promise<MarkerOutcome[]> {
      if (!warned) {
        warned = true;
        logger.warn({ producerId: marker.producerId }, 'this broker\'s partitions cannot take transaction markers; markers are skipped');
      }
      return tps.map((tp) => ({ topic: tp.topic, partition: tp.partition, errorCode: ErrorCode.NONE }));
    },
  };
}
