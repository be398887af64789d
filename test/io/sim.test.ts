/**
 * The simulated file system's fault injection, each fault reproducible from its seed: torn writes (crash with a
 * torn tail), EIO (explicit and seeded), ENOSPC (a capacity, global or for one path, with short writes), and
 * latency (seeded sync delays on a stream of their own).
 */
import { describe, expect, it, vi } from 'vitest';
import { SimFileSystem, isOutOfSpace, type AppendFile } from '../../src/io/index.js';

const fill = (n: number, v: number): Buffer => Buffer.alloc(n, v);

async function settle(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'ok',
    (e: { code?: string }) => e.code ?? 'error',
  );
}

describe('SimFileSystem: torn writes', () => {
  it('a crash keeps the synced bytes and a seeded prefix of the unsynced ones', async () => {
    const kept = async (seed: number): Promise<number[]> => {
      const fs = new SimFileSystem({ seed });
      await fs.mkdirp('/d');
      const out: number[] = [];
      for (let i = 0; i < 8; i++) {
        const f = await fs.open(`/d/f${i}`);
        f.append([fill(100, 1)]);
        await f.sync();
        f.append([fill(1000, 2)]);
      }
      fs.crash({ tornTail: true });
      for (let i = 0; i < 8; i++) {
        const bytes = fs.peek(`/d/f${i}`)!;
        expect(bytes.subarray(0, 100).every((b) => b === 1)).toBe(true);
        expect(bytes.subarray(100).every((b) => b === 2)).toBe(true);
        out.push(bytes.length - 100);
      }
      return out;
    };
    const a = await kept(7);
    expect(await kept(7)).toEqual(a); // same seed, same tears
    expect(a.every((n) => n >= 0 && n <= 1000)).toBe(true);
    expect(new Set(a).size, 'tears differ between files').toBeGreaterThan(1);
    expect(await kept(8)).not.toEqual(a);
  });

  it('a crash without tornTail drops every unsynced byte, and old handles die', async () => {
    const fs = new SimFileSystem();
    await fs.mkdirp('/d');
    const f = await fs.open('/d/f');
    f.append([fill(10, 1)]);
    await f.sync();
    f.append([fill(10, 2)]);
    fs.crash();
    expect(fs.peek('/d/f')).toEqual(fill(10, 1));
    await expect(f.sync()).rejects.toMatchObject({ code: 'EIO' });
  });
});

describe('SimFileSystem: EIO', () => {
  it('failNextSyncs fails the matching file once and latches it; other files keep syncing', async () => {
    const fs = new SimFileSystem();
    await fs.mkdirp('/d');
    const a = await fs.open('/d/a.log');
    const b = await fs.open('/d/b.log');
    fs.failNextSyncs(1, (p) => p.endsWith('a.log'));
    a.append([fill(5, 1)]);
    b.append([fill(5, 1)]);
    expect(await settle(a.sync())).toBe('EIO');
    expect(await settle(b.sync())).toBe('ok');
    expect(await settle(a.sync())).toBe('EIO'); // latched: no retry
    expect(a.syncedSize).toBe(0);
    await expect(a.read(0, 5)).rejects.toMatchObject({ code: 'EIO' });
    expect(await settle(b.sync())).toBe('ok');
  });

  it('failNextWrites can carry another code (ENOSPC)', async () => {
    const fs = new SimFileSystem();
    await fs.mkdirp('/d');
    const a = await fs.open('/d/a');
    fs.failNextWrites(1, () => true, 'ENOSPC');
    a.append([fill(5, 1)]);
    const err = await a.sync().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ENOSPC' });
    expect(isOutOfSpace(err)).toBe(true);
    expect(fs.peek('/d/a')!.length).toBe(0);
  });

  it('seeded error rates give the same failures for the same seed', async () => {
    const outcomes = async (seed: number): Promise<string[]> => {
      const fs = new SimFileSystem({ seed, syncErrorRate: 0.3 });
      await fs.mkdirp('/d');
      const out: string[] = [];
      for (let i = 0; i < 20; i++) {
        const f = await fs.open(`/d/f${i}`);
        f.append([fill(1, 1)]);
        out.push(await settle(f.sync()));
      }
      return out;
    };
    const a = await outcomes(3);
    expect(await outcomes(3)).toEqual(a);
    expect(a).toContain('EIO');
    expect(a).toContain('ok');
  });
});

