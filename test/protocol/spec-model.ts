/**
 * An independent reading of Kafka's JSON message grammar (message-specs/README.md), used to check the generated
 * codecs (src/protocol/messages) from the outside. Nothing here imports the generator or the codec runtime: it
 * parses version ranges, decides per version which fields exist, which are tagged, nullable or compact, builds
 * seeded random values and encodes them with a deliberately naive reference encoder (plain arrays of bytes).
 *
 * Value shapes follow the generated API: field `FooBar` is key `fooBar`; int64 is a `number`; uuid is 32
 * lowercase hex chars; bytes are Buffers; records are a Buffer, a list of Buffers (sent back to back) or null.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, '../..');
export const SPEC_DIR = process.env['TERN_KAFKA_SPECS'] ?? path.resolve(REPO_ROOT, '../shared/kafka/message-specs');
export const MESSAGES_DIR = path.join(REPO_ROOT, 'src/protocol/messages');

export interface FieldSpec {
  name: string;
  type: string;
  versions: string;
  nullableVersions?: string;
  taggedVersions?: string;
  tag?: number;
  default?: string | number | boolean;
  fields?: FieldSpec[];
  flexibleVersions?: string;
}

export interface MessageSpec {
  apiKey?: number;
  type: string;
  listeners?: string[];
  name: string;
  validVersions: string;
  flexibleVersions: string;
  latestVersionUnstable?: boolean;
  fields: FieldSpec[];
  commonStructs?: { name: string; versions: string; fields: FieldSpec[] }[];
}

/** Kafka's JSON allows whole-line `//` comments; that is the only form the spec files use. */
export function loadSpec(name: string): MessageSpec {
  const text = fs.readFileSync(path.join(SPEC_DIR, `${name}.json`), 'utf8');
  const json = text
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('//'))
    .join('\n');
  return JSON.parse(json) as MessageSpec;
}

