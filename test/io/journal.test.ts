/**
 * The native engine's journal (native/engine.cc "Journal", src/io/journal.ts) on a real disk (os.tmpdir(), ext4
 * here): a round that syncs many files takes one journal fdatasync instead of one per file; what it acknowledged
 * comes back after the files lose it (a power loss, simulated by cutting each file back to its size before the
 * round) by replaying the journal; a torn entry ends the replay; an un-replayed journal is refused; a rename,
 * remove, truncate or close of a file with live entries waits for a checkpoint, after which nothing of it is
 * replayed; and few files per round sync themselves, as without a journal.
 *
 * File contents are checked with node:fs, never only through the engine.
 */
import { openSync, readFileSync, statSync, truncateSync, writeSync, closeSync, existsSync, mkdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { buildFailsync, dropUnsyncedTails, failsyncEnv, FaultUnavailable, IN_CI } from '../e2e/lib/faultkit.js';
import { journalPath, replayJournal, replayJournals } from '../../src/io/journal.js';
import { NativeFileSystem, nativeEngineAvailable, type NativeAppendFile, type EngineStats } from '../../src/io/native-file.js';
import { NodeFileSystem } from '../../src/io/node-file.js';
import { tempDir } from '../log/helpers.js';

const available = nativeEngineAvailable();
/** Kept referenced until the worker exits (see test/io/native-engine.test.ts: engines and their cleanup hooks). */
const retained: NativeFileSystem[] = [];

function engine(dataDir: string, filesMin = 4, extra: Partial<{ journalBytes: number }> = {}): NativeFileSystem {
  mkdirSync(path.dirname(journalPath(dataDir, 'test')), { recursive: true }); // replayJournals makes it in the broker
  const fs = new NativeFileSystem({
    directFor: () => true,
    zeroAheadBytes: 0,
    // A round waits 3 ms for more: the appends of one turn always share a round (a runner that finishes a round
    // with requests already queued starts the next at once, and could take only part of a turn's files).
    flushDelayUs: 3000,
    journal: { path: journalPath(dataDir, 'test'), root: dataDir, filesMin, bytes: extra.journalBytes },
  });
  retained.push(fs);
  onTestFinished(() => fs.shutdown());
  return fs;
}

function sync(f: NativeAppendFile): Promise<void> {
  return f.sync();
}

function delta(a: EngineStats, b: EngineStats, k: keyof EngineStats): number {
  return (b[k] as number) - (a[k] as number);
}

/** `n` files under `dir/p<i>/`, each created and synced once (a created file's first sync is its own). */
async function files(fs: NativeFileSystem, dir: string, n: number): Promise<NativeAppendFile[]> {
  const nodeFs = new NodeFileSystem();
  const out: NativeAppendFile[] = [];
  for (let i = 0; i < n; i++) {
    await nodeFs.mkdirp(path.join(dir, `p${i}`));
    const f = fs.create(path.join(dir, `p${i}`, 'seg.log')) as NativeAppendFile;
    f.append([Buffer.alloc(100, 0x41 + i)]);
    out.push(f);
  }
  await Promise.all(out.map(sync));
  return out;
}

function payload(i: number, round: number, bytes = 1000): Buffer {
  const b = Buffer.alloc(bytes);
  for (let k = 0; k < bytes; k++) b[k] = (i * 31 + round * 7 + k) & 0xff;
  return b;
}

/** Appends a payload to every file and syncs them all in one turn (one round). */
async function round(fsFiles: NativeAppendFile[], r: number, bytes = 1000): Promise<void> {
  for (let i = 0; i < fsFiles.length; i++) fsFiles[i]!.append([payload(i, r, bytes)]);
  await Promise.all(fsFiles.map(sync));
}

const expected = (i: number, rounds: number[], bytes = 1000): Buffer =>
  Buffer.concat([Buffer.alloc(100, 0x41 + i), ...rounds.map((r) => payload(i, r, bytes))]);

describe.skipIf(!available)('native engine journal', () => {
  it('a round over many files takes one journal fdatasync, and the files read back whole', async () => {
    const dir = tempDir('tern-journal-');
    const fs = engine(dir);
    const fsFiles = await files(fs, dir, 8);
    const before = fs.engine.stats();
    await round(fsFiles, 1);
    const after = fs.engine.stats();
    expect(after.journalOn).toBe(true);
    expect(delta(before, after, 'journalEntries')).toBe(1);
    expect(delta(before, after, 'journalRecords')).toBe(8);
    // one journal fdatasync for the round, no per-file ones (a background checkpoint may add its own later)
    expect(delta(before, after, 'syncs') - delta(before, after, 'checkpointSyncs')).toBe(1);
    for (let i = 0; i < 8; i++) {
      expect(fsFiles[i]!.syncedSize).toBe(1100);
      expect(readFileSync(path.join(dir, `p${i}`, 'seg.log')).subarray(0, 1100).equals(expected(i, [1]))).toBe(true);
    }
    await Promise.all(fsFiles.map((f) => f.close()));
    // closing files with live entries checkpoints them first: nothing is left to replay
    expect(fs.engine.stats().journalDirtyFiles).toBe(0);
    expect(fs.engine.stats().checkpoints).toBeGreaterThan(0);
  });

  it('rounds with fewer files than filesMin sync each file, as without a journal', async () => {
    const dir = tempDir('tern-journal-');
    const fs = engine(dir, 4);
    const fsFiles = await files(fs, dir, 3);
    const before = fs.engine.stats();
    await round(fsFiles, 1);
    const after = fs.engine.stats();
    expect(delta(before, after, 'journalEntries')).toBe(0);
    expect(delta(before, after, 'syncs')).toBe(3);
    await Promise.all(fsFiles.map((f) => f.close()));
  });

  it('acknowledged bytes the files lost come back from the journal; a torn entry ends the replay', async () => {
    const dir = tempDir('tern-journal-');
    const fs = engine(dir);
    const fsFiles = await files(fs, dir, 6);
    await round(fsFiles, 1);
    await round(fsFiles, 2);
    await round(fsFiles, 3);
    const s = fs.engine.stats();
    // No checkpoint may have run for the loss below to be a fair test (they start 0.5 s after the last one).
    expect(s.checkpoints, 'a checkpoint ran during the rounds: the test cannot cut the files').toBe(0);
    expect(s.journalEntries).toBe(3);
    // The process dies: no close, no checkpoint. Then the power goes: every file loses what no fdatasync of its
    // own covered (all three rounds).
    fs.shutdown();
    for (let i = 0; i < 6; i++) truncateSync(path.join(dir, `p${i}`, 'seg.log'), 100);
    // Tear the third entry: flip a byte in its data (entries are 4 KiB-aligned, one 4 KiB block each here).
    const jfile = journalPath(dir, 'test');
    const jfd = openSync(jfile, 'r+');
    writeSync(jfd, Buffer.from([0xee]), 0, 1, 4096 + 2 * 8192 + 100);
    closeSync(jfd);
    // A new engine will not open a journal that was not replayed.
    expect(() => new NativeFileSystem({ journal: { path: jfile, root: dir } })).toThrow(/not replayed/);
    const report = await replayJournals(new NodeFileSystem(), dir);
    expect(report).toMatchObject({ journals: 1, entries: 2, records: 12, files: 6, missing: 0 });
    for (let i = 0; i < 6; i++) {
      const got = readFileSync(path.join(dir, `p${i}`, 'seg.log'));
      expect(got.equals(expected(i, [1, 2])), `file ${i} after replay`).toBe(true);
    }
    // Replayed journals open, and replay nothing again.
    expect(replayJournal(jfile, dir)).toMatchObject({ entries: 0, records: 0 });
    const again = engine(dir);
    expect(again.engine.stats().journalOn).toBe(true);
  });

  it('a replay over more files than it keeps open (256) syncs and closes them as it goes, and restores all', async () => {
    const dir = tempDir('tern-journal-');
    const fs = engine(dir);
    const fsFiles = await files(fs, dir, 300);
    await round(fsFiles, 1, 100);
    expect(fs.engine.stats().journalRecords).toBe(300);
    fs.shutdown();
    for (let i = 0; i < 300; i++) truncateSync(path.join(dir, `p${i}`, 'seg.log'), 100);
    const report = replayJournal(journalPath(dir, 'test'), dir);
    expect(report).toMatchObject({ entries: 1, records: 300, files: 300, missing: 0 });
    for (let i = 0; i < 300; i++) {
      expect(readFileSync(path.join(dir, `p${i}`, 'seg.log')).equals(expected(i, [1], 100)), `file ${i}`).toBe(true);
    }
  });

  it('entries that wrap around the ring replay in order', async () => {
    const dir = tempDir('tern-journal-');
    const fs = engine(dir, 4, { journalBytes: 4 * 1024 * 1024 });
    const fsFiles = await files(fs, dir, 4);
    // 4 files x 60 KiB per round: ~240 KiB entries in a 4 MiB ring, checkpoints freeing it as it fills
    const rounds: number[] = [];
    for (let r = 1; r <= 40; r++) {
      await round(fsFiles, r, 60 * 1024);
      rounds.push(r);
    }
    const s = fs.engine.stats();
    expect(s.journalEntries + s.journalSkippedFull).toBe(40);
    expect(s.journalBytes, 'the entries went round the ring').toBeGreaterThan(4 * 1024 * 1024);
    expect(s.checkpoints).toBeGreaterThan(0);
    fs.shutdown();
    // What the live entries cover was synced by nothing else: find where that starts in each file (a replay of a
    // copy of the journal, over files still whole, writes the same bytes), cut each file there, replay.
    const jfile = journalPath(dir, 'test');
    const { copyFileSync } = await import('node:fs');
    copyFileSync(jfile, `${jfile}.copy`);
    const probe = replayJournal(`${jfile}.copy`, dir);
    expect(probe.entries).toBeGreaterThan(0);
    for (const [file, start] of probe.starts) truncateSync(file, start);
    const report = replayJournal(jfile, dir);
    expect(report.entries).toBe(probe.entries);
    for (let i = 0; i < 4; i++) {
      const got = readFileSync(path.join(dir, `p${i}`, 'seg.log'));
      expect(got.length).toBeGreaterThanOrEqual(100 + 40 * 60 * 1024);
      expect(got.subarray(0, 100 + 40 * 60 * 1024).equals(expected(i, rounds, 60 * 1024)), `file ${i}`).toBe(true);
    }
  });

  it('a remove or rename of a file with live entries waits for a checkpoint; nothing of it is replayed after', async () => {
    const dir = tempDir('tern-journal-');
    const fs = engine(dir);
    const fsFiles = await files(fs, dir, 5);
    await round(fsFiles, 1);
    expect(fs.engine.stats().journalDirtyFiles).toBe(5);
    const checkpoints = fs.engine.stats().checkpoints;
    // a rename of something else needs no checkpoint
    await new NodeFileSystem().writeFileDurable(path.join(dir, 'other'), Buffer.from('x'));
    await fs.rename(path.join(dir, 'other'), path.join(dir, 'other2'));
    expect(fs.engine.stats().checkpoints).toBe(checkpoints);
    // a partition directory with a live file: checkpoint first
    await fs.rename(path.join(dir, 'p0'), path.join(dir, 'p0.deleted'));
    expect(fs.engine.stats().checkpoints).toBe(checkpoints + 1);
    expect(fs.engine.stats().journalDirtyFiles).toBe(0);
    await round(fsFiles.slice(1), 2);
    await fs.remove(path.join(dir, 'p1'));
    expect(fs.engine.stats().checkpoints).toBe(checkpoints + 2);
    fs.shutdown();
    // a new p1 in its place is not written over by a replay
    const { writeFileSync } = await import('node:fs');
    mkdirSync(path.join(dir, 'p1'));
    writeFileSync(path.join(dir, 'p1', 'seg.log'), 'new');
    expect(replayJournal(journalPath(dir, 'test'), dir)).toMatchObject({ entries: 0 });
    expect(readFileSync(path.join(dir, 'p1', 'seg.log'), 'utf8')).toBe('new');
  });

  it('a replay keeping some engine names removes the other journals once replayed', async () => {
    const dir = tempDir('tern-journal-');
    for (const name of ['shard-0', 'shard-1']) {
      mkdirSync(path.dirname(journalPath(dir, name)), { recursive: true });
      const fs = new NativeFileSystem({ journal: { path: journalPath(dir, name), root: dir } });
      retained.push(fs);
      fs.shutdown();
    }
    const report = await replayJournals(new NodeFileSystem(), dir, undefined, ['shard-0']);
    expect(report.journals).toBe(2);
    expect(existsSync(journalPath(dir, 'shard-0'))).toBe(true);
    expect(existsSync(journalPath(dir, 'shard-1'))).toBe(false);
  });

  it('a truncate of a file with live entries checkpoints first', async () => {
    const dir = tempDir('tern-journal-');
    const fs = engine(dir);
    const fsFiles = await files(fs, dir, 4);
    await round(fsFiles, 1);
    const checkpoints = fs.engine.stats().checkpoints;
    await fsFiles[0]!.truncate(100);
    expect(fs.engine.stats().checkpoints).toBe(checkpoints + 1);
    fs.shutdown();
    expect(replayJournal(journalPath(dir, 'test'), dir)).toMatchObject({ entries: 0 });
    expect(statSync(path.join(dir, 'p0', 'seg.log')).size).toBeLessThanOrEqual(4096);
    expect(readFileSync(path.join(dir, 'p0', 'seg.log')).subarray(0, 100).equals(Buffer.alloc(100, 0x41))).toBe(true);
    expect(existsSync(journalPath(dir, 'test'))).toBe(true);
  });

  it('a journal that cannot be made (no room, no directory) leaves the engine syncing each file', async () => {
    const dir = tempDir('tern-journal-');
    const fs = new NativeFileSystem({ directFor: () => true, zeroAheadBytes: 0, journal: { path: path.join(dir, 'missing-dir', 'x.jnl'), root: dir } });
    retained.push(fs);
    onTestFinished(() => fs.shutdown());
    expect(fs.engine.journal).toBe(false);
    const fsFiles = await files(fs, dir, 5);
    const before = fs.engine.stats();
    await round(fsFiles, 1);
    expect(delta(before, fs.engine.stats(), 'syncs')).toBe(5);
    expect(readFileSync(path.join(dir, 'p4', 'seg.log')).subarray(0, 1100).equals(expected(4, [1]))).toBe(true);
  });

  /** The fault shim, built once per test (skipped outside CI where no compiler is found). */
  async function shim(ctx: { skip: () => void }): Promise<string | undefined> {
    try {
      return await buildFailsync(tempDir('tern-journal-shim-'));
    } catch (err) {
      if (err instanceof FaultUnavailable && !IN_CI) return void ctx.skip();
      throw err;
    }
  }

  /** The shim counting only the journal's fdatasyncs (entries and headers): calls from the `after`-th on fail. */
  const failJournalSync = (so: string, dir: string, after: number): Record<string, string> =>
    failsyncEnv(so, { prefix: path.join(dir, '.journal') + path.sep, syncAfter: after });

  it('a failed journal fdatasync (EIO, failsync shim) turns the journal off; the round\'s files sync themselves', async (ctx) => {
    const so = await shim(ctx);
    if (!so) return;
    const dir = tempDir('tern-journal-');
    // Only the journal's fdatasyncs are counted: its creation's header sync (0) passes, the first entry's fails.
    const env = failJournalSync(so, dir, 1);
    const out = await child(env, dir, `
      for (const r of [1, 2]) {
        const s0 = fs.engine.stats().syncs;
        report.results.push(await roundResult(r));
        report['syncs' + r] = fs.engine.stats().syncs - s0;
        if (r === 1) report.after1 = stats();
      }`);
    expect(out.results, 'every sync of both rounds resolved').toEqual([['ok', 'ok', 'ok', 'ok', 'ok', 'ok'], ['ok', 'ok', 'ok', 'ok', 'ok', 'ok']]);
    expect(out.after1.journalFailed).toBe(true);
    expect(out.after1.journalOn).toBe(false);
    expect(out.after1.journalEntries).toBe(0);
    expect(out.logs, 'said once, in the log').toEqual([expect.objectContaining({ level: 'error', err: expect.stringContaining('EIO'), retired: true, keptFiles: 0 })]);
    // round 1: the journal's failed fdatasync, then 6 fdatasyncs of the files themselves; round 2: 6 more
    expect(out.syncs1).toBe(6);
    expect(out.syncs2).toBe(6);
    for (let i = 0; i < 6; i++) {
      expect(readFileSync(path.join(dir, `p${i}`, 'seg.log')).subarray(0, 2100).equals(expected(i, [1, 2])), `file ${i}`).toBe(true);
    }
  });

  it('a journal that fails with live entries syncs their files and is unlinked: a later truncate is not undone by a replay', async (ctx) => {
    const so = await shim(ctx);
    if (!so) return;
    const dir = tempDir('tern-journal-');
    // The journal's header sync (0) and round 1's entry (1) pass; round 2's entry (2) fails.
    const env = failJournalSync(so, dir, 2);
    const out = await child(env, dir, `
      report.results.push(await roundResult(1));
      report.after1 = stats();
      report.results.push(await roundResult(2));
      report.after2 = stats();
      report.journalAfter2 = existsSync(journalFile);
      // p0 cut back and rewritten: what a log does after recovery or a delete and recreate
      await files[0].truncate(100);
      files[0].append([Buffer.alloc(50, 0x7a)]);
      await files[0].sync();`);
    expect(out.results).toEqual([['ok', 'ok', 'ok', 'ok', 'ok', 'ok'], ['ok', 'ok', 'ok', 'ok', 'ok', 'ok']]);
    expect(out.after1).toMatchObject({ journalEntries: 1, journalDirtyFiles: 6, journalFailed: false });
    expect(out.after2).toMatchObject({ journalFailed: true, journalRetired: true, journalKeptFiles: 0, journalDirtyFiles: 0 });
    expect(out.journalAfter2, 'the retired journal is unlinked').toBe(false);
    expect(out.logs).toEqual([expect.objectContaining({ level: 'error', retired: true, keptFiles: 0, msg: expect.stringContaining('journal was removed') })]);
    // the next start finds no journal, so round 1's entry for p0 cannot be written over p0's new bytes
    expect(await replayJournals(new NodeFileSystem(), dir)).toMatchObject({ journals: 0 });
    const p0 = readFileSync(path.join(dir, 'p0', 'seg.log'));
    expect(p0.length).toBe(150);
    expect(p0.equals(Buffer.concat([Buffer.alloc(100, 0x41), Buffer.alloc(50, 0x7a)]))).toBe(true);
    for (let i = 1; i < 6; i++) {
      expect(readFileSync(path.join(dir, `p${i}`, 'seg.log')).subarray(0, 2100).equals(expected(i, [1, 2])), `file ${i}`).toBe(true);
    }
  });

  it('a checkpoint fdatasync failing on one file keeps its entries: the file fails, the others go on, the next start restores it', async (ctx) => {
    const so = await shim(ctx);
    if (!so) return;
    const dir = tempDir('tern-journal-');
    const synced = path.join(tempDir('tern-journal-synced-'), 'synced');
    // Only p2's fdatasyncs are counted: its creation's (0) passes, the checkpoint's (1) fails.
    const env = failsyncEnv(so, { prefix: path.join(dir, 'p2') + path.sep, syncAfter: 1, journal: synced });
    const out = await child(env, dir, `
      report.results.push(await roundResult(1));
      await fs.engine.settleJournal([files[2].path]);
      report.afterCheckpoint = stats();
      report.results.push(await roundResult(2));
      report.journalAtEnd = existsSync(journalFile);`);
    expect(out.results[0]).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
    expect(out.afterCheckpoint).toMatchObject({ journalFailed: true, journalRetired: false, journalKeptFiles: 1 });
    expect(out.results[1], 'p2 fails; the others sync themselves').toEqual(['ok', 'ok', 'EIO', 'ok', 'ok', 'ok']);
    expect(out.journalAtEnd).toBe(true);
    expect(out.logs).toEqual([expect.objectContaining({ level: 'error', err: expect.stringContaining('EIO'), retired: false, keptFiles: 1 })]);
    // power loss: p2 loses what it never synced itself; the journal brings round 1 back
    // (its last good sync was its creation's: 100 bytes, padded to the direct block)
    expect(dropUnsyncedTails(synced, dir)).toEqual([{ file: path.join(dir, 'p2', 'seg.log'), from: expect.any(Number), to: expect.any(Number) }]);
    expect(statSync(path.join(dir, 'p2', 'seg.log')).size, 'round 1 lost from the file').toBeLessThan(1100);
    expect((await replayJournals(new NodeFileSystem(), dir)).journals).toBe(1);
    expect(readFileSync(path.join(dir, 'p2', 'seg.log')).subarray(0, 1100).equals(expected(2, [1]))).toBe(true);
    for (const i of [0, 1, 3, 4, 5]) {
      expect(readFileSync(path.join(dir, `p${i}`, 'seg.log')).subarray(0, 2100).equals(expected(i, [1, 2])), `file ${i}`).toBe(true);
    }
  });

  it('a journal failing under load, checkpoints running: every acknowledged append is in its file, nothing hangs', async (ctx) => {
    const so = await shim(ctx);
    if (!so) return;
    const dir = tempDir('tern-journal-');
    // The journal's 40th fdatasync fails (entries and checkpoint headers count): mid-run, with files dirty and
    // checkpoints every 10 ms.
    const env = failJournalSync(so, dir, 40);
    const out = await child(env, dir, `
      const extra = [];
      for (let i = 6; i < 24; i++) {
        await new NodeFileSystem().mkdirp(path.join(dir, 'p' + i));
        const f = fs.create(path.join(dir, 'p' + i, 'seg.log'));
        f.append([Buffer.alloc(100, 0x41 + i)]);
        extra.push(f);
      }
      await Promise.all(extra.map((f) => f.sync()));
      files.push(...extra);
      const acked = files.map(() => []);
      let seed = 7;
      const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return Math.floor(seed / 65536) % n; };
      for (let r = 1; r <= 150; r++) {
        const which = [...new Set(Array.from({ length: 4 + rnd(20) }, () => rnd(files.length)))];
        const got = await roundResult(r, which);
        which.forEach((i, k) => { if (got[k] === 'ok') acked[i].push(r); else report.errors = (report.errors ?? 0) + 1; });
      }
      report.acked = acked;
      report.stats = stats();`, { checkpointIntervalMs: 10 });
    expect(out.errors ?? 0, 'every append of a healthy file is acknowledged').toBe(0);
    expect(out.stats).toMatchObject({ journalFailed: true, journalRetired: true, journalKeptFiles: 0 });
    expect(out.stats.journalEntries).toBeGreaterThan(10);
    expect(existsSync(journalPath(dir, 'test'))).toBe(false);
    const acked = out.acked as number[][];
    for (let i = 0; i < acked.length; i++) {
      const want = expected(i, acked[i]!);
      expect(readFileSync(path.join(dir, `p${i}`, 'seg.log')).subarray(0, want.length).equals(want), `file ${i}`).toBe(true);
    }
  });

  it('a file with entries kept in a failed journal, deleted and made again under its name, is not written over by the replay (skip list)', async (ctx) => {
    const so = await shim(ctx);
    if (!so) return;
    const dir = tempDir('tern-journal-');
    // Only p2's fdatasyncs are counted: its creation's (0) passes, the checkpoint's (1) fails.
    const env = failsyncEnv(so, { prefix: path.join(dir, 'p2') + path.sep, syncAfter: 1 });
    const out = await child(env, dir, `
      const { writeFileSync, mkdirSync } = await import('node:fs');
      report.results.push(await roundResult(1));
      await fs.engine.settleJournal([files[2].path]);
      report.keptBefore = stats().journalKeptFiles;
      // the partition is deleted (its directory removed) and a new one made under the same name
      await fs.remove(path.join(dir, 'p2'));
      report.keptAfter = stats().journalKeptFiles;
      report.skipList = existsSync(journalFile + '.skip');
      mkdirSync(path.join(dir, 'p2'));
      writeFileSync(path.join(dir, 'p2', 'seg.log'), 'new');
      files.splice(2, 1)[0].close().catch(() => {});`);
    expect(out.results[0]).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
    expect(out.keptBefore).toBe(1);
    expect(out.keptAfter, 'the deleted file left the kept set for the skip list').toBe(0);
    expect(out.skipList).toBe(true);
    expect(existsSync(journalPath(dir, 'test')), 'the failed journal stays (its entries were kept)').toBe(true);
    const report = await replayJournals(new NodeFileSystem(), dir);
    expect(report).toMatchObject({ journals: 1, entries: 1, skipped: 1 });
    expect(readFileSync(path.join(dir, 'p2', 'seg.log'), 'utf8'), 'the new file under the old name is untouched').toBe('new');
    expect(existsSync(journalPath(dir, 'test') + '.skip'), 'the skip list goes with the replay').toBe(false);
    for (const i of [0, 1, 3, 4, 5]) {
      expect(readFileSync(path.join(dir, `p${i}`, 'seg.log')).subarray(0, 1100).equals(expected(i, [1])), `file ${i}`).toBe(true);
    }
  });

  it('a skip list left beside a journal is dropped when the engine opens it (it was for entries already replayed)', async () => {
    const dir = tempDir('tern-journal-');
    const { writeFileSync } = await import('node:fs');
    mkdirSync(path.dirname(journalPath(dir, 'test')), { recursive: true });
    writeFileSync(journalPath(dir, 'test') + '.skip', 'p0/seg.log\n');
    const fs = engine(dir);
    expect(fs.engine.journal).toBe(true);
    expect(existsSync(journalPath(dir, 'test') + '.skip')).toBe(false);
    // and this run's entries for that name replay as any other
    const fsFiles = await files(fs, dir, 4);
    await round(fsFiles, 1);
    fs.shutdown();
    for (let i = 0; i < 4; i++) truncateSync(path.join(dir, `p${i}`, 'seg.log'), 100);
    expect(replayJournal(journalPath(dir, 'test'), dir)).toMatchObject({ records: 4, skipped: 0 });
    expect(readFileSync(path.join(dir, 'p0', 'seg.log')).subarray(0, 1100).equals(expected(0, [1]))).toBe(true);
  });

  it('a file whose write failed for want of space (ENOSPC) still syncs at the checkpoint: the journal stays on', async (ctx) => {
    const so = await shim(ctx);
    if (!so) return;
    const dir = tempDir('tern-journal-');
    // Only p3's writes are counted: its creation's (0) and round 1's (1) pass, round 2's (2) fails with ENOSPC.
    const env = { ...failsyncEnv(so, { prefix: path.join(dir, 'p3') + path.sep, writeAfter: 2 }), FAILSYNC_ERRNO: '28' };
    const out = await child(env, dir, `
      report.results.push(await roundResult(1));
      report.results.push(await roundResult(2));
      const c0 = fs.engine.stats().checkpointSyncs;
      await fs.engine.settleJournal([files[3].path]);
      report.afterCheckpoint = stats();
      report.checkpointSyncs = fs.engine.stats().checkpointSyncs - c0;
      report.results.push(await roundResult(3, [0, 1, 2, 4, 5]));`);
    expect(out.results).toEqual([
      ['ok', 'ok', 'ok', 'ok', 'ok', 'ok'],
      ['ok', 'ok', 'ok', 'ENOSPC', 'ok', 'ok'],
      ['ok', 'ok', 'ok', 'ok', 'ok'],
    ]);
    expect(out.afterCheckpoint).toMatchObject({ journalFailed: false, journalOn: true, journalKeptFiles: 0, journalDirtyFiles: 0 });
    expect(out.checkpointSyncs).toBe(6);
    expect(out.logs, 'the journal did not fail').toEqual([]);
    expect(readFileSync(path.join(dir, 'p3', 'seg.log')).subarray(0, 1100).equals(expected(3, [1]))).toBe(true);
  });
});

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Runs `body` in a child process (for LD_PRELOAD) over a journaled engine with 6 files `p<i>/seg.log` under
 * `dir`, each created with 100 bytes and synced. In scope: fs, files, journalFile, existsSync, stats() (the
 * engine's counters less histograms), roundResult(r, which?) (appends round r's payload to each file and syncs
 * them in one turn: 'ok' or the error code per file) and `report`, printed as JSON at the end (with `logs`, what
 * the engine logged).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function child(env: Record<string, string>, dir: string, body: string, journal: { checkpointIntervalMs?: number } = {}): Promise<any> {
  const source = `
    const { NativeFileSystem } = await import(${JSON.stringify(`file://${REPO}/dist/src/io/native-file.js`)});
    const { replayJournals, journalPath } = await import(${JSON.stringify(`file://${REPO}/dist/src/io/journal.js`)});
    const { NodeFileSystem } = await import(${JSON.stringify(`file://${REPO}/dist/src/io/node-file.js`)});
    const { existsSync } = await import('node:fs');
    const path = await import('node:path');
    const dir = process.argv[2];
    await replayJournals(new NodeFileSystem(), dir);
    const journalFile = journalPath(dir, 'test');
    const report = { results: [], logs: [] };
    const logger = { warn: (o, m) => report.logs.push({ level: 'warn', msg: m, ...o }), error: (o, m) => report.logs.push({ level: 'error', msg: m, ...o }) };
    const fs = new NativeFileSystem({ directFor: () => true, zeroAheadBytes: 0, flushDelayUs: 3000, journal: { path: journalFile, root: dir, filesMin: 4, ...${JSON.stringify(journal)} }, logger });
    const files = [];
    for (let i = 0; i < 6; i++) {
      await new NodeFileSystem().mkdirp(path.join(dir, 'p' + i));
      const f = fs.create(path.join(dir, 'p' + i, 'seg.log'));
      f.append([Buffer.alloc(100, 0x41 + i)]);
      files.push(f);
    }
    await Promise.all(files.map((f) => f.sync()));
    const payload = (i, r) => { const b = Buffer.alloc(1000); for (let k = 0; k < 1000; k++) b[k] = (i * 31 + r * 7 + k) & 0xff; return b; };
    const roundResult = async (r, which = [0, 1, 2, 3, 4, 5]) => {
      which.forEach((i) => files[i].append([payload(i, r)]));
      return Promise.all(which.map((i) => files[i].sync().then(() => 'ok', (e) => String(e.code))));
    };
    const stats = () => { const { histograms, ...rest } = fs.engine.stats(); return rest; };
    ${body}
    await Promise.all(files.map((f) => f.close().catch(() => {})));
    console.log(JSON.stringify(report));
    fs.shutdown();
  `;
  const script = path.join(tempDir('tern-journal-child-'), 'child.mjs');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(script, source);
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [script, dir], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => c.kill('SIGKILL'), 20_000);
    c.on('close', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || !line.startsWith('{')) reject(new Error(`child exited ${code}: ${err.slice(-2000)} ${out.slice(-500)}`));
      else resolve(JSON.parse(line));
    });
  });
}
