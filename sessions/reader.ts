/**
 * The session reader. `openSession` never throws: whatever the bytes, it returns the
 * readable part of the session (if any) and diagnostics that say what was lost and why.
 *
 * Opening reads the chunk framing, not the events (see `open`); events are read, checked and
 * decoded lazily, per chunk, with a small cache. The index written at close supplies per-chunk
 * statistics (so the summary needs no decoding); when it is missing or does not match the
 * scan, the reader rebuilds what it needs from the chunks themselves.
 */
import { statSync } from 'node:fs';
import { FileSource, SourceError, memorySource, windowed, type ByteSource } from './byteSource.ts';
import { inflateRawSync } from 'node:zlib';
import { toHex, type MmuEvent } from '../core/events.ts';
import { ChunkDecoder, checkTypeTable, type ChunkColumns, type FileEventType } from './codec.ts';
import {
  CAPS,
  CHUNK,
  CHUNK_OVERHEAD,
  CODEC,
  EVTS_PREFIX_BYTES,
  FORMAT_MAJOR,
  MAGIC,
  PREAMBLE_BYTES,
  READER_VERSION,
  chunkTypeName,
  crc32,
  fmtInt,
  fmtNs,
  fromUtf8,
  readEvtsPrefix,
  readU16,
  readU32,
  type Diagnostic,
  type EvtsPrefix,
} from './format.ts';
import type { IndexEntry, SessionHeader } from './writer.ts';
import { KEYF_PREFIX_BYTES, keyframeBody, mergeNotes, parseNoteOp, readKeyfPrefix, type KeyframeRef, type NoteOp, type NoteRecord } from './annex.ts';
import { PageState } from './state.ts';

export type { Diagnostic } from './format.ts';

export interface OpenResult {
  session?: SessionReader;
  diagnostics: Diagnostic[];
}

interface ChunkRef extends EvtsPrefix {
  /** Byte offset of the chunk (its type field). */
  offset: number;
  /** Payload length. */
  length: number;
  /** Events of the lane before this chunk, as this reader counts them (gaps excluded). */
  ordinal: number;
  stats?: ChunkStats;
  /** Set when the chunk failed to decode: it then yields no events. */
  bad?: boolean;
  /** Times and exits of the chunk, while kept in the reader's column cache (about 15 bytes per event). */
  cols?: ChunkColumns;
  /** Sum of its page_walk events' `refs`: from the index, or decoded once. */
  walkRefs?: number;
}

interface ChunkStats {
  types: Record<string, number>;
  exits: Record<string, number>;
  exitNs: Record<string, [number, number, number]>;
  handlings: Record<string, number>;
}

function validStats(e: Partial<ChunkStats>): boolean {
  const rec = (x: unknown) => !!x && typeof x === 'object' && Object.values(x).every((v) => isNat(v));
  if (!rec(e.types) || !rec(e.exits) || !rec(e.handlings) || !e.exitNs || typeof e.exitNs !== 'object') return false;
  return Object.values(e.exitNs).every((v) => Array.isArray(v) && v.length === 3 && v.every((x) => isNat(x)));
}

interface Lane {
  vm: number;
  vcpu: number;
  chunks: ChunkRef[];
  count: number;
}

export interface VcpuCounts {
  vm: number;
  vcpu: number;
  events: number;
  exits: number;
}

export interface SummaryData {
  scenarioName: string;
  complete: boolean;
  vms: number;
  vcpus: VcpuCounts[];
  events: number;
  startNs: number;
  endNs: number;
  eventsByType: Record<string, number>;
  exitsByReason: Record<string, number>;
}

/** A vCPU's counts over a range, with the memory references of its TLB-miss walks. */
export interface VcpuRangeCounts extends VcpuCounts {
  /** Sum of `refs` over its page_walk events in the range. */
  walkRefs: number;
}

export interface Counters {
  t0: number;
  t1: number;
  events: number;
  /** Sum of `refs` over the page_walk events in the range (all vCPUs). */
  walkRefs: number;
  eventsByType: Record<string, number>;
  exitsByReason: Record<string, number>;
  exitsByHandling: Record<string, number>;
  exitNsByReason: Record<string, number>;
  exitMinNsByReason: Record<string, number>;
  exitMaxNsByReason: Record<string, number>;
  vcpus: VcpuRangeCounts[];
}

export interface TimelineSlice {
  t0: number;
  t1: number;
  reason: string;
  handling: string;
  index: number;
  count: number;
}
export interface TimelineLane {
  vm: number;
  vcpu: number;
  slices: TimelineSlice[];
  exits: number;
}
export interface Timeline {
  t0: number;
  t1: number;
  lanes: TimelineLane[];
}

const KNOWN_CHUNKS = new Set<number>([CHUNK.HEAD, CHUNK.EVTS, CHUNK.INDX, CHUNK.FOOT, CHUNK.KEYF, CHUNK.NOTE]);
const CACHE_CHUNKS = 64;
/** Memory for chunk columns (times and exits): the 10-million-event kbuild session needs 150 MB. */
const COLUMN_CACHE_BYTES = 256 << 20;
/** Spacing of in-memory keyframes for sessions that have none in the file. */
const MEMORY_KEYFRAME_EVENTS = 16_384;

function isNat(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER;
}

function inc(rec: Record<string, number>, key: string, by = 1): void {
  rec[key] = (rec[key] ?? 0) + by;
}

/**
 * Inflate raw DEFLATE data that must come to exactly `expected` bytes; undefined otherwise.
 * zlib stops at `maxOutputLength`, so a hostile "zip bomb" costs no more than `expected`.
 */
function boundedInflate(data: Uint8Array, expected: number): Uint8Array | undefined {
  if (data.length === 0) return undefined;
  try {
    const out = inflateRawSync(data, { maxOutputLength: Math.max(1, expected) });
    return out.length === expected ? out : undefined;
  } catch {
    return undefined;
  }
}

class ChecksumError extends Error {
  constructor() {
    super('its checksum does not match');
  }
}

class Diagnostics {
  readonly list: Diagnostic[] = [];
  add(severity: Diagnostic['severity'], code: string, message: string, byteOffset?: number): void {
    const d: Diagnostic = { severity, code, message };
    if (byteOffset !== undefined) d.byteOffset = byteOffset;
    this.list.push(d);
  }
}

/**
 * Open a session from a path or from its bytes. Never throws. A file is not read whole: see
 * `scan` for what opening reads.
 */
export function openSession(input: string | Uint8Array): OpenResult {
  const diags = new Diagnostics();
  try {
    if (typeof input !== 'string') return open(memorySource(input));
    let size: number;
    try {
      const st = statSync(input);
      if (!st.isFile()) {
        diags.add('error', 'cannot_open', `${input} is not a file.`);
        return { diagnostics: diags.list };
      }
      size = st.size;
    } catch (e) {
      diags.add('error', 'cannot_open', openError(input, e));
      return { diagnostics: diags.list };
    }
    const src = new FileSource(input, size);
    try {
      // small reads (a chunk's head and its predecessor's trailer) come from one window
      return src.hold(() => open(windowed(src)));
    } catch (e) {
      if (!(e instanceof SourceError) && !(e as { code?: string }).code) throw e;
      diags.add('error', 'cannot_open', e instanceof SourceError ? `${input}: ${e.message}.` : openError(input, e));
      return { diagnostics: diags.list };
    }
  } catch (e) {
    diags.add('error', 'reader_bug', `The reader failed unexpectedly (${(e as Error)?.message ?? String(e)}); this is a bug in MMU Lab.`);
    return { diagnostics: diags.list };
  }
}

