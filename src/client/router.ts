/**
 * Where a request goes: one Connection per broker address (opened on first use, dropped when it closes), the
 * cluster's nodes and partition leaders from Metadata, and the controller for admin requests.
 *
 * Metadata is cached per topic and refreshed when older than `metadataMaxAgeMs`, or at once after an error
 * that says it is stale (the client calls `invalidate`). A single-node cluster routes everything to the one
 * node, but nothing here assumes it.
 */
import { ZERO_UUID } from '../protocol/codec.js';
import { ErrorCode } from '../protocol/errors.js';
import { ApiKey, type MetadataResponse } from '../protocol/messages/index.js';
import { Connection, type ConnectionOptions } from './connection.js';
import { KafkaError, kafkaError } from './errors.js';
import type { BrokerInfo, ClusterMetadata, TopicInfo } from './types.js';

export interface HostPort {
  host: string;
  port: number;
}

export const METADATA_MAX_AGE_MS_DEFAULT = 5 * 60_000;
export const DEFAULT_PORT = 9092;

export interface RouterOptions extends Omit<ConnectionOptions, 'host' | 'port'> {
  bootstrap: HostPort[];
  /** Cached topic metadata older than this is refreshed before use. Default 5 min. */
  metadataMaxAgeMs?: number;
}

/** Parses `host:port`, `host` (port 9092) or `[v6addr]:port`. */
export function parseBroker(s: string): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+))(?::(\d{1,5}))?$/.exec(s.trim());
  const port = m?.[3] === undefined ? DEFAULT_PORT : Number(m[3]);
  if (m === null || port < 1 || port > 65535) throw new RangeError(`bad broker address '${s}': expected HOST:PORT`);
  return { host: m[1] ?? m[2]!, port };
}

interface CachedTopic {
  info: TopicInfo;
  fetchedAtMs: number;
}

export class Router {
  private readonly connections = new Map<string, Promise<Connection>>();
  private readonly nodes = new Map<number, HostPort>();
  private readonly topics = new Map<string, CachedTopic>();
  private controllerId = -1;
  private closed = false;
  private readonly metadataMaxAgeMs: number;

  constructor(private readonly opts: RouterOptions) {
    if (opts.bootstrap.length === 0) throw new RangeError('no bootstrap brokers given');
    this.metadataMaxAgeMs = opts.metadataMaxAgeMs ?? METADATA_MAX_AGE_MS_DEFAULT;
  }

  /** A live connection to any broker: an open one if there is one, else the bootstrap brokers in order. */
  async any(): Promise<Connection> {
    for (const [key, p] of this.connections) {
      const c = await p.catch(() => null);
      if (c !== null && !c.closed) return c;
      this.connections.delete(key);
    }
    const candidates = [...this.nodes.values(), ...this.opts.bootstrap];
    let lastErr: unknown = null;
    for (const hp of candidates) {
      try {
        return await this.connect(hp);
      } catch (err) {
        lastErr = err;
      }
    }
    throw lastErr;
  }

  /** Connection to a node known from Metadata. */
  async node(nodeId: number): Promise<Connection> {
    let hp = this.nodes.get(nodeId);
    if (hp === undefined) {
      await this.metadata([]);
      hp = this.nodes.get(nodeId);
    }
    if (hp === undefined) throw new KafkaError(ErrorCode.BROKER_NOT_AVAILABLE, `broker ${nodeId} is not in the cluster metadata`);
    return this.connect(hp);
  }

  /** Connection to the controller (admin requests); any broker when the controller is unknown. */
  async controller(): Promise<Connection> {
    if (this.controllerId < 0) await this.metadata([]);
    return this.controllerId >= 0 && this.nodes.has(this.controllerId) ? this.node(this.controllerId) : this.any();
  }

