/**
 * Generates Tern's Kafka message codecs from Kafka's own JSON message definitions.
 *
 *   npm run build && node dist/scripts/gen-protocol.js [specDir]
 *
 * Input: ../shared/kafka/message-specs (*.json, Apache Kafka's clients/src/main/resources/common/message) and
 * ../shared/kafka/error-codes.tsv. Output (committed, marked generated, never edited by hand):
 *   src/protocol/messages/<Name>.ts   one file per message: interfaces, read/write for every valid version
 *   src/protocol/messages/index.ts    the API table: key, name, versions, flexible range, codecs
 *   src/protocol/errors.ts            Kafka error codes
 *
 * What the JSON grammar means (message-specs/README.md), as implemented here:
 * - a field exists in `versions`; in `taggedVersions` it is a tagged field (flexible versions only) with `tag`;
 * - `nullableVersions`: null is allowed (length -1, or -1 marker byte for structs);
 * - flexible versions (message `flexibleVersions`, or a field's own override) use compact strings, bytes and
 *   arrays (unsigned varint length+1) and end every struct with a tagged-field section;
 * - a field absent in a version reads as its default (`default`, else 0 / false / "" / empty / null records).
 * Which messages: every request/response whose `listeners` include `broker`, plus the two headers. Serving an
 * API is decided in src/kafka; generating more than is served costs nothing at run time.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface FieldSpec {
  name: string;
  type: string;
  versions: string;
  nullableVersions?: string;
  taggedVersions?: string;
  tag?: number;
  default?: string | number | boolean;
  fields?: FieldSpec[];
  flexibleVersions?: string;
  about?: string;
}

interface MessageSpec {
  apiKey?: number;
  type: 'request' | 'response' | 'header' | 'data' | 'metadata';
  listeners?: string[];
  name: string;
  validVersions: string;
  flexibleVersions: string;
  fields: FieldSpec[];
  commonStructs?: { name: string; versions: string; fields: FieldSpec[] }[];
  latestVersionUnstable?: boolean;
}

/** Inclusive version range; `hi` is Infinity for "N+", and the range is empty for "none". */
interface Range {
  lo: number;
  hi: number;
}

function parseRange(s: string | undefined): Range {
  if (s === undefined || s === 'none') return { lo: 1, hi: 0 };
  const t = s.trim();
  if (t.endsWith('+')) return { lo: Number(t.slice(0, -1)), hi: Infinity };
  const dash = t.indexOf('-');
  if (dash > 0) return { lo: Number(t.slice(0, dash)), hi: Number(t.slice(dash + 1)) };
  return { lo: Number(t), hi: Number(t) };
}

function isEmpty(r: Range): boolean {
  return r.lo > r.hi;
}

/** TypeScript condition "v is in r", simplified against the message's valid versions. */
function cond(r: Range, valid: Range, v = 'v'): string {
  if (isEmpty(r)) return 'false';
  const lo = r.lo > valid.lo ? `${v} >= ${r.lo}` : '';
  const hi = r.hi < valid.hi ? `${v} <= ${r.hi}` : '';
  if (lo && hi) return r.lo === r.hi ? `${v} === ${r.lo}` : `${lo} && ${hi}`;
  return lo || hi || 'true';
}

function intersect(a: Range, b: Range): Range {
  return { lo: Math.max(a.lo, b.lo), hi: Math.min(a.hi, b.hi) };
}

/** Strips `//` comments (outside strings) from Kafka's commented JSON. */
function stripComments(text: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else {
      out += c;
    }
  }
  return out;
}

const PRIMITIVE_TS: Record<string, string> = {
  int8: 'number',
  int16: 'number',
  uint16: 'number',
  int32: 'number',
  uint32: 'number',
  int64: 'number',
  float64: 'number',
  bool: 'boolean',
  string: 'string',
  bytes: 'Buffer',
  uuid: 'string',
  records: 'RecordsValue',
};

