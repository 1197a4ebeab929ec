/**
 * The kernel's own layout descriptions, as trace.dat stores them (and tracefs shows them):
 * `events/<system>/<event>/format`, `events/header_page` and `events/header_event`. Every
 * offset, size and sign the decoder uses comes from here, never from a built-in table, so a
 * kernel that moves a field still decodes.
 */

export interface FieldFormat {
  name: string;
  /** The declared C type (`__u64`, `char[16]`, `__data_loc char[]`). */
  type: string;
  offset: number;
  size: number;
  signed: boolean;
  /** `__data_loc` (u32: length << 16 | offset from the record start) or `__rel_loc` (offset from the field's end). */
  loc?: 'data' | 'rel';
  /** A fixed array (`char comm[16]`): element count. */
  arrayLength?: number;
  /** A char array or data_loc char[]: decoded as text. */
  text: boolean;
}

export interface EventFormat {
  id: number;
  system: string;
  name: string;
  /** The event's own fields (after the common_ ones). */
  fields: FieldFormat[];
  byName: Map<string, FieldFormat>;
  /** Where common_pid is (every event has it). */
  pid: FieldFormat | undefined;
}

export class FormatError extends Error {}

const FIELD = /^\s*field:(.*?);\s*offset:(\d+);\s*size:(\d+);(?:\s*signed:(\d+);)?/;

/** One `field:` line → its format, or undefined when it is not one. */
export function parseFieldLine(line: string): FieldFormat | undefined {
  const m = FIELD.exec(line);
  if (!m) return undefined;
  let decl = m[1]!.trim();
  const offset = Number(m[2]);
  const size = Number(m[3]);
  const signed = m[4] === '1';
  let loc: FieldFormat['loc'];
  if (decl.startsWith('__data_loc ')) {
    loc = 'data';
    decl = decl.slice(11);
  } else if (decl.startsWith('__rel_loc ')) {
    loc = 'rel';
    decl = decl.slice(10);
  }
  // `type name[N]`, `type[] name` (data_loc) or `type name`
  let arrayLength: number | undefined;
  const arr = /\[(\d*)\]\s*$/.exec(decl);
  if (arr) {
    if (arr[1]) arrayLength = Number(arr[1]);
    decl = decl.slice(0, arr.index).trim();
  }
  const sp = decl.lastIndexOf(' ');
  const name = sp < 0 ? decl : decl.slice(sp + 1);
  let type = sp < 0 ? '' : decl.slice(0, sp).trim();
  if (type.endsWith('[]')) type = type.slice(0, -2);
  const text = (arrayLength !== undefined || loc !== undefined) && /\bchar$/.test(type);
  return { name: name.replace(/^\*+/, ''), type, offset, size, signed, loc, arrayLength, text };
}

/**
 * The same text as V8's internalized string (as a literal is): the mapping compares every
 * record's event name with its literals, which is then a pointer comparison, not a compare
 * of the characters (V8 internalizes a property key; Object.keys gives it back).
 */
function internalized(s: string): string {
  return Object.keys({ [s]: 0 })[0] ?? s;
}

/** An event's `format` file (name, ID, fields; the print fmt is not needed). */
export function parseEventFormat(text: string, system: string): EventFormat {
  const name = /^name:\s*(\S+)/m.exec(text)?.[1];
  const id = /^ID:\s*(\d+)/m.exec(text)?.[1];
  if (!name || id === undefined) throw new FormatError(`an event format of system ${system} has no name or ID`);
  const fields: FieldFormat[] = [];
  let pid: FieldFormat | undefined;
  for (const line of text.split('\n')) {
    const f = parseFieldLine(line);
    if (!f) continue;
    if (f.name === 'common_pid') pid = f;
    else if (!f.name.startsWith('common_')) fields.push(f);
  }
  return new ParsedFormat(Number(id), internalized(system), internalized(name), fields, new Map(fields.map((f) => [f.name, f])), pid);
}