export function allSpecNames(): string[] {
  return fs
    .readdirSync(SPEC_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

// ---------------------------------------------------------------------------------------------------------------
// Version ranges: "none", "N", "N+", "N-M".

export function inRange(spec: string | undefined, v: number): boolean {
  if (spec === undefined || spec === 'none') return false;
  const m = /^(\d+)(\+|-(\d+))?$/.exec(spec.trim());
  if (!m) throw new Error(`bad version range ${spec}`);
  const lo = Number(m[1]);
  if (m[2] === '+') return v >= lo;
  const hi = m[3] === undefined ? lo : Number(m[3]);
  return v >= lo && v <= hi;
}

/** Every version in a closed range such as validVersions ("0-11", "3"). */
export function versionList(spec: string): number[] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(spec.trim());
  if (!m) throw new Error(`validVersions must be closed: ${spec}`);
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  const out: number[] = [];
  for (let v = lo; v <= hi; v++) out.push(v);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Seeded PRNG (mulberry32) and a string hash for seeds, so every failure names a seed that reproduces it.

export class Rng {
  private s: number;
  constructor(readonly seed: number) {
    this.s = seed >>> 0;
  }
  u32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  float(): number {
    return this.u32() / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.float() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length - 1)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}

export function hashSeed(...parts: (string | number)[]): number {
  let h = 2166136261;
  for (const c of parts.join('/')) {
    h ^= c.codePointAt(0)!;
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

// ---------------------------------------------------------------------------------------------------------------
// The model of one message.

const INT_BOUNDS: Record<string, [number, number]> = {
  int8: [-128, 127],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
};
const INT64_MAX_SAFE = 2 ** 53 - 1;
const PRIMITIVES = new Set(['bool', 'int8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'float64', 'string', 'bytes', 'uuid', 'records']);
export const ZERO_UUID_HEX = '0'.repeat(32);

const STRING_POOL = ['', 'a', 'topic-1', '__consumer_offsets', 'héllo wörld', '日本語のトピック', 'emoji 🦊🚀', 'x'.repeat(300), ' ', 'null'];

export function keyOf(f: FieldSpec): string {
  return f.name[0]!.toLowerCase() + f.name.slice(1);
}

export type Value = unknown;
type Obj = Record<string, Value>;

export class MessageModel {
  readonly common = new Map<string, FieldSpec[]>();
  readonly valid: number[];

  constructor(readonly spec: MessageSpec) {
    for (const c of spec.commonStructs ?? []) this.common.set(c.name, c.fields);
    this.valid = versionList(spec.validVersions);
  }

  // --- per-version facts --------------------------------------------------------------------------------------
  flexible(v: number): boolean {
    return inRange(this.spec.flexibleVersions, v);
  }
  compact(f: FieldSpec, v: number): boolean {
    return f.flexibleVersions !== undefined ? inRange(f.flexibleVersions, v) : this.flexible(v);
  }
  present(f: FieldSpec, v: number): boolean {
    return inRange(f.versions, v);
  }
  tagged(f: FieldSpec, v: number): boolean {
    return f.tag !== undefined && inRange(f.taggedVersions, v) && this.present(f, v);
  }
  nullable(f: FieldSpec, v: number): boolean {
    return inRange(f.nullableVersions, v);
  }
  /** A field exists in the generated interface when it exists in at least one valid version. */
  live(f: FieldSpec): boolean {
    return this.valid.some((v) => this.present(f, v));
  }
  isArray(f: FieldSpec): boolean {
    return f.type.startsWith('[]');
  }
  elemType(f: FieldSpec): string {
    return this.isArray(f) ? f.type.slice(2) : f.type;
  }
  isStruct(t: string): boolean {
    return !PRIMITIVES.has(t);
  }
  structFields(f: FieldSpec): FieldSpec[] {
    if (f.fields) return f.fields;
    const c = this.common.get(this.elemType(f));
    if (!c) throw new Error(`${this.spec.name}.${f.name}: unknown struct type ${f.type}`);
    return c;
  }

  // --- defaults (README "Deserializing Messages" and "Custom Default Values") --------------------------------------
  defaultOf(f: FieldSpec): Value {
    const t = this.elemType(f);
    const d = f.default;
    if (this.isArray(f)) return d === 'null' ? null : [];
    if (d === 'null') return null;
    switch (t) {
      case 'bool':
        return d === true || d === 'true';
      case 'string':
        return d === undefined ? '' : String(d);
      case 'bytes':
        return Buffer.alloc(0);
      case 'records':
        return null;
      case 'uuid':
        return ZERO_UUID_HEX;
      case 'int8':
      case 'int16':
      case 'uint16':
      case 'int32':
      case 'uint32':
      case 'int64':
      case 'float64':
        return d === undefined ? 0 : parseNumber(d);
      default:
        return this.defaultStruct(this.structFields(f));
    }
  }
  defaultStruct(fields: FieldSpec[]): Obj {
    const o: Obj = {};
    for (const f of fields) if (this.live(f)) o[keyOf(f)] = this.defaultOf(f);
    return o;
  }

  // --- random values -----------------------------------------------------------------------------------------------
  /**
   * A random input for `fields` at version v, and what reading its encoding must give back. Fields absent in v
   * sometimes get a random (ignored) value; present fields are sometimes left out (written as their defaults).
   */
  randomStruct(fields: FieldSpec[], v: number, rng: Rng, depth: number): { input: Obj; expected: Obj } {
    const input: Obj = {};
    const expected: Obj = {};
    for (const f of fields) {
      if (!this.live(f)) continue;
      const k = keyOf(f);
      if (!this.present(f, v)) {
        expected[k] = this.defaultOf(f);
        if (rng.chance(0.3)) input[k] = this.randomField(f, v, rng, depth, false).input;
        continue;
      }
      if (rng.chance(0.1)) {
        expected[k] = this.defaultOf(f);
        continue;
      }
      if (this.tagged(f, v) && rng.chance(0.2)) {
        input[k] = this.defaultOf(f);
        expected[k] = this.defaultOf(f);
        continue;
      }
      const r = this.randomField(f, v, rng, depth, this.nullable(f, v));
      input[k] = r.input;
      expected[k] = r.expected;
    }
    return { input, expected };
  }

  randomField(f: FieldSpec, v: number, rng: Rng, depth: number, nullable: boolean): { input: Value; expected: Value } {
    const t = this.elemType(f);
    if (this.isArray(f)) {
      if (nullable && rng.chance(0.2)) return { input: null, expected: null };
      const n = depth > 4 ? rng.int(0, 1) : rng.int(0, 3);
      const input: Value[] = [];
      const expected: Value[] = [];
      for (let i = 0; i < n; i++) {
        const e = this.isStruct(t) ? this.randomStruct(this.structFields(f), v, rng, depth + 1) : this.randomPrimitive(t, rng, false);
        input.push(e.input);
        expected.push(e.expected);
      }
      return { input, expected };
    }
    if (this.isStruct(t)) {
      if (nullable && rng.chance(0.3)) return { input: null, expected: null };
      return this.randomStruct(this.structFields(f), v, rng, depth + 1);
    }
    return this.randomPrimitive(t, rng, nullable);
  }

  randomPrimitive(t: string, rng: Rng, nullable: boolean): { input: Value; expected: Value } {
    const same = (x: Value): { input: Value; expected: Value } => ({ input: x, expected: x });
    if (nullable && ['string', 'bytes', 'records'].includes(t) && rng.chance(0.25)) return same(null);
    switch (t) {
      case 'bool':
        return same(rng.chance(0.5));
      case 'int8':
      case 'int16':
      case 'uint16':
      case 'int32':
      case 'uint32': {
        const [lo, hi] = INT_BOUNDS[t]!;
        if (rng.chance(0.3)) return same(rng.pick([lo, hi, 0, lo < 0 ? -1 : 1, 1]));
        return same(rng.int(lo, hi));
      }
      case 'int64': {
        if (rng.chance(0.3)) return same(rng.pick([0, -1, 1, INT64_MAX_SAFE, -INT64_MAX_SAFE, 2 ** 31, -(2 ** 31) - 1, 2 ** 32, 2 ** 32 + 1, -(2 ** 32)]));
        const mag = (rng.u32() & 0x1fffff) * 4294967296 + rng.u32();
        return same(rng.chance(0.5) ? -mag : mag);
      }
      case 'float64':
        if (rng.chance(0.3)) return same(rng.pick([0, -0, 1.5, -1e300, Number.MIN_VALUE, Infinity, -Infinity, NaN]));
        return same((rng.float() - 0.5) * 10 ** rng.int(-20, 20));
      case 'string': {
        if (rng.chance(0.5)) return same(rng.pick(STRING_POOL));
        const n = rng.int(0, 24);
        let s = '';
        for (let i = 0; i < n; i++) s += String.fromCodePoint(rng.chance(0.9) ? rng.int(0x20, 0x7e) : rng.pick([0xe9, 0x4e2d, 0x1f600, 0x10ffff, 0]));
        return same(s);
      }
      case 'bytes':
        return same(rng.bytes(rng.chance(0.05) ? rng.int(1024, 1100) : rng.int(0, 16)));
      case 'uuid':
        return same(rng.chance(0.15) ? ZERO_UUID_HEX : rng.bytes(16).toString('hex'));
      case 'records': {
        if (rng.chance(0.2)) {
          // A list of batches written back to back; it reads back as one buffer.
          const parts = [rng.bytes(rng.int(1, 30)), rng.bytes(rng.chance(0.3) ? 1500 : rng.int(0, 30))];
          return { input: parts, expected: Buffer.concat(parts) };
        }
        return same(rng.bytes(rng.chance(0.05) ? rng.int(1024, 2048) : rng.int(0, 40)));
      }
      default:
        throw new Error(`not a primitive: ${t}`);
    }
  }

  // --- reference encoder -------------------------------------------------------------------------------------------
  encode(v: number, input: Obj): Buffer {
    const out = new ByteSink();
    this.encodeStruct(this.spec.fields, v, input, out);
    return out.toBuffer();
  }

  encodeStruct(fields: FieldSpec[], v: number, input: Obj | undefined, out: ByteSink): void {
    const val = (f: FieldSpec): Value => {
      const x = input?.[keyOf(f)];
      return x === undefined ? this.defaultOf(f) : x;
    };
    for (const f of fields) {
      if (!this.present(f, v) || this.tagged(f, v)) continue;
      this.encodeField(f, v, val(f), out);
    }
    if (!this.flexible(v)) return;
    const tagged = fields.filter((f) => this.tagged(f, v) && !this.equalsDefault(f, input?.[keyOf(f)])).sort((a, b) => a.tag! - b.tag!);
    out.uvarint(tagged.length);
    for (const f of tagged) {
      const body = new ByteSink();
      this.encodeField(f, v, val(f), body);
      const bytes = body.toBuffer();
      out.uvarint(f.tag!);
      out.uvarint(bytes.length);
      out.raw(bytes);
    }
  }

  /** Kafka writes a tagged field only when it differs from its default (Java `equals`, over every field). */
  equalsDefault(f: FieldSpec, x: Value): boolean {
    if (x === undefined) return true;
    return deepEqualNormalized(this.fillDefaults(f, x), this.defaultOf(f));
  }

  /** The input with undefined members replaced by defaults (how the value reads in Java after construction). */
  fillDefaults(f: FieldSpec, x: Value): Value {
    const t = this.elemType(f);
    if (x === null || x === undefined) return x === undefined ? this.defaultOf(f) : null;
    if (!this.isStruct(t)) return Array.isArray(x) && t === 'records' ? Buffer.concat(x as Buffer[]) : x;
    const fill = (o: Obj): Obj => {
      const r: Obj = {};
      for (const sf of this.structFields(f)) if (this.live(sf)) r[keyOf(sf)] = this.fillDefaults(sf, o[keyOf(sf)]);
      return r;
    };
    return this.isArray(f) ? (x as Obj[]).map(fill) : fill(x as Obj);
  }

  encodeField(f: FieldSpec, v: number, x: Value, out: ByteSink): void {
    const t = this.elemType(f);
    const compact = this.compact(f, v);
    const nullable = this.nullable(f, v);
    if (this.isArray(f)) {
      if (x === null) {
        if (!nullable) throw new Error(`${f.name}: null in non-nullable array`);
        if (compact) out.uvarint(0);
        else out.int32(-1);
        return;
      }
      const xs = x as Value[];
      if (compact) out.uvarint(xs.length + 1);
      else out.int32(xs.length);
      for (const e of xs) {
        if (this.isStruct(t)) this.encodeStruct(this.structFields(f), v, e as Obj, out);
        else this.encodePrimitive(t, e, compact, false, out);
      }
      return;
    }
    if (this.isStruct(t)) {
      if (nullable) {
        if (x === null) {
          out.int8(-1);
          return;
        }
        out.int8(1);
      }
      this.encodeStruct(this.structFields(f), v, x as Obj, out);
      return;
    }
    this.encodePrimitive(t, x, compact, nullable, out);
  }

  encodePrimitive(t: string, x: Value, compact: boolean, nullable: boolean, out: ByteSink): void {
    const len = (n: number, wide: boolean): void => {
      if (compact) out.uvarint(n + 1);
      else if (wide) out.int32(n);
      else out.int16(n);
    };
    switch (t) {
      case 'bool':
        return out.int8(x ? 1 : 0);
      case 'int8':
        return out.int8(x as number);
      case 'int16':
        return out.int16(x as number);
      case 'uint16':
        return out.uint16(x as number);
      case 'int32':
        return out.int32(x as number);
      case 'uint32':
        return out.uint32(x as number);
      case 'int64':
        return out.int64(x as number);
      case 'float64':
        return out.float64(x as number);
      case 'uuid':
        return out.raw(Buffer.from(x as string, 'hex'));
      case 'string': {
        if (x === null) {
          if (!nullable) throw new Error('null in non-nullable string');
          return len(-1, false);
        }
        const b = Buffer.from(x as string, 'utf8');
        len(b.length, false);
        return out.raw(b);
      }
      case 'bytes':
      case 'records': {
        if (x === null) {
          if (!nullable) throw new Error(`null in non-nullable ${t}`);
          return len(-1, true);
        }
        const b = Array.isArray(x) ? Buffer.concat(x as Buffer[]) : (x as Buffer);
        len(b.length, true);
        return out.raw(b);
      }
      default:
        throw new Error(`not a primitive: ${t}`);
    }
  }
}

function parseNumber(d: string | number | boolean): number {
  if (typeof d === 'number') return d;
  const s = String(d).trim();
  const m = /^(-?)0x([0-9a-f]+)$/i.exec(s);
  if (m) return (m[1] ? -1 : 1) * parseInt(m[2]!, 16);
  const n = Number(s);
  if (!Number.isFinite(n)) throw new Error(`bad numeric default ${s}`);
  return n;
}

/** Plain bytes, one at a time: slow and obviously right. */
export class ByteSink {
  private readonly bytes: number[] = [];
  raw(b: Uint8Array): void {
    for (const x of b) this.bytes.push(x);
  }
  private fixed(n: number, write: (b: Buffer) => void): void {
    const b = Buffer.alloc(n);
    write(b);
    this.raw(b);
  }
  int8(x: number): void {
    this.fixed(1, (b) => b.writeInt8(x));
  }
  int16(x: number): void {
    this.fixed(2, (b) => b.writeInt16BE(x));
  }
  uint16(x: number): void {
    this.fixed(2, (b) => b.writeUInt16BE(x));
  }
  int32(x: number): void {
    this.fixed(4, (b) => b.writeInt32BE(x));
  }
  uint32(x: number): void {
    this.fixed(4, (b) => b.writeUInt32BE(x));
  }
  int64(x: number): void {
    this.fixed(8, (b) => b.writeBigInt64BE(BigInt(x)));
  }
  float64(x: number): void {
    this.fixed(8, (b) => b.writeDoubleBE(x));
  }
  uvarint(x: number): void {
    let n = x;
    while (n >= 0x80) {
      this.bytes.push((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    this.bytes.push(n);
  }
  toBuffer(): Buffer {
    return Buffer.from(this.bytes);
  }
}

/** Buffers become `hex:...` strings and -0 stays distinct, so deep equality and diffs are readable. */
export function normalize(x: Value): Value {
  if (Buffer.isBuffer(x) || x instanceof Uint8Array) return `hex:${Buffer.from(x).toString('hex')}`;
  if (Array.isArray(x)) return x.map(normalize);
  if (x !== null && typeof x === 'object') {
    const o: Obj = {};
    for (const [k, y] of Object.entries(x)) o[k] = normalize(y);
    return o;
  }
  return x;
}

export function deepEqualNormalized(a: Value, b: Value): boolean {
  return deepEqual(normalize(a), normalize(b));
}

function deepEqual(a: Value, b: Value): boolean {
  if (Object.is(a, b)) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => deepEqual((a as Obj)[k], (b as Obj)[k]));
  }
  return false;
}

/** First differing byte, with hex context on both sides, for assertion messages. */
export function firstDiff(actual: Buffer, expected: Buffer): string {
  const n = Math.min(actual.length, expected.length);
  let i = 0;
  while (i < n && actual[i] === expected[i]) i++;
  if (i === n && actual.length === expected.length) return 'equal';
  const lo = Math.max(0, i - 8);
  return `lengths ${actual.length} vs ${expected.length}, first difference at byte ${i}: actual …${actual.subarray(lo, i + 16).toString('hex')} expected …${expected.subarray(lo, i + 16).toString('hex')}`;
}
