/**
 * kcat (librdkafka 2.0.2) against a real broker process: produce with keys (-K), headers (-H) and every codec
 * (-z none/gzip/snappy/lz4/zstd); consume from beginning/end/N/-N/s@ts with -e and -J; metadata (-L -J);
 * timestamp queries (-Q). Every message's key, value and headers are checked after the round trip.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, type E2EBroker } from './lib/broker.js';
import { kcatConsume, kcatMetadata, kcatProduce, kcatQuery, type KcatMessage } from './lib/kcat.js';
import { requireTools, sleep } from './lib/proc.js';
import { WireClient } from './lib/wire.js';

let broker: E2EBroker;

beforeAll(async () => {
  requireTools();
  broker = await launch();
});

afterAll(async () => {
  await broker?.stop();
});

async function createTopic(name: string, partitions: number): Promise<void> {
  const c = await WireClient.connect(broker.port);
  try {
    const err = await c.createTopic(name, partitions);
    expect(err, `CreateTopics ${name}: error code ${err}${broker.diagnose()}`).toBe(0);
  } finally {
    c.close();
  }
}

interface Msg {
  key: string;
  value: string;
}

function messages(tag: string, n: number): Msg[] {
  // values of varied sizes (some > 1 KiB so compressed batches span several records of real size)
  return Array.from({ length: n }, (_, i) => ({
    key: `${tag}-k${i}`,
    value: `${tag}:${i}:ü€漢:${'abcdefghij'.repeat((i * 37) % 150)}`,
  }));
}

function expectMessages(got: KcatMessage[], want: Msg[], headers: [string, string][], firstOffset: number, what: string): void {
  expect(got.length, `${what}: message count${broker.diagnose()}`).toBe(want.length);
  got.forEach((m, i) => {
    expect(m.offset, `${what}: offset of message ${i}`).toBe(firstOffset + i);
    expect(m.key, `${what}: key at offset ${m.offset}`).toBe(want[i]!.key);
    expect(m.payload, `${what}: value at offset ${m.offset}`).toBe(want[i]!.value);
    expect(m.headers, `${what}: headers at offset ${m.offset}`).toEqual(headers);
  });
}

const CODEC_IDS: Record<string, number> = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 };

describe('kcat', () => {
  for (const codec of ['none', 'gzip', 'snappy', 'lz4', 'zstd']) {
    it(`produces and consumes with keys, headers and -z ${codec}`, async () => {
      const topic = `kcat-codec-${codec}`;
      await createTopic(topic, 1);
      const want = messages(codec, 300);
      const headers: [string, string][] = [
        ['codec', codec],
        ['h-utf8', 'wert-ä'],
        ['h-dup', 'first'],
        ['h-dup', 'second'],
      ];
      // linger so the producer builds multi-record (compressed) batches
      await kcatProduce(broker.port, topic, want, { compression: codec, headers, partition: 0, props: { 'linger.ms': '20' } });
      const got = await kcatConsume(broker.port, topic, { partition: 0, offset: 'beginning' });
      expectMessages(got, want, headers, 0, `-z ${codec}`);
      // librdkafka really compressed, and the broker stored the batches as sent (design: records are stored
      // exactly as producers sent them). librdkafka silently sends uncompressed when it thinks the broker
      // cannot take a codec, which would make this round trip prove nothing about the codec.
      const c = await WireClient.connect(broker.port);
      try {
        const f = await c.fetch(topic, 0, 0, { maxBytes: 256 * 1024 });
        expect(f.errorCode).toBe(0);
        expect(f.batches.length).toBeGreaterThan(0);
        const codecs = [...new Set(f.batches.map((b) => b.attributes & 7))];
        expect(codecs, `codec of the stored batches for -z ${codec} (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd)`).toEqual([CODEC_IDS[codec]]);
      } finally {
        c.close();
      }
    });
  }

  it('keeps several partitions apart and reads them all without -p', async () => {
    const topic = 'kcat-multi';
    await createTopic(topic, 3);
    const per: Msg[][] = [];
    for (let p = 0; p < 3; p++) {
      per[p] = messages(`p${p}`, 40);
      await kcatProduce(broker.port, topic, per[p]!, { partition: p, headers: [['partition', String(p)]], compression: 'lz4' });
    }
    const got = await kcatConsume(broker.port, topic, { offset: 'beginning' });
    for (let p = 0; p < 3; p++) {
      expectMessages(
        got.filter((m) => m.partition === p),
        per[p]!,
        [['partition', String(p)]],
        0,
        `partition ${p}`,
      );
    }
  });

  describe('consume offsets', () => {
    const topic = 'kcat-offsets';
    const runs: Msg[][] = [];
    const firstTs: number[] = [];

    beforeAll(async () => {
      await createTopic(topic, 1);
      // three separate produce runs, 30 ms apart, so each run's timestamps are strictly after the previous run's
      for (let r = 0; r < 3; r++) {
        runs[r] = messages(`run${r}`, 20);
        await kcatProduce(broker.port, topic, runs[r]!, { partition: 0, headers: [['run', String(r)]] });
        await sleep(30);
      }
      const all = await kcatConsume(broker.port, topic, { partition: 0 });
      expect(all).toHaveLength(60);
      for (let r = 0; r < 3; r++) firstTs[r] = all[r * 20]!.ts;
      expect(firstTs[1]).toBeGreaterThan(all[19]!.ts);
      expect(firstTs[2]).toBeGreaterThan(all[39]!.ts);
    });

    const all = (): Msg[] => runs.flat();
    const hdrs = (from: number, to: number): [string, string][][] => Array.from({ length: to - from }, (_, i) => [['run', String(Math.floor((from + i) / 20))]]);

    function expectRange(got: KcatMessage[], from: number, to: number, what: string): void {
      expect(got.map((m) => m.offset), what).toEqual(Array.from({ length: to - from }, (_, i) => from + i));
      expect(got.map((m) => [m.key, m.payload]), what).toEqual(all().slice(from, to).map((m) => [m.key, m.value]));
      expect(got.map((m) => m.headers), what).toEqual(hdrs(from, to));
    }

    it('-o beginning', async () => {
      expectRange(await kcatConsume(broker.port, topic, { partition: 0, offset: 'beginning' }), 0, 60, '-o beginning');
    });

    it('-o end -e exits with nothing', async () => {
      expect(await kcatConsume(broker.port, topic, { partition: 0, offset: 'end' })).toEqual([]);
    });

    it('-o N (absolute), including mid-batch offsets', async () => {
      expectRange(await kcatConsume(broker.port, topic, { partition: 0, offset: '25' }), 25, 60, '-o 25');
      expectRange(await kcatConsume(broker.port, topic, { partition: 0, offset: '59' }), 59, 60, '-o 59');
      expectRange(await kcatConsume(broker.port, topic, { partition: 0, offset: '7', count: 5 }), 7, 12, '-o 7 -c 5');
    });

    it('-o -N (relative to the end)', async () => {
      expectRange(await kcatConsume(broker.port, topic, { partition: 0, offset: '-15' }), 45, 60, '-o -15');
    });

    it('-o s@ts starts at the first message at or after the timestamp', async () => {
      expectRange(await kcatConsume(broker.port, topic, { partition: 0, offset: `s@${firstTs[1]}` }), 20, 60, `-o s@(run 1)`);
      expectRange(await kcatConsume(broker.port, topic, { partition: 0, offset: `s@${firstTs[2]}` }), 40, 60, `-o s@(run 2)`);
      expectRange(await kcatConsume(broker.port, topic, { partition: 0, offset: `s@${firstTs[0]! - 60_000}` }), 0, 60, '-o s@(before all)');
    });

    it('-Q answers timestamp queries (ListOffsets)', async () => {
      expect(await kcatQuery(broker.port, topic, 0, firstTs[1]!)).toBe(20);
      expect(await kcatQuery(broker.port, topic, 0, firstTs[2]!)).toBe(40);
      expect(await kcatQuery(broker.port, topic, 0, Date.now() + 3_600_000), 'after all records: -1 (no such offset)').toBe(-1);
    });
  });

  it('-Z sends NULL keys and values; -J shows them as null', async () => {
    const topic = 'kcat-nulls';
    await createTopic(topic, 1);
    const { run, check, KCAT } = await import('./lib/proc.js');
    check(
      await run(KCAT, ['-P', '-b', `127.0.0.1:${broker.port}`, '-t', topic, '-p', '0', '-K', '\t', '-Z', '-X', 'acks=all', '-q'], {
        input: 'k1\t\n\tv2\nk3\tv3\n',
        timeoutMs: 30_000,
      }),
      'kcat -Z produce',
    );
    const got = await kcatConsume(broker.port, topic, { partition: 0 });
    expect(got.map((m) => [m.key, m.payload])).toEqual([
      ['k1', null],
      [null, 'v2'],
      ['k3', 'v3'],
    ]);
  });

  it('-L -J lists this broker, the topics and their leaders', async () => {
    const md = await kcatMetadata(broker.port);
    expect(md.brokers, 'one broker in metadata').toHaveLength(1);
    expect(md.brokers[0]!.name).toBe(`127.0.0.1:${broker.port}`);
    const id = md.brokers[0]!.id;
    const multi = md.topics.find((t) => t.topic === 'kcat-multi');
    expect(multi, 'kcat-multi in -L').toBeDefined();
    expect(multi!.partitions.map((p) => p.partition).sort()).toEqual([0, 1, 2]);
    for (const p of multi!.partitions) {
      expect(p.leader).toBe(id);
      expect(p.replicas.map((r) => r.id)).toEqual([id]);
      expect(p.isrs.map((r) => r.id)).toEqual([id]);
    }
    const one = await kcatMetadata(broker.port, 'kcat-codec-zstd');
    expect(one.topics.map((t) => t.topic)).toEqual(['kcat-codec-zstd']);
  });
});
