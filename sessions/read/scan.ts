/**
 * Opening a session: the preamble and header checked, then every chunk found by its framing
 * (trusting a clean, closed file) or checked and resynchronized past damage (strict), lanes
 * ordered, the footer and index applied, and what was lost said in diagnostics.
 */
import type { ByteSource } from '../byteSource.ts';
import { checkTypeTable } from '../codec.ts';
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
} from '../format.ts';
import type { IndexEntry, SessionHeader } from '../writer.ts';
import { KEYF_PREFIX_BYTES, parseNoteOp, readKeyfPrefix, type KeyframeRef, type NoteOp } from '../annex.ts';
import { boundedInflate } from './inflate.ts';
import { isNat, type Completeness, type ChunkRef, type ChunkStats, type Lane } from './model.ts';

/** What a scan found: enough to build a reader over the file without reading it again. */
export interface ScannedSession {
  header: SessionHeader;
  lanes: Lane[];
  complete: boolean;
  eventCount: number;
  stopMessage?: string;
  /** True when the recording was closed (it has a footer): only then may chunks be appended. */
  closed: boolean;
  keyframes: KeyframeRef[];
  noteOps: NoteOp[];
  /** Only for a cut recording (no footer). */
  completeness?: Completeness;
}

export interface ScanResult {
  /** Absent when nothing can be read (the diagnostics then hold an error). */
  found?: ScannedSession;
  diagnostics: Diagnostic[];
}

const KNOWN_CHUNKS = new Set<number>([CHUNK.HEAD, CHUNK.EVTS, CHUNK.INDX, CHUNK.FOOT, CHUNK.KEYF, CHUNK.NOTE]);

function validStats(e: Partial<ChunkStats>): boolean {
  const rec = (x: unknown) => !!x && typeof x === 'object' && Object.values(x).every((v) => isNat(v));
  if (!rec(e.types) || !rec(e.exits) || !rec(e.handlings) || !e.exitNs || typeof e.exitNs !== 'object') return false;
  return Object.values(e.exitNs).every((v) => Array.isArray(v) && v.length === 3 && v.every((x) => isNat(x)));
}

export class Diagnostics {
  readonly list: Diagnostic[] = [];
  add(severity: Diagnostic['severity'], code: string, message: string, byteOffset?: number): void {
    const d: Diagnostic = { severity, code, message };
    if (byteOffset !== undefined) d.byteOffset = byteOffset;
    this.list.push(d);
  }
}

/**
 * A closed session whose index matches its chunks is opened by trusting the framing: a few bytes
 * per chunk, each chunk's checksum checked when it is first read. Anything else (a killed
 * recording, damage before the footer, an index that disagrees) is scanned strictly: every
 * chunk read and checked, damaged ranges skipped.
 */
