/**
 * Crash durability on each log engine, named explicitly (`--log-engine native|node`; crash.test.ts runs the
 * default one). An acks=all workload is SIGKILLed while the failsync shim delays every fdatasync
 * (FAILSYNC_DELAY_MS), so the kill usually lands between a write and its sync; then every data file is cut back
 * to its size at its last successful sync (power loss: unsynced bytes gone) and the broker restarted on the same
 * data. Every acknowledged record must be read back at its acknowledged offset, offsets dense, nothing torn
 * served, and the log must take appends at its end.
 *
 * The native engine's direct-I/O files end in zero padding up to a block boundary while open, and its journal
 * sizes are those padded sizes; recovery must treat that padding as padding (not a torn write) in every segment.
 *
 * The native broker runs with --zero-ahead-bytes 0 here: the shim's journal models power loss as "each file cut to
 * its size at its last sync", which cannot take back unsynced overwrites of zeros written ahead, so with zero-ahead
 * on it would lose almost nothing and prove little. crash.test.ts runs the default engine with zero-ahead on (its
 * zero tails through recovery after SIGKILL).
 */
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeEngineAvailable } from '../../src/io/index.js';
import { assertRealDisk, launch, TempDirs, type E2EBroker } from './lib/broker.js';
import { buildFailsync, dropUnsyncedTails, failsyncEnv } from './lib/faultkit.js';
import { requireTools, sleep } from './lib/proc.js';
import { encodeBatch } from './lib/records.js';
import { WireClient } from './lib/wire.js';
import { AckedWorkload, prng, verifyAcknowledged, type Acked } from './lib/workload.js';

const SEED = Number(process.env.TERN_E2E_SEED ?? 20240611);
const TOPIC = 'engine-crash';
const PARTITIONS = 3;
const ROUNDS = 2;

const temps = new TempDirs();
const brokers: E2EBroker[] = [];
let so: string;

beforeAll(async () => {
  requireTools();
  so = await buildFailsync(temps.make('failsync'));
});

afterAll(async () => {
  for (const b of brokers.splice(0)) await b.kill().catch(() => undefined);
  temps.cleanup();
});

async function start(dataDir: string, engine: string, env: Record<string, string>): Promise<E2EBroker> {
  const b = await launch({ dataDir, env, args: ['--log-engine', engine, ...(engine === 'native' ? ['--zero-ahead-bytes', '0'] : [])] });
  brokers.push(b);
  return b;
}

/** Runs the workload until `killAfter` acknowledgements, SIGKILLs the broker mid-stream, returns what was acked. */
async function produceAndKill(b: E2EBroker, killAfter: number, tag: string, seed: number): Promise<Acked[]> {
  let killing: Promise<void> | null = null;
  const w = new AckedWorkload({
    port: b.port,
    topic: TOPIC,
    partitions: PARTITIONS,
    connections: 3,
    inflightPerConnection: 4,
    runTag: tag,
    seed,
    onAck: (n) => {
      // a moment after an acknowledgement (which follows a sync), when the next writes are likely out and their
      // (delayed) sync is not done yet
      if (n >= killAfter && !killing) killing = sleep(2).then(() => b.kill());
    },
  });
  await w.start();
  const deadline = Date.now() + 20_000;
  while (!killing && Date.now() < deadline) await sleep(20);
  expect(killing, `only ${w.acked.length} of ${killAfter} acks within 20 s (errors ${[...w.errorCodes]} ${w.errors.slice(0, 3)})${b.diagnose()}`).not.toBeNull();
  await killing;
  await w.stop();
  return w.acked;
}

/** Every acknowledged record at its offset, offsets dense, no value twice; returns each partition's end. */
function verify(b: E2EBroker, acked: Acked[], what: string): Promise<number[]> {
  return verifyAcknowledged(b.port, TOPIC, PARTITIONS, acked, what, () => b.diagnose());
}

describe('crash and power loss on each log engine', () => {
  for (const engine of ['native', 'node'] as const) {
    it.skipIf(engine === 'native' && !nativeEngineAvailable())(
      `${engine} engine: SIGKILL between write and sync, unsynced tails dropped: every acknowledged record survives`,
      async () => {
        const dataDir = temps.make(`engine-${engine}`);
        assertRealDisk(dataDir);
        const journal = path.join(temps.make('journal'), 'journal');
        const env = { ...failsyncEnv(so, { prefix: dataDir, syncAfter: -1, journal }), FAILSYNC_DELAY_MS: '3' };
        const rnd = prng(SEED + (engine === 'native' ? 11 : 13));
        const acked: Acked[] = [];
        const logCuts: string[] = [];
        let b = await start(dataDir, engine, env);
        const c = await WireClient.connect(b.port);
        expect(await c.createTopic(TOPIC, PARTITIONS), `CreateTopics${b.diagnose()}`).toBe(0);
        c.close();
        for (let round = 0; round < ROUNDS; round++) {
          const killAfter = 100 + Math.floor(rnd() * 200);
          const got = await produceAndKill(b, killAfter, `${engine}${round}`, SEED + round);
          acked.push(...got);
          const cut = dropUnsyncedTails(journal, dataDir);
          logCuts.push(...cut.filter((x) => x.file.endsWith('.log')).map((x) => `${path.basename(x.file)} ${x.from}->${x.to}`));
          b = await start(dataDir, engine, env);
          const ends = await verify(b, acked, `${engine} engine after power loss round ${round}`);
          console.info(`[e2e engine] ${engine} round ${round}: ${got.length} acked; cut ${cut.length} files (${cut.filter((x) => x.file.endsWith('.log')).length} .log); partitions end at ${ends}`);
          // the log takes appends at its end
          const w = await WireClient.connect(b.port);
          try {
            for (let p = 0; p < PARTITIONS; p++) {
              const value = `${engine}${round}/after-recovery/${p}`;
              const res = await w.produce(TOPIC, p, encodeBatch([{ key: null, value: Buffer.from(value) }]), -1);
              expect(res.errorCode, `produce after recovery to partition ${p}${b.diagnose()}`).toBe(0);
              expect(res.baseOffset, `partition ${p}: first offset after recovery`).toBe(ends[p]);
              acked.push({ partition: p, offset: res.baseOffset, value, conn: -1, seq: 0 });
            }
          } finally {
            w.close();
          }
        }
        await verify(b, acked, `${engine} engine at the end`);
        const syncedLogs = readFileSync(journal, 'utf8').split('\n').filter((l) => l.includes(dataDir) && l.endsWith('.log'));
        expect(syncedLogs.length, `the shim saw no .log syncs: the ${engine} engine bypasses libc's fdatasync`).toBeGreaterThan(0);
        // Usually .log files are cut (the kill lands between a write and its delayed sync), so an acknowledgement
        // sent before its sync would show up above as a lost record; not asserted, it depends on timing.
        console.info(`[e2e engine] ${engine}: .log files cut back by the power loss: ${logCuts.join(', ') || 'none'}`);
        await b.stop();
      },
      90_000,
    );
  }
});
