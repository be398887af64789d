/**
 * `tern consume TOPIC`: prints records, one per line, from a start position, following the topic with long
 * polls until interrupted, `-n` records were printed, or (`-e`) every partition's end was reached.
 * No consumer group: positions are chosen with `-o` and not committed.
 * OFFSET_OUT_OF_RANGE (the position was deleted by retention or trim-prefix) moves that partition to its log
 * start, with a note on stderr, like Kafka's auto.offset.reset=earliest.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { OffsetSpec, type ConsumedRecord, type FetchPartitionRequest, type KafkaClient } from '../client/index.js';
import { ErrorCode } from '../protocol/errors.js';
import { collect, intArg, partitionList, withBrokers, withClient } from './common.js';
import { CliError, write } from './output.js';

/** How long one Fetch may wait at the broker for new records. */
const POLL_WAIT_MS = 1000;

export type StartAt = { kind: 'start' } | { kind: 'end' } | { kind: 'offset'; offset: number } | { kind: 'time'; timestampMs: number };

export function parseStartAt(v: string): StartAt {
  if (v === 'start' || v === 'beginning' || v === 'oldest') return { kind: 'start' };
  if (v === 'end' || v === 'newest') return { kind: 'end' };
  if (v.startsWith('@')) {
    const ts = Number(v.slice(1));
    if (v.length > 1 && Number.isInteger(ts) && ts >= 0) return { kind: 'time', timestampMs: ts };
  } else {
    const n = Number(v);
    if (v.trim() !== '' && Number.isInteger(n) && n >= 0) return { kind: 'offset', offset: n };
  }
  throw new InvalidArgumentError(`expected start, end, an offset or @TIMESTAMP_MS, got '${v}'.`);
}

interface ConsumeOpts {
  brokers: string;
  offset: StartAt;
  num?: number;
  partition?: string[];
  format: 'plain' | 'json';
  keySeparator?: string;
  end?: boolean;
}

export function consumeCommand(): Command {
  return withBrokers(
    new Command('consume')
      .summary('print records of a topic')
      .description('Print the records of a topic, one per line, and keep following it (Ctrl-C stops).')
      .argument('<topic>', 'topic to read')
      .addOption(
        new Option('-o, --offset <where>', "start at 'start', 'end', an offset N, or @TIMESTAMP_MS (first record at or after it)")
          .argParser(parseStartAt)
          .default({ kind: 'start' } satisfies StartAt, 'start'),
      )
      .option('-n, --num <n>', 'exit after printing n records', intArg(1))
      .option('-p, --partition <list>', 'partitions to read, comma-separated or repeated (default: all)', collect)
      .addOption(new Option('-f, --format <format>', 'plain: the value (see -k); json: an object per line with every field').choices(['plain', 'json']).default('plain'))
      .option('-k, --key-separator <sep>', 'plain format: print KEY<sep>VALUE')
      .option('-e, --end', 'exit once the end of every partition is reached')
      .addHelpText('after', `\nExamples:\n  $ tern consume events -n 10\n  $ tern consume events -o end -f json\n  $ tern consume events -p 0 -o @1700000000000 -e`),
  ).action(async (topic: string, opts: ConsumeOpts) => {
    await withClient(opts.brokers, (client) => consume(client, topic, opts));
  });
}

async function consume(client: KafkaClient, topic: string, opts: ConsumeOpts): Promise<void> {
  const md = await client.metadata([topic]);
  const t = md.topics.find((x) => x.name === topic);
  if (t?.error) throw t.error;
  const all = (t?.partitions ?? []).map((p) => p.partition);
  const chosen = opts.partition === undefined ? all : partitionList(opts.partition);
  for (const p of chosen) if (!all.includes(p)) throw new CliError(`topic '${topic}' has no partition ${p}`);

  const positions: FetchPartitionRequest[] = await Promise.all(chosen.map(async (partition) => ({ topic, partition, offset: await startOffset(client, topic, partition, opts.offset) })));
  let printed = 0;
  let stopping = false;
  const onSignal = (): void => {
    stopping = true;
    client.close(); // fails the pending long poll at once
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    while (!stopping && positions.length > 0) {
      let results;
      try {
        // -e wants what is there now: no reason to long-poll at the end.
        results = await client.fetchMany(positions, { maxWaitMs: opts.end === true ? 0 : POLL_WAIT_MS });
      } catch (err) {
        if (stopping) return;
        throw err;
      }
      let atEnd = true;
      const lines: string[] = [];
      for (const r of results) {
        const pos = positions.find((p) => p.partition === r.partition)!;
        if (r.error !== null) {
          if (r.error.code !== ErrorCode.OFFSET_OUT_OF_RANGE) throw r.error;
          const start = (await client.listOffsets(topic, r.partition, OffsetSpec.Earliest)).offset;
          process.stderr.write(`note: offset ${pos.offset} of partition ${r.partition} is out of range; continuing from ${start}\n`);
          pos.offset = start;
          atEnd = false;
          continue;
        }
        for (const rec of r.records) {
          if (opts.num !== undefined && printed >= opts.num) break;
          lines.push(format(rec, opts));
          printed++;
        }
        pos.offset = r.nextOffset;
        if (r.highWatermark < 0 || pos.offset < r.highWatermark) atEnd = false;
      }
      if (lines.length > 0) await write(lines.join(''));
      if (opts.num !== undefined && printed >= opts.num) return;
      if (opts.end === true && atEnd) return;
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function startOffset(client: KafkaClient, topic: string, partition: number, at: StartAt): Promise<number> {
  switch (at.kind) {
    case 'start':
      return (await client.listOffsets(topic, partition, OffsetSpec.Earliest)).offset;
    case 'end':
      return (await client.listOffsets(topic, partition, OffsetSpec.Latest)).offset;
    case 'offset':
      return at.offset;
    case 'time': {
      const found = await client.listOffsets(topic, partition, at.timestampMs);
      // -1: no record at or after that time, so start at the end.
      return found.offset >= 0 ? found.offset : (await client.listOffsets(topic, partition, OffsetSpec.Latest)).offset;
    }
  }
}

function format(r: ConsumedRecord, opts: ConsumeOpts): string {
  if (opts.format === 'json') {
    return `${JSON.stringify({
      topic: r.topic,
      partition: r.partition,
      offset: r.offset,
      timestamp: r.timestamp,
      key: r.key === null ? null : r.key.toString('utf8'),
      value: r.value === null ? null : r.value.toString('utf8'),
      headers: r.headers.map((h) => ({ key: h.key, value: h.value === null ? null : h.value.toString('utf8') })),
    })}\n`;
  }
  const value = r.value === null ? '' : r.value.toString('utf8');
  if (opts.keySeparator === undefined) return `${value}\n`;
  return `${r.key === null ? '' : r.key.toString('utf8')}${opts.keySeparator}${value}\n`;
}
