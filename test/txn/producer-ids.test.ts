/**
 * Producer id blocks: reserved durably before use, never reused after a restart or a crash (the unused rest of
 * a block is skipped), disjoint between sources sharing one allocator (the shards of one broker), and an
 * unreadable block file stops the broker instead of risking reuse. (Ids across the shards of a real broker:
 * test/e2e/transactions.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { SimFileSystem } from '../../src/io/index.js';
import { BlockProducerIdSource, PRODUCER_ID_BLOCK_SIZE, ProducerIdBlocks } from '../../src/txn/index.js';

const DIR = '/data';

async function simFs(): Promise<SimFileSystem> {
  const fs = new SimFileSystem();
  await fs.mkdirp(DIR);
  return fs;
}

describe('ProducerIdBlocks', () => {
  it('reserves blocks durably; a reopened allocator (restart or crash) starts after every block handed out', async () => {
    const fs = await simFs();
    const blocks = await ProducerIdBlocks.open(fs, DIR);
    expect(await blocks.allocate()).toEqual({ start: 0, count: PRODUCER_ID_BLOCK_SIZE });
    const source = new BlockProducerIdSource(() => blocks.allocate());
    const first = await source.allocate();
    expect(first).toBe(PRODUCER_ID_BLOCK_SIZE);
    expect(await source.allocate()).toBe(PRODUCER_ID_BLOCK_SIZE + 1);
    fs.crash(); // only durable bytes survive
    const after = await ProducerIdBlocks.open(fs, DIR);
    const source2 = new BlockProducerIdSource(() => after.allocate());
    expect(await source2.allocate()).toBe(2 * PRODUCER_ID_BLOCK_SIZE);
    expect(JSON.parse((await fs.readFile(`${DIR}/producer-ids`))!.toString())).toEqual({ version: 1, nextProducerId: 3 * PRODUCER_ID_BLOCK_SIZE });
  });

  it('sources sharing one allocator (shards) get disjoint ids; a used-up block fetches the next, one fetch at a time', async () => {
    const fs = await simFs();
    const blocks = await ProducerIdBlocks.open(fs, DIR);
    let fetches = 0;
    const shards = [0, 1, 2].map(() => new BlockProducerIdSource(() => (fetches++, blocks.allocate())));
    const ids = await Promise.all(Array.from({ length: 2500 }, (_, i) => shards[i % 3]!.allocate()));
    expect(new Set(ids).size).toBe(ids.length);
    // 834 ids per shard: one block each, then a second block each for the shards that ran out.
    expect(fetches).toBe(3);
    expect(Math.max(...ids)).toBeLessThan(3 * PRODUCER_ID_BLOCK_SIZE);
    const more = await Promise.all(Array.from({ length: 600 }, () => shards[0]!.allocate()));
    expect(new Set([...ids, ...more]).size).toBe(3100);
    expect(fetches).toBe(4);
  });

  it('an unreadable block file is an error with a stable code; a failed reservation hands out nothing', async () => {
    const fs = await simFs();
    await fs.writeFileDurable(`${DIR}/producer-ids`, Buffer.from('{"version":1,"nextProducerId":-5}'));
    await expect(ProducerIdBlocks.open(fs, DIR)).rejects.toMatchObject({ code: 'ERR_TERN_PRODUCER_IDS_FILE' });
    await fs.writeFileDurable(`${DIR}/producer-ids`, Buffer.from('garbage'));
    await expect(ProducerIdBlocks.open(fs, DIR)).rejects.toMatchObject({ code: 'ERR_TERN_PRODUCER_IDS_FILE' });
    let fail = true;
    const source = new BlockProducerIdSource(async () => {
      if (fail) throw new Error('control channel closed');
      return { start: 7000, count: 2 };
    });
    await expect(source.allocate()).rejects.toThrow('control channel closed');
    fail = false;
    expect([await source.allocate(), await source.allocate()]).toEqual([7000, 7001]);
  });
});
