import { describe, expect, it } from 'vitest';
import { SimFileSystem } from '../../src/io/index.js';
import { LogManager, SyncScheduler, type Syncable } from '../../src/log/index.js';
import { batch, range } from './helpers.js';

/** A file whose syncs complete only when the test says so. */
class ManualFile implements Syncable {
  syncs = 0;
  #release: (() => void)[] = [];
  #fail: ((err: Error) => void)[] = [];
  sync(): Promise<void> {
    this.syncs++;
    return new Promise((resolve, reject) => {
      this.#release.push(resolve);
      this.#fail.push(reject);
    });
  }
  finish(): void {
    this.#release.shift()?.();
    this.#fail.shift();
  }
  failNext(err: Error): void {
    this.#release.shift();
    this.#fail.shift()?.(err);
  }
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('SyncScheduler', () => {
  it('syncs each file once per round and batches requests that arrive during a round', async () => {
    const scheduler = new SyncScheduler();
    const a = new ManualFile();
    const b = new ManualFile();
    const first = [scheduler.sync(a), scheduler.sync(a), scheduler.sync(b)];
    await tick();
    expect([a.syncs, b.syncs, scheduler.roundCount]).toEqual([1, 1, 1]);

    // arriving while round 1 is in flight: wait for round 2, together
    const second = [scheduler.sync(a), scheduler.sync(a), scheduler.sync(a)];
    await tick();
    expect(a.syncs).toBe(1);
    a.finish();
    b.finish();
    await Promise.all(first);
    await tick(); // the finished round schedules the next one on the following turn
    await tick();
    expect([a.syncs, scheduler.roundCount, scheduler.syncCount]).toEqual([2, 2, 3]);
    a.finish();
    await Promise.all(second);
  });

  it('rejects only the waiters of the file whose sync failed, and never retries it', async () => {
    const scheduler = new SyncScheduler();
    const a = new ManualFile();
    const b = new ManualFile();
    const pa = scheduler.sync(a);
    const pb = scheduler.sync(b);
    await tick();
    a.failNext(new Error('EIO'));
    b.finish();
    await expect(pa).rejects.toThrow('EIO');
    await expect(pb).resolves.toBeUndefined();
    await tick();
    expect(a.syncs).toBe(1);
  });

  it('validates flushDelayUs', () => {
    expect(() => new SyncScheduler({ flushDelayUs: -1 })).toThrow(RangeError);
    expect(() => new SyncScheduler({ flushDelayUs: 10_000_000 })).toThrow(RangeError);
  });
});

describe('group commit across partitions', () => {
  it('makes N concurrent acks=all appends over P partitions cost far fewer than N syncs', async () => {
    const fs = new SimFileSystem({ seed: 1 });
    const manager = await LogManager.open({ dataDir: '/data', fs });
    const logs = await Promise.all(range(0, 4).map((p) => manager.createPartition('events', p)));
    const before = manager.scheduler.syncCount;
    const rounds = manager.scheduler.roundCount;

    const appends = logs.flatMap((log) => range(0, 25).map(() => log.append(batch(1), { leaderEpoch: 0 })));
    const results = await Promise.all(appends);
    expect(results).toHaveLength(100);
    for (const log of logs) expect(log.highWatermark).toBe(25);

    // one round, one fdatasync per partition's segment file
    expect(manager.scheduler.roundCount - rounds).toBe(1);
    expect(manager.scheduler.syncCount - before).toBe(4);

    // appends arriving while a round is in flight share the next one
    const wave1 = logs.map((log) => log.append(batch(1), { leaderEpoch: 0 }));
    await new Promise<void>((resolve) => setImmediate(resolve)); // round starts, its syncs are in flight
    const wave2 = logs.flatMap((log) => range(0, 10).map(() => log.append(batch(1), { leaderEpoch: 0 })));
    await Promise.all([...wave1, ...wave2]);
    expect(manager.scheduler.roundCount - rounds).toBe(3);
    expect(manager.scheduler.syncCount - before).toBe(12);
    await manager.close();
  });
});
