/**
 * Workloads are data, in the spirit of OpenMessaging Benchmark's workload files: one YAML (or JSON, which is
 * YAML) file per workload in bench/workloads/, parsed and validated here before anything starts.
 *
 * File format (keys are camelCase, units last in the name; every key but `name` has a default):
 *
 *   name: max-throughput-1kib        # [a-z0-9-], used in file names of the report
 *   description: free text
 *   topics: 1                        # topics, each with partitionsPerTopic partitions
 *   partitionsPerTopic: 6
 *   messageBytes: 1024               # value size; the first 8 bytes carry the producer's timestamp
 *   payloadRandomRatio: 0.5          # share of each value that is random bytes (the rest is zeros)
 *   producers: 4                     # producer connections, spread over all topics
 *   consumers: 4                     # consumer connections per topic; partitions assigned round robin
 *   rateMsgsPerSec: max              # "max" (closed loop: keep every in-flight slot busy) or a number
 *                                    # (open loop, spread evenly over the producers; latency is measured
 *                                    # from each message's intended send time: no coordinated omission)
 *   acks: all                        # all | 1 | 0 (Kafka targets; peers have their own durability knobs)
 *   batchBytes: 65536                # a producer batch per partition closes at this size...
 *   lingerMs: 1                      # ...or this long after its first message (open loop only)
 *   inFlightPerProducer: 5           # pipelined requests per producer connection
 *   keys: none                       # none (sticky partition per batch) | roundRobin | random
 *   keyCount: 1000                   # distinct keys for roundRobin / random; partition = murmur2(key)
 *   durationS: 10                    # measured time
 *   warmupS: 2                       # before the measured time; its results are discarded
 *
 * Limits (a workload past them is rejected, not clamped): see WORKLOAD_LIMITS.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';

export type KeyDistribution = 'none' | 'roundRobin' | 'random';
export type Acks = 'all' | '1' | '0';

export interface Workload {
  name: string;
  description: string;
  topics: number;
  partitionsPerTopic: number;
  messageBytes: number;
  payloadRandomRatio: number;
  producers: number;
  consumers: number;
  /** null = max (closed loop). */
  rateMsgsPerSec: number | null;
  acks: Acks;
  batchBytes: number;
  lingerMs: number;
  inFlightPerProducer: number;
  keys: KeyDistribution;
  keyCount: number;
  durationS: number;
  warmupS: number;
}

/** Every numeric field's bounds, inclusive. */
export const WORKLOAD_LIMITS = {
  topics: [1, 100],
  partitionsPerTopic: [1, 10_000],
  /** 8 bytes of timestamp at least; at most 1 MiB (Kafka's default max.message.bytes). */
  messageBytes: [8, 1024 * 1024],
  payloadRandomRatio: [0, 1],
  producers: [1, 1000],
  consumers: [0, 1000],
  rateMsgsPerSec: [1, 10_000_000],
  batchBytes: [1, 16 * 1024 * 1024],
  lingerMs: [0, 10_000],
  inFlightPerProducer: [1, 1000],
  keyCount: [1, 10_000_000],
  durationS: [1, 3600],
  warmupS: [0, 3600],
} as const satisfies Record<string, readonly [number, number]>;

const DEFAULTS: Omit<Workload, 'name'> = {
  description: '',
  topics: 1,
  partitionsPerTopic: 1,
  messageBytes: 1024,
  payloadRandomRatio: 0.5,
  producers: 1,
  consumers: 1,
  rateMsgsPerSec: null,
  acks: 'all',
  batchBytes: 64 * 1024,
  lingerMs: 1,
  inFlightPerProducer: 5,
  keys: 'none',
  keyCount: 1000,
  durationS: 10,
  warmupS: 2,
};

const INTEGER_FIELDS = new Set(['topics', 'partitionsPerTopic', 'messageBytes', 'producers', 'consumers', 'batchBytes', 'inFlightPerProducer', 'keyCount']);

/** A workload file that does not parse or does not validate; `problems` lists every fault found. */
export class WorkloadError extends Error {
  readonly code = 'ERR_TERN_BENCH_WORKLOAD';
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`workload ${source}: ${problems.join('; ')}`);
    this.name = 'WorkloadError';
  }
}

/** Parses and validates a workload document (YAML or JSON text). `source` names it in errors. */
export function parseWorkload(text: string, source: string): Workload {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new WorkloadError(source, [(err as Error).message]);
  }
  return validateWorkload(doc, source);
}

