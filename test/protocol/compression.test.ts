// Compression codecs: round trips, golden batches captured from librdkafka (kcat), xerial snappy framing, and
// the decompression-bomb limits. Fixtures: test/protocol/fixtures/compression (see capture-kcat.mjs there).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { compressSync as rawSnappy } from 'snappy';
import { compressFrameSync } from 'lz4-napi';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Compression,
  CompressionError,
  compress,
  compressSync,
  compressionFromName,
  compressionName,
  decompress,
  decompressSync,
  loadCompression,
  lz4OutputBound,
  zstdOutputBound,
  type CompressionId,
} from '../../src/protocol/compression.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { batchPayload, buildRecordBatch, compressionOf, isBatchCrcValid, iterateRecords, readBatchHeader } from '../../src/protocol/records.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'compression');
const CODECS: CompressionId[] = [Compression.none, Compression.gzip, Compression.snappy, Compression.lz4, Compression.zstd];
const MiB = 1024 * 1024;

function text(bytes: number): Buffer {
  const words = ['tern', 'kafka', 'batch', 'offset', 'segment', 'raft', 'leader', 'epoch'];
  const parts: string[] = [];
  for (let i = 0, n = 0; n < bytes; i++) {
    const w = `${words[(i * 7) % words.length]}-${i % 97} `;
    parts.push(w);
    n += w.length;
  }
  return Buffer.from(parts.join('')).subarray(0, bytes);
}

/** Buffer equality without a deep, element-by-element diff (slow on large buffers). */
function expectSame(got: Buffer, want: Buffer): void {
  expect(got.length).toBe(want.length);
  expect(got.equals(want)).toBe(true);
}

function random(bytes: number, seed = 1): Buffer {
  const out = Buffer.alloc(bytes);
  let x = seed;
  for (let i = 0; i < bytes; i++) {
    x = (x * 1103515245 + 12345) >>> 0; // LCG: deterministic, incompressible enough
    out[i] = x >>> 24;
  }
  return out;
}

function failure(fn: () => unknown): CompressionError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CompressionError);
    return err as CompressionError;
  }
  throw new Error('expected a CompressionError');
}

beforeAll(async () => {
  await loadCompression();
});

describe('names', () => {
  it('maps names to ids and back', () => {
    expect(CODECS.map((c) => compressionName(c))).toEqual(['none', 'gzip', 'snappy', 'lz4', 'zstd']);
    expect(compressionFromName('ZSTD')).toBe(4);
    expect(compressionName(6)).toBe('unknown(6)');
    const e = failure(() => compressionFromName('brotli'));
    expect(e.reason).toBe('unsupported');
    expect(e.kafkaErrorCode).toBe(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE);
  });
});

describe('round trip', () => {
  for (const codec of CODECS) {
    for (const [label, data] of [
      ['empty', Buffer.alloc(0)],
      ['1 byte', Buffer.from([42])],
      ['text 300 KiB', text(300 * 1024)],
      ['random 100 KiB', random(100 * 1024)],
    ] as const) {
      it(`${compressionName(codec)}: ${label}`, () => {
        const c = compressSync(codec, data);
        expectSame(decompressSync(codec, c), data);
      });
    }
  }

  it('async forms agree with the sync ones', async () => {
    const data = text(50_000);
    for (const codec of CODECS) expectSame(await decompress(codec, await compress(codec, data)), data);
  });

  it('compresses compressible data', () => {
    const data = text(64 * 1024);
    for (const codec of CODECS.slice(1)) expect(compressSync(codec, data).length).toBeLessThan(data.length / 2);
  });

  it('an output exactly at the cap is accepted', () => {
    const data = text(10_000);
    for (const codec of CODECS.slice(1)) expectSame(decompressSync(codec, compressSync(codec, data), data.length), data);
  });
});