/** Fixed wire size of a primitive (lower bound for variable ones), used to bound array counts. */
const PRIMITIVE_MIN_BYTES: Record<string, number> = {
  int8: 1,
  bool: 1,
  int16: 2,
  uint16: 2,
  int32: 4,
  uint32: 4,
  int64: 8,
  float64: 8,
  uuid: 16,
  string: 1,
  bytes: 1,
  records: 1,
};

function camel(name: string): string {
  return name[0]!.toLowerCase() + name.slice(1);
}

class MessageGen {
  readonly valid: Range;
  readonly flex: Range;
  readonly structs = new Map<string, FieldSpec[]>();
  readonly common = new Map<string, FieldSpec[]>();
  readonly out: string[] = [];

  constructor(readonly spec: MessageSpec) {
    this.valid = parseRange(spec.validVersions);
    this.flex = parseRange(spec.flexibleVersions);
    for (const c of spec.commonStructs ?? []) this.common.set(c.name, c.fields);
  }

  elementType(f: FieldSpec): string {
    return f.type.startsWith('[]') ? f.type.slice(2) : f.type;
  }

  isArray(f: FieldSpec): boolean {
    return f.type.startsWith('[]');
  }

  isStructType(t: string): boolean {
    return !(t in PRIMITIVE_TS);
  }

  structFields(f: FieldSpec): FieldSpec[] {
    const t = this.elementType(f);
    if (f.fields) return f.fields;
    const c = this.common.get(t);
    if (!c) throw new Error(`${this.spec.name}: unknown struct type ${t}`);
    return c;
  }

  collect(fields: FieldSpec[]): void {
    for (const f of fields) {
      const t = this.elementType(f);
      if (!this.isStructType(t)) continue;
      const sub = this.structFields(f);
      if (!this.structs.has(t)) {
        this.structs.set(t, sub);
        this.collect(sub);
      }
    }
  }

  /** Versions (within valid) in which the field is nullable. */
  nullable(f: FieldSpec): Range {
    return intersect(parseRange(f.nullableVersions), this.valid);
  }

  everNullable(f: FieldSpec): boolean {
    return !isEmpty(this.nullable(f));
  }

  tsType(f: FieldSpec, input: boolean): string {
    const t = this.elementType(f);
    let base = this.isStructType(t) ? (input ? `${t}In` : t) : PRIMITIVE_TS[t]!;
    if (this.isArray(f)) base = `${base}[]`;
    if (t === 'records' && !this.isArray(f)) return base; // RecordsValue already includes null
    return this.everNullable(f) ? `${base} | null` : base;
  }

  defaultExpr(f: FieldSpec): string {
    const t = this.elementType(f);
    const d = f.default;
    if (this.isArray(f)) return d === 'null' ? 'null' : '[]';
    if (d === 'null') return 'null';
    switch (t) {
      case 'bool':
        return d === undefined ? 'false' : String(d === true || d === 'true');
      case 'string':
        return JSON.stringify(d === undefined ? '' : String(d));
      case 'bytes':
        return 'EMPTY_BYTES';
      case 'records':
        return 'null';
      case 'uuid':
        return 'ZERO_UUID';
      default:
        if (t in PRIMITIVE_TS) return d === undefined ? '0' : String(Number(d));
        return this.everNullable(f) ? 'null' : `default${t}()`;
    }
  }

  /** The compact-encoding condition of a field: its own flexibleVersions override, else the message's. */
  compactExpr(f: FieldSpec): string {
    if (f.flexibleVersions !== undefined) {
      const r = intersect(parseRange(f.flexibleVersions), this.valid);
      return cond(r, this.valid);
    }
    return isEmpty(intersect(this.flex, this.valid)) ? 'false' : 'flex';
  }

  minBytes(t: string): number {
    return this.isStructType(t) ? 1 : PRIMITIVE_MIN_BYTES[t]!;
  }

