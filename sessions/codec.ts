/**
 * Event encoding inside an EVTS chunk, derived generically from core/events.ts.
 *
 * A file carries its own event-type table in the header (names, fields, kinds), so a reader
 * decodes with the table the file was written with, not with its own: a field added later
 * is simply absent from older files, and an event type this reader does not know can still
 * be skipped exactly.
 *
 * Body of an event chunk (after decompression):
 *   dictCount varuint, then dictCount × (byteLength varuint, UTF-8 bytes)   -- the chunk's strings
 *   count × event:
 *     typeId varuint            index into the header's eventTypes
 *     dt varuint                t minus the previous event's t (the first event: minus the chunk's tMin)
 *     mask varuint              only if the type has optional fields: bit i = i-th optional field present
 *     fields in table order     u32/addr/ns: varuint; pte: 64-bit varuint; str: dictionary index varuint;
 *                               text: byteLength varuint + UTF-8
 */
import { EVENT_SCHEMAS, EVENT_TYPES, type FieldKind, type MmuEvent } from '../core/events.ts';
import { ByteReader, ByteWriter, FormatError, CAPS, fromUtf8, utf8 } from './format.ts';

export const FIELD_KINDS: readonly FieldKind[] = ['u32', 'addr', 'pte', 'ns', 'str', 'text'];

export interface FileField {
  name: string;
  kind: FieldKind;
  optional?: boolean;
}
export interface FileEventType {
  name: string;
  fields: FileField[];
}

/** The event-type table this writer puts in the header: EVENT_SCHEMAS, in table order. */
export function currentTypeTable(): FileEventType[] {
  return EVENT_TYPES.map((name) => ({
    name,
    fields: EVENT_SCHEMAS[name].map((fs) => ({
      name: fs.name,
      kind: fs.kind,
      ...('optional' in fs && fs.optional ? { optional: true } : {}),
    })),
  }));
}

/** Check a type table read from a file; returns a problem or undefined. */
export function checkTypeTable(table: unknown): string | undefined {
  if (!Array.isArray(table)) return 'the event-type table is missing';
  if (table.length > CAPS.maxEventTypes) return `the event-type table declares ${table.length} types (at most ${CAPS.maxEventTypes})`;
  for (const t of table as unknown[]) {
    if (!t || typeof t !== 'object') return 'an event type is not an object';
    const { name, fields } = t as { name?: unknown; fields?: unknown };
    if (typeof name !== 'string') return 'an event type has no name';
    if (!Array.isArray(fields) || fields.length > 64) return `event type ${name} has no valid field list`;
    for (const fl of fields as unknown[]) {
      const { name: fname, kind } = (fl ?? {}) as { name?: unknown; kind?: unknown };
      if (typeof fname !== 'string') return `a field of ${name} has no name`;
      if (typeof kind !== 'string' || !FIELD_KINDS.includes(kind as FieldKind))
        return `field ${name}.${fname} has kind ${JSON.stringify(kind)}, which this reader does not know (a newer MMU Lab wrote it)`;
    }
  }
  return undefined;
}

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

const KIND_CODE: Record<FieldKind, number> = { u32: 0, addr: 1, pte: 2, ns: 3, str: 4, text: 5 };

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

  /** Append one event. Throws on an event that breaks the event table's contract (a bug in the producer). */
  add(event: MmuEvent): void {
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

/** What `ChunkDecoder.scan` extracts from a chunk. */
export interface ChunkColumns {
  /** Time of every event. */
  times: Float64Array;
  /** Type id of every event (in the file's type table). */
  typeIds: Uint16Array;
  /** Per vmexit: its position in the chunk, duration, reason and handling. */
  exitAt: Uint32Array;
  exitDur: Float64Array;
  exitReason: string[];
  exitHandling: string[];
  /** Events per type id of the file's type table. */
  typeCounts: Uint32Array;
  /** Sum of the page_walk events' `refs`. */
  walkRefs: number;
}

/** A decoder for one file's type table. */
/** An event type as the decoder walks it: field kind codes and optional-field bits. */
interface DecodeType {
  name: string;
  fields: { name: string; kind: number; optBit: number }[];
  optionalCount: number;
}

/**
 * Estimated heap bytes of what decoding builds, calibrated on V8 (Node 20): an event object
 * with its t, vm, vcpu and type costs about 56 bytes and each field 24 more (a guest_fault, two
 * fields, measures 104 bytes); a string about 40 bytes plus two per UTF-8 byte at most.
 */
export const DECODE_COST = { event: 56, field: 24, string: 40, perByte: 2, slot: 8 } as const;

/** Decoding a chunk would build more than the memory it was allowed (see `ChunkDecoder.decode`). */
export class ChunkTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`decoding it would take more than ${Math.round(limit / (1 << 20))} MB of memory`);
    this.name = 'ChunkTooLarge';
  }
}