function openError(path: string, e: unknown): string {
  const code = (e as { code?: string }).code;
  return code === 'ENOENT' ? `${path}: no such file.` : `${path} could not be read (${code ?? 'error'}).`;
}

/**
 * A closed session whose index matches its chunks is opened by trusting the framing: a few bytes
 * per chunk, each chunk's checksum checked when it is first read. Anything else (a killed
 * recording, damage before the footer, an index that disagrees) is scanned strictly: every
 * chunk read and checked, damaged ranges skipped.
 */
function open(src: ByteSource): OpenResult {
  return scan(src, new Diagnostics(), 'trust') ?? scan(src, new Diagnostics(), 'strict')!;
}

/** A chunk found by the scan: its payload whole (strict, or a small chunk) or only its prefix. */
interface Framed {
  type: number;
  offset: number;
  length: number;
  payload: Uint8Array;
}

/** Payload bytes a trusting scan reads of the bulky chunk types; the rest are read on use. */
const PREFIX_ONLY: ReadonlyMap<number, number> = new Map([
  [CHUNK.EVTS, EVTS_PREFIX_BYTES],
  [CHUNK.KEYF, KEYF_PREFIX_BYTES],
]);

/**
 * Is there a whole chunk at `off`? Strictly: framed and checksummed. Trusting: framed (its two
 * lengths agree), and checksummed unless it is an event chunk or a keyframe.
 */
