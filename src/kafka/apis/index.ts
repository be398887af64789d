/** The Kafka APIs Tern serves, by key; ApiVersions advertises exactly these. */
import type { ApiHandler } from '../context.js';
import { apiVersionsHandler } from './api-versions.js';
import { metadataHandler } from './metadata.js';
import { produceHandler } from './produce.js';
import { fetchHandler } from './fetch.js';
import { listOffsetsHandler } from './list-offsets.js';
import { createTopicsHandler } from './create-topics.js';
import { deleteTopicsHandler } from './delete-topics.js';
import { createPartitionsHandler } from './create-partitions.js';
import { describeConfigsHandler } from './describe-configs.js';
import { alterConfigsHandler, incrementalAlterConfigsHandler } from './alter-configs.js';
import { deleteRecordsHandler } from './delete-records.js';
import { describeClusterHandler } from './describe-cluster.js';
import { findCoordinatorHandler } from './find-coordinator.js';
import { joinGroupHandler } from './join-group.js';
import { syncGroupHandler } from './sync-group.js';
import { heartbeatHandler } from './heartbeat.js';
import { leaveGroupHandler } from './leave-group.js';
import { offsetCommitHandler } from './offset-commit.js';
import { offsetFetchHandler } from './offset-fetch.js';
import { describeGroupsHandler } from './describe-groups.js';
import { listGroupsHandler } from './list-groups.js';
import { deleteGroupsHandler } from './delete-groups.js';
import { offsetDeleteHandler } from './offset-delete.js';
import { describeProducersHandler } from './describe-producers.js';
import { txnOffsetCommitHandler } from './txn-offset-commit.js';
import { initProducerIdHandler } from './init-producer-id.js';
import { addPartitionsToTxnHandler } from './add-partitions-to-txn.js';
import { addOffsetsToTxnHandler } from './add-offsets-to-txn.js';
import { endTxnHandler } from './end-txn.js';
import { describeTransactionsHandler } from './describe-transactions.js';
import { listTransactionsHandler } from './list-transactions.js';

export { validateTopicConfigs } from './config-catalog.js';

export function servedApis(): ReadonlyMap<number, ApiHandler> {
  const map = new Map<number, ApiHandler>();
  const all: ApiHandler<never>[] = [
    metadataHandler,
    produceHandler,
    fetchHandler,
    listOffsetsHandler,
    createTopicsHandler,
    deleteTopicsHandler,
    createPartitionsHandler,
    describeConfigsHandler,
    alterConfigsHandler,
    incrementalAlterConfigsHandler,
    deleteRecordsHandler,
    describeClusterHandler,
    findCoordinatorHandler,
    // Consumer groups (issue 5). ConsumerGroupHeartbeat/ConsumerGroupDescribe (KIP-848) are deliberately absent.
    joinGroupHandler,
    syncGroupHandler,
    heartbeatHandler,
    leaveGroupHandler,
    offsetCommitHandler,
    offsetFetchHandler,
    describeGroupsHandler,
    listGroupsHandler,
    deleteGroupsHandler,
    offsetDeleteHandler,
    // Exactly-once (issue 6).
    describeProducersHandler,
    txnOffsetCommitHandler,
    // Transaction coordinator (issue 6). TxnOffsetCommit is the group side's.
    initProducerIdHandler,
    addPartitionsToTxnHandler,
    addOffsetsToTxnHandler,
    endTxnHandler,
    describeTransactionsHandler,
    listTransactionsHandler,
  ];
  for (const h of all) map.set(h.key, h as ApiHandler);
  const versions = apiVersionsHandler(() => map.values());
  map.set(versions.key, versions as ApiHandler);
  return map;
}
