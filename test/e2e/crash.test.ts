/**
 * Crash durability: "acknowledged means durable" (design.md). An acks=all producer records every acknowledged
 * (partition, offset, value); the broker is SIGKILLed mid-stream, restarted on the same data dir, and every
 * acknowledged record must be read back at exactly its acknowledged offset: none lost, none moved, none
 * reordered, and the log must accept appends after recovery.
 *
 * Case 1: three SIGKILL/restart rounds on a real ext4 disk (never tmpfs: it ignores fsync).
 * Case 2: power loss: the broker runs under the failsync shim's journal; after SIGKILL every data file is cut
 *         back to its size at its last successful fsync/fdatasync, as if the page cache were lost. This catches
 *         an ack sent before the sync, which plain SIGKILL (page cache survives) cannot.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertRealDisk, BrokerPool, TempDirs, type E2EBroker } from './lib/broker.js';
import { buildFailsync, dropUnsyncedTails, failsyncEnv } from './lib/faultkit.js';
import { kcatConsume } from './lib/kcat.js';
import { requireTools, sleep } from './lib/proc.js';
import { WireClient } from './lib/wire.js';
import { AckedWorkload, prng, verifyAcknowledged, type Acked } from './lib/workload.js';

const SEED = Number(process.env.TERN_E2E_SEED ?? 20240611);
const TOPIC = 'crash';
const PARTITIONS = 3;

const temps = new TempDirs();
const pool = new BrokerPool();

beforeAll(() => {
  requireTools();
});

afterAll(async () => {
  await pool.killAll();
  temps.cleanup();
});

const start = (dataDir: string, env?: Record<string, string>, args?: string[]): Promise<E2EBroker> => pool.start(dataDir, env, args);

async function createTopic(b: E2EBroker, partitions = PARTITIONS): Promise<void> {
  const c = await WireClient.connect(b.port);
  try {
    expect(await c.createTopic(TOPIC, partitions), `CreateTopics${b.diagnose()}`).toBe(0);
  } finally {
    c.close();
  }
}

/**
 * Runs the acks=all workload and SIGKILLs the broker after `killAfter` acknowledgements (requests are still in
 * flight at that moment). Returns what was acknowledged.
 */
async function produceAndKill(b: E2EBroker, killAfter: number, round: number, partitions = PARTITIONS): Promise<{ acked: Acked[]; sent: number }> {
  let killing: Promise<void> | null = null;
  const w = new AckedWorkload({
    port: b.port,
    topic: TOPIC,
    partitions,
    connections: 4,
    inflightPerConnection: 4,
    runTag: `r${round}`,
    seed: SEED + round,
    onAck: (n) => {
      if (n >= killAfter && !killing) killing = b.kill();
    },
  });
  await w.start();
  const deadline = Date.now() + 20_000;
  while (!killing && Date.now() < deadline) await sleep(20);
  expect(killing, `only ${w.acked.length} of ${killAfter} acks within 20 s (errors: ${[...w.errorCodes]} ${w.errors.slice(0, 3)})${b.diagnose()}`).not.toBeNull();
  await killing;
  await w.stop();
  expect(b.alive()).toBe(false);
  return { acked: w.acked, sent: w.sent };
}

/** Reads every partition back and checks each acknowledged record is at its acknowledged offset. */
async function verify(b: E2EBroker, acked: Acked[], what: string, partitions = PARTITIONS): Promise<number[]> {
  const ends = await verifyAcknowledged(b.port, TOPIC, partitions, acked, what, () => b.diagnose());
  // per connection and partition, acknowledged offsets follow send order
  const byStream = new Map<string, Acked[]>();
  for (const a of acked) {
    const k = `${a.value.split('/')[0]}/${a.conn}/${a.partition}`;
    const list = byStream.get(k) ?? [];
    list.push(a);
    byStream.set(k, list);
  }
  for (const [k, list] of byStream) {
    const sorted = [...list].sort((x, y) => x.seq - y.seq || x.offset - y.offset);
    for (let i = 1; i < sorted.length; i++) {
      expect(sorted[i]!.offset > sorted[i - 1]!.offset, `${what}: stream ${k} reordered at seq ${sorted[i]!.seq}`).toBe(true);
    }
  }
  return ends;
}

/** After recovery the log takes appends at its end. */
async function appendAfterRecovery(b: E2EBroker, ends: number[], acked: Acked[], tag: string, partitions = PARTITIONS): Promise<void> {
  const c = await WireClient.connect(b.port);
  try {
    const { encodeBatch } = await import('./lib/records.js');
    for (let p = 0; p < partitions; p++) {
      const value = `${tag}/after-recovery/${p}`;
      const res = await c.produce(TOPIC, p, encodeBatch([{ key: null, value: Buffer.from(value) }]), -1);
      expect(res.errorCode, `produce after recovery to partition ${p}${b.diagnose()}`).toBe(0);
      expect(res.baseOffset, `partition ${p}: first offset after recovery`).toBe(ends[p]);
      acked.push({ partition: p, offset: res.baseOffset, value, conn: -1, seq: 0 });
    }
  } finally {
    c.close();
  }
}

/**
 * A data dir on the real disk and the failsync shim recording every file's size at its last good sync (in
 * `journal`), for power-loss runs: SIGKILL, then dropUnsyncedTails(journal, dataDir).
 */
