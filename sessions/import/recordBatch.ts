/**
 * The import's reading thread (parseWorker.ts), from the importing side: where its file is,
 * how records travel (packed batches), and `startParseWorker`, which starts it and hands every
 * record, in order, to a callback. The reading thread also decodes what the import needs of
 * every record (predecode.ts: the timestamp, the hot events' payload fields), so the importing
 * thread only imports and writes. Records are packed because a structured clone of 7,000 small
 * objects per chunk costs about what parsing them does: 14 numbers per record (a transferred
 * Float64Array), the repeated short strings by number, and one string with the payloads the
 * importing thread still needs as text (raw events' text, the rarer decoders' input).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Worker } from 'node:worker_threads';
import type { AssemblerState, AssemblerStats, SkippedLine, TraceRecord } from './lines.ts';
import { decodeFaults, PENDING, predecode, predecodeInto, TsReader, type ImportRecord } from './predecode.ts';

/** Shared counters: batches the importing thread has taken, and the stop request. */
export const CONSUMED = 0;
export const STOP = 1;
/** Set by the reading thread once it has started. */
export const READY = 2;
/**
 * Chunks read per batch: posting a message costs the reading thread about a millisecond (the
 * wake-up of the importing thread on a busy machine), 200 of them a 200 MiB import's 5 %.
 */
export const BATCH_CHUNKS = 4;
/** Batches the reading thread may be ahead of the importing one (memory stays constant). */
export const WINDOW = 2;

const FIELDS = 14;
/** Strings (comms, event and system names, exit reasons) sent once and then by number, at most this many. */
const MAX_STRINGS = 4096;
const RECENT = 8;
/** No system name / no exit reason. */
const NONE = -1;

export interface ParseWorkerData {
  path: string;
  chunkBytes: number;
  perfFirst: boolean;
  shared: SharedArrayBuffer;
}

/** Where to go on: after this line, with this assembler state, listing at most maxListed more skipped lines. */
export interface ParseWorkerStart {
  afterLine: number;
  state: AssemblerState;
  maxListed: number;
  /** The record count at which the importing thread reads the stats (see `at`); 0: never. */
  statsAtRecord: number;
}

export type FromParseWorker =
  | {
      kind: 'batch';
      text: string;
      nums: Float64Array;
      count: number;
      /** Strings numbered in this batch (after those of the batches before). */
      strings: string[];
      /** Bytes and lines read so far (for the progress). */
      bytes: number;
      lines: number;
      stats: AssemblerStats;
      /** Skipped lines listed since the previous batch. */
      skipped: SkippedLine[];
      /**
       * In the batch with record number statsAtRecord: the stats when it was emitted, and how
       * many of `skipped` were listed by then, so the importing thread sees what it would
       * have seen parsing the lines itself (the speculative header's size depends on them).
       */
      at?: { stats: AssemblerStats; skipped: number };
      /** Present on the last batch: what readLines returned. */
      end?: { lines: number; bytes: number; aborted: boolean };
    }
  | { kind: 'error'; message: string; importError: boolean };

/**
 * Packs records (in the reading thread), decoded first (predecode): per record FIELDS numbers,
 * the repeated short strings (comm, system, event, exit reason) by number in a string table
 * that grows with the batches (the first MAX_STRINGS distinct ones; others go as text), and
 * only the payloads the importing thread still needs as text.
 */
export class BatchEncoder {
  private parts: string[] = [];
  private nums = new Float64Array(FIELDS * 8192);
  private count = 0;
  private readonly tsr = new TsReader();
  private readonly ids = new Map<string, number>();
  private newStrings: string[] = [];
  private readonly rec = predecode({ lineNo: 0, comm: '', pid: 0, cpu: 0, ts: '', event: '', body: '', joined: 0 }, this.tsr);
  /** The last comm and its number: the parser gives the same string object for every record of a thread on a CPU. */
  private lastComm = '';
  private lastCommId = -1;

  /** The last numbered strings: a few event names, systems and reasons make up nearly every record. */
  private readonly recent: string[] = [];
  private readonly recentIds = new Int32Array(RECENT);
  private next = 0;

