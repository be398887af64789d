/**
 * Storage faults on a real broker process.
 *
 * fsync failure (and write failure) via the fault kit's failsync LD_PRELOAD shim, scoped to ONE partition's
 * directory: produce acks=all/acks=1 to it must answer KAFKA_STORAGE_ERROR (56), never success; the record must
 * never be served; the broker keeps serving Metadata and other partitions; after the "disk" is healthy again a
 * restart brings the partition back.
 *
 * Disk full, on each log engine: the data dir on a small filesystem (loop-mounted ext4, or tmpfs: fine for
 * ENOSPC, not for durability). Produce until full: KAFKA_STORAGE_ERROR comes back, the broker does not crash;
 * then a ballast file is deleted and, without a restart, producing resumes within a bounded time (the partition
 * is reopened every storageRetryMs); every acknowledged record, before and after, reads back at its offset.
 *
 * The partition directory is found, not assumed: a marker record is produced and the data dir searched for it.
 */
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { CompressionTypes, Kafka, logLevel } from 'kafkajs';
import { BrokerPool, TempDirs, launch, type E2EBroker, type LaunchOptions } from './lib/broker.js';
import { buildFailsync, failsyncEnv, filesContaining, FaultUnavailable, IN_CI, smallFs } from './lib/faultkit.js';
import { requireTools, sleep } from './lib/proc.js';
import { encodeBatch } from './lib/records.js';
import { WireClient } from './lib/wire.js';
import { nativeEngineAvailable } from '../../src/io/index.js';

const KAFKA_STORAGE_ERROR = 56;
/** The disk-full test runs on both log engines (about 3 s each). */
const DISK_FULL_ENGINES = ['native', 'node'] as const;

const temps = new TempDirs();
const pool = new BrokerPool();
let so: string;

beforeAll(async () => {
  requireTools();
  so = await buildFailsync(temps.make('failsync'));
});

afterAll(async () => {
  await pool.killAll();
  for (const b of extra.splice(0)) await b.kill().catch(() => undefined);
  temps.cleanup();
});

const start = (dataDir: string, env?: Record<string, string>): Promise<E2EBroker> => pool.start(dataDir, env);

/** Brokers started with extra arguments (BrokerPool passes none), killed in afterAll too. */
const extra: E2EBroker[] = [];
async function launchTracked(opts: LaunchOptions): Promise<E2EBroker> {
  const b = await launch(opts);
  extra.push(b);
  return b;
}

/** A fault that cannot be set up: skip on a developer machine, fail in CI. */
function unavailable(ctx: TestContext, err: unknown): never {
  if (err instanceof FaultUnavailable && !IN_CI) {
    console.warn(`[e2e] skipped: ${err.message}`);
    ctx.skip();
  }
  throw err;
}

function batchOf(value: string): Buffer {
  return encodeBatch([{ key: Buffer.from('k'), value: Buffer.from(value) }]);
}

/**
 * Creates `victim` and `bystander` topics on a healthy broker, writes a marker to each, stops the broker
 * cleanly, and returns the victim partition's directory (the one holding its marker).
 */
async function prepare(dataDir: string): Promise<{ victimDir: string }> {
  const b = await start(dataDir);
  const c = await WireClient.connect(b.port);
  let victimDir: string;
  try {
    for (const t of ['victim', 'bystander']) {
      expect(await c.createTopic(t, 1), `CreateTopics ${t}${b.diagnose()}`).toBe(0);
      const res = await c.produce(t, 0, batchOf(`marker-${t}-0123456789`), -1);
      expect(res, `seed produce to ${t}${b.diagnose()}`).toEqual({ errorCode: 0, baseOffset: 0 });
    }
    const files = await filesContaining(dataDir, 'marker-victim-0123456789');
    expect(files.length, `marker of the victim partition not found in any file under ${dataDir}`).toBeGreaterThan(0);
    const dirs = [...new Set(files.map((f) => path.dirname(f)))];
    expect(dirs, `victim marker found in several directories: ${dirs}`).toHaveLength(1);
    victimDir = dirs[0]!;
    const bystander = await filesContaining(victimDir, 'marker-bystander-0123456789');
    expect(bystander, `victim and bystander share files in ${victimDir}; cannot scope the fault to one partition`).toEqual([]);
    expect(victimDir.startsWith(dataDir) && victimDir !== dataDir).toBe(true);
  } finally {
    c.close();
  }
  await b.stop();
  return { victimDir: victimDir! };
}

