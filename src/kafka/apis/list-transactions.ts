/**
 * ListTransactions (key 66), v0-1 (KIP-664): the transactional ids this broker coordinates, filtered by state
 * names (unknown names are echoed in UnknownStateFilters and match nothing), producer ids, and (v1) by running
 * longer than DurationFilter ms. COORDINATOR_LOAD_IN_PROGRESS while a `__transaction_state` partition loads.
 */
import { ApiKey, type ListTransactionsRequest, type ListTransactionsResponseIn } from '../../protocol/messages/index.js';
import type { ApiHandler } from '../context.js';

export const listTransactionsHandler: ApiHandler<ListTransactionsRequest, ListTransactionsResponseIn> = {
  key: ApiKey.ListTransactions,
  minVersion: 0,
  maxVersion: 1,
  async handle(req, ctx) {
    const r = await ctx.broker.txn.listTransactions({ states: req.stateFilters, producerIds: req.producerIdFilters, durationMs: ctx.apiVersion >= 1 ? req.durationFilter : -1 });
    return {
      throttleTimeMs: 0,
      errorCode: r.errorCode,
      unknownStateFilters: r.unknownStateFilters,
      transactionStates: r.transactions.map((t) => ({ transactionalId: t.transactionalId, producerId: t.producerId, transactionState: t.state })),
    };
  },
};