  readScalar(t: string, f: FieldSpec, r: string, nullable: string): string {
    const c = this.compactExpr(f);
    switch (t) {
      case 'int8':
      case 'int16':
      case 'uint16':
      case 'int32':
      case 'uint32':
      case 'int64':
      case 'float64':
      case 'bool':
      case 'uuid':
        return `${r}.${t}()`;
      case 'string':
        return nullable === 'false' ? `${r}.string(${c})` : `(${nullable} ? ${r}.nullableString(${c}) : ${r}.string(${c}))`;
      case 'bytes':
        return nullable === 'false' ? `${r}.bytes(${c})` : `(${nullable} ? ${r}.nullableBytes(${c}) : ${r}.bytes(${c}))`;
      case 'records':
        return `${r}.records(${c})`;
      default:
        return `read${t}(${r}, v)`;
    }
  }

  readExpr(f: FieldSpec, r: string): string {
    const t = this.elementType(f);
    const nullable = cond(this.nullable(f), this.valid);
    if (this.isArray(f)) {
      const elem = this.readScalar(t, { ...f, nullableVersions: undefined }, r, 'false');
      return `readArray(${r}, ${this.compactExpr(f)}, ${this.minBytes(t)}, ${nullable}, () => ${elem})`;
    }
    if (this.isStructType(t)) {
      const inner = `read${t}(${r}, v)`;
      return nullable === 'false' ? inner : `(${nullable} && ${r}.int8() < 0 ? null : ${inner})`;
    }
    return this.readScalar(t, f, r, nullable);
  }

  writeScalar(t: string, f: FieldSpec, w: string, val: string, nullable: string): string {
    const c = this.compactExpr(f);
    switch (t) {
      case 'int8':
      case 'int16':
      case 'uint16':
      case 'int32':
      case 'uint32':
      case 'int64':
      case 'float64':
      case 'bool':
      case 'uuid':
        return `${w}.${t}(${val})`;
      case 'string':
        return nullable === 'false' ? `${w}.string(nonNull(${val}, '${f.name}'), ${c})` : `${w}.nullableString(${val}, ${c})`;
      case 'bytes':
        return nullable === 'false' ? `${w}.bytes(nonNull(${val}, '${f.name}'), ${c})` : `${w}.nullableBytes(${val}, ${c})`;
      case 'records':
        return `${w}.records(${val}, ${c})`;
      default:
        return `write${t}(${w}, v, ${val})`;
    }
  }

  writeStmt(f: FieldSpec, w: string, val: string): string {
    const t = this.elementType(f);
    const nullable = cond(this.nullable(f), this.valid);
    if (this.isArray(f)) {
      const elem = this.writeScalar(t, { ...f, nullableVersions: undefined }, w, 'e', 'false');
      return `writeArray(${w}, ${this.compactExpr(f)}, ${nullable}, ${val}, '${f.name}', (e) => ${elem});`;
    }
    if (this.isStructType(t)) {
      if (nullable === 'false') return `write${t}(${w}, v, nonNull(${val}, '${f.name}'));`;
      return `writeNullableStruct(${w}, ${nullable}, ${val}, '${f.name}', (s) => write${t}(${w}, v, s));`;
    }
    return `${this.writeScalar(t, f, w, val, nullable)};`;
  }

  /** Expression that is true when a tagged field's value equals its default (and so is not written). */
  isDefaultExpr(f: FieldSpec, val: string): string {
    const t = this.elementType(f);
    if (this.isArray(f)) return f.default === 'null' ? `${val} === null` : `(${val} === null || ${val}.length === 0)`;
    if (this.isStructType(t)) return this.everNullable(f) ? `${val} === null` : `isDefault${t}(${val})`;
    if (t === 'bytes') return `(${val} === null || ${val}.length === 0)`;
    if (t === 'records') return `${val} === null`;
    return `${val} === ${this.defaultExpr(f)}`;
  }

