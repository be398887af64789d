/**
 * AddOffsetsToTxn (key 25), v0-3: adds the group's `__consumer_offsets` partition to the producer's transaction
 * (TxnOffsetCommit then writes the group's offsets there, applied when the marker lands). v4 (KIP-890 part 2
 * clients) is not advertised. PRODUCER_FENCED is answered as INVALID_PRODUCER_EPOCH below v2.
 */
import { ApiKey, type AddOffsetsToTxnRequest, type AddOffsetsToTxnResponseIn } from '../../protocol/messages/index.js';
import { ErrorCode } from '../../protocol/errors.js';
import { requestClockUs } from '../../txn/index.js';
import type { ApiHandler } from '../context.js';

export const addOffsetsToTxnHandler: ApiHandler<AddOffsetsToTxnRequest, AddOffsetsToTxnResponseIn> = {
  key: ApiKey.AddOffsetsToTxn,
  minVersion: 0,
  maxVersion: 3,
  async handle(req, ctx) {
    const receivedAtUs = requestClockUs();
    if (req.groupId === '') return { throttleTimeMs: 0, errorCode: ErrorCode.INVALID_GROUP_ID };
    const errorCode = await ctx.broker.txn.addOffsets(
      { transactionalId: req.transactionalId, producerId: req.producerId, producerEpoch: req.producerEpoch, groupId: req.groupId },
      { signal: ctx.signal, receivedAtUs },
    );
    return { throttleTimeMs: 0, errorCode: errorCode === ErrorCode.PRODUCER_FENCED && ctx.apiVersion < 2 ? ErrorCode.INVALID_PRODUCER_EPOCH : errorCode };
  },
};
