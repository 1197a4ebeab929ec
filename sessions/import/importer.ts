/**
 * Real KVM trace text → a session (`.mmulab`). Streaming with constant memory. The session
 * header (VMs and vCPUs) needs the threads, their vCPU ids, the first timestamp and the ISA
 * (the scan); usually the first records show them all, so the import starts on what they show
 * and checks every later record against it in the same pass; when a record contradicts it,
 * the file is read a second time with what the scan of the whole file found (importTrace).
 * See docs/import.md for the mapping.
 */
import { open, stat } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { availableParallelism, loadavg } from 'node:os';
import { monotonicMs } from './clock.ts';
import { detectFlavour, type Detection } from './detect.ts';
import { LineAssembler, type AssemblerStats, type SkippedLine, type TraceRecord } from './lines.ts';
import { TsReader, predecode, predecodeInto, type ImportRecord } from './predecode.ts';
import { startParseWorker, parseWorkerLocation, type ParseWorker } from './recordBatch.ts';
import { ImportError, readLines } from './readLines.ts';
import { nonRegularKind, notRegularMessage } from '../fileKind.ts';
import { Scan, finalLayout, resolveLayout } from './layout.ts';
import { Importer } from './mapping.ts';
import { Speculation } from './speculation.ts';
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

export { IMPORTER, type ImportOptions, type ImportProgress, type ImportResult } from './outcome.ts';
export type { ImportedThread, ImportedVm } from './layout.ts';
export { vcpuFromComm } from './layout.ts';
export { tableId } from './mapping.ts';

/** Below this size the worker's start (tens of ms under tsx) costs more than it saves. */
const PARSE_WORKER_MIN_BYTES = 4 << 20;

/**
 * A second thread pays only where a core is free for it: on a loaded machine it costs more CPU
 * (packing and unpacking the records) than it saves wall time. The session is the same either
 * way (tested). "Free" is judged by the tasks runnable now, other than this one (Linux's
 * /proc/loadavg), not by the last minute's average: that average still counts the work that
 * just ended (a benchmark's previous run, a build), and it counted this very process.
 */
export function coreFree(): boolean {
  const others = runnableOthers();
  return (others ?? loadavg()[0]!) < availableParallelism() - 1;
}

/**
 * Tasks of other processes runnable right now, or undefined where /proc/loadavg is missing: the
 * machine's runnable tasks less this process's own running threads (V8's compiler and GC
 * threads run beside the importing one at an import's start: counted as others, they had the
 * thread refused on an idle machine about one import in two). The least of a few reads: one
 * read may still catch a thread between its two counts.
 */
function runnableOthers(): number | undefined {
  let least: number | undefined;
  try {
    for (let i = 0; i < 5; i++) {
      const m = /^\S+ \S+ \S+ (\d+)\//.exec(readFileSync('/proc/loadavg', 'utf8'));
      if (!m) return undefined;
      least = Math.min(least ?? Infinity, Math.max(0, Number(m[1]) - ownRunning()));
    }
  } catch {
    return undefined;
  }
  return least;
}

/** This process's threads running now (state R), this one included. */
export function ownRunning(): number {
  let n = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
      if (stat[stat.lastIndexOf(')') + 2] === 'R') n++;
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return Math.max(1, n);
}

function useParseWorker(option: boolean | undefined, totalBytes: number): ReturnType<typeof parseWorkerLocation> {
  if (option === false || (option === undefined && (totalBytes < PARSE_WORKER_MIN_BYTES || !coreFree()))) return undefined;
  return parseWorkerLocation();
}

export { ImportError } from './readLines.ts';

// ---------------------------------------------------------------------------------------------

