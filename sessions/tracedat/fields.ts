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

/** A C string of at most `len` bytes (to its NUL), one byte per char (as libtraceevent prints it). */
function cString(v: DataView, at: number, len: number): string {
  const bytes = new Uint8Array(v.buffer, v.byteOffset + at, len);
  const nul = bytes.indexOf(0);
  // one string made at once, not a char at a time
  return Buffer.from(bytes.buffer, bytes.byteOffset, nul < 0 ? len : nul).toString('latin1');
}

/** Bytes as lower-case hex digits, two per byte. */
function hexBytes(v: DataView, at: number, len: number): string {
  return Buffer.from(v.buffer, v.byteOffset + at, len).toString('hex');
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

  /**
   * The fields as `name=value` text, as fieldsText (sessions/import/fields.ts) prints any
   * fields, written as bytes and made into one string: a raw event's text per event, without
   * a string per name, value and separator.
   */
  fieldsText(): string {
    const fields = this.format?.fields;
    if (!fields) return '';
    let buf = scratch;
    let pos = 0;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      const v = readField(this.view, this.base, this.length, f, this.le);
      if (v === undefined) continue;
      const value = typeof v === 'number' ? v : typeof v === 'bigint' ? '0x' + v.toString(16) : v;
      const room = pos + f.name.length + 2 + (typeof value === 'number' ? 24 : value.length);
      if (room > buf.length) buf = scratch = grow(buf, room);
      if (pos > 0) buf[pos++] = 32;
      pos = putLatin1(buf, pos, f.name);
      buf[pos++] = 61; // =
      pos = typeof value === 'number' ? putDecimal(buf, pos, value) : putLatin1(buf, pos, value);
      if (pos < 0) return fieldsTextSlow(this);
    }
    return buf.toString('latin1', 0, pos);
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

let scratch: Buffer = Buffer.allocUnsafe(4096);

function grow(buf: Buffer, need: number): Buffer {
  const next = Buffer.allocUnsafe(Math.max(need, buf.length * 2));
  buf.copy(next);
  return next;
}

/** `s` as one byte per char at `pos`; -1 (nothing usable) when a char does not fit a byte. */
function putLatin1(buf: Buffer, pos: number, s: string): number {
  if (pos < 0) return pos;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255) return -1;
    buf[pos++] = c;
  }
  return pos;
}

/** An integer as String() writes it (decimal, a sign when negative; below 2^53, so never an exponent). */
function putDecimal(buf: Buffer, pos: number, v: number): number {
  if (pos < 0) return pos;
  if (!Number.isInteger(v)) return putLatin1(buf, pos, String(v));
  if (v < 0) {
    buf[pos++] = 45; // -
    v = -v;
  }
  let digits = 1;
  for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
  for (let i = pos + digits - 1; i >= pos; i--) {
    buf[i] = 48 + (v % 10);
    v = Math.floor(v / 10);
  }
  return pos + digits;
}

/** fieldsText's generic form (a name or text past one byte per char). */
function fieldsTextSlow(f: PayloadFields): string {
  let text = '';
  f.forEach((v, k) => (text += (text === '' ? '' : ' ') + k + '=' + (typeof v === 'bigint' ? '0x' + v.toString(16) : String(v))));
  return text;
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
