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
 *
 * Here: the type table and the decoders; the encoder is laneEncoder.ts.
 */
import { EVENT_SCHEMAS, EVENT_TYPES, type FieldKind, type MmuEvent } from '../core/events.ts';
import { ByteReader, FormatError, CAPS, fromUtf8 } from './format.ts';

export const FIELD_KINDS: readonly FieldKind[] = ['u32', 'addr', 'pte', 'ns', 'str', 'text'];

/** The kinds as the codes the decoders switch on. */
export const KIND_CODE: Record<FieldKind, number> = { u32: 0, addr: 1, pte: 2, ns: 3, str: 4, text: 5 };

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
