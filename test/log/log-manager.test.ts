import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { SimFileSystem, isOutOfSpace } from '../../src/io/index.js';
import {
  CLEAN_SHUTDOWN_FILE,
  KafkaStorageError,
  LogManager,
  defaultLogConfig,
  parsePartitionDir,
  segmentFileName,
  type PartitionLog,
} from '../../src/log/index.js';
import { batchPayload, iterateRecords, readBatchHeader } from '../../src/protocol/records.js';
import { Clock, T0, batch, fsCases, offsetsOf, tempDir } from './helpers.js';

const DAY_MS = 24 * 60 * 60 * 1000;

describe('LogManager', () => {
  it('splits partition directory names at the last dash', () => {
    expect(parsePartitionDir('my-topic-with-dashes-12')).toEqual({ topic: 'my-topic-with-dashes', partition: 12 });
    expect(parsePartitionDir('__consumer_offsets-0')).toEqual({ topic: '__consumer_offsets', partition: 0 });
    expect(parsePartitionDir('a.b-3')).toEqual({ topic: 'a.b', partition: 3 });
    expect(parsePartitionDir('nodash')).toBeNull();
    expect(parsePartitionDir('topic-x')).toBeNull();
    expect(parsePartitionDir('t-0.abc-delete')).toBeNull();
  });

  for (const c of fsCases.filter((x) => x.name !== 'sim')) {
    it.skipIf(c.skip !== null)(`creates partitions Kafka-style and finds them again after a restart (${c.name} file system)`, async () => {
      const { fs } = c.make();
      const dataDir = tempDir();
      const manager = await LogManager.open({ dataDir, fs });
      const log = await manager.createPartition('orders-eu', 2, { ...defaultLogConfig, segmentBytes: 300 });
      expect(await manager.createPartition('orders-eu', 2)).toBe(log);
      for (let i = 0; i < 10; i++) await log.append(batch(2), { leaderEpoch: 0 });
      await (await manager.createPartition('x', 0)).append(batch(1), { leaderEpoch: 0 });
      expect(readdirSync(path.join(dataDir, 'orders-eu-2'))).toContain(segmentFileName(0, '.log'));
      mkdirSync(path.join(dataDir, 'not a partition'));
      mkdirSync(path.join(dataDir, 'gone-1.0123456789abcdef0123456789abcdef-delete'));
      await manager.close();
      expect(existsSync(path.join(dataDir, CLEAN_SHUTDOWN_FILE))).toBe(true);

      const again = await LogManager.open({ dataDir, fs, configFor: () => ({ ...defaultLogConfig, segmentBytes: 300 }) });
      expect(existsSync(path.join(dataDir, CLEAN_SHUTDOWN_FILE))).toBe(false);
      expect(existsSync(path.join(dataDir, 'gone-1.0123456789abcdef0123456789abcdef-delete'))).toBe(false);
      const ids = [...again.partitions()].map(({ topic, partition }) => `${topic}/${partition}`).sort();
      expect(ids).toEqual(['orders-eu/2', 'x/0']);
      const reopened = again.get('orders-eu', 2)!;
      expect(reopened.logEndOffset).toBe(20);
      expect(offsetsOf(await reopened.read(0, 1 << 20, { minOneBatch: true }))[0]).toBe(0);
      expect((await reopened.append(batch(1), { leaderEpoch: 0 })).baseOffset).toBe(20);
      await again.close();
    });
  }

  it('skips the scan of non-last segments only after a clean shutdown', async () => {
    const dataDir = tempDir();
    const config = { ...defaultLogConfig, segmentBytes: 300 };
    const manager = await LogManager.open({ dataDir });
    const log = await manager.createPartition('t', 0, config);
    for (let i = 0; i < 10; i++) await log.append(batch(2), { leaderEpoch: 0 });
    const bases = log.segmentBaseOffsets;
    await manager.close();
    // flip a byte inside the first segment: only a CRC scan notices
    const first = path.join(dataDir, 't-0', segmentFileName(0, '.log'));
    const bytes = readFileSync(first);
    bytes[bytes.length - 1]! ^= 0xff;
    writeFileSync(first, bytes);

    const clean = await LogManager.open({ dataDir, configFor: () => config });
    expect(clean.get('t', 0)!.segmentBaseOffsets).toEqual(bases);
    await clean.close();
    rmSync(path.join(dataDir, CLEAN_SHUTDOWN_FILE)); // as if the process had died instead of closing

    const crashed = await LogManager.open({ dataDir, configFor: () => config });
    expect(crashed.get('t', 0)!.segmentBaseOffsets).toEqual([0]);
    await crashed.close();
  });

  it('deletes a partition by renaming its directory, then removing it', async () => {
    const dataDir = tempDir();
    const manager = await LogManager.open({ dataDir });
    const log = await manager.createPartition('doomed-topic', 0);
    await log.append(batch(1), { leaderEpoch: 0 });
    expect(await manager.deletePartition('doomed-topic', 0)).toBe(true);
    expect(await manager.deletePartition('doomed-topic', 0)).toBe(false);
    expect(manager.get('doomed-topic', 0)).toBeUndefined();
    expect(existsSync(path.join(dataDir, 'doomed-topic-0'))).toBe(false);
    await expect(log.append(batch(1), { leaderEpoch: 0 })).rejects.toMatchObject({ code: 'LOG_CLOSED' });
    await manager.close();
    expect(readdirSync(dataDir).filter((n) => n.includes('doomed'))).toEqual([]);
  });

  it('rejects topic names that are not path-safe', async () => {
    const manager = await LogManager.open({ dataDir: tempDir() });
    await expect(manager.createPartition('../etc', 0)).rejects.toThrow(RangeError);
    await expect(manager.createPartition('a/b', 0)).rejects.toThrow(RangeError);
    await expect(manager.createPartition('ok', -1)).rejects.toThrow(RangeError);
    await manager.close();
  });

  it('applies retention over every partition, also from its background timer', async () => {
    const clock = new Clock(T0);
    const manager = await LogManager.open({ dataDir: tempDir(), clock: clock.fn, retentionCheckIntervalMs: 1000 });
    const config = { ...defaultLogConfig, segmentBytes: 300, retentionMs: DAY_MS };
    for (const p of [0, 1]) {
      const log = await manager.createPartition('r', p, config);
      for (let i = 0; i < 10; i++) await log.append(batch(2, { ts: T0 }), { leaderEpoch: 0 });
    }
    expect(await manager.applyRetention(T0)).toBe(0);

    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      manager.start();
      clock.now = T0 + 2 * DAY_MS;
      vi.advanceTimersByTime(1000);
      await vi.waitFor(() => {
        expect(manager.get('r', 0)!.logStartOffset).toBe(20);
        expect(manager.get('r', 1)!.logStartOffset).toBe(20);
      });
    } finally {
      vi.useRealTimers();
    }
    await manager.close();
  });
});

