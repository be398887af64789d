/**
 * `tern group ...`: list, describe (members and per-partition committed offset, log end offset and lag),
 * delete, reset-offsets. Everything goes through the Kafka group APIs (FindCoordinator, ListGroups,
 * DescribeGroups, OffsetFetch, OffsetCommit, DeleteGroups). reset-offsets commits as a standalone consumer,
 * which the coordinator allows only while the group has no members (stop the consumers first, as with
 * kafka-consumer-groups --reset-offsets).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { OffsetSpec, type KafkaClient } from '../client/index.js';
import { decodeAssignment } from '../groups/consumer-protocol.js';
import { collect, intArg, partitionList, withBrokers, withClient } from './common.js';
import { CliError, formatError, pairs, section, table, write } from './output.js';

interface BrokerOpts {
  brokers: string;
}

interface LagRow {
  topic: string;
  partition: number;
  committed: number;
  logEnd: number;
  lag: number | string;
  member: string;
}

/** Committed offsets plus the partitions the members are assigned, with end offsets and lag. */
async function lagRows(c: KafkaClient, groupId: string): Promise<{ info: Awaited<ReturnType<KafkaClient['describeGroup']>>; rows: LagRow[] }> {
  const info = await c.describeGroup(groupId);
  const committed = await c.fetchGroupOffsets(groupId);
  const owner = new Map<string, string>();
  if (info.protocolType === 'consumer') {
    for (const m of info.members) {
      for (const tp of decodeAssignment(m.assignment)?.partitions ?? []) for (const p of tp.partitions) owner.set(`${tp.topic}\u0000${p}`, m.clientId === '' ? m.memberId : `${m.clientId} (${m.memberId})`);
    }
  }
  const keys = new Map<string, { topic: string; partition: number; committed: number }>();
  for (const o of committed) keys.set(`${o.topic}\u0000${o.partition}`, { topic: o.topic, partition: o.partition, committed: o.offset });
  for (const k of owner.keys()) {
    if (keys.has(k)) continue;
    const i = k.indexOf('\u0000');
    keys.set(k, { topic: k.slice(0, i), partition: Number(k.slice(i + 1)), committed: -1 });
  }
  const rows: LagRow[] = [];
  for (const [k, v] of [...keys].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    let logEnd = -1;
    try {
      logEnd = (await c.listOffsets(v.topic, v.partition, OffsetSpec.Latest)).offset;
    } catch {
      // the topic is gone: no end offset, no lag
    }
    const lag = v.committed >= 0 && logEnd >= 0 ? Math.max(0, logEnd - v.committed) : '-';
    rows.push({ ...v, logEnd, lag, member: owner.get(k) ?? '-' });
  }
  rows.sort((a, b) => (a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1));
  return { info, rows };
}