/** The chunk dictionary that starts every event chunk body: a count, then that many length-prefixed UTF-8 strings. */
function readChunkDictionary(r: ByteReader, bodyLength: number, budget = Infinity): { dict: string[]; cost: number } {
  const count = r.varuint();
  if (count > CAPS.maxDictStrings || count > bodyLength) throw new FormatError('the chunk dictionary is too large');
  let cost = DECODE_COST.slot * count;
  if (cost > budget) throw new ChunkTooLarge(budget);
  const dict: string[] = new Array<string>(count);
  for (let i = 0; i < count; i++) {
    const len = r.varuint();
    cost += DECODE_COST.string + DECODE_COST.perByte * len;
    if (cost > budget) throw new ChunkTooLarge(budget);
    dict[i] = fromUtf8(r.bytes(len));
  }
  return { dict, cost };
}

export class ChunkDecoder {
  private readonly types: DecodeType[];

  constructor(table: FileEventType[]) {
    this.types = table.map((t) => {
      let opt = 0;
      const fields = t.fields.map((fl) => ({ name: fl.name, kind: KIND_CODE[fl.kind], optBit: fl.optional ? opt++ : -1 }));
      return { name: t.name, fields, optionalCount: opt };
    });
  }

  /** @internal the type of a type id, for ChunkStream */
  typeOf(typeId: number): DecodeType {
    const type = this.types[typeId];
    if (!type) throw new FormatError(`event type id ${typeId} is not in the session's type table`);
    return type;
  }

  /**
   * A light pass over a chunk that builds no event objects: every event's time, and for each
   * `vmexit` its position, duration, reason and handling. Throws FormatError on malformed bytes.
   */
  scan(body: Uint8Array, count: number, tMin: number, budget = Infinity): ChunkColumns {
    const r = new ByteReader(body);
    const { dict } = readChunkDictionary(r, body.length, budget);
    const dictCount = dict.length;
    const times = new Float64Array(count);
    const typeIds = new Uint16Array(count);
    const exitAt: number[] = [];
    const exitDur: number[] = [];
    const exitReason: string[] = [];
    const exitHandling: string[] = [];
    const exitId = this.types.findIndex((t) => t.name === 'vmexit');
    const exitType = this.types[exitId];
    const fReason = exitType?.fields.findIndex((f) => f.name === 'reason' && f.kind === 4) ?? -1;
    const fHandling = exitType?.fields.findIndex((f) => f.name === 'handling' && f.kind === 4) ?? -1;
    const fDuration = exitType?.fields.findIndex((f) => f.name === 'duration' && f.kind === 3) ?? -1;
    const walkId = this.types.findIndex((t) => t.name === 'page_walk');
    const fRefs = this.types[walkId]?.fields.findIndex((f) => f.name === 'refs' && f.kind === 0) ?? -1;
    const typeCounts = new Uint32Array(this.types.length);
    let walkRefs = 0;
    let t = tMin;
    for (let i = 0; i < count; i++) {
      const typeId = r.varuint();
      const type = this.typeOf(typeId);
      t += r.varuint();
      times[i] = t;
      typeIds[i] = typeId;
      typeCounts[typeId]!++;
      const isExit = typeId === exitId;
      const isWalk = typeId === walkId;
      const mask = type.optionalCount > 0 ? r.varuint() : 0;
      const fields = type.fields;
      let reason = '';
      let handling = '';
      let duration = 0;
      for (let k = 0; k < fields.length; k++) {
        const fl = fields[k]!;
        if (fl.optBit >= 0 && !(mask & (1 << fl.optBit))) continue;
        if (fl.kind === 2) r.skipVaruint64();
        else if (fl.kind === 5) r.bytes(r.varuint());
        else if (fl.kind !== 4 && !isExit && !isWalk) r.skipVaruint();
        else {
          const v = r.varuint();
          if (fl.kind === 4 && v >= dictCount) throw new FormatError(`string ${v} is not in the chunk dictionary`);
          if (isExit) {
            if (k === fReason) reason = dict[v]!;
            else if (k === fHandling) handling = dict[v]!;
            else if (k === fDuration) duration = v;
          } else if (isWalk && k === fRefs) walkRefs += v;
        }
      }
      if (isExit) {
        exitAt.push(i);
        exitDur.push(duration);
        exitReason.push(reason);
        exitHandling.push(handling);
      }
    }
    if (r.remaining !== 0) throw new FormatError(`${r.remaining} bytes left over after the chunk's events`);
    return { times, typeIds, exitAt: Uint32Array.from(exitAt), exitDur: Float64Array.from(exitDur), exitReason, exitHandling, typeCounts, walkRefs };
  }

