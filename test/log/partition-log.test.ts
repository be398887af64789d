/**
 * PartitionLog over each file system in `fsCases` (simulated, node:fs, native engine): the same behaviour whichever
 * engine is under it. Files are inspected through the case's own access (`TestFs`), not assumed to be on disk.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OffsetIndex, TimeIndex, segmentFileName } from '../../src/log/index.js';
import {
  Compression,
  LOG_OVERHEAD,
  buildRecordBatch,
  isBatchCrcValid,
  isLogAppendTime,
  readBatchHeader,
} from '../../src/protocol/records.js';
import { compressSync, loadCompression } from '../../src/protocol/compression.js';
import { Clock, T0, batch, fsCases, offsetsOf, openLog, range, validated, type FsCase } from './helpers.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/** Reads everything from `from` to the high watermark, one segment at a time, as a consumer would. */
async function readAll(log: Awaited<ReturnType<typeof openLog>>['log'], from: number): Promise<number[]> {
  const out: number[] = [];
  let next = from;
  while (next < log.highWatermark) {
    const offsets = offsetsOf(await log.read(next, 1 << 20, { minOneBatch: true }));
    expect(offsets.length).toBeGreaterThan(0);
    out.push(...offsets.filter((o) => o >= next));
    next = offsets.at(-1)! + 1;
  }
  return out;
}

for (const c of fsCases) {
  describe.skipIf(c.skip !== null)(`PartitionLog on the ${c.name} file system`, () => {
    partitionLogTests(c);
  });
}

