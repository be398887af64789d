import { describe, expect, it } from 'vitest';
import { SimFileSystem, type AppendFile } from '../../src/io/index.js';
import { KafkaStorageError } from '../../src/log/index.js';
import { batch, fsCases, offsetsOf, openLog, range } from './helpers.js';

const dir = '/data/topic-0';
const isLog = (p: string) => p.endsWith('.log');

describe('a failed sync is fatal for the log', () => {
  it('rejects the pending append with KAFKA_STORAGE_ERROR and never exposes it', async () => {
    const fs = new SimFileSystem({ seed: 1 });
    const { log } = await openLog(dir, { fs, cacheBytes: 1 << 20 });
    await log.append(batch(3), { leaderEpoch: 0 });
    expect(log.highWatermark).toBe(3);

    fs.failNextSyncs(1, isLog);
    const failing = log.append(batch(2), { leaderEpoch: 0 });
    await expect(failing).rejects.toBeInstanceOf(KafkaStorageError);
    await expect(failing).rejects.toMatchObject({ code: 'KAFKA_STORAGE_ERROR' });
    expect(log.failed).toBe(true);
    expect(log.highWatermark).toBe(3); // the unsynced batch never became visible
    expect(log.logEndOffset).toBe(5);

    // every later read and append rejects too (no fsync retry, no serving from the cache)
    await expect(log.read(0, 1 << 20, { minOneBatch: true })).rejects.toMatchObject({ code: 'KAFKA_STORAGE_ERROR' });
    await expect(log.read(3, 1 << 20, { minOneBatch: true })).rejects.toMatchObject({ code: 'KAFKA_STORAGE_ERROR' });
    await expect(log.append(batch(1), { leaderEpoch: 0 })).rejects.toMatchObject({ code: 'KAFKA_STORAGE_ERROR' });
    await expect(log.offsetForTimestamp(0)).rejects.toMatchObject({ code: 'KAFKA_STORAGE_ERROR' });
    await expect(log.deleteRecordsBefore(1)).rejects.toMatchObject({ code: 'KAFKA_STORAGE_ERROR' });
    const syncsAfterFailure = fs.syncCount;
    await log.close();
    expect(fs.syncCount).toBe(syncsAfterFailure); // close of a failed log syncs nothing

    // after the crash that usually follows, only the acknowledged batch is there
    fs.crash();
    const reopened = await openLog(dir, { fs });
    expect(reopened.log.logEndOffset).toBe(3);
    expect(offsetsOf(await reopened.log.read(0, 1 << 20, { minOneBatch: true }))).toEqual(range(0, 3));
    await reopened.log.close();
  });

  it('fails every append that shared the failed sync, and the ones after it', async () => {
    const fs = new SimFileSystem({ seed: 2 });
    const { log } = await openLog(dir, { fs });
    fs.failNextSyncs(1, isLog);
    const results = await Promise.allSettled([
      log.append(batch(1), { leaderEpoch: 0 }),
      log.append(batch(1), { leaderEpoch: 0 }),
      log.append(batch(1), { leaderEpoch: 0 }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(log.highWatermark).toBe(0);
    await expect(log.append(batch(1), { leaderEpoch: 0 })).rejects.toMatchObject({ code: 'KAFKA_STORAGE_ERROR' });
    await log.close();
  });

  it('a caller that dropped its append promise does not get an unhandled rejection when the log fails', async () => {
    const fs = new SimFileSystem({ seed: 4 });
    const { log } = await openLog(dir, { fs });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      fs.failNextSyncs(1, isLog);
      void log.append(batch(1), { leaderEpoch: 0 }); // dropped: nobody handles it
      const watched = log.append(batch(1), { leaderEpoch: 0 });
      await expect(watched).rejects.toMatchObject({ code: 'KAFKA_STORAGE_ERROR' });
      await new Promise((resolve) => setTimeout(resolve, 20)); // unhandled rejections are reported after a turn
      expect(log.failed).toBe(true);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    await log.close();
  });

  it('treats a failed write like a failed sync', async () => {
    const fs = new SimFileSystem({ seed: 3 });
    const { log } = await openLog(dir, { fs });
    await log.append(batch(1), { leaderEpoch: 0 });
    fs.failNextWrites(1, isLog);
    await expect(log.append(batch(1), { leaderEpoch: 0 })).rejects.toMatchObject({ code: 'KAFKA_STORAGE_ERROR' });
    expect(log.highWatermark).toBe(1);
    await log.close();
  });

  it('fails a long-polling listener awake when the log fails', async () => {
    const fs = new SimFileSystem({ seed: 4 });
    const { log } = await openLog(dir, { fs });
    let woken = 0;
    log.onAppend(() => woken++);
    fs.failNextSyncs(1, isLog);
    await expect(log.append(batch(1), { leaderEpoch: 0 })).rejects.toThrow();
    expect(woken).toBe(1);
    await log.close();
  });
});

describe('only synced data is readable', () => {
  for (const c of fsCases) {
    it.skipIf(c.skip !== null)(`keeps appended batches invisible until their sync completes (${c.name} file system)`, async () => {
      const t = c.make();
      const { log } = await openLog(t.dir, { fs: t.fs, cacheBytes: 1 << 20 });
      const pending = log.append(batch(4), { leaderEpoch: 0 });
      expect(log.logEndOffset).toBe(4);
      expect(log.highWatermark).toBe(0);
      const early = await log.read(0, 1 << 20, { minOneBatch: true });
      expect(early.ok && early.records).toEqual([]);
      await pending;
      expect(offsetsOf(await log.read(0, 1 << 20, { minOneBatch: true }))).toEqual(range(0, 4));
      await log.close();
    });
  }

  it('loses unacknowledged appends in a crash and keeps acknowledged ones', async () => {
    const fs = new SimFileSystem({ seed: 6 });
    const { log } = await openLog(dir, { fs });
    await log.append(batch(2), { leaderEpoch: 0 });
    const lost = log.append(batch(2), { leaderEpoch: 0 });
    fs.crash();
    await expect(lost).rejects.toMatchObject({ code: 'KAFKA_STORAGE_ERROR' });
    const reopened = await openLog(dir, { fs });
    expect(reopened.log.logEndOffset).toBe(2);
    await reopened.log.close();
  });
});

describe('acknowledgement order across a segment roll', () => {
  /**
   * A file system whose first segment's .log syncs slowly while `slow` is set: after a roll, the append in the
   * new segment then finishes syncing before the one still in the old segment.
   */
  function slowFirstSegment(sim: SimFileSystem): { fs: SimFileSystem; setSlow: (on: boolean) => void; release: () => void } {
    let slow = false;
    const gates: (() => void)[] = [];
    const wrap = (f: AppendFile): AppendFile =>
      new Proxy(f, {
        get(t, p) {
          if (p === 'sync') {
            return async () => {
              if (slow && t.path.endsWith('00000000000000000000.log')) await new Promise<void>((r) => gates.push(r));
              return t.sync();
            };
          }
          const v = Reflect.get(t, p, t) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
        },
      });
    const fs = new Proxy(sim, {
      get(t, p) {
        if (p === 'create') return (x: string) => wrap(t.create(x));
        if (p === 'open') return async (x: string) => wrap(await t.open(x));
        const v = Reflect.get(t, p, t) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      },
    });
    return { fs, setSlow: (on) => void (slow = on), release: () => gates.splice(0).forEach((r) => r()) };
  }

  it('acknowledges an append only once every earlier append is durable', async () => {
    const sim = new SimFileSystem();
    const { fs, setSlow, release } = slowFirstSegment(sim);
    const size = batch(1).length;
    const { log } = await openLog('/d/t-0', { fs, config: { segmentBytes: 2 * size + 1 } });
    await log.append(batch(1), { leaderEpoch: 0 }); // offset 0, segment 0
    setSlow(true);
    const order: string[] = [];
    const a = log.append(batch(1), { leaderEpoch: 0 }).then(() => order.push('a')); // offset 1, segment 0 (slow)
    const b = log.append(batch(1), { leaderEpoch: 0 }).then(() => order.push('b')); // offset 2, new segment
    expect(log.segmentCount).toBe(2);
    await new Promise((r) => setTimeout(r, 50));
    expect(order).toEqual([]); // b's own sync is done, but a's is not: b must not be acknowledged yet
    expect(log.highWatermark).toBe(1);
    release();
    await Promise.all([a, b]);
    expect(order).toEqual(['a', 'b']);
    expect(log.highWatermark).toBe(3);
  });

  it('fails an append whose own sync succeeded when an earlier one failed', async () => {
    const sim = new SimFileSystem();
    const { fs, setSlow, release } = slowFirstSegment(sim);
    const size = batch(1).length;
    const { log } = await openLog('/d/t-0', { fs, config: { segmentBytes: 2 * size + 1 } });
    await log.append(batch(1), { leaderEpoch: 0 });
    setSlow(true);
    sim.failNextSyncs(1, (f) => f.endsWith('00000000000000000000.log'));
    const a = log.append(batch(1), { leaderEpoch: 0 });
    const b = log.append(batch(1), { leaderEpoch: 0 });
    release();
    await new Promise((r) => setTimeout(r, 20));
    release();
    await expect(a).rejects.toBeInstanceOf(KafkaStorageError);
    await expect(b).rejects.toBeInstanceOf(KafkaStorageError);
    expect(log.highWatermark).toBe(1);
  });
});

describe('acknowledgement order under seeded disk latency', () => {
  it('acknowledges in offset order across segment rolls, and a crash keeps every acknowledged batch', async () => {
    for (const seed of [1, 2, 3, 4]) {
      const fs = new SimFileSystem({ seed, latencyMsMax: 6 });
      const config = { segmentBytes: 4 * batch(1).length + 1 };
      const { log } = await openLog(dir, { fs, config });
      const order: number[] = [];
      const early: string[] = [];
      const appends = range(0, 24).map(() =>
        log.append(batch(1), { leaderEpoch: 0 }).then((r) => {
          order.push(r.baseOffset);
          if (log.highWatermark <= r.lastOffset) early.push(`offset ${r.baseOffset} acked at HW ${log.highWatermark}`);
        }),
      );
      // acknowledge part, then lose power with the rest in flight
      await Promise.all(appends.slice(0, 12));
      const acked = order.length;
      fs.crash();
      await Promise.allSettled(appends);
      expect(early, `seed ${seed}`).toEqual([]);
      expect(order, `seed ${seed}: acknowledgements out of offset order`).toEqual(range(0, order.length));
      expect(log.segmentCount).toBeGreaterThan(3);

      const reopened = await openLog(dir, { fs, config });
      expect(reopened.log.logEndOffset, `seed ${seed}`).toBeGreaterThanOrEqual(acked);
      const offsets: number[] = [];
      let next = 0;
      while (next < reopened.log.highWatermark) {
        const got = offsetsOf(await reopened.log.read(next, 1 << 20, { minOneBatch: true }));
        offsets.push(...got);
        next = got.at(-1)! + 1;
      }
      expect(offsets).toEqual(range(0, reopened.log.logEndOffset));
      await reopened.log.close();
    }
  });
});
