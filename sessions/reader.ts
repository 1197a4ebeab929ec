/**
 * The session reader. `openSession` never throws: whatever the bytes, it returns the
 * readable part of the session (if any) and diagnostics that say what was lost and why.
 *
 * Opening reads the chunk framing, not the events (read/scan.ts); events are read, checked and
 * decoded lazily, per chunk, with a small cache (read/chunkStore.ts). The index written at close
 * supplies per-chunk statistics (so the summary needs no decoding); when it is missing or does
 * not match the scan, the reader rebuilds what it needs from the chunks themselves. This module
 * is the reader's public face; the work is done by the modules in read/.
 */
import { statSync } from 'node:fs';
import { FileSource, SourceError, memorySource, windowed, type ByteSource } from './byteSource.ts';
import { nonRegularKind, notRegularMessage } from './fileKind.ts';
import { toHex, type MmuEvent } from '../core/events.ts';
import type { ChunkColumns, FileEventType } from './codec.ts';
import type { Diagnostic } from './format.ts';
import type { SessionHeader } from './writer.ts';
import { mergeNotes, type KeyframeRef, type NoteOp, type NoteRecord } from './annex.ts';
import type { PageState } from './state.ts';
import { ChunkStore } from './read/chunkStore.ts';
import { counters, wholeCounts } from './read/counters.ts';
import { LaneIndex } from './read/laneIndex.ts';
import { MergeCursor, iterateEvents } from './read/mergeCursor.ts';
import type { ChunkRef, ChunkStats, Completeness, Counters, Lane, SummaryData, Timeline, WholeCounts } from './read/model.ts';
import { applyDeferredIndex } from './read/footerOpen.ts';
import { PageStates } from './read/pageStates.ts';
import { positionAt } from './read/positions.ts';
import { Diagnostics, scanSession, type ScannedSession } from './read/scan.ts';
import { timeline } from './read/timeline.ts';
import { Summaries } from './read/summaries.ts';
import type { Steps } from './views/steps.ts';
import { exitSplit, type ExitSplit } from './read/exitSplit.ts';
import { density, type DensityView } from './read/density.ts';

export type { Diagnostic } from './format.ts';
export { ReaderLimitError } from './read/limits.ts';
export type { Completeness, Counters, SummaryData, Timeline, TimelineLane, TimelineSlice, VcpuCounts, VcpuRangeCounts } from './read/model.ts';