function partitionLogTests(c: FsCase): void {
  /** A log in a fresh directory of this case's file system. */
  const fresh = (opts: Omit<Parameters<typeof openLog>[1] & object, 'fs'> = {}) => {
    const t = c.make();
    return openLog(t.dir, { ...opts, fs: t.fs });
  };

  describe('PartitionLog append and read', () => {
    it('assigns offsets in call order and reads back across segment rolls', async () => {
      const t = c.make();
      const dir = t.dir;
      const { log } = await openLog(dir, { fs: t.fs, config: { segmentBytes: 1000 } });
      const appends = range(0, 20).map(() => log.append(batch(3), { leaderEpoch: 4 }));
      // offsets are assigned synchronously: the log end moved before any sync finished
      expect(log.logEndOffset).toBe(60);
      expect(log.highWatermark).toBe(0);
      const results = await Promise.all(appends);
      expect(results.map((r) => r.baseOffset)).toEqual(range(0, 20).map((i) => i * 3));
      expect(results.map((r) => r.lastOffset)).toEqual(range(0, 20).map((i) => i * 3 + 2));
      expect(results.every((r) => r.logAppendTime === -1 && r.logStartOffset === 0)).toBe(true);
      expect(log.highWatermark).toBe(60);
      expect(log.segmentCount).toBeGreaterThan(2);

      // segment files are named by their base offset
      const logs = (await t.fs.list(dir)).filter((n) => n.endsWith('.log')).sort();
      expect(logs).toEqual(log.segmentBaseOffsets.map((b) => segmentFileName(b, '.log')));

      expect(await readAll(log, 0)).toEqual(range(0, 60));
      const first = await log.read(0, 1 << 20, { minOneBatch: true });
      expect(first.ok && readBatchHeader(first.records[0]!, 0).partitionLeaderEpoch).toBe(4);
      await log.close();
      // (checked closed: an open direct-I/O file ends in zero padding up to its block boundary)
      for (const name of logs) expect(t.size(path.join(dir, name))).toBeLessThanOrEqual(1000);
    });

    it('stores batches exactly as received except base offset and leader epoch', async () => {
      const t = c.make();
      const dir = t.dir;
      const { log } = await openLog(dir, { fs: t.fs });
      const sent = batch(2);
      const original = Buffer.from(sent);
      await log.append(sent, { leaderEpoch: 7, batches: validated(sent) });
      await log.append(batch(1), { leaderEpoch: 7 });
      const stored = t.bytes(path.join(dir, segmentFileName(0, '.log')))!.subarray(0, original.length);
      expect(stored.subarray(LOG_OVERHEAD + 4)).toEqual(original.subarray(LOG_OVERHEAD + 4));
      expect(stored.subarray(8, 12)).toEqual(original.subarray(8, 12)); // batchLength
      expect(isBatchCrcValid(stored, 0, readBatchHeader(stored, 0))).toBe(true);
      await log.close();
    });

    it('returns the whole batch when reading from its middle', async () => {
      const { log } = await fresh();
      await log.append(batch(3), { leaderEpoch: 0 });
      await log.append(batch(3), { leaderEpoch: 0 });
      const result = await log.read(4, 1 << 20, { minOneBatch: true });
      expect(offsetsOf(result)).toEqual([3, 4, 5]);
      await log.close();
    });

    it('answers OFFSET_OUT_OF_RANGE outside [logStartOffset, logEndOffset], nothing at the HW', async () => {
      const { log } = await fresh();
      await log.append(batch(2), { leaderEpoch: 0 });
      expect(await log.read(2, 100, { minOneBatch: true })).toEqual({
        ok: true,
        records: [],
        highWatermark: 2,
        logStartOffset: 0,
      });
      const beyond = await log.read(3, 100, { minOneBatch: true });
      expect(beyond.ok).toBe(false);
      if (!beyond.ok) expect(beyond.error).toBe('OFFSET_OUT_OF_RANGE');
      const upTo = await log.read(0, 1 << 20, { minOneBatch: true, upTo: 1 });
      expect(upTo.ok && upTo.records).toEqual([]);
      await log.close();
    });

    it('applies KIP-74: the first batch is returned whole even above maxBytes when minOneBatch', async () => {
      const { log } = await fresh();
      const sizes: number[] = [];
      for (let i = 0; i < 3; i++) {
        const b = batch(4, { valueBytes: 100 });
        sizes.push(b.length);
        await log.append(b, { leaderEpoch: 0 });
      }
      const one = await log.read(0, 10, { minOneBatch: true });
      expect(one.ok && one.records.map((r) => r.length)).toEqual([sizes[0]]);
      const none = await log.read(0, 10, { minOneBatch: false });
      expect(none.ok && none.records).toEqual([]);
      const two = await log.read(0, sizes[0]! + sizes[1]! + 5, { minOneBatch: false });
      expect(offsetsOf(two)).toEqual(range(0, 8));
      await log.close();
    });

    it('serves tailing reads from the batch cache as views of the appended buffers', async () => {
      const { log, cache } = await fresh({ cacheBytes: 1 << 20 });
      const sent = batch(2);
      await log.append(sent, { leaderEpoch: 0 });
      const result = await log.read(0, 1 << 20, { minOneBatch: true });
      expect(result.ok && result.records[0]!.buffer).toBe(sent.buffer);
      expect(cache.bytes).toBe(sent.length);
      await log.close();
      expect(cache.bytes).toBe(0);
    });

    it('evicts the oldest cached batches and falls back to the file', async () => {
      const one = batch(1, { valueBytes: 100 }).length;
      const { log, cache } = await fresh({ cacheBytes: one * 3 });
      for (let i = 0; i < 10; i++) await log.append(batch(1, { valueBytes: 100 }), { leaderEpoch: 0 });
      expect(cache.bytes).toBe(one * 3);
      expect(await readAll(log, 0)).toEqual(range(0, 10));
      await log.close();
    });

    it('notifies listeners when the high watermark advances', async () => {
      const { log } = await fresh();
      const seen: number[] = [];
      const off = log.onAppend(() => seen.push(log.highWatermark));
      await log.append(batch(2), { leaderEpoch: 0 });
      off();
      await log.append(batch(2), { leaderEpoch: 0 });
      expect(seen).toEqual([2]);
      await log.close();
    });

    it('writes LogAppendTime into the batch and reports it', async () => {
      const clock = new Clock(T0 + 999);
      const { log } = await fresh({ clock, config: { messageTimestampType: 'LogAppendTime' } });
      const result = await log.append(batch(2, { ts: 5 }), { leaderEpoch: 0 });
      expect(result.logAppendTime).toBe(T0 + 999);
      const read = await log.read(0, 1 << 20, { minOneBatch: true });
      const stored = read.ok ? read.records[0]! : Buffer.alloc(0);
      const h = readBatchHeader(stored, 0);
      expect(isLogAppendTime(h.attributes)).toBe(true);
      expect(h.maxTimestamp).toBe(T0 + 999);
      expect(isBatchCrcValid(stored, 0, h)).toBe(true);
      await log.close();
    });

    it('rejects appends after close', async () => {
      const { log } = await fresh();
      await log.close();
      await expect(log.append(batch(1), { leaderEpoch: 0 })).rejects.toMatchObject({ code: 'LOG_CLOSED' });
    });
  });

  describe('PartitionLog indexes', () => {
    it('writes sparse offset and time index entries that point at real batches, once, when the segment is sealed', async () => {
      const t = c.make();
      const dir = t.dir;
      const clock = new Clock(T0);
      const { log } = await openLog(dir, { fs: t.fs, clock, config: { indexIntervalBytes: 300, segmentMs: 60_000 } });
      for (let i = 0; i < 40; i++) await log.append(batch(2, { ts: T0 + i * 10 }), { leaderEpoch: 0 });
      // The active segment's indexes live in memory only (every open rescans the last segment).
      expect(t.bytes(path.join(dir, segmentFileName(0, '.index')))).toBeNull();
      clock.now += 120_000; // segment.ms passed: the next append rolls, sealing segment 0
      await log.append(batch(1, { ts: T0 + 1000 }), { leaderEpoch: 0 });
      await log.close();
      expect(log.segmentBaseOffsets).toEqual([0, 80]);

      const data = t.bytes(path.join(dir, segmentFileName(0, '.log')))!;
      const indexBytes = t.bytes(path.join(dir, segmentFileName(0, '.index')))!;
      const index = OffsetIndex.decode(0, indexBytes, data.length);
      if (typeof index === 'string') throw new Error(index);
      // one entry per ~300 bytes of log
      expect(index.entryCount).toBeGreaterThan(data.length / 300 / 2);
      expect(index.entryCount).toBeLessThan(data.length / 300 + 1);
      for (let p = 0; p < indexBytes.length; p += 8) {
        const rel = indexBytes.readInt32BE(p);
        const pos = indexBytes.readInt32BE(p + 4);
        expect(readBatchHeader(data, pos).baseOffset).toBe(rel);
      }
      // every lookup lands on a batch boundary at or before the target, within one interval plus a batch
      for (const target of range(0, 80)) {
        const { offset, position } = index.lookup(target);
        const h = readBatchHeader(data, position);
        expect(h.baseOffset).toBe(offset);
        expect(offset).toBeLessThanOrEqual(target);
      }

      const timeIndex = TimeIndex.decode(0, t.bytes(path.join(dir, segmentFileName(0, '.timeindex')))!);
      if (typeof timeIndex === 'string') throw new Error(timeIndex);
      expect(timeIndex.entryCount).toBeGreaterThan(1);
    });

    it('finds any offset through the index', async () => {
      const { log } = await fresh({ config: { indexIntervalBytes: 200, segmentBytes: 2000 } });
      for (let i = 0; i < 50; i++) await log.append(batch(1 + (i % 3)), { leaderEpoch: 0 });
      for (const target of range(0, log.highWatermark)) {
        const offsets = offsetsOf(await log.read(target, 1, { minOneBatch: true }));
        expect(offsets).toContain(target);
      }
      await log.close();
    });
  });

  describe('PartitionLog timestamps', () => {
    it('finds the first offset at or after a timestamp, across segments and inside a batch', async () => {
      const { log } = await fresh({ config: { segmentBytes: 600, indexIntervalBytes: 100 } });
      for (let i = 0; i < 20; i++) await log.append(batch(2, { ts: T0 + i * 100 }), { leaderEpoch: 0 });
      const mixed = buildRecordBatch([
        { value: 'a', timestamp: T0 + 5000 },
        { value: 'b', timestamp: T0 + 5010 },
        { value: 'c', timestamp: T0 + 5005 },
      ]);
      await log.append(mixed, { leaderEpoch: 0 });
      expect(log.segmentCount).toBeGreaterThan(2);

      expect(await log.offsetForTimestamp(0)).toEqual({ offset: 0, timestamp: T0 });
      expect(await log.offsetForTimestamp(T0 + 1)).toEqual({ offset: 2, timestamp: T0 + 100 });
      expect(await log.offsetForTimestamp(T0 + 1050)).toEqual({ offset: 22, timestamp: T0 + 1100 });
      expect(await log.offsetForTimestamp(T0 + 1900)).toEqual({ offset: 38, timestamp: T0 + 1900 });
      expect(await log.offsetForTimestamp(T0 + 5001)).toEqual({ offset: 41, timestamp: T0 + 5010 });
      expect(await log.offsetForTimestamp(T0 + 5011)).toBeNull();
      expect(await log.maxTimestampOffset()).toEqual({ offset: 41, timestamp: T0 + 5010 });
      await log.close();
    });

    it('finds the exact record inside compressed batches (the batch is decompressed for the lookup)', async () => {
      const t = c.make();
      const dir = t.dir;
      const { log } = await openLog(dir, { fs: t.fs });
      await loadCompression();
      for (const codec of [Compression.gzip, Compression.snappy, Compression.lz4, Compression.zstd]) {
        const records = Array.from({ length: 5 }, (_, i) => ({ value: `v${i}`, timestamp: T0 + codec * 1000 + i * 10 }));
        await log.append(buildRecordBatch(records, { compression: codec, compress: (p) => compressSync(codec, p) }), { leaderEpoch: 0 });
      }
      // batch of codec c holds offsets (c-1)*5 .. (c-1)*5+4 with timestamps T0 + c*1000 + 0,10,..40
      expect(await log.offsetForTimestamp(T0 + 1000 + 25)).toEqual({ offset: 3, timestamp: T0 + 1030 });
      expect(await log.offsetForTimestamp(T0 + 3000 + 1)).toEqual({ offset: 11, timestamp: T0 + 3010 });
      expect(await log.offsetForTimestamp(T0 + 4000 + 40)).toEqual({ offset: 19, timestamp: T0 + 4040 });
      expect(await log.maxTimestampOffset()).toEqual({ offset: 19, timestamp: T0 + 4040 });
      await log.close();
    });

    it('answers timestamp queries the same after a restart (time index loaded, not rebuilt)', async () => {
      const t = c.make();
      const dir = t.dir;
      const config = { segmentBytes: 600, indexIntervalBytes: 100 };
      const first = await openLog(dir, { fs: t.fs, config });
      for (let i = 0; i < 20; i++) await first.log.append(batch(2, { ts: T0 + i * 100 }), { leaderEpoch: 0 });
      await first.log.close();
      const { log } = await openLog(dir, { fs: t.fs, config, clean: true });
      expect(await log.offsetForTimestamp(T0 + 1050)).toEqual({ offset: 22, timestamp: T0 + 1100 });
      expect(await log.maxTimestampOffset()).toEqual({ offset: 38, timestamp: T0 + 1900 });
      await log.close();
    });
  });

  describe('PartitionLog retention and DeleteRecords', () => {
    it('deletes the oldest segments beyond retention.bytes, never the active one', async () => {
      const t = c.make();
      const dir = t.dir;
      const { log } = await openLog(dir, { fs: t.fs, config: { segmentBytes: 500 } });
      for (let i = 0; i < 30; i++) await log.append(batch(2), { leaderEpoch: 0 });
      const before = log.segmentCount;
      const oneSegment = log.sizeBytes / before;
      log.updateConfig({ ...log.config, retentionBytes: Math.floor(oneSegment * 2.5) });
      const deleted = await log.applyRetention(T0);
      expect(deleted).toBeGreaterThan(0);
      expect(log.segmentCount).toBe(before - deleted);
      expect(log.sizeBytes).toBeLessThanOrEqual(Math.floor(oneSegment * 2.5) + 500);
      expect(log.logStartOffset).toBe(log.segmentBaseOffsets[0]);
      expect(log.logStartOffset).toBeGreaterThan(0);
      const below = await log.read(0, 100, { minOneBatch: true });
      expect(below.ok).toBe(false);
      expect(await readAll(log, log.logStartOffset)).toEqual(range(log.logStartOffset, 60));
      await log.close();
      const remaining = (await t.fs.list(dir)).filter((n) => n.endsWith('.log')).sort();
      expect(remaining).toEqual(log.segmentBaseOffsets.map((b) => segmentFileName(b, '.log')));
    });

    it('deletes segments older than retention.ms by their largest timestamp', async () => {
      const { log } = await fresh({ config: { segmentBytes: 400, retentionMs: 7 * DAY_MS } });
      for (let i = 0; i < 10; i++) await log.append(batch(2, { ts: T0 - 10 * DAY_MS }), { leaderEpoch: 0 });
      const oldEnd = log.logEndOffset;
      for (let i = 0; i < 10; i++) await log.append(batch(2, { ts: T0 }), { leaderEpoch: 0 });
      // segments holding only old batches go; the one holding the first recent batch stays whole
      const bases = log.segmentBaseOffsets;
      const allOld = bases.filter((_, i) => i + 1 < bases.length && bases[i + 1]! <= oldEnd).length;
      expect(allOld).toBeGreaterThan(0);
      expect(await log.applyRetention(T0)).toBe(allOld);
      expect(log.segmentBaseOffsets).toEqual(bases.slice(allOld));
      expect(log.logStartOffset).toBe(bases[allOld]);
      expect(await log.applyRetention(T0)).toBe(0);
      await log.close();
    });

    it('rolls and deletes an expired active segment, and appends continue at the log end', async () => {
      const { log } = await fresh({ config: { retentionMs: 1000 } });
      await log.append(batch(5, { ts: T0 }), { leaderEpoch: 0 });
      expect(await log.applyRetention(T0 + 500)).toBe(0);
      expect(await log.applyRetention(T0 + 1001)).toBe(1);
      expect(log.segmentBaseOffsets).toEqual([5]);
      expect(log.logStartOffset).toBe(5);
      expect((await log.append(batch(1), { leaderEpoch: 0 })).baseOffset).toBe(5);
      await log.close();
    });

    it('keeps everything when cleanup.policy is compact only', async () => {
      const config = { retentionMs: 1, segmentBytes: 200, cleanupPolicy: 'compact' } as const;
      const { log } = await fresh({ config });
      for (let i = 0; i < 5; i++) await log.append(batch(2, { ts: T0 }), { leaderEpoch: 0 });
      expect(await log.applyRetention(T0 + DAY_MS)).toBe(0);
      await log.close();
    });

    it('raises the log start offset, deletes whole segments below it, and persists it', async () => {
      const t = c.make();
      const dir = t.dir;
      const config = { segmentBytes: 500 };
      const { log } = await openLog(dir, { fs: t.fs, config });
      for (let i = 0; i < 30; i++) await log.append(batch(2), { leaderEpoch: 0 });
      const bases = log.segmentBaseOffsets;
      const target = bases[2]! + 1;
      expect(await log.deleteRecordsBefore(target)).toEqual({ ok: true, lowWatermark: target });
      expect(log.segmentBaseOffsets).toEqual(bases.slice(2));
      expect(log.logStartOffset).toBe(target);
      const below = await log.read(target - 1, 100, { minOneBatch: true });
      expect(below.ok).toBe(false);
      expect(offsetsOf(await log.read(target, 1, { minOneBatch: true }))).toContain(target);
      expect(await log.deleteRecordsBefore(log.highWatermark + 1)).toEqual({
        ok: false,
        error: 'OFFSET_OUT_OF_RANGE',
        lowWatermark: target,
      });
      expect(await log.deleteRecordsBefore(2)).toEqual({ ok: true, lowWatermark: target });
      await log.close();
      expect(t.exists(path.join(dir, segmentFileName(bases[0]!, '.log')))).toBe(false);

      const reopened = await openLog(dir, { fs: t.fs, config, clean: true });
      expect(reopened.log.logStartOffset).toBe(target);
      expect(await reopened.log.deleteRecordsBefore(-1)).toEqual({ ok: true, lowWatermark: 60 });
      expect(reopened.log.segmentCount).toBe(1);
      await reopened.log.close();
    });
  });
}