/**
 * How many fsync/fdatasync calls the broker makes on files under `victimDir` while starting from the current
 * (cleanly stopped) state: started under the shim's journal, counted once it listens, stopped cleanly again so
 * the next start begins from the same state.
 */
async function countStartupSyncs(dataDir: string, victimDir: string): Promise<number> {
  const journal = path.join(temps.make('journal'), 'journal');
  const b = await start(dataDir, failsyncEnv(so, { prefix: victimDir + path.sep, syncAfter: -1, journal }));
  await sleep(300); // let anything start-up schedules settle
  const n = victimSyncs(journal, victimDir);
  await b.stop();
  return n;
}

function victimSyncs(journal: string, victimDir: string): number {
  if (!existsSync(journal)) return 0;
  return readFileSync(journal, 'utf8')
    .split('\n')
    .filter((l) => l.includes(victimDir + path.sep)).length;
}

/** Victim produce fails with 56, the record is never served, Metadata and the bystander keep working. */
async function expectStorageErrorIsolated(b: E2EBroker, fault: string): Promise<void> {
  const c = await WireClient.connect(b.port);
  try {
    const versions = await c.apiVersions();
    expect(versions.errorCode).toBe(0);

    const r1 = await c.produce('victim', 0, batchOf('must-not-be-acked-1'), -1);
    expect(r1.errorCode, `acks=all produce on a partition whose ${fault} fails answered ${r1.errorCode} (base offset ${r1.baseOffset}), expected KAFKA_STORAGE_ERROR (56)${b.diagnose()}`).toBe(
      KAFKA_STORAGE_ERROR,
    );
    const r2 = await c.produce('victim', 0, batchOf('must-not-be-acked-2'), 1);
    expect(r2.errorCode, `acks=1 produce after a ${fault} failure answered ${r2.errorCode}, expected 56 (the log stays failed)${b.diagnose()}`).toBe(
      KAFKA_STORAGE_ERROR,
    );

    // the broker keeps serving: Metadata, and the other partition takes acks=all writes
    const md = await c.metadata(['victim', 'bystander']);
    expect(md.topics.map((t) => t.name).sort()).toEqual(['bystander', 'victim']);
    const ok = await c.produce('bystander', 0, batchOf('bystander-after-fault'), -1);
    expect(ok.errorCode, `produce to a healthy partition while another one's ${fault} fails${b.diagnose()}`).toBe(0);
    expect(ok.baseOffset).toBe(1);

    // nothing unsynced is served as committed: a Fetch either fails with 56 or returns only the old marker
    const f = await c.fetch('victim', 0, 0);
    if (f.errorCode === 0) {
      const values = f.records.map((r) => r.value!.toString());
      expect(values, `Fetch served a record whose ${fault} failed`).toEqual(['marker-victim-0123456789']);
      expect(f.highWatermark, 'high watermark moved past the unsynced write').toBe(1);
    } else {
      expect(f.errorCode).toBe(KAFKA_STORAGE_ERROR);
    }
  } finally {
    c.close();
  }

  // a real client sees the error too (kafkajs, no retries: the first answer is what the broker said)
  const kafka = new Kafka({ brokers: [`127.0.0.1:${b.port}`], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
  const producer = kafka.producer({ retry: { retries: 0 } });
  await producer.connect();
  try {
    const err = await producer
      .send({ topic: 'victim', acks: -1, compression: CompressionTypes.None, messages: [{ key: 'k', value: 'kafkajs-must-fail' }] })
      .then(
        () => null,
        (e: Error & { type?: string; cause?: { type?: string } }) => e,
      );
    expect(err, `kafkajs producer.send succeeded although the partition's ${fault} fails${b.diagnose()}`).not.toBeNull();
    const type = err!.type ?? err!.cause?.type;
    expect(type, `kafkajs error: ${err!.name} ${err!.message}`).toBe('KAFKA_STORAGE_ERROR');
  } finally {
    await producer.disconnect();
  }
  expect(b.alive(), `broker died after a ${fault} failure${b.diagnose()}`).toBe(true);
}

/** With the fault gone, a restart recovers the partition and it takes writes again. */
async function expectRecoversAfterRestart(dataDir: string): Promise<void> {
  const b = await start(dataDir);
  const c = await WireClient.connect(b.port);
  try {
    const res = await c.produce('victim', 0, batchOf('after-restart'), -1);
    expect(res.errorCode, `victim partition after restart on a healthy disk${b.diagnose()}`).toBe(0);
    const records = await c.fetchAll('victim', 0, 0);
    expect(records[0]!.value!.toString()).toBe('marker-victim-0123456789');
    expect(records[records.length - 1]!.value!.toString()).toBe('after-restart');
    const by = await c.fetchAll('bystander', 0, 0);
    expect(by.map((r) => r.value!.toString())).toEqual(['marker-bystander-0123456789', 'bystander-after-fault']);
  } finally {
    c.close();
  }
  await b.stop();
}

describe('storage faults', () => {
  it('fsync failure: acks=all gets KAFKA_STORAGE_ERROR, never success; the broker keeps serving', async () => {
    const dataDir = temps.make('failsync');
    const { victimDir } = await prepare(dataDir);
    // the fault starts after start-up: the victim's syncs during start-up are counted on an identical start
    const startupSyncs = await countStartupSyncs(dataDir, victimDir);
    console.info(`[e2e] fsync fault armed after ${startupSyncs} start-up syncs of ${path.basename(victimDir)}`);
    const journal = path.join(temps.make('journal'), 'journal');
    const b = await start(dataDir, failsyncEnv(so, { prefix: victimDir + path.sep, syncAfter: startupSyncs, journal }));
    // guard against a miscount (the fault would then hit later than the first produce, and a real sync could
    // legitimately succeed): this start must have made exactly as many victim syncs as the calibration start
    await sleep(300);
    const synced = victimSyncs(journal, victimDir);
    expect(synced, `calibration: start-up made ${synced} victim syncs, the calibration start ${startupSyncs} (test harness problem, not a broker verdict)`).toBe(startupSyncs);
    await expectStorageErrorIsolated(b, 'fsync');
    await b.stop();
    await expectRecoversAfterRestart(dataDir);
  }, 90_000);

  it('fsync failure of one partition during start-up: the broker still starts and serves the others', async () => {
    const dataDir = temps.make('failsync-startup');
    const { victimDir } = await prepare(dataDir);
    let b: E2EBroker;
    try {
      b = await start(dataDir, failsyncEnv(so, { prefix: victimDir + path.sep, syncAfter: 0 }));
    } catch (err) {
      throw new Error(
        `the broker did not start because one partition's fdatasync fails (design: a sync failure is fatal for that log, ` +
          `reported as KAFKA_STORAGE_ERROR; the broker must keep serving the others): ${(err as Error).message}`,
      );
    }
    const c = await WireClient.connect(b.port);
    try {
      const ok = await c.produce('bystander', 0, batchOf('bystander-after-fault'), -1);
      expect(ok.errorCode, `produce to a healthy partition${b.diagnose()}`).toBe(0);
      const bad = await c.produce('victim', 0, batchOf('must-not-be-acked'), -1);
      expect(bad.errorCode, `produce to the partition whose fsync fails${b.diagnose()}`).toBe(KAFKA_STORAGE_ERROR);
    } finally {
      c.close();
    }
    await b.stop();
  }, 90_000);

  it('write failure (EIO on write): acks=all gets KAFKA_STORAGE_ERROR; the broker keeps serving', async () => {
    const dataDir = temps.make('failwrite');
    const { victimDir } = await prepare(dataDir);
    const b = await start(dataDir, failsyncEnv(so, { prefix: victimDir + path.sep, syncAfter: -1, writeAfter: 0 }));
    await expectStorageErrorIsolated(b, 'write');
    await b.stop();
    await expectRecoversAfterRestart(dataDir);
  }, 90_000);

  for (const engine of DISK_FULL_ENGINES) {
    it.skipIf(engine === 'native' && !nativeEngineAvailable())(`disk full (${engine} engine): ENOSPC answers KAFKA_STORAGE_ERROR, no crash; once space returns producing resumes without a restart`, async (ctx) => {
      // 16 incompressible records of 16 KiB per request; the filesystem holds about 90 such requests
      await diskFull(ctx, { engine, sizeMiB: 24, ballastMiB: 4, partitions: 1, records: 16, recordHexBytes: 8 * 1024 });
    }, 120_000);
  }

  it.skipIf(!nativeEngineAvailable())('disk full with the engine journal on (8 partitions at once): the same, and the journal takes part', async (ctx) => {
    // 64 MiB: room for a journal (an eighth of the free space, at least 4 MiB). 8 connections produce to 8
    // partitions at once, 8 records of 4 KiB each: the rounds carry several files and little enough data to be
    // journaled (an entry holds at most 1 MiB), so ENOSPC meets partitions with live journal entries.
    await diskFull(ctx, {
      engine: 'native', sizeMiB: 64, ballastMiB: 8, partitions: 8, records: 8, recordHexBytes: 2 * 1024, args: ['--journal-files-min', '2'],
      whileFull: (dir) => {
        const journals = readdirSync(path.join(dir, '.journal')).filter((f) => f.endsWith('.jnl'));
        expect(journals.length, 'a journal was made on the small disk').toBe(1);
        expect(journalEntriesWritten(path.join(dir, '.journal', journals[0]!)), 'rounds were journaled').toBeGreaterThan(0);
      },
    });
  }, 120_000);
});

/** Entries the journal's ring holds (written and not yet overwritten): their magic at 4 KiB boundaries. */
function journalEntriesWritten(file: string): number {
  const buf = readFileSync(file);
  let n = 0;
  for (let at = 4096; at + 4 <= buf.length; at += 4096) if (buf.readUInt32LE(at) === 0x31454a54) n++;
  return n;
}

/**
 * Fills a small filesystem through `partitions` connections producing at once (one partition each) until
 * KAFKA_STORAGE_ERROR, checks the broker still serves, deletes a ballast file, waits (bounded) until every
 * partition takes writes again without a restart, then checks that every acknowledged record reads back at its
 * offset, nothing else is served, and a restart finds exactly the same.
 */
async function diskFull(ctx: TestContext, o: {
  engine: 'native' | 'node';
  sizeMiB: number;
  ballastMiB: number;
  partitions: number;
  records: number;
  recordHexBytes: number;
  args?: string[];
  whileFull?: (dataDir: string) => void;
}): Promise<void> {
  let fs;
  try {
    fs = await smallFs(o.sizeMiB);
  } catch (err) {
    unavailable(ctx, err);
  }
  try {
    const dataDir = path.join(fs.dir, 'data');
    // ballast, deleted once the disk is full: the space that "returns"
    const ballast = path.join(fs.dir, 'ballast');
    writeFileSync(ballast, Buffer.alloc(o.ballastMiB * 1024 * 1024, 1));
    // the partition that hit ENOSPC is reopened every storageRetryMs (1 s by default) until that succeeds
    const args = ['--log-engine', o.engine, ...(o.args ?? [])];
    const b = await launchTracked({ dataDir, args });
    const parts = Array.from({ length: o.partitions }, (_, p) => p);
    const clients = await Promise.all(parts.map(() => WireClient.connect(b.port)));
    const acked: { partition: number; offset: number; values: string[] }[] = [];
    const codes: number[] = [];
    const produce = async (p: number, values: string[]): Promise<number> => {
      const res = await clients[p]!.produce('fill', p, encodeBatch(values.map((v) => ({ key: null, value: Buffer.from(v) }))), -1);
      if (res.errorCode === 0) acked.push({ partition: p, offset: res.baseOffset, values });
      return res.errorCode;
    };
    try {
      expect(await clients[0]!.createTopic('fill', o.partitions), `CreateTopics${b.diagnose()}`).toBe(0);
      for (let i = 0; i < 2000 && codes.length < 5; i++) {
        const got = await Promise.all(parts.map((p) =>
          produce(p, Array.from({ length: o.records }, (_, j) => `fill-${i}-${p}-${j}-${randomBytes(o.recordHexBytes / 2).toString('hex')}`)),
        ));
        codes.push(...got.filter((c) => c !== 0));
      }
      expect(codes.length, `${acked.length} requests acknowledged on a ${o.sizeMiB} MiB ${fs.kind} and no error: the disk never filled?${b.diagnose()}`).toBeGreaterThan(0);
      expect(acked.length, `nothing acknowledged before the disk filled${b.diagnose()}`).toBeGreaterThan(10);
      console.info(`[e2e] disk full (${fs.kind}, ${o.engine}, ${o.partitions} partitions): ${acked.length} requests acknowledged, then error codes ${[...new Set(codes)]}`);
      expect([...new Set(codes)], `a full disk must answer KAFKA_STORAGE_ERROR (56)${b.diagnose()}`).toEqual([KAFKA_STORAGE_ERROR]);
      expect(b.alive(), `broker died on ENOSPC${b.diagnose()}`).toBe(true);
      // still serving: ApiVersions and Metadata
      expect((await clients[0]!.apiVersions()).errorCode).toBe(0);
      expect((await clients[0]!.metadata(['fill'])).topics[0]!.errorCode).toBe(0);
      o.whileFull?.(dataDir);

      // space returns: the same broker process takes writes again on every partition within a bounded time
      rmSync(ballast, { force: true });
      const deadline = Date.now() + 15_000;
      const during: number[] = [];
      const resumed = new Set<number>();
      for (let i = 0; resumed.size < o.partitions && Date.now() < deadline; i++) {
        const got = await Promise.all(parts.filter((p) => !resumed.has(p)).map(async (p) => {
          const code = await produce(p, Array.from({ length: 4 }, (_, j) => `after-space-${i}-${p}-${j}`));
          if (code === 0) resumed.add(p);
          return code;
        }));
        during.push(...got.filter((c) => c !== 0));
        if (resumed.size < o.partitions) await sleep(100);
      }
      expect(resumed.size, `partitions taking writes 15 s after space returned (errors ${[...new Set(during)]})${b.diagnose()}`).toBe(o.partitions);
      expect(during.every((code) => code === KAFKA_STORAGE_ERROR), `errors while waiting: ${during}`).toBe(true);
      console.info(`[e2e] disk full: producing resumed after ${during.length} retries, without a restart`);
      for (let i = 0; i < 5; i++) {
        const got = await Promise.all(parts.map((p) => produce(p, Array.from({ length: 8 }, (_, j) => `resumed-${i}-${p}-${j}-${randomBytes(512).toString('hex')}`))));
        expect(got, `produce after the partitions came back${b.diagnose()}`).toEqual(parts.map(() => 0));
      }

      // every acknowledged record, from before the disk filled and after, at its offset; nothing else in between
      for (const p of parts) {
        const records = await clients[0]!.fetchAll('fill', p, 0, 60_000);
        const byOffset = new Map(records.map((r) => [r.offset, r.value!.toString()]));
        const all = ackedOf(acked, p);
        const lost = all.filter(([off, v]) => byOffset.get(off) !== v);
        expect(lost.length, `partition ${p}: ${lost.length} of ${all.length} acknowledged records unreadable or moved (first at offset ${lost[0]?.[0]})${b.diagnose()}`).toBe(0);
        records.forEach((r, i) => expect(r.offset, 'offsets dense from 0').toBe(i));
        expect(records.length, `partition ${p}: records beyond the acknowledged ones (an unacknowledged batch served)`).toBe(all.length);
      }
      expect(b.alive()).toBe(true);
    } finally {
      for (const c of clients) c.close();
    }
    await b.stop();
    // and a restart finds exactly the same
    const again = await launchTracked({ dataDir, args });
    const c2 = await WireClient.connect(again.port);
    try {
      for (const p of parts) {
        const records = await c2.fetchAll('fill', p, 0, 60_000);
        expect(records.map((r) => [r.offset, r.value!.toString()] as const), `partition ${p} after a restart${again.diagnose()}`).toEqual(ackedOf(acked, p));
      }
    } finally {
      c2.close();
    }
    await again.stop();
  } finally {
    await fs.cleanup();
  }
}

/** Partition `p`'s acknowledged records as [offset, value], in offset order. */
function ackedOf(acked: { partition: number; offset: number; values: string[] }[], p: number): (readonly [number, string])[] {
  return acked
    .filter((a) => a.partition === p)
    .flatMap((a) => a.values.map((v, j) => [a.offset + j, v] as const))
    .sort((x, y) => x[0] - y[0]);
}
