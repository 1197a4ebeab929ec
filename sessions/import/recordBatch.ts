/**
 * The import's reading thread (parseWorker.ts), from the importing side: where its file is,
 * how records travel (packed batches), and `startParseWorker`, which starts it and hands every
 * record, in order, to a callback. Records are packed because a structured clone of 7,000
 * small objects per chunk costs about what parsing them does: one string with every text
 * field after another, and 10 numbers per record (its numbers and the text lengths).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { AssemblerState, AssemblerStats, SkippedLine, TraceRecord } from './lines.ts';

/** Shared counters: batches the importing thread has taken, and the stop request. */
export const CONSUMED = 0;
export const STOP = 1;
/** Set by the reading thread once it has started. */
export const READY = 2;
/** Batches (chunks) the reading thread may be ahead of the importing one. */
export const WINDOW = 3;

const FIELDS = 10;
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
}

export type FromParseWorker =
  | {
      kind: 'batch';
      text: string;
      nums: Float64Array;
      count: number;
      /** Bytes and lines read so far (for the progress). */
      bytes: number;
      lines: number;
      stats: AssemblerStats;
      /** Skipped lines listed since the previous batch. */
      skipped: SkippedLine[];
      /** Present on the last batch: what readLines returned. */
      end?: { lines: number; bytes: number; aborted: boolean };
    }
  | { kind: 'error'; message: string; importError: boolean };

/** Packs records (in the reading thread). */
export class BatchEncoder {
  private parts: string[] = [];
  private nums = new Float64Array(FIELDS * 8192);
  private count = 0;

  add(r: TraceRecord): void {
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
    n[k++] = r.cpu;
    n[k++] = r.joined;
    n[k++] = r.comm.length;
    n[k++] = r.ts.length;
    n[k++] = r.system === undefined ? NONE : r.system.length;
    n[k++] = r.event.length;
    n[k] = r.body.length;
    this.parts.push(r.comm, r.ts, r.system ?? '', r.event, r.body);
    this.count++;
  }

  take(): { text: string; nums: Float64Array; count: number } {
    const out = { text: this.parts.join(''), nums: this.nums.slice(0, this.count * FIELDS), count: this.count };
    this.parts = [];
    this.count = 0;
    return out;
  }
}

/** Unpacks a batch (in the importing thread), calling `each` with every record in order. */
export function decodeBatch(text: string, nums: Float64Array, count: number, each: (r: TraceRecord) => void): void {
  let off = 0;
  for (let i = 0, k = 0; i < count; i++, k += FIELDS) {
    const commEnd = off + nums[k + 5]!;
    const tsEnd = commEnd + nums[k + 6]!;
    const sysLen = nums[k + 7]!;
    const sysEnd = tsEnd + (sysLen === NONE ? 0 : sysLen);
    const eventEnd = sysEnd + nums[k + 8]!;
    const bodyEnd = eventEnd + nums[k + 9]!;
    const tgid = nums[k + 2]!;
    const r: TraceRecord = {
      lineNo: nums[k]!,
      comm: text.slice(off, commEnd),
      pid: nums[k + 1]!,
      cpu: nums[k + 3]!,
      ts: text.slice(commEnd, tsEnd),
      event: text.slice(sysEnd, eventEnd),
      body: text.slice(eventEnd, bodyEnd),
      joined: nums[k + 4]!,
    };
    if (tgid === tgid) r.tgid = tgid;
    if (sysLen !== NONE) r.system = text.slice(tsEnd, sysEnd);
    each(r);
    off = bodyEnd;
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
   * record in file order, `onBatch` the stats and newly listed skipped lines after every chunk
   * (before its progress goes to `onChunk`). Stops at a chunk boundary when `signal` is
   * aborted, as readLines does. Rejects with the thread's error (an ImportError made by
   * `importError`).
   */
  run(
    afterLine: number,
    state: AssemblerState,
    maxListed: number,
    onRecord: (r: TraceRecord) => void,
    onBatch: (stats: AssemblerStats, skipped: SkippedLine[]) => void,
    onChunk: (bytes: number, lines: number) => void,
    importError: (message: string) => Error,
  ): Promise<WorkerRead>;
  /** Resolves once the thread has started (true), or failed to (false). */
  started(): Promise<boolean>;
  /** Ends the thread (when the importing thread read the whole file before it was ready). */
  stop(): void;
}

/** Starts the reading thread for `path`; it waits for `run`. */
export function startParseWorker(
  location: { file: string; tsxApi?: string },
  opts: { path: string; chunkBytes: number; perfFirst: boolean; signal?: AbortSignal },
): ParseWorker {
  const shared = new SharedArrayBuffer(12);
  const counters = new Int32Array(shared);
  const data: ParseWorkerData = { path: opts.path, chunkBytes: opts.chunkBytes, perfFirst: opts.perfFirst, shared };
  const worker = location.tsxApi
    ? new Worker(
        `import(${JSON.stringify(location.tsxApi)}).then((api) => { api.register(); return import(${JSON.stringify(pathToFileURL(location.file).href)}); })`,
        { eval: true, workerData: data, name: 'mmulab-import-read' },
      )
    : new Worker(location.file, { workerData: data, name: 'mmulab-import-read' });
  let failed: Error | undefined;
  let settle: ((err: Error | undefined, result?: WorkerRead) => void) | undefined;
  let stopped = false;
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
    run(afterLine, state, maxListed, onRecord, onBatch, onChunk, importError) {
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
            decodeBatch(m.text, m.nums, m.count, onRecord);
            onBatch(m.stats, m.skipped);
            onChunk(m.bytes, m.lines);
          } catch (e) {
            return settle!(e as Error);
          }
          if (m.end) return settle!(undefined, m.end);
          if (opts.signal?.aborted) Atomics.store(counters, STOP, 1);
          Atomics.add(counters, CONSUMED, 1);
          Atomics.notify(counters, CONSUMED);
        });
        const start: ParseWorkerStart = { afterLine, state, maxListed };
        worker.postMessage(start);
      });
    },
  };
}