/** Offset -> key of every record from the log start to the high watermark. */
async function keysByOffset(log: PartitionLog): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  let next = log.logStartOffset;
  while (next < log.highWatermark) {
    const r = await log.read(next, 1 << 20, { minOneBatch: true });
    if (!r.ok || r.records.length === 0) break;
    for (const b of r.records) {
      const h = readBatchHeader(b, 0);
      for (const rec of iterateRecords(batchPayload(b, 0, h), h)) out.set(rec.offset, rec.key!.toString());
      next = h.baseOffset + h.lastOffsetDelta + 1;
    }
  }
  return out;
}

describe('LogManager on a full disk (simulated)', () => {
  it('ENOSPC takes that partition offline, the others keep working, and it comes back once space returns', async () => {
    const fs = new SimFileSystem({ seed: 3 });
    const messages: string[] = [];
    const note = (level: string) => (_obj: object, msg?: string) => void messages.push(`${level}: ${msg ?? ''}`);
    const logger = { info: note('info'), warn: note('warn'), error: note('error') };
    const manager = await LogManager.open({ dataDir: '/data', fs, logger, storageRetryMs: 20 });
    // small index interval: recovery rewrites index entries, so a reopen needs some space
    const config = { ...defaultLogConfig, segmentBytes: 3000, indexIntervalBytes: 100 };
    let full = await manager.createPartition('full', 0, config);
    const fine = await manager.createPartition('fine', 0, config);
    const acked = new Map<number, string>();
    const appendTracked = async (log: PartitionLog, tag: string): Promise<void> => {
      const r = await log.append(batch(2, { tag }), { leaderEpoch: 0 });
      acked.set(r.baseOffset, `${tag}0`);
      acked.set(r.baseOffset + 1, `${tag}1`);
    };
    for (let i = 0; i < 30; i++) await appendTracked(full, `a${i}-`);
    expect(full.segmentCount).toBeGreaterThan(1);
    for (let i = 0; i < 3; i++) await fine.append(batch(1), { leaderEpoch: 0 });

    // the partition's directory fills up: room for part of one more batch (a short write, then ENOSPC)
    const inFull = (p: string) => p.startsWith('/data/full-0/');
    fs.setCapacity(fs.usedBytes(inFull) + 40, inFull);
    const pending = [full.append(batch(2, { tag: 'x' }), { leaderEpoch: 0 }), full.append(batch(2, { tag: 'y' }), { leaderEpoch: 0 })];
    const errors = await Promise.all(pending.map((p) => p.then(() => null, (e: unknown) => e)));
    for (const e of errors) {
      expect(e).toBeInstanceOf(KafkaStorageError);
      expect(isOutOfSpace(e), 'the storage error carries ENOSPC').toBe(true);
    }
    expect(full.failed).toBe(true);
    expect(full.highWatermark).toBe(60);
    expect(manager.get('full', 0)).toBeUndefined();
    expect(manager.offline('full', 0)).toBeInstanceOf(KafkaStorageError);
    expect([...manager.offlinePartitions()]).toEqual([{ topic: 'full', partition: 0 }]);
    await expect(manager.createPartition('full', 0, config)).rejects.toBeInstanceOf(KafkaStorageError);
    await expect(full.append(batch(1), { leaderEpoch: 0 })).rejects.toBeInstanceOf(KafkaStorageError);

    // no room at all: reopening (recovery rewrites indexes) fails with ENOSPC and is retried, not given up
    fs.setCapacity(0, inFull);
    expect((await fine.append(batch(1), { leaderEpoch: 0 })).baseOffset).toBe(3);
    await new Promise((r) => setTimeout(r, 150)); // several storageRetryMs periods
    expect(manager.get('full', 0)).toBeUndefined();
    expect(manager.offline('full', 0)).toBeDefined();
    expect(messages.filter((m) => m.includes('until restart'))).toEqual([]);
    expect(messages.filter((m) => m.includes('disk full'))).toHaveLength(1);
    expect(offsetsOf(await fine.read(0, 1 << 20, { minOneBatch: true }))).toEqual([0, 1, 2, 3]);

    // space returns: within a bounded time the partition is back, nothing acknowledged lost, appends work
    fs.setCapacity(Infinity);
    await vi.waitFor(() => expect(manager.get('full', 0)).toBeDefined(), { timeout: 3000, interval: 10 });
    full = manager.get('full', 0)!;
    expect(manager.offline('full', 0)).toBeUndefined();
    expect([...manager.offlinePartitions()]).toEqual([]);
    expect(messages.filter((m) => m.includes('online again'))).toHaveLength(1);
    expect(full.logEndOffset).toBe(60); // the short write of the failed batch was cut by recovery
    expect(await keysByOffset(full)).toEqual(acked);
    await appendTracked(full, 'after-');
    expect(full.highWatermark).toBe(62);
    expect(await keysByOffset(full)).toEqual(acked);
    await manager.close();
    expect(await fs.exists(`/data/${CLEAN_SHUTDOWN_FILE}`)).toBe(true);
  });
});