/**
 * An EventFormat as parsed: a class, not an object literal, so that its map is its own. Object
 * literals that begin with the same property share V8's maps: when another one (a shadow page's
 * `{ id: <a double>, ... }`, mid-import) widened `id`, every format's map was replaced and the
 * decode's optimized code, which checks the format's map per record, was thrown away.
 */
class ParsedFormat implements EventFormat {
  constructor(
    readonly id: number,
    readonly system: string,
    readonly name: string,
    readonly fields: FieldFormat[],
    readonly byName: Map<string, FieldFormat>,
    readonly pid: FieldFormat | undefined,
  ) {}
}

/** What the ring buffer's page header (header_page) says about where things are. */
export interface PageHeader {
  timestampOffset: number;
  commitOffset: number;
  /** 8 on a 64-bit kernel (local_t), 4 on 32-bit. */
  commitSize: number;
  dataOffset: number;
  /** Usable bytes in a page after the header. */
  dataSize: number;
}

export function parseHeaderPage(text: string): PageHeader {
  const by = new Map<string, FieldFormat>();
  for (const line of text.split('\n')) {
    const f = parseFieldLine(line);
    if (f && !by.has(f.name)) by.set(f.name, f);
  }
  const ts = by.get('timestamp');
  const commit = by.get('commit');
  const data = by.get('data');
  if (!ts || !commit || !data) throw new FormatError('the page header description (header_page) lacks timestamp, commit or data');
  if (commit.size !== 4 && commit.size !== 8) throw new FormatError(`the page header's commit field is ${commit.size} bytes (4 or 8 expected)`);
  return { timestampOffset: ts.offset, commitOffset: commit.offset, commitSize: commit.size, dataOffset: data.offset, dataSize: data.size };
}

/** The event header's special type_len values (header_event). */
export interface EventHeader {
  typeLenBits: number;
  deltaBits: number;
  padding: number;
  timeExtend: number;
  timeStamp: number;
  dataMax: number;
}

export function parseHeaderEvent(text: string): EventHeader {
  const num = (re: RegExp, what: string): number => {
    const m = re.exec(text);
    if (!m) throw new FormatError(`the event header description (header_event) does not give ${what}`);
    return Number(m[1]);
  };
  const h: EventHeader = {
    typeLenBits: num(/type_len\s*:\s*(\d+)\s*bits/, 'the type_len width'),
    deltaBits: num(/time_delta\s*:\s*(\d+)\s*bits/, 'the time_delta width'),
    padding: num(/padding\s*:\s*type\s*==\s*(\d+)/, 'the padding type'),
    timeExtend: num(/time_extend\s*:\s*type\s*==\s*(\d+)/, 'the time_extend type'),
    timeStamp: num(/time_stamp\s*:\s*type\s*==\s*(\d+)/, 'the time_stamp type'),
    dataMax: num(/data max type_len\s*==\s*(\d+)/, 'the largest data type_len'),
  };
  if (h.typeLenBits + h.deltaBits !== 32) throw new FormatError(`the event header is ${h.typeLenBits}+${h.deltaBits} bits (32 expected)`);
  return h;
}

/**
 * Event formats by id, parsed on first use: a trace.dat carries every event's format (thousands)
 * and a trace uses a few dozen, so only the ID of each is read up front, and each is kept as
 * where its text is (no object or view per format: reading 2,300 of them is part of every
 * import's start).
 */
export class FormatTable {
  /** Per entry: the text or bytes its format is in, where, and its system. */
  private readonly sources: (string | Uint8Array)[] = [];
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private readonly systems: string[] = [];
  /** The entry of each id (a later format of the same id replaces the earlier). */
  private readonly entryOf = new Map<number, number>();
  private readonly parsed = new Map<number, EventFormat | undefined>();
  private maxId = -1;
  /** `parsed` by id for the u16 ids records carry (null: none), looked up once per event; made at the first get. */
  private byId: (EventFormat | null | undefined)[] | undefined;

  /** Add a format file, as text or as its bytes (decoded only if an event of it comes). */
  add(text: string | Uint8Array, system: string): void {
    if (typeof text === 'string') this.entry(idOfText(text), text, 0, text.length, system);
    else this.addBytes(text, 0, text.length, system);
  }

