/**
 * What ApiVersions advertises: the ranges real clients need (shared/kafka/client-compat.md), nothing Tern does
 * not serve, and exactly the ranges the connection accepts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { API_SPECS, ApiKey, type ApiVersionsResponse } from '../../src/protocol/messages/index.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { startBroker, type Broker } from '../../src/broker/index.js';
import { WireClient, closesWithin, silent } from './helpers.js';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

let broker: Broker;
let port: number;
let dataDir: string;
let advertised: Map<number, { min: number; max: number }>;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'tern-apiversions-'));
  broker = await startBroker({ listen: '127.0.0.1:0', dataDir, logLevel: 'silent' }, silent);
  port = broker.listenAddress.port;
  const c = await WireClient.connect(port);
  const res = await c.request<ApiVersionsResponse>(ApiKey.ApiVersions, 3, { clientSoftwareName: 'tern-test', clientSoftwareVersion: '1' });
  expect(res.errorCode).toBe(0);
  advertised = new Map(res.apiKeys.map((k) => [k.apiKey, { min: k.minVersion, max: k.maxVersion }]));
  c.destroy();
});

afterAll(async () => {
  await broker?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

function expectContains(key: number, ...versions: number[]): void {
  const r = advertised.get(key);
  expect(r, `${API_SPECS.get(key)?.name} advertised`).toBeDefined();
  for (const v of versions) {
    expect(v, `${API_SPECS.get(key)?.name} range ${r!.min}-${r!.max} contains v${v}`).toBeGreaterThanOrEqual(r!.min);
    expect(v, `${API_SPECS.get(key)?.name} range ${r!.min}-${r!.max} contains v${v}`).toBeLessThanOrEqual(r!.max);
  }
}

describe('advertised ranges', () => {
  it('contain the versions real clients pin (client-compat.md)', () => {
    expectContains(ApiKey.ApiVersions, 0, 1, 2, 3); // kafka-python 0, kafkajs 2, librdkafka 3
    expectContains(ApiKey.Metadata, 0, 1, 4, 6, 12); // kafka-python 0 (probe) + 1; rdk 2.0.2 4; kafkajs 6
    expectContains(ApiKey.Produce, 0, 3, 7); // rdk <= 2.11 gzip/snappy/lz4 need 0; MsgVer2 3; ZSTD / kafka-python 7
    expectContains(ApiKey.Fetch, 4, 10, 11); // kafka-python 4, ZSTD 10, kafkajs/rdk 11
    expectContains(ApiKey.ListOffsets, 1, 2, 3); // kafka-python 1, rdk 2, kafkajs 3
    expectContains(ApiKey.CreateTopics, 0, 3, 4);
    expectContains(ApiKey.DeleteTopics, 0, 1, 3);
    expectContains(ApiKey.CreatePartitions, 0, 1);
    expectContains(ApiKey.DescribeConfigs, 0, 1, 2);
    expectContains(ApiKey.AlterConfigs, 0, 1);
    expectContains(ApiKey.DeleteRecords, 0, 1);
    expectContains(ApiKey.FindCoordinator, 0, 2); // kafka-python 0 (and rdk <= 2.11 LZ4), rdk/kafkajs 2
    // Consumer groups (client-compat rows 8-16, 42, 47): kafka-python's fixed versions, rdk 2.0.2, kafkajs.
    expectContains(ApiKey.JoinGroup, 0, 2, 5); // 0: rdk 2.0.2 GSSAPI flag; 2: kafka-python
    expectContains(ApiKey.SyncGroup, 1, 3);
    expectContains(ApiKey.Heartbeat, 1, 3);
    expectContains(ApiKey.LeaveGroup, 1, 3);
    expectContains(ApiKey.OffsetCommit, 2, 5, 7); // 2: kafka-python (retention_time)
    expectContains(ApiKey.OffsetFetch, 1, 4, 7, 8);
    expectContains(ApiKey.DescribeGroups, 0, 2, 3);
    expectContains(ApiKey.ListGroups, 0, 1, 2);
    expectContains(ApiKey.DeleteGroups, 1);
    expectContains(ApiKey.OffsetDelete, 0);
    expectContains(ApiKey.TxnOffsetCommit, 0, 1, 3); // 1: kafkajs; 3: librdkafka (KIP-447 member fields)
  });

  it('include the transaction coordinator within what clients need: InitProducerId 0 (librdkafka idempotence) to 4 (KIP-360), AddPartitionsToTxn at most 3 (v4+ is broker-only)', () => {
    expect(advertised.get(ApiKey.InitProducerId)).toEqual({ min: 0, max: 4 });
    expect(advertised.get(ApiKey.AddPartitionsToTxn)).toEqual({ min: 0, max: 3 });
    expect(advertised.get(ApiKey.AddOffsetsToTxn)).toEqual({ min: 0, max: 3 });
    expect(advertised.get(ApiKey.EndTxn)).toEqual({ min: 0, max: 4 });
    expect(advertised.get(ApiKey.DescribeTransactions)).toEqual({ min: 0, max: 0 });
    expect(advertised.get(ApiKey.ListTransactions)).toEqual({ min: 0, max: 1 });
  });

  it('do not include WriteTxnMarkers (broker-only), KIP-848, telemetry, SASL or share-group keys (not served)', () => {
    const forbidden = [
      ApiKey.WriteTxnMarkers,
      ApiKey.ConsumerGroupHeartbeat, ApiKey.ConsumerGroupDescribe, ApiKey.GetTelemetrySubscriptions, ApiKey.PushTelemetry,
      ApiKey.ShareGroupHeartbeat, ApiKey.ShareGroupDescribe, ApiKey.ShareFetch, ApiKey.ShareAcknowledge,
      ApiKey.SaslHandshake, ApiKey.SaslAuthenticate,
    ];
    for (const k of forbidden) expect(advertised.has(k), `${API_SPECS.get(k)?.name} (${k}) must not be advertised`).toBe(false);
  });

  it('lie within what our codecs implement, and never include a version Kafka marks unstable', () => {
    for (const [key, r] of advertised) {
      const spec = API_SPECS.get(key);
      expect(spec, `key ${key} has a codec`).toBeDefined();
      expect(r.min).toBeGreaterThanOrEqual(spec!.minVersion);
      expect(r.max).toBeLessThanOrEqual(spec!.maxVersion);
      expect(r.min).toBeLessThanOrEqual(r.max);
      if (spec!.latestVersionUnstable) expect(r.max, `${spec!.name} latest version is unstable`).toBeLessThan(spec!.maxVersion);
    }
  });

  it('are the same whichever ApiVersions version asks (v0..v4)', async () => {
    const c = await WireClient.connect(port);
    for (let v = 0; v <= advertised.get(ApiKey.ApiVersions)!.max; v++) {
      const res = await c.request<ApiVersionsResponse>(ApiKey.ApiVersions, v, {});
      expect(res.errorCode).toBe(0);
      expect(new Map(res.apiKeys.map((k) => [k.apiKey, { min: k.minVersion, max: k.maxVersion }]))).toEqual(advertised);
    }
  });
});

/** A minimal body every handler answers (it may answer with errors; it must answer). */
function minimalBody(key: number): unknown {
  if (key === ApiKey.Produce) return { acks: 1, timeoutMs: 1000, transactionalId: null, topicData: [] };
  if (key === ApiKey.Metadata) return { topics: [] };
  if (key === ApiKey.Fetch) return { replicaId: -1, maxWaitMs: 0, minBytes: 1, sessionId: 0, sessionEpoch: -1, topics: [] };
  return {};
}

