/**
 * `tern topic ...`: create, list, describe, delete, alter-config, add-partitions, trim-prefix, all through the
 * Kafka admin APIs. A per-topic failure prints `error: NAME: message` on stderr and makes the exit code 1;
 * the other topics of the same command are still reported.
 */
import { Command, InvalidArgumentError } from 'commander';
import { ConfigOp, ConfigResourceType, OffsetSpec, type ConfigChange, type KafkaClient, type KafkaError } from '../client/index.js';
import { ApiKey } from '../protocol/messages/index.js';
import { collect, intArg, keyValue, partitionList, withBrokers, withClient } from './common.js';
import { CliError, formatError, pairs, section, table, write } from './output.js';

interface BrokerOpts {
  brokers: string;
}

/** Prints a per-item failure and marks the command failed (exit code 1) without stopping it. */
function reportFailure(err: KafkaError): void {
  process.stderr.write(`${formatError(err)}\n`);
  process.exitCode = 1;
}

export function topicCommand(): Command {
  const topic = new Command('topic').summary('create, inspect, change and delete topics').description('Create, inspect, change and delete topics.');

  withBrokers(
    topic
      .command('create')
      .summary('create topics')
      .description('Create one or more topics.')
      .argument('<names...>', 'topic names')
      .option('-p, --partitions <n>', 'number of partitions (default: the broker default)', intArg(1))
      .option('-r, --replicas <n>', 'replication factor (default: the broker default)', intArg(1, 32767))
      .option('-c, --config <key=value>', 'topic config, repeatable (e.g. -c cleanup.policy=compact)', collect)
      .option('--dry-run', 'only validate the request; create nothing'),
  ).action(async (names: string[], opts: BrokerOpts & { partitions?: number; replicas?: number; config?: string[]; dryRun?: boolean }) => {
    const configs = Object.fromEntries((opts.config ?? []).map((c) => keyValue(c, '--config')));
    const results = await withClient(opts.brokers, (c) =>
      c.createTopics(
        names.map((name) => ({
          name,
          ...(opts.partitions === undefined ? {} : { partitions: opts.partitions }),
          ...(opts.replicas === undefined ? {} : { replicationFactor: opts.replicas }),
          configs,
        })),
        { validateOnly: opts.dryRun === true },
      ),
    );
    for (const r of results) {
      if (r.error !== null) {
        reportFailure(r.error);
        continue;
      }
      const shape = r.partitions > 0 ? ` with ${r.partitions} partition${r.partitions === 1 ? '' : 's'} (replication factor ${r.replicationFactor})` : '';
      await write(opts.dryRun === true ? `Topic '${r.name}' can be created${shape} (dry run: nothing was created).\n` : `Created topic '${r.name}'${shape}.\n`);
    }
  });

  withBrokers(
    topic
      .command('list')
      .alias('ls')
      .summary('list topics')
      .description('List topics with their partition count and replication factor.')
      .option('-i, --internal', 'include internal topics'),
  ).action(async (opts: BrokerOpts & { internal?: boolean }) => {
    const md = await withClient(opts.brokers, (c) => c.metadata());
    const rows = md.topics
      .filter((t) => opts.internal === true || !t.isInternal)
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((t) => [t.name, t.partitions.length, t.partitions[0]?.replicas.length ?? 0]);
    await write(`${table(['name', 'partitions', 'replicas'], rows)}\n`);
  });

  withBrokers(
    topic
      .command('describe')
      .summary('show a topic: summary, configs, partitions with leaders and offsets')
      .description('Show a topic: summary, configs, and every partition with its leader, replicas and offsets.')
      .argument('<name>', 'topic name'),
  ).action(async (name: string, opts: BrokerOpts) => {
    await write(await withClient(opts.brokers, (c) => describeTopic(c, name)));
  });

  withBrokers(
    topic
      .command('delete')
      .alias('rm')
      .summary('delete topics')
      .description('Delete one or more topics and all their data.')
      .argument('<names...>', 'topic names'),
  ).action(async (names: string[], opts: BrokerOpts) => {
    const results = await withClient(opts.brokers, (c) => c.deleteTopics(names));
    for (const r of results) {
      if (r.error !== null) reportFailure(r.error);
      else await write(`Deleted topic '${r.name}'.\n`);
    }
  });

  withBrokers(
    topic
      .command('alter-config')
      .summary("set or delete a topic's configs")
      .description("Set or delete a topic's configs (IncrementalAlterConfigs; AlterConfigs on brokers without it).")
      .argument('<name>', 'topic name')
      .option('-s, --set <key=value>', 'set a config, repeatable', collect)
      .option('-d, --delete <key>', 'delete a config (back to the default), repeatable', collect)
      .option('--dry-run', 'only validate the change'),
  ).action(async (name: string, opts: BrokerOpts & { set?: string[]; delete?: string[]; dryRun?: boolean }) => {
    const changes: ConfigChange[] = [
      ...(opts.set ?? []).map((s) => {
        const [k, v] = keyValue(s, '--set');
        return { name: k, op: ConfigOp.Set, value: v };
      }),
      ...(opts.delete ?? []).map((k) => ({ name: k, op: ConfigOp.Delete })),
    ];
    if (changes.length === 0) throw new CliError('nothing to change: give --set key=value and/or --delete key');
    const [result] = await withClient(opts.brokers, (c) => alterTopicConfigs(c, name, changes, opts.dryRun === true));
    if (result?.error) return reportFailure(result.error);
    const what = changes.map((ch) => (ch.op === ConfigOp.Set ? `${ch.name}=${ch.value ?? ''}` : `-${ch.name}`)).join(', ');
    await write(opts.dryRun === true ? `Config change for topic '${name}' is valid: ${what} (dry run: nothing changed).\n` : `Altered topic '${name}': ${what}.\n`);
  });

  withBrokers(
    topic
      .command('add-partitions')
      .summary('add partitions to a topic')
      .description('Add partitions to a topic (the count can only grow).')
      .argument('<name>', 'topic name')
      .requiredOption('-n, --num <n>', 'number of partitions to add', intArg(1)),
  ).action(async (name: string, opts: BrokerOpts & { num: number }) => {
    const total = await withClient(opts.brokers, async (c) => {
      const md = await c.metadata([name]);
      const t = md.topics.find((x) => x.name === name);
      if (t?.error) throw t.error;
      const count = (t?.partitions.length ?? 0) + opts.num;
      const [r] = await c.createPartitions([{ name, count }]);
      if (r?.error) throw r.error;
      return count;
    });
    await write(`Topic '${name}' now has ${total} partitions (+${opts.num}).\n`);
  });

  withBrokers(
    topic
      .command('trim-prefix')
      .summary('delete records before an offset')
      .description("Delete a partition's records before an offset (DeleteRecords): the log start offset moves up.")
      .argument('<name>', 'topic name')
      .option('-p, --partitions <list>', 'partitions, comma-separated or repeated (default: all)', collect)
      .requiredOption('-o, --offset <offset>', "new start offset, or 'end' for the high watermark", offsetOrEnd),
  ).action(async (name: string, opts: BrokerOpts & { partitions?: string[]; offset: number }) => {
    const results = await withClient(opts.brokers, async (c) => {
      let partitions = opts.partitions === undefined ? undefined : partitionList(opts.partitions);
      if (partitions === undefined) {
        const md = await c.metadata([name]);
        const t = md.topics.find((x) => x.name === name);
        if (t?.error) throw t.error;
        partitions = (t?.partitions ?? []).map((p) => p.partition);
      }
      return c.deleteRecords(name, partitions.map((partition) => ({ partition, offset: opts.offset })));
    });
    const ok = results.filter((r) => r.error === null);
    for (const r of results) if (r.error !== null) reportFailure(r.error);
    if (ok.length > 0) await write(`${table(['partition', 'new-start-offset'], ok.map((r) => [r.partition, r.lowWatermark]))}\n`);
  });

  return topic;
}

