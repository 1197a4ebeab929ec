/**
 * Opening a closed session from its end, in a number of reads that does not depend on how many
 * chunks it has: the footer is found by walking back over the chunks appended after it (notes,
 * and keyframes by the KIDX chunk that lists them), the index is read at the footer's
 * `indexOffset`, and its chunk list (format 1.2) is trusted for every event chunk's place,
 * lane, counts and times. Footer, index and KIDX are checksummed; each event chunk's framing,
 * prefix and checksum are checked against its index entry when it is first read
 * (read/chunkStore.ts). Anything that does not fit (no footer, damage at the end, an older
 * index, an index whose chunks do not tile the file) returns undefined: the caller walks the
 * chunks as before.
 */
import type { ByteSource } from '../byteSource.ts';
import { CAPS, CHUNK, CHUNK_OVERHEAD, EVTS_PREFIX_BYTES, type Diagnostic } from '../format.ts';
import type { IndexEntry } from '../writer.ts';
import { readChunkList, type ListedChunk, type SessionTotals } from '../chunkList.ts';
import { KEYF_PREFIX_BYTES, parseNoteOp, readKeyfPrefix, readKeyframeIndex, type KeyframeRef, type NoteOp } from '../annex.ts';
import {
  KNOWN_CHUNKS,
  SkippedChunks,
  chunkAt,
  chunkEndingAt,
  parseFooter,
  parseIndex,
  stoppedDiagnostic,
  validPrefix,
  validStats,
  type Diagnostics,
  type FooterFields,
  type Framed,
} from './framing.ts';
import { inc, isNat, tally, type ChunkRef, type ChunkStats, type Lane, type WholeCounts } from './model.ts';
import type { ScanResult } from './scanResult.ts';
import type { Start } from './start.ts';

/** Most chunks of unknown types written at close (between the event chunks and the footer) this path steps over. */
const MAX_CLOSE_CHUNKS = 64;

/** `start`: the checked preamble and header (read/start.ts). */
export function openFromFooter(src: ByteSource, start: Start, diags: Diagnostics): ScanResult | undefined {
  const { header, bodyStart } = start;
  const skipped = new SkippedChunks();

  const tail = walkBackToFooter(src, bodyStart, skipped);
  if (!tail) return undefined;
  const { footer, footerOffset } = tail;
  const index = isNat(footer.indexOffset) && footer.indexOffset >= bodyStart ? chunkAt(src, footer.indexOffset, 'strict') : undefined;
  if (!index || index.type !== CHUNK.INDX) return undefined;
  // the binary chunk list (format 1.2), else the index's entries (their JSON parsed now)
  let listed: ListedChunk[] | undefined;
  let stats: ChunkStats[] | undefined;
  let list: Framed | undefined;
  if (footer.chunkListOffset !== undefined) {
    list = isNat(footer.chunkListOffset) && footer.chunkListOffset >= bodyStart ? chunkAt(src, footer.chunkListOffset, 'strict') : undefined;
    if (!list || list.type !== CHUNK.CLST) return undefined;
    // every listed chunk holds at least its framing and prefix between the header and the footer
    listed = readChunkList(list.payload, Math.floor((footerOffset - bodyStart) / (CHUNK_OVERHEAD + EVTS_PREFIX_BYTES)));
  } else {
    const entries = parseIndex(index.payload);
    const fromIndex = entries && listedFromIndex(entries);
    listed = fromIndex?.listed;
    stats = fromIndex?.stats;
  }
  if (!listed) return undefined;
  const lanes = lanesOf(listed, stats, header.vcpus);
  if (!lanes) return undefined;

  // the event chunks tile the file from the header on; then, up to the footer, only the index,
  // the chunk list and chunks of unknown types written at close
  let at = bodyStart;
  for (const c of listed) {
    if (c.offset !== at) return undefined;
    at += CHUNK_OVERHEAD + c.length;
  }
  const expected = new Map<number, number>([[index.offset, index.length]]);
  if (list) expected.set(list.offset, list.length);
  if (!stepOverCloseChunks(src, at, footerOffset, expected, skipped)) return undefined;
  const total = lanes.reduce((n, l) => n + l.count, 0);
  if (footer.events !== total || (footer.chunks !== undefined && footer.chunks !== listed.length)) return undefined;

  skipped.report(diags);
  stoppedDiagnostic(diags, footer, footerOffset);
  const totals = list ? totalsOf(footer.totals, lanes, total) : undefined;
  return {
    diagnostics: diags.list,
    found: {
      header,
      lanes,
      complete: footer.complete,
      eventCount: total,
      stopMessage: footer.message,
      closed: true,
      keyframes: tail.keyframes.filter((k) => k.total === total).sort((a, b) => a.applied - b.applied),
      noteOps: tail.noteOps,
      footer,
      otherChunks: skipped.others.sort((a, b) => a.offset - b.offset),
      ...(skipped.summaryOffset !== undefined ? { summaryOffset: skipped.summaryOffset } : {}),
      ...(totals ? { totals } : {}),
      ...(list ? { pendingIndex: index.payload } : {}),
    },
  };
}

