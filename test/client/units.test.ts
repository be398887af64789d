// Pure parts of the client (the frame parser is tested in test/protocol): version negotiation, the key partitioner, record decoding.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import {
  CLIENT_API_VERSIONS,
  decodeRecords,
  KafkaError,
  murmur2,
  negotiateVersions,
  parseBroker,
  partitionForKey,
} from '../../src/client/index.js';
import { compressSync, loadCompression } from '../../src/protocol/compression.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { ApiKey } from '../../src/protocol/messages/index.js';
import { buildRecordBatch, Compression, CRC_OFFSET } from '../../src/protocol/records.js';


describe('negotiateVersions', () => {
  it('picks min(ours.max, theirs.max) when the ranges overlap', () => {
    const v = negotiateVersions([
      { apiKey: ApiKey.Produce, minVersion: 0, maxVersion: 7 },
      { apiKey: ApiKey.Fetch, minVersion: 0, maxVersion: 3 }, // below our 4
      { apiKey: ApiKey.Metadata, minVersion: 13, maxVersion: 20 }, // above our 12
      { apiKey: ApiKey.JoinGroup, minVersion: 0, maxVersion: 7 }, // ours up to 9 (bench/groups.ts)
      { apiKey: ApiKey.InitProducerId, minVersion: 0, maxVersion: 5 }, // not ours
    ]);
    expect([...v]).toEqual([
      [ApiKey.Produce, 7],
      [ApiKey.JoinGroup, 7],
    ]);
  });

  it('covers every API the client uses', () => {
    expect(CLIENT_API_VERSIONS.size).toBe(25); // 13 + the group APIs (issue 5) + Describe/ListTransactions (issue 6)
    for (const [, r] of CLIENT_API_VERSIONS) expect(r.min).toBeLessThanOrEqual(r.max);
  });
});

describe('parseBroker', () => {
  it('parses host:port, host, and [v6]:port', () => {
    expect(parseBroker('localhost:19092')).toEqual({ host: 'localhost', port: 19092 });
    expect(parseBroker(' kafka ')).toEqual({ host: 'kafka', port: 9092 });
    expect(parseBroker('[::1]:9093')).toEqual({ host: '::1', port: 9093 });
    expect(() => parseBroker('a:b:c')).toThrow(RangeError);
    expect(() => parseBroker('host:70000')).toThrow(RangeError);
  });
});

describe('murmur2 partitioner', () => {
  // kafkajs' JavaCompatiblePartitioner hash, a port of Kafka's Utils.murmur2, as the reference.
  const require = createRequire(import.meta.url);
  const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (key: Buffer) => number;

  it('matches the Java client for keys of every tail length', () => {
    for (const key of ['', 'a', 'ab', 'abc', 'abcd', 'abcde', 'user-42', 'ключ', 'x'.repeat(257)]) {
      const b = Buffer.from(key);
      expect(murmur2(b)).toBe(kafkajsMurmur2(b));
    }
    for (let i = 0; i < 200; i++) {
      const b = Buffer.from(`key-${i * 7919}`);
      expect(murmur2(b)).toBe(kafkajsMurmur2(b));
    }
  });

  it('maps a key to a stable partition in range', () => {
    for (let i = 0; i < 100; i++) {
      const p = partitionForKey(Buffer.from(`k${i}`), 7);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(7);
      expect(partitionForKey(Buffer.from(`k${i}`), 7)).toBe(p);
    }
    expect(() => partitionForKey(Buffer.from('k'), 0)).toThrow(RangeError);
  });
});

describe('decodeRecords', () => {
  const opts = { topic: 't', partition: 3, fromOffset: 0 };
  function batch(baseOffset: number, values: string[], compression: number = Compression.none): Buffer {
    const b = buildRecordBatch(
      values.map((v, i) => ({ key: `k${i}`, value: v, headers: [{ key: 'h', value: 'x' }], timestamp: 1000 + i })),
      { compression, compress: (p) => compressSync(compression, p) },
    );
    b.writeInt32BE(0, 0);
    b.writeInt32BE(baseOffset, 4); // baseOffset is outside the CRC
    return b;
  }

  it('decodes batches of every codec back to back', async () => {
    await loadCompression();
    const all = Buffer.concat([0, 1, 2, 3, 4].map((codec, i) => batch(i * 2, [`v${i}a`, `v${i}b`], codec)));
    const d = decodeRecords(all, opts);
    expect(d.records.map((r) => `${r.offset}:${r.value?.toString()}`)).toEqual(['0:v0a', '1:v0b', '2:v1a', '3:v1b', '4:v2a', '5:v2b', '6:v3a', '7:v3b', '8:v4a', '9:v4b']);
    expect(d.nextOffset).toBe(10);
    expect(d.records[3]).toMatchObject({ topic: 't', partition: 3, timestamp: 1001 });
    expect(d.records[3]!.headers[0]!.key).toBe('h');
  });

  it('skips records before fromOffset inside a batch', () => {
    const d = decodeRecords(batch(10, ['a', 'b', 'c']), { ...opts, fromOffset: 11 });
    expect(d.records.map((r) => r.offset)).toEqual([11, 12]);
    expect(d.nextOffset).toBe(13);
  });

  it('ignores a partial batch at the end and points nextOffset at it', () => {
    const two = Buffer.concat([batch(0, ['a']), batch(1, ['b'])]);
    const d = decodeRecords(two.subarray(0, two.length - 5), opts);
    expect(d.records.map((r) => r.offset)).toEqual([0]);
    expect(d.nextOffset).toBe(1);
    expect(decodeRecords(null, { ...opts, fromOffset: 5 })).toEqual({ records: [], nextOffset: 5 });
  });

  it('skips control batches but moves past them', () => {
    // a COMMIT marker: key = version 0, type 1; value = version 0, coordinator epoch 0
    const marker = buildRecordBatch([{ key: Buffer.from([0, 0, 0, 1]), value: Buffer.from([0, 0, 0, 0, 0, 0]) }], { control: true, transactional: true });
    const d = decodeRecords(Buffer.concat([marker, batch(1, ['x'])]), opts);
    expect(d.records.map((r) => r.value?.toString())).toEqual(['x']);
    expect(d.nextOffset).toBe(2);
  });

  it('reports a CRC mismatch as CORRUPT_MESSAGE', () => {
    const b = batch(0, ['a']);
    b.writeUInt32BE((b.readUInt32BE(CRC_OFFSET) + 1) >>> 0, CRC_OFFSET);
    const err = (() => {
      try {
        decodeRecords(b, opts);
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(KafkaError);
    expect((err as KafkaError).code).toBe(ErrorCode.CORRUPT_MESSAGE);
    expect((err as KafkaError).partition).toBe(3);
  });

  it('refuses old message formats', () => {
    const b = batch(0, ['a']);
    b.writeInt8(1, 16);
    expect(() => decodeRecords(b, opts)).toThrow(/magic 1/);
  });
});
