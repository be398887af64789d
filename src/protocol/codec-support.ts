/**
 * Helpers shared by the generated message codecs (messages/*.ts): arrays, nullable structs, tagged fields.
 * Hand-written; the generator only emits calls to these.
 */
import { Reader, Writer, ProtocolError } from './codec.js';

export const EMPTY_BYTES: Buffer = Buffer.alloc(0);

export function nonNull<T>(v: T | null, field: string): T {
  if (v === null) throw new TypeError(`field ${field} is not nullable in this version`);
  return v;
}

/** Reads an array whose count is bounded by the bytes left (see Reader.arrayLength). */
export function readArray<T>(r: Reader, compact: boolean, minElementBytes: number, nullable: true, elem: () => T): T[] | null;
export function readArray<T>(r: Reader, compact: boolean, minElementBytes: number, nullable: false, elem: () => T): T[];
export function readArray<T>(r: Reader, compact: boolean, minElementBytes: number, nullable: boolean, elem: () => T): T[] | null;
export function readArray<T>(r: Reader, compact: boolean, minElementBytes: number, nullable: boolean, elem: () => T): T[] | null {
  const n = r.arrayLength(compact, minElementBytes);
  if (n < 0) {
    if (nullable) return null;
    throw new ProtocolError('null in a non-nullable array field');
  }
  const out: T[] = new Array<T>(n);
  for (let i = 0; i < n; i++) out[i] = elem();
  return out;
}

export function writeArray<T>(w: Writer, compact: boolean, nullable: boolean, items: readonly T[] | null, field: string, elem: (e: T) => void): void {
  if (items === null) {
    if (!nullable) throw new TypeError(`field ${field} is not nullable in this version`);
    w.arrayLength(null, compact);
    return;
  }
  w.arrayLength(items.length, compact);
  for (const e of items) elem(e);
}

export function writeNullableStruct<T>(w: Writer, nullable: boolean, s: T | null, field: string, write: (s: T) => void): void {
  if (!nullable) {
    write(nonNull(s, field));
    return;
  }
  if (s === null) {
    w.int8(-1);
    return;
  }
  w.int8(1);
  write(s);
}

export function skipTaggedField(): void {
  // unknown tagged fields are ignored; Reader.taggedFields already skips their bytes
}

/** Writes a tagged-field section: count, then per field tag, size, bytes, in ascending tag order. */
export function writeTaggedFields(w: Writer, fields: [number, (t: Writer) => void][]): void {
  w.uvarint(fields.length);
  for (const [tag, write] of fields) {
    const t = new Writer(64);
    write(t);
    const body = t.finish();
    w.uvarint(tag);
    w.uvarint(body.length);
    w.raw(body);
  }
}


