/**
 * The `.mmulab` container: constants, caps, CRC-32, varints and chunk framing.
 *
 * Pure TypeScript over bytes (no Node, no DOM), shared by the writer and the reader.
 * The layout is documented in docs/session-format.md; keep the two in step.
 *
 * File layout (all integers little-endian):
 *
 *   preamble (16 bytes)  magic "\x89MMULAB\n" | formatMajor u16 | minReaderVersion u16 | reserved u32
 *   chunk*               type u32 | length u32 | payload[length] | crc32 u32 | length u32
 *
 * The CRC-32 (IEEE 802.3, as zlib/PNG) covers the type, the leading length and the payload.
 */
import { crc32 as zlibCrc32 } from 'node:zlib';

export const MAGIC = new Uint8Array([0x89, 0x4d, 0x4d, 0x55, 0x4c, 0x41, 0x42, 0x0a]); // \x89 M M U L A B \n
export const PREAMBLE_BYTES = 16;
export const FORMAT_MAJOR = 1;
/**
 * 1: the footer carries a copy of the header (readers of 1.0 ignore it). 2: index entries carry
 * each chunk's length, rawLength and codec, a CLST chunk lists the event chunks in binary, the
 * footer has the session's totals, and KIDX chunks list the keyframes appended before them, so
 * a closed file opens from its end without walking its chunks (readers of 1.1 ignore the new
 * fields and skip CLST and KIDX as unknown chunks).
 */
export const FORMAT_MINOR = 2;
/** The oldest reader version that can read what this writer produces. */
export const MIN_READER_VERSION = 1;
/** The version of this reader: it reads files whose minReaderVersion is at most this. */
export const READER_VERSION = 1;

/** Chunk framing overhead: type + length before, crc + length after. */
export const CHUNK_OVERHEAD = 16;

function fourcc(s: string): number {
  return (s.charCodeAt(0) | (s.charCodeAt(1) << 8) | (s.charCodeAt(2) << 16) | (s.charCodeAt(3) << 24)) >>> 0;
}

/** Chunk types: four ASCII characters read as a little-endian u32. */
export const CHUNK = {
  /** The session header: UTF-8 JSON. Always the first chunk. */
  HEAD: fourcc('HEAD'),
  /** A run of events of one (vm, vcpu) lane. */
  EVTS: fourcc('EVTS'),
  /** The index of event chunks: deflated UTF-8 JSON. Written at close, before the footer. */
  INDX: fourcc('INDX'),
  /**
   * Per-lane summaries over a time grid (sessions/mipmap.ts): a JSON directory, then levels of
   * bins each with its own CRC-32. Written at close, before the index; optional.
   */
  SUMM: fourcc('SUMM'),
  /** Every event chunk's place and prefix as binary records (sessions/chunkList.ts). Written at close, after the index. */
  CLST: fourcc('CLST'),
  /** The footer: UTF-8 JSON, the last chunk of a closed recording. */
  FOOT: fourcc('FOOT'),
  /** A keyframe: the page-table state after N canonical events (sessions/annex.ts). Appended after the footer. */
  KEYF: fourcc('KEYF'),
  /** A keyframe index: the KEYF chunks appended right before it, by offset (sessions/annex.ts). */
  KIDX: fourcc('KIDX'),
  /** A note or bookmark operation: UTF-8 JSON, merged last-wins. Appended after the footer. */
  NOTE: fourcc('NOTE'),
} as const;

export function chunkTypeName(type: number): string {
  let s = '';
  for (let i = 0; i < 4; i++) {
    const c = (type >>> (8 * i)) & 0xff;
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '?';
  }
  return s;
}

/** Hard caps, checked before anything is allocated. */
export const CAPS = {
  /** Largest chunk payload a reader accepts. */
  maxChunkBytes: 64 << 20,
  /** Largest decompressed event-chunk body. */
  maxRawBytes: 64 << 20,
  /** Most events in one chunk. */
  maxEventsPerChunk: 1 << 20,
  maxVms: 256,
  maxVcpusPerVm: 1024,
  /** Largest header / footer JSON. */
  maxJsonBytes: 16 << 20,
  /** Most note operations a reader keeps (each is one small NOTE chunk). */
  maxNotes: 100_000,
  /** Largest file this reader loads. */
  maxFileBytes: 2 ** 31 - 1,
  /** Most event types a file's own type table may declare. */
  maxEventTypes: 1024,
  /** Most strings in one chunk's dictionary. */
  maxDictStrings: 1 << 20,
} as const;

// ---------------------------------------------------------------------------------------------
// CRC-32 (IEEE, as zlib computes it: docs/session-format.md). Node's zlib.crc32 is native: a JS
// table loop took ~1.3 ms of cold CPU for the 64 KB header an import writes at every start, and
// ~10× the time of zlib's on every chunk written or read.

