/**
 * replayBatches and TopicLogStore (src/log/replay.ts): the reader the coordinators replay `__consumer_offsets` and
 * `__transaction_state` with. On the simulated file system (the reader only calls PartitionLog.read; the file
 * systems under the log are covered by partition-log.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { TopicLogStore, replayBatches } from '../../src/log/index.js';
import { LOG_OVERHEAD, isBatchCrcValid, readBatchHeader } from '../../src/protocol/records.js';
import { batch, fsCases, openLog, range } from './helpers.js';

const sim = fsCases.find((c) => c.name === 'sim')!;

async function collect(batches: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const b of batches) out.push(b);
  return out;
}

function baseOffsets(batches: Buffer[]): number[] {
  return batches.map((b) => readBatchHeader(b, 0).baseOffset);
}

describe('replayBatches', () => {
  for (const cacheBytes of [0, 1 << 20]) {
    it(`yields every batch once, whole and in order, over many small reads (batch cache of ${cacheBytes} bytes)`, async () => {
      const t = sim.make();
      const { log } = await openLog(t.dir, { fs: t.fs, config: { segmentBytes: 2000 }, cacheBytes });
      const bases: number[] = [];
      for (const i of range(0, 25)) bases.push((await log.append(batch(1 + (i % 3), { tag: `b${i}` }), { leaderEpoch: 0 })).baseOffset);
      expect(log.segmentCount).toBeGreaterThan(1);
      // 300 bytes: a read holds one to three batches, and some reads end inside a batch.
      const got = await collect(replayBatches(log, 300));
      expect(baseOffsets(got)).toEqual(bases);
      for (const b of got) {
        const h = readBatchHeader(b, 0);
        expect(b.length).toBe(LOG_OVERHEAD + h.batchLength);
        expect(isBatchCrcValid(b, 0, h)).toBe(true);
      }
      await log.close();
    });
  }

  it('goes on from the new log start when DeleteRecords moves it during the replay', async () => {
    const t = sim.make();
    const { log } = await openLog(t.dir, { fs: t.fs, config: { segmentBytes: 500 } });
    for (let i = 0; i < 30; i++) await log.append(batch(2), { leaderEpoch: 0 });
    const replay = replayBatches(log, 100)[Symbol.asyncIterator]();
    const first = await replay.next();
    expect(first.done).toBe(false);
    expect(readBatchHeader(first.value as Buffer, 0).baseOffset).toBe(0);
    const target = log.segmentBaseOffsets[2]! + 1; // inside the batch [target - 1, target]
    expect(await log.deleteRecordsBefore(target)).toEqual({ ok: true, lowWatermark: target });
    const rest: Buffer[] = [];
    for (let r = await replay.next(); r.done !== true; r = await replay.next()) rest.push(r.value);
    expect(baseOffsets(rest)).toEqual(range((target - 1) / 2, 30).map((i) => i * 2));
    await log.close();
  });

  it('yields nothing for an empty log', async () => {
    const t = sim.make();
    const { log } = await openLog(t.dir, { fs: t.fs });
    expect(await collect(replayBatches(log))).toEqual([]);
    await log.close();
  });
});

describe('TopicLogStore', () => {
  it('appends to the partition log of its topic (resolving to the base offset) and replays it', async () => {
    const t = sim.make();
    const { log } = await openLog(t.dir, { fs: t.fs });
    const store = new TopicLogStore('internal', (topic, partition) => (topic === 'internal' && partition === 0 ? log : undefined));
    expect(await store.append(0, batch(3))).toBe(0);
    expect(await store.append(0, batch(2))).toBe(3);
    expect(baseOffsets(await collect(store.read(0)))).toEqual([0, 3]);
    await log.close();
  });

  it('rejects with LOG_CLOSED for a partition without a log: on append, and on the first step of a read', async () => {
    const store = new TopicLogStore('internal', () => undefined);
    await expect(store.append(1, batch(1))).rejects.toMatchObject({ code: 'LOG_CLOSED' });
    const read = store.read(1)[Symbol.asyncIterator]();
    await expect(read.next()).rejects.toMatchObject({ code: 'LOG_CLOSED' });
  });
});
