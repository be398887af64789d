import path from 'node:path';
import { statSync } from 'node:fs';
import { describe, expect, it, onTestFinished } from 'vitest';
import { NativeFileSystem, SimFileSystem, directZeroTailBytesMax, nativeEngineAvailable } from '../../src/io/index.js';
import { OffsetIndex, TimeIndex, segmentFileName } from '../../src/log/index.js';
import { readBatchHeader } from '../../src/protocol/records.js';
import { T0, batch, fsCases, offsetsOf, openLog, range, tempDir, type FsCase, type TestFs } from './helpers.js';

const file = (dir: string, base: number, suffix: '.log' | '.index' | '.timeindex') =>
  path.join(dir, segmentFileName(base, suffix));

/** Writes `n` batches of 2 records and closes; returns the byte position where each batch starts. */
async function fill(t: TestFs, n: number, config = {}): Promise<number[]> {
  const { log } = await openLog(t.dir, { fs: t.fs, config });
  const starts: number[] = [];
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const b = batch(2, { ts: T0 + i });
    starts.push(pos);
    pos += b.length;
    await log.append(b, { leaderEpoch: 0 });
  }
  await log.close();
  return starts;
}

/** Writes 20 batches of 2 records across segments of `config` and closes; returns the segments' base offsets. */
async function segmented(t: TestFs, config: { segmentBytes: number; indexIntervalBytes?: number }): Promise<number[]> {
  const { log } = await openLog(t.dir, { fs: t.fs, config });
  for (let i = 0; i < 20; i++) await log.append(batch(2), { leaderEpoch: 0 });
  const bases = log.segmentBaseOffsets;
  await log.close();
  return bases;
}

async function readEverything(log: Awaited<ReturnType<typeof openLog>>['log']): Promise<number[]> {
  const out: number[] = [];
  let next = log.logStartOffset;
  while (next < log.highWatermark) {
    const offsets = offsetsOf(await log.read(next, 1 << 20, { minOneBatch: true }));
    if (offsets.length === 0) break; // a hole: the caller's comparison fails
    out.push(...offsets.filter((o) => o >= next));
    next = offsets.at(-1)! + 1;
  }
  return out;
}

function checkIndexes(t: TestFs, base: number): void {
  const logBytes = t.size(file(t.dir, base, '.log'));
  const index = OffsetIndex.decode(base, t.bytes(file(t.dir, base, '.index'))!, Math.max(logBytes, 1));
  expect(typeof index).not.toBe('string');
  expect(typeof TimeIndex.decode(base, t.bytes(file(t.dir, base, '.timeindex'))!)).not.toBe('string');
}

for (const c of fsCases) {
  describe.skipIf(c.skip !== null)(`recovery on the ${c.name} file system`, () => {
    tornTailTests(c);
  });
}