export interface OpenResult {
  session?: SessionReader;
  diagnostics: Diagnostic[];
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
      const kind = nonRegularKind(st);
      if (kind) {
        // never opened: reading a named pipe or a device could wait forever or never end
        diags.add('error', 'cannot_open', notRegularMessage(input, kind, 'session file', 'opens'));
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

function open(src: ByteSource): OpenResult {
  const { found, diagnostics } = scanSession(src);
  return found ? { session: new SessionReader(src, found, diagnostics), diagnostics } : { diagnostics };
}

export class SessionReader {
  private readonly ix: LaneIndex;
  private readonly store: ChunkStore;
  private readonly states: PageStates;
  private readonly sums: Summaries;
  /** The whole session's counts from the footer, when it was opened from there. */
  private readonly totals: WholeCounts | undefined;
  private cursor: MergeCursor | undefined;
  /** The cursor of the last filtered `events` call, to page on cheaply. */
  private filtered: { key: string; cursor: MergeCursor; seen: number } | undefined;
  readonly header: SessionHeader;
  readonly complete: boolean;
  readonly eventCount: number;
  readonly stopMessage?: string;
  readonly startNs: number;
  readonly endNs: number;
  readonly lanes: Lane[];
  /** True when the recording was closed (it has a footer): only then may chunks be appended. */
  readonly closed: boolean;
  /** Keyframes written for exactly this session's events, in order. */
  readonly keyframes: KeyframeRef[];
  readonly noteOps: NoteOp[];
  /** Only for a cut recording (no footer): up to when each lane, and all lanes, hold every event. */
  readonly completeness?: Completeness;

  constructor(
    src: ByteSource,
    found: ScannedSession,
    readonly diagnostics: Diagnostic[],
  ) {
    this.header = found.header;
    this.complete = found.complete;
    this.eventCount = found.eventCount;
    this.stopMessage = found.stopMessage;
    this.lanes = found.lanes;
    this.closed = found.closed;
    this.keyframes = found.keyframes;
    this.noteOps = found.noteOps;
    if (found.completeness) this.completeness = found.completeness;
    this.store = new ChunkStore(src, this.eventTypes, diagnostics);
    const pending = found.pendingIndex;
    if (pending) this.store.deferStats(() => applyDeferredIndex(pending, this.lanes, diagnostics));
    this.totals = found.totals;
    this.ix = new LaneIndex(this.lanes, this.store);
    this.startNs = this.ix.startNs;
    this.endNs = this.ix.endNs;
    this.states = new PageStates(this.ix, this.header.vms, this.eventCount, this.keyframes);
    this.sums = new Summaries(src, this.lanes, this.store, this.eventTypes.map((t) => t.name), diagnostics, found.summaryOffset);
  }

  /** The event-type table the file was written with. */
  get eventTypes(): FileEventType[] {
    return this.header.eventTypes as FileEventType[];
  }

  chunkOfOrdinal(lane: Lane, ord: number): number {
    return this.ix.chunkOfOrdinal(lane, ord);
  }

  /** The events of one chunk (cached). A chunk that fails to decode yields [] and a diagnostic. */
  decodeChunk(ch: ChunkRef): MmuEvent[] {
    return this.store.decodeChunk(ch);
  }

  /**
   * A chunk's statistics from the index, without reading the chunk; undefined when the index has
   * none for it. After an open from the footer the first call parses the index (once).
   */
  indexedStats(ch: ChunkRef): ChunkStats | undefined {
    return this.store.indexedStats(ch);
  }

  /** Read and check a whole chunk without keeping its events: damage is reported as on first use (see `verify`). */
  checkChunk(ch: ChunkRef): void {
    this.store.check(ch);
  }

  /** Read a chunk and check its checksum only, without inflating or decoding it (`mmu-lab info`'s pass). */
  checksumChunk(ch: ChunkRef): void {
    this.store.checksum(ch);
  }

  /** Times and exits of a chunk without building event objects (kept within the column cache's budget). */
  columns(ch: ChunkRef): ChunkColumns {
    return this.store.columns(ch);
  }

  /** Bytes of chunk columns kept now, and the most that may be kept (settable, for a host short of memory). */
  get columnCache(): { bytes: number; chunks: number; budget: number } {
    return this.store.columnCache;
  }
  set columnCacheBudget(bytes: number) {
    this.store.columnCacheBudget = bytes;
  }

  summary(): SummaryData {
    return {
      scenarioName: this.header.scenarioName,
      complete: this.complete,
      vms: this.header.vms,
      events: this.eventCount,
      startNs: this.startNs,
      endNs: this.endNs,
      ...(this.totals ?? wholeCounts(this.ix, this.sums)),
      ...(this.completeness ? { completeness: this.completeness } : {}),
      ...traceNotesOf(this.header.scenario),
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
  iterate(): Generator<MmuEvent> {
    return iterateEvents(this.ix);
  }

  /** Canonical index of the first event at or after time `t` (eventCount if none). */
  indexAtTime(t: number): number {
    return this.ix.indexAtTime(t);
  }

  /** Raw events [from, from+count) in canonical order. */
  rawEvents(from: number, count: number): MmuEvent[] {
    const out: MmuEvent[] = [];
    if (!(from >= 0) || !(count > 0) || from >= this.eventCount) return out;
    from = Math.floor(from);
    let c = this.cursor;
    if (!c || c.index > from || from - c.index > 4096) c = positionAt(this.ix, from).cursor;
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
    // `types` is user data: only the summary's own keys count (`constructor` is no event type)
    for (const t of want) total += Object.hasOwn(byType, t) ? byType[t]! : 0;
    const out: Record<string, string | number>[] = [];
    if (!(from >= 0) || !(count > 0) || from >= total) return { total, events: out };
    from = Math.floor(from);
    const key = [...want].sort().join(',');
    let f = this.filtered;
    if (!f || f.key !== key || f.seen > from || from - f.seen > 4096) f = { key, ...positionAt(this.ix, from, want) };
    this.filtered = f;
    while (out.length < count) {
      const e = f.cursor.next();
      if (!e) break;
      if (!want.has(e.type)) continue;
      if (f.seen++ >= from) out.push(this.toJson(e));
    }
    return { total, events: out };
  }

  /** Canonical index of the event at `ordinal` in lane `l`, whose time is `t`. */
  globalIndex(l: number, ordinal: number, t: number): number {
    return this.ix.globalIndex(l, ordinal, t);
  }

  /** The exits of each lane overlapping [t0, t1], merged per bucket when there are more exits than buckets. */
  timeline(t0: number, t1: number, buckets: number): Timeline {
    return timeline(this.ix, this.sums, t0, t1, buckets);
  }

  /** Exits of lane `l` in [t0, t1] by reason and handling from the summaries, and the chunks left to decode (read/exitSplit.ts). */
  exitSplit(l: number, t0: number, t1: number): ExitSplit {
    return exitSplit(this.sums, this.lanes[l]!, t0, t1);
  }

  /**
   * Builds, in steps yielding how far they have got, the summaries a timeline, density or counters
   * query over [t0, t1] would otherwise build in one go (a file without them: read/summaries.ts);
   * a long query runs this first so that it shows progress and stops at a Cancel.
   */
  buildSummaries(t0: number, t1: number): Steps<void> {
    return this.sums.build(t0, t1);
  }

  /** Every event of each lane per bucket and type in [t0, t1] (sessions/density.ts). */
  density(t0: number, t1: number, buckets: number): DensityView {
    return density(this.ix, this.sums, this.eventTypes.map((t) => t.name), t0, t1, buckets);
  }

  /** Notes and bookmarks, merged from the NOTE chunks (last wins). */
  notes(): NoteRecord[] {
    return mergeNotes(this.noteOps);
  }

  /** Page-table state just before canonical event `applied` (i.e. after events [0, applied)). */
  stateBefore(applied: number): PageState {
    return this.states.stateBefore(applied);
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
    return this.states.verifyKeyframes();
  }

  /** Counters over events with t0 <= t <= t1 (whole chunks from their statistics, partial ones decoded). */
  counters(t0 = 0, t1 = Number.MAX_SAFE_INTEGER): Counters {
    return counters(this.ix, t0, t1, this.sums);
  }
}

/** The importer's notes on what a trace cannot tell (header scenario.source.noExits), for the summary. */
function traceNotesOf(scenario: unknown): { traceNotes?: string[] } {
  if (typeof scenario !== 'object' || scenario === null) return {};
  const source = (scenario as { source?: unknown }).source;
  if (typeof source !== 'object' || source === null) return {};
  const noExits = (source as { noExits?: unknown }).noExits;
  return typeof noExits === 'string' ? { traceNotes: [noExits] } : {};
}