  /** Add the format file in `bytes[start, end)` (kept, not copied: decoded only if an event of it comes). */
  addBytes(bytes: Uint8Array, start: number, end: number, system: string): void {
    this.entry(idOfBytes(bytes, start, end), bytes, start, end, system);
  }

  private entry(id: number | undefined, source: string | Uint8Array, start: number, end: number, system: string): void {
    if (id === undefined) throw new FormatError(`an event format of system ${system} has no ID`);
    this.entryOf.set(id, this.sources.length);
    this.sources.push(source);
    this.starts.push(start);
    this.ends.push(end);
    this.systems.push(system);
    if (this.parsed.size) this.parsed.delete(id);
    if (id > this.maxId) {
      this.maxId = id;
      this.byId = undefined;
    } else if (this.byId && this.byId[id] !== undefined) this.byId[id] = undefined;
  }

  /** Every id with a format is below this (an array by id needs no more). */
  get idLimit(): number {
    return Math.min(65536, this.maxId + 1);
  }

  get(id: number): EventFormat | undefined {
    const byId = (this.byId ??= new Array<EventFormat | null | undefined>(Math.min(65536, this.maxId + 1)));
    const known = id >= 0 && id < byId.length ? byId[id] : undefined;
    if (known !== undefined) return known ?? undefined;
    let f = this.parsed.get(id);
    if (f === undefined && !this.parsed.has(id)) {
      const e = this.entryOf.get(id);
      try {
        f = e === undefined ? undefined : parseEventFormat(this.text(e), this.systems[e]!);
      } catch (err) {
        // a damaged description: its events are kept, unnamed (event_<id>, raw)
        if (!(err instanceof FormatError)) throw err;
        f = undefined;
      }
      this.parsed.set(id, f);
    }
    if (id >= 0 && id < byId.length && Number.isInteger(id)) byId[id] = f ?? null;
    return f;
  }

  private text(e: number): string {
    const src = this.sources[e]!;
    const start = this.starts[e]!;
    const end = this.ends[e]!;
    if (typeof src === 'string') return start === 0 && end === src.length ? src : src.slice(start, end);
    return Buffer.from(src.buffer, src.byteOffset + start, end - start).toString('utf8');
  }

  get size(): number {
    return this.entryOf.size;
  }

  /**
   * A table as another thread received it: a structured clone keeps a table's data (its
   * format texts or bytes, the formats parsed so far), not its class.
   */
  static revive(clone: FormatTable): FormatTable {
    return Object.setPrototypeOf(clone, FormatTable.prototype) as FormatTable;
  }

  /** Where common_pid is: the same in every event of a kernel, so any format tells. */
  commonPid(): FieldFormat | undefined {
    for (const id of this.entryOf.keys()) {
      const f = this.get(id);
      if (f?.pid) return f.pid;
    }
    return undefined;
  }
}

function idOfText(text: string): number | undefined {
  const at = text.indexOf('\nID:');
  const m = at < 0 ? undefined : /^\s*(\d+)/.exec(text.slice(at + 4, at + 24));
  return m ? Number(m[1]) : undefined;
}

/** `ID: n` at the start of a line of `b[start, end)` (the second, after `name:`), read from the bytes without decoding them. */
function idOfBytes(b: Uint8Array, start: number, end: number): number | undefined {
  // hop from newline to newline (a native search): thousands of formats are read at every open
  for (let i = b.indexOf(10, start); i >= 0 && i + 4 < end; i = b.indexOf(10, i + 1)) {
    if (b[i + 1] !== 73 || b[i + 2] !== 68 || b[i + 3] !== 58) continue; // "ID:"
    let j = i + 4;
    while (j < end && (b[j] === 32 || b[j] === 9)) j++;
    let n = 0;
    const first = j;
    for (; j < end && b[j]! >= 48 && b[j]! <= 57; j++) n = n * 10 + b[j]! - 48;
    return j > first ? n : undefined;
  }
  return undefined;
}