function tornTailTests(c: FsCase): void {
  describe('recovery of a torn tail', () => {
    it('truncates a half-written last batch, rebuilds indexes, and appends continue at the right offset', async () => {
      const t = c.make();
      const dir = t.dir;
      const config = { indexIntervalBytes: 100 };
      const starts = await fill(t, 20, config);
      const logFile = file(dir, 0, '.log');
      t.truncate(logFile, starts[19]! + 30); // a crash in the middle of writing batch 19
      t.write(file(dir, 0, '.index'), Buffer.alloc(13, 0xff)); // and a damaged index

      const { log } = await openLog(dir, { fs: t.fs, config });
      expect(t.size(logFile)).toBe(starts[19]);
      expect(log.logEndOffset).toBe(38);
      expect(log.highWatermark).toBe(38);
      // The active segment's indexes are rebuilt in memory (the damaged file is never read again: every open
      // rescans the last segment, and sealing it overwrites the file): every offset is found through them.
      for (const target of range(0, 38)) expect(offsetsOf(await log.read(target, 1, { minOneBatch: true }))).toContain(target);
      expect((await log.append(batch(2), { leaderEpoch: 0 })).baseOffset).toBe(38);
      expect(await readEverything(log)).toEqual(range(0, 40));
      await log.close();
      const again = await openLog(dir, { fs: t.fs, config, clean: true });
      expect(await readEverything(again.log)).toEqual(range(0, 40));
      await again.log.close();
    });

    it('truncates garbage a crash appended after the last batch', async () => {
      const t = c.make();
      const dir = t.dir;
      const starts = await fill(t, 5);
      const size = t.size(file(dir, 0, '.log'));
      const garbage = batch(1);
      garbage[garbage.length - 1]! ^= 0xff; // a whole-looking batch whose CRC fails
      t.append(file(dir, 0, '.log'), Buffer.concat([garbage, Buffer.from('not a batch at all')]));
      const { log } = await openLog(dir, { fs: t.fs });
      expect(t.size(file(dir, 0, '.log'))).toBe(size);
      expect(log.logEndOffset).toBe(10);
      expect(starts).toHaveLength(5);
      await log.close();
    });

    it('truncates at a batch whose CRC fails, even with intact batches after it', async () => {
      const t = c.make();
      const dir = t.dir;
      const starts = await fill(t, 6);
      const bytes = t.bytes(file(dir, 0, '.log'))!;
      bytes[starts[3]! + 70]! ^= 0x01; // flip a bit inside batch 3's records
      t.write(file(dir, 0, '.log'), bytes);
      const { log } = await openLog(dir, { fs: t.fs });
      expect(log.logEndOffset).toBe(6);
      expect(t.size(file(dir, 0, '.log'))).toBe(starts[3]);
      await log.close();
    });

    it('after an unclean shutdown, a damaged non-last segment cuts the log there and later segments go', async () => {
      const t = c.make();
      const dir = t.dir;
      const config = { segmentBytes: 400 };
      const bases = await segmented(t, config);
      expect(bases.length).toBeGreaterThan(3);

      const second = file(dir, bases[1]!, '.log');
      const bytes = t.bytes(second)!;
      const firstBatchSize = readBatchHeader(bytes, 0).batchLength + 12;
      t.truncate(second, firstBatchSize + 20);

      const clean = await openLog(dir, { fs: t.fs, config, clean: true });
      // a clean open trusts non-last segments: nothing scanned, nothing cut
      expect(clean.log.segmentBaseOffsets).toEqual(bases);
      await clean.log.close();

      const { log } = await openLog(dir, { fs: t.fs, config, clean: false });
      expect(log.segmentBaseOffsets).toEqual(bases.slice(0, 2));
      expect(log.logEndOffset).toBe(bases[1]! + 2);
      expect(await readEverything(log)).toEqual(range(0, bases[1]! + 2));
      expect((await log.append(batch(1), { leaderEpoch: 0 })).baseOffset).toBe(bases[1]! + 2);
      await log.close();
    });

    it('rebuilds the missing index files of a sealed segment on a clean open', async () => {
      const t = c.make();
      const dir = t.dir;
      const config = { segmentBytes: 400, indexIntervalBytes: 50 };
      expect((await segmented(t, config)).length).toBeGreaterThan(2);
      checkIndexes(t, 0);
      await t.fs.remove(file(dir, 0, '.index'));
      await t.fs.remove(file(dir, 0, '.timeindex'));

      const { log } = await openLog(dir, { fs: t.fs, config, clean: true });
      checkIndexes(t, 0);
      expect(t.bytes(file(dir, 0, '.index'))!.length).toBeGreaterThan(0);
      expect(await readEverything(log)).toEqual(range(0, 40));
      await log.close();
    });

    it('rebuilds an index that fails its sanity check on a clean open', async () => {
      const t = c.make();
      const dir = t.dir;
      const config = { segmentBytes: 400, indexIntervalBytes: 50 };
      await segmented(t, config);
      const indexFile = file(dir, 0, '.index');
      const good = t.bytes(indexFile)!;
      expect(good.length).toBeGreaterThanOrEqual(16);
      const bad = Buffer.from(good);
      bad.writeInt32BE(1000, 0); // entry 0's offset now above entry 1's: not increasing
      t.write(indexFile, bad);

      const { log } = await openLog(dir, { fs: t.fs, config, clean: true });
      expect(t.bytes(indexFile)).toEqual(good);
      expect(await readEverything(log)).toEqual(range(0, 40));
      await log.close();
    });

    /**
     * The native engine writes whole blocks: after a crash every open segment ends in zeros up to its block
     * boundary. That padding is not a torn write: treating it as a cut of a non-last segment would delete every
     * later segment, acknowledged data included.
     */
    it('after an unclean shutdown, zero padding to a block boundary is not a cut: later segments survive', async () => {
      const t = c.make();
      const dir = t.dir;
      const config = { segmentBytes: 400 };
      const bases = await segmented(t, config);
      expect(bases.length).toBeGreaterThan(3);
      const logical = bases.map((b) => t.size(file(dir, b, '.log')));
      bases.forEach((b, i) => {
        const block = i % 2 === 0 ? 512 : 4096; // both logical block sizes O_DIRECT meets
        const pad = Math.ceil(logical[i]! / block) * block - logical[i]!;
        t.append(file(dir, b, '.log'), Buffer.alloc(pad));
      });
      expect(bases.filter((b, i) => t.size(file(dir, b, '.log')) > logical[i]!).length, 'padding added').toBeGreaterThan(2);

      const { log } = await openLog(dir, { fs: t.fs, config, clean: false });
      expect(log.segmentBaseOffsets).toEqual(bases);
      expect(log.logEndOffset).toBe(40);
      expect(await readEverything(log)).toEqual(range(0, 40));
      // the padding is cut back, and appends continue at the end
      bases.forEach((b, i) => expect(t.size(file(dir, b, '.log')), `segment ${b}`).toBe(logical[i]));
      expect((await log.append(batch(1), { leaderEpoch: 0 })).baseOffset).toBe(40);
      await log.close();
    });

    /**
     * The native engine also keeps zeros written ahead of an open segment's end (zero-ahead): after a crash a
     * segment may end in up to `directZeroTailBytesMax` zero bytes. Those are padding too; a longer zero run is
     * nothing the engine leaves, so it is a cut.
     */
    it('a zero tail as long as the engine\'s zeros ahead is padding too; one longer than any it leaves is a cut', async () => {
      const t = c.make();
      const dir = t.dir;
      const config = { segmentBytes: 400 };
      const bases = await segmented(t, config);
      expect(bases.length).toBeGreaterThan(3);
      const logical = bases.map((b) => t.size(file(dir, b, '.log')));
      // segment 0: one 64 KiB zero-ahead step past its block; segment 1: the longest tail the engine can leave
      const block = (n: number): number => Math.ceil(n / 4096) * 4096;
      const tailTo = (i: number): number => block(logical[i]!) + (i === 1 ? directZeroTailBytesMax - 4096 : 65536);
      for (const i of [0, 1]) t.append(file(dir, bases[i]!, '.log'), Buffer.alloc(tailTo(i) - logical[i]!));
      const { log } = await openLog(dir, { fs: t.fs, config, clean: false });
      expect(log.segmentBaseOffsets).toEqual(bases);
      expect(await readEverything(log)).toEqual(range(0, 40));
      for (const i of [0, 1]) expect(t.size(file(dir, bases[i]!, '.log')), `segment ${bases[i]}`).toBe(logical[i]);
      await log.close();

      // one block more than the engine ever leaves: a cut, the segments after it go
      t.append(file(dir, bases[1]!, '.log'), Buffer.alloc(block(logical[1]!) + directZeroTailBytesMax + 4096 - logical[1]!));
      const again = await openLog(dir, { fs: t.fs, config, clean: false });
      expect(again.log.segmentBaseOffsets).toEqual(bases.slice(0, 2));
      expect(again.log.logEndOffset).toBe(bases[2]);
      await again.log.close();
    });

    it('padding that is not all zeros is a cut: later segments go (the control for the test above)', async () => {
      const t = c.make();
      const dir = t.dir;
      const config = { segmentBytes: 400 };
      const bases = await segmented(t, config);
      const seg1 = file(dir, bases[1]!, '.log');
      const size = t.size(seg1);
      const pad = Buffer.alloc(Math.ceil(size / 512) * 512 - size);
      expect(pad.length).toBeGreaterThan(0);
      pad[pad.length - 1] = 1;
      t.append(seg1, pad);

      const { log } = await openLog(dir, { fs: t.fs, config, clean: false });
      expect(log.segmentBaseOffsets).toEqual(bases.slice(0, 2));
      expect(log.logEndOffset).toBe(bases[2]);
      expect(t.size(seg1)).toBe(size);
      await log.close();
    });
  });
}