  /** A string's number (>= 0), or -(length + 2) with the string appended to the text. */
  private str(s: string): number {
    // comparing with a few recent strings costs less than hashing a new one for the map
    const recent = this.recent;
    for (let i = 0; i < recent.length; i++) if (recent[i] === s) return this.recentIds[i]!;
    let id = this.ids.get(s);
    if (id === undefined) {
      if (this.ids.size >= MAX_STRINGS) {
        this.parts.push(s);
        return -(s.length + 2);
      }
      id = this.ids.size;
      this.ids.set(s, id);
      this.newStrings.push(s);
    }
    const slot = this.next;
    this.next = (slot + 1) % RECENT;
    recent[slot] = s;
    this.recentIds[slot] = id;
    return id;
  }

  add(tr: TraceRecord): void {
    const r = this.rec;
    // the page faults' payloads travel anyway (raw events' text): decoded by the importing thread
    predecodeInto(tr, this.tsr, r, false);
    let k = this.count * FIELDS;
    if (k + FIELDS > this.nums.length) {
      const grown = new Float64Array(this.nums.length * 2);
      grown.set(this.nums);
      this.nums = grown;
    }
    const n = this.nums;
    n[k++] = r.lineNo;
    n[k++] = r.pid;
    n[k++] = r.tgid ?? NaN;
    n[k++] = r.sec;
    n[k++] = r.ns;
    n[k++] = r.scanVcpu;
    n[k++] = r.vcpu;
    n[k++] = r.a;
    n[k++] = r.flags;
    let comm = this.lastCommId;
    if (r.comm !== this.lastComm || comm < 0) {
      comm = this.str(r.comm);
      this.lastComm = r.comm;
      this.lastCommId = comm;
    }
    n[k++] = comm;
    n[k++] = r.system === undefined ? NONE : this.str(r.system);
    n[k++] = this.str(r.event);
    n[k++] = r.reason === '' ? NONE : this.str(r.reason);
    n[k] = r.body.length;
    if (r.body !== '') this.parts.push(r.body);
    this.count++;
  }

  take(): Batch & { strings: string[] } {
    const out = { text: this.parts.join(''), nums: this.nums.slice(0, this.count * FIELDS), count: this.count, strings: this.newStrings };
    this.parts = [];
    this.newStrings = [];
    this.count = 0;
    return out;
  }
}

/** A packed batch of records (BatchEncoder.take). */
export interface Batch {
  text: string;
  nums: Float64Array;
  count: number;
}

/** The string table of a decoder: the strings of every batch so far, in the order they were numbered. */
export type BatchStrings = string[];

/**
 * Unpacks batches (in the importing thread), calling `each` with every record in order. One
 * object serves every record unless `fresh()` says the records are kept (the speculation holds
 * its first records back: speculation.ts); nothing else keeps a record past `each`. (A class,
 * not a function with a closure per batch: the optimized code of a closure made anew for every
 * batch was thrown away at the next batch.)
 */
export class BatchDecoder {
  /** The strings of every batch so far (BatchStrings). */
  readonly strings: BatchStrings = [];
  private scratch: ImportRecord | undefined = undefined;
  private off = 0;
  private text = '';

  /** A numbered string, or the next one sent as text. */
  private str(v: number): string {
    if (v >= 0) return this.strings[v]!;
    const end = this.off - v - 2;
    const s = this.text.slice(this.off, end);
    this.off = end;
    return s;
  }

