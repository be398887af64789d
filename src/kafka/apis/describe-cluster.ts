/**
 * DescribeCluster (key 60), v0-1. Brokers, cluster id, controller. v1 EndpointType: 1 = brokers (the only kind
 * Tern has; 2 = controllers gets UNSUPPORTED_ENDPOINT_TYPE, as from a Kafka broker).
 */
import { ApiKey, type DescribeClusterRequest, type DescribeClusterResponseIn } from '../../protocol/messages/index.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { ApiHandler } from '../context.js';
import { brokersOf } from './metadata.js';
import { CLUSTER_OPERATIONS, NO_AUTHORIZED_OPERATIONS } from './acl-operations.js';

const BROKER_ENDPOINTS = 1;

export const describeClusterHandler: ApiHandler<DescribeClusterRequest, DescribeClusterResponseIn> = {
  key: ApiKey.DescribeCluster,
  minVersion: 0,
  maxVersion: 1,
  handle(req, ctx) {
    const b = ctx.broker;
    if (ctx.apiVersion >= 1 && req.endpointType !== BROKER_ENDPOINTS) {
      return { errorCode: ErrorCode.UNSUPPORTED_ENDPOINT_TYPE, errorMessage: 'Only broker endpoints are served', endpointType: req.endpointType, clusterId: b.topics.clusterId, brokers: [] };
    }
    return {
      throttleTimeMs: 0,
      errorCode: 0,
      errorMessage: null,
      endpointType: BROKER_ENDPOINTS,
      clusterId: b.topics.clusterId,
      controllerId: b.config.nodeId,
      brokers: brokersOf(b).map((x) => ({ brokerId: x.nodeId, host: x.host, port: x.port, rack: null })),
      clusterAuthorizedOperations: req.includeClusterAuthorizedOperations ? CLUSTER_OPERATIONS : NO_AUTHORIZED_OPERATIONS,
    };
  },
};