  /**
   * Decode `count` events of lane (vm, vcpu). Throws FormatError on malformed bytes, and
   * ChunkTooLarge as soon as what it builds would pass `budget` bytes (DECODE_COST's estimate),
   * so a hostile chunk is refused before it fills memory. `cost` receives the estimate.
   */
  decode(body: Uint8Array, count: number, vm: number, vcpu: number, tMin: number, budget = Infinity, cost?: { bytes: number }): MmuEvent[] {
    const stream = new ChunkStream(this, body, count, vm, vcpu, tMin, budget);
    const out = stream.next(count);
    if (cost) cost.bytes = stream.cost;
    return out;
  }
}

/**
 * The events of one chunk, decoded a batch at a time: it holds the body, the dictionary and
 * the batch asked for, not every event (a merge of many lanes of large chunks needs this).
 */
export class ChunkStream {
  private readonly r: ByteReader;
  private readonly dict: string[];
  private t: number;
  /** Events decoded so far. */
  done = 0;
  /** Estimated heap bytes built so far (DECODE_COST), the dictionary's included. */
  cost: number;
  readonly dictCost: number;

  constructor(
    private readonly dec: ChunkDecoder,
    body: Uint8Array,
    readonly count: number,
    private readonly vm: number,
    private readonly vcpu: number,
    tMin: number,
    private readonly budget = Infinity,
  ) {
    this.r = new ByteReader(body);
    const head = readChunkDictionary(this.r, body.length, budget);
    this.dict = head.dict;
    this.dictCost = head.cost;
    this.cost = head.cost;
    this.t = tMin;
  }

  /** The next `n` events (fewer at the end); after the last, checks the body was consumed exactly. */
  next(n: number): MmuEvent[] {
    const m = Math.max(0, Math.min(n, this.count - this.done));
    const r = this.r;
    const dict = this.dict;
    const { vm, vcpu, budget } = this;
    let bytes = this.cost + DECODE_COST.slot * m;
    let t = this.t;
    const out: MmuEvent[] = new Array<MmuEvent>(m);
    for (let i = 0; i < m; i++) {
      const typeId = r.varuint();
      const type = this.dec.typeOf(typeId);
      t += r.varuint();
      const ev: Record<string, unknown> = { t, vm, vcpu, type: type.name };
      const mask = type.optionalCount > 0 ? r.varuint() : 0;
      bytes += DECODE_COST.event + DECODE_COST.field * type.fields.length;
      if (bytes > budget) throw new ChunkTooLarge(budget);
      for (const fl of type.fields) {
        if (fl.optBit >= 0 && !(mask & (1 << fl.optBit))) continue;
        switch (fl.kind) {
          case 2:
            ev[fl.name] = r.varuint64();
            break;
          case 4: {
            const idx = r.varuint();
            const s = dict[idx];
            if (s === undefined) throw new FormatError(`string ${idx} is not in the chunk dictionary`);
            ev[fl.name] = s;
            break;
          }
          case 5: {
            const len = r.varuint();
            bytes += DECODE_COST.string + DECODE_COST.perByte * len;
            if (bytes > budget) throw new ChunkTooLarge(budget);
            ev[fl.name] = fromUtf8(r.bytes(len));
            break;
          }
          default:
            ev[fl.name] = r.varuint();
        }
      }
      out[i] = ev as unknown as MmuEvent;
    }
    this.t = t;
    this.cost = bytes;
    this.done += m;
    if (this.done === this.count && r.remaining !== 0) throw new FormatError(`${r.remaining} bytes left over after the chunk's events`);
    return out;
  }
}
