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
  /** Writes the event's id, time delta `dt`, mask and fields (generated, see `makeEncoder`). */
  encode: (enc: LaneEncoder, event: unknown, w: ByteWriter, t: number, dt: number) => void;
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
 * Texts up to this many UTF-16 units keep their encoded bytes in a writer's text cache, at most
 * TEXT_CACHE_SIZE of them (the cache is emptied when full): an import's texts repeat (a
 * 325 k-record trace.dat writes ~90 k walk entries and raw payloads with ~330 distinct values),
 * and copying the bytes found by a native hash lookup costs less than a loop over the characters.
 */
const TEXT_CACHE_MAX_LENGTH = 256;
const TEXT_CACHE_SIZE = 512;

/**
 * Write a `text` field (byteLength varuint + UTF-8) at `pos`, leaving room for `extra` more
 * bytes; returns the new position. A text seen before is copied from `cache`; a new
 * one is encoded in place (a loop for short ASCII, else `encodeInto`), not into a new array per
 * string, and then kept if short.
 */
function putText(cache: Map<string, Uint8Array>, w: ByteWriter, pos: number, s: string, extra: number): number {
  const known = cache.get(s);
  if (known !== undefined) {
    let buf = w.buf;
    if (pos + known.length + extra > buf.length) {
      w.pos = pos;
      w.ensure(known.length + extra);
      buf = w.buf;
    }
    buf.set(known, pos);
    return pos + known.length;
  }
  const end = encodeText(w, pos, s, extra);
  if (s.length <= TEXT_CACHE_MAX_LENGTH) {
    if (cache.size >= TEXT_CACHE_SIZE) cache.clear();
    cache.set(s, w.buf.slice(pos, end));
  }
  return end;
}