function offsetOrEnd(v: string): number {
  if (v === 'end') return -1;
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected an offset >= 0 or 'end', got '${v}'.`);
  return n;
}

/** IncrementalAlterConfigs, or for brokers without it a read-modify-write of the legacy AlterConfigs. */
async function alterTopicConfigs(c: KafkaClient, name: string, changes: ConfigChange[], validateOnly: boolean) {
  const resource = { type: ConfigResourceType.Topic, name };
  if ((await c.apiVersion(ApiKey.IncrementalAlterConfigs)) !== undefined) return c.incrementalAlterConfigs([{ ...resource, changes }], { validateOnly });
  // AlterConfigs replaces every dynamic config of the topic: start from the current dynamic ones.
  const [current] = await c.describeConfigs([resource]);
  if (current?.error) throw current.error;
  const configs: Record<string, string | null> = {};
  for (const e of current?.configs ?? []) if (e.source === 'DYNAMIC_TOPIC_CONFIG') configs[e.name] = e.value;
  for (const ch of changes) {
    if (ch.op === ConfigOp.Set) configs[ch.name] = ch.value ?? null;
    else delete configs[ch.name];
  }
  return c.alterConfigs([{ ...resource, configs }], { validateOnly });
}

async function describeTopic(c: KafkaClient, name: string): Promise<string> {
  const md = await c.metadata([name]);
  const t = md.topics.find((x) => x.name === name);
  if (t === undefined) throw new CliError(`no metadata for topic '${name}'`);
  if (t.error !== null) throw t.error;
  const [configs] = await c.describeConfigs([{ type: ConfigResourceType.Topic, name }]);
  if (configs?.error) throw configs.error;
  const offsets = await Promise.all(
    t.partitions.map(async (p) => {
      const [start, end] = await Promise.all([
        c.listOffsets(name, p.partition, OffsetSpec.Earliest).then((o) => String(o.offset), (e: KafkaError) => e.name),
        c.listOffsets(name, p.partition, OffsetSpec.Latest).then((o) => String(o.offset), (e: KafkaError) => e.name),
      ]);
      return [start, end] as const;
    }),
  );
  const summary = pairs([
    ['name', t.name],
    ['topic id', t.topicId],
    ['partitions', t.partitions.length],
    ['replicas', t.partitions[0]?.replicas.length ?? 0],
    ['internal', String(t.isInternal)],
  ]);
  const configRows = (configs?.configs ?? [])
    .slice()
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((e) => [e.name, e.sensitive ? '(sensitive)' : (e.value ?? ''), e.source]);
  // The error column only when some partition has one.
  const anyError = t.partitions.some((p) => p.error !== null);
  const partitionRows = t.partitions.map((p, i) => [
    p.partition,
    p.leader,
    p.leaderEpoch,
    `[${p.replicas.join(',')}]`,
    `[${p.isr.join(',')}]`,
    offsets[i]![0],
    offsets[i]![1],
    ...(anyError ? [p.error === null ? '' : p.error.name] : []),
  ]);
  return [
    section('summary', summary),
    section('configs', table(['key', 'value', 'source'], configRows)),
    section('partitions', table(['partition', 'leader', 'epoch', 'replicas', 'isr', 'log-start-offset', 'high-watermark', ...(anyError ? ['error'] : [])], partitionRows)),
  ].join('\n\n') + '\n';
}
