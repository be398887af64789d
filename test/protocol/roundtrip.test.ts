/**
 * Every generated message codec, every valid version, against an independent reading of the JSON grammar
 * (spec-model.ts). For each (message, version) and each of ROUNDS seeded random values:
 *   1. the generated writer's bytes equal the reference encoder's bytes (same wire format, byte for byte);
 *   2. the generated reader reads those bytes completely and gives back the value, with every field absent in
 *      that version at its default;
 *   3. write(read(bytes)) == bytes;
 *   4. the same bytes split into pieces at seeded random points (as a frame arrives over several socket reads;
 *      1-byte pieces, short pieces, empty pieces, a few large ones) read to the same value, every byte consumed:
 *      every primitive straddling a boundary is covered; records come back as views of the pieces.
 * A failure names its seed: ROUNDTRIP_SEED=<seed> with `-t '<Message> v<N>'` reruns exactly that value first.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Reader, Writer } from '../../src/protocol/codec.js';
import { API_SPECS } from '../../src/protocol/messages/index.js';
import { MESSAGES_DIR, MessageModel, Rng, allSpecNames, firstDiff, hashSeed, inRange, loadSpec, normalize, versionList } from './spec-model.js';

const ROUNDS = 25;
const FORCED_SEED = process.env['ROUNDTRIP_SEED'] === undefined ? undefined : Number(process.env['ROUNDTRIP_SEED']);

interface GeneratedModule {
  read(r: Reader, v: number): unknown;
  write(w: Writer, v: number, m: unknown): void;
  defaults(): unknown;
  versions: { min: number; max: number; flexibleMin: number };
}

async function loadModule(name: string): Promise<GeneratedModule> {
  const mod = (await import(pathToFileURL(path.join(MESSAGES_DIR, `${name}.ts`)).href)) as Record<string, unknown>;
  const get = <T>(k: string): T => {
    const x = mod[k];
    if (x === undefined) throw new Error(`${name}.ts does not export ${k}`);
    return x as T;
  };
  return {
    read: get(`read${name}`),
    write: get(`write${name}`),
    defaults: get(`default${name}`),
    versions: get(`${name}Versions`),
  };
}

/** Views of `bytes` cut at seeded points; with `everyByte` also the 1-byte split. */
function splitsOf(bytes: Buffer, rng: Rng, everyByte: boolean): [string, Buffer[]][] {
  const out: [string, Buffer[]][] = [];
  if (everyByte) out.push(['1-byte pieces', [...bytes.keys()].map((i) => bytes.subarray(i, i + 1))]);
  const short: Buffer[] = [];
  for (let p = 0; p < bytes.length; ) {
    const n = rng.int(0, 9); // 0: an empty piece
    short.push(bytes.subarray(p, p + n));
    p += n;
  }
  out.push(['short pieces', short]);
  const cuts = [rng.int(0, bytes.length), rng.int(0, bytes.length), rng.int(0, bytes.length)].sort((a, b) => a - b);
  out.push([`cuts at ${cuts.join(',')}`, [0, ...cuts].map((c, i, all) => bytes.subarray(c, all[i + 1] ?? bytes.length))]);
  return out;
}

/** A records field read from pieces is a list of views; the model expects it joined. */
function joinRecordLists(x: unknown): unknown {
  if (Array.isArray(x)) {
    if (x.length > 0 && x.every((e) => Buffer.isBuffer(e))) return Buffer.concat(x as Buffer[]);
    return x.map(joinRecordLists);
  }
  if (x !== null && typeof x === 'object' && !Buffer.isBuffer(x)) {
    return Object.fromEntries(Object.entries(x).map(([k, y]) => [k, joinRecordLists(y)]));
  }
  return x;
}

const generated = fs
  .readdirSync(MESSAGES_DIR)
  .filter((f) => f.endsWith('.ts') && f !== 'index.ts')
  .map((f) => f.slice(0, -3))
  .sort();