/** CRC-32 of `bytes`, continuing from `crc` (0 for a fresh checksum). */
export function crc32(bytes: Uint8Array, crc = 0): number {
  return zlibCrc32(bytes, crc);
}

// ---------------------------------------------------------------------------------------------
// A growable byte buffer with LEB128 varints.

export class ByteWriter {
  buf: Uint8Array;
  pos = 0;
  constructor(initial = 1 << 16) {
    this.buf = new Uint8Array(initial);
  }
  ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }
  reset(): void {
    this.pos = 0;
  }
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }
  /** Unsigned LEB128 of a non-negative safe integer (at most 8 bytes). */
  varuint(v: number): void {
    this.ensure(10);
    const b = this.buf;
    let p = this.pos;
    if (v < 0x80000000) {
      while (v >= 0x80) {
        b[p++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      b[p++] = v;
    } else {
      while (v >= 0x80) {
        b[p++] = (v % 128) | 0x80;
        v = Math.floor(v / 128);
      }
      b[p++] = v;
    }
    this.pos = p;
  }
  /** Unsigned LEB128 of a 64-bit value (at most 10 bytes). */
  varuint64(v: bigint): void {
    let lo = Number(v & 0xffffffffn) >>> 0;
    let hi = Number((v >> 32n) & 0xffffffffn) >>> 0;
    this.ensure(10);
    const b = this.buf;
    let p = this.pos;
    while (hi !== 0 || lo >= 0x80) {
      b[p++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | ((hi & 0x7f) << 25)) >>> 0;
      hi = hi >>> 7;
    }
    b[p++] = lo;
    this.pos = p;
  }
  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }
}

/** Thrown by ByteReader on malformed input; the reader turns it into a diagnostic. */
export class FormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FormatError';
  }
}

export class ByteReader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }
  get remaining(): number {
    return this.end - this.pos;
  }
  u8(): number {
    if (this.pos >= this.end) throw new FormatError('ran past the end of the data');
    return this.buf[this.pos++]!;
  }
  varuint(): number {
    const b = this.buf;
    let p = this.pos;
    const end = this.end;
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      if (p >= end) throw new FormatError('ran past the end of the data in a number');
      const byte = b[p++]!;
      result += (byte & 0x7f) * mul;
      if (byte < 0x80) {
        this.pos = p;
        if (result > Number.MAX_SAFE_INTEGER) throw new FormatError('a number is larger than 2^53');
        return result;
      }
      mul *= 128;
    }
    throw new FormatError('a number is longer than 8 bytes');
  }
  varuint64(): bigint {
    const b = this.buf;
    let p = this.pos;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (p >= this.end) throw new FormatError('ran past the end of the data in a 64-bit value');
      const byte = b[p++]!;
      const payload = byte & 0x7f;
      const shift = 7 * i;
      if (shift < 28) lo |= payload << shift;
      else if (shift === 28) {
        lo |= (payload & 0x0f) << 28;
        hi |= payload >>> 4;
      } else hi |= payload << (shift - 32);
      if (byte < 0x80) {
        this.pos = p;
        return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
      }
    }
    throw new FormatError('a 64-bit value is longer than 10 bytes');
  }
  /**
   * Step over a varint without building its value, with exactly the checks `varuint` makes:
   * at most 8 bytes, and no value above 2^53 - 1 (bits 53-55 live in the 8th byte's bits 4-6).
   */
  skipVaruint(): void {
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < 8; i++) {
      if (p >= this.end) throw new FormatError('ran past the end of the data in a number');
      const byte = b[p++]!;
      if (byte < 0x80) {
        if (i === 7 && byte & 0x70) throw new FormatError('a number is larger than 2^53');
        this.pos = p;
        return;
      }
    }
    throw new FormatError('a number is longer than 8 bytes');
  }
  /** Step over a 64-bit varint without building its value (the same limits as `varuint64`). */
  skipVaruint64(): void {
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < 10; i++) {
      if (p >= this.end) throw new FormatError('ran past the end of the data in a 64-bit value');
      if (b[p++]! < 0x80) {
        this.pos = p;
        return;
      }
    }
    throw new FormatError('a 64-bit value is longer than 10 bytes');
  }
  bytes(n: number): Uint8Array {
    if (n < 0 || n > this.remaining) throw new FormatError('a length runs past the end of the data');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Fixed-width little-endian helpers.

export function readU32(buf: Uint8Array, off: number): number {
  return (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24)) >>> 0;
}
export function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v & 0xff;
  buf[off + 1] = (v >>> 8) & 0xff;
  buf[off + 2] = (v >>> 16) & 0xff;
  buf[off + 3] = (v >>> 24) & 0xff;
}
export function readU16(buf: Uint8Array, off: number): number {
  return buf[off]! | (buf[off + 1]! << 8);
}
export function writeU16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v & 0xff;
  buf[off + 1] = (v >>> 8) & 0xff;
}
// one scratch double: reading through it allocates nothing (a DataView per read did, and an
// open from the footer reads four doubles per keyframe it lists)
const F64 = new Float64Array(1);
const F64_BYTES = new Uint8Array(F64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function readF64(buf: Uint8Array, off: number): number {
  if (off < 0 || off + 8 > buf.length) throw new RangeError('readF64 past the end of the buffer');
  for (let i = 0; i < 8; i++) F64_BYTES[LITTLE_ENDIAN ? i : 7 - i] = buf[off + i]!;
  return F64[0]!;
}
export function writeF64(buf: Uint8Array, off: number, v: number): void {
  new DataView(buf.buffer, buf.byteOffset + off, 8).setFloat64(0, v, true);
}

export function preamble(): Uint8Array {
  const out = new Uint8Array(PREAMBLE_BYTES);
  out.set(MAGIC, 0);
  writeU16(out, 8, FORMAT_MAJOR);
  writeU16(out, 10, MIN_READER_VERSION);
  return out;
}

/** Frame a payload as a chunk: type | length | payload | crc32 | length. */
export function frameChunk(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length + CHUNK_OVERHEAD);
  writeU32(out, 0, type);
  writeU32(out, 4, payload.length);
  out.set(payload, 8);
  const crc = crc32(out.subarray(0, 8 + payload.length));
  writeU32(out, 8 + payload.length, crc);
  writeU32(out, 12 + payload.length, payload.length);
  return out;
}

