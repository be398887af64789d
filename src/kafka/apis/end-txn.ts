/**
 * EndTxn (key 26), v0-4: commits or aborts the producer's transaction. Answered once the coordinator's Prepare
 * record is durable; the markers and the Complete record follow (AddPartitions/EndTxn meanwhile get
 * CONCURRENT_TRANSACTIONS). A retried commit after the commit completed succeeds; ending with the other outcome
 * than the one recorded, or with no transaction, is INVALID_TXN_STATE. PRODUCER_FENCED is answered as
 * INVALID_PRODUCER_EPOCH below v2. v5 (KIP-890 part 2: an epoch bump on every end) is not advertised.
 */
import { ApiKey, type EndTxnRequest, type EndTxnResponseIn } from '../../protocol/messages/index.js';
import { ErrorCode } from '../../protocol/errors.js';
import { requestClockUs } from '../../txn/index.js';
import type { ApiHandler } from '../context.js';

export const endTxnHandler: ApiHandler<EndTxnRequest, EndTxnResponseIn> = {
  key: ApiKey.EndTxn,
  minVersion: 0,
  maxVersion: 4,
  async handle(req, ctx) {
    const receivedAtUs = requestClockUs();
    const errorCode = await ctx.broker.txn.endTxn(
      { transactionalId: req.transactionalId, producerId: req.producerId, producerEpoch: req.producerEpoch, commit: req.committed },
      { signal: ctx.signal, receivedAtUs },
    );
    return { throttleTimeMs: 0, errorCode: errorCode === ErrorCode.PRODUCER_FENCED && ctx.apiVersion < 2 ? ErrorCode.INVALID_PRODUCER_EPOCH : errorCode, producerId: -1, producerEpoch: -1 };
  },
};