  emitStruct(name: string, fields: FieldSpec[], top: boolean): void {
    const o = this.out;
    const doc = top ? `/** ${this.spec.name}, versions ${this.spec.validVersions} (flexible ${this.spec.flexibleVersions}). */\n` : '';
    const live = fields.filter((f) => !isEmpty(intersect(parseRange(f.versions), this.valid)));
    o.push(`${doc}export interface ${name} {`);
    for (const f of live) o.push(`  ${camel(f.name)}: ${this.tsType(f, false)};`);
    o.push('}', '');
    o.push(`/** Input form of ${name}: absent fields are written as their defaults. */`);
    o.push(`export interface ${name}In {`);
    for (const f of live) o.push(`  ${camel(f.name)}?: ${this.tsType(f, true)};`);
    o.push('}', '');

    // defaults
    o.push(`export function default${name}(): ${name} {`);
    o.push('  return {');
    for (const f of live) o.push(`    ${camel(f.name)}: ${this.defaultExpr(f)},`);
    o.push('  };', '}', '');

    const tagged = live.filter((f) => !isEmpty(intersect(parseRange(f.taggedVersions), this.valid)));
    const regularRange = (f: FieldSpec): Range => {
      const vr = intersect(parseRange(f.versions), this.valid);
      const tr = parseRange(f.taggedVersions);
      if (isEmpty(tr)) return vr;
      // Kafka requires taggedVersions to be a suffix of versions; the regular part is what comes before it.
      return { lo: vr.lo, hi: Math.min(vr.hi, tr.lo - 1) };
    };
    const flexCond = cond(this.flex, this.valid);

    if (!top) {
      o.push(`export function isDefault${name}(s: ${name}In): boolean {`);
      const checks = live.map((f) => {
        const k = `s.${camel(f.name)}`;
        return `(${k} === undefined || ${this.isDefaultExpr(f, k)})`;
      });
      o.push(`  return ${checks.length ? checks.join(' &&\n    ') : 'true'};`, '}', '');
    }

    // reader
    const usesFlex = flexCond !== 'false';
    o.push(`${top ? 'export ' : ''}function read${name}(r: Reader, v: number): ${name} {`);
    if (usesFlex) o.push(`  const flex = ${flexCond};`);
    o.push(`  const o = default${name}();`);
    for (const f of live) {
      const rr = regularRange(f);
      if (isEmpty(rr)) continue;
      const c = cond(rr, this.valid);
      const stmt = `o.${camel(f.name)} = ${this.readExpr(f, 'r')};`;
      o.push(c === 'true' ? `  ${stmt}` : `  if (${c}) ${stmt}`);
    }
    if (usesFlex) {
      if (tagged.length) {
        o.push('  if (flex) {');
        o.push('    r.taggedFields((tag, t) => {');
        o.push('      switch (tag) {');
        for (const f of tagged) {
          const c = cond(intersect(parseRange(f.taggedVersions), this.valid), this.valid);
          o.push(`        case ${f.tag}:`);
          o.push(`          if (${c}) o.${camel(f.name)} = ${this.readExpr(f, 't')};`);
          o.push('          break;');
        }
        o.push('        default:', '          break; // unknown tags are skipped, as the protocol requires');
        o.push('      }', '    });', '  }');
      } else {
        o.push('  if (flex) r.taggedFields(skipTaggedField);');
      }
    }
    o.push('  return o;', '}', '');

    // writer
    o.push(`${top ? 'export ' : ''}function write${name}(w: Writer, v: number, m: ${name}In): void {`);
    if (usesFlex) o.push(`  const flex = ${flexCond};`);
    for (const f of live) {
      const rr = regularRange(f);
      if (isEmpty(rr)) continue;
      const c = cond(rr, this.valid);
      const k = `m.${camel(f.name)}`;
      // `??` would turn an explicit null into the default; nullable fields test for undefined only.
      const val = this.everNullable(f) || this.elementType(f) === 'records' ? `(${k} === undefined ? ${this.defaultExpr(f)} : ${k})` : `(${k} ?? ${this.defaultExpr(f)})`;
      const stmt = this.writeStmt(f, 'w', val);
      o.push(c === 'true' ? `  ${stmt}` : `  if (${c}) ${stmt}`);
    }
    if (usesFlex) {
      if (tagged.length) {
        o.push('  if (flex) {');
        o.push('    const tagged: [number, (t: Writer) => void][] = [];');
        for (const f of [...tagged].sort((a, b) => (a.tag ?? 0) - (b.tag ?? 0))) {
          const c = cond(intersect(parseRange(f.taggedVersions), this.valid), this.valid);
          const k = `m.${camel(f.name)}`;
          o.push(`    if (${c} && ${k} !== undefined && !(${this.isDefaultExpr(f, k)})) {`);
          o.push(`      const x = ${k};`);
          o.push(`      tagged.push([${f.tag}, (t) => { ${this.writeStmt(f, 't', 'x')} }]);`);
          o.push('    }');
        }
        o.push('    writeTaggedFields(w, tagged);', '  }');
      } else {
        o.push('  if (flex) w.uvarint(0);');
      }
    }
    o.push('}', '');
  }