export function groupCommand(): Command {
  const group = new Command('group').summary('list, inspect, reset and delete consumer groups').description('List, inspect, reset and delete consumer groups.');

  withBrokers(
    group
      .command('list')
      .alias('ls')
      .summary('list consumer groups')
      .description('List consumer groups with their state and protocol type.')
      .option('-s, --state <state>', 'only groups in this state (Stable, Empty, PreparingRebalance, CompletingRebalance), repeatable', collect),
  ).action(async (opts: BrokerOpts & { state?: string[] }) => {
    const groups = await withClient(opts.brokers, (c) => c.listGroups(opts.state ?? []));
    await write(`${table(['group', 'state', 'protocol type'], groups.map((g) => [g.groupId, g.state, g.protocolType === '' ? '-' : g.protocolType]))}\n`);
  });

  withBrokers(
    group
      .command('describe')
      .summary('show a group: state, members, and per-partition offsets and lag')
      .description('Show a group: state, protocol, members, and each partition with its committed offset, log end offset, lag and owner.')
      .argument('<group>', 'group id'),
  ).action(async (groupId: string, opts: BrokerOpts) => {
    const { info, rows } = await withClient(opts.brokers, (c) => lagRows(c, groupId));
    if (info.state === 'Dead' && rows.length === 0) throw new CliError(`group '${groupId}' does not exist`);
    const totalLag = rows.reduce((n, r) => n + (typeof r.lag === 'number' ? r.lag : 0), 0);
    await write(
      `${section(
        'GROUP',
        pairs([
          ['group', groupId],
          ['state', info.state],
          ['protocol type', info.protocolType === '' ? '-' : info.protocolType],
          ['protocol', info.protocol === '' ? '-' : info.protocol],
          ['members', info.members.length],
          ['total lag', totalLag],
        ]),
      )}\n\n${section('MEMBERS', table(['member id', 'instance id', 'client id', 'host', 'partitions'], info.members.map((m) => [m.memberId, m.groupInstanceId ?? '-', m.clientId, m.clientHost, (decodeAssignment(m.assignment)?.partitions ?? []).map((tp) => `${tp.topic}[${tp.partitions.join(',')}]`).join(' ') || '-'])))}\n\n${section(
        'OFFSETS',
        table(['topic', 'partition', 'committed', 'log end', 'lag', 'member'], rows.map((r) => [r.topic, r.partition, r.committed < 0 ? '-' : r.committed, r.logEnd < 0 ? '-' : r.logEnd, r.lag, r.member])),
      )}\n`,
    );
  });

  withBrokers(group.command('delete').summary('delete empty groups').description('Delete groups and their committed offsets (only groups without active members).').argument('<groups...>', 'group ids')).action(
    async (ids: string[], opts: BrokerOpts) => {
      const results = await withClient(opts.brokers, (c) => c.deleteGroups(ids));
      for (const r of results) {
        if (r.error !== null) {
          process.stderr.write(`${formatError(r.error)}\n`);
          process.exitCode = 1;
        } else {
          await write(`Deleted group '${r.name}'.\n`);
        }
      }
    },
  );

  withBrokers(
    group
      .command('reset-offsets')
      .summary("set a stopped group's committed offsets")
      .description("Set a group's committed offsets for a topic (the group must have no active members).")
      .argument('<group>', 'group id')
      .requiredOption('-t, --topic <topic>', 'topic whose offsets to reset')
      .option('-p, --partitions <list>', 'only these partitions (e.g. 0,2); default all', collect)
      .addOption(new Option('--to-earliest', 'the log start offset').conflicts(['toLatest', 'toOffset', 'shiftBy']))
      .addOption(new Option('--to-latest', 'the log end offset').conflicts(['toOffset', 'shiftBy']))
      .addOption(new Option('--to-offset <n>', 'this offset (clamped to the log)').argParser(intArg(0)).conflicts(['shiftBy']))
      .addOption(new Option('--shift-by <n>', 'move the committed offset by n (may be negative; clamped to the log)').argParser((v: string) => {
        const n = Number(v);
        if (!Number.isInteger(n)) throw new InvalidArgumentError(`expected an integer, got '${v}'.`);
        return n;
      }))
      .option('--dry-run', 'show the new offsets; commit nothing'),
  ).action(async (groupId: string, opts: BrokerOpts & { topic: string; partitions?: string[]; toEarliest?: boolean; toLatest?: boolean; toOffset?: number; shiftBy?: number; dryRun?: boolean }) => {
    if (opts.toEarliest !== true && opts.toLatest !== true && opts.toOffset === undefined && opts.shiftBy === undefined) {
      throw new CliError('say where to: --to-earliest, --to-latest, --to-offset N or --shift-by N');
    }
    await withClient(opts.brokers, async (c) => {
      const md = await c.metadata([opts.topic]);
      const t = md.topics.find((x) => x.name === opts.topic);
      if (t === undefined || t.error !== null) throw t?.error ?? new CliError(`topic '${opts.topic}' does not exist`);
      const partitions = opts.partitions ? partitionList(opts.partitions) : t.partitions.map((p) => p.partition);
      const current = new Map((await c.fetchGroupOffsets(groupId)).filter((o) => o.topic === opts.topic).map((o) => [o.partition, o.offset]));
      const plan: { topic: string; partition: number; offset: number; before: number }[] = [];
      for (const p of partitions) {
        const start = (await c.listOffsets(opts.topic, p, OffsetSpec.Earliest)).offset;
        const end = (await c.listOffsets(opts.topic, p, OffsetSpec.Latest)).offset;
        const before = current.get(p) ?? -1;
        let target: number;
        if (opts.toEarliest === true) target = start;
        else if (opts.toLatest === true) target = end;
        else if (opts.toOffset !== undefined) target = opts.toOffset;
        else target = (before >= 0 ? before : start) + opts.shiftBy!;
        plan.push({ topic: opts.topic, partition: p, offset: Math.min(Math.max(target, start), end), before });
      }
      if (opts.dryRun !== true) {
        const results = await c.commitGroupOffsets(groupId, plan);
        const failed = results.filter((r) => r.error !== null);
        if (failed.length > 0) {
          for (const f of failed) process.stderr.write(`${formatError(f.error)} (${f.topic}/${f.partition})\n`);
          process.exitCode = 1;
          if (failed.some((f) => f.error?.name === 'UNKNOWN_MEMBER_ID')) process.stderr.write(`error: group '${groupId}' has active members: stop its consumers first\n`);
          return;
        }
      }
      await write(`${table(['topic', 'partition', 'old offset', 'new offset'], plan.map((r) => [r.topic, r.partition, r.before < 0 ? '-' : r.before, r.offset]))}\n${opts.dryRun === true ? '(dry run: nothing was committed)\n' : ''}`);
    });
  });

  return group;
}
