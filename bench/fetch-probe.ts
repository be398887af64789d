/**
 * Fetch probe (issue #3, round 8): what one consumer costs the broker, per log engine. Starts `tern start` with the
 * given engine, produces `--mb` MB of 1 KiB records (acks=all, 63 per batch) to one partition, then reads them back
 * from offset 0 `--rounds` times on one connection, one Fetch at a time (1 MiB per partition, as engine-e2e's
 * consume does). Prints consume MB/s, per-fetch latency p50/p99/p99.9 (HDR), and the broker process's minor page
 * faults and CPU seconds (from /proc) after producing and at the end, and (the broker runs with --trace-gc) the
 * Mark-Compacts and scavenges of all its isolates with their pause time in total.
 *
 *   npm run build && node dist/bench/fetch-probe.js --log-engine native|node [--mb 400] [--rounds 2] [--dir /path]
 *     [--broker-node-arg <node flag, e.g. --max-semi-space-size=32>]...
 *
 * The data dir must be on a real disk (not tmpfs). Linux only (reads /proc/<pid>/stat). The broker's output is
 * kept by ServerProcess for error messages, not printed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import hdr from 'hdr-histogram-js';
import { Connection } from '../src/client/index.js';
import { ApiKey } from '../src/protocol/messages/index.js';
import { buildRecordBatch } from '../src/protocol/records.js';
import { freePort, HOST, ServerProcess } from './proc.js';

const argv = process.argv.slice(2);
const get = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const logEngine = get('--log-engine') ?? 'native';
const mb = Number(get('--mb') ?? 400);
const rounds = Number(get('--rounds') ?? 2);
const nodeArgs = argv.flatMap((a, i) => (a === '--broker-node-arg' && i + 1 < argv.length ? [argv[i + 1]!] : []));
const dataDir = get('--dir') ?? path.join(os.tmpdir(), `tern-fetch-probe-${process.pid}`);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Minor faults and CPU seconds (user + system) of the broker so far. */
function procStat(p: ServerProcess): { minflt: number; cpuS: number } {
  return { minflt: p.minorFaults() ?? NaN, cpuS: p.cpuSeconds() ?? NaN };
}

