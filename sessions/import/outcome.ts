/**
 * What an import returns and the session it writes: the options and result types, the
 * header's description of the source, and the summary line. Shared by the text import
 * (importer.ts) and the import of decoded records (records.ts).
 */
import { unlinkSync } from 'node:fs';
import { SessionWriter, type SessionHeaderInput } from '../writer.ts';
import type { AssemblerStats, Flavour, SkippedLine } from './lines.ts';
import type { Isa } from './reasons.ts';
import type { ImportedVm, Layout, Scan } from './layout.ts';
import type { Importer } from './mapping.ts';
import { ImportError } from './readLines.ts';
import { monotonicMs } from './clock.ts';

export const IMPORTER = 'mmu-lab trace import 1';

export interface ImportProgress {
  phase: 'scan' | 'import';
  bytes: number;
  totalBytes: number;
  lines: number;
  /** 0..1: the bytes read of the one pass; when a second pass is needed, the first counts for a quarter (the bar steps back once). */
  fraction: number;
}

export interface ImportOptions {
  onProgress?: (p: ImportProgress) => void;
  signal?: AbortSignal;
  /** Bytes read at a time (default 1 MiB). */
  chunkBytes?: number;
  /** Unparseable lines listed in the session (default 100; all are counted). */
  maxSkippedListed?: number;
  /**
   * Records read before the session is started on the layout they show (default 16,384;
   * see importTrace). 0 never speculates: the file is read twice (scan, then import).
   */
  speculateAfter?: number;
  /**
   * Read and parse the file in a worker thread while this thread imports (default: for files
   * of PARSE_WORKER_MIN_BYTES and more, when the worker's file is found). false: in-thread;
   * true: the worker whenever it is found.
   */
  parseWorker?: boolean;
  /**
   * The file's name as the user knows it, for the session's title and messages (default: the
   * input path's base name). An upload is read from a temporary file the host named.
   */
  sourceName?: string;
}

export interface ImportResult {
  /** A session was written to the output path. */
  ok: boolean;
  /** The session holds the whole trace (false when cancelled or nothing was written). */
  complete: boolean;
  cancelled: boolean;
  /** One line saying what happened, fit for a CLI or a toast. */
  message: string;
  flavour: Flavour;
  evidence: string[];
  isa?: Isa;
  lines: number;
  records: number;
  events: number;
  exits: number;
  raw: number;
  /** Unparseable lines: counted, and the first ones listed with their numbers. */
  skipped: number;
  skippedLines: SkippedLine[];
  ignored: number;
  rejoined: number;
  /** Records whose timestamp went backwards on their vCPU (clamped). */
  clampedTimes: number;
  /** Records more than 2^53 ns (about 104 days) after the first timestamp: kept at that time. */
  lateTimes: number;
  /** Exits closed without their kvm_entry (another exit, a cut, or the end of the file). */
  unmatchedExits: number;
  vms: ImportedVm[];
  seconds: number;
  bytes: number;
}

/** Records read before the session is started with the layout they give (see importTrace). */
export const SPECULATE_AFTER = 16384;
/** Room in the speculative header for the line counts and the skipped lines learned later. */
export const SPEC_HEADER_ROOM = 64 << 10;

/** What the header says the trace was: its file name, flavour and why that flavour. */
export interface SourceDescription {
  file: string;
  flavour: Flavour;
  evidence: string[];
}

export function sessionInput(
  det: SourceDescription,
  totalBytes: number,
  scan: Scan,
  layout: Layout,
  stats: AssemblerStats,
  skippedLines: SkippedLine[],
  cancelledAtLine: number | undefined,
): SessionHeaderInput {
  const file = det.file;
  const scenario = {
    name: `import: ${file}`,
    source: {
      kind: 'trace',
      importer: IMPORTER,
      file,
      bytes: totalBytes,
      flavour: det.flavour,
      evidence: det.evidence,
      isa: scan.isa ?? null,
      firstTimestamp: scan.t0 ? `${scan.t0.sec}.${String(scan.t0.ns).padStart(9, '0')}` : null,
      lines: stats.lines,
      records: stats.records,
      skipped: stats.skipped,
      skippedLines,
      ignored: stats.ignored,
      rejoined: stats.rejoined,
      ...(cancelledAtLine !== undefined ? { cancelledAtLine } : {}),
      ...(scan.exitRecords === 0 ? { noExits: NO_EXITS } : {}),
      vms: layout.vms,
    },
  };
  return { scenario, vcpus: layout.vms.map((v) => v.vcpus), seed: 0, features: { imported: det.flavour } };
}

/**
 * The session writer of an import. A file's import cuts its chunks by event counts only, so
 * the same trace gives the same bytes however loaded the machine is (the writer's wall-clock
 * flush is for recordings that a crash may cut); a live source (`live`) keeps that flush, so
 * what it recorded is on disk within a quarter second.
 */
export function createWriter(outPath: string, input: SessionHeaderInput, headerRoom: number, live = false): SessionWriter {
  try {
    return SessionWriter.create(outPath, input, live ? { headerRoom } : { headerRoom, flushMs: Number.MAX_SAFE_INTEGER });
  } catch (e) {
    throw new ImportError(`cannot write ${outPath} (${(e as { code?: string; message?: string }).code ?? (e as Error).message})`);
  }
}

export function closeWriter(writer: SessionWriter, outPath: string, complete: boolean, message: string): void {
  try {
    writer.close({ complete, ...(complete ? {} : { message }) });
  } catch (e) {
    try {
      unlinkSync(outPath);
    } catch {
      /* nothing to remove */
    }
    throw new ImportError(`cannot write ${outPath} (${(e as Error).message})`);
  }
}

/** What a session of a trace without kvm_exit says (the import's message, `mmu-lab info`). */
export const NO_EXITS = 'the trace has no kvm_exit (this host\'s KVM does not trace exits, or the event was not enabled): the views work from the MMU events';

export function importSummary(imp: Importer, st: AssemblerStats, file: string, flavour: Flavour, records: number): string {
  return (
    `${imp.events} events from ${records} records of ${file} (${flavour}): ${imp.exits} exits, ${imp.raw} raw` +
    (st.skipped ? `, ${st.skipped} lines skipped` : '') +
    (imp.clampedTimes ? `, ${imp.clampedTimes} timestamps clamped` : '') +
    (imp.lateTimes ? `, ${imp.lateTimes} timestamps more than 104 days after the first kept at that limit` : '') +
    (imp.unmatchedExits ? `, ${imp.unmatchedExits} exits without kvm_entry` : '') +
    (imp.exits === 0 ? `; ${NO_EXITS}` : '')
  );
}

export function finalResult(
  base: Omit<ImportResult, 'ok' | 'complete' | 'cancelled' | 'message'>,
  imp: Importer,
  layout: Layout,
  complete: boolean,
  cancelled: boolean,
  message: string,
  started: number,
): ImportResult {
  return {
    ...base,
    ok: true,
    complete,
    cancelled,
    message,
    events: imp.events,
    exits: imp.exits,
    raw: imp.raw,
    clampedTimes: imp.clampedTimes,
    lateTimes: imp.lateTimes,
    unmatchedExits: imp.unmatchedExits,
    vms: layout.vms,
    seconds: (monotonicMs() - started) / 1000,
  };
}
