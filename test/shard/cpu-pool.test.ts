/**
 * A shard's CPU pool (piscina): decompression and recovery CRC checks run in a pool thread, give the same answers
 * as inline, and the log uses it for ListOffsets inside a compressed batch and for its recovery scan.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CpuPool } from '../../src/shard/cpu-pool.js';
import { inlineOffload, LogManager, CLEAN_SHUTDOWN_FILE } from '../../src/log/index.js';
import { NodeFileSystem } from '../../src/io/index.js';
import { Compression, compressSync, loadCompression } from '../../src/protocol/compression.js';
import { buildRecordBatch, readBatchHeader, batchSize } from '../../src/protocol/records.js';
import { tempDataDir } from '../kafka/helpers.js';

const pools: CpuPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

function pool(bytesMin = 0): CpuPool {
  const p = new CpuPool({ bytesMin });
  pools.push(p);
  return p;
}

function batch(values: string[], opts: { compression?: number; timestamps?: number[] } = {}): Buffer {
  const codec = opts.compression ?? Compression.none;
  return buildRecordBatch(
    values.map((v, i) => ({ key: null, value: Buffer.from(v), headers: [], ...(opts.timestamps ? { timestamp: opts.timestamps[i]! } : {}) })),
    codec === Compression.none ? {} : { compression: codec, compress: (b) => compressSync(codec, b) },
  );
}

describe('CpuPool', () => {
  it('decompresses in a pool thread with the same result as inline', async () => {
    await loadCompression();
    const p = pool();
    const values = Array.from({ length: 2000 }, (_, i) => `value-${i}-${'x'.repeat(i % 50)}`);
    for (const codec of [Compression.gzip, Compression.snappy, Compression.lz4, Compression.zstd]) {
      const b = batch(values, { compression: codec });
      const h = readBatchHeader(b, 0);
      const payload = b.subarray(61, batchSize(h));
      const viaPool = await p.decompress(codec, payload);
      const inline = await inlineOffload.decompress(codec, payload);
      expect(Buffer.compare(viaPool, inline), `codec ${codec}`).toBe(0);
    }
    expect(p.offloaded).toBe(4);
  });

  it('finds the first batch whose CRC fails, in a pool thread', async () => {
    const p = pool();
    const batches = Array.from({ length: 10 }, (_, i) => batch([`b${i}`.repeat(100)]));
    const chunk = Buffer.concat(batches);
    const positions: number[] = [];
    for (let at = 0, i = 0; i < batches.length; at += batches[i]!.length, i++) positions.push(at);
    expect(await p.firstBadCrc(chunk, positions)).toBe(-1);
    chunk[positions[6]! + 70] ^= 0xff;
    expect(await p.firstBadCrc(chunk, positions)).toBe(6);
    expect(p.offloaded).toBe(2);
  });

  it('keeps small work inline (below bytesMin)', async () => {
    const p = pool(64 * 1024);
    const b = batch(['small'], { compression: Compression.gzip });
    await p.decompress(Compression.gzip, b.subarray(61));
    expect(p.offloaded).toBe(0);
  });

  it('is what the log uses: a recovery scan cut at a corrupt batch, and ListOffsets inside a compressed batch', async () => {
    const dataDir = tempDataDir('tern-cpu-pool-');
    const p = pool();
    const fsys = new NodeFileSystem();
    let logs = await LogManager.open({ dataDir, fs: fsys, offload: p });
    const log = await logs.createPartition('t', 0);
    const base = Date.now() - 100_000;
    for (let i = 0; i < 20; i++) {
      await log.append(batch([`r${i}a`, `r${i}b`, `r${i}c`], { compression: Compression.gzip, timestamps: [base + i * 10, base + i * 10 + 1, base + i * 10 + 2] }), { leaderEpoch: 0 });
    }
    // the record at base+52 is the third of batch 5 (offsets 15..17): offset 17, found by decompressing
    expect(await log.offsetForTimestamp(base + 52)).toEqual({ offset: 17, timestamp: base + 52 });
    expect(p.offloaded).toBeGreaterThan(0);
    await logs.close();

    // An unclean stop, then a flipped byte in batch 12: recovery (in the pool) keeps batches 0..11.
    fs.rmSync(path.join(dataDir, CLEAN_SHUTDOWN_FILE));
    const file = path.join(dataDir, 't-0', '00000000000000000000.log');
    const bytes = fs.readFileSync(file);
    let at = 0;
    for (let i = 0; i < 12; i++) at += batchSize(readBatchHeader(bytes, at));
    bytes[at + 80] ^= 0xff;
    fs.writeFileSync(file, bytes);
    const before = p.offloaded;
    logs = await LogManager.open({ dataDir, fs: fsys, offload: p });
    expect(p.offloaded).toBeGreaterThan(before);
    expect(logs.get('t', 0)!.logEndOffset).toBe(36);
    await logs.close();
  });
});
