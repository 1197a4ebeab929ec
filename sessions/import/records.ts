/**
 * Import of decoded trace records (named fields, not text): the seam for sources other than
 * trace text, such as a trace.dat reader or a live capture. Such a source gives the events
 * with the kernel's own field names (the tracepoint's `format`), and they go through the same
 * scan, layout and event mapping as text records (layout.ts, mapping.ts), so a trace.dat and
 * its `trace-cmd report` text give the same events.
 */
import { fieldsEntry, fieldsExit, fieldsFastPageFault, fieldsPageFault, type Fields } from './fields.ts';
import type { AssemblerStats, Flavour } from './lines.ts';
import { Scan, finalLayout, resolveLayout } from './layout.ts';
import { Importer } from './mapping.ts';
import { monotonicMs } from './clock.ts';
import { Speculation } from './speculation.ts';
import { DECODED, FIXED, SPURIOUS, vcpuNone, type ImportRecord } from './predecode.ts';
import {
  SPECULATE_AFTER,
  SPEC_HEADER_ROOM,
  closeWriter,
  createWriter,
  finalResult,
  importSummary,
  sessionInput,
  type ImportOptions,
  type ImportResult,
} from './outcome.ts';

/** One trace event decoded from binary data. */
export interface FieldRecord {
  /** The trace clock's timestamp in nanoseconds (a bigint where it may pass 2^53). */
  ts: number | bigint;
  /** Host CPU. */
  cpu: number;
  /** Thread id (common_pid). */
  pid: number;
  /** Thread group id where the source knows it. */
  tgid?: number;
  /** Thread name ('' when unknown: the mapping then groups by pid). */
  comm: string;
  /** The event's system (`kvm`, `kvmmmu`), when known. */
  system?: string;
  /** The event's name (`kvm_exit`, `kvm_mmu_get_page`). */
  event: string;
  /** The event's fields by the names of its format (without the common_ ones). */
  fields: Fields;
  /**
   * The record as the import reads it (importRecordOf's result), made in place by a source
   * whose records can be both (trace.dat's): one object per event instead of two.
   */
  importRecord?(n: number): ImportRecord;
}

/** Records read so far, in timestamp order, and how far into the source that is (for the progress). */
export type FieldRecordBatch = RecordList | PackedRecordBatch;

export interface RecordList {
  records: readonly FieldRecord[];
  /** Bytes of the source read so far (of `RecordSource.bytes`). */
  bytes: number;
}

/**
 * Records kept packed by their source (a trace.dat's: no object per event), made one at a
 * time as the import reads them.
 */
export interface PackedRecordBatch {
  count: number;
  /** Bytes of the source read so far (of `RecordSource.bytes`). */
  bytes: number;
  /**
   * Record `i` as importRecordOf makes it, numbered `n`. Unless `keep`, the object may be
   * reused for the next record (as the text import reuses its own).
   */
  importRecord(i: number, n: number, keep: boolean): ImportRecord;
}

/** Where decoded records come from. */
export interface RecordSource {
  /** The file name shown in messages and kept in the session (`x.trace.dat`, `capture`). */
  file: string;
  /** The source's size in bytes (0 when unknown: a live capture). */
  bytes: number;
  flavour: Extract<Flavour, 'trace.dat' | 'capture'>;
  /** Why it is what it is, in a few words (the header's evidence: `trace.dat version 7`). */
  evidence: string[];
  /**
   * One pass over every record in timestamp order, in batches. Stops early when `signal` is
   * aborted (the import is then kept as a session marked incomplete).
   */
  read(signal?: AbortSignal): AsyncIterable<FieldRecordBatch>;
  /**
   * The source can be read a second time (a file). The layout (VMs, vCPUs) is taken from the
   * first records; when a later record contradicts it, a re-readable source is read again with
   * what the whole pass showed. A live capture is not: its later threads go to the host lane.
   */
  rereadable: boolean;
}

const NS_PER_S = 1_000_000_000n;

