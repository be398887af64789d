/**
 * InitProducerId (key 22), v0-4: a producer id and epoch for an idempotent producer (no transactional id) or a
 * transactional one (the coordinator fences the previous producer of the id by bumping the epoch, aborting its
 * open transaction first: CONCURRENT_TRANSACTIONS until that completes). v3+ (KIP-360) carries the producer's
 * current id and epoch for an epoch bump after an error; both -1 or neither (else INVALID_REQUEST, as Kafka).
 * PRODUCER_FENCED is answered as INVALID_PRODUCER_EPOCH below v4 (older clients do not know it).
 * v5 (KIP-890 part 2) is not advertised: EndTxn does not bump the epoch on every transaction.
 */
import { ApiKey, type InitProducerIdRequest, type InitProducerIdResponseIn } from '../../protocol/messages/index.js';
import { ErrorCode } from '../../protocol/errors.js';
import { requestClockUs } from '../../txn/index.js';
import type { ApiHandler } from '../context.js';

export const initProducerIdHandler: ApiHandler<InitProducerIdRequest, InitProducerIdResponseIn> = {
  key: ApiKey.InitProducerId,
  minVersion: 0,
  maxVersion: 4,
  async handle(req, ctx) {
    const receivedAtUs = requestClockUs();
    const v = ctx.apiVersion;
    const producerId = v >= 3 ? req.producerId : -1;
    const producerEpoch = v >= 3 ? req.producerEpoch : -1;
    const fail = (errorCode: number): InitProducerIdResponseIn => ({ throttleTimeMs: 0, errorCode, producerId: -1, producerEpoch: -1 });
    if ((producerId === -1) !== (producerEpoch === -1)) return fail(ErrorCode.INVALID_REQUEST);
    const r = await ctx.broker.txn.initProducerId({ transactionalId: req.transactionalId, transactionTimeoutMs: req.transactionTimeoutMs, producerId, producerEpoch }, { signal: ctx.signal, receivedAtUs });
    if (r.errorCode !== ErrorCode.NONE) return fail(r.errorCode === ErrorCode.PRODUCER_FENCED && v < 4 ? ErrorCode.INVALID_PRODUCER_EPOCH : r.errorCode);
    return { throttleTimeMs: 0, errorCode: 0, producerId: r.producerId, producerEpoch: r.producerEpoch };
  },
};
