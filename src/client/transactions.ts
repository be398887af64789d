/**
 * Transaction admin requests (tern txn): list the transactional ids every broker coordinates (ListTransactions,
 * filtered by state, producer id and, v1+, by running longer than a duration) and describe one
 * (DescribeTransactions at its coordinator, found with FindCoordinator key type 1). COORDINATOR_LOAD_IN_PROGRESS,
 * COORDINATOR_NOT_AVAILABLE and NOT_COORDINATOR are retried a few times.
 */
import { ErrorCode } from '../protocol/errors.js';
import { ApiKey } from '../protocol/messages/index.js';
import { KafkaError, kafkaError } from './errors.js';
import type { Connection } from './connection.js';
import type { Router } from './router.js';

const TRANSACTION_KEY_TYPE = 1;
const COORDINATOR_RETRIES_MAX = 10;
const COORDINATOR_RETRY_MS = 200;
const RETRIABLE = new Set<number>([ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, ErrorCode.COORDINATOR_NOT_AVAILABLE, ErrorCode.NOT_COORDINATOR]);

export interface TransactionListing {
  transactionalId: string;
  producerId: number;
  state: string;
}

export interface TransactionInfo {
  transactionalId: string;
  state: string;
  producerId: number;
  producerEpoch: number;
  transactionTimeoutMs: number;
  /** -1 when no transaction was started. */
  transactionStartTimeMs: number;
  topics: { topic: string; partitions: number[] }[];
}

export interface ListTransactionsOptions {
  states?: readonly string[];
  producerIds?: readonly number[];
  /** Only transactions running longer than this (ms); needs ListTransactions v1. */
  durationMs?: number;
}

async function coordinator(router: Router, transactionalId: string): Promise<Connection> {
  const conn = await router.any();
  const resp = await conn.request(ApiKey.FindCoordinator, { key: transactionalId, keyType: TRANSACTION_KEY_TYPE });
  const err = kafkaError(resp.errorCode, resp.errorMessage);
  if (err !== null) throw err;
  return router.node(resp.nodeId);
}

/** Every transactional id of every broker, sorted by id. */
export async function listTransactions(router: Router, o: ListTransactionsOptions = {}): Promise<TransactionListing[]> {
  const md = await router.metadata([]);
  const out: TransactionListing[] = [];
  for (const b of md.brokers) {
    const conn = await router.node(b.nodeId);
    const version = conn.requireVersion(ApiKey.ListTransactions);
    const durationMs = o.durationMs ?? -1;
    if (durationMs >= 0 && version < 1) throw new KafkaError(ErrorCode.UNSUPPORTED_VERSION, `filtering transactions by duration needs ListTransactions v1; broker ${conn.broker} supports v${version}`);
    for (let attempt = 0; ; attempt++) {
      const resp = await conn.request(ApiKey.ListTransactions, { stateFilters: [...(o.states ?? [])], producerIdFilters: [...(o.producerIds ?? [])], durationFilter: durationMs });
      if (resp.errorCode === ErrorCode.NONE) {
        if (resp.unknownStateFilters.length > 0) throw new KafkaError(ErrorCode.INVALID_REQUEST, `unknown transaction states: ${resp.unknownStateFilters.join(', ')}`);
        for (const t of resp.transactionStates) out.push({ transactionalId: t.transactionalId, producerId: t.producerId, state: t.transactionState });
        break;
      }
      if (!RETRIABLE.has(resp.errorCode) || attempt >= COORDINATOR_RETRIES_MAX) throw new KafkaError(resp.errorCode, `broker ${conn.broker}`);
      await new Promise((res) => setTimeout(res, COORDINATOR_RETRY_MS));
    }
  }
  return out.sort((a, b) => (a.transactionalId < b.transactionalId ? -1 : a.transactionalId > b.transactionalId ? 1 : 0));
}

/** The transactional id's state at its coordinator; TRANSACTIONAL_ID_NOT_FOUND (as a KafkaError) when unknown. */
export async function describeTransaction(router: Router, transactionalId: string): Promise<TransactionInfo> {
  for (let attempt = 0; ; attempt++) {
    const conn = await coordinator(router, transactionalId);
    const resp = await conn.request(ApiKey.DescribeTransactions, { transactionalIds: [transactionalId] });
    const s = resp.transactionStates[0];
    if (s === undefined) throw new KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR, `no answer for transactional id '${transactionalId}'`);
    if (s.errorCode === ErrorCode.NONE) {
      return {
        transactionalId,
        state: s.transactionState,
        producerId: s.producerId,
        producerEpoch: s.producerEpoch,
        transactionTimeoutMs: s.transactionTimeoutMs,
        transactionStartTimeMs: s.transactionStartTimeMs,
        topics: s.topics.map((t) => ({ topic: t.topic, partitions: [...t.partitions] })),
      };
    }
    if (!RETRIABLE.has(s.errorCode) || attempt >= COORDINATOR_RETRIES_MAX) throw new KafkaError(s.errorCode, `transactional id '${transactionalId}'`);
    await new Promise((res) => setTimeout(res, COORDINATOR_RETRY_MS));
  }
}