const retained: NativeFileSystem[] = [];

describe.skipIf(!nativeEngineAvailable())('recovery after the native engine stopped without closing its files', () => {
  it('keeps every segment although each ends in the zero padding of its last block', async () => {
    const dir = tempDir();
    const config = { segmentBytes: 600 };
    const crashed = new NativeFileSystem();
    retained.push(crashed); // see retainedEngines in helpers.ts
    const first = await openLog(dir, { fs: crashed, config });
    for (let i = 0; i < 20; i++) await first.log.append(batch(2), { leaderEpoch: 0 });
    const bases = first.log.segmentBaseOffsets;
    expect(bases.length).toBeGreaterThan(3);
    const segFile = (b: number) => file(dir, b, '.log');
    const padded = bases.filter((b) => statSync(segFile(b)).size % 512 === 0 && statSync(segFile(b)).size > 0);
    expect(padded.length, 'the open segments end in whole blocks on disk').toBe(bases.length);
    // segments of ~600 bytes: one of 64 KiB or more on disk ends in zeros written ahead (zero-ahead is on by default)
    expect(bases.some((b) => statSync(segFile(b)).size >= 65536), 'some segment carries zeros ahead').toBe(true);
    // as a crash: nothing closes the files, so nothing cuts the padding
    crashed.shutdown();

    const fs = new NativeFileSystem();
    retained.push(fs);
    onTestFinished(() => fs.shutdown());
    const { log } = await openLog(dir, { fs, config, clean: false });
    expect(log.segmentBaseOffsets).toEqual(bases);
    expect(log.logEndOffset).toBe(40);
    expect(await readEverything(log)).toEqual(range(0, 40));
    expect((await log.append(batch(1), { leaderEpoch: 0 })).baseOffset).toBe(40);
    await log.close();
  });
});