function noRecordsMessage(file: string, det: Detection, st: AssemblerStats, skippedLines: SkippedLine[], sample: string): string {
  if (det.binary === 'trace.dat') return `${file} is a binary trace-cmd capture (trace.dat): run \`trace-cmd report ${file} > trace.txt\` and import the text`;
  if (det.binary === 'perf.data') return `${file} is a binary perf capture (perf.data): run \`perf script -i ${file} > trace.txt\` and import the text`;
  if (det.binary) return `${file} is not trace text (binary data); nothing imported`;
  let what = '';
  if (/Analyze events for all VMs/.test(sample)) what = ' (it is a `perf kvm stat` summary table, not a trace)';
  else if (/kvm statistics/.test(sample)) what = ' (it is `kvm_stat` output, not a trace)';
  const first = skippedLines[0];
  const eg = first ? `; line ${first.line} is not a trace record: "${first.text.slice(0, 60)}"` : '';
  return `no trace records found in ${file}${what}: ${st.lines} lines, ${st.skipped} not understood${eg}`;
}

/**
 * Import a trace text file (raw ftrace, `trace-cmd report` or `perf script`, detected from the
 * content) into a new session at `outPath`. Resolves with what was imported; rejects only
 * with an `ImportError` when the input cannot be read or the output cannot be written. When
 * the text holds no trace record at all, nothing is written and `ok` is false. Cancelling via
 * `signal` leaves a readable session marked incomplete.
 */