/** The bytes of `parts` one after another, in one new array (a session file from its framed chunks). */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Event chunk (EVTS) payload prefix, before the (possibly compressed) body.

/** Byte size of the fixed EVTS prefix. */
export const EVTS_PREFIX_BYTES = 56;

export const CODEC = { none: 0, deflate: 1 } as const;

export interface EvtsPrefix {
  vm: number;
  vcpu: number;
  /** Chunk number within its lane, from 0: a gap means a lost chunk. */
  seq: number;
  /** Events of this lane before this chunk. */
  firstOrdinal: number;
  count: number;
  tMin: number;
  tMax: number;
  /** Latest `t + duration` of any event in the chunk (at least tMax). */
  spanEnd: number;
  codec: number;
  rawLength: number;
}

export function writeEvtsPrefix(out: Uint8Array, p: EvtsPrefix): void {
  writeU16(out, 0, p.vm);
  writeU16(out, 2, p.vcpu);
  writeU32(out, 4, p.seq);
  writeF64(out, 8, p.firstOrdinal);
  writeU32(out, 16, p.count);
  writeU32(out, 20, p.rawLength);
  writeF64(out, 24, p.tMin);
  writeF64(out, 32, p.tMax);
  writeF64(out, 40, p.spanEnd);
  out[48] = p.codec;
  // 49..55 reserved, zero
}

export function readEvtsPrefix(buf: Uint8Array, off: number): EvtsPrefix {
  return {
    vm: readU16(buf, off),
    vcpu: readU16(buf, off + 2),
    seq: readU32(buf, off + 4),
    firstOrdinal: readF64(buf, off + 8),
    count: readU32(buf, off + 16),
    rawLength: readU32(buf, off + 20),
    tMin: readF64(buf, off + 24),
    tMax: readF64(buf, off + 32),
    spanEnd: readF64(buf, off + 40),
    codec: buf[off + 48]!,
  };
}

export interface Diagnostic {
  severity: 'info' | 'dataLoss' | 'error';
  code: string;
  message: string;
  byteOffset?: number;
  /** How many times this happened, when it is folded into one diagnostic. */
  count?: number;
}

const utf8Enc = new TextEncoder();
const utf8Dec = new TextDecoder('utf-8', { fatal: false });
export function utf8(s: string): Uint8Array {
  return utf8Enc.encode(s);
}
export function fromUtf8(b: Uint8Array): string {
  return utf8Dec.decode(b);
}

/** Thousands separators with a thin space-free, locale-independent style: 81 920. */
export function fmtInt(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
}

/** A simulated time for people: ns, µs, ms or s with three significant decimals. */
export function fmtNs(ns: number): string {
  if (ns < 1_000) return `${ns} ns`;
  if (ns < 1_000_000) return `${(ns / 1_000).toFixed(3)} µs`;
  if (ns < 1_000_000_000) return `${(ns / 1_000_000).toFixed(3)} ms`;
  return `${(ns / 1_000_000_000).toFixed(3)} s`;
}