  generate(): string {
    this.collect(this.spec.fields);
    const o = this.out;
    o.push(`// GENERATED by scripts/gen-protocol.ts from ${this.spec.name}.json — DO NOT EDIT.`);
    o.push('/* eslint-disable */');
    o.push(
      "import { Reader, Writer, ZERO_UUID, type RecordsValue } from '../codec.js';",
      "import { EMPTY_BYTES, nonNull, readArray, skipTaggedField, writeArray, writeNullableStruct, writeTaggedFields } from '../codec-support.js';",
      '',
    );
    o.push(`export const ${this.spec.name}Versions = { min: ${this.valid.lo}, max: ${this.valid.hi}, flexibleMin: ${isEmpty(this.flex) ? 'Infinity' : this.flex.lo} } as const;`, '');
    this.emitStruct(this.spec.name, this.spec.fields, true);
    for (const [name, fields] of this.structs) this.emitStruct(name, fields, false);
    let text = o.join('\n');
    // Drop imports the file does not use (strict noUnusedLocals).
    for (const sym of ['ZERO_UUID', 'EMPTY_BYTES', 'nonNull', 'readArray', 'skipTaggedField', 'writeArray', 'writeNullableStruct', 'writeTaggedFields']) {
      const uses = text.split(sym).length - 1;
      if (uses === 1) text = text.replace(new RegExp(`(, )?${sym}(, )?`), (_m, a, b) => (a && b ? ', ' : ''));
    }
    text = text.replace(', type RecordsValue', text.split('RecordsValue').length > 2 ? ', type RecordsValue' : '');
    return text.replace(/import \{ {2}\} from '..\/codec-support.js';\n/, '').replace(/import \{\s*\} from [^\n]+\n/, '');
  }
}