describe('SimFileSystem: ENOSPC', () => {
  it('an append past the capacity writes what fits, then fails with ENOSPC (isOutOfSpace)', async () => {
    const fs = new SimFileSystem({ capacityBytes: 1000 });
    await fs.mkdirp('/d');
    const a = await fs.open('/d/a');
    a.append([fill(600, 1)]);
    await a.sync();
    a.append([fill(300, 2), fill(300, 3)]);
    const err = await a.sync().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ENOSPC' });
    expect(isOutOfSpace(err)).toBe(true);
    const bytes = fs.peek('/d/a')!;
    expect(bytes.length).toBe(1000); // a short write: 400 of the 600 bytes
    expect(bytes.subarray(600, 900).every((b) => b === 2)).toBe(true);
    expect(bytes.subarray(900).every((b) => b === 3)).toBe(true);
    expect(fs.usedBytes()).toBe(1000);
    expect(a.syncedSize).toBe(600);

    // the disk is full for every file; a small file write fails too
    const b = await fs.open('/d/b');
    b.append([fill(1, 9)]);
    expect(await settle(b.sync())).toBe('ENOSPC');
    await expect(fs.writeFileDurable('/d/c', fill(1, 1))).rejects.toMatchObject({ code: 'ENOSPC' });
  });

  it('truncating or removing files frees space; raising the capacity brings it back', async () => {
    const fs = new SimFileSystem({ capacityBytes: 100 });
    await fs.mkdirp('/d');
    const a = await fs.open('/d/a');
    a.append([fill(100, 1)]);
    await a.sync();
    await a.truncate(40);
    const b = await fs.open('/d/b');
    b.append([fill(60, 2)]);
    expect(await settle(b.sync())).toBe('ok');
    const c = await fs.open('/d/c');
    c.append([fill(1, 3)]);
    expect(await settle(c.sync())).toBe('ENOSPC');
    await fs.remove('/d/b');
    expect(fs.usedBytes()).toBe(40);
    const c2 = await fs.open('/d/c');
    c2.append([fill(60, 3)]);
    expect(await settle(c2.sync())).toBe('ok');
    fs.setCapacity(Infinity);
    const c3 = await fs.open('/d/c');
    c3.append([fill(10_000, 4)]);
    expect(await settle(c3.sync())).toBe('ok');
  });

  it('a capacity for one path (a quota) leaves other paths writable', async () => {
    const fs = new SimFileSystem();
    await fs.mkdirp('/d/full');
    await fs.mkdirp('/d/free');
    const inFull = (p: string) => p.startsWith('/d/full/');
    const a = await fs.open('/d/full/a');
    a.append([fill(50, 1)]);
    await a.sync();
    fs.setCapacity(fs.usedBytes(inFull), inFull);
    a.append([fill(1, 1)]);
    expect(await settle(a.sync())).toBe('ENOSPC');
    const other = await fs.open('/d/free/o');
    other.append([fill(5000, 2)]);
    expect(await settle(other.sync())).toBe('ok');
    // a handle latched by ENOSPC stays failed; a new one writes once there is room
    fs.setCapacity(Infinity);
    expect(await settle(a.sync())).toBe('ENOSPC');
    const again = await fs.open('/d/full/a');
    again.append([fill(1, 3)]);
    expect(await settle(again.sync())).toBe('ok');
  });
});

describe('SimFileSystem: latency', () => {
  /** Syncs 8 files at once; returns the order they complete in. */
  async function completionOrder(opts: { seed: number; latencyMsMax: number }): Promise<number[]> {
    const fs = new SimFileSystem(opts);
    await fs.mkdirp('/d');
    const files: AppendFile[] = [];
    for (let i = 0; i < 8; i++) files.push(await fs.open(`/d/f${i}`));
    const order: number[] = [];
    await Promise.all(
      files.map((f, i) => {
        f.append([fill(1, i)]);
        return f.sync().then(() => order.push(i));
      }),
    );
    return order;
  }

  /** On fake timers: real ones fire two delays under 1 ms apart in either order on a loaded machine. */
  async function onFakeTime<T>(run: () => Promise<T>): Promise<T> {
    vi.useFakeTimers();
    try {
      const p = run();
      await vi.runAllTimersAsync();
      return await p;
    } finally {
      vi.useRealTimers();
    }
  }

  it('delays syncs by seeded amounts: same seed, same completion order', async () => {
    const a = await onFakeTime(() => completionOrder({ seed: 11, latencyMsMax: 25 }));
    expect(await onFakeTime(() => completionOrder({ seed: 11, latencyMsMax: 25 }))).toEqual(a);
    expect(a, 'syncs issued together complete out of issue order under latency').not.toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    // without latency they complete in issue order
    expect(await completionOrder({ seed: 11, latencyMsMax: 0 })).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('takes time: a sync under latency waits, and never longer than latencyMsMax (plus scheduling)', async () => {
    const fs = new SimFileSystem({ seed: 5, latencyMsMax: 40 });
    await fs.mkdirp('/d');
    const f = await fs.open('/d/f');
    const started = Date.now();
    let total = 0;
    for (let i = 0; i < 10; i++) {
      f.append([fill(1, 1)]);
      await f.sync();
    }
    total = Date.now() - started;
    expect(total).toBeGreaterThan(40); // 10 delays of 0..40 ms: all near 0 is (1/41)^10 unlikely, and seeded
    expect(total).toBeLessThan(10 * 40 + 2000);
  });

  it('latency draws do not change which faults a seed gives', async () => {
    const outcomes = async (latencyMsMax: number): Promise<string[]> => {
      const fs = new SimFileSystem({ seed: 9, syncErrorRate: 0.4, latencyMsMax });
      await fs.mkdirp('/d');
      const out: string[] = [];
      for (let i = 0; i < 12; i++) {
        const f = await fs.open(`/d/f${i}`);
        f.append([fill(1, 1)]);
        out.push(await settle(f.sync()));
      }
      return out;
    };
    expect(await outcomes(5)).toEqual(await outcomes(0));
  });
});