/** A decoded record as the scan and the mapping read it (see ImportRecord). */
export function importRecordOf(fr: FieldRecord, n: number): ImportRecord {
  if (fr.importRecord) return fr.importRecord(n);
  let sec: number;
  let ns: number;
  if (typeof fr.ts === 'bigint') {
    sec = Number(fr.ts / NS_PER_S);
    ns = Number(fr.ts % NS_PER_S);
  } else {
    sec = Math.floor(fr.ts / 1e9);
    ns = fr.ts - sec * 1e9;
  }
  const r: ImportRecord = {
    lineNo: n,
    comm: fr.comm,
    pid: fr.pid,
    tgid: fr.tgid,
    sec,
    ns,
    system: fr.system,
    event: fr.event,
    body: '',
    scanVcpu: NaN,
    vcpu: NaN,
    reason: '',
    a: NaN,
    flags: 0,
    fields: fr.fields,
  };
  predecodeFields(r, fr.fields);
  return r;
}

/** predecode's work for a record with fields: the hot events' vCPU, reason and address. */
export function predecodeFields(r: ImportRecord, f: Fields): void {
  switch (r.event) {
    case 'kvm_exit': {
      const d = fieldsExit(f);
      if (d) {
        r.reason = d.reasonText;
        r.vcpu = r.scanVcpu = vcpuNone(d.vcpu);
        if (d.info2 !== undefined) r.a = d.info2;
      }
      return;
    }
    case 'kvm_entry': {
      const d = fieldsEntry(f);
      if (d) r.vcpu = r.scanVcpu = d.vcpu;
      return;
    }
    case 'kvm_page_fault': {
      const d = fieldsPageFault(f);
      if (d) {
        r.flags = DECODED;
        r.a = d.address;
        r.vcpu = r.scanVcpu = vcpuNone(d.vcpu);
      }
      return;
    }
    case 'fast_page_fault': {
      const d = fieldsFastPageFault(f);
      if (d) {
        r.flags = DECODED | (d.spurious ? SPURIOUS : 0) | (d.fixed ? FIXED : 0);
        r.vcpu = r.scanVcpu = d.vcpu;
      }
      return;
    }
  }
}

/**
 * Import decoded records into a new session at `outPath` (as importTrace does for text).
 * Resolves with what was imported (`lines` and `records` both count records); rejects with an
 * ImportError when the output cannot be written, and with the source's own error when it fails
 * before any session was started.
 */