function main(): void {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const root = path.resolve(here, here.includes(`${path.sep}dist${path.sep}`) ? '../..' : '..');
  const specDir = path.resolve(process.argv[2] ?? path.join(root, '../shared/kafka/message-specs'));
  const outDir = path.join(root, 'src/protocol/messages');
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(outDir, { recursive: true });

  const specs: MessageSpec[] = [];
  for (const file of fs.readdirSync(specDir).sort()) {
    if (!file.endsWith('.json')) continue;
    const spec = JSON.parse(stripComments(fs.readFileSync(path.join(specDir, file), 'utf8'))) as MessageSpec;
    const served = spec.type === 'header' || ((spec.type === 'request' || spec.type === 'response') && spec.listeners?.includes('broker'));
    const responseOfServed = spec.type === 'response';
    if (served || responseOfServed) specs.push(spec);
  }
  const requests = new Map(specs.filter((s) => s.type === 'request').map((s) => [s.apiKey!, s]));
  const kept = specs.filter((s) => s.type === 'header' || requests.has(s.apiKey!));

  for (const spec of kept) {
    fs.writeFileSync(path.join(outDir, `${spec.name}.ts`), new MessageGen(spec).generate());
  }

  // API table
  const idx: string[] = [
    '// GENERATED by scripts/gen-protocol.ts — DO NOT EDIT.',
    "import type { Reader, Writer } from '../codec.js';",
  ];
  const apis = [...requests.values()].sort((a, b) => a.apiKey! - b.apiKey!);
  for (const s of kept) {
    if (s.type === 'request') idx.push(`import { read${s.name}, write${s.name}, ${s.name}Versions } from './${s.name}.js';`);
    if (s.type === 'response') idx.push(`import { read${s.name}, write${s.name} } from './${s.name}.js';`);
    idx.push(`export { read${s.name}, write${s.name}, ${s.name}Versions, type ${s.name}, type ${s.name}In } from './${s.name}.js';`);
  }
  idx.push('', 'export interface ApiSpec {', '  key: number;', '  name: string;', '  minVersion: number;', '  maxVersion: number;');
  idx.push('  /** First flexible version (compact encodings, tagged fields, request header v2 / response header v1). */');
  idx.push('  flexibleMin: number;', '  /** Kafka marks the newest version unstable: never advertise it. */', '  latestVersionUnstable: boolean;');
  idx.push('  readRequest(r: Reader, v: number): unknown;', '  writeRequest(w: Writer, v: number, m: never): void;');
  idx.push('  readResponse(r: Reader, v: number): unknown;', '  writeResponse(w: Writer, v: number, m: never): void;', '}', '');
  idx.push('/** Every API Kafka brokers serve, by key. Which of them Tern serves is decided in src/kafka. */');
  idx.push('export const API_SPECS: ReadonlyMap<number, ApiSpec> = new Map<number, ApiSpec>([');
  for (const s of apis) {
    const base = s.name.replace(/Request$/, '');
    const resp = `${base}Response`;
    idx.push(
      `  [${s.apiKey}, { key: ${s.apiKey}, name: '${base}', minVersion: ${s.name}Versions.min, maxVersion: ${s.name}Versions.max, flexibleMin: ${s.name}Versions.flexibleMin, latestVersionUnstable: ${Boolean(s.latestVersionUnstable)}, readRequest: read${s.name}, writeRequest: write${s.name} as ApiSpec['writeRequest'], readResponse: read${resp}, writeResponse: write${resp} as ApiSpec['writeResponse'] }],`,
    );
  }
  idx.push(']);', '');
  idx.push('export const ApiKey = {');
  for (const s of apis) idx.push(`  ${s.name.replace(/Request$/, '')}: ${s.apiKey},`);
  idx.push('} as const;', '');
  fs.writeFileSync(path.join(outDir, 'index.ts'), idx.join('\n'));

  // Error codes
  const tsv = fs.readFileSync(path.join(specDir, '../error-codes.tsv'), 'utf8').trim().split('\n').slice(1);
  const err: string[] = ['// GENERATED by scripts/gen-protocol.ts from error-codes.tsv — DO NOT EDIT.', '', '/** Kafka error codes (response data, never thrown). */', 'export const ErrorCode = {'];
  const msgs: string[] = [];
  for (const line of tsv) {
    const [code, name, message] = line.split('\t');
    err.push(`  ${name}: ${code},`);
    msgs.push(`  [${code}, ${JSON.stringify(name)}, ${JSON.stringify(message ?? '')}],`);
  }
  err.push('} as const;', '', 'export type ErrorCodeName = keyof typeof ErrorCode;', '');
  err.push('const TABLE: [number, string, string][] = [', ...msgs, '];', '');
  err.push('const BY_CODE = new Map(TABLE.map(([c, n, m]) => [c, { name: n, message: m }]));', '');
  err.push('/** Name and message of an error code (UNKNOWN for codes Kafka does not define). */');
  err.push("export function describeError(code: number): { name: string; message: string } {\n  return BY_CODE.get(code) ?? { name: `UNKNOWN_${code}`, message: '' };\n}", '');
  fs.writeFileSync(path.join(root, 'src/protocol/errors.ts'), err.join('\n'));
  process.stdout.write(`generated ${kept.length} messages, ${apis.length} APIs, ${tsv.length} error codes into ${path.relative(root, outDir)}\n`);
}

main();