export function scanSession(src: ByteSource): ScanResult {
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
function scan(src: ByteSource, diags: Diagnostics, mode: ScanMode): ScanResult | undefined {
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

  // --- the header chunk, or its copy in the footer (format 1.1) when the chunk is damaged
  const head = chunkAt(src, PREAMBLE_BYTES, 'strict');
  let hdr: SessionHeader;
  let bodyStart: number;
  if (head && head.type === CHUNK.HEAD) {
    const header = parseJson(head.payload);
    const problem = checkHeader(header);
    if (problem) {
      // an intact chunk with contents this reader cannot use: a copy would say the same
      const code = /reader version|format \d|does not know/.test(problem) ? 'unsupported_version' : 'header_damaged';
      diags.add('error', code, `The session header cannot be used: ${problem}.`, PREAMBLE_BYTES);
      return { diagnostics: diags.list };
    }
    hdr = header as SessionHeader;
    bodyStart = head.offset + CHUNK_OVERHEAD + head.length;
  } else {
    // only a strict scan recovers: it reads every chunk, as a damaged file needs
    if (mode === 'trust') return undefined;
    const copy = headerFromFooter(src);
    if (!copy) {
      const cut = PREAMBLE_BYTES + 8 <= size && PREAMBLE_BYTES + CHUNK_OVERHEAD + readU32(src.read(PREAMBLE_BYTES + 4, 4), 0) > size;
      if (cut || size < PREAMBLE_BYTES + CHUNK_OVERHEAD)
        diags.add('error', 'truncated_header', 'The session was cut short before its header was complete; nothing can be read.', PREAMBLE_BYTES);
      else
        diags.add(
          'error',
          'header_damaged',
          'The session header is damaged (its checksum does not match) and the file has no intact copy of it (a footer written by MMU Lab 1.1 or later); nothing can be read safely.',
          PREAMBLE_BYTES,
        );
      return { diagnostics: diags.list };
    }
    hdr = copy.header;
    bodyStart = copy.bodyStart;
    // the file is damaged even though every event is readable: say so as loss (verify exits 2), not as a note
    diags.add(
      'dataLoss',
      'header_recovered',
      `The session header is damaged (its checksum does not match); its copy in the footer (byte ${fmtInt(copy.footerAt)}) was used instead, so every recorded event is still readable. \`mmu-lab verify --repair -o <file>\` writes a repaired file.`,
      PREAMBLE_BYTES,
    );
  }

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
  let lastGood = bodyStart;
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
  const completeness = footer ? undefined : laneCompleteness(laneList);
  if (!footer) {
    const where =
      truncatedAt >= 0
        ? `in the middle of a chunk (byte ${fmtInt(truncatedAt)}; the ${fmtInt(size - truncatedAt)} bytes from there on are lost)`
        : `after byte ${fmtInt(lastGood)}`;
    diags.add(
      'dataLoss',
      'recording_incomplete',
      `The session appears to have been cut short ${where}: the recording did not finish (no footer). ${fmtInt(total)} events can be read, up to t = ${fmtNs(endNs)}; ${completenessText(completeness!)}.`,
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

  return {
    diagnostics: diags.list,
    found: {
      header: hdr,
      lanes: laneList,
      complete,
      eventCount: total,
      stopMessage: footer?.message,
      closed: footer !== undefined,
      keyframes: keyframes.filter((k) => k.total === total).sort((a, b) => a.applied - b.applied),
      noteOps,
      ...(completeness ? { completeness } : {}),
    },
  };
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

/** Each lane is complete up to the last event of its last intact chunk; all lanes up to the earliest of those. */
function laneCompleteness(lanes: Lane[]): Completeness {
  const list = lanes.map((l) => ({ vm: l.vm, vcpu: l.vcpu, events: l.count, completeNs: l.chunks.length ? l.chunks[l.chunks.length - 1]!.tMax : 0 }));
  return { allLanesNs: list.length ? Math.min(...list.map((l) => l.completeNs)) : 0, lanes: list };
}

/** "all vCPUs are complete up to t = …; VM 0 vCPU 0 up to …, …" (the first 8 lanes named). */
export function completenessText(c: Completeness): string {
  const shown = c.lanes.slice(0, 8).map((l) => `VM ${l.vm} vCPU ${l.vcpu} up to ${l.events ? fmtNs(l.completeNs) : 'its start (no event readable)'}`);
  const more = c.lanes.length > 8 ? `, and ${c.lanes.length - 8} more` : '';
  return `all vCPUs are complete up to t = ${fmtNs(c.allLanesNs)}, after which some vCPUs' events may be missing (each vCPU is complete up to its last intact chunk: ${shown.join(', ')}${more})`;
}

/**
 * The copy of the header in the footer (format 1.1), for a file whose HEAD chunk is damaged; and
 * where the chunks after the header start. The footer is found from the end of the file, walking
 * back over the keyframes and notes appended after it by their trailing lengths (a few reads,
 * and none at all for a file cut short, whose last chunk is torn).
 */
function headerFromFooter(src: ByteSource): { header: SessionHeader; footerAt: number; bodyStart: number } | undefined {
  const size = src.size;
  let found: { header: SessionHeader; footerAt: number } | undefined;
  for (let end = size; end >= PREAMBLE_BYTES + 2 * CHUNK_OVERHEAD; ) {
    const len = readU32(src.read(end - 4, 4), 0);
    const at = end - CHUNK_OVERHEAD - len;
    if (len > CAPS.maxChunkBytes || at < PREAMBLE_BYTES) break;
    const c = chunkAt(src, at, 'strict');
    if (!c || c.offset + CHUNK_OVERHEAD + c.length !== end) break;
    if (c.type === CHUNK.FOOT) {
      const f = parseJson(c.payload) as { header?: unknown } | undefined;
      if (f && typeof f === 'object' && !checkHeader(f.header)) found = { header: f.header as SessionHeader, footerAt: c.offset };
      break;
    }
    // only chunks appended after the footer lie between it and the end
    if (c.type === CHUNK.EVTS || c.type === CHUNK.INDX || c.type === CHUNK.HEAD) break;
    end = at;
  }
  if (!found) return undefined;
  // the chunks after the header: where its own framing says, if its two lengths still agree
  const len = readU32(src.read(PREAMBLE_BYTES + 4, 4), 0);
  const end = PREAMBLE_BYTES + CHUNK_OVERHEAD + len;
  const framed = len <= CAPS.maxChunkBytes && end <= found.footerAt && readU32(src.read(end - 4, 4), 0) === len;
  const bodyStart = framed ? end : (resync(src, PREAMBLE_BYTES + 1)?.offset ?? found.footerAt);
  return { ...found, bodyStart };
}