describe('recovery after a simulated power loss', () => {
  it('keeps exactly the acknowledged batches (torn tails included) for many seeds', async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const fs = new SimFileSystem({ seed });
      const dir = '/data/t-0';
      const { log } = await openLog(dir, { fs, config: { segmentBytes: 700, indexIntervalBytes: 100 } });
      let acked = 0;
      // vary where the unacknowledged appends fall relative to a segment roll
      for (let i = 0; i < 3 + (seed % 8); i++) {
        const r = await log.append(batch(2, { ts: T0 + i }), { leaderEpoch: 0 });
        acked = r.lastOffset + 1;
      }
      // in flight, never acknowledged
      const lost = [log.append(batch(2), { leaderEpoch: 0 }), log.append(batch(3), { leaderEpoch: 0 })];
      fs.crash({ tornTail: true });
      await Promise.allSettled(lost);

      const reopened = await openLog(dir, { fs, config: { segmentBytes: 700, indexIntervalBytes: 100 } });
      expect(reopened.log.logEndOffset).toBeGreaterThanOrEqual(acked);
      // what survives is a prefix of whole batches: acknowledged ones, maybe some of the unacknowledged
      expect([acked, acked + 2, acked + 5]).toContain(reopened.log.logEndOffset);
      const all = await readEverything(reopened.log);
      expect(all).toEqual(range(0, reopened.log.logEndOffset));
      const next = await reopened.log.append(batch(1), { leaderEpoch: 1 });
      expect(next.baseOffset).toBe(reopened.log.logEndOffset - 1);
      await reopened.log.close();
    }
  });

  it('leaves no hole when unsynced bytes are lost just before a roll', async () => {
    const fs = new SimFileSystem({ seed: 1 });
    const dir = '/data/t-0';
    const config = { segmentBytes: 700 };
    const { log } = await openLog(dir, { fs, config });
    for (let i = 0; i < 6; i++) await log.append(batch(2), { leaderEpoch: 0 });
    const lost = [log.append(batch(2), { leaderEpoch: 0 }), log.append(batch(3), { leaderEpoch: 0 })];
    expect(log.segmentBaseOffsets).toEqual([0, 14]); // the second unacknowledged append rolled
    fs.crash(); // every unsynced byte is gone; the new segment's file exists, empty
    await Promise.allSettled(lost);
    expect(await fs.exists(`${dir}/${segmentFileName(14, '.log')}`)).toBe(true);

    const reopened = await openLog(dir, { fs, config });
    expect(reopened.log.segmentBaseOffsets).toEqual([0]);
    expect(reopened.log.logEndOffset).toBe(12);
    expect(await fs.exists(`${dir}/${segmentFileName(14, '.log')}`)).toBe(false);
    expect((await reopened.log.append(batch(1), { leaderEpoch: 1 })).baseOffset).toBe(12);
    await reopened.log.close();
  });
});
