/**
 * trace-cmd's trace.dat, versions 6 and 7 (see docs/import.md): the file's header, its metadata
 * (the ring buffer's header descriptions, the event formats, the saved command lines) and where
 * each CPU's ring-buffer pages are. Version 6 lays the metadata out one after another; version 7
 * puts it in sections found through chained options sections, any of them compressed (zlib or
 * zstd). Only what the import needs is read: kallsyms and printk formats are skipped unread.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { zstdDecompress } from './zstd.ts';
import { FormatTable, parseHeaderEvent, parseHeaderPage, type EventHeader, type PageHeader } from './formats.ts';

/** The file cannot be read as a trace.dat (one sentence for the user). */
export class TraceDatError extends Error {}

export const TRACE_DAT_MAGIC = [0x17, 0x08, 0x44];

/** True when the bytes start like a trace.dat. */
export function isTraceDat(head: Uint8Array): boolean {
  return head.length >= 10 && head[0] === 0x17 && head[1] === 0x08 && head[2] === 0x44 && Buffer.from(head.subarray(3, 10)).toString('latin1') === 'tracing';
}

export type Compression = 'none' | 'zlib' | 'zstd';

/** Where one CPU's pages are: plain bytes, or (compressed files) a count of chunks then the chunks. */
export interface CpuData {
  cpu: number;
  offset: number;
  size: number;
}

export interface TraceDatMeta {
  version: number;
  littleEndian: boolean;
  longSize: number;
  pageSize: number;
  compression: Compression;
  /** Whether the CPU data is compressed in chunks (a version 7 file with a compression). */
  chunked: boolean;
  pageHeader: PageHeader;
  eventHeader: EventHeader;
  events: FormatTable;
  comms: Map<number, string>;
  cpus: CpuData[];
  /** The ring buffer read: '' the top one, else a tracefs instance's name. */
  buffer: string;
  clock?: string;
  uname?: string;
  traceCmdVersion?: string;
  fileSize: number;
}

const TWO32 = 4294967296;

