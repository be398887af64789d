/**
 * FindCoordinator (key 10), v0-4: on a single node, this node coordinates every group and transactional id.
 * v4+ looks up a batch of keys (CoordinatorKeys); earlier versions one Key. An empty key is INVALID_REQUEST, an
 * unknown key type INVALID_REQUEST, as in Kafka.
 *
 * For a group key, the internal topic `__consumer_offsets` is created first if it does not exist (Kafka
 * creates it lazily here too); if that fails the answer is COORDINATOR_NOT_AVAILABLE (retriable). A
 * transactional id's key creates `__transaction_state` the same way.
 * (librdkafka up to 2.11 also enables LZ4 only when FindCoordinator v0 is advertised.)
 */
import { ApiKey, type FindCoordinatorRequest, type FindCoordinatorResponseIn } from '../../protocol/messages/index.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../context.js';

const GROUP = 0;
const TRANSACTION = 1;

export const findCoordinatorHandler: ApiHandler<FindCoordinatorRequest, FindCoordinatorResponseIn> = {
  key: ApiKey.FindCoordinator,
  minVersion: 0,
  maxVersion: 4,
  async handle(req, ctx) {
    const { nodeId, advertise } = ctx.broker.config;
    const keys = ctx.apiVersion >= 4 ? req.coordinatorKeys : [req.key];
    const offsetsReady = req.keyType === GROUP && keys.some((k) => k !== '') ? await ctx.broker.groups.ensureOffsetsTopic() : true;
    const txnReady = req.keyType === TRANSACTION && keys.some((k) => k !== '') ? await ctx.broker.txn.ensureStateTopic() : true;
    const answer = (key: string): { errorCode: number; errorMessage: string | null; nodeId: number; host: string; port: number } => {
      if (req.keyType !== GROUP && req.keyType !== TRANSACTION) return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `Unknown coordinator type ${req.keyType}`, nodeId: -1, host: '', port: -1 };
      if (key === '') return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: 'Empty coordinator key', nodeId: -1, host: '', port: -1 };
      if (req.keyType === GROUP && !offsetsReady) return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, errorMessage: 'The __consumer_offsets topic could not be created', nodeId: -1, host: '', port: -1 };
      if (req.keyType === TRANSACTION && !txnReady) return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, errorMessage: 'The __transaction_state topic could not be created', nodeId: -1, host: '', port: -1 };
      return { errorCode: 0, errorMessage: null, nodeId, host: advertise.host, port: advertise.port };
    };
    if (ctx.apiVersion >= 4) {
      return { throttleTimeMs: 0, coordinators: req.coordinatorKeys.map((key) => ({ key, ...answer(key) })) };
    }
    return { throttleTimeMs: 0, ...answer(req.key) };
  },
};
