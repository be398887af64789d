/**
 * kcat (librdkafka 2.0.2) as a test client: produce from stdin with keys and headers, consume with the JSON
 * envelope (-J), list metadata (-L -J), query offsets by timestamp (-Q). Every call has a deadline.
 */
import { run, check, KCAT, type RunResult } from './proc.js';

export interface KcatMessage {
  topic: string;
  partition: number;
  offset: number;
  tstype: string;
  ts: number;
  key: string | null;
  payload: string | null;
  headers: [string, string | null][];
}

export interface ProduceOptions {
  partition?: number;
  /** -z: none, gzip, snappy, lz4, zstd */
  compression?: string;
  /** -H name=value, for every message of this run */
  headers?: [string, string][];
  /** librdkafka properties (-X) */
  props?: Record<string, string>;
  timeoutMs?: number;
}

function base(port: number): string[] {
  return ['-b', `127.0.0.1:${port}`, '-m', '10', '-q'];
}

/** Produces `key\tvalue` lines (-K '\t'); exits non-zero if any delivery fails. */
export async function kcatProduce(port: number, topic: string, messages: { key: string; value: string }[], opts: ProduceOptions = {}): Promise<RunResult> {
  for (const m of messages) {
    if (/[\t\n]/.test(m.key) || /[\t\n]/.test(m.value)) throw new Error('kcatProduce: keys and values must not contain tabs or newlines');
  }
  const args = ['-P', ...base(port), '-t', topic, '-K', '\t'];
  if (opts.partition !== undefined) args.push('-p', String(opts.partition));
  if (opts.compression) args.push('-z', opts.compression);
  for (const [k, v] of opts.headers ?? []) args.push('-H', `${k}=${v}`);
  const props = { 'acks': 'all', 'message.timeout.ms': '20000', ...opts.props };
  for (const [k, v] of Object.entries(props)) args.push('-X', `${k}=${v}`);
  const input = messages.map((m) => `${m.key}\t${m.value}\n`).join('');
  const r = await run(KCAT, args, { input, timeoutMs: opts.timeoutMs ?? 40_000 });
  return check(r, `kcat produce to ${topic}`);
}

export interface ConsumeOptions {
  partition?: number;
  /** -o: beginning, end, N, -N, s@ts, e@ts */
  offset?: string;
  count?: number;
  /** -e: exit at end of partition (default true) */
  exitAtEnd?: boolean;
  props?: Record<string, string>;
  timeoutMs?: number;
  /** extra raw arguments (e.g. ['-o', 'e@123'] for a second -o) */
  extra?: string[];
}

/** Consumes with -J and parses the envelope; fails if kcat fails or prints an error line. */
export async function kcatConsume(port: number, topic: string, opts: ConsumeOptions = {}): Promise<KcatMessage[]> {
  const args = ['-C', ...base(port), '-t', topic, '-J', '-o', opts.offset ?? 'beginning'];
  if (opts.partition !== undefined) args.push('-p', String(opts.partition));
  if (opts.count !== undefined) args.push('-c', String(opts.count));
  if (opts.exitAtEnd ?? true) args.push('-e');
  for (const [k, v] of Object.entries(opts.props ?? {})) args.push('-X', `${k}=${v}`);
  args.push(...(opts.extra ?? []));
  const r = await run(KCAT, args, { timeoutMs: opts.timeoutMs ?? 40_000 });
  check(r, `kcat consume from ${topic}`);
  return parseJsonLines(r.stdout);
}

export function parseJsonLines(stdout: string): KcatMessage[] {
  const out: KcatMessage[] = [];
  for (const line of stdout.split('\n')) {
    if (line.trim() === '') continue;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new Error(`kcat printed a line that is not JSON: ${line.slice(0, 200)}`);
    }
    out.push({
      topic: o.topic as string,
      partition: o.partition as number,
      offset: o.offset as number,
      tstype: o.tstype as string,
      ts: o.ts as number,
      key: (o.key ?? null) as string | null,
      payload: (o.payload ?? null) as string | null,
      headers: parseHeaders(o.headers),
    });
  }
  return out;
}

/** kcat 1.7 prints headers as a flat [name, value, name, value, ...] array (its help text says an object). */
function parseHeaders(h: unknown): [string, string | null][] {
  if (h === undefined || h === null) return [];
  if (Array.isArray(h)) {
    const out: [string, string | null][] = [];
    for (let i = 0; i + 1 < h.length; i += 2) out.push([String(h[i]), (h[i + 1] ?? null) as string | null]);
    return out;
  }
  return Object.entries(h as Record<string, string | null>);
}

export interface KcatMetadata {
  brokers: { id: number; name: string }[];
  topics: { topic: string; error?: string; partitions: { partition: number; leader: number; replicas: { id: number }[]; isrs: { id: number }[]; error?: string }[] }[];
}

/** `kcat -L -J [-t topic]` */
export async function kcatMetadata(port: number, topic?: string): Promise<KcatMetadata> {
  const args = ['-L', ...base(port), '-J'];
  if (topic !== undefined) args.push('-t', topic);
  const r = check(await run(KCAT, args, { timeoutMs: 30_000 }), 'kcat -L');
  try {
    return JSON.parse(r.stdout) as KcatMetadata;
  } catch {
    throw new Error(`kcat -L -J printed something that is not JSON:\n${r.stdout.slice(0, 2000)}`);
  }
}

/** `kcat -Q -t topic:partition:ts` -> the offset printed for that partition. */
export async function kcatQuery(port: number, topic: string, partition: number, ts: number): Promise<number> {
  const r = check(await run(KCAT, ['-Q', ...base(port), '-t', `${topic}:${partition}:${ts}`], { timeoutMs: 30_000 }), 'kcat -Q');
  // "topic [0] offset 5"
  const m = /\[(\d+)\]\s+offset\s+(-?\d+)/.exec(r.stdout);
  if (!m) throw new Error(`cannot parse kcat -Q output: ${r.stdout}`);
  return Number(m[2]);
}
