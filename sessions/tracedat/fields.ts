/**
 * An event's fields read from its payload bytes by its format: offsets, sizes and signs from
 * the kernel's description. `PayloadFields` is the import's view of them (a ReadonlyMap by field
 * name) that reads a field only when asked: the mapping reads two or three fields of an event,
 * and building a map of every field of every event was most of the import's garbage.
 */
import type { EventFormat, FieldFormat } from './formats.ts';

/** A field's value: a number when exact, a bigint past 2^53, text for char arrays (hex bytes for other arrays). */
export type FieldValue = number | bigint | string;

/** One field of the payload at `base` (length bytes) of `v`; undefined when the payload is too short. */
export function readField(v: DataView, base: number, length: number, f: FieldFormat, littleEndian: boolean): FieldValue | undefined {
  if (f.loc) {
    if (f.offset + 4 > length) return undefined;
    const word = v.getUint32(base + f.offset, littleEndian);
    const start = (word & 0xffff) + (f.loc === 'rel' ? f.offset + f.size : 0);
    const len = word >>> 16;
    if (start + len > length) return undefined;
    return f.text ? cString(v, base + start, len) : hexBytes(v, base + start, len);
  }
  if (f.offset + f.size > length) return undefined;
  if (f.arrayLength !== undefined) return f.text ? cString(v, base + f.offset, f.size) : hexBytes(v, base + f.offset, f.size);
  const at = base + f.offset;
  switch (f.size) {
    case 1:
      return f.signed ? v.getInt8(at) : v.getUint8(at);
    case 2:
      return f.signed ? v.getInt16(at, littleEndian) : v.getUint16(at, littleEndian);
    case 4:
      return f.signed ? v.getInt32(at, littleEndian) : v.getUint32(at, littleEndian);
    case 8: {
      const lo = v.getUint32(at + (littleEndian ? 0 : 4), littleEndian);
      const hi = v.getUint32(at + (littleEndian ? 4 : 0), littleEndian);
      if (hi < 0x200000) return hi * 4294967296 + lo; // below 2^53: exact as a number
      const big = f.signed ? v.getBigInt64(at, littleEndian) : v.getBigUint64(at, littleEndian);
      return big >= -9007199254740991n && big <= 9007199254740991n ? Number(big) : big;
    }
    default:
      return hexBytes(v, at, f.size);
  }
}

function cString(v: DataView, at: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) {
    const c = v.getUint8(at + i);
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  return s;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function hexBytes(v: DataView, at: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += HEX[v.getUint8(at + i)]!;
  return s;
}

/**
 * A payload's fields by name, read on demand. Holds the payload's bytes (the page or chunk
 * buffer they are in, which the reader never reuses), so it stays valid after the reader moves on.
 */
export class PayloadFields implements ReadonlyMap<string, FieldValue> {
  constructor(
    private readonly view: DataView,
    private readonly base: number,
    private readonly length: number,
    private readonly format: EventFormat | undefined,
    private readonly le: boolean,
  ) {}

  get(name: string): FieldValue | undefined {
    const f = this.format?.byName.get(name);
    return f ? readField(this.view, this.base, this.length, f, this.le) : undefined;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  get size(): number {
    let n = 0;
    for (const f of this.format?.fields ?? []) if (readField(this.view, this.base, this.length, f, this.le) !== undefined) n++;
    return n;
  }

  /** Every readable field, in the format's order (an array's iterator: cheaper than a generator here). */
  private list(): [string, FieldValue][] {
    const out: [string, FieldValue][] = [];
    for (const f of this.format?.fields ?? []) {
      const v = readField(this.view, this.base, this.length, f, this.le);
      if (v !== undefined) out.push([f.name, v]);
    }
    return out;
  }

  entries(): MapIterator<[string, FieldValue]> {
    return this.list()[Symbol.iterator]() as MapIterator<[string, FieldValue]>;
  }

  keys(): MapIterator<string> {
    const keys = this.list().map(([k]) => k);
    return keys[Symbol.iterator]() as MapIterator<string>;
  }

  values(): MapIterator<FieldValue> {
    const values = this.list().map(([, v]) => v);
    return values[Symbol.iterator]() as MapIterator<FieldValue>;
  }

  [Symbol.iterator](): MapIterator<[string, FieldValue]> {
    return this.entries();
  }

  forEach(cb: (value: FieldValue, key: string, map: ReadonlyMap<string, FieldValue>) => void): void {
    const fields = this.format?.fields;
    if (!fields) return;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      const v = readField(this.view, this.base, this.length, f, this.le);
      if (v !== undefined) cb(v, f.name, this);
    }
  }
}

/** All of a payload's own fields as a plain object (the common_ ones left out). */
export function fieldsObject(view: DataView, base: number, length: number, format: EventFormat | undefined, le: boolean): Record<string, FieldValue> {
  // field names come from the trace's format text: no prototype, so `__proto__` is a plain key
  const out = Object.create(null) as Record<string, FieldValue>;
  for (const f of format?.fields ?? []) {
    const v = readField(view, base, length, f, le);
    if (v !== undefined) out[f.name] = v;
  }
  return out;
}
