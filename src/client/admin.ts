/**
 * Admin requests: topics, partitions, configs, cluster. Each takes the Router and returns one result per item
 * (topic or resource) with its own `error`, as Kafka answers per item; a request-level failure throws.
 * Topic and config changes go to the controller (KRaft brokers would forward them; older ones required it).
 */
import { ZERO_UUID } from '../protocol/codec.js';
import { ApiKey } from '../protocol/messages/index.js';
import { kafkaError, KafkaError } from './errors.js';
import type { Connection } from './connection.js';
import type { Router } from './router.js';
import {
  CONFIG_SOURCES,
  ConfigResourceType,
  type ClusterInfo,
  type ConfigChange,
  type ConfigResource,
  type ConfigResourceResult,
  type ConfigResourceTypeId,
  type CreateTopicResult,
  type ItemResult,
  type NewTopic,
} from './types.js';

export interface AdminOptions {
  /** How long the broker may take to apply the change. Default 30 s. */
  timeoutMs?: number;
  /** Validate only (CreateTopics, CreatePartitions, AlterConfigs). */
  validateOnly?: boolean;
}

const ADMIN_TIMEOUT_MS_DEFAULT = 30_000;
/** Kafka's config source id for defaults (DescribeConfigs v1+ reports no isDefault flag). */
const CONFIG_SOURCE_DEFAULT = 5;

export async function createTopics(router: Router, topics: readonly NewTopic[], opts: AdminOptions = {}): Promise<CreateTopicResult[]> {
  const conn = await router.controller();
  const version = conn.requireVersion(ApiKey.CreateTopics);
  // -1 (broker default) for partitions and replication exists from v4 (KIP-464); before, Kafka's default is 1.
  const unset = version >= 4 ? -1 : 1;
  const timeoutMs = opts.timeoutMs ?? ADMIN_TIMEOUT_MS_DEFAULT;
  const resp = await conn.request(
    ApiKey.CreateTopics,
    {
      topics: topics.map((t) => ({
        name: t.name,
        numPartitions: t.partitions ?? unset,
        replicationFactor: t.replicationFactor ?? unset,
        assignments: [],
        configs: Object.entries(t.configs ?? {}).map(([name, value]) => ({ name, value })),
      })),
      timeoutMs,
      validateOnly: opts.validateOnly ?? false,
    },
    { brokerWaitMs: timeoutMs },
  );
  for (const t of topics) router.invalidate(t.name);
  return resp.topics.map((t) => ({
    name: t.name,
    error: kafkaError(t.errorCode, t.errorMessage, { topic: t.name }),
    topicId: t.topicId,
    partitions: t.numPartitions,
    replicationFactor: t.replicationFactor,
  }));
}

export async function deleteTopics(router: Router, names: readonly string[], opts: AdminOptions = {}): Promise<ItemResult[]> {
  const conn = await router.controller();
  const timeoutMs = opts.timeoutMs ?? ADMIN_TIMEOUT_MS_DEFAULT;
  // v0-5 name topics in TopicNames, v6 in Topics (which may carry ids instead): the codec writes the field
  // of the version in use.
  const resp = await conn.request(
    ApiKey.DeleteTopics,
    { topics: names.map((name) => ({ name, topicId: ZERO_UUID })), topicNames: [...names], timeoutMs },
    { brokerWaitMs: timeoutMs },
  );
  for (const n of names) router.invalidate(n);
  return resp.responses.map((r) => {
    const name = r.name ?? '';
    return { name, error: kafkaError(r.errorCode, r.errorMessage, { topic: name }) };
  });
}

/** Grows topics to `count` partitions in total. */
export async function createPartitions(router: Router, topics: readonly { name: string; count: number }[], opts: AdminOptions = {}): Promise<ItemResult[]> {
  const conn = await router.controller();
  const timeoutMs = opts.timeoutMs ?? ADMIN_TIMEOUT_MS_DEFAULT;
  const resp = await conn.request(
    ApiKey.CreatePartitions,
    { topics: topics.map((t) => ({ name: t.name, count: t.count, assignments: null })), timeoutMs, validateOnly: opts.validateOnly ?? false },
    { brokerWaitMs: timeoutMs },
  );
  for (const t of topics) router.invalidate(t.name);
  return resp.results.map((r) => ({ name: r.name, error: kafkaError(r.errorCode, r.errorMessage, { topic: r.name }) }));
}