describe('what we send', () => {
  it('snappy is one raw block (as librdkafka sends), not xerial', () => {
    const c = compressSync(Compression.snappy, text(1000));
    expect(c[0]).toBe(0xe8); // varint 1000, low 7 bits with the continuation bit
    expect(c[1]).toBe(0x07);
  });

  it('lz4 is a frame with independent blocks (Java consumers reject dependent blocks)', () => {
    const c = compressSync(Compression.lz4, text(1000));
    expect(c.readUInt32LE(0)).toBe(0x184d2204);
    expect(c[4]! >> 6).toBe(1); // version 01
    expect(c[4]! & 0x20).toBe(0x20); // B.Indep
  });

  it('zstd is a standard frame', () => {
    const c = compressSync(Compression.zstd, text(1000));
    expect(c.readUInt32LE(0)).toBe(0xfd2fb528);
  });

  it('builds batches that decode with the records codec', () => {
    for (const codec of CODECS) {
      const batch = buildRecordBatch(
        [{ key: 'k', value: text(5000), headers: [{ key: 'h', value: 'v' }] }, { value: null }],
        { compression: codec, compress: (p) => compressSync(codec, p), nowMs: 1_700_000_000_000 },
      );
      const h = readBatchHeader(batch, 0);
      expect(compressionOf(h.attributes)).toBe(codec);
      const records = [...iterateRecords(decompressSync(codec, batchPayload(batch, 0, h)), h)];
      expect(records.map((r) => r.value?.length ?? null)).toEqual([5000, null]);
      expect(records[0]!.headers[0]!.key).toBe('h');
    }
  });
});

describe('librdkafka 2.0.2 batches (kcat -z CODEC)', () => {
  const lines = readFileSync(join(fixtures, 'kcat-input.txt'), 'utf8').split('\n').filter((l) => l !== '');
  for (const name of ['gzip', 'snappy', 'lz4', 'zstd'] as const) {
    it(`decodes ${name}`, () => {
      const batch = readFileSync(join(fixtures, `kcat-${name}.batch`));
      const h = readBatchHeader(batch, 0);
      expect(compressionOf(h.attributes)).toBe(compressionFromName(name));
      expect(isBatchCrcValid(batch, 0, h)).toBe(true);
      const payload = decompressSync(compressionOf(h.attributes), batchPayload(batch, 0, h));
      const got = [...iterateRecords(payload, h)].map((r) => `${r.key?.toString()}:${r.value?.toString()}`);
      expect(got).toEqual(lines.slice(0, h.recordCount));
      expect(h.recordCount).toBeGreaterThan(10);
    });
  }
});

describe('xerial snappy (Java, kafkajs-snappy)', () => {
  // snappy-java's SnappyOutputStream: magic, version 1, compatible version 1, then 32 KiB chunks.
  function xerial(data: Buffer, chunkBytes = 32 * 1024): Buffer {
    const parts: Buffer[] = [Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1])];
    for (let i = 0; i < data.length; i += chunkBytes) {
      const block = rawSnappy(data.subarray(i, i + chunkBytes));
      const len = Buffer.alloc(4);
      len.writeInt32BE(block.length);
      parts.push(len, block);
    }
    return Buffer.concat(parts);
  }

  it('decodes multi-chunk xerial framing', () => {
    const data = text(100_000);
    expectSame(decompressSync(Compression.snappy, xerial(data)), data);
  });

  it('decodes an empty xerial stream', () => {
    expectSame(decompressSync(Compression.snappy, xerial(Buffer.alloc(0))), Buffer.alloc(0));
  });

  it('caps the sum of the chunks', () => {
    const e = failure(() => decompressSync(Compression.snappy, xerial(text(100_000)), 64 * 1024));
    expect(e.reason).toBe('too-large');
  });

  it('rejects a chunk running past the end', () => {
    const x = xerial(text(1000));
    expect(failure(() => decompressSync(Compression.snappy, x.subarray(0, x.length - 3))).reason).toBe('corrupt');
  });
});