  /** Node id of a partition's leader, from cached (or fresh) metadata; throws the Kafka error if none. */
  async leaderOf(topic: string, partition: number): Promise<number> {
    const info = await this.topic(topic);
    const p = info.partitions.find((x) => x.partition === partition);
    if (p === undefined) throw new KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `topic '${topic}' has no partition ${partition}`, { topic, partition });
    if (p.leader < 0) throw p.error ?? new KafkaError(ErrorCode.LEADER_NOT_AVAILABLE, undefined, { topic, partition });
    return p.leader;
  }

  async leader(topic: string, partition: number): Promise<Connection> {
    return this.node(await this.leaderOf(topic, partition));
  }

  /** Metadata of one topic (cached); throws the topic's Kafka error (UNKNOWN_TOPIC_OR_PARTITION ...). */
  async topic(name: string): Promise<TopicInfo> {
    const cached = this.topics.get(name);
    if (cached !== undefined && Date.now() - cached.fetchedAtMs < this.metadataMaxAgeMs) return cached.info;
    const md = await this.metadata([name]);
    const t = md.topics.find((x) => x.name === name);
    if (t === undefined) throw new KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `no metadata for topic '${name}'`, { topic: name });
    if (t.error !== null) throw t.error;
    return t;
  }

  /** Forgets cached metadata (of one topic, or all) so the next use refreshes it. */
  invalidate(topic?: string): void {
    if (topic === undefined) this.topics.clear();
    else this.topics.delete(topic);
  }

  /** Sends Metadata for `topics` (null: all topics; []: none, brokers only) and updates the caches. */
  async metadata(topics: readonly string[] | null, allowAutoTopicCreation = false): Promise<ClusterMetadata> {
    const conn = await this.any();
    const resp = await conn.request(ApiKey.Metadata, {
      topics: topics === null ? null : topics.map((name) => ({ name, topicId: ZERO_UUID })),
      allowAutoTopicCreation,
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: false,
    });
    const md = toClusterMetadata(resp);
    const now = Date.now();
    for (const b of md.brokers) this.nodes.set(b.nodeId, { host: b.host, port: b.port });
    this.controllerId = md.controllerId;
    for (const t of md.topics) {
      if (t.error === null) this.topics.set(t.name, { info: t, fetchedAtMs: now });
      else this.topics.delete(t.name);
    }
    return md;
  }

  /** Closes every connection. */
  close(): void {
    this.closed = true;
    for (const p of this.connections.values()) p.then((c) => c.close(), () => undefined);
    this.connections.clear();
  }

  private connect(hp: HostPort): Promise<Connection> {
    if (this.closed) return Promise.reject(new Error('client is closed'));
    const key = `${hp.host}:${hp.port}`;
    const existing = this.connections.get(key);
    if (existing !== undefined) {
      return existing.then((c) => {
        if (!c.closed) return c;
        if (this.connections.get(key) === existing) this.connections.delete(key);
        return this.connect(hp);
      });
    }
    const p = Connection.connect({ ...this.opts, host: hp.host, port: hp.port });
    this.connections.set(key, p);
    p.then(
      (c) => c.onClose(() => this.connections.get(key) === p && this.connections.delete(key)),
      () => this.connections.get(key) === p && this.connections.delete(key),
    );
    return p;
  }
}

export function toClusterMetadata(resp: MetadataResponse): ClusterMetadata {
  const brokers: BrokerInfo[] = resp.brokers.map((b) => ({ nodeId: b.nodeId, host: b.host, port: b.port, rack: b.rack }));
  const topics: TopicInfo[] = resp.topics.map((t) => {
    const name = t.name ?? '';
    return {
      name,
      topicId: t.topicId,
      isInternal: t.isInternal,
      error: kafkaError(t.errorCode, null, { topic: name }),
      partitions: t.partitions
        .map((p) => ({
          partition: p.partitionIndex,
          leader: p.leaderId,
          leaderEpoch: p.leaderEpoch,
          replicas: p.replicaNodes,
          isr: p.isrNodes,
          offlineReplicas: p.offlineReplicas,
          error: kafkaError(p.errorCode, null, { topic: name, partition: p.partitionIndex }),
        }))
        .sort((a, b) => a.partition - b.partition),
    };
  });
  return { clusterId: resp.clusterId, controllerId: resp.controllerId, brokers, topics };
}