fs.rmSync(dataDir, { recursive: true, force: true });
const port = await freePort();
const broker = new ServerProcess('tern', process.execPath, ['--trace-gc', ...nodeArgs, path.join(root, 'bin/tern.js'), 'start', '--listen', `${HOST}:${port}`, '--data-dir', dataDir, '--log-level', 'warn', '--log-engine', logEngine]);
/** --trace-gc lines of every isolate: "... ms: Mark-Compact 9.9 (27.7) -> 9.5 (27.7) MB, 2.69 / 0.02 ms ...". */
const gc = { markCompacts: 0, markCompactMs: 0, scavenges: 0, scavengeMs: 0 };
let gcTail = '';
broker.proc.stdout!.on('data', (d: Buffer) => {
  const lines = (gcTail + d.toString()).split('\n');
  gcTail = lines.pop()!;
  for (const line of lines) {
    const m = /ms: (Mark-Compact|Scavenge)\b[^,]*, ([\d.]+) \//.exec(line);
    if (m === null) continue;
    if (m[1] === 'Mark-Compact') {
      gc.markCompacts++;
      gc.markCompactMs += Number(m[2]);
    } else {
      gc.scavenges++;
      gc.scavengeMs += Number(m[2]);
    }
  }
});
const gcLine = (): string => `${gc.markCompacts} Mark-Compacts (${gc.markCompactMs.toFixed(0)} ms), ${gc.scavenges} scavenges (${gc.scavengeMs.toFixed(0)} ms)`;
try {
  await broker.waitForPort(port);
  const conn = await Connection.connect({ host: HOST, port, clientId: 'fetch-probe', inFlightRequestsMax: 64 });
  const created = await conn.request(ApiKey.CreateTopics, { topics: [{ name: 'probe', numPartitions: 1, replicationFactor: 1 }], timeoutMs: 10_000 });
  if (created.topics[0]?.errorCode !== 0) throw new Error(`create topic: error ${created.topics[0]?.errorCode}`);
  const value = Buffer.alloc(1024, 0x61);
  const batch = buildRecordBatch(Array.from({ length: 63 }, (_, i) => ({ key: null, value, timestamp: Date.now() + i })), {});
  const body = { acks: -1, timeoutMs: 30_000, transactionalId: null, topicData: [{ name: 'probe', partitionData: [{ index: 0, records: batch }] }] };
  let sent = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (sent < mb * 1e6) {
        sent += batch.length;
        const res = await conn.request(ApiKey.Produce, body);
        const code = res.responses[0]!.partitionResponses[0]!.errorCode;
        if (code !== 0) throw new Error(`produce error ${code}`);
      }
    }),
  );
  const produced = procStat(broker);
  const threadsProduced = broker.threadCpuSeconds();
  console.log(`${logEngine}: produced ${(sent / 1e6).toFixed(0)} MB at ${(sent / 1e6 / ((performance.now() - t0) / 1000)).toFixed(0)} MB/s; broker so far: ${produced.minflt} minor faults, ${produced.cpuS.toFixed(2)} CPU s, ${gcLine()}`);
  for (let round = 0; round < rounds; round++) {
    const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
    let offset = 0;
    let bytes = 0;
    const start = performance.now();
    for (;;) {
      const t = performance.now();
      const res = await conn.request(ApiKey.Fetch, {
        replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 52_428_800, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
        topics: [{ topic: 'probe', partitions: [{ partition: 0, fetchOffset: offset, partitionMaxBytes: 1_048_576, currentLeaderEpoch: -1, logStartOffset: -1 }] }],
      });
      hist.recordValue(Math.max(1, Math.round((performance.now() - t) * 1000)));
      const rec = res.responses[0]!.partitions[0]!.records;
      if (!rec || !Buffer.isBuffer(rec) || rec.length === 0) break;
      // Walk whole batch headers: baseOffset (8), length (4), lastOffsetDelta at 23.
      let pos = 0;
      let last = -1;
      while (pos + 61 <= rec.length) {
        const len = rec.readInt32BE(pos + 8);
        if (pos + 12 + len > rec.length) break;
        last = Number(rec.readBigInt64BE(pos)) + rec.readInt32BE(pos + 23);
        pos += 12 + len;
      }
      if (last < offset) break;
      bytes += pos;
      offset = last + 1;
    }
    const s = (performance.now() - start) / 1000;
    const p = (q: number): string => (hist.getValueAtPercentile(q) / 1000).toFixed(2);
    console.log(`${logEngine}: round ${round}: consumed ${(bytes / 1e6).toFixed(0)} MB at ${(bytes / 1e6 / s).toFixed(0)} MB/s; ${hist.totalCount} fetches, p50 / p99 / p99.9 ${p(50)} / ${p(99)} / ${p(99.9)} ms`);
  }
  const end = procStat(broker);
  console.log(`${logEngine}: broker while consuming: ${end.minflt - produced.minflt} minor faults, ${(end.cpuS - produced.cpuS).toFixed(2)} CPU s; GC in all, whole run: ${gcLine()}`);
  // The busiest threads while consuming: one busy shard thread means the connection and the partition share a
  // shard; two, that the connection's shard fetched across (the kernel places the connection, SO_REUSEPORT).
  const busiest = [...broker.threadCpuSeconds()]
    .map(([key, s]) => [key, s - (threadsProduced.get(key) ?? 0)] as const)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 4);
  console.log(`${logEngine}: busiest threads while consuming (CPU s): ${busiest.map(([key, s]) => `${key} ${s.toFixed(2)}`).join(', ')}`);
  conn.close();
} finally {
  await broker.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
}
