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
import { CAPS, CHUNK, CHUNK_OVERHEAD } from '../format.ts';
import type { IndexEntry } from '../writer.ts';
import { parseNoteOp, readKeyfPrefix, readKeyframeIndex, type KeyframeRef, type NoteOp } from '../annex.ts';
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
} from './framing.ts';
import { isNat, type ChunkRef, type Lane } from './model.ts';
import type { ScanResult } from './scanResult.ts';
import { readStart } from './start.ts';

/** Most chunks of unknown types written at close (between the event chunks and the footer) this path steps over. */
const MAX_CLOSE_CHUNKS = 64;

export function openFromFooter(src: ByteSource, diags: Diagnostics): ScanResult | undefined {
  const start = readStart(src, diags, false);
  if (start === 'failed') return { diagnostics: diags.list };
  if (!start) return undefined;
  const { header, bodyStart } = start;
  const skipped = new SkippedChunks();

  const tail = walkBackToFooter(src, bodyStart, skipped);
  if (!tail) return undefined;
  const { footer, footerOffset } = tail;
  if (!isNat(footer.indexOffset) || footer.indexOffset < bodyStart) return undefined;
  const index = chunkAt(src, footer.indexOffset, 'strict');
  if (!index || index.type !== CHUNK.INDX) return undefined;
  if (!stepOverCloseChunks(src, index.offset + CHUNK_OVERHEAD + index.length, footerOffset, skipped)) return undefined;
  const entries = parseIndex(index.payload);
  if (!entries) return undefined;

  const lanes = lanesFromIndex(entries, header.vcpus);
  if (!lanes) return undefined;
  // the event chunks tile the file from the header on, then only close-time chunks up to the index
  const order = lanes.flatMap((l) => l.chunks).sort((a, b) => a.offset - b.offset);
  let at = bodyStart;
  for (const ch of order) {
    if (ch.offset !== at) return undefined;
    at += CHUNK_OVERHEAD + ch.length;
  }
  if (!stepOverCloseChunks(src, at, index.offset, skipped)) return undefined;
  const total = lanes.reduce((n, l) => n + l.count, 0);
  if (footer.events !== total || (footer.chunks !== undefined && footer.chunks !== order.length)) return undefined;

  skipped.report(diags);
  stoppedDiagnostic(diags, footer, footerOffset);
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
      const listed = readKeyframeIndex(c.payload);
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
 * The chunks from `from` to exactly `to` are whole chunks of types this reader does not know
 * (written at close by a newer writer): count them as the forward walk would. True when they are.
 */
function stepOverCloseChunks(src: ByteSource, from: number, to: number, skipped: SkippedChunks): boolean {
  let at = from;
  for (let n = 0; at < to && n < MAX_CLOSE_CHUNKS; n++) {
    // trusting: framed and checksummed, except the summaries, whose levels are checked when read
    const c = chunkAt(src, at, 'trust');
    if (!c || KNOWN_CHUNKS.has(c.type)) return false;
    skipped.unknown(c);
    at += CHUNK_OVERHEAD + c.length;
  }
  return at === to;
}

/**
 * The lanes as the index lists them, each chunk's prefix taken from its entry (and checked
 * against the chunk when it is first read). Undefined unless every entry is complete (format 1.2),
 * keeps the format's constraints, and every lane's chunks run from seq 0 without gaps, in file
 * order, with times that never go back: what the forward walk would find in a clean file.
 */
function lanesFromIndex(entries: IndexEntry[], vcpus: number[]): Lane[] | undefined {
  const lanes: Lane[] = [];
  const byKey = new Map<number, Lane>();
  vcpus.forEach((n, vm) => {
    for (let vcpu = 0; vcpu < n; vcpu++) {
      const lane: Lane = { vm, vcpu, chunks: [], count: 0 };
      lanes.push(lane);
      byKey.set(vm * 65536 + vcpu, lane);
    }
  });
  const nat = (x: unknown) => isNat(x);
  let lastOffset = -1;
  for (const e of entries) {
    if (!e || typeof e !== 'object') return undefined;
    const fields = [e.offset, e.vm, e.vcpu, e.seq, e.count, e.t0, e.t1, e.spanEnd, e.length, e.rawLength, e.codec];
    if (!fields.every(nat) || !validStats(e) || e.length! > CAPS.maxChunkBytes) return undefined;
    // the writer lists chunks in the order it wrote them
    if (e.offset <= lastOffset) return undefined;
    lastOffset = e.offset;
    const lane = byKey.get(e.vm * 65536 + e.vcpu);
    if (!lane || e.vm > 0xffff || e.vcpu > 0xffff) return undefined;
    const prev = lane.chunks[lane.chunks.length - 1];
    if (e.seq !== lane.chunks.length || (prev && e.t0 < prev.tMax)) return undefined;
    const ch: ChunkRef = {
      vm: e.vm,
      vcpu: e.vcpu,
      seq: e.seq,
      firstOrdinal: lane.count,
      count: e.count,
      rawLength: e.rawLength!,
      tMin: e.t0,
      tMax: e.t1,
      spanEnd: e.spanEnd,
      codec: e.codec!,
      offset: e.offset,
      length: e.length!,
      ordinal: lane.count,
      stats: { types: e.types, exits: e.exits, exitNs: e.exitNs, handlings: e.handlings },
      unverified: true,
    };
    if (isNat(e.walkRefs)) ch.walkRefs = e.walkRefs;
    if (!validPrefix(ch, ch.length, true)) return undefined;
    lane.chunks.push(ch);
    lane.count += ch.count;
  }
  return lanes;
}