/** Reads of a file by position that say where a file ends too soon. */
export class FileBytes {
  readonly fd: number;
  readonly size: number;
  constructor(
    readonly path: string,
    public littleEndian = true,
  ) {
    try {
      this.fd = openSync(path, 'r');
    } catch (e) {
      throw new TraceDatError(`cannot open ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    this.size = fstatSync(this.fd).size;
  }
  close(): void {
    closeSync(this.fd);
  }
  read(at: number, length: number, what: string): Buffer {
    const buf = Buffer.allocUnsafe(length);
    this.readInto(at, buf, what);
    return buf;
  }

  /** Fill `into` with the file's bytes from `at` (a reader's window: no copy made on the way). */
  readInto(at: number, into: Uint8Array, what: string): void {
    const length = into.length;
    if (at < 0 || at + length > this.size)
      throw new TraceDatError(`the file ends at byte ${this.size}, inside ${what} (bytes ${at}–${at + length})`);
    let got = 0;
    while (got < length) {
      const n = readSync(this.fd, into, got, length - got, at + got);
      if (n === 0) throw new TraceDatError(`the file ends at byte ${at + got}, inside ${what}`);
      got += n;
    }
  }
}

/** A cursor over a buffer in the file's byte order. */
export class Cursor {
  at = 0;
  constructor(
    readonly buf: Buffer,
    readonly le: boolean,
    readonly what: string,
  ) {}
  private need(n: number): void {
    if (this.at + n > this.buf.length) throw new TraceDatError(`${this.what} ends too soon (needs ${n} bytes at ${this.at} of ${this.buf.length})`);
  }
  u16(): number {
    this.need(2);
    const v = this.le ? this.buf.readUInt16LE(this.at) : this.buf.readUInt16BE(this.at);
    this.at += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.le ? this.buf.readUInt32LE(this.at) : this.buf.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }
  u64(): number {
    this.need(8);
    const a = this.le ? this.buf.readUInt32LE(this.at) : this.buf.readUInt32BE(this.at + 4);
    const b = this.le ? this.buf.readUInt32LE(this.at + 4) : this.buf.readUInt32BE(this.at);
    this.at += 8;
    if (b >= 1 << 21) throw new TraceDatError(`${this.what} holds a size or offset beyond 2^53`);
    return b * TWO32 + a;
  }
  cstr(): string {
    const end = this.buf.indexOf(0, this.at);
    if (end < 0) throw new TraceDatError(`${this.what} has a string without its end`);
    const s = this.buf.toString('utf8', this.at, end);
    this.at = end + 1;
    return s;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return b;
  }
  get left(): number {
    return this.buf.length - this.at;
  }
}

export function decompress(compression: Compression, data: Uint8Array, size: number, what: string): Uint8Array {
  let out: Uint8Array = new Uint8Array(0);
  decompressed(compression, size, what, () => {
    // Node's own zlib: no decoder module to load and set up at every import (it was fflate's)
    out = compression === 'zlib' ? inflateSync(data, { maxOutputLength: Math.max(1, size) }) : zstdDecompress(data, size);
    return out.length;
  });
  return out;
}

/**
 * Runs `run`, which decompresses (wherever it puts the bytes) and returns how many it made, and
 * says what went wrong as a damaged file's TraceDatError: no compression named, data that does
 * not decompress, or a size other than the file says.
 */
export function decompressed(compression: Compression, size: number, what: string, run: () => number): void {
  let made: number;
  try {
    if (compression !== 'zlib' && compression !== 'zstd') throw new TraceDatError(`${what} is compressed, but the file names no compression`);
    made = run();
  } catch (e) {
    if (e instanceof TraceDatError) throw e;
    throw new TraceDatError(`${what} does not decompress (${compression}): ${(e as Error).message}`);
  }
  if (made !== size) throw new TraceDatError(`${what} decompresses to ${made} bytes, not the ${size} the file says`);
}

// Section ids (version 7) are the option ids that point at them.
const OPT_DONE = 0;
const OPT_BUFFER = 3;
const OPT_TRACECLOCK = 4;
const OPT_UNAME = 5;
const OPT_VERSION = 9;
const SEC_HEADER_INFO = 16;
const SEC_EVENT_FORMATS = 18;
const SEC_CMDLINES = 21;

function compressionOf(name: string): Compression {
  if (name === 'none') return 'none';
  if (name === 'zlib') return 'zlib';
  if (name === 'zstd') return 'zstd';
  throw new TraceDatError(`the file is compressed with "${name}", which mmu-lab does not read (zlib and zstd are supported)`);
}

function parseHeaders(c: Cursor): { pageHeader: PageHeader; eventHeader: EventHeader } {
  const tag1 = c.cstr();
  if (tag1 !== 'header_page') throw new TraceDatError(`the header info starts with "${tag1.slice(0, 20)}", not header_page`);
  const pageHeader = parseHeaderPage(c.bytes(c.u64()).toString('utf8'));
  const tag2 = c.cstr();
  if (tag2 !== 'header_event') throw new TraceDatError(`the header info has "${tag2.slice(0, 20)}" where header_event belongs`);
  const eventHeader = parseHeaderEvent(c.bytes(c.u64()).toString('utf8'));
  return { pageHeader, eventHeader };
}

/**
 * Per system: its name, a count, then each format as a u64 size and its text. The formats are
 * stepped over with a DataView, not the Cursor: this runs ~2,300 times at every open, and
 * Buffer's readUInt32LE and the Cursor's calls made it ~10 ms of CPU (cold code), now ~2.
 */
function parseEventFormats(c: Cursor, into: FormatTable): void {
  const { buf, le } = c;
  // a plain view for the formats' bytes: a typed array's indexOf is a builtin, a Buffer's is not
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.length);
  const systems = c.u32();
  for (let s = 0; s < systems; s++) {
    const system = c.cstr();
    const count = c.u32();
    let at = c.at;
    for (let e = 0; e < count; e++) {
      if (at + 8 > bytes.length) throw new TraceDatError(`${c.what} ends too soon (needs 8 bytes at ${at} of ${bytes.length})`);
      const low = view.getUint32(le ? at : at + 4, le);
      const high = view.getUint32(le ? at + 4 : at, le);
      if (high >= 1 << 21) throw new TraceDatError(`${c.what} holds a size or offset beyond 2^53`);
      const size = high * TWO32 + low;
      const start = at + 8;
      if (start + size > bytes.length) throw new TraceDatError(`${c.what} ends too soon (needs ${size} bytes at ${start} of ${bytes.length})`);
      into.addBytes(bytes, start, start + size, system);
      at = start + size;
    }
    c.at = at;
  }
}

function parseCmdlines(text: string, into: Map<number, string>): void {
  for (const line of text.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp > 0) into.set(Number(line.slice(0, sp)), line.slice(sp + 1));
  }
}

interface Partial {
  pageHeader?: PageHeader;
  eventHeader?: EventHeader;
  events: FormatTable;
  comms: Map<number, string>;
  cpus: CpuData[];
  buffers: { name: string; clock: string; cpus: CpuData[] }[];
  buffer?: string;
  clock?: string;
  uname?: string;
  traceCmdVersion?: string;
}

function bufferOption(c: Cursor, into: Partial): void {
  c.u64(); // the buffer section's offset: the CPU table below says where the pages are
  const name = c.cstr();
  const clock = c.cstr();
  c.u32(); // page size (the file's page size)
  const cpus: CpuData[] = [];
  const count = c.u32();
  for (let i = 0; i < count; i++) cpus.push({ cpu: c.u32(), offset: c.u64(), size: c.u64() });
  into.buffers.push({ name, clock, cpus });
}

/**
 * The buffer the import reads: the top one, or, when it holds nothing (a recording made in an
 * instance of its own, as mmu-lab's capture and bench do), the first instance that holds data.
 */
function chooseBuffer(p: Partial): void {
  const has = (b: { cpus: CpuData[] }) => b.cpus.some((c) => c.size > 0);
  const b = p.buffers.find((x) => x.name === '' && has(x)) ?? p.buffers.find(has) ?? p.buffers.find((x) => x.name === '');
  if (!b) return;
  p.cpus = b.cpus;
  p.buffer = b.name;
  p.clock = b.clock || p.clock;
}

function textOption(c: Cursor): string {
  return c.bytes(c.left).toString('utf8').replace(/\0[\s\S]*$/, '').trim();
}

/** Read a trace.dat's metadata. Throws TraceDatError with one sentence when it cannot. */
export function readMeta(file: FileBytes): TraceDatMeta {
  const head = file.read(0, Math.min(file.size, 512), 'the file header');
  if (!isTraceDat(head)) throw new TraceDatError('not a trace.dat (no trace-cmd magic at its start)');
  let c = new Cursor(head, true, 'the file header');
  c.at = 10;
  const versionText = c.cstr();
  const version = Number(versionText);
  if (version !== 6 && version !== 7) throw new TraceDatError(`trace.dat version "${versionText.slice(0, 10)}" is not read (versions 6 and 7 are)`);
  const endian = c.bytes(1)[0]!;
  const littleEndian = endian === 0;
  const longSize = c.bytes(1)[0]!;
  c = Object.assign(new Cursor(head, littleEndian, 'the file header'), { at: c.at });
  file.littleEndian = littleEndian;
  const pageSize = c.u32();
  if (pageSize < 64 || pageSize > 1 << 24) throw new TraceDatError(`the file says its page size is ${pageSize} bytes`);
  const p: Partial = { events: new FormatTable(), comms: new Map(), cpus: [], buffers: [] };
  let compression: Compression = 'none';
  if (version === 7) {
    compression = compressionOf(c.cstr());
    c.cstr(); // compressor version
    let next = c.u64();
    const seen = new Set<number>();
    const sections = new Map<number, number>();
    while (next !== 0) {
      if (seen.has(next)) throw new TraceDatError(`the options sections loop back to byte ${next}`);
      seen.add(next);
      if (next + 16 > file.size)
        throw new TraceDatError(
          `the file ends at byte ${file.size}, before its options section at byte ${next} (which says where each CPU's data is; trace-cmd writes it last): the file is truncated`,
        );
      const sec = readSection(file, next, compression, 'an options section');
      if (sec.id !== OPT_DONE) throw new TraceDatError(`byte ${next} should start an options section but starts section ${sec.id}`);
      next = 0;
      const o = new Cursor(sec.data, littleEndian, `the options section at byte ${sec.at}`);
      while (o.left > 0) {
        const id = o.u16();
        const size = o.u32();
        const data = new Cursor(o.bytes(size), littleEndian, `option ${id} at byte ${sec.at}`);
        if (id === OPT_DONE) {
          next = data.u64();
          break;
        }
        if (id === OPT_BUFFER) bufferOption(data, p);
        else if (id === OPT_TRACECLOCK) p.clock ??= /\[(\S+)\]/.exec(textOption(data))?.[1];
        else if (id === OPT_UNAME) p.uname = textOption(data);
        else if (id === OPT_VERSION) p.traceCmdVersion = textOption(data);
        else if (id === SEC_HEADER_INFO || id === SEC_EVENT_FORMATS || id === SEC_CMDLINES) sections.set(id, data.u64());
      }
    }
    chooseBuffer(p);
    const header = sections.get(SEC_HEADER_INFO);
    if (header === undefined) throw new TraceDatError('the file has no header info section (the ring buffer layout)');
    Object.assign(p, parseHeaders(sectionCursor(file, header, compression, 'the header info section')));
    const formats = sections.get(SEC_EVENT_FORMATS);
    if (formats !== undefined) parseEventFormats(sectionCursor(file, formats, compression, 'the event formats section'), p.events);
    const cmdlines = sections.get(SEC_CMDLINES);
    if (cmdlines !== undefined) {
      const cl = sectionCursor(file, cmdlines, compression, 'the saved command lines section');
      parseCmdlines(cl.bytes(cl.u64()).toString('utf8'), p.comms);
    }
  } else {
    readV6(file, c.at, littleEndian, p);
  }
  if (!p.pageHeader || !p.eventHeader) throw new TraceDatError('the file has no ring buffer header descriptions');
  if (p.cpus.length === 0) throw new TraceDatError('the file holds no CPU data (a latency trace or an empty recording)');
  for (const d of p.cpus)
    if (d.offset > file.size) throw new TraceDatError(`cpu ${d.cpu}'s data starts at byte ${d.offset}, past the end of the file (${file.size} bytes): the file is truncated`);
  return {
    version,
    littleEndian,
    longSize,
    pageSize,
    compression,
    chunked: version === 7 && compression !== 'none',
    pageHeader: p.pageHeader,
    eventHeader: p.eventHeader,
    events: p.events,
    comms: p.comms,
    cpus: p.cpus,
    buffer: p.buffer ?? '',
    clock: p.clock,
    uname: p.uname,
    traceCmdVersion: p.traceCmdVersion,
    fileSize: file.size,
  };
}

/**
 * The metadata of the trace.dat at `path` and nothing else: no CPU data is read (a reader made
 * with it then reads that, without reading the metadata again).
 */
export async function readMetaOf(path: string): Promise<TraceDatMeta> {
  const file = new FileBytes(path);
  try {
    return readMeta(file);
  } finally {
    file.close();
  }
}

/** Bytes of CPU data in the file (as stored). */
export function cpuDataBytes(meta: TraceDatMeta): number {
  let n = 0;
  for (const d of meta.cpus) n += d.size;
  return n;
}

interface Section {
  id: number;
  at: number;
  data: Buffer;
}

function readSection(file: FileBytes, at: number, compression: Compression, what: string): Section {
  const h = new Cursor(file.read(at, 16, what), file.littleEndian, what);
  const id = h.u16();
  const flags = h.u16();
  h.u32(); // description string id
  const size = h.u64();
  if (size > file.size) throw new TraceDatError(`${what} at byte ${at} claims ${size} bytes, more than the file`);
  if (flags & 1) {
    const z = new Cursor(file.read(at + 16, 8, what), file.littleEndian, what);
    const zsize = z.u32();
    const usize = z.u32();
    if (usize > 1 << 30) throw new TraceDatError(`${what} at byte ${at} claims to decompress to ${usize} bytes`);
    const data = decompress(compression, file.read(at + 24, zsize, what), usize, `${what} at byte ${at}`);
    return { id, at, data: Buffer.from(data.buffer, data.byteOffset, data.length) };
  }
  return { id, at, data: file.read(at + 16, size, what) };
}

function sectionCursor(file: FileBytes, at: number, compression: Compression, what: string): Cursor {
  return new Cursor(readSection(file, at, compression, what).data, file.littleEndian, what);
}

/** Version 6: metadata one part after another from `at`. Reads in pieces so kallsyms is skipped unread. */
function readV6(file: FileBytes, at: number, le: boolean, p: Partial): void {
  const u32 = (what: string): number => new Cursor(file.read(at, 4, what), le, what).u32();
  const u64 = (what: string): number => new Cursor(file.read(at, 8, what), le, what).u64();
  // header_page\0 <u64 size> <text> header_event\0 <u64 size> <text>
  {
    const tag = file.read(at, 12, 'the header info');
    const sizePage = new Cursor(file.read(at + 12, 8, 'the header info'), le, 'the header info').u64();
    const evAt = at + 20 + sizePage;
    const sizeEvent = new Cursor(file.read(evAt + 13, 8, 'the header info'), le, 'the header info').u64();
    const whole = Buffer.concat([tag, file.read(at + 12, 8 + sizePage + 13 + 8 + sizeEvent, 'the header info')]);
    Object.assign(p, parseHeaders(new Cursor(whole, le, 'the header info')));
    at = evAt + 21 + sizeEvent;
  }
  // ftrace event formats: skipped
  let n = u32('the ftrace event formats');
  at += 4;
  for (let i = 0; i < n; i++) at += 8 + u64('the ftrace event formats');
  // event formats
  const start = at;
  n = u32('the event formats');
  at += 4;
  for (let s = 0; s < n; s++) {
    const name = file.read(at, Math.min(256, file.size - at), 'the event formats');
    const end = name.indexOf(0);
    if (end < 0) throw new TraceDatError(`a system name in the event formats at byte ${at} has no end`);
    at += end + 1;
    const count = u32('the event formats');
    at += 4;
    for (let e = 0; e < count; e++) at += 8 + u64('the event formats');
  }
  parseEventFormats(new Cursor(file.read(start, at - start, 'the event formats'), le, 'the event formats'), p.events);
  at += 4 + u32('the kallsyms'); // kallsyms: skipped
  at += 4 + u32('the printk formats'); // printk formats: skipped
  const cmdSize = u64('the saved command lines');
  parseCmdlines(file.read(at + 8, cmdSize, 'the saved command lines').toString('utf8'), p.comms);
  at += 8 + cmdSize;
  const cpus = u32('the CPU count');
  at += 4;
  let tag = file.read(at, 10, 'the data tag').toString('latin1');
  at += 10;
  if (tag.startsWith('options')) {
    for (;;) {
      const id = new Cursor(file.read(at, 2, 'the options'), le, 'the options').u16();
      at += 2;
      if (id === OPT_DONE) break;
      const size = u32('the options');
      const data = new Cursor(file.read(at + 4, size, 'the options'), le, `option ${id}`);
      if (id === OPT_TRACECLOCK) p.clock ??= /\[(\S+)\]/.exec(textOption(data))?.[1];
      else if (id === OPT_UNAME) p.uname = textOption(data);
      else if (id === OPT_VERSION) p.traceCmdVersion = textOption(data);
      at += 4 + size;
    }
    tag = file.read(at, 10, 'the data tag').toString('latin1');
    at += 10;
  }
  if (tag.startsWith('latency')) throw new TraceDatError('the file is a latency trace (text), not ring-buffer data');
  if (!tag.startsWith('flyrecord')) throw new TraceDatError(`the file has "${tag.replace(/\0/g, '')}" where the flyrecord tag belongs (byte ${at - 10})`);
  const table = new Cursor(file.read(at, cpus * 16, 'the CPU data table'), le, 'the CPU data table');
  for (let cpu = 0; cpu < cpus; cpu++) p.cpus.push({ cpu, offset: table.u64(), size: table.u64() });
}
