/**
 * PartitionLog.append of records held as pieces: the produce path hands the log the views of the socket reads a
 * request arrived in, with batches straddling them. The batches must be rewritten in place (offsets, epoch,
 * LogAppendTime and its CRC) in whichever pieces hold those fields, cached as those pieces, and written to the
 * segment file as they are.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { segmentFileName } from '../../src/log/index.js';
import { LOG_OVERHEAD, isBatchCrcValid, readBatchHeader } from '../../src/protocol/records.js';
import { batch, offsetsOf, openLog, range, tempDir, validated } from './helpers.js';

describe('PartitionLog.append of chunked records', () => {
  it('rewrites, caches and stores batches straddling pieces without joining them', async () => {
    const dir = tempDir();
    const { log, cache } = await openLog(dir, { cacheBytes: 1 << 20, config: { messageTimestampType: 'LogAppendTime' } });
    const joined = Buffer.concat([batch(3, { valueBytes: 3000 }), batch(5, { valueBytes: 1000 })]);
    const sent = Buffer.alloc(joined.length); // memory of its own, as a socket read (not the small-buffer pool)
    joined.copy(sent);
    const first = sent.readInt32BE(8) + LOG_OVERHEAD;
    // cuts inside the first header (baseOffset, epoch, CRC fields), inside records, and inside the second header
    const cuts = [0, 5, 14, 19, 200, 700, first + 3, first + 30, sent.length];
    const pieces = cuts.slice(0, -1).map((c, i) => sent.subarray(c, cuts[i + 1]));
    await log.append(pieces, { leaderEpoch: 6, batches: validated(sent) });
    await log.append(batch(1), { leaderEpoch: 6 });
    // the rewrites landed in the pieces (the request's memory): offsets, epoch, LogAppendTime with a valid CRC
    expect(readBatchHeader(sent, 0).partitionLeaderEpoch).toBe(6);
    expect(readBatchHeader(sent, first).baseOffset).toBe(3);
    expect(isBatchCrcValid(sent, first, readBatchHeader(sent, first))).toBe(true);
    // the cache serves the pieces themselves
    const cached = await log.read(0, 1 << 20, { minOneBatch: true });
    const served = cached.ok ? cached.records : [];
    // the piece holding the batch boundary serves as two views, and the last append is one more
    expect(served.length).toBe(pieces.length + 2);
    expect(served.slice(0, -1).every((b) => b.buffer === sent.buffer)).toBe(true);
    expect(Buffer.concat(served.slice(0, -1))).toEqual(sent);
    expect(offsetsOf(cached)).toEqual(range(0, 9));
    expect(cache.bytes).toBe(sent.length + batch(1).length);
    await log.close();
    // the file holds the same bytes, and reads back from disk
    const onDisk = readFileSync(path.join(dir, segmentFileName(0, '.log')));
    expect(onDisk.subarray(0, sent.length)).toEqual(sent);
    const reopened = await openLog(dir);
    expect(offsetsOf(await reopened.log.read(0, 1 << 20, { minOneBatch: true }))).toEqual(range(0, 9));
    await reopened.log.close();
  });

  it('walks the batch headers itself when none are given (a header straddling pieces)', async () => {
    const { log } = await openLog(tempDir(), { cacheBytes: 1 << 20 });
    const sent = Buffer.concat([batch(2), batch(3)]);
    const second = sent.readInt32BE(8) + LOG_OVERHEAD;
    const result = await log.append([sent.subarray(0, second + 30), sent.subarray(second + 30)], { leaderEpoch: 1 });
    expect([result.baseOffset, result.lastOffset]).toEqual([0, 4]);
    expect(offsetsOf(await log.read(0, 1 << 20, { minOneBatch: true }))).toEqual(range(0, 5));
    await log.close();
  });
});
