/**
 * Opening a session: a closed, clean file from its end (read/footerOpen.ts); otherwise the
 * preamble and header checked, then every chunk found by its framing (trusting a closed file
 * whose index matches) or checked and resynchronized past damage (strict), lanes ordered, the
 * footer and index applied, and what was lost said in diagnostics.
 */
import type { ByteSource } from '../byteSource.ts';
import { CAPS, CHUNK, CHUNK_OVERHEAD, EVTS_PREFIX_BYTES, fmtInt, fmtNs, readEvtsPrefix, readU32 } from '../format.ts';
import { parseNoteOp, readKeyfPrefix, type KeyframeRef, type NoteOp } from '../annex.ts';
import {
  ANNEX_CHUNKS,
  Diagnostics,
  SkippedChunks,
  chunkAt,
  parseFooter,
  resync,
  stoppedDiagnostic,
  validPrefix,
  parseIndex,
  validStats,
  type FooterFields,
  type ScanMode,
} from './framing.ts';
import { openFromFooter } from './footerOpen.ts';
import { isNat, type Completeness, type ChunkRef, type Lane } from './model.ts';
import type { ScanResult } from './scanResult.ts';
import { readStart, type Start } from './start.ts';

export { Diagnostics } from './framing.ts';
export type { ScanResult, ScannedSession } from './scanResult.ts';

/**
 * Three ways, cheapest first. A closed file whose footer, index and keyframe list are intact is
 * opened from its end in a few reads, whatever its number of chunks, trusting the index for
 * every event chunk (read/footerOpen.ts). Failing that, a closed session whose index matches its
 * chunks is opened by walking their framing: a few bytes per chunk. Either way each event
 * chunk's checksum (and, from the footer, its framing and prefix) is checked when it is first
 * read. Anything else (a killed recording, damage before the footer, an index that disagrees)
 * is scanned strictly: every chunk read and checked, damaged ranges skipped.
 */
export function scanSession(src: ByteSource): ScanResult {
  const first = new Diagnostics();
  const start = readStart(src, first, false);
  if (start === 'failed') return { diagnostics: first.list };
  // a damaged header chunk: only a strict scan recovers it (from the footer's copy), as it reads every chunk
  if (!start) return scan(src, new Diagnostics(), 'strict')!;
  return openFromFooter(src, start, new Diagnostics()) ?? scan(src, new Diagnostics(), 'trust', start) ?? scan(src, new Diagnostics(), 'strict', start)!;
}

/** Scan the session's chunks. A trusting scan returns undefined when the file must be scanned strictly. */
function scan(src: ByteSource, diags: Diagnostics, mode: ScanMode, known?: Start): ScanResult | undefined {
  const size = src.size;
  const start = known ?? readStart(src, diags, mode === 'strict');
  if (start === 'failed') return { diagnostics: diags.list };
  if (!start) return undefined;
  const { header: hdr, bodyStart } = start;

  // --- every other chunk
  const lanes = new Map<number, Lane>();
  const laneKey = (vm: number, vcpu: number) => vm * 65536 + vcpu;
  for (let vm = 0; vm < hdr.vms; vm++)
    for (let vcpu = 0; vcpu < hdr.vcpus[vm]!; vcpu++) lanes.set(laneKey(vm, vcpu), { vm, vcpu, chunks: [], count: 0 });
  let footer: (FooterFields & Record<string, unknown>) | undefined;
  let footerOffset = -1;
  let indexAt = -1;
  let indexPayload: Uint8Array | undefined;
  const skipped = new SkippedChunks();
  const keyframes: KeyframeRef[] = [];
  const noteOps: NoteOp[] = [];
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
      if (!lane || !validPrefix(p, c.length, true)) {
        badChunks++;
        if (badFirst < 0) badFirst = c.offset;
        continue;
      }
      lane.chunks.push({ ...p, offset: c.offset, length: c.length, ordinal: 0 });
    } else if (c.type === CHUNK.FOOT) {
      const f = parseFooter(c.payload);
      if (f) {
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
      else skipped.unusableAnnex(c.offset);
    } else if (c.type === CHUNK.KIDX || c.type === CHUNK.CLST) {
      // lists of the keyframes and event chunks, for opening from the end; this walk finds them itself
    } else if (c.type === CHUNK.HEAD) {
      badChunks++;
      if (badFirst < 0) badFirst = c.offset;
    } else skipped.unknown(c);
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
  skipped.report(diags);

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
    if (truncatedAt >= 0 && ANNEX_CHUNKS.has(tornType))
      // appended after the recording was closed: a crash while adding a keyframe or a note costs only that chunk
      diags.add(
        'info',
        'truncated_annex',
        `The file ends in the middle of a ${tornType === CHUNK.NOTE ? 'note' : 'keyframe'} that was being appended (byte ${fmtInt(truncatedAt)}); it is ignored, and every recorded event is intact.`,
        truncatedAt,
      );
    else if (truncatedAt >= 0)
      diags.add('dataLoss', 'truncated_chunk', `The file ends in the middle of a chunk (byte ${fmtInt(truncatedAt)}) after its footer.`, truncatedAt);
    stoppedDiagnostic(diags, footer, footerOffset);
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
      ...(footer ? { footer } : {}),
      otherChunks: skipped.others,
      ...(skipped.summaryOffset !== undefined ? { summaryOffset: skipped.summaryOffset } : {}),
    },
  };
}

/**
 * Take per-chunk statistics from the index if it matches the scanned chunks exactly. A trusting
 * scan also needs each chunk's times to match, as its prefix was not checksummed.
 */
function applyIndex(payload: Uint8Array, lanes: Lane[], mode: ScanMode): boolean {
  const entries = parseIndex(payload);
  if (!entries) return false;
  const byOffset = new Map<number, ChunkRef>();
  for (const l of lanes) for (const ch of l.chunks) byOffset.set(ch.offset, ch);
  if (entries.length !== byOffset.size) return false;
  for (const e of entries) {
    const ch = e && typeof e === 'object' ? byOffset.get(e.offset) : undefined;
    if (!ch || ch.vm !== e.vm || ch.vcpu !== e.vcpu || ch.seq !== e.seq || ch.count !== e.count) return false;
    if (mode === 'trust' && (ch.tMin !== e.t0 || ch.tMax !== e.t1 || ch.spanEnd !== e.spanEnd)) return false;
    if (!validStats(e)) return false;
  }
  for (const e of entries) {
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