export async function describeConfigs(router: Router, resources: readonly ConfigResource[]): Promise<ConfigResourceResult[]> {
  // Broker resources are answered by that broker; group the others on any connection.
  const results: ConfigResourceResult[] = [];
  const byBroker = new Map<number, ConfigResource[]>();
  const rest: ConfigResource[] = [];
  for (const r of resources) {
    const id = Number(r.name);
    if (r.type === ConfigResourceType.Broker && r.name !== '' && Number.isInteger(id)) byBroker.set(id, [...(byBroker.get(id) ?? []), r]);
    else rest.push(r);
  }
  const batches: [() => Promise<Connection>, ConfigResource[]][] = [];
  for (const [id, rs] of byBroker) batches.push([() => router.node(id), rs]);
  if (rest.length > 0) batches.push([() => router.any(), rest]);
  for (const [connect, rs] of batches) {
    const conn = await connect();
    const version = conn.requireVersion(ApiKey.DescribeConfigs);
    const resp = await conn.request(ApiKey.DescribeConfigs, {
      resources: rs.map((r) => ({ resourceType: r.type, resourceName: r.name, configurationKeys: r.keys ?? null })),
      includeSynonyms: false,
      includeDocumentation: false,
    });
    for (const res of resp.results) {
      results.push({
        name: res.resourceName,
        type: res.resourceType,
        error: kafkaError(res.errorCode, res.errorMessage, { topic: res.resourceName }),
        configs: res.configs.map((c) => {
          const source = version >= 1 ? c.configSource : c.isDefault ? CONFIG_SOURCE_DEFAULT : 0;
          return {
            name: c.name,
            value: c.value,
            readOnly: c.readOnly,
            isDefault: version >= 1 ? c.configSource === CONFIG_SOURCE_DEFAULT : c.isDefault,
            source: CONFIG_SOURCES[source] ?? `SOURCE_${source}`,
            sensitive: c.isSensitive,
          };
        }),
      });
    }
  }
  return results;
}

/** Replaces a resource's whole set of dynamic configs (legacy AlterConfigs: keys not given are reset). */
export async function alterConfigs(
  router: Router,
  resources: readonly { type: ConfigResourceTypeId; name: string; configs: Record<string, string | null> }[],
  opts: AdminOptions = {},
): Promise<ItemResult[]> {
  const conn = await router.controller();
  const resp = await conn.request(ApiKey.AlterConfigs, {
    resources: resources.map((r) => ({
      resourceType: r.type,
      resourceName: r.name,
      configs: Object.entries(r.configs).map(([name, value]) => ({ name, value })),
    })),
    validateOnly: opts.validateOnly ?? false,
  });
  return resp.responses.map((r) => ({ name: r.resourceName, error: kafkaError(r.errorCode, r.errorMessage, { topic: r.resourceName }) }));
}

/** Sets, deletes, appends to or subtracts from individual configs (KIP-339). */
export async function incrementalAlterConfigs(
  router: Router,
  resources: readonly { type: ConfigResourceTypeId; name: string; changes: readonly ConfigChange[] }[],
  opts: AdminOptions = {},
): Promise<ItemResult[]> {
  const conn = await router.controller();
  const resp = await conn.request(ApiKey.IncrementalAlterConfigs, {
    resources: resources.map((r) => ({
      resourceType: r.type,
      resourceName: r.name,
      configs: r.changes.map((c) => ({ name: c.name, configOperation: c.op, value: c.value ?? null })),
    })),
    validateOnly: opts.validateOnly ?? false,
  });
  return resp.responses.map((r) => ({ name: r.resourceName, error: kafkaError(r.errorCode, r.errorMessage, { topic: r.resourceName }) }));
}

/** Brokers, controller and cluster id: DescribeCluster where the broker has it, else Metadata. */
export async function describeCluster(router: Router): Promise<ClusterInfo> {
  const conn = await router.any();
  if (conn.versionOf(ApiKey.DescribeCluster) === undefined) {
    const md = await router.metadata([]);
    return { clusterId: md.clusterId, controllerId: md.controllerId, brokers: md.brokers };
  }
  const resp = await conn.request(ApiKey.DescribeCluster, { includeClusterAuthorizedOperations: false, endpointType: 1 });
  if (resp.errorCode !== 0) throw new KafkaError(resp.errorCode, resp.errorMessage);
  return {
    clusterId: resp.clusterId,
    controllerId: resp.controllerId,
    brokers: resp.brokers.map((b) => ({ nodeId: b.brokerId, host: b.host, port: b.port, rack: b.rack })).sort((a, b) => a.nodeId - b.nodeId),
  };
}
