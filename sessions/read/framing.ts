/**
 * Chunk framing as the open paths read it: is there a whole chunk at an offset (strictly checked,
 * or trusting the framing of the bulky types), the search for the next intact chunk past damage,
 * and the checks of what a chunk declares (an EVTS prefix, index statistics, small JSON).
 */
import type { ByteSource } from '../byteSource.ts';
import { CAPS, CHUNK, CHUNK_OVERHEAD, CODEC, EVTS_PREFIX_BYTES, chunkTypeName, crc32, fmtInt, fromUtf8, readU32, type Diagnostic, type EvtsPrefix } from '../format.ts';
import { KEYF_PREFIX_BYTES } from '../annex.ts';
import type { IndexEntry } from '../writer.ts';
import { boundedInflate } from './inflate.ts';
import { isNat, type ChunkStats } from './model.ts';

export class Diagnostics {
  readonly list: Diagnostic[] = [];
  add(severity: Diagnostic['severity'], code: string, message: string, byteOffset?: number): void {
    const d: Diagnostic = { severity, code, message };
    if (byteOffset !== undefined) d.byteOffset = byteOffset;
    this.list.push(d);
  }
}

/** Chunk types this reader knows; any other is skipped by its length and reported as info. */
export const KNOWN_CHUNKS = new Set<number>([CHUNK.HEAD, CHUNK.EVTS, CHUNK.INDX, CHUNK.CLST, CHUNK.FOOT, CHUNK.KEYF, CHUNK.KIDX, CHUNK.NOTE]);

/** Chunk types appended after the footer: a crash while appending one tears only it. */
export const ANNEX_CHUNKS = new Set<number>([CHUNK.KEYF, CHUNK.KIDX, CHUNK.NOTE]);

export type ScanMode = 'trust' | 'strict';

/** A chunk found by a scan: its payload whole (strict, or a small chunk) or only its prefix. */
export interface Framed {
  type: number;
  offset: number;
  length: number;
  payload: Uint8Array;
}

/** Payload bytes a trusting scan reads of the bulky chunk types; the rest are read on use. */
const PREFIX_ONLY: ReadonlyMap<number, number> = new Map([
  [CHUNK.EVTS, EVTS_PREFIX_BYTES],
  [CHUNK.KEYF, KEYF_PREFIX_BYTES],
  // the summaries' levels carry their own checksums, checked when read (read/summaries.ts)
  [CHUNK.SUMM, 0],
]);

/**
 * Is there a whole chunk at `off`? Strictly: framed and checksummed. Trusting: framed (its two
 * lengths agree), and checksummed unless it is an event chunk or a keyframe.
 */
export function chunkAt(src: ByteSource, off: number, mode: ScanMode): Framed | undefined {
  if (off < 0 || off + CHUNK_OVERHEAD > src.size) return undefined;
  const head = src.read(off, 8);
  const type = readU32(head, 0);
  const length = readU32(head, 4);
  if (length > CAPS.maxChunkBytes || off + CHUNK_OVERHEAD + length > src.size) return undefined;
  // the prefix before the trailing length: a windowed source then reads a chunk's head with
  // its predecessor's trailer, one read per chunk
  const prefix = mode === 'trust' ? PREFIX_ONLY.get(type) : undefined;
  const payload = prefix !== undefined ? src.read(off + 8, Math.min(prefix, length)) : undefined;
  if (readU32(src.read(off + 12 + length, 4), 0) !== length) return undefined;
  if (payload) return { type, offset: off, length, payload };
  const whole = src.read(off, 8 + length + 4);
  if (crc32(whole.subarray(0, 8 + length)) !== readU32(whole, 8 + length)) return undefined;
  return { type, offset: off, length, payload: whole.subarray(8, 8 + length) };
}

/**
 * The chunk that ends exactly at `end` (its trailing length read first, then its head), checked
 * as `chunkAt` checks: the step of a walk backwards from the end of the file.
 */
export function chunkEndingAt(src: ByteSource, end: number, floor: number, mode: ScanMode): Framed | undefined {
  if (end - CHUNK_OVERHEAD < floor || end > src.size) return undefined;
  const len = readU32(src.read(end - 4, 4), 0);
  if (len > CAPS.maxChunkBytes || end - CHUNK_OVERHEAD - len < floor) return undefined;
  const c = chunkAt(src, end - CHUNK_OVERHEAD - len, mode);
  return c && c.length === len ? c : undefined;
}

const RESYNC_WINDOW = 1 << 16;

/** The next offset after `from` where a known chunk type starts a valid chunk (always strict). */
export function resync(src: ByteSource, from: number): Framed | undefined {
  for (let base = from; base + CHUNK_OVERHEAD <= src.size; base += RESYNC_WINDOW) {
    // windows overlap by 3 bytes so a type field across their border is seen
    const w = src.read(base, RESYNC_WINDOW + 3);
    for (let i = 0; i < RESYNC_WINDOW && i + 4 <= w.length; i++) {
      // cheap filter: the first byte of every known type is an upper-case ASCII letter
      const b = w[i]!;
      if (b < 0x41 || b > 0x5a) continue;
      if (!KNOWN_CHUNKS.has(readU32(w, i))) continue;
      const c = chunkAt(src, base + i, 'strict');
      if (c) return c;
    }
  }
  return undefined;
}