/** Validates a parsed document, collecting every problem rather than stopping at the first. */
export function validateWorkload(doc: unknown, source: string): Workload {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new WorkloadError(source, ['expected a mapping of settings']);
  const raw = doc as Record<string, unknown>;
  const problems: string[] = [];
  const known = new Set(['name', ...Object.keys(DEFAULTS)]);
  for (const k of Object.keys(raw)) if (!known.has(k)) problems.push(`unknown key '${k}' (known: ${[...known].join(', ')})`);

  const out: Workload = { name: '', ...DEFAULTS };
  if (typeof raw.name !== 'string' || !/^[a-z0-9][a-z0-9-]{0,63}$/.test(raw.name)) problems.push(`'name' must be 1-64 characters of [a-z0-9-]`);
  else out.name = raw.name;
  if (raw.description !== undefined) {
    if (typeof raw.description !== 'string') problems.push(`'description' must be a string`);
    else out.description = raw.description.trim();
  }
  for (const [key, [lo, hi]] of Object.entries(WORKLOAD_LIMITS) as [keyof typeof WORKLOAD_LIMITS, readonly [number, number]][]) {
    const v = raw[key];
    if (v === undefined) continue;
    if (key === 'rateMsgsPerSec' && v === 'max') {
      out.rateMsgsPerSec = null;
      continue;
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      problems.push(`'${key}' must be a number${key === 'rateMsgsPerSec' ? ` or "max"` : ''}, got ${JSON.stringify(v)}`);
      continue;
    }
    if (INTEGER_FIELDS.has(key) && !Number.isInteger(v)) problems.push(`'${key}' must be an integer, got ${v}`);
    else if (v < lo || v > hi) problems.push(`'${key}' must be in ${lo}..${hi}, got ${v}`);
    else (out as unknown as Record<string, number>)[key] = v;
  }
  if (raw.acks !== undefined) {
    const a = String(raw.acks);
    if (a === 'all' || a === '-1') out.acks = 'all';
    else if (a === '1' || a === '0') out.acks = a;
    else problems.push(`'acks' must be all, 1 or 0, got ${JSON.stringify(raw.acks)}`);
  }
  if (raw.keys !== undefined) {
    if (raw.keys === 'none' || raw.keys === 'roundRobin' || raw.keys === 'random') out.keys = raw.keys;
    else problems.push(`'keys' must be none, roundRobin or random, got ${JSON.stringify(raw.keys)}`);
  }
  if (out.topics * out.partitionsPerTopic > WORKLOAD_LIMITS.partitionsPerTopic[1]) problems.push(`topics x partitionsPerTopic must be at most ${WORKLOAD_LIMITS.partitionsPerTopic[1]}`);
  if (out.rateMsgsPerSec !== null && out.rateMsgsPerSec < out.producers) problems.push(`'rateMsgsPerSec' (${out.rateMsgsPerSec}) must give every producer at least 1 msg/s (${out.producers} producers)`);
  if (problems.length > 0) throw new WorkloadError(source, problems);
  return out;
}

/** bench/workloads/ in the source tree (this file runs from dist/bench/ or, under vitest, from bench/). */
export function workloadsDir(): string {
  const here = path.dirname(new URL(import.meta.url).pathname);
  const candidates = [path.resolve(here, 'workloads'), path.resolve(here, '../../bench/workloads')];
  return candidates.find((d) => fs.existsSync(d)) ?? candidates[1]!;
}

/** Loads a workload by file path, or by name from bench/workloads/ (`max-throughput-1kib`). */
export function loadWorkload(nameOrPath: string): Workload {
  let file = nameOrPath;
  if (!fs.existsSync(file)) {
    const dir = workloadsDir();
    file = ['.yaml', '.yml', '.json'].map((ext) => path.join(dir, nameOrPath + ext)).find((f) => fs.existsSync(f)) ?? '';
    if (file === '') throw new WorkloadError(nameOrPath, [`no such file, and no workload of that name in ${dir} (known: ${listWorkloads().join(', ')})`]);
  }
  return parseWorkload(fs.readFileSync(file, 'utf8'), file);
}

/** Names of the workload files in bench/workloads/. */
export function listWorkloads(): string[] {
  const dir = workloadsDir();
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => /\.(ya?ml|json)$/.test(f))
    .map((f) => f.replace(/\.(ya?ml|json)$/, ''))
    .sort();
}

/** The partitions of a workload, flattened: topic index and partition index. */
export interface PartitionRef {
  topic: number;
  partition: number;
}

/**
 * Which partitions each consumer reads: per topic, partition p goes to consumer p % consumers (Kafka's
 * round-robin assignor for one topic). Consumers beyond the partition count get nothing, as in Kafka.
 */
export function consumerAssignments(w: Pick<Workload, 'topics' | 'partitionsPerTopic' | 'consumers'>): PartitionRef[][] {
  if (w.consumers === 0) return [];
  const out: PartitionRef[][] = Array.from({ length: w.consumers * w.topics }, () => []);
  for (let t = 0; t < w.topics; t++) {
    for (let p = 0; p < w.partitionsPerTopic; p++) out[t * w.consumers + (p % w.consumers)]!.push({ topic: t, partition: p });
  }
  return out.filter((a) => a.length > 0);
}

/** Topic of producer i: producers are spread over the topics round robin. */
export function producerTopic(w: Pick<Workload, 'topics'>, producer: number): number {
  return producer % w.topics;
}

/** Messages per second each producer must send in an open-loop workload (the total split evenly). */
export function producerRates(w: Pick<Workload, 'rateMsgsPerSec' | 'producers'>): (number | null)[] {
  return Array.from({ length: w.producers }, () => (w.rateMsgsPerSec === null ? null : w.rateMsgsPerSec / w.producers));
}
