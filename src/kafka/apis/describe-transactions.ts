/**
 * DescribeTransactions (key 65), v0 (KIP-664): each transactional id's state, producer id and epoch, timeout,
 * start time and partitions; TRANSACTIONAL_ID_NOT_FOUND for an unknown id. The ids are looked up one at a time
 * (their number is bounded by the request frame; nothing is allocated per id before its turn).
 */
import { ApiKey, type DescribeTransactionsRequest, type DescribeTransactionsResponseIn } from '../../protocol/messages/index.js';
import type { ApiHandler } from '../context.js';

export const describeTransactionsHandler: ApiHandler<DescribeTransactionsRequest, DescribeTransactionsResponseIn> = {
  key: ApiKey.DescribeTransactions,
  minVersion: 0,
  maxVersion: 0,
  async handle(req, ctx) {
    const transactionStates = [];
    for (const id of req.transactionalIds) {
      const d = await ctx.broker.txn.describeTransaction(id);
      transactionStates.push({
        errorCode: d.errorCode,
        transactionalId: id,
        transactionState: d.state,
        transactionTimeoutMs: d.transactionTimeoutMs,
        transactionStartTimeMs: d.transactionStartTimeMs,
        producerId: d.producerId,
        producerEpoch: d.producerEpoch,
        topics: d.topics.map((t) => ({ topic: t.topic, partitions: t.partitions })),
      });
    }
    return { throttleTimeMs: 0, transactionStates };
  },
};
