/**
 * The writer's side of the event encoding (the chunk body's layout is in codec.ts): one
 * LaneEncoder per lane turns events into a chunk body, with an encoder per event type
 * generated from the type table.
 */
import type { FieldKind, MmuEvent } from '../core/events.ts';
import { KIND_CODE, currentTypeTable } from './codec.ts';
import { ByteWriter, utf8 } from './format.ts';
interface EncType {
  id: number;
  name: string;
  /** For `vmexit`: positions of its reason, handling and duration fields (for the index statistics). */
  exit?: { reason: number; handling: number; duration: number };
  /** Writes the event's id, time delta, mask and fields (generated, see `makeEncoder`). */
  encode: (enc: LaneEncoder, event: unknown, w: ByteWriter, t: number) => void;
  fields: { name: string; kind: FieldKind; code: number; optBit: number }[];
  optionalCount: number;
}

/** Write `v` (a non-negative safe integer) as a varuint at `pos`; the caller made room. Returns the new position. */
function put(buf: Uint8Array, pos: number, v: number): number {
  if (v < 0x80) {
    buf[pos] = v;
    return pos + 1;
  }
  if (v < 0x80000000) {
    while (v >= 0x80) {
      buf[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
  } else {
    while (v >= 0x80) {
      buf[pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
  }
  buf[pos++] = v;
  return pos;
}

const textEncoder = new TextEncoder();
/** Texts up to this many UTF-16 units are tried as ASCII first (see putText). */
const ASCII_LOOP_MAX = 512;

/** Bytes of the varuint of `v` (a non-negative safe integer). */
function varuintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/**
 * Write a `text` field (byteLength varuint + UTF-8) at `pos`, leaving room for `extra` more
 * bytes; returns the new position. The bytes are encoded in place (`encodeInto`), not into a
 * new array per string: imported traces write a text per raw event.
 */
function putText(w: ByteWriter, pos: number, s: string, extra: number): number {
  // UTF-8 takes at most 3 bytes per UTF-16 unit; the length is first guessed as one byte per unit
  const n = s.length;
  const guess = varuintSize(n);
  w.pos = pos;
  w.ensure(guess + 3 * n + 10 + extra);
  const buf = w.buf;
  // a short ASCII text (an imported trace's, every raw event and walk) is copied by a loop: a
  // subarray and an encodeInto call per string cost more than the bytes
  if (n <= ASCII_LOOP_MAX) {
    const at = pos + guess;
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      buf[at + i] = c;
    }
    if (i === n) return put(buf, pos, n) + n;
  }
  const written = textEncoder.encodeInto(s, buf.subarray(pos + guess)).written;
  const size = varuintSize(written);
  if (size !== guess) buf.copyWithin(pos + size, pos + guess, pos + guess + written);
  return put(buf, pos, written) + written;
}


function isCount(v: unknown): v is number {
  return typeof v === 'number' && ((v >>> 0) === v || (v >= 0 && v <= Number.MAX_SAFE_INTEGER && Number.isInteger(v)));
}

function bad(type: string, field: string, what: string, v: unknown): never {
  throw new TypeError(`${type}.${field} must be ${what} (got ${typeof v === 'bigint' ? v.toString() + 'n' : String(v)})`);
}

/**
 * Build a type's encoder from its table entry: straight-line code with constant property names,
 * so each property load only sees events of one type and no per-field dispatch remains. The
 * generated code follows the body layout in the file comment; it is generated from the table,
 * never written by hand per type.
 */
function makeEncoder(
  typeName: string,
  id: number,
  fields: { name: string; kind: FieldKind; optBit: number }[],
  exit: { reason: number; handling: number; duration: number } | undefined,
): EncType['encode'] {
  const L: string[] = [];
  const q = JSON.stringify;
  L.push('let buf = w.buf; let pos = w.pos;');
  L.push(`pos = put(buf, pos, ${id});`);
  L.push('pos = put(buf, pos, t - enc.tMax);');
  fields.forEach((f, i) => L.push(`const v${i} = e[${q(f.name)}];`));
  if (fields.some((f) => f.optBit >= 0)) {
    L.push('let mask = 0;');
    fields.forEach((f, i) => {
      if (f.optBit >= 0) L.push(`if (v${i} !== undefined) mask |= ${1 << f.optBit};`);
    });
    L.push('pos = put(buf, pos, mask);');
  }
  fields.forEach((f, i) => {
    const v = `v${i}`;
    const body: string[] = [];
    switch (f.kind) {
      case 'u32':
      case 'addr':
      case 'ns':
        body.push(`if (!isCount(${v})) bad(${q(typeName)}, ${q(f.name)}, 'a non-negative integer', ${v});`);
        body.push(`pos = put(buf, pos, ${v});`);
        if (f.kind === 'ns') body.push(`if (t + ${v} > enc.spanEnd) enc.spanEnd = t + ${v};`);
        break;
      case 'pte':
        body.push(`if (typeof ${v} !== 'bigint' || ${v} < 0n || ${v} > 0xffffffffffffffffn) bad(${q(typeName)}, ${q(f.name)}, 'a 64-bit bigint', ${v});`);
        body.push(`if (${v} <= 0x1fffffffffffffn) pos = put(buf, pos, Number(${v})); else { w.pos = pos; w.varuint64(${v}); pos = w.pos; }`);
        break;
      case 'str': {
        const slot = id * 64 + i;
        body.push(`if (typeof ${v} !== 'string') bad(${q(typeName)}, ${q(f.name)}, 'a string', ${v});`);
        body.push(`const s${i} = enc.lastStr[${slot}] === ${v} ? enc.lastIdx[${slot}] : enc.strSlot(${slot}, ${v});`);
        body.push(`pos = put(buf, pos, s${i});`);
        break;
      }
      case 'text':
        body.push(`if (typeof ${v} !== 'string') bad(${q(typeName)}, ${q(f.name)}, 'a string', ${v});`);
        body.push(`w.pos = putText(w, pos, ${v}, ${10 * (fields.length - i)}); buf = w.buf; pos = w.pos;`);
        break;
    }
    if (f.optBit >= 0) L.push(`if (${v} !== undefined) { ${body.join(' ')} }`);
    else L.push(`if (${v} === undefined) bad(${q(typeName)}, ${q(f.name)}, 'present', ${v});`, ...body);
  });
  if (exit) L.push(`enc.exitStat(s${exit.reason}, s${exit.handling}, v${exit.duration});`);
  L.push('w.pos = pos;');
  const factory = new Function('put', 'isCount', 'bad', 'putText', `return function encode_${typeName.replace(/\W/g, '_')}(enc, e, w, t) {\n${L.join('\n')}\n};`);
  return factory(put, isCount, bad, putText) as EncType['encode'];
}

/** Encodes events of one lane into a chunk body; one instance per lane, reset after each chunk. */
export class LaneEncoder {
  private static types: Map<string, EncType> | undefined;
  private readonly events = new ByteWriter(1 << 16);
  private readonly dict = new Map<string, number>();
  private readonly dictList: string[] = [];
  private types: Map<string, EncType> | undefined;
  /** Last string and its dictionary index, per (type id * 64 + field): engine strings repeat. */
  readonly lastStr: (string | undefined)[] = [];
  readonly lastIdx: number[] = [];
  /** Exit statistics keyed by dictionary index (converted to maps when the chunk is flushed). */
  private exitByReason: number[] = [];
  private exitNsSum: number[] = [];
  private exitNsMin: number[] = [];
  private exitNsMax: number[] = [];
  private exitByHandling: number[] = [];
  count = 0;
  tMin = 0;
  tMax = 0;
  spanEnd = 0;
  /** Per-chunk statistics, for the index: events per type id, exits per reason. */
  private typeIds: number[] = [];

  get typeCounts(): Map<string, number> {
    const m = new Map<string, number>();
    for (const t of LaneEncoder.table().values()) if (this.typeIds[t.id]) m.set(t.name, this.typeIds[t.id]!);
    return m;
  }

  private static table(): Map<string, EncType> {
    if (!LaneEncoder.types) {
      const m = new Map<string, EncType>();
      currentTypeTable().forEach((t, id) => {
        let opt = 0;
        const fields = t.fields.map((fl) => ({ name: fl.name, kind: fl.kind, code: KIND_CODE[fl.kind], optBit: fl.optional ? opt++ : -1 }));
        const at = (name: string, kind: FieldKind) => fields.findIndex((fl) => fl.name === name && fl.kind === kind);
        const exit = t.name === 'vmexit' ? { reason: at('reason', 'str'), handling: at('handling', 'str'), duration: at('duration', 'ns') } : undefined;
        const exitInfo = exit && exit.reason >= 0 && exit.handling >= 0 && exit.duration >= 0 ? exit : undefined;
        const encode = makeEncoder(t.name, id, fields, exitInfo);
        m.set(t.name, { id, name: t.name, fields, optionalCount: opt, encode, ...(exitInfo ? { exit: exitInfo } : {}) });
      });
      LaneEncoder.types = m;
    }
    return LaneEncoder.types;
  }

  get rawSize(): number {
    return this.events.pos;
  }

  private strIndex(s: string): number {
    let i = this.dict.get(s);
    if (i === undefined) {
      i = this.dictList.length;
      this.dict.set(s, i);
      this.dictList.push(s);
    }
    return i;
  }

  /** The dictionary index of `v` for string slot `slot`, remembering it (engine strings repeat). */
  strSlot(slot: number, v: string): number {
    const idx = this.strIndex(v);
    this.lastStr[slot] = v;
    this.lastIdx[slot] = idx;
    return idx;
  }

  /** Count one exit in this chunk's statistics (reason and handling as dictionary indexes). */
  exitStat(reasonIdx: number, handlingIdx: number, d: number): void {
    const n = this.exitByReason[reasonIdx];
    if (n === undefined) {
      this.exitByReason[reasonIdx] = 1;
      this.exitNsSum[reasonIdx] = d;
      this.exitNsMin[reasonIdx] = d;
      this.exitNsMax[reasonIdx] = d;
    } else {
      this.exitByReason[reasonIdx] = n + 1;
      this.exitNsSum[reasonIdx]! += d;
      if (d < this.exitNsMin[reasonIdx]!) this.exitNsMin[reasonIdx] = d;
      if (d > this.exitNsMax[reasonIdx]!) this.exitNsMax[reasonIdx] = d;
    }
    this.exitByHandling[handlingIdx] = (this.exitByHandling[handlingIdx] ?? 0) + 1;
  }

  /**
   * Append one event; returns its type id (in currentTypeTable(), the table the header
   * carries). Throws on an event that breaks the event table's contract (a bug in the producer).
   */
  add(event: MmuEvent): number {
    const type = (this.types ??= LaneEncoder.table()).get(event.type);
    if (!type) throw new TypeError(`unknown event type ${JSON.stringify(event.type)}`);
    const t = event.t;
    if (!isCount(t)) throw new TypeError(`event time must be a non-negative integer (got ${String(t)})`);
    if (this.count === 0) {
      this.tMin = t;
      this.tMax = t;
      this.spanEnd = t;
    } else if (t < this.tMax) {
      throw new RangeError(`time went backwards on vm ${event.vm} vcpu ${event.vcpu}: ${t} after ${this.tMax}`);
    }
    // The event is all or nothing: if a field breaks the contract, the bytes written so far
    // are taken back before the error is thrown.
    const w = this.events;
    const start = w.pos;
    w.ensure(24 + type.fields.length * 10);
    try {
      type.encode(this, event, w, t);
    } catch (e) {
      w.pos = start;
      throw e;
    }
    this.tMax = t;
    if (t > this.spanEnd) this.spanEnd = t;
    this.count++;
    this.typeIds[type.id] = (this.typeIds[type.id] ?? 0) + 1;
    return type.id;
  }

  /** Exits per reason in this chunk. */
  get exitReasons(): Map<string, number> {
    const m = new Map<string, number>();
    this.exitByReason.forEach((n, i) => m.set(this.dictList[i]!, n));
    return m;
  }
  /** Per exit reason: [total ns, min ns, max ns]. */
  get exitNs(): Map<string, [number, number, number]> {
    const m = new Map<string, [number, number, number]>();
    this.exitByReason.forEach((_, i) => m.set(this.dictList[i]!, [this.exitNsSum[i]!, this.exitNsMin[i]!, this.exitNsMax[i]!]));
    return m;
  }
  get exitHandlings(): Map<string, number> {
    const m = new Map<string, number>();
    this.exitByHandling.forEach((n, i) => m.set(this.dictList[i]!, n));
    return m;
  }

  /** The chunk body: dictionary then events. */
  body(): Uint8Array {
    const head = new ByteWriter(256);
    head.varuint(this.dictList.length);
    for (const s of this.dictList) {
      const b = utf8(s);
      head.varuint(b.length);
      head.raw(b);
    }
    const out = new Uint8Array(head.pos + this.events.pos);
    out.set(head.bytes(), 0);
    out.set(this.events.bytes(), head.pos);
    return out;
  }

  reset(): void {
    this.events.reset();
    this.dict.clear();
    this.dictList.length = 0;
    this.count = 0;
    this.typeIds = [];
    this.lastStr.length = 0;
    this.lastIdx.length = 0;
    this.exitByReason = [];
    this.exitNsSum = [];
    this.exitNsMin = [];
    this.exitNsMax = [];
    this.exitByHandling = [];
  }
}
