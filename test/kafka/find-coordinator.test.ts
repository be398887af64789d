/**
 * FindCoordinator: on a single node this node coordinates every group and transactional id (v0-3 one key, v4+
 * a batch); empty keys and unknown key types are INVALID_REQUEST.
 */
import { describe, expect, it } from 'vitest';
import { ApiKey, type FindCoordinatorResponse } from '../../src/protocol/messages/index.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { WireClient, testBroker } from './helpers.js';

describe('FindCoordinator', () => {
  it('answers this node at its advertised address for groups (v0, kafka-python) and transactions (v1+)', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    const v0 = await c.request<FindCoordinatorResponse>(ApiKey.FindCoordinator, 0, { key: 'my-group' });
    expect(v0).toMatchObject({ errorCode: 0, nodeId: 0, host: '127.0.0.1', port: tb.port });
    for (const v of [1, 2, 3]) {
      const txn = await c.request<FindCoordinatorResponse>(ApiKey.FindCoordinator, v, { key: 'txn-id', keyType: 1 });
      expect(txn, `v${v}`).toMatchObject({ errorCode: 0, nodeId: 0, port: tb.port });
    }
  });

  it('v4 answers a batch of keys, each on its own', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    const res = await c.request<FindCoordinatorResponse>(ApiKey.FindCoordinator, 4, { keyType: 0, coordinatorKeys: ['a', '', 'b'] });
    expect(res.coordinators.map((x) => [x.key, x.errorCode, x.nodeId, x.port])).toEqual([
      ['a', 0, 0, tb.port],
      ['', ErrorCode.INVALID_REQUEST, -1, -1],
      ['b', 0, 0, tb.port],
    ]);
  });

  it('refuses an empty key and an unknown key type with INVALID_REQUEST', async () => {
    const tb = await testBroker();
    const c = await WireClient.connect(tb.port);
    expect((await c.request<FindCoordinatorResponse>(ApiKey.FindCoordinator, 1, { key: '', keyType: 0 })).errorCode).toBe(ErrorCode.INVALID_REQUEST);
    expect((await c.request<FindCoordinatorResponse>(ApiKey.FindCoordinator, 2, { key: 'g', keyType: 7 })).errorCode).toBe(ErrorCode.INVALID_REQUEST);
  });
});