export async function importRecords(source: RecordSource, outPath: string, options: ImportOptions = {}): Promise<ImportResult> {
  const started = monotonicMs();
  const desc = { file: source.file, flavour: source.flavour, evidence: source.evidence };
  const stats: AssemblerStats = { lines: 0, records: 0, skipped: 0, ignored: 0, rejoined: 0, unquoted: 0 };
  const scan = new Scan();
  const speculateAfter = source.rereadable ? Math.max(0, options.speculateAfter ?? SPECULATE_AFTER) : Math.max(1, options.speculateAfter ?? SPECULATE_AFTER);
  const total = source.bytes;
  const progress = (phase: 'scan' | 'import', bytes: number, fraction: number) =>
    options.onProgress?.({ phase, bytes, totalBytes: total, lines: stats.records, fraction: total === 0 ? 0 : Math.min(1, fraction) });
  const speculation = new Speculation(
    scan,
    speculateAfter,
    (layout) => createWriter(outPath, sessionInput(desc, total, scan, layout, stats, [], undefined), SPEC_HEADER_ROOM, !source.rereadable),
    source.rereadable,
  );
  const base = (): Omit<ImportResult, 'ok' | 'complete' | 'cancelled' | 'message'> => ({
    flavour: source.flavour,
    evidence: source.evidence,
    ...(scan.isa ? { isa: scan.isa } : {}),
    lines: stats.records,
    records: stats.records,
    events: 0,
    exits: 0,
    raw: 0,
    skipped: 0,
    skippedLines: [],
    ignored: 0,
    rejoined: 0,
    clampedTimes: 0,
    lateTimes: 0,
    unmatchedExits: 0,
    vms: [],
    seconds: (monotonicMs() - started) / 1000,
    bytes: total,
  });

  let aborted = false;
  let failure: string | undefined;
  try {
    for await (const batch of source.read(options.signal)) {
      if ('records' in batch)
        for (const fr of batch.records) {
          stats.lines = ++stats.records;
          speculation.record(importRecordOf(fr, stats.records));
        }
      else {
        const first = stats.records + 1;
        stats.lines = stats.records += batch.count;
        speculation.batch(batch, first);
      }
      // a live source: what came so far is written out, so the session can be watched as it grows
      if (!source.rereadable) speculation.spec?.writer.flush();
      progress(speculation.diverged ? 'scan' : 'import', batch.bytes, speculation.diverged ? (0.25 * batch.bytes) / total : batch.bytes / total);
    }
    aborted = options.signal?.aborted === true;
  } catch (e) {
    // a record of a packed batch failed: count the records up to it
    if (speculation.failedAt) stats.lines = stats.records = speculation.failedAt;
    // the source failed (damage): keep what was imported when a session was started, or can start now
    if (!speculation.spec && speculation.holding && speculation.held!.length) speculation.start();
    if (!speculation.spec || speculation.diverged) {
      speculation.spec?.writer.close({ complete: false, message: 'import failed' });
      throw e;
    }
    failure = `import of ${source.file} stopped: ${(e as Error).message}`;
  }
  if (stats.records === 0)
    return { ...base(), ok: false, complete: false, cancelled: aborted, message: aborted ? `import of ${source.file} cancelled before any record; nothing written` : `no trace records found in ${source.file}` };
  if (speculation.holding) speculation.start();
  const sp = speculation.spec;
  if (sp && (aborted || failure || !source.rereadable || (!speculation.diverged && scan.isa === sp.isa))) {
    const input = sessionInput(desc, total, scan, finalLayout(scan, sp.layout), stats, [], aborted || failure ? stats.records : undefined);
    if (sp.writer.rewriteHeader(input) || aborted || failure || !source.rereadable) {
      sp.imp.finish();
      const complete = !aborted && !failure;
      const summary = importSummary(sp.imp, stats, source.file, source.flavour, stats.records);
      const message = failure ? `${failure}; kept ${summary}` : aborted ? `import cancelled after ${stats.records} records; kept ${summary}` : `imported ${summary}`;
      closeWriter(sp.writer, outPath, complete, message);
      return finalResult(base(), sp.imp, sp.layout, complete, aborted, message, started);
    }
  }
  // The first records did not show the whole layout: read the source again with what the scan found.
  sp?.writer.close({ complete: false, message: 'superseded' });
  const layout = resolveLayout(scan);
  const writer = createWriter(outPath, sessionInput(desc, total, scan, layout, stats, [], undefined), 0);
  const imp = new Importer(writer, layout, scan.t0 ?? { sec: 0, ns: 0 }, scan.isa);
  let n = 0;
  aborted = false;
  try {
    for await (const batch of source.read(options.signal)) {
      if ('records' in batch) {
        for (const fr of batch.records) if (n < stats.records) imp.record(importRecordOf(fr, ++n));
      } else for (let i = 0; i < batch.count && n < stats.records; i++) imp.record(batch.importRecord(i, ++n, false));
      progress('import', batch.bytes, 0.25 + (0.75 * batch.bytes) / total);
    }
    aborted = options.signal?.aborted === true;
  } catch (e) {
    failure = `import of ${source.file} stopped: ${(e as Error).message}`;
  }
  imp.finish();
  const complete = !aborted && !failure;
  const summary = importSummary(imp, stats, source.file, source.flavour, n);
  const message = failure ? `${failure}; kept ${summary}` : aborted ? `import cancelled after ${n} of ${stats.records} records; kept ${summary}` : `imported ${summary}`;
  closeWriter(writer, outPath, complete, message);
  return finalResult(base(), imp, layout, complete, aborted, message, started);
}