  decode(batch: Batch, each: (r: ImportRecord) => void, fresh: () => boolean = () => true): void {
    const { nums, count } = batch;
    this.text = batch.text;
    this.off = 0;
    for (let i = 0, k = 0; i < count; i++, k += FIELDS) {
      // in the order add() wrote the texts: comm, system, event, reason, body
      const comm = this.str(nums[k + 9]!);
      const sys = nums[k + 10]!;
      const system = sys === NONE ? undefined : this.str(sys);
      const event = this.str(nums[k + 11]!);
      const rs = nums[k + 12]!;
      const reason = rs === NONE ? '' : this.str(rs);
      const bodyLen = nums[k + 13]!;
      const body = bodyLen === 0 ? '' : this.text.slice(this.off, this.off + bodyLen);
      this.off += bodyLen;
      const tgid = nums[k + 2]!;
      let rec = this.scratch;
      if (!rec || fresh()) {
        rec = { lineNo: 0, comm: '', pid: 0, tgid: undefined, sec: 0, ns: 0, system: undefined, event: '', body: '', scanVcpu: 0, vcpu: 0, reason: '', a: 0, flags: 0 };
        this.scratch = rec;
      }
      rec.lineNo = nums[k]!;
      rec.comm = comm;
      rec.pid = nums[k + 1]!;
      rec.tgid = tgid === tgid ? tgid : undefined;
      rec.sec = nums[k + 3]!;
      rec.ns = nums[k + 4]!;
      rec.system = system;
      rec.event = event;
      rec.body = body;
      rec.scanVcpu = nums[k + 5]!;
      rec.vcpu = nums[k + 6]!;
      rec.reason = reason;
      rec.a = nums[k + 7]!;
      rec.flags = nums[k + 8]!;
      if (rec.flags === PENDING) decodeFaults(rec);
      each(rec);
    }
  }
}

declare const __MMULAB_PARSE_WORKER__: string | undefined;

/** The reading thread's entry: beside the bundle when bundled, else the TypeScript source (through tsx); undefined when not found. */
export function parseWorkerLocation(): { file: string; tsxApi?: string } | undefined {
  try {
    if (typeof __MMULAB_PARSE_WORKER__ === 'string') {
      const dir = typeof __dirname === 'string' ? __dirname : dirname(fileURLToPath(import.meta.url));
      // packaged: unpacked beside the asar (electron-builder asarUnpack), as the VM worker
      const file = join(dir, __MMULAB_PARSE_WORKER__).replace(/([\\/])app\.asar([\\/])/, '$1app.asar.unpacked$2');
      return existsSync(file) ? { file } : undefined;
    }
    const file = fileURLToPath(new URL('./parseWorker.ts', import.meta.url));
    if (!existsSync(file)) return undefined;
    const require = createRequire(import.meta.url);
    const pkgPath = require.resolve('tsx/package.json');
    const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { exports?: Record<string, unknown> };
    const entry = pkg.exports?.['./esm/api'] as { import?: string | { default?: string } } | undefined;
    const rel = typeof entry?.import === 'string' ? entry.import : (entry?.import?.default ?? './dist/esm/api/index.mjs');
    return { file, tsxApi: pathToFileURL(join(dirname(pkgPath), rel)).href };
  } catch {
    // no file URL (a CommonJS bundle without the define) or no tsx: parse in the importing thread
    return undefined;
  }
}

export interface WorkerRead {
  lines: number;
  bytes: number;
  aborted: boolean;
}

export interface ParseWorker {
  /** The thread has started and waits for `run`. */
  ready(): boolean;
  /**
   * Goes on after line `afterLine` with the assembler state there: `onRecord` gets every
   * record in file order, `onBatch` the stats and newly listed skipped lines after every batch
   * (before its progress goes to `onChunk`), and also, before the batch that holds record
   * number `statsAtRecord`, those of the moment that record was emitted. Stops at a batch
   * boundary when `signal` is aborted. Rejects with the thread's error (an ImportError made by
   * `importError`).
   */
  run(
    afterLine: number,
    state: AssemblerState,
    maxListed: number,
    statsAtRecord: number,
    onRecord: (r: ImportRecord) => void,
    onBatch: (stats: AssemblerStats, skipped: SkippedLine[]) => void,
    onChunk: (bytes: number, lines: number) => void,
    importError: (message: string) => Error,
    fresh?: () => boolean,
  ): Promise<WorkerRead>;
  /** Resolves once the thread has started (true), or failed to (false). */
  started(): Promise<boolean>;
  /** Ends the thread (when the importing thread read the whole file before it was ready). */
  stop(): void;
}