export function parseJson(bytes: Uint8Array): unknown {
  if (bytes.length > CAPS.maxJsonBytes) return undefined;
  try {
    return JSON.parse(fromUtf8(bytes)) as unknown;
  } catch {
    return undefined;
  }
}

/** The index's statistics of one chunk are well-formed (counts, and [total, min, max] per exit reason). */
export function validStats(e: Partial<ChunkStats>): boolean {
  const rec = (x: unknown) => !!x && typeof x === 'object' && Object.values(x).every((v) => isNat(v));
  if (!rec(e.types) || !rec(e.exits) || !rec(e.handlings) || !e.exitNs || typeof e.exitNs !== 'object') return false;
  return Object.values(e.exitNs).every((v) => Array.isArray(v) && v.length === 3 && v.every((x) => isNat(x)));
}

/**
 * An EVTS prefix keeps the format's "must" constraints (docs/session-format.md), for a chunk of
 * `length` payload bytes in a session whose lane (vm, vcpu) exists (`laneExists`).
 */
export function validPrefix(p: EvtsPrefix, length: number, laneExists: boolean): boolean {
  return (
    laneExists &&
    p.count >= 1 &&
    p.count <= CAPS.maxEventsPerChunk &&
    p.rawLength <= CAPS.maxRawBytes &&
    p.count * 2 <= p.rawLength &&
    (p.codec === CODEC.none ? p.rawLength === length - EVTS_PREFIX_BYTES : p.codec === CODEC.deflate) &&
    isNat(p.tMin) &&
    isNat(p.tMax) &&
    isNat(p.spanEnd) &&
    isNat(p.firstOrdinal) &&
    p.tMin <= p.tMax &&
    p.tMax <= p.spanEnd
  );
}

/**
 * What both open paths count alike: chunks of types this reader does not know (kept by offset for
 * whatever newer part reads them) and keyframe or note chunks whose contents are unusable.
 */
export class SkippedChunks {
  readonly others: { type: number; offset: number; length: number }[] = [];
  private badAnnex = 0;
  private badAnnexFirst = -1;

  /** Offset of the SUMM chunk (the summaries written at close), when there is one. */
  summaryOffset: number | undefined;

  unknown(c: { type: number; offset: number; length: number }): void {
    // a close-time chunk this reader knows but the framing does not interpret
    if (c.type === CHUNK.SUMM) this.summaryOffset ??= c.offset;
    else this.others.push({ type: c.type, offset: c.offset, length: c.length });
  }

  unusableAnnex(offset: number): void {
    this.badAnnex++;
    if (this.badAnnexFirst < 0 || offset < this.badAnnexFirst) this.badAnnexFirst = offset;
  }

  /** The info diagnostics for them (`unknown_chunk`, `bad_annex`), the first of each in file order. */
  report(diags: Diagnostics): void {
    const unknown = this.others.length;
    if (unknown > 0) {
      const first = this.others.reduce((a, b) => (b.offset < a.offset ? b : a));
      diags.add(
        'info',
        'unknown_chunk',
        `${unknown} chunk${unknown > 1 ? 's' : ''} of a type this MMU Lab does not know (first: "${chunkTypeName(first.type)}" at byte ${fmtInt(first.offset)}) ${unknown > 1 ? 'were' : 'was'} skipped; a newer version wrote ${unknown > 1 ? 'them' : 'it'}.`,
        first.offset,
      );
    }
    const bad = this.badAnnex;
    if (bad > 0)
      diags.add(
        'info',
        'bad_annex',
        `${bad} keyframe or note chunk${bad > 1 ? 's' : ''} (first at byte ${fmtInt(this.badAnnexFirst)}) could not be used and ${bad > 1 ? 'were' : 'was'} skipped; no recorded event is affected.`,
        this.badAnnexFirst,
      );
  }
}

/** The footer's fields a reader relies on; the JSON may hold more (`ScannedSession.footer`). */
export interface FooterFields {
  complete: boolean;
  message?: string;
  finalNs: number;
  events: number;
  chunks?: number;
  indexOffset?: number;
  /** Format 1.2: where the CLST chunk is, and the whole session's counts. */
  chunkListOffset?: number;
  totals?: unknown;
}

export function parseFooter(payload: Uint8Array): (FooterFields & Record<string, unknown>) | undefined {
  const f = parseJson(payload) as (FooterFields & Record<string, unknown>) | undefined;
  return f && typeof f === 'object' && typeof f.complete === 'boolean' && isNat(f.events) && isNat(f.finalNs) ? f : undefined;
}

export function stoppedDiagnostic(diags: Diagnostics, footer: FooterFields, footerOffset: number): void {
  if (!footer.complete)
    diags.add('info', 'recording_stopped', `The recording was stopped before its workload finished${footer.message ? `: ${footer.message}` : ''}.`, footerOffset);
}

/** The entries of an INDX payload (u32 rawLength, then raw DEFLATE of its JSON), or undefined when it is not one. */
export function parseIndex(payload: Uint8Array): IndexEntry[] | undefined {
  if (payload.length < 4) return undefined;
  const rawLen = readU32(payload, 0);
  if (rawLen > CAPS.maxJsonBytes) return undefined;
  let raw: Uint8Array | undefined;
  try {
    raw = boundedInflate(payload.subarray(4), rawLen);
  } catch {
    return undefined;
  }
  if (!raw) return undefined;
  const parsed = parseJson(raw) as { chunks?: IndexEntry[] } | undefined;
  return parsed && Array.isArray(parsed.chunks) ? parsed.chunks : undefined;
}