export async function importTrace(inputPath: string, outPath: string, options: ImportOptions = {}): Promise<ImportResult> {
  const started = monotonicMs();
  const file = options.sourceName ? basename(options.sourceName) : basename(inputPath);
  const chunkBytes = Math.max(4096, options.chunkBytes ?? 1 << 20);
  let totalBytes = 0;
  let kind: string | undefined;
  try {
    const st = await stat(inputPath);
    totalBytes = st.size;
    kind = nonRegularKind(st);
  } catch (e) {
    throw new ImportError(`cannot read ${inputPath} (${(e as { code?: string }).code ?? String(e)})`);
  }
  // never opened: opening a named pipe for reading waits for a writer, a device may never end
  if (kind) throw new ImportError(notRegularMessage(inputPath, kind, 'trace file', 'imports'));

  // Detect from the head of the file.
  let head: Buffer;
  {
    let fh;
    try {
      fh = await open(inputPath, 'r');
      const b = Buffer.alloc(Math.min(65536, totalBytes));
      const { bytesRead } = await fh.read(b, 0, b.length, 0);
      head = b.subarray(0, bytesRead);
    } catch (e) {
      throw new ImportError(`cannot read ${inputPath} (${(e as { code?: string }).code ?? String(e)})`);
    } finally {
      await fh?.close();
    }
  }
  const det = detectFlavour(head);
  const source = { file, flavour: det.flavour, evidence: det.evidence };
  const progress = (phase: 'scan' | 'import', bytes: number, lines: number, fraction: number) =>
    options.onProgress?.({ phase, bytes, totalBytes, lines, fraction: totalBytes === 0 ? 1 : fraction });

  // One pass, speculating on the layout (speculation.ts); the header, written first, gets its
  // line counts at the end (`rewriteHeader`, into room left for them).
  const scan = new Scan();
  const maxListed = options.maxSkippedListed ?? 100;
  const speculateAfter = Math.max(0, options.speculateAfter ?? SPECULATE_AFTER);
  const speculation = new Speculation(scan, speculateAfter, (layout) =>
    createWriter(outPath, sessionInput(source, totalBytes, scan, layout, asm1.stats, asm1.skippedLines, undefined), SPEC_HEADER_ROOM),
  );
  const onRecord = (r: ImportRecord) => speculation.record(r);
  // lines parsed in this thread are decoded here; the reading thread sends them decoded
  const tsr = new TsReader();
  // records held back for the speculation are kept; after that one object serves every record
  // (nothing keeps a record past its import: mapping.ts copies the one it holds)
  let scratch: ImportRecord | undefined;
  const reuse = (r: TraceRecord): ImportRecord => {
    if (!scratch) return (scratch = predecode(r, tsr));
    predecodeInto(r, tsr, scratch);
    return scratch;
  };
  const asm1 = new LineAssembler((r: TraceRecord) => onRecord(speculation.holding ? predecode(r, tsr) : reuse(r)), maxListed);
  asm1.perfFirst = det.flavour === 'perf';
  const base = (): Omit<ImportResult, 'ok' | 'complete' | 'cancelled' | 'message'> => ({
    flavour: det.flavour,
    evidence: det.evidence,
    ...(scan.isa ? { isa: scan.isa } : {}),
    lines: asm1.stats.lines,
    records: asm1.stats.records,
    events: 0,
    exits: 0,
    raw: 0,
    skipped: asm1.stats.skipped,
    skippedLines: asm1.skippedLines,
    ignored: asm1.stats.ignored,
    rejoined: asm1.stats.rejoined,
    clampedTimes: 0,
    lateTimes: 0,
    unmatchedExits: 0,
    vms: [],
    seconds: (monotonicMs() - started) / 1000,
    bytes: totalBytes,
  });
  let scanned = { lines: 0, bytes: 0, aborted: false };
  if (!det.binary) {
    let worker: ParseWorker | undefined;
    try {
      const onChunk = (bytes: number, lines: number) =>
        speculation.diverged ? progress('scan', bytes, lines, (0.25 * bytes) / totalBytes) : progress('import', bytes, lines, bytes / totalBytes);
      // Read and parse in a second thread where it is worth it: this thread parses the first
      // chunks itself while that thread starts, then hands the assembler's state over at a
      // chunk boundary; the records come back in order with the stats and listed lines of
      // every chunk, so what follows is the same as in-thread.
      const location = useParseWorker(options.parseWorker, totalBytes);
      worker = location ? startParseWorker(location, { path: inputPath, chunkBytes, perfFirst: asm1.perfFirst, signal: options.signal }) : undefined;
      let handOver = false;
      // parseWorker: true waits for the thread and hands over after the first chunk (the same
      // place every time: what the tests pin)
      const forced = worker !== undefined && options.parseWorker === true && (await worker.started());
      let checks = 0;
      const until = worker
        ? ({
            get aborted() {
              if (options.signal?.aborted) return true;
              handOver = forced ? ++checks > 1 : worker!.ready();
              return handOver;
            },
          } as AbortSignal)
        : options.signal;
      scanned = await readLines(inputPath, (text, start, end, n, plain) => asm1.pushRange(text, start, end, n, plain), { chunkBytes, signal: until, onChunk });
      if (worker && handOver) {
        const listed = asm1.skippedLines;
        scanned = await worker.run(
          scanned.lines,
          asm1.handOver(),
          maxListed - listed.length,
          // startSpeculation reads the stats at this record
          speculation.holding ? speculateAfter : 0,
          onRecord,
          (stats, skipped) => {
            Object.assign(asm1.stats, stats);
            listed.push(...skipped);
          },
          onChunk,
          (message) => new ImportError(message),
          // records held back for the speculation are kept; after that one object serves every record
          () => speculation.holding,
        );
      } else asm1.end();
    } catch (e) {
      const sp = speculation.spec;
      if (!sp || e instanceof ImportError || speculation.diverged) {
        sp?.writer.close({ complete: false, message: 'import failed' });
        throw e;
      }
      // failing while importing (a read error): keep what was imported, as the second pass does
      sp.imp.finish();
      const message = `import failed: ${(e as Error).message}; kept ${importSummary(sp.imp, asm1.stats, file, det.flavour, asm1.stats.records)}`;
      sp.writer.rewriteHeader(sessionInput(source, totalBytes, scan, sp.layout, asm1.stats, asm1.skippedLines, undefined));
      closeWriter(sp.writer, outPath, false, message);
      return finalResult(base(), sp.imp, sp.layout, false, false, message, started);
    } finally {
      worker?.stop();
    }
  }
  if (asm1.stats.records === 0) {
    if (scanned.aborted) return { ...base(), ok: false, complete: false, cancelled: true, message: `import of ${file} cancelled before any record was found; nothing written` };
    return { ...base(), ok: false, complete: false, cancelled: false, message: noRecordsMessage(file, det, asm1.stats, asm1.skippedLines, head.toString('utf8')) };
  }
  if (speculation.holding) speculation.start();
  const sp = speculation.spec;

  if (sp && (scanned.aborted || (!speculation.diverged && scan.isa === sp.isa))) {
    // The speculation held (or the import was cancelled: keep what was imported, a consistent
    // session of the records before the cut).
    const cancelledAt = scanned.aborted ? scanned.lines : undefined;
    const input = sessionInput(source, totalBytes, scan, finalLayout(scan, sp.layout), asm1.stats, asm1.skippedLines, cancelledAt);
    if (sp.writer.rewriteHeader(input) || scanned.aborted) {
      const imp = sp.imp;
      imp.finish();
      const cancelled = scanned.aborted;
      const summary = importSummary(imp, asm1.stats, file, det.flavour, asm1.stats.records);
      const message = cancelled ? `import cancelled at line ${scanned.lines} of ${await countLines(inputPath)}; kept ${summary}` : `imported ${summary}`;
      closeWriter(sp.writer, outPath, !cancelled, message);
      return finalResult(base(), imp, sp.layout, !cancelled, cancelled, message, started);
    }
  }
  // The speculation failed (or was not made): drop that session; import with what the scan found.
  sp?.writer.close({ complete: false, message: 'superseded' });
  if (scanned.aborted)
    return { ...base(), ok: false, complete: false, cancelled: true, message: `import of ${file} cancelled at line ${scanned.lines} while scanning; nothing written` };
  const layout = resolveLayout(scan);
  const writer = createWriter(outPath, sessionInput(source, totalBytes, scan, layout, asm1.stats, asm1.skippedLines, undefined), 0);
  const imp = new Importer(writer, layout, scan.t0 ?? { sec: 0, ns: 0 }, scan.isa);
  const asm2 = new LineAssembler((r) => imp.record(reuse(r)), 0);
  asm2.perfFirst = asm1.perfFirst;
  let imported = { lines: 0, bytes: 0, aborted: false };
  let failure: string | undefined;
  try {
    imported = await readLines(inputPath, (text, start, end, n, plain) => asm2.pushRange(text, start, end, n, plain), {
      chunkBytes,
      signal: options.signal,
      onChunk: (bytes, lines) => progress('import', bytes, lines, 0.25 + (0.75 * bytes) / totalBytes),
      stopAtLine: scanned.lines,
    });
    asm2.end();
  } catch (e) {
    failure = e instanceof ImportError ? e.message : `import failed: ${(e as Error).message}`;
  }
  imp.finish();
  const cancelled = imported.aborted;
  const complete = !cancelled && !failure;
  const summary = importSummary(imp, asm1.stats, file, det.flavour, asm2.stats.records);
  const message = failure
    ? `${failure}; kept ${summary}`
    : cancelled
      ? `import cancelled at line ${imported.lines} of ${asm1.stats.lines}; kept ${summary}`
      : `imported ${summary}`;
  closeWriter(writer, outPath, complete, message);
  return finalResult(base(), imp, layout, complete, cancelled, message, started);
}

/** Lines of a file as readLines counts them (for the message of a cancelled import). */
async function countLines(path: string): Promise<number> {
  let fh;
  try {
    fh = await open(path, 'r');
    const buf = Buffer.allocUnsafe(1 << 20);
    let lines = 0;
    let last = 10;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      for (let i = buf.indexOf(10); i >= 0 && i < bytesRead; i = buf.indexOf(10, i + 1)) lines++;
      last = buf[bytesRead - 1]!;
    }
    return lines + (last === 10 ? 0 : 1);
  } catch {
    return 0;
  } finally {
    await fh?.close();
  }
}