/**
 * A reading thread at `location` (parseWorker.ts) with `data` as its workerData: the text
 * import's (ParseWorkerData) or, with `kind: 'tracedat'`, the trace.dat import's (threaded.ts).
 */
export function newReadingThread(location: { file: string; tsxApi?: string }, data: unknown): Worker {
  // loaded here, not at the module's start: worker_threads and its internals cost ~0.7 ms of
  // every import's start, and most imports (small traces, or no free core) start no thread
  // (a bundle has a `require`: the CommonJS one's own, the ES module's from its banner; the sources run as ES modules)
  const load = typeof require === 'function' ? require : createRequire(import.meta.url);
  const { Worker } = load('node:worker_threads') as typeof import('node:worker_threads');
  return location.tsxApi
    ? new Worker(
        `import(${JSON.stringify(location.tsxApi)}).then((api) => { api.register(); return import(${JSON.stringify(pathToFileURL(location.file).href)}); })`,
        { eval: true, workerData: data, name: 'mmulab-import-read' },
      )
    : new Worker(location.file, { workerData: data, name: 'mmulab-import-read' });
}

/** Starts the reading thread for `path`; it waits for `run`. */
export function startParseWorker(
  location: { file: string; tsxApi?: string },
  opts: { path: string; chunkBytes: number; perfFirst: boolean; signal?: AbortSignal },
): ParseWorker {
  const shared = new SharedArrayBuffer(12);
  const counters = new Int32Array(shared);
  const data: ParseWorkerData = { path: opts.path, chunkBytes: opts.chunkBytes, perfFirst: opts.perfFirst, shared };
  const worker = newReadingThread(location, data);
  let failed: Error | undefined;
  let settle: ((err: Error | undefined, result?: WorkerRead) => void) | undefined;
  let stopped = false;
  const decoder = new BatchDecoder();
  const stop = () => {
    if (stopped) return;
    stopped = true;
    Atomics.store(counters, STOP, 1);
    Atomics.notify(counters, CONSUMED);
    void worker.terminate();
  };
  // errors before `run` (a failed start) are kept for it; the in-thread parse goes on meanwhile
  worker.on('error', (e) => (settle ? settle(e) : (failed = e)));
  worker.on('exit', (code) => settle?.(new Error(`the import's reading thread stopped (exit code ${code})`)));
  return {
    ready: () => Atomics.load(counters, READY) === 1,
    async started() {
      while (!failed && !stopped && Atomics.load(counters, READY) !== 1) await new Promise((r) => setTimeout(r, 5));
      return Atomics.load(counters, READY) === 1;
    },
    stop,
    run(afterLine, state, maxListed, statsAtRecord, onRecord, onBatch, onChunk, importError, fresh) {
      return new Promise<WorkerRead>((resolve, reject) => {
        let settled = false;
        settle = (err, result) => {
          if (settled) return;
          settled = true;
          stop();
          if (err) reject(err);
          else resolve(result!);
        };
        if (failed) return settle(failed);
        worker.on('message', (m: FromParseWorker) => {
          if (settled) return;
          if (m.kind === 'error') return settle!(m.importError ? importError(m.message) : new Error(m.message));
          try {
            for (const x of m.strings) decoder.strings.push(x);
            if (m.at) {
              // only the record numbered statsAtRecord reads the stats: these are its
              onBatch(m.at.stats, m.skipped.slice(0, m.at.skipped));
              decoder.decode(m, onRecord, fresh);
              onBatch(m.stats, m.skipped.slice(m.at.skipped));
            } else {
              decoder.decode(m, onRecord, fresh);
              onBatch(m.stats, m.skipped);
            }
            onChunk(m.bytes, m.lines);
          } catch (e) {
            return settle!(e as Error);
          }
          if (m.end) return settle!(undefined, m.end);
          if (opts.signal?.aborted) Atomics.store(counters, STOP, 1);
          Atomics.add(counters, CONSUMED, 1);
          Atomics.notify(counters, CONSUMED);
        });
        const start: ParseWorkerStart = { afterLine, state, maxListed, statsAtRecord };
        worker.postMessage(start);
      });
    },
  };
}
