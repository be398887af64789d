import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import {
  CLEAN_SHUTDOWN_FILE,
  LogManager,
  defaultLogConfig,
  parsePartitionDir,
  segmentFileName,
} from '../../src/log/index.js';
import { Clock, T0, batch, offsetsOf, tempDir } from './helpers.js';

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

  it('creates partitions Kafka-style and finds them again after a restart', async () => {
    const dataDir = tempDir();
    const manager = await LogManager.open({ dataDir });
    const log = await manager.createPartition('orders-eu', 2, { ...defaultLogConfig, segmentBytes: 300 });
    expect(await manager.createPartition('orders-eu', 2)).toBe(log);
    for (let i = 0; i < 10; i++) await log.append(batch(2), { leaderEpoch: 0 });
    await (await manager.createPartition('x', 0)).append(batch(1), { leaderEpoch: 0 });
    expect(readdirSync(path.join(dataDir, 'orders-eu-2'))).toContain(segmentFileName(0, '.log'));
    mkdirSync(path.join(dataDir, 'not a partition'));
    mkdirSync(path.join(dataDir, 'gone-1.0123456789abcdef0123456789abcdef-delete'));
    await manager.close();
    expect(existsSync(path.join(dataDir, CLEAN_SHUTDOWN_FILE))).toBe(true);

    const again = await LogManager.open({ dataDir, configFor: () => ({ ...defaultLogConfig, segmentBytes: 300 }) });
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
