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
import { buildFailsync, failsyncEnv, FaultUnavailable, IN_CI } from '../e2e/lib/faultkit.js';
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

  it('a failed journal fdatasync (EIO, failsync shim) turns the journal off; the round\'s files sync themselves', async (ctx) => {
    const tools = tempDir('tern-journal-shim-');
    let so: string;
    try {
      so = await buildFailsync(tools);
    } catch (err) {
      if (err instanceof FaultUnavailable && !IN_CI) return ctx.skip();
      throw err;
    }
    const dir = tempDir('tern-journal-');
    // Only the journal's fdatasyncs are counted: its creation's header sync (0) passes, the first entry's fails.
    const env = failsyncEnv(so, { prefix: path.join(dir, '.journal') + path.sep, syncAfter: 1 });
    const out = await child(env, dir);
    expect(out.results, 'every sync of both rounds resolved').toEqual(['ok', 'ok']);
    expect(out.after1.journalFailed).toBe(true);
    expect(out.after1.journalOn).toBe(false);
    expect(out.after1.journalEntries).toBe(0);
    // round 1: the journal's failed fdatasync, then 6 fdatasyncs of the files themselves; round 2: 6 more
    expect(out.syncs1).toBe(6);
    expect(out.syncs2).toBe(6);
    for (let i = 0; i < 6; i++) {
      expect(readFileSync(path.join(dir, `p${i}`, 'seg.log')).subarray(0, 2100).equals(expected(i, [1, 2])), `file ${i}`).toBe(true);
    }
  });
});

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Two rounds over 6 files through a journaled engine in a child process (for LD_PRELOAD); its report. */
async function child(env: Record<string, string>, dir: string): Promise<{
  results: string[];
  after1: EngineStats;
  syncs1: number;
  syncs2: number;
}> {
  const source = `
    const { NativeFileSystem } = await import(${JSON.stringify(`file://${REPO}/dist/src/io/native-file.js`)});
    const { replayJournals, journalPath } = await import(${JSON.stringify(`file://${REPO}/dist/src/io/journal.js`)});
    const { NodeFileSystem } = await import(${JSON.stringify(`file://${REPO}/dist/src/io/node-file.js`)});
    const path = await import('node:path');
    const dir = process.argv[2];
    await replayJournals(new NodeFileSystem(), dir);
    const fs = new NativeFileSystem({ directFor: () => true, zeroAheadBytes: 0, flushDelayUs: 3000, journal: { path: journalPath(dir, 'test'), root: dir, filesMin: 4 } });
    const files = [];
    for (let i = 0; i < 6; i++) {
      await new NodeFileSystem().mkdirp(path.join(dir, 'p' + i));
      const f = fs.create(path.join(dir, 'p' + i, 'seg.log'));
      f.append([Buffer.alloc(100, 0x41 + i)]);
      files.push(f);
    }
    await Promise.all(files.map((f) => f.sync()));
    const payload = (i, r) => { const b = Buffer.alloc(1000); for (let k = 0; k < 1000; k++) b[k] = (i * 31 + r * 7 + k) & 0xff; return b; };
    const results = [];
    const counts = [];
    for (const r of [1, 2]) {
      const s0 = fs.engine.stats().syncs;
      files.forEach((f, i) => f.append([payload(i, r)]));
      try { await Promise.all(files.map((f) => f.sync())); results.push('ok'); } catch (e) { results.push(String(e.code)); }
      counts.push(fs.engine.stats().syncs - s0);
      if (r === 1) globalThis.after1 = fs.engine.stats();
    }
    await Promise.all(files.map((f) => f.close()));
    const { histograms, ...after1 } = globalThis.after1;
    console.log(JSON.stringify({ results, after1, syncs1: counts[0], syncs2: counts[1] }));
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