describe('served ranges equal advertised ranges', () => {
  it('answers every advertised API at its min and max version (a handler exists for each)', async () => {
    for (const [key, r] of advertised) {
      for (const v of new Set([r.min, r.max])) {
        const c = await WireClient.connect(port);
        const body = await c.request(key, v, minimalBody(key)).catch((err: Error) => err);
        expect(body instanceof Error ? body.message : 'answered', `${API_SPECS.get(key)!.name} v${v}`).toBe('answered');
        c.destroy();
      }
    }
  });

  it('closes the connection for the version just outside each advertised range (ApiVersions: KIP-511 error)', async () => {
    for (const [key, r] of advertised) {
      const outside = [r.max + 1, ...(r.min > 0 ? [r.min - 1] : [])];
      for (const v of outside) {
        const c = await WireClient.connect(port);
        const frame = c.encode(key, r.max, minimalBody(key), 5);
        frame.writeInt16BE(v, 6);
        c.writeRaw(frame);
        if (key === ApiKey.ApiVersions) {
          const f = await c.nextFrame();
          expect(f.readInt16BE(4)).toBe(ErrorCode.UNSUPPORTED_VERSION);
        } else {
          expect(await closesWithin(c, 2000), `${API_SPECS.get(key)!.name} v${v}`).toBe(true);
          expect(c.arrivals).toHaveLength(0);
        }
        c.destroy();
      }
    }
  });
});

describe('a real client negotiates', () => {
  it('kafkajs 2.2.4 connects, reads metadata and sees the cluster', async () => {
    const kafka = new Kafka({ clientId: 'tern-apiversions', brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING, retry: { retries: 1 } });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const cluster = await admin.describeCluster();
      expect(cluster.brokers).toEqual([{ nodeId: 0, host: '127.0.0.1', port }]);
      expect(cluster.clusterId).toBe(broker.topics.clusterId);
    } finally {
      await admin.disconnect();
    }
  });
});