interface Tail {
  footer: FooterFields & Record<string, unknown>;
  footerOffset: number;
  keyframes: KeyframeRef[];
  /** In file order. */
  noteOps: NoteOp[];
}

/**
 * From the end of the file back to the footer, over what was appended after it: notes (read
 * whole: they are opened anyway), keyframes listed by a KIDX chunk (one jump over all of them),
 * a keyframe without one (one step, an older file), chunks of unknown types. A chunk that does
 * not frame, or an event chunk, index or header before the footer is found: undefined.
 */
function walkBackToFooter(src: ByteSource, floor: number, skipped: SkippedChunks): Tail | undefined {
  const keyframes: KeyframeRef[] = [];
  const notesBackwards: NoteOp[] = [];
  for (let end = src.size; ; ) {
    const c = chunkEndingAt(src, end, floor, 'trust');
    if (!c) return undefined;
    if (c.type === CHUNK.FOOT) {
      const footer = parseFooter(c.payload);
      return footer ? { footer, footerOffset: c.offset, keyframes, noteOps: notesBackwards.reverse() } : undefined;
    }
    end = c.offset;
    if (c.type === CHUNK.KIDX) {
      const listed = readKeyframeIndex(c.payload, Math.floor((end - floor) / (CHUNK_OVERHEAD + KEYF_PREFIX_BYTES)));
      if (!listed) return undefined;
      // the keyframes it lists lie back to back right before it
      for (let i = listed.length - 1; i >= 0; i--) {
        const k = listed[i]!;
        if (k.offset + CHUNK_OVERHEAD + k.length !== end || k.offset < floor) return undefined;
        end = k.offset;
        keyframes.push(k);
      }
    } else if (c.type === CHUNK.KEYF) {
      const k = readKeyfPrefix(c.payload, c.offset, c.length);
      if (k) keyframes.push(k);
      else skipped.unusableAnnex(c.offset);
    } else if (c.type === CHUNK.NOTE) {
      // past the reader's cap the forward walk reports the rest as unusable: leave such a file to it
      if (notesBackwards.length >= CAPS.maxNotes) return undefined;
      const n = parseNoteOp(c.payload);
      if (n) notesBackwards.push(n);
      else skipped.unusableAnnex(c.offset);
    } else if (KNOWN_CHUNKS.has(c.type)) return undefined;
    else skipped.unknown(c);
  }
}

/**
 * The chunks from `from` to exactly `to` are the ones `expected` places (offset to payload length:
 * the index and the chunk list, already read) and whole chunks of types this reader does not
 * know, written at close by a newer writer, counted as the forward walk would. True when they are.
 */
function stepOverCloseChunks(src: ByteSource, from: number, to: number, expected: Map<number, number>, skipped: SkippedChunks): boolean {
  let at = from;
  let seen = 0;
  for (let n = 0; at < to && n < MAX_CLOSE_CHUNKS; n++) {
    const length = expected.get(at);
    if (length !== undefined) {
      seen++;
      at += CHUNK_OVERHEAD + length;
      continue;
    }
    // trusting: framed and checksummed, except the types whose contents are checked when read
    const c = chunkAt(src, at, 'trust');
    if (!c || KNOWN_CHUNKS.has(c.type)) return false;
    skipped.unknown(c);
    at += CHUNK_OVERHEAD + c.length;
  }
  return at === to && seen === expected.size;
}

/** The index's entries as chunk-list records with their statistics; undefined unless every entry is complete (format 1.2). */
function listedFromIndex(entries: IndexEntry[]): { listed: ListedChunk[]; stats: ChunkStats[] } | undefined {
  const listed: ListedChunk[] = [];
  const stats: ChunkStats[] = [];
  for (const e of entries) {
    if (!e || typeof e !== 'object' || !validStats(e)) return undefined;
    const { offset, length, vm, vcpu, seq, count, rawLength, codec, t0, t1, spanEnd } = e;
    if (![length, rawLength, codec].every((x) => isNat(x))) return undefined;
    listed.push({ offset, length: length!, vm, vcpu, seq, count, rawLength: rawLength!, codec: codec!, tMin: t0, tMax: t1, spanEnd, walkRefs: e.walkRefs ?? 0 });
    stats.push({ types: e.types, exits: e.exits, exitNs: e.exitNs, handlings: e.handlings });
  }
  return { listed, stats };
}

/**
 * The lanes as the chunk list gives them, each chunk's prefix taken from its record (and checked
 * against the chunk when it is first read). Undefined unless every record keeps the format's
 * constraints and every lane's chunks run from seq 0 without gaps, in file order, with times
 * that never go back: what the forward walk would find in a clean file.
 */