describe('generated message set', () => {
  it('is every request a broker serves, its response, and the two headers', () => {
    const specs = allSpecNames().map(loadSpec);
    const served = new Set(specs.filter((s) => s.type === 'request' && s.listeners?.includes('broker')).map((s) => s.apiKey));
    const expected = specs
      .filter((s) => s.type === 'header' || ((s.type === 'request' || s.type === 'response') && served.has(s.apiKey)))
      .map((s) => s.name)
      .sort();
    expect(generated).toEqual(expected);
    expect(generated).toContain('ProduceRequest');
    expect(generated).toContain('RequestHeader');
  });

  it('API_SPECS matches the specs: key, name, versions, first flexible version', () => {
    const requests = generated.map(loadSpec).filter((s) => s.type === 'request');
    expect([...API_SPECS.keys()].sort((a, b) => a - b)).toEqual(requests.map((s) => s.apiKey).sort((a, b) => a! - b!));
    for (const s of requests) {
      const api = API_SPECS.get(s.apiKey!)!;
      const versions = versionList(s.validVersions);
      const flexMin = versions.find((v) => inRange(s.flexibleVersions, v)) ?? Infinity;
      expect({ name: api.name, min: api.minVersion, max: api.maxVersion, flexibleMin: api.flexibleMin, unstable: api.latestVersionUnstable }).toEqual({
        name: s.name.replace(/Request$/, ''),
        min: versions[0],
        max: versions[versions.length - 1],
        flexibleMin: flexMin,
        unstable: Boolean(s.latestVersionUnstable),
      });
      // The response spec has the same key and versions.
      const resp = loadSpec(`${api.name}Response`);
      expect(resp.apiKey).toBe(s.apiKey);
      expect(resp.validVersions).toBe(s.validVersions);
    }
  });
});

describe.each(generated)('%s', (name) => {
  const model = new MessageModel(loadSpec(name));

  it('exports versions and defaults that match the spec', async () => {
    const mod = await loadModule(name);
    const vs = model.valid;
    const flexMin = vs.find((v) => model.flexible(v)) ?? Infinity;
    expect(mod.versions).toEqual({ min: vs[0], max: vs[vs.length - 1], flexibleMin: flexMin });
    expect(normalize(mod.defaults())).toStrictEqual(normalize(model.defaultStruct(model.spec.fields)));
  });

  it.each(model.valid)('v%i round trips against the reference encoding', async (v) => {
    const mod = await loadModule(name);
    const seeds = Array.from({ length: ROUNDS }, (_, i) => hashSeed(name, v, i));
    if (FORCED_SEED !== undefined) seeds.unshift(FORCED_SEED);
    for (const seed of seeds) {
      const where = `${name} v${v} seed ${seed}`;
      const { input, expected } = model.randomStruct(model.spec.fields, v, new Rng(seed), 0);
      const reference = model.encode(v, input);

      const w = new Writer(64);
      mod.write(w, v, input);
      const bytes = w.finish();
      expect(firstDiff(bytes, reference), `${where}: generated writer vs reference encoder`).toBe('equal');

      const r = new Reader(reference);
      const decoded = mod.read(r, v);
      expect(r.offset, `${where}: reader must consume every byte`).toBe(reference.length);
      expect(normalize(decoded), `${where}: decoded value`).toStrictEqual(normalize(expected));

      const w2 = new Writer(16);
      mod.write(w2, v, decoded);
      expect(firstDiff(w2.finish(), reference), `${where}: write(read(bytes))`).toBe('equal');

      for (const [how, pieces] of splitsOf(reference, new Rng(seed ^ 0x5eed), seed === seeds[0])) {
        const rs = new Reader(pieces);
        const split = mod.read(rs, v);
        expect(rs.remaining, `${where}, ${how}: reader must consume every byte`).toBe(0);
        expect(rs.position, `${where}, ${how}: position`).toBe(reference.length);
        expect(normalize(joinRecordLists(split)), `${where}, ${how}: decoded value`).toStrictEqual(normalize(expected));
        const w3 = new Writer(16);
        mod.write(w3, v, split);
        expect(firstDiff(w3.finish(), reference), `${where}, ${how}: write(read(pieces))`).toBe('equal');
      }
    }
  });
});
