import { describe, expect, it } from 'vitest';
import { SimFileSystem } from '../../src/io/index.js';
import { ShardTable } from '../../src/shard/assignment.js';

describe('partition -> shard table', () => {
  it('places new partitions on the shard with the fewest, and keeps an owner once placed', () => {
    const t = new ShardTable(3);
    const owners = Array.from({ length: 7 }, (_, p) => t.assign('a', p));
    expect(owners).toEqual([0, 1, 2, 0, 1, 2, 0]);
    expect(t.assign('a', 4)).toBe(1);
    expect(t.counts()).toEqual([3, 2, 2]);
    t.remove('a', 1);
    t.remove('a', 4);
    expect(t.counts()).toEqual([3, 0, 2]);
    expect(t.assign('b', 0)).toBe(1);
  });

  it('breaks count ties by load', () => {
    const t = new ShardTable(2);
    t.assign('a', 0);
    t.assign('a', 1);
    t.setLoad('a', 0, 100);
    t.setLoad('a', 1, 1);
    expect(t.owner('a', 0)).toBe(0);
    expect(t.assign('b', 0)).toBe(1); // shard 1 carries less load
  });

  it('rebalances to counts within one, moving the lightest partitions', () => {
    const t = new ShardTable(4);
    for (let p = 0; p < 8; p++) t.assign('a', p);
    for (let p = 0; p < 8; p++) t.setLoad('a', p, p);
    // Empty shards 1..3 by removing their partitions, then add load to shard 0 only.
    for (let p = 0; p < 8; p++) if (t.owner('a', p) !== 0) t.remove('a', p);
    for (let p = 8; p < 14; p++) {
      t.assign('a', p);
    }
    const before = t.counts();
    const moves = t.rebalance();
    const after = t.counts();
    expect(Math.max(...after) - Math.min(...after)).toBeLessThanOrEqual(1);
    expect(after.reduce((a, b) => a + b)).toBe(before.reduce((a, b) => a + b));
    for (const m of moves) expect(m.from).not.toBe(m.to);
  });

  it('persists, and places partitions of removed shards again when --smp shrinks', async () => {
    const fs = new SimFileSystem({ seed: 1 });
    await fs.mkdirp('/data');
    const t = new ShardTable(4);
    for (let p = 0; p < 12; p++) t.assign('t', p);
    await t.commit(fs, '/data');
    const same = (await ShardTable.open(fs, '/data', 4)).table;
    for (let p = 0; p < 12; p++) expect(same.owner('t', p)).toBe(t.owner('t', p));
    const { table: fewer, moves } = await ShardTable.open(fs, '/data', 2);
    expect(fewer.size).toBe(12);
    expect(fewer.counts()).toEqual([6, 6]);
    expect(moves.filter((m) => m.from >= 2).length).toBe(6);
    for (let p = 0; p < 12; p++) expect(fewer.owner('t', p)).toBeLessThan(2);
  });

  it('rejects a shard count out of range', () => {
    expect(() => new ShardTable(0)).toThrow(RangeError);
    expect(() => new ShardTable(1000)).toThrow(RangeError);
  });
});