function lanesOf(listed: ListedChunk[], stats: ChunkStats[] | undefined, vcpus: number[]): Lane[] | undefined {
  const lanes: Lane[] = [];
  const byKey = new Map<number, Lane>();
  vcpus.forEach((n, vm) => {
    for (let vcpu = 0; vcpu < n; vcpu++) {
      const lane: Lane = { vm, vcpu, chunks: [], count: 0 };
      lanes.push(lane);
      byKey.set(vm * 65536 + vcpu, lane);
    }
  });
  let lastOffset = -1;
  for (let i = 0; i < listed.length; i++) {
    const c = listed[i]!;
    // the integer fields of a binary record are natural numbers by construction; the doubles may not be
    if (!isNat(c.offset) || !isNat(c.tMin) || !isNat(c.tMax) || !isNat(c.spanEnd) || !isNat(c.walkRefs)) return undefined;
    if (stats && ![c.vm, c.vcpu, c.seq, c.count, c.length, c.rawLength, c.codec].every((x) => isNat(x))) return undefined;
    // the writer lists chunks in the order it wrote them
    if (c.offset <= lastOffset || c.length > CAPS.maxChunkBytes) return undefined;
    lastOffset = c.offset;
    const lane = c.vm <= 0xffff && c.vcpu <= 0xffff ? byKey.get(c.vm * 65536 + c.vcpu) : undefined;
    if (!lane) return undefined;
    const prev = lane.chunks[lane.chunks.length - 1];
    if (c.seq !== lane.chunks.length || (prev && c.tMin < prev.tMax)) return undefined;
    const ch: ChunkRef = {
      vm: c.vm,
      vcpu: c.vcpu,
      seq: c.seq,
      firstOrdinal: lane.count,
      count: c.count,
      rawLength: c.rawLength,
      tMin: c.tMin,
      tMax: c.tMax,
      spanEnd: c.spanEnd,
      codec: c.codec,
      offset: c.offset,
      length: c.length,
      ordinal: lane.count,
      walkRefs: c.walkRefs,
      unverified: true,
    };
    if (stats) ch.stats = stats[i];
    if (!validPrefix(ch, ch.length, true)) return undefined;
    lane.chunks.push(ch);
    lane.count += ch.count;
  }
  return lanes;
}

/** The footer's totals as the summary's whole-session counts, if they agree with the lanes. */
function totalsOf(x: unknown, lanes: Lane[], total: number): WholeCounts | undefined {
  if (!x || typeof x !== 'object') return undefined;
  const t = x as Partial<SessionTotals>;
  const counts = (r: unknown): Record<string, number> | undefined => {
    if (!r || typeof r !== 'object' || !Object.values(r).every((v) => isNat(v))) return undefined;
    const out = tally();
    for (const [k, v] of Object.entries(r as Record<string, number>)) inc(out, k, v);
    return out;
  };
  const eventsByType = counts(t.types);
  const exitsByReason = counts(t.exits);
  if (!eventsByType || !exitsByReason || !Array.isArray(t.lanes)) return undefined;
  const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
  const exitsOf = new Map<number, number>();
  let laneExits = 0;
  for (const l of t.lanes as unknown[]) {
    if (!Array.isArray(l) || l.length !== 4 || !l.every((v) => isNat(v))) return undefined;
    const [vm, vcpu, events, exits] = l as number[];
    const lane = lanes.find((x) => x.vm === vm && x.vcpu === vcpu);
    if (!lane || lane.count !== events || exitsOf.has(vm! * 65536 + vcpu!)) return undefined;
    exitsOf.set(vm! * 65536 + vcpu!, exits!);
    laneExits += exits!;
  }
  if (sum(eventsByType) !== total || sum(exitsByReason) !== laneExits) return undefined;
  const vcpus = lanes.map((l) => ({ vm: l.vm, vcpu: l.vcpu, events: l.count, exits: exitsOf.get(l.vm * 65536 + l.vcpu) ?? 0 }));
  return { vcpus, eventsByType, exitsByReason };
}

/**
 * The per-chunk statistics of an index whose JSON an open from the footer did not parse: applied
 * to every chunk when the first one is needed, if the index lists exactly the chunks the chunk
 * list did (else they are rebuilt from each chunk as it is read, and an info note says so).
 */
export function applyDeferredIndex(payload: Uint8Array, lanes: Lane[], diagnostics: Diagnostic[]): void {
  const entries = parseIndex(payload);
  const chunks = lanes.flatMap((l) => l.chunks).sort((a, b) => a.offset - b.offset);
  const fits =
    entries &&
    entries.length === chunks.length &&
    entries.every((e, i) => {
      const ch = chunks[i]!;
      return !!e && typeof e === 'object' && e.offset === ch.offset && e.vm === ch.vm && e.vcpu === ch.vcpu && e.seq === ch.seq && e.count === ch.count && e.t0 === ch.tMin && e.t1 === ch.tMax && e.spanEnd === ch.spanEnd && validStats(e);
    });
  if (!fits) {
    diagnostics.push({ severity: 'info', code: 'index_rebuilt', message: "The chunk index does not match the session's chunk list; per-chunk statistics are rebuilt from the chunks as they are read." });
    return;
  }
  entries.forEach((e, i) => (chunks[i]!.stats ??= { types: e.types, exits: e.exits, exitNs: e.exitNs, handlings: e.handlings }));
}