function chunkAt(src: ByteSource, off: number, mode: ScanMode): Framed | undefined {
  if (off + CHUNK_OVERHEAD > src.size) return undefined;
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

const RESYNC_WINDOW = 1 << 16;

/** The next offset after `from` where a known chunk type starts a valid chunk (always strict). */
function resync(src: ByteSource, from: number): Framed | undefined {
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

function parseJson(bytes: Uint8Array): unknown {
  if (bytes.length > CAPS.maxJsonBytes) return undefined;
  try {
    return JSON.parse(fromUtf8(bytes)) as unknown;
  } catch {
    return undefined;
  }
}

function checkHeader(h: unknown): string | undefined {
  if (!h || typeof h !== 'object') return 'the header is not a JSON object';
  const x = h as Partial<SessionHeader>;
  if (x.formatMajor !== FORMAT_MAJOR) return `the header says format ${String(x.formatMajor)}, this reader reads format ${FORMAT_MAJOR}`;
  if (!isNat(x.minReaderVersion) || x.minReaderVersion > READER_VERSION)
    return `the session needs reader version ${String(x.minReaderVersion)} or later (this is ${READER_VERSION}); open it with a newer MMU Lab`;
  if (!Array.isArray(x.vcpus) || x.vcpus.length < 1 || x.vcpus.length > CAPS.maxVms) return `the header declares no valid VM list (1..${CAPS.maxVms})`;
  for (const n of x.vcpus) if (!isNat(n) || n < 1 || n > CAPS.maxVcpusPerVm) return `the header declares a VM with ${String(n)} vCPUs (1..${CAPS.maxVcpusPerVm})`;
  if (x.vms !== x.vcpus.length) return 'the header VM count does not match its vCPU list';
  if (typeof x.producer !== 'string') return 'the header has no producer';
  return checkTypeTable(x.eventTypes);
}

type ScanMode = 'trust' | 'strict';

/** Scan the session's chunks. A trusting scan returns undefined when the file must be scanned strictly. */
function scan(src: ByteSource, diags: Diagnostics, mode: ScanMode): OpenResult | undefined {
  const size = src.size;
  const pre = src.read(0, PREAMBLE_BYTES);
  if (size < MAGIC.length || !MAGIC.every((b, i) => pre[i] === b)) {
    const sig = size >= MAGIC.length ? '' : ' (it is too short to hold one)';
    diags.add('error', 'not_a_session', `This is not an MMU Lab session: it does not start with the .mmulab signature${sig}.`, 0);
    return { diagnostics: diags.list };
  }
  if (size < PREAMBLE_BYTES) {
    diags.add('error', 'truncated_header', `The session was cut short in its preamble (${size} of ${PREAMBLE_BYTES} bytes); nothing can be read.`, size);
    return { diagnostics: diags.list };
  }
  const major = readU16(pre, 8);
  const minReader = readU16(pre, 10);
  if (major !== FORMAT_MAJOR) {
    diags.add('error', 'unsupported_version', `This session uses format version ${major}; this MMU Lab reads version ${FORMAT_MAJOR}.`, 8);
    return { diagnostics: diags.list };
  }
  if (minReader > READER_VERSION) {
    diags.add('error', 'unsupported_version', `This session needs a newer MMU Lab (reader version ${minReader}; this one is ${READER_VERSION}).`, 10);
    return { diagnostics: diags.list };
  }

  // --- the header chunk
  const head = chunkAt(src, PREAMBLE_BYTES, 'strict');
  if (!head || head.type !== CHUNK.HEAD) {
    const cut = PREAMBLE_BYTES + 8 <= size && PREAMBLE_BYTES + CHUNK_OVERHEAD + readU32(src.read(PREAMBLE_BYTES + 4, 4), 0) > size;
    if (cut || size < PREAMBLE_BYTES + CHUNK_OVERHEAD)
      diags.add('error', 'truncated_header', 'The session was cut short before its header was complete; nothing can be read.', PREAMBLE_BYTES);
    else diags.add('error', 'header_damaged', 'The session header is damaged (its checksum does not match); nothing can be read safely.', PREAMBLE_BYTES);
    return { diagnostics: diags.list };
  }
  const header = parseJson(head.payload);
  const problem = checkHeader(header);
  if (problem) {
    const code = /reader version|format \d|does not know/.test(problem) ? 'unsupported_version' : 'header_damaged';
    diags.add('error', code, `The session header cannot be used: ${problem}.`, PREAMBLE_BYTES);
    return { diagnostics: diags.list };
  }
  const hdr = header as SessionHeader;

  // --- every other chunk
  const lanes = new Map<number, Lane>();
  const laneKey = (vm: number, vcpu: number) => vm * 65536 + vcpu;
  for (let vm = 0; vm < hdr.vms; vm++)
    for (let vcpu = 0; vcpu < hdr.vcpus[vm]!; vcpu++) lanes.set(laneKey(vm, vcpu), { vm, vcpu, chunks: [], count: 0 });
  let footer: { complete: boolean; message?: string; finalNs: number; events: number; chunks: number; indexOffset: number } | undefined;
  let footerOffset = -1;
  let indexAt = -1;
  let indexPayload: Uint8Array | undefined;
  let unknown = 0;
  let unknownFirst = -1;
  let unknownType = 0;
  const keyframes: KeyframeRef[] = [];
  const noteOps: NoteOp[] = [];
  let badAnnex = 0;
  let badAnnexFirst = -1;
  let lastGood = head.offset + CHUNK_OVERHEAD + head.length;
  let off = lastGood;
  let lostBytes = 0;
  let lostRuns = 0;
  let lostFirst = -1;
  let badChunks = 0;
  let badFirst = -1;
  let truncatedAt = -1;
  while (off < size) {
    let c = chunkAt(src, off, mode);
    if (!c) {
      // damage before the footer: only a strict scan knows what is lost
      if (mode === 'trust' && !footer) return undefined;
      const next = resync(src, off + 1);
      if (!next) {
        // Nothing valid follows: either the recording was cut short inside a chunk, or the tail is garbage.
        const declared = off + 8 <= size ? readU32(src.read(off + 4, 4), 0) : -1;
        if (off + 8 > size || (declared <= CAPS.maxChunkBytes && off + CHUNK_OVERHEAD + declared > size)) truncatedAt = off;
        else {
          lostRuns++;
          lostBytes += size - off;
          if (lostFirst < 0) lostFirst = off;
        }
        break;
      }
      lostRuns++;
      lostBytes += next.offset - off;
      if (lostFirst < 0) lostFirst = off;
      c = next;
    }
    off = c.offset + CHUNK_OVERHEAD + c.length;
    lastGood = off;
    if (c.type === CHUNK.EVTS) {
      if (c.length < EVTS_PREFIX_BYTES) {
        badChunks++;
        if (badFirst < 0) badFirst = c.offset;
        continue;
      }
      const p = readEvtsPrefix(c.payload, 0);
      const lane = lanes.get(laneKey(p.vm, p.vcpu));
      const ok =
        lane !== undefined &&
        p.count >= 1 &&
        p.count <= CAPS.maxEventsPerChunk &&
        p.rawLength <= CAPS.maxRawBytes &&
        p.count * 2 <= p.rawLength &&
        (p.codec === CODEC.none ? p.rawLength === c.length - EVTS_PREFIX_BYTES : p.codec === CODEC.deflate) &&
        isNat(p.tMin) &&
        isNat(p.tMax) &&
        isNat(p.spanEnd) &&
        isNat(p.firstOrdinal) &&
        p.tMin <= p.tMax &&
        p.tMax <= p.spanEnd;
      if (!ok || !lane) {
        badChunks++;
        if (badFirst < 0) badFirst = c.offset;
        continue;
      }
      lane.chunks.push({ ...p, offset: c.offset, length: c.length, ordinal: 0 });
    } else if (c.type === CHUNK.FOOT) {
      const f = parseJson(c.payload) as typeof footer;
      if (f && typeof f.complete === 'boolean' && isNat(f.events) && isNat(f.finalNs)) {
        footer = f;
        footerOffset = c.offset;
      } else {
        badChunks++;
        if (badFirst < 0) badFirst = c.offset;
      }
    } else if (c.type === CHUNK.INDX) {
      indexAt = c.offset;
      indexPayload = c.payload;
    } else if (c.type === CHUNK.KEYF || c.type === CHUNK.NOTE) {
      const k = c.type === CHUNK.KEYF ? readKeyfPrefix(c.payload, c.offset, c.length) : undefined;
      const n = c.type === CHUNK.NOTE && noteOps.length < CAPS.maxNotes ? parseNoteOp(c.payload) : undefined;
      if (k) keyframes.push(k);
      else if (n) noteOps.push(n);
      else {
        badAnnex++;
        if (badAnnexFirst < 0) badAnnexFirst = c.offset;
      }
    } else if (c.type === CHUNK.HEAD) {
      badChunks++;
      if (badFirst < 0) badFirst = c.offset;
    } else {
      unknown++;
      if (unknownFirst < 0) {
        unknownFirst = c.offset;
        unknownType = c.type;
      }
    }
  }
  // a trusting scan is only as good as a clean file up to its footer
  if (mode === 'trust' && (!footer || badChunks > 0 || !indexPayload)) return undefined;

  if (lostRuns > 0)
    diags.add(
      'dataLoss',
      'damaged_chunk',
      `${fmtInt(lostBytes)} damaged bytes in ${lostRuns} place${lostRuns > 1 ? 's' : ''} (first at byte ${fmtInt(lostFirst)}): the chunks there fail their checksum or framing and were skipped; reading resumed at the next intact chunk.`,
      lostFirst,
    );
  if (badChunks > 0)
    diags.add(
      'dataLoss',
      'bad_chunk',
      `${badChunks} chunk${badChunks > 1 ? 's' : ''} (first at byte ${fmtInt(badFirst)}) passed the checksum but hold values outside what the format allows (a vCPU the session does not have, impossible counts or times); skipped.`,
      badFirst,
    );
  if (unknown > 0)
    diags.add(
      'info',
      'unknown_chunk',
      `${unknown} chunk${unknown > 1 ? 's' : ''} of a type this MMU Lab does not know (first: "${chunkTypeName(unknownType)}" at byte ${fmtInt(unknownFirst)}) ${unknown > 1 ? 'were' : 'was'} skipped; a newer version wrote ${unknown > 1 ? 'them' : 'it'}.`,
      unknownFirst,
    );

  if (badAnnex > 0)
    diags.add(
      'info',
      'bad_annex',
      `${badAnnex} keyframe or note chunk${badAnnex > 1 ? 's' : ''} (first at byte ${fmtInt(badAnnexFirst)}) could not be used and ${badAnnex > 1 ? 'were' : 'was'} skipped; no recorded event is affected.`,
      badAnnexFirst,
    );

  // --- lanes: order chunks, drop duplicates and chunks that break time order, note gaps
  let gapChunks = 0;
  let disorder = 0;
  for (const lane of lanes.values()) {
    lane.chunks.sort((a, b) => a.seq - b.seq || a.offset - b.offset);
    const kept: ChunkRef[] = [];
    let expectSeq = 0;
    let lastT = 0;
    for (const ch of lane.chunks) {
      if (kept.length && kept[kept.length - 1]!.seq === ch.seq) continue;
      if (ch.tMin < lastT) {
        disorder++;
        continue;
      }
      if (ch.seq !== expectSeq) gapChunks += ch.seq - expectSeq;
      expectSeq = ch.seq + 1;
      ch.ordinal = lane.count;
      lane.count += ch.count;
      lastT = ch.tMax;
      kept.push(ch);
    }
    lane.chunks = kept;
  }
  if (gapChunks > 0)
    diags.add('dataLoss', 'missing_chunks', `${gapChunks} event chunk${gapChunks > 1 ? 's are' : ' is'} missing from the middle of vCPU lanes; the events around the gap are kept.`);
  if (disorder > 0)
    diags.add('dataLoss', 'time_not_monotonic', `${disorder} chunk${disorder > 1 ? 's' : ''} would make a vCPU's time go backwards; skipped.`);

  const laneList = [...lanes.values()].sort((a, b) => a.vm - b.vm || a.vcpu - b.vcpu);
  let total = 0;
  let endNs = 0;
  for (const l of laneList) {
    total += l.count;
    for (const ch of l.chunks) endNs = Math.max(endNs, ch.spanEnd);
  }

  // --- footer and index
  const complete = footer?.complete === true;
  if (!footer) {
    const where =
      truncatedAt >= 0
        ? `in the middle of a chunk (byte ${fmtInt(truncatedAt)}; the ${fmtInt(size - truncatedAt)} bytes from there on are lost)`
        : `after byte ${fmtInt(lastGood)}`;
    diags.add(
      'dataLoss',
      'recording_incomplete',
      `The session appears to have been cut short ${where}: the recording did not finish (no footer). Opened up to t = ${fmtNs(endNs)} with ${fmtInt(total)} events.`,
      truncatedAt >= 0 ? truncatedAt : lastGood,
    );
  } else {
    const tornType = truncatedAt >= 0 && truncatedAt + 4 <= size ? readU32(src.read(truncatedAt, 4), 0) : -1;
    if (truncatedAt >= 0 && (tornType === CHUNK.KEYF || tornType === CHUNK.NOTE))
      // appended after the recording was closed: a crash while adding a keyframe or a note costs only that chunk
      diags.add(
        'info',
        'truncated_annex',
        `The file ends in the middle of a ${tornType === CHUNK.KEYF ? 'keyframe' : 'note'} that was being appended (byte ${fmtInt(truncatedAt)}); it is ignored, and every recorded event is intact.`,
        truncatedAt,
      );
    else if (truncatedAt >= 0)
      diags.add('dataLoss', 'truncated_chunk', `The file ends in the middle of a chunk (byte ${fmtInt(truncatedAt)}) after its footer.`, truncatedAt);
    if (!footer.complete)
      diags.add('info', 'recording_stopped', `The recording was stopped before its workload finished${footer.message ? `: ${footer.message}` : ''}.`, footerOffset);
    if (footer.events !== total)
      diags.add(
        'dataLoss',
        'events_missing',
        `The footer says ${fmtInt(footer.events)} events were recorded; ${fmtInt(total)} can be read.`,
        footerOffset,
      );
  }
  if (footer || indexAt >= 0) {
    const used = indexPayload && footer && footer.indexOffset === indexAt ? applyIndex(indexPayload, laneList, mode) : false;
    if (mode === 'trust' && (!used || gapChunks > 0 || disorder > 0)) return undefined;
    if (!used)
      diags.add(
        'info',
        'index_rebuilt',
        indexAt < 0 ? 'The chunk index is missing; it was rebuilt by scanning the file.' : 'The chunk index does not match the file; it was rebuilt by scanning.',
        indexAt >= 0 ? indexAt : undefined,
      );
  }

  const session = new SessionReader(src, hdr, laneList, complete, total, diags.list, footer?.message, {
    closed: footer !== undefined,
    keyframes: keyframes.filter((k) => k.total === total).sort((a, b) => a.applied - b.applied),
    noteOps,
  });
  return { session, diagnostics: diags.list };
}

/**
 * Take per-chunk statistics from the index if it matches the scanned chunks exactly. A trusting
 * scan also needs each chunk's times to match, as its prefix was not checksummed.
 */
function applyIndex(payload: Uint8Array, lanes: Lane[], mode: ScanMode): boolean {
  if (payload.length < 4) return false;
  const rawLen = readU32(payload, 0);
  if (rawLen > CAPS.maxJsonBytes) return false;
  let raw: Uint8Array | undefined;
  try {
    raw = boundedInflate(payload.subarray(4), rawLen);
  } catch {
    return false;
  }
  if (!raw) return false;
  const parsed = parseJson(raw) as { chunks?: IndexEntry[] } | undefined;
  if (!parsed || !Array.isArray(parsed.chunks)) return false;
  const byOffset = new Map<number, ChunkRef>();
  for (const l of lanes) for (const ch of l.chunks) byOffset.set(ch.offset, ch);
  if (parsed.chunks.length !== byOffset.size) return false;
  for (const e of parsed.chunks) {
    const ch = e && typeof e === 'object' ? byOffset.get(e.offset) : undefined;
    if (!ch || ch.vm !== e.vm || ch.vcpu !== e.vcpu || ch.seq !== e.seq || ch.count !== e.count) return false;
    if (mode === 'trust' && (ch.tMin !== e.t0 || ch.tMax !== e.t1 || ch.spanEnd !== e.spanEnd)) return false;
    if (!validStats(e)) return false;
  }
  for (const e of parsed.chunks) {
    const ch = byOffset.get(e.offset)!;
    ch.stats = { types: e.types, exits: e.exits, exitNs: e.exitNs, handlings: e.handlings };
    if (isNat(e.walkRefs)) ch.walkRefs = e.walkRefs;
  }
  return true;
}

/** A merge cursor over the lanes: canonical order is (t, vm, vcpu, emission order). */
class MergeCursor {
  /** Next ordinal per lane. */
  pos: number[];
  /** Global index of the next event. */
  index = 0;
  private heap: number[] = [];
  private nextT: number[];
  private cur: ({ chunk: number; events: MmuEvent[] } | undefined)[];

  constructor(private readonly r: SessionReader) {
    this.pos = new Array<number>(r.lanes.length).fill(0);
    this.nextT = new Array<number>(r.lanes.length).fill(0);
    this.cur = new Array(r.lanes.length).fill(undefined);
    this.rebuild();
  }

  seekTo(index: number, pos: number[]): void {
    this.index = index;
    this.pos = [...pos];
    this.cur.fill(undefined);
    this.rebuild();
  }

  private peekLane(l: number): MmuEvent | undefined {
    const lane = this.r.lanes[l]!;
    const ord = this.pos[l]!;
    if (ord >= lane.count) return undefined;
    let c = this.cur[l];
    if (c) {
      const ch = lane.chunks[c.chunk]!;
      if (ord < ch.ordinal || ord >= ch.ordinal + ch.count) c = undefined;
    }
    if (!c) {
      const ci = this.r.chunkOfOrdinal(lane, ord);
      c = { chunk: ci, events: this.r.decodeChunk(lane.chunks[ci]!) };
      this.cur[l] = c;
    }
    const ch = lane.chunks[c.chunk]!;
    // a chunk that failed to decode yields no events: report its slot as missing
    return c.events[ord - ch.ordinal];
  }

  private less(a: number, b: number): boolean {
    const ta = this.nextT[a]!;
    const tb = this.nextT[b]!;
    return ta < tb || (ta === tb && a < b);
  }

  private rebuild(): void {
    this.heap = [];
    for (let l = 0; l < this.r.lanes.length; l++) this.advance(l);
  }

  private push(l: number): void {
    const h = this.heap;
    h.push(l);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): number | undefined {
    const h = this.heap;
    if (!h.length) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const a = 2 * i + 1;
        const b = a + 1;
        let m = i;
        if (a < h.length && this.less(h[a]!, h[m]!)) m = a;
        if (b < h.length && this.less(h[b]!, h[m]!)) m = b;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }

  next(): MmuEvent | undefined {
    const l = this.pop();
    if (l === undefined) return undefined;
    const e = this.peekLane(l)!;
    this.pos[l]!++;
    this.advance(l);
    this.index++;
    return e;
  }

  /** Queue lane `l` at its next readable event, stepping over chunks that failed to decode. */
  private advance(l: number): void {
    const lane = this.r.lanes[l]!;
    while (this.pos[l]! < lane.count) {
      const e = this.peekLane(l);
      if (e) {
        this.nextT[l] = e.t;
        this.push(l);
        return;
      }
      const ch = lane.chunks[this.r.chunkOfOrdinal(lane, this.pos[l]!)]!;
      this.pos[l] = ch.ordinal + ch.count;
    }
  }
}

export class SessionReader {
  private readonly decoder: ChunkDecoder;
  private readonly cache = new Map<ChunkRef, MmuEvent[]>();
  /** Chunks whose columns are kept, least recently used first, with their sizes. */
  private readonly columnsKept = new Map<ChunkRef, number>();
  private columnsBytes = 0;
  private columnBudget = COLUMN_CACHE_BYTES;
  private cursor: MergeCursor | undefined;
  /** The cursor of the last filtered `events` call, to page on cheaply. */
  private filtered: { key: string; cursor: MergeCursor; seen: number } | undefined;
  readonly startNs: number;
  readonly endNs: number;
  readonly lanes: Lane[];
  /** True when the recording was closed (it has a footer): only then may chunks be appended. */
  readonly closed: boolean;
  /** Keyframes written for exactly this session's events, in order. */
  readonly keyframes: KeyframeRef[];
  readonly noteOps: NoteOp[];
  /** Keyframes built in memory (state bytes by applied count) when the file has none. */
  private memoryKeyframes: { applied: number; t: number; state: Uint8Array }[] | undefined;

  constructor(
    private readonly src: ByteSource,
    readonly header: SessionHeader,
    lanes: Lane[],
    readonly complete: boolean,
    readonly eventCount: number,
    readonly diagnostics: Diagnostic[],
    readonly stopMessage?: string,
    annex: { closed: boolean; keyframes: KeyframeRef[]; noteOps: NoteOp[] } = { closed: false, keyframes: [], noteOps: [] },
  ) {
    this.lanes = lanes;
    this.closed = annex.closed;
    this.keyframes = annex.keyframes;
    this.noteOps = annex.noteOps;
    this.decoder = new ChunkDecoder(header.eventTypes as FileEventType[]);
    let start = Infinity;
    let end = 0;
    for (const l of lanes)
      for (const ch of l.chunks) {
        start = Math.min(start, ch.tMin);
        end = Math.max(end, ch.spanEnd);
      }
    this.startNs = Number.isFinite(start) ? start : 0;
    this.endNs = end;
  }

  /** The event-type table the file was written with. */
  get eventTypes(): FileEventType[] {
    return this.header.eventTypes as FileEventType[];
  }

  chunkOfOrdinal(lane: Lane, ord: number): number {
    let lo = 0;
    let hi = lane.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lane.chunks[mid]!.ordinal <= ord) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** The events of one chunk (cached). A chunk that fails to decode yields [] and a diagnostic. */
  decodeChunk(ch: ChunkRef): MmuEvent[] {
    const hit = this.cache.get(ch);
    if (hit) {
      this.cache.delete(ch);
      this.cache.set(ch, hit);
      return hit;
    }
    let events: MmuEvent[] = [];
    if (!ch.bad) {
      try {
        events = this.decoder.decode(this.body(ch), ch.count, ch.vm, ch.vcpu, ch.tMin);
        let prev = ch.tMin;
        for (const e of events) {
          if (e.t < prev || e.t > ch.tMax) throw new Error('its event times disagree with its time range');
          prev = e.t;
        }
      } catch (e) {
        this.markBad(ch, e);
        events = [];
      }
    }
    this.cache.set(ch, events);
    if (this.cache.size > CACHE_CHUNKS) this.cache.delete(this.cache.keys().next().value!);
    return events;
  }

  /**
   * The payload of a chunk the scan found, read now and checked against its checksum (a
   * trusting open did not read it, and the file may have changed on disk since).
   */
  private payload(offset: number, length: number): Uint8Array {
    const whole = this.src.read(offset, length + CHUNK_OVERHEAD - 4);
    if (crc32(whole.subarray(0, 8 + length)) !== readU32(whole, 8 + length)) throw new ChecksumError();
    return whole.subarray(8, 8 + length);
  }

  private body(ch: ChunkRef): Uint8Array {
    const stored = this.payload(ch.offset, ch.length).subarray(EVTS_PREFIX_BYTES);
    const body = ch.codec === CODEC.none ? stored : boundedInflate(stored, ch.rawLength);
    if (!body) throw new Error('its compressed body does not inflate to the declared size');
    return body;
  }

  private markBad(ch: ChunkRef, e: unknown): void {
    if (ch.bad) return;
    ch.bad = true;
    const what = `The events of the chunk at byte ${fmtInt(ch.offset)} (vm ${ch.vm} vcpu ${ch.vcpu}, ${fmtInt(ch.count)} events)`;
    const [code, message] =
      e instanceof ChecksumError
        ? ['damaged_chunk', `${what} fail their checksum: the chunk is damaged and its events are skipped.`]
        : e instanceof SourceError
          ? ['unreadable_chunk', `${what} cannot be read: ${e.message}.`]
          : ['undecodable_chunk', `${what} cannot be decoded: ${(e as Error)?.message ?? String(e)}.`];
    this.diagnostics.push({ severity: 'dataLoss', code, message, byteOffset: ch.offset });
  }

  private static readonly EMPTY: ChunkColumns = {
    times: new Float64Array(0),
    exitAt: new Uint32Array(0),
    exitDur: new Float64Array(0),
    exitReason: [],
    exitHandling: [],
  };

  /**
   * Times and exits of a chunk without building event objects. Kept while the columns of all
   * chunks kept stay within COLUMN_CACHE_BYTES (all of a 10-million-event session's), the least
   * recently used dropped beyond it.
   */
  columns(ch: ChunkRef): ChunkColumns {
    const kept = ch.cols;
    if (kept) {
      const size = this.columnsKept.get(ch)!;
      this.columnsKept.delete(ch);
      this.columnsKept.set(ch, size);
      return kept;
    }
    if (ch.bad) return SessionReader.EMPTY;
    try {
      const cols = this.decoder.scan(this.body(ch), ch.count, ch.tMin);
      let prev = ch.tMin;
      for (const t of cols.times) {
        if (t < prev || t > ch.tMax) throw new Error('its event times disagree with its time range');
        prev = t;
      }
      this.keepColumns(ch, cols);
      return cols;
    } catch (e) {
      this.markBad(ch, e);
      return SessionReader.EMPTY;
    }
  }

  /** Bytes of chunk columns kept now, and the most that may be kept (settable, for a host short of memory). */
  get columnCache(): { bytes: number; chunks: number; budget: number } {
    return { bytes: this.columnsBytes, chunks: this.columnsKept.size, budget: this.columnBudget };
  }
  set columnCacheBudget(bytes: number) {
    this.columnBudget = Math.max(0, bytes);
  }

  private keepColumns(ch: ChunkRef, cols: ChunkColumns): void {
    // two string references per exit besides the typed arrays
    const size = cols.times.byteLength + cols.exitAt.byteLength + cols.exitDur.byteLength + 16 * cols.exitReason.length;
    ch.cols = cols;
    this.columnsKept.set(ch, size);
    this.columnsBytes += size;
    for (const [old, oldSize] of this.columnsKept) {
      if (this.columnsBytes <= this.columnBudget || old === ch) break;
      old.cols = undefined;
      this.columnsKept.delete(old);
      this.columnsBytes -= oldSize;
    }
  }

  /** Exits of a chunk that overlap [t0, t1]: from its statistics when it lies wholly inside. */
  private exitsOverlapping(ch: ChunkRef, t0: number, t1: number): number {
    if (ch.stats && !ch.bad && ch.tMin >= t0 && ch.tMax <= t1) {
      let n = 0;
      for (const k in ch.stats.exits) n += ch.stats.exits[k]!;
      return n;
    }
    const cols = this.columns(ch);
    let n = 0;
    for (let k = 0; k < cols.exitAt.length; k++) {
      const t = cols.times[cols.exitAt[k]!]!;
      if (t > t1) break;
      if (t + cols.exitDur[k]! >= t0) n++;
    }
    return n;
  }

  /** Per-chunk statistics, from the index or by decoding. */
  private chunkStats(ch: ChunkRef): ChunkStats {
    if (!ch.stats) {
      const st: ChunkStats = { types: {}, exits: {}, exitNs: {}, handlings: {} };
      for (const e of this.decodeChunk(ch)) {
        inc(st.types, e.type);
        if (e.type !== 'vmexit') continue;
        inc(st.exits, e.reason);
        inc(st.handlings, e.handling);
        const ns = st.exitNs[e.reason];
        if (!ns) st.exitNs[e.reason] = [e.duration, e.duration, e.duration];
        else {
          ns[0] += e.duration;
          ns[1] = Math.min(ns[1], e.duration);
          ns[2] = Math.max(ns[2], e.duration);
        }
      }
      ch.stats = st;
    }
    return ch.stats;
  }

  /** The page_walk references of a whole chunk: from the index, else decoded once and kept. */
  private chunkWalkRefs(ch: ChunkRef): number {
    if (ch.walkRefs === undefined) {
      let n = 0;
      if ((this.chunkStats(ch).types.page_walk ?? 0) > 0) for (const e of this.decodeChunk(ch)) if (e.type === 'page_walk') n += e.refs;
      ch.walkRefs = n;
    }
    return ch.walkRefs;
  }

  summary(): SummaryData {
    const eventsByType: Record<string, number> = {};
    const exitsByReason: Record<string, number> = {};
    const vcpus: VcpuCounts[] = [];
    for (const lane of this.lanes) {
      let exits = 0;
      for (const ch of lane.chunks) {
        const s = this.chunkStats(ch);
        for (const [k, v] of Object.entries(s.types)) inc(eventsByType, k, v);
        for (const [k, v] of Object.entries(s.exits)) {
          inc(exitsByReason, k, v);
          exits += v;
        }
      }
      vcpus.push({ vm: lane.vm, vcpu: lane.vcpu, events: lane.count, exits });
    }
    return {
      scenarioName: this.header.scenarioName,
      complete: this.complete,
      vms: this.header.vms,
      vcpus,
      events: this.eventCount,
      startNs: this.startNs,
      endNs: this.endNs,
      eventsByType,
      exitsByReason,
    };
  }

  private jsonFields: Map<string, { name: string; hex: boolean }[]> | undefined;

  /** An event as the JSONL export shows it, using the file's own type table. */
  toJson(event: MmuEvent): Record<string, string | number> {
    this.jsonFields ??= new Map(this.eventTypes.map((t) => [t.name, t.fields.map((f) => ({ name: f.name, hex: f.kind === 'addr' || f.kind === 'pte' }))]));
    const out: Record<string, string | number> = { t: event.t, vm: event.vm, vcpu: event.vcpu, type: event.type };
    const rec = event as unknown as Record<string, unknown>;
    for (const fl of this.jsonFields.get(event.type) ?? []) {
      const v = rec[fl.name];
      if (v === undefined) continue;
      out[fl.name] = fl.hex ? toHex(v as number | bigint) : (v as string | number);
    }
    return out;
  }

  /** Iterate every event in canonical order. */
  *iterate(): Generator<MmuEvent> {
    const c = new MergeCursor(this);
    for (let e = c.next(); e; e = c.next()) yield e;
  }

  /**
   * Position a cursor at the first event whose canonical position, counting only events whose
   * type is in `want` (all events without it), is `index`. Binary search on time: find the
   * largest T with fewer than or `index` matching events before T, start every lane at T, and
   * step over the few events at exactly T.
   */
  private positionAt(index: number, want?: Set<string>): { cursor: MergeCursor; seen: number } {
    const before = (T: number) => {
      let n = 0;
      for (const lane of this.lanes) n += want ? this.countTypedBefore(lane, T, want) : this.countBefore(lane, T, false);
      return n;
    };
    let lo = this.startNs;
    let hi = this.endNs + 1;
    while (lo < hi) {
      const mid = lo + Math.ceil((hi - lo) / 2);
      if (before(mid) <= index) lo = mid;
      else hi = mid - 1;
    }
    const cursor = new MergeCursor(this);
    const pos = this.lanes.map((lane) => this.countBefore(lane, lo, false));
    cursor.seekTo(
      pos.reduce((a, b) => a + b, 0),
      pos,
    );
    return { cursor, seen: want ? before(lo) : cursor.index };
  }

  /** Canonical index of the first event at or after time `t` (eventCount if none). */
  indexAtTime(t: number): number {
    let n = 0;
    for (const lane of this.lanes) n += this.countBefore(lane, t, false);
    return n;
  }

  /** Raw events [from, from+count) in canonical order. */
  rawEvents(from: number, count: number): MmuEvent[] {
    const out: MmuEvent[] = [];
    if (!(from >= 0) || !(count > 0) || from >= this.eventCount) return out;
    from = Math.floor(from);
    let c = this.cursor;
    if (!c || c.index > from || from - c.index > 4096) c = this.positionAt(from).cursor;
    this.cursor = c;
    while (c.index < from) if (!c.next()) return out;
    while (out.length < count) {
      const e = c.next();
      if (!e) break;
      out.push(e);
    }
    return out;
  }

  /**
   * Events in canonical order as JSON objects (the JSONL shape). With `types`, `from` and
   * `total` count only events of those types.
   */
  events(from: number, count: number, types?: string[]): { total: number; events: Record<string, string | number>[] } {
    if (!types || types.length === 0) return { total: this.eventCount, events: this.rawEvents(from, count).map((e) => this.toJson(e)) };
    const want = new Set(types);
    const byType = this.summary().eventsByType;
    let total = 0;
    for (const t of want) total += byType[t] ?? 0;
    const out: Record<string, string | number>[] = [];
    if (!(from >= 0) || !(count > 0) || from >= total) return { total, events: out };
    from = Math.floor(from);
    const key = [...want].sort().join(',');
    let f = this.filtered;
    if (!f || f.key !== key || f.seen > from || from - f.seen > 4096) f = { key, ...this.positionAt(from, want) };
    this.filtered = f;
    while (out.length < count) {
      const e = f.cursor.next();
      if (!e) break;
      if (!want.has(e.type)) continue;
      if (f.seen++ >= from) out.push(this.toJson(e));
    }
    return { total, events: out };
  }

  /** Events of `lane` whose type is in `want` and whose time is before `t`. */
  private countTypedBefore(lane: Lane, t: number, want: Set<string>): number {
    let n = 0;
    for (const ch of lane.chunks) {
      if (ch.tMin >= t) break;
      if (ch.tMax < t) {
        const st = this.chunkStats(ch);
        if (ch.bad) continue;
        for (const w of want) n += st.types[w] ?? 0;
        continue;
      }
      for (const e of this.decodeChunk(ch)) {
        if (e.t >= t) break;
        if (want.has(e.type)) n++;
      }
    }
    return n;
  }

  /** Events of `lane` with time before `t` (or at most `t` when `inclusive`). */
  private countBefore(lane: Lane, t: number, inclusive: boolean): number {
    const ch = lane.chunks;
    const before = (x: number) => (inclusive ? x <= t : x < t);
    // first chunk whose tMax is not before t
    let lo = 0;
    let hi = ch.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (before(ch[mid]!.tMax)) lo = mid + 1;
      else hi = mid;
    }
    let n = lo < ch.length ? ch[lo]!.ordinal : lane.count;
    for (let i = lo; i < ch.length && before(ch[i]!.tMin); i++) {
      const times = this.columns(ch[i]!).times;
      let a = 0;
      let b = times.length;
      while (a < b) {
        const m = (a + b) >> 1;
        if (before(times[m]!)) a = m + 1;
        else b = m;
      }
      n = ch[i]!.ordinal + (ch[i]!.bad ? ch[i]!.count : a);
    }
    return n;
  }

  /** Canonical index of the event at `ordinal` in lane `l`, whose time is `t`. */
  globalIndex(l: number, ordinal: number, t: number): number {
    let n = ordinal;
    for (let j = 0; j < this.lanes.length; j++) if (j !== l) n += this.countBefore(this.lanes[j]!, t, j < l);
    return n;
  }

  /** The exits of each lane overlapping [t0, t1], merged per bucket when there are more exits than buckets. */
  timeline(t0: number, t1: number, buckets: number): Timeline {
    const nb = Math.max(1, Math.floor(buckets) || 1);
    const width = Math.max(t1 - t0, 1) / nb;
    const lanesOut: TimelineLane[] = [];
    this.lanes.forEach((lane, l) => {
      const chunks = lane.chunks.filter((ch) => ch.spanEnd >= t0 && ch.tMin <= t1 && !(ch.stats && Object.keys(ch.stats.exits).length === 0));
      let estimate = 0;
      for (const ch of chunks) estimate += this.exitsOverlapping(ch, t0, t1);
      // Exits overlapping the window, one chunk's columns at a time: a long range never holds
      // every chunk's columns at once (they stay cached within COLUMN_CACHE_BYTES).
      let n = 0;
      const eachExit = (fn: (t: number, end: number, k: number, ch: ChunkRef, cols: ChunkColumns) => void) => {
        for (const ch of chunks) {
          const cols = this.columns(ch);
          for (let k = 0; k < cols.exitAt.length; k++) {
            const t = cols.times[cols.exitAt[k]!]!;
            if (t > t1) break;
            const end = t + cols.exitDur[k]!;
            if (end < t0) continue;
            n++;
            fn(t, end, k, ch, cols);
          }
        }
      };
      const slices: TimelineSlice[] = [];
      if (estimate <= nb) {
        eachExit((t, end, k, ch, cols) => {
          const ord = ch.ordinal + cols.exitAt[k]!;
          slices.push({ t0: t, t1: end, reason: cols.exitReason[k]!, handling: cols.exitHandling[k]!, index: this.globalIndex(l, ord, t), count: 1 });
        });
      } else {
        let b = -1;
        let count = 0;
        let first = { t: 0, ord: 0 };
        let end = 0;
        const reasons = new Map<string, number>();
        const handlings = new Map<string, number>();
        const top = (m: Map<string, number>) => {
          let best = '';
          let bestN = -1;
          for (const [k, v] of m) if (v > bestN) [best, bestN] = [k, v];
          return best;
        };
        const emit = () => {
          if (!count) return;
          slices.push({ t0: first.t, t1: end, reason: top(reasons), handling: top(handlings), index: this.globalIndex(l, first.ord, first.t), count });
          count = 0;
          end = 0;
          reasons.clear();
          handlings.clear();
        };
        eachExit((t, e, k, ch, cols) => {
          const xb = Math.min(nb - 1, Math.max(0, Math.floor((t - t0) / width)));
          if (xb !== b) {
            emit();
            b = xb;
            first = { t, ord: ch.ordinal + cols.exitAt[k]! };
          }
          count++;
          if (e > end) end = e;
          const r = cols.exitReason[k]!;
          const h = cols.exitHandling[k]!;
          reasons.set(r, (reasons.get(r) ?? 0) + 1);
          handlings.set(h, (handlings.get(h) ?? 0) + 1);
        });
        emit();
      }
      lanesOut.push({ vm: lane.vm, vcpu: lane.vcpu, slices, exits: n });
    });
    return { t0, t1, lanes: lanesOut };
  }

  /** Notes and bookmarks, merged from the NOTE chunks (last wins). */
  notes(): NoteRecord[] {
    return mergeNotes(this.noteOps);
  }

  /** The state bytes of the nearest keyframe at or before `applied` events (file keyframes first). */
  private nearestKeyframe(applied: number): { applied: number; t: number; state: () => PageState } {
    const ks = this.keyframes;
    let lo = 0;
    let hi = ks.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (ks[mid]!.applied <= applied) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    // A damaged keyframe is skipped for the one before it.
    for (let i = best; i >= 0; i--) {
      const k = ks[i]!;
      try {
        const s = PageState.decode(keyframeBody(this.payload(k.offset, k.length), k));
        if (s.applied === k.applied) return { applied: k.applied, t: k.t, state: () => s };
      } catch {
        // fall through to an earlier keyframe
      }
    }
    if (ks.length === 0 && this.eventCount > 0) {
      const mem = this.buildMemoryKeyframes();
      let pick: { applied: number; t: number; state: Uint8Array } | undefined;
      for (const m of mem) if (m.applied <= applied) pick = m;
      if (pick) {
        const bytes = pick.state;
        return { applied: pick.applied, t: pick.t, state: () => PageState.decode(bytes) };
      }
    }
    return { applied: 0, t: 0, state: () => new PageState(this.header.vms) };
  }

  /**
   * For a session without keyframes (a killed recording, an older file): one pass over the
   * events, keeping a snapshot every KEYFRAME_EVENTS events in memory (a few KB each).
   */
  private buildMemoryKeyframes(): { applied: number; t: number; state: Uint8Array }[] {
    if (this.memoryKeyframes) return this.memoryKeyframes;
    const out: { applied: number; t: number; state: Uint8Array }[] = [];
    const state = new PageState(this.header.vms);
    for (const e of this.iterate()) {
      state.apply(e);
      if (state.applied % MEMORY_KEYFRAME_EVENTS === 0) out.push({ applied: state.applied, t: e.t, state: state.encode() });
    }
    this.memoryKeyframes = out;
    return out;
  }

  /** Page-table state just before canonical event `applied` (i.e. after events [0, applied)). */
  stateBefore(applied: number): PageState {
    const n = Math.max(0, Math.min(Math.floor(applied), this.eventCount));
    const k = this.nearestKeyframe(n);
    const state = k.state();
    if (k.applied >= n) return state;
    const c = this.cursorAfter(k.applied, k.t);
    for (let i = k.applied; i < n; i++) {
      const e = c.next();
      if (!e) break;
      state.apply(e, i);
    }
    return state;
  }

  /**
   * A cursor at canonical index `applied`, knowing `t`, the time of event `applied - 1`: every
   * event before it has a time below `t`, or equal to `t` in an earlier lane (ties go by lane),
   * so each lane's position is one count, without the binary search on time `positionAt` needs.
   */
  private cursorAfter(applied: number, t: number): MergeCursor {
    if (applied === 0) return new MergeCursor(this);
    const pos = this.lanes.map((lane) => this.countBefore(lane, t, false));
    let index = pos.reduce((a, b) => a + b, 0);
    for (let l = 0; l < this.lanes.length && index < applied; l++) {
      const atT = this.countBefore(this.lanes[l]!, t, true) - pos[l]!;
      const take = Math.min(atT, applied - index);
      pos[l] = pos[l]! + take;
      index += take;
    }
    if (index !== applied) return this.positionAt(applied).cursor; // a keyframe whose time does not fit: the slow, sure way
    const cursor = new MergeCursor(this);
    cursor.seekTo(index, pos);
    return cursor;
  }

  /** Page-table state just after event `index` (what the inspector shows for a selected event). */
  stateAfter(index: number): PageState {
    return this.stateBefore(index + 1);
  }

  /**
   * Check every keyframe of the file against a replay from the start. Returns one line per
   * keyframe that differs (empty when all match), and how many were checked.
   */
  verifyKeyframes(): { checked: number; problems: string[] } {
    const problems: string[] = [];
    const ks = this.keyframes;
    if (!ks.length) return { checked: 0, problems };
    let next = 0;
    const state = new PageState(this.header.vms);
    const check = () => {
      while (next < ks.length && ks[next]!.applied === state.applied) {
        const k = ks[next++]!;
        let body: Uint8Array | undefined;
        try {
          body = keyframeBody(this.payload(k.offset, k.length), k);
        } catch (e) {
          problems.push(`the keyframe at byte ${fmtInt(k.offset)} (after ${fmtInt(k.applied)} events) cannot be read: ${(e as Error).message}`);
          continue;
        }
        const mine = state.encode();
        if (mine.length !== body.length || mine.some((b, i) => b !== body[i]))
          problems.push(`the keyframe at byte ${fmtInt(k.offset)} (after ${fmtInt(k.applied)} events) differs from a replay of the events before it`);
      }
    };
    check();
    for (const e of this.iterate()) {
      state.apply(e);
      if (next < ks.length && ks[next]!.applied === state.applied) check();
    }
    for (; next < ks.length; next++) problems.push(`the keyframe at byte ${fmtInt(ks[next]!.offset)} is after event ${fmtInt(ks[next]!.applied)}, which the session does not have`);
    return { checked: ks.length, problems };
  }

  /** Counters over events with t0 <= t <= t1 (whole chunks from their statistics, partial ones decoded). */
  counters(t0 = 0, t1 = Number.MAX_SAFE_INTEGER): Counters {
    const out: Counters = {
      t0,
      t1,
      events: 0,
      walkRefs: 0,
      eventsByType: {},
      exitsByReason: {},
      exitsByHandling: {},
      exitNsByReason: {},
      exitMinNsByReason: {},
      exitMaxNsByReason: {},
      vcpus: [],
    };
    const exit = (reason: string, handling: string | undefined, n: number, ns: number, min: number, max: number) => {
      inc(out.exitsByReason, reason, n);
      if (handling !== undefined) inc(out.exitsByHandling, handling, n);
      inc(out.exitNsByReason, reason, ns);
      const mn = out.exitMinNsByReason[reason];
      if (mn === undefined || min < mn) out.exitMinNsByReason[reason] = min;
      if (max > (out.exitMaxNsByReason[reason] ?? -1)) out.exitMaxNsByReason[reason] = max;
    };
    for (const lane of this.lanes) {
      const v: VcpuRangeCounts = { vm: lane.vm, vcpu: lane.vcpu, events: 0, exits: 0, walkRefs: 0 };
      for (const ch of lane.chunks) {
        if (ch.tMax < t0 || ch.tMin > t1) continue;
        if (ch.tMin >= t0 && ch.tMax <= t1) {
          const st = this.chunkStats(ch);
          if (ch.bad) continue;
          for (const [k, n] of Object.entries(st.types)) inc(out.eventsByType, k, n);
          v.events += ch.count;
          for (const [reason, n] of Object.entries(st.exits)) {
            const ns = st.exitNs[reason] ?? [0, 0, 0];
            exit(reason, undefined, n, ns[0], ns[1], ns[2]);
            v.exits += n;
          }
          for (const [h, n] of Object.entries(st.handlings)) inc(out.exitsByHandling, h, n);
          v.walkRefs += this.chunkWalkRefs(ch);
          continue;
        }
        for (const e of this.decodeChunk(ch)) {
          if (e.t < t0 || e.t > t1) continue;
          inc(out.eventsByType, e.type);
          v.events++;
          if (e.type === 'vmexit') {
            v.exits++;
            exit(e.reason, e.handling, 1, e.duration, e.duration, e.duration);
          } else if (e.type === 'page_walk') v.walkRefs += e.refs;
        }
      }
      out.events += v.events;
      out.walkRefs += v.walkRefs;
      out.vcpus.push(v);
    }
    return out;
  }
}