describe('decompression bombs', () => {
  it('gzip stops inflating at the cap', () => {
    const bomb = gzipSync(Buffer.alloc(4 * MiB));
    const e = failure(() => decompressSync(Compression.gzip, bomb, MiB));
    expect(e.reason).toBe('too-large');
    expect(e.kafkaErrorCode).toBe(ErrorCode.RECORD_LIST_TOO_LARGE);
  });

  it('snappy is refused from its declared length before decoding', () => {
    // preamble 0xffffffff (4 GiB - 1) followed by nothing: must not allocate 4 GiB
    const bomb = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]);
    expect(failure(() => decompressSync(Compression.snappy, bomb)).reason).toBe('too-large');
    expect(failure(() => decompressSync(Compression.snappy, rawSnappy(Buffer.alloc(2 * MiB)), MiB)).reason).toBe('too-large');
  });

  it('lz4 is refused from its block walk before decoding', () => {
    const bomb = compressFrameSync(Buffer.alloc(16 * MiB));
    expect(lz4OutputBound(bomb)).toBeGreaterThanOrEqual(16 * MiB);
    expect(failure(() => decompressSync(Compression.lz4, bomb, MiB)).reason).toBe('too-large');
  });

  it('lz4 output over the cap by less than a block is still refused', () => {
    const c = compressFrameSync(text(MiB + 10));
    expect(failure(() => decompressSync(Compression.lz4, c, MiB)).reason).toBe('too-large');
  });

  it('zstd is refused from its block walk before decoding', () => {
    const bomb = compressSync(Compression.zstd, Buffer.alloc(16 * MiB));
    expect(zstdOutputBound(bomb)).toBeGreaterThanOrEqual(16 * MiB);
    expect(failure(() => decompressSync(Compression.zstd, bomb, MiB)).reason).toBe('too-large');
  });

  it('zstd output over the cap by less than a block is still refused', () => {
    const c = compressSync(Compression.zstd, random(MiB + 10));
    expect(failure(() => decompressSync(Compression.zstd, c, MiB)).reason).toBe('too-large');
  });

  it('zstd refuses a huge window before allocating it', () => {
    // magic, FHD 0 (window descriptor, no content size), window 2^(10+31) exponent capped: 0xf8 = 2 GiB
    const bomb = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xf8, 0x01, 0x00, 0x00]);
    expect(failure(() => decompressSync(Compression.zstd, bomb)).reason).toBe('too-large');
  });

  it('zstd refuses a single-segment frame declaring a huge content size', () => {
    // FHD 0xe0: 8-byte content size, single segment; content size 2^40
    const bomb = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xe0, 0, 0, 0, 0, 0, 1, 0, 0, 0x01, 0x00, 0x00]);
    expect(failure(() => decompressSync(Compression.zstd, bomb)).reason).toBe('too-large');
  });
});

describe('corrupt input', () => {
  const data = text(20_000);
  for (const codec of CODECS.slice(1)) {
    it(`${compressionName(codec)}: truncated`, () => {
      const c = compressSync(codec, data);
      expect(failure(() => decompressSync(codec, c.subarray(0, c.length >> 1))).reason).toBe('corrupt');
    });
    it(`${compressionName(codec)}: garbage`, () => {
      const e = failure(() => decompressSync(codec, random(1000, 7)));
      expect(['corrupt', 'too-large']).toContain(e.reason);
      if (e.reason === 'corrupt') expect(e.kafkaErrorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
    });
  }

  it('lz4: trailing bytes after the frame', () => {
    const c = Buffer.concat([compressSync(Compression.lz4, data), Buffer.from([1, 2, 3])]);
    expect(failure(() => decompressSync(Compression.lz4, c)).reason).toBe('corrupt');
  });

  it('zstd: empty input', () => {
    expect(failure(() => decompressSync(Compression.zstd, Buffer.alloc(0))).reason).toBe('corrupt');
  });

  it('unknown codec ids', () => {
    for (const codec of [5, 6, 7, -1]) {
      expect(failure(() => decompressSync(codec, data)).reason).toBe('unsupported');
      expect(failure(() => compressSync(codec, data)).reason).toBe('unsupported');
    }
  });

  it('a zero output cap is a programming error', () => {
    expect(() => decompressSync(Compression.gzip, gzipSync(data), 0)).toThrow(RangeError);
  });
});
