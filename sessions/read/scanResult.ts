/** What opening a session found (either open path), and the diagnostics it gave. */
import type { Diagnostic } from '../format.ts';
import type { SessionHeader } from '../writer.ts';
import type { KeyframeRef, NoteOp } from '../annex.ts';
import type { Completeness, Lane, WholeCounts } from './model.ts';

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
  /** The footer's JSON as written (a closed file): fields a newer writer added are here for whatever reads them. */
  footer?: Record<string, unknown>;
  /**
   * Chunks of types this reader does not interpret (a newer writer's additions, e.g. written at
   * close), by offset, to be read on demand (ChunkStore.payload checks their framing and checksum).
   */
  otherChunks: { type: number; offset: number; length: number }[];
  /** Offset of the SUMM chunk (per-lane summaries, sessions/mipmap.ts), when the file has one. */
  summaryOffset?: number;
  /** The whole session's counts from the footer (an open from the footer, format 1.2): the summary needs no per-chunk statistics. */
  totals?: WholeCounts;
  /** The INDX payload whose per-chunk statistics are not applied yet (an open from the footer): parsed when first needed. */
  pendingIndex?: Uint8Array;
}

export interface ScanResult {
  /** Absent when nothing can be read (the diagnostics then hold an error). */
  found?: ScannedSession;
  diagnostics: Diagnostic[];
}