/** putText's encoding of a text not in the cache. */
function encodeText(w: ByteWriter, pos: number, s: string, extra: number): number {
  // UTF-8 takes at most 3 bytes per UTF-16 unit; the length is first guessed as one byte per unit
  const n = s.length;
  const guess = n < 0x80 ? 1 : varuintSize(n);
  let buf = w.buf;
  if (pos + guess + 3 * n + 10 + extra > buf.length) {
    w.pos = pos;
    w.ensure(guess + 3 * n + 10 + extra);
    buf = w.buf;
  }
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
    if (i === n) {
      if (n < 0x80) {
        buf[pos] = n;
        return at + n;
      }
      return put(buf, pos, n) + n;
    }
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

/** A u32/addr/ns field the generated code's uint32 test did not take: check it, then write it. */
function putCount(buf: Uint8Array, pos: number, v: unknown, type: string, field: string): number {
  if (!isCount(v)) bad(type, field, 'a non-negative integer', v);
  return put(buf, pos, v);
}

/** The varuint bytes of `v` as a JS list of constants (for ids known when the encoder is generated). */
function constBytes(v: number): number[] {
  const out: number[] = [];
  const b = new Uint8Array(10);
  const n = put(b, 0, v);
  for (let i = 0; i < n; i++) out.push(b[i]!);
  return out;
}

/**
 * Build a type's encoder from its table entry: straight-line code with constant property names,
 * so each property load only sees events of one type and no per-field dispatch remains. The
 * generated code follows the body layout in the file comment; it is generated from the table,
 * never written by hand per type.
 *
 * What is known per type is settled here rather than per event: the type id's bytes, the room
 * an event needs (but texts), whether the mask fits one byte. A number field that is a uint32
 * (nearly all: counts, codes, small addresses, durations) is checked and written inline, one
 * byte when below 128; anything else goes through the full check. The first ~50 k events of an
 * import run in V8's interpreter, where each call and check left out counts several times.
 */
function makeEncoder(
  typeName: string,
  id: number,
  fields: { name: string; kind: FieldKind; optBit: number }[],
  exit: { reason: number; handling: number; duration: number } | undefined,
): EncType['encode'] {
  const L: string[] = [];
  const q = JSON.stringify;
  const T = q(typeName);
  /**
   * Write `v`, known to be a uint32, inline. A loop rather than a branch per length: a branch
   * first taken after V8 optimized the encoder (a time step below 128 after thousands above)
   * has no type feedback and throws the optimized code away; a loop's skipped body does not.
   */
  let tmp = 0;
  const putU32 = (v: string) => {
    const x = `x${tmp++}`;
    return `let ${x} = ${v}; while (${x} >= 0x80) { buf[pos++] = (${x} & 0x7f) | 0x80; ${x} >>>= 7; } buf[pos++] = ${x};`;
  };
  L.push('let buf = w.buf; let pos = w.pos;');
  // the room ensured per event (texts ensure their own): the largest varuints of id, dt, mask and every field
  L.push(`if (pos + ${24 + fields.length * 10} > buf.length) { w.ensure(${24 + fields.length * 10}); buf = w.buf; }`);
  for (const b of constBytes(id)) L.push(`buf[pos++] = ${b};`);
  // (dt is a uint32 but for a chunk's first event or a step of more than 4.3 s)
  L.push(`if (dt <= 0xffffffff) { ${putU32('dt')} } else pos = put(buf, pos, dt);`);
  fields.forEach((f, i) => L.push(`const v${i} = e[${q(f.name)}];`));
  // up to 7 optional fields the mask is one byte: its place is kept and it is filled at the end,
  // so each optional field is tested once (more: the mask's varuint is written first)
  const optional = fields.filter((f) => f.optBit >= 0).length;
  const maskLater = optional > 0 && optional <= 7;
  if (optional) L.push('let mask = 0;');
  if (maskLater) L.push('const maskAt = pos++;');
  else if (optional) {
    fields.forEach((f, i) => {
      if (f.optBit >= 0) L.push(`if (v${i} !== undefined) mask |= ${1 << f.optBit};`);
    });
    L.push('pos = put(buf, pos, mask);');
  }
  fields.forEach((f, i) => {
    const v = `v${i}`;
    const present = f.optBit >= 0 ? '' : `if (${v} === undefined) bad(${T}, ${q(f.name)}, 'present', ${v});`;
    const body: string[] = [];
    switch (f.kind) {
      case 'u32':
      case 'addr':
      case 'ns':
        // (a missing required field fails the uint32 test: it is reported from the other branch)
        body.push(`if (typeof ${v} === 'number' && (${v} >>> 0) === ${v}) { ${putU32(v)} }`);
        body.push(`else { ${present} pos = putCount(buf, pos, ${v}, ${T}, ${q(f.name)}); }`);
        if (f.kind === 'ns') body.push(`if (t + ${v} > enc.spanEnd) enc.spanEnd = t + ${v};`);
        break;
      case 'pte':
        body.push(present);
        body.push(`if (typeof ${v} !== 'bigint' || ${v} < 0n || ${v} > 0xffffffffffffffffn) bad(${T}, ${q(f.name)}, 'a 64-bit bigint', ${v});`);
        body.push(`if (${v} <= 0x1fffffffffffffn) pos = put(buf, pos, Number(${v})); else { w.pos = pos; w.varuint64(${v}); pos = w.pos; }`);
        break;
      case 'str': {
        const slot = id * 64 + i;
        body.push(`if (typeof ${v} !== 'string') { ${present} bad(${T}, ${q(f.name)}, 'a string', ${v}); }`);
        body.push(`const s${i} = enc.lastStr[${slot}] === ${v} ? enc.lastIdx[${slot}] : enc.strSlot(${slot}, ${v});`);
        body.push(`if (s${i} < 0x80) buf[pos++] = s${i}; else pos = put(buf, pos, s${i});`);
        break;
      }
      case 'text':
        body.push(`if (typeof ${v} !== 'string') { ${present} bad(${T}, ${q(f.name)}, 'a string', ${v}); }`);
        // (putText may move the buffer: the bytes before pos go with it)
        body.push(`pos = putText(enc.texts, w, pos, ${v}, ${10 * (fields.length - i)}); buf = w.buf;`);
        break;
    }
    if (f.optBit < 0) L.push(...body);
    else L.push(`if (${v} !== undefined) { ${maskLater ? `mask |= ${1 << f.optBit}; ` : ''}${body.join(' ')} }`);
  });
  if (maskLater) L.push('buf[maskAt] = mask;');
  if (exit) L.push(`enc.exitStat(s${exit.reason}, s${exit.handling}, v${exit.duration});`);
  L.push('w.pos = pos;');
  const factory = new Function('put', 'putCount', 'bad', 'putText', `return function encode_${typeName.replace(/\W/g, '_')}(enc, e, w, t, dt) {\n${L.join('\n')}\n};`);
  return factory(put, putCount, bad, putText) as EncType['encode'];
}

/** Encodes events of one lane into a chunk body; one instance per lane, reset after each chunk. */
export class LaneEncoder {
  /**
   * @param texts encoded texts by their string (see putText), shared by a writer's lanes and kept
   *   across chunks: the bytes depend on the text alone.
   */
  constructor(readonly texts = new Map<string, Uint8Array>()) {}

  private static types: Map<string, EncType> | undefined;
  /** The chunk's encoded events (the writer reads its `pos` per event: a field, where `rawSize` is a call in cold code). */
  readonly events = new ByteWriter(1 << 16);
  private readonly dict = new Map<string, number>();
  private readonly dictList: string[] = [];
  private readonly types = LaneEncoder.table();
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
  private readonly typeIds = new Uint32Array(this.types.size);

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
        // generated at the type's first event: an import uses a handful of the types, and each costs a compile
        const type: EncType = {
          id,
          name: t.name,
          fields,
          optionalCount: opt,
          encode: (enc, e, w, time, dt) => {
            type.encode = makeEncoder(t.name, id, fields, exitInfo);
            type.encode(enc, e, w, time, dt);
          },
          ...(exitInfo ? { exit: exitInfo } : {}),
        };
        m.set(t.name, type);
      });
      LaneEncoder.types = m;
    }
    return LaneEncoder.types;
  }

  /** Bytes of events encoded for the chunk. */
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
   * carries). Throws on an event that breaks the event table's contract (a bug in the producer),
   * or whose time is before the lane's last event (in this chunk or the ones before).
   */
  add(event: MmuEvent): number {
    let type = this.types.get(event.type);
    const t = event.t;
    // One test covers the time's contract and its order: tMax is a checked integer (kept across
    // chunks), so a step from it that is a uint32 makes t a non-negative integer that does not
    // go back. A longer step and every error take `check`.
    let dt: number;
    if (type === undefined || typeof t !== 'number' || ((dt = t - this.tMax) >>> 0) !== dt || t > Number.MAX_SAFE_INTEGER) {
      type = this.check(event, type);
      dt = t - this.tMax;
    }
    // A chunk's first event starts its span and has a step of 0. Selects rather than a branch:
    // code first run at the second chunk, after V8 optimized this, has no type feedback and
    // would throw the optimized code away.
    const first = this.count === 0;
    this.tMin = first ? t : this.tMin;
    this.spanEnd = first ? t : this.spanEnd;
    if (first) dt = 0;
    // The event is all or nothing: if a field breaks the contract, the bytes written so far
    // are taken back before the error is thrown.
    const w = this.events;
    const start = w.pos;
    try {
      type.encode(this, event, w, t, dt);
    } catch (e) {
      w.pos = start;
      throw e;
    }
    this.tMax = t;
    if (t > this.spanEnd) this.spanEnd = t;
    this.count++;
    this.typeIds[type.id]!++;
    return type.id;
  }

  /** The full checks of `add`, in its order (tMax becomes t only once the event is written: an event refused leaves the lane's order as it was). */
  private check(event: MmuEvent, type: EncType | undefined): EncType {
    const t = event.t;
    const backwards = () => new RangeError(`time went backwards on vm ${event.vm} vcpu ${event.vcpu}: ${t} after ${this.tMax}`);
    // (tMax outlives the chunk: the lane's next chunk starts at or after it)
    if (this.count === 0 && t < this.tMax) throw backwards();
    if (!type) throw new TypeError(`unknown event type ${JSON.stringify(event.type)}`);
    if (!isCount(t)) throw new TypeError(`event time must be a non-negative integer (got ${String(t)})`);
    if (this.count !== 0 && t < this.tMax) throw backwards();
    return type;
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
    this.typeIds.fill(0);
    this.lastStr.length = 0;
    this.lastIdx.length = 0;
    this.exitByReason = [];
    this.exitNsSum = [];
    this.exitNsMin = [];
    this.exitNsMax = [];
    this.exitByHandling = [];
  }
}
