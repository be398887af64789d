/**
 * Transactions on a sharded broker. A transactional id is coordinated by the shard that owns its
 * `__transaction_state` partition (the id's hash, as in Kafka), so its state lives beside that partition's log.
 * Every shard runs a TxnCoordinator for the partitions it owns; this router gives the Kafka handlers and the
 * partition side's verifier (KIP-890 part 1) the same face (TxnService) and forwards each call to the owning
 * shard over the shard links, v8-serialized. InitProducerId without a transactional id (idempotent producers)
 * is served by the connection's shard: its producer id blocks come from the main thread like every shard's.
 *
 * The delayed-request defenses: `opts.signal` (the connection's) cannot cross a thread; a call is not forwarded
 * once it is aborted, and `receivedAtUs` (process-wide monotonic clock) crosses as data. A connection that
 * closes while its call is on the owner's side is not seen there (residual: the owner applies that change).
 *
 * While the owning shard is down its ids answer NOT_COORDINATOR (the client looks the coordinator up again and
 * retries); verification answers NOT_ENOUGH_REPLICAS, which a producer retries.
 */
import v8 from 'node:v8';
import type { Logger } from 'pino';
import { ErrorCode } from '../protocol/errors.js';
import { TRANSACTION_STATE_TOPIC, type ListTransactionsFilter, type ListTransactionsResult, type TxnCallOptions, type TxnCoordinator, type TxnService } from '../txn/index.js';
import type { Ownership } from './router.js';
import type { ShardLink } from './rpc.js';

type Method = 'initProducerId' | 'addPartitions' | 'addOffsets' | 'endTxn' | 'describeTransaction' | 'verifyPartition';
const METHODS: ReadonlySet<string> = new Set<Method>(['initProducerId', 'addPartitions', 'addOffsets', 'endTxn', 'describeTransaction', 'verifyPartition']);
/** Methods whose last argument is TxnCallOptions (its signal stays here). */
const WITH_OPTIONS: ReadonlySet<string> = new Set<Method>(['initProducerId', 'addPartitions', 'addOffsets', 'endTxn']);

/** What a call answers when its coordinator's shard cannot be reached (or `errorCode` says why not). */
function unavailable(method: Method, args: unknown[], errorCode: number = ErrorCode.NOT_COORDINATOR): unknown {
  switch (method) {
    case 'initProducerId':
      return { errorCode, producerId: -1, producerEpoch: -1 };
    case 'addPartitions':
    case 'addOffsets':
    case 'endTxn':
      return errorCode;
    case 'verifyPartition':
      return ErrorCode.NOT_ENOUGH_REPLICAS;
    case 'describeTransaction':
      return { errorCode, transactionalId: args[0] as string, state: '', transactionTimeoutMs: 0, transactionStartTimeMs: -1, producerId: -1, producerEpoch: -1, topics: [] };
  }
}

function transactionalIdOf(args: unknown[]): string | null {
  const first = args[0];
  return typeof first === 'string' ? first : (first as { transactionalId: string | null }).transactionalId;
}

export class ShardTxn implements TxnService {
  constructor(
    readonly shardId: number,
    readonly local: TxnCoordinator,
    private readonly ownership: Ownership,
    private readonly links: Map<number, ShardLink>,
    private readonly logger: Logger,
  ) {}

  ensureStateTopic(): Promise<boolean> {
    return this.local.ensureStateTopic();
  }

  partitionFor(transactionalId: string): number {
    return this.local.partitionFor(transactionalId);
  }

  async #route(method: Method, args: unknown[]): Promise<unknown> {
    const id = transactionalIdOf(args);
    const owner = id === null ? this.shardId : this.ownership.ownerOf(TRANSACTION_STATE_TOPIC, this.local.partitionFor(id));
    if (owner === undefined || owner === this.shardId) return (this.local[method] as (...a: unknown[]) => Promise<unknown>).apply(this.local, args);
    let sent = args;
    if (WITH_OPTIONS.has(method)) {
      const opts = (args[args.length - 1] ?? {}) as TxnCallOptions;
      if (opts.signal?.aborted) return unavailable(method, args, ErrorCode.REQUEST_TIMED_OUT);
      sent = [...args.slice(0, -1), opts.receivedAtUs === undefined ? {} : { receivedAtUs: opts.receivedAtUs }];
    }
    const link = this.links.get(owner);
    if (!link || link.closed) return unavailable(method, args);
    try {
      const m = await link.call('txn', { method }, [v8.serialize(sent)]);
      return v8.deserialize(m.payloads[0]!);
    } catch (err) {
      this.logger.warn({ method, owner, err }, 'transaction call to its coordinator shard failed');
      return unavailable(method, args);
    }
  }

  /** Serves another shard's call for a transactional id this shard coordinates. */
  async serve(method: string, payload: Buffer): Promise<Buffer> {
    if (!METHODS.has(method)) throw new Error(`unknown transaction method ${method}`);
    const args = v8.deserialize(payload) as unknown[];
    const f = this.local[method as Method] as (...a: unknown[]) => Promise<unknown>;
    return v8.serialize(await f.apply(this.local, args));
  }

  initProducerId: TxnService['initProducerId'] = (req, opts = {}) => this.#route('initProducerId', [req, opts]) as ReturnType<TxnService['initProducerId']>;
  addPartitions: TxnService['addPartitions'] = (req, opts = {}) => this.#route('addPartitions', [req, opts]) as ReturnType<TxnService['addPartitions']>;
  addOffsets: TxnService['addOffsets'] = (req, opts = {}) => this.#route('addOffsets', [req, opts]) as ReturnType<TxnService['addOffsets']>;
  endTxn: TxnService['endTxn'] = (req, opts = {}) => this.#route('endTxn', [req, opts]) as ReturnType<TxnService['endTxn']>;
  describeTransaction: TxnService['describeTransaction'] = (id) => this.#route('describeTransaction', [id]) as ReturnType<TxnService['describeTransaction']>;
  verifyPartition: TxnService['verifyPartition'] = (id, producerId, producerEpoch, topic, partition) =>
    this.#route('verifyPartition', [id, producerId, producerEpoch, topic, partition]) as ReturnType<TxnService['verifyPartition']>;

  /** Every shard's transactions; a shard that cannot be reached makes the answer COORDINATOR_NOT_AVAILABLE. */
  async listTransactions(filter: ListTransactionsFilter): Promise<ListTransactionsResult> {
    const mine = this.local.listTransactions(filter);
    let errorCode = mine.errorCode;
    const transactions = [...mine.transactions];
    await Promise.all(
      [...this.links.values()].map(async (link) => {
        try {
          const m = await link.call('txnList', null, [v8.serialize(filter)]);
          const r = v8.deserialize(m.payloads[0]!) as ListTransactionsResult;
          if (r.errorCode !== 0 && errorCode === 0) errorCode = r.errorCode;
          transactions.push(...r.transactions);
        } catch (err) {
          this.logger.warn({ peer: link.peer, err }, 'listing the transactions of another shard failed');
          if (errorCode === 0) errorCode = ErrorCode.COORDINATOR_NOT_AVAILABLE;
        }
      }),
    );
    if (errorCode !== 0) return { errorCode, unknownStateFilters: mine.unknownStateFilters, transactions: [] };
    return { errorCode, unknownStateFilters: mine.unknownStateFilters, transactions };
  }

  /** Serves another shard's ListTransactions: this shard's own transactions. */
  serveList(payload: Buffer): Buffer {
    return v8.serialize(this.local.listTransactions(v8.deserialize(payload) as ListTransactionsFilter));
  }
}
