/**
 * The transaction coordinator's settings, under Kafka's names (in each field's comment) with Kafka's defaults,
 * and their validation (`txnConfigOf`): the broker config carries them (BrokerConfig extends TxnCoordinatorConfig)
 * and every value is checked once at start, as the group settings are.
 */

export interface TxnCoordinatorConfig {
  /** Kafka `transaction.state.log.num.partitions`: partitions of `__transaction_state`. */
  transactionStateTopicPartitions: number;
  /** Kafka `transaction.max.timeout.ms`: larger InitProducerId timeouts get INVALID_TRANSACTION_TIMEOUT. */
  transactionMaxTimeoutMs: number;
  /** Kafka `transactional.id.expiration.ms`: an idle Empty/Complete transactional id is removed after it. */
  transactionalIdExpirationMs: number;
  /** Kafka `transaction.abort.timed.out.transaction.cleanup.interval.ms`: how often timed-out transactions are aborted. */
  transactionAbortTimedOutIntervalMs: number;
  /** Kafka `transaction.remove.expired.transaction.cleanup.interval.ms`: how often expired ids are removed. */
  transactionRemoveExpiredIntervalMs: number;
  /** Transactional ids one coordinator holds; a new one beyond it gets COORDINATOR_NOT_AVAILABLE (Kafka: unbounded). */
  transactionalIdsMax: number;
  /** Partitions in one transaction; an AddPartitionsToTxn beyond it gets INVALID_REQUEST (Kafka: unbounded). */
  transactionPartitionsMax: number;
}

export const txnCoordinatorDefaults: TxnCoordinatorConfig = {
  transactionStateTopicPartitions: 50,
  transactionMaxTimeoutMs: 900_000,
  transactionalIdExpirationMs: 7 * 24 * 60 * 60 * 1000,
  transactionAbortTimedOutIntervalMs: 10_000,
  transactionRemoveExpiredIntervalMs: 3_600_000,
  transactionalIdsMax: 100_000,
  transactionPartitionsMax: 10_000,
};

/** Upper bounds of the settings (each a named maximum with its unit). */
export const TXN_STATE_TOPIC_PARTITIONS_MAX = 1000;
export const TXN_TIMEOUT_MS_MAX = 0x7fffffff;
export const TXN_INTERVAL_MS_MAX = 24 * 60 * 60 * 1000;

export interface TxnConfigOptions {
  transactionStateTopicPartitions?: number;
  transactionMaxTimeoutMs?: number;
  transactionalIdExpirationMs?: number;
  transactionAbortTimedOutIntervalMs?: number;
  transactionRemoveExpiredIntervalMs?: number;
}

function intIn(v: number, what: string, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw Object.assign(new Error(`${what} must be an integer in ${min}..${max}, got ${v}`), { code: 'ERR_TERN_CONFIG' });
  return v;
}

/** Validated settings from broker options (ConfigError-shaped errors: code ERR_TERN_CONFIG). */
export function txnConfigOf(o: TxnConfigOptions): TxnCoordinatorConfig {
  const d = txnCoordinatorDefaults;
  return {
    transactionStateTopicPartitions: intIn(o.transactionStateTopicPartitions ?? d.transactionStateTopicPartitions, 'transaction.state.log.num.partitions', 1, TXN_STATE_TOPIC_PARTITIONS_MAX),
    transactionMaxTimeoutMs: intIn(o.transactionMaxTimeoutMs ?? d.transactionMaxTimeoutMs, 'transaction.max.timeout.ms', 1, TXN_TIMEOUT_MS_MAX),
    transactionalIdExpirationMs: intIn(o.transactionalIdExpirationMs ?? d.transactionalIdExpirationMs, 'transactional.id.expiration.ms', 1, TXN_TIMEOUT_MS_MAX),
    transactionAbortTimedOutIntervalMs: intIn(o.transactionAbortTimedOutIntervalMs ?? d.transactionAbortTimedOutIntervalMs, 'transaction.abort.timed.out.transaction.cleanup.interval.ms', 1, TXN_INTERVAL_MS_MAX),
    transactionRemoveExpiredIntervalMs: intIn(o.transactionRemoveExpiredIntervalMs ?? d.transactionRemoveExpiredIntervalMs, 'transaction.remove.expired.transaction.cleanup.interval.ms', 1, TXN_INTERVAL_MS_MAX),
    transactionalIdsMax: d.transactionalIdsMax,
    transactionPartitionsMax: d.transactionPartitionsMax,
  };
}

/** The coordinator's settings out of a broker config (which names them the same). */
export function txnCoordinatorConfigOf(c: TxnCoordinatorConfig): TxnCoordinatorConfig {
  return {
    transactionStateTopicPartitions: c.transactionStateTopicPartitions,
    transactionMaxTimeoutMs: c.transactionMaxTimeoutMs,
    transactionalIdExpirationMs: c.transactionalIdExpirationMs,
    transactionAbortTimedOutIntervalMs: c.transactionAbortTimedOutIntervalMs,
    transactionRemoveExpiredIntervalMs: c.transactionRemoveExpiredIntervalMs,
    transactionalIdsMax: c.transactionalIdsMax,
    transactionPartitionsMax: c.transactionPartitionsMax,
  };
}
