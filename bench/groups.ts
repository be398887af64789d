/**
 * Consumer-group benchmark (issue 5): the broker started as users start it (`node bin/tern.js start`,
 * --group-initial-rebalance-delay-ms 0 so the figures are the coordinator's, not a configured wait), load
 * through src/client's Connection speaking the group protocol directly (no client-side heartbeat intervals or
 * assignor time in the figures).
 *
 * 1. Rebalance time of a G-member group (default 10): every member sends JoinGroup at once (as members do
 *    when a heartbeat says REBALANCE_IN_PROGRESS), the leader assigns round-robin, every member sends
 *    SyncGroup; the time is from the first JoinGroup sent to the last SyncGroup answer. The first round is the
 *    group forming (MEMBER_ID_REQUIRED round trip included); then R rebalances of the formed group, each
 *    started by the leader rejoining, the others rejoining as soon as a heartbeat answers
 *    REBALANCE_IN_PROGRESS (real clients wait up to their heartbeat interval for that answer: not counted).
 * 2. Offset-commit throughput: C connections each keep D OffsetCommit requests in flight (simple commits,
 *    P partitions per request) for S seconds; commits/s, partition offsets/s, and request latency. Each
 *    commit is answered only once durable (the __consumer_offsets log's acks=all path, fdatasync per flush).
 *
 * Usage: node dist/bench/groups.js [--members 10] [--rounds 30] [--connections 4] [--depth 16]
 *          [--partitions-per-commit 1] [--seconds 5] [--data-dir DIR]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '../src/client/index.js';
import { encodeAssignment, encodeSubscription } from '../src/groups/consumer-protocol.js';
import { ApiKey } from '../src/protocol/messages/index.js';
import { freePort, HOST, ServerProcess } from './proc.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TOPIC = 'bench-groups';
const TOPIC_PARTITIONS = 64;

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} needs a positive number`);
  return v;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function summary(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  return `median ${pct(s, 50).toFixed(2)} ms, p90 ${pct(s, 90).toFixed(2)} ms, max ${s.at(-1)!.toFixed(2)} ms (n=${s.length})`;
}

async function connect(port: number, clientId: string): Promise<Connection> {
  return Connection.connect({ host: HOST, port, clientId, requestTimeoutMs: 60_000, inFlightRequestsMax: 256 });
}

const generationOf = new Map<string, number>();

interface MemberState {
  conn: Connection;
  memberId: string;
}

async function rebalance(members: MemberState[], groupId: string, first: boolean): Promise<{ ms: number; generation: number }> {
  const metadata = encodeSubscription([TOPIC]);
  const t0 = performance.now();
  const join = async (m: MemberState): Promise<{ memberId: string; generationId: number; leader: string; members: { memberId: string }[] }> => {
    for (let i = 0; i < 3; i++) {
      const r = await m.conn.request(
        ApiKey.JoinGroup,
        { groupId, sessionTimeoutMs: 30_000, rebalanceTimeoutMs: 30_000, memberId: m.memberId, groupInstanceId: null, protocolType: 'consumer', protocols: [{ name: 'roundrobin', metadata }], reason: null },
        { version: 5, brokerWaitMs: 30_000 },
      );
      if (r.errorCode === 79) {
        m.memberId = r.memberId; // MEMBER_ID_REQUIRED: rejoin with the id
        continue;
      }
      if (r.errorCode !== 0) throw new Error(`JoinGroup error ${r.errorCode}`);
      m.memberId = r.memberId;
      return r;
    }
    throw new Error('JoinGroup did not settle');
  };
  let joined: Awaited<ReturnType<typeof join>>[];
  if (first) {
    joined = await Promise.all(members.map(join));
  } else {
    // The leader rejoins first (a Stable group answers a follower's unchanged JoinGroup with the current
    // generation, as Kafka does); the others rejoin once a heartbeat tells them the group is rebalancing.
    const leaderJoin = join(members[0]!);
    for (let i = 0; ; i++) {
      const hb = await members[1]!.conn.request(ApiKey.Heartbeat, { groupId, generationId: generationOf.get(groupId)!, memberId: members[1]!.memberId, groupInstanceId: null }, { version: 3 });
      if (hb.errorCode === 27) break;
      if (hb.errorCode !== 0 || i > 1000) throw new Error(`Heartbeat error ${hb.errorCode}`);
    }
    joined = await Promise.all([leaderJoin, ...members.slice(1).map(join)]);
  }
  const leader = joined.find((j) => j.memberId === j.leader)!;
  const ids = leader.members.map((x) => x.memberId).sort();
  const assignments = ids.map((id, i) => ({
    memberId: id,
    assignment: encodeAssignment([{ topic: TOPIC, partitions: Array.from({ length: TOPIC_PARTITIONS }, (_, p) => p).filter((p) => p % ids.length === i) }]),
  }));
  await Promise.all(
    members.map(async (m, i) => {
      const r = await m.conn.request(
        ApiKey.SyncGroup,
        { groupId, generationId: joined[i]!.generationId, memberId: m.memberId, groupInstanceId: null, protocolType: 'consumer', protocolName: 'roundrobin', assignments: m.memberId === leader.leader ? assignments : [] },
        { version: 5, brokerWaitMs: 30_000 },
      );
      if (r.errorCode !== 0) throw new Error(`SyncGroup error ${r.errorCode}`);
    }),
  );
  generationOf.set(groupId, leader.generationId);
  // The leader goes first in the next round.
  const li = members.findIndex((m) => m.memberId === leader.leader);
  members.unshift(...members.splice(li, 1));
  return { ms: performance.now() - t0, generation: leader.generationId };
}

async function main(): Promise<void> {
  const membersN = arg('members', 10);
  const rounds = arg('rounds', 30);
  const connections = arg('connections', 4);
  const depth = arg('depth', 16);
  const perCommit = arg('partitions-per-commit', 1);
  const seconds = arg('seconds', 5);
  const dataDirArg = process.argv.indexOf('--data-dir');
  const dataDir = dataDirArg >= 0 ? process.argv[dataDirArg + 1]! : mkdtempSync(path.join(os.tmpdir(), 'tern-bench-groups-'));
  const port = await freePort();
  const server = new ServerProcess('tern', process.execPath, [path.join(ROOT, 'bin', 'tern.js'), 'start', '--listen', `${HOST}:${port}`, '--data-dir', dataDir, '--log-level', 'warn', '--group-initial-rebalance-delay-ms', '0']);
  try {
    await server.waitForPort(port);
    const admin = await connect(port, 'bench-admin');
    await admin.request(ApiKey.CreateTopics, { topics: [{ name: TOPIC, numPartitions: TOPIC_PARTITIONS, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 30_000, validateOnly: false });
    const fc = await admin.request(ApiKey.FindCoordinator, { key: 'bench-group', keyType: 0 }); // creates __consumer_offsets
    if (fc.errorCode !== 0) throw new Error(`FindCoordinator error ${fc.errorCode}`);

    // 1. Rebalances.
    const members: MemberState[] = [];
    for (let i = 0; i < membersN; i++) members.push({ conn: await connect(port, `bench-member-${i}`), memberId: '' });
    const formed = await rebalance(members, 'bench-group', true);
    const times: number[] = [];
    let generation = formed.generation;
    for (let r = 0; r < rounds; r++) {
      const res = await rebalance(members, 'bench-group', false);
      if (res.generation !== generation + 1) throw new Error(`expected generation ${generation + 1}, got ${res.generation}`);
      generation = res.generation;
      times.push(res.ms);
    }
    for (const m of members) {
      await m.conn.request(ApiKey.LeaveGroup, { groupId: 'bench-group', memberId: m.memberId, members: [{ memberId: m.memberId, groupInstanceId: null, reason: null }] }, { version: 3 });
      m.conn.close();
    }

    // 2. Offset-commit throughput (simple commits into one group per connection).
    const conns = await Promise.all(Array.from({ length: connections }, (_, i) => connect(port, `bench-commit-${i}`)));
    const latencies: number[] = [];
    let commits = 0;
    const deadline = performance.now() + seconds * 1000;
    await Promise.all(
      conns.map(async (conn, ci) => {
        let offset = 0;
        const loop = async (): Promise<void> => {
          while (performance.now() < deadline) {
            offset++;
            const partitions = Array.from({ length: perCommit }, (_, k) => ({ partitionIndex: (offset + k) % TOPIC_PARTITIONS, committedOffset: offset, committedLeaderEpoch: -1, committedMetadata: '' }));
            const t = performance.now();
            const r = await conn.request(ApiKey.OffsetCommit, { groupId: `bench-commit-${ci}`, generationIdOrMemberEpoch: -1, memberId: '', groupInstanceId: null, retentionTimeMs: -1, topics: [{ name: TOPIC, partitions }] }, { version: 8 });
            latencies.push(performance.now() - t);
            const bad = r.topics[0]!.partitions.find((p) => p.errorCode !== 0);
            if (bad) throw new Error(`OffsetCommit error ${bad.errorCode}`);
            commits++;
          }
        };
        await Promise.all(Array.from({ length: depth }, loop));
      }),
    );
    for (const c of conns) c.close();
    admin.close();
    const cpu = server.cpuSeconds();
    const machine = `${os.cpus().length} vCPU ${os.cpus()[0]?.model ?? ''}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.type()} ${os.release()}`;
    console.log(`machine: ${machine}`);
    console.log(`rebalance of a ${membersN}-member group (JoinGroup x${membersN} -> SyncGroup x${membersN}): ${summary(times)}; forming the group: ${formed.ms.toFixed(2)} ms`);
    console.log(`offset commits: ${(commits / seconds).toFixed(0)} commits/s, ${((commits * perCommit) / seconds).toFixed(0)} partition offsets/s (${connections} connections x ${depth} in flight, ${perCommit} partition(s) per commit, ${seconds} s); latency ${summary(latencies)}`);
    if (cpu !== null) console.log(`broker CPU over the whole run: ${cpu.toFixed(2)} s`);
  } finally {
    await server.stop();
    if (dataDirArg < 0) rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