async function powerLossRig(name: string): Promise<{ dataDir: string; journal: string; env: Record<string, string> }> {
  const dataDir = temps.make(name);
  assertRealDisk(dataDir);
  const tools = temps.make(`${name}-failsync`);
  const so = await buildFailsync(tools);
  const journal = `${tools}/journal`;
  return { dataDir, journal, env: failsyncEnv(so, { prefix: dataDir, syncAfter: -1, journal }) };
}

describe('crash durability', () => {
  it('SIGKILL mid-stream, three rounds: every acknowledged record survives at its offset', async () => {
    const dataDir = temps.make('crash');
    assertRealDisk(dataDir);
    const rnd = prng(SEED);
    const acked: Acked[] = [];
    let b = await start(dataDir);
    await createTopic(b);
    for (let round = 0; round < 3; round++) {
      const killAfter = 150 + Math.floor(rnd() * 350);
      const r = await produceAndKill(b, killAfter, round);
      acked.push(...r.acked);
      b = await start(dataDir);
      const ends = await verify(b, acked, `after SIGKILL round ${round} (${r.acked.length} acked of ${r.sent} sent)`);
      console.info(`[e2e crash] SIGKILL round ${round}: ${r.acked.length} acked of ${r.sent} sent; partitions now end at ${ends}`);
      await appendAfterRecovery(b, ends, acked, `r${round}`);
    }
    // a second client (librdkafka) reads the same thing
    const got = await kcatConsume(b.port, TOPIC, { offset: 'beginning', timeoutMs: 60_000 });
    const byKey = new Map(got.map((m) => [`${m.partition}@${m.offset}`, m.payload]));
    const bad = acked.filter((a) => byKey.get(`${a.partition}@${a.offset}`) !== a.value);
    expect(bad.length, `kcat disagrees on ${bad.length} acknowledged records${b.diagnose()}`).toBe(0);
    await b.stop();
  }, 120_000);

  it('power loss (unsynced tails dropped after SIGKILL): every acknowledged record survives', async () => {
    const { dataDir, journal, env } = await powerLossRig('powerloss');
    const rnd = prng(SEED + 7);
    const acked: Acked[] = [];
    let b = await start(dataDir, env);
    await createTopic(b);
    for (let round = 0; round < 2; round++) {
      const killAfter = 150 + Math.floor(rnd() * 350);
      const r = await produceAndKill(b, killAfter, round);
      acked.push(...r.acked);
      const cut = dropUnsyncedTails(journal, dataDir);
      b = await start(dataDir, env);
      const ends = await verify(b, acked, `after power loss round ${round} (${r.acked.length} acked, ${cut.length} files cut back)`);
      console.info(`[e2e crash] power-loss round ${round}: ${r.acked.length} acked of ${r.sent} sent; cut ${cut.map((c) => `${path.basename(c.file)} ${c.from}->${c.to}`).join(', ') || 'nothing'}; partitions now end at ${ends}`);
      await appendAfterRecovery(b, ends, acked, `p${round}`);
    }
    // the journal must have seen syncs, or the shim did not reach the broker's I/O and this test proved nothing
    const { readFileSync } = await import('node:fs');
    const lines = readFileSync(journal, 'utf8').split('\n').filter((l) => l.includes(dataDir));
    expect(lines.length, `failsync journal saw no syncs under ${dataDir}: the shim is bypassed (io_uring? direct syscalls?)`).toBeGreaterThan(0);
    await b.stop();
  }, 120_000);
  it('power loss with 16 partitions, syncs through the engine journal: every acknowledged record survives', async () => {
    // 16 partitions and --journal-files-min 2: most flush rounds carry several files and go through the journal
    // (one fdatasync of the journal; the partition files are synced by checkpoints), so a power loss cuts the
    // partition files back and the restart must take the acknowledged bytes from the journal.
    const partitions = 16;
    const { dataDir, journal, env } = await powerLossRig('powerloss-journal');
    // no zeros ahead: appends extend the files, so the cut back to the last synced size drops everything after
    // the last checkpoint (overwrites of zeros already synced would survive the cut and prove less)
    const args = ['--journal-files-min', '2', '--zero-ahead-bytes', '0'];
    const rnd = prng(SEED + 11);
    const acked: Acked[] = [];
    let b = await start(dataDir, env, args);
    await createTopic(b, partitions);
    let replays = 0;
    for (let round = 0; round < 3; round++) {
      const killAfter = 300 + Math.floor(rnd() * 400);
      const r = await produceAndKill(b, killAfter, round, partitions);
      acked.push(...r.acked);
      const cut = dropUnsyncedTails(journal, dataDir);
      b = await start(dataDir, env, args);
      const replayed = /journal replayed/.test(b.stderrTail(400));
      if (replayed) replays++;
      const ends = await verify(b, acked, `after power loss round ${round} (${r.acked.length} acked, ${cut.length} files cut back, journal replayed: ${replayed})`, partitions);
      console.info(`[e2e crash] journal power-loss round ${round}: ${r.acked.length} acked of ${r.sent} sent; ${cut.length} files cut back; journal replayed: ${replayed}; partitions now end at ${ends}`);
      await appendAfterRecovery(b, ends, acked, `j${round}`, partitions);
    }
    // If no restart replayed anything, the journal carried nothing at the kills and this test proved nothing new.
    expect(replays, `no restart replayed the journal${b.diagnose()}`).toBeGreaterThan(0);
    await b.stop();
  }, 180_000);
});
