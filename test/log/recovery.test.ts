import { appendFileSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SimFileSystem } from '../../src/io/index.js';
import { OffsetIndex, TimeIndex, segmentFileName } from '../../src/log/index.js';
import { readBatchHeader } from '../../src/protocol/records.js';
import { T0, batch, offsetsOf, openLog, range, tempDir } from './helpers.js';

const file = (dir: string, base: number, suffix: '.log' | '.index' | '.timeindex') =>
  path.join(dir, segmentFileName(base, suffix));

/** Writes `n` batches of 2 records and closes; returns the byte position where each batch starts. */
async function fill(dir: string, n: number, config = {}): Promise<number[]> {
  const { log } = await openLog(dir, { config });
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

function checkIndexes(dir: string, base: number): void {
  const logBytes = statSync(file(dir, base, '.log')).size;
  const index = OffsetIndex.decode(base, readFileSync(file(dir, base, '.index')), Math.max(logBytes, 1));
  expect(typeof index).not.toBe('string');
  expect(typeof TimeIndex.decode(base, readFileSync(file(dir, base, '.timeindex')))).not.toBe('string');
}

describe('recovery of a torn tail', () => {
  it('truncates a half-written last batch, rebuilds indexes, and appends continue at the right offset', async () => {
    const dir = tempDir();
    const config = { indexIntervalBytes: 100 };
    const starts = await fill(dir, 20, config);
    const logFile = file(dir, 0, '.log');
    truncateSync(logFile, starts[19]! + 30); // a crash in the middle of writing batch 19
    writeFileSync(file(dir, 0, '.index'), Buffer.alloc(13, 0xff)); // and a damaged index

    const { log } = await openLog(dir, { config });
    expect(statSync(logFile).size).toBe(starts[19]);
    expect(log.logEndOffset).toBe(38);
    expect(log.highWatermark).toBe(38);
    checkIndexes(dir, 0);
    expect(readFileSync(file(dir, 0, '.index')).length).toBeGreaterThan(0);
    expect((await log.append(batch(2), { leaderEpoch: 0 })).baseOffset).toBe(38);
    expect(await readEverything(log)).toEqual(range(0, 40));
    await log.close();
  });

  it('truncates garbage a crash appended after the last batch', async () => {
    const dir = tempDir();
    const starts = await fill(dir, 5);
    const size = statSync(file(dir, 0, '.log')).size;
    const garbage = batch(1);
    garbage[garbage.length - 1]! ^= 0xff; // a whole-looking batch whose CRC fails
    appendFileSync(file(dir, 0, '.log'), Buffer.concat([garbage, Buffer.from('not a batch at all')]));
    const { log } = await openLog(dir);
    expect(statSync(file(dir, 0, '.log')).size).toBe(size);
    expect(log.logEndOffset).toBe(10);
    expect(starts).toHaveLength(5);
    await log.close();
  });

  it('truncates at a batch whose CRC fails, even with intact batches after it', async () => {
    const dir = tempDir();
    const starts = await fill(dir, 6);
    const bytes = readFileSync(file(dir, 0, '.log'));
    bytes[starts[3]! + 70]! ^= 0x01; // flip a bit inside batch 3's records
    writeFileSync(file(dir, 0, '.log'), bytes);
    const { log } = await openLog(dir);
    expect(log.logEndOffset).toBe(6);
    expect(statSync(file(dir, 0, '.log')).size).toBe(starts[3]);
    await log.close();
  });

  it('after an unclean shutdown, a damaged non-last segment cuts the log there and later segments go', async () => {
    const dir = tempDir();
    const config = { segmentBytes: 400 };
    const first = await openLog(dir, { config });
    for (let i = 0; i < 20; i++) await first.log.append(batch(2), { leaderEpoch: 0 });
    const bases = first.log.segmentBaseOffsets;
    await first.log.close();
    expect(bases.length).toBeGreaterThan(3);

    const second = file(dir, bases[1]!, '.log');
    const bytes = readFileSync(second);
    const firstBatchSize = readBatchHeader(bytes, 0).batchLength + 12;
    truncateSync(second, firstBatchSize + 20);

    const clean = await openLog(dir, { config, clean: true });
    // a clean open trusts non-last segments: nothing scanned, nothing cut
    expect(clean.log.segmentBaseOffsets).toEqual(bases);
    await clean.log.close();

    const { log } = await openLog(dir, { config, clean: false });
    expect(log.segmentBaseOffsets).toEqual(bases.slice(0, 2));
    expect(log.logEndOffset).toBe(bases[1]! + 2);
    expect(await readEverything(log)).toEqual(range(0, bases[1]! + 2));
    expect((await log.append(batch(1), { leaderEpoch: 0 })).baseOffset).toBe(bases[1]! + 2);
    await log.close();
  });

  it('rebuilds an index that fails its sanity check on a clean open', async () => {
    const dir = tempDir();
    const config = { segmentBytes: 400, indexIntervalBytes: 50 };
    const first = await openLog(dir, { config });
    for (let i = 0; i < 20; i++) await first.log.append(batch(2), { leaderEpoch: 0 });
    await first.log.close();
    const indexFile = file(dir, 0, '.index');
    const good = readFileSync(indexFile);
    expect(good.length).toBeGreaterThanOrEqual(16);
    const bad = Buffer.from(good);
    bad.writeInt32BE(1000, 0); // entry 0's offset now above entry 1's: not increasing
    writeFileSync(indexFile, bad);

    const { log } = await openLog(dir, { config, clean: true });
    expect(readFileSync(indexFile)).toEqual(good);
    expect(await readEverything(log)).toEqual(range(0, 40));
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
