/**
 * The text import's reading thread (started through parseWorker.ts): reads the trace file, splits it into lines and parses them into
 * records (readLines and LineAssembler, as the in-thread import does), decodes them (predecode.ts)
 * and posts the records of every chunk to the importing thread as one packed batch (see
 * recordBatch.ts). On 2 cores the parse and decode then run beside the import logic and the
 * session writer instead of before them.
 * While it starts, the importing thread parses the first chunks itself; the `start` message
 * says after which line to go on and hands over the assembler's state there.
 * Started by startParseWorker (recordBatch.ts), loaded by parseWorker.ts; never imported by
 * anything else.
 */
import { statSync } from 'node:fs';
import { workerData, parentPort } from 'node:worker_threads';
import { ImportError, readLines } from './readLines.ts';
import { LineAssembler, type AssemblerStats } from './lines.ts';
import { BATCH_CHUNKS, BatchEncoder, CONSUMED, READY, STOP, WINDOW, type FromParseWorker, type ParseWorkerData, type ParseWorkerStart } from './recordBatch.ts';

const data = workerData as ParseWorkerData;
const port = parentPort!;
const shared = new Int32Array(data.shared);
const enc = new BatchEncoder();
let posted = 0;

port.once('message', (start: ParseWorkerStart) => void run(start));
Atomics.store(shared, READY, 1);

async function run(start: ParseWorkerStart): Promise<void> {
  let at: { stats: AssemblerStats; skipped: number } | undefined;
  const asm = new LineAssembler((r) => {
    enc.add(r);
    // (stats.records counts this record already, as in the importing thread's assembler)
    if (asm.stats.records === start.statsAtRecord) at = { stats: { ...asm.stats }, skipped: asm.skippedLines.length };
  }, start.maxListed);
  asm.perfFirst = data.perfFirst;
  asm.resume(start.state);
  let listed = 0;
  let chunks = 0;
  // (the size when the import started: a file that grows meanwhile only gets bigger batches at its end)
  let size = Infinity;
  try {
    size = statSync(data.path).size;
  } catch {
    /* readLines says why it cannot read the file */
  }
  const post = (last: { lines: number; bytes: number; aborted: boolean } | undefined, bytes: number, lines: number) => {
    if (!last && lines <= start.afterLine) return;
    const { text, nums, count, strings } = enc.take();
    const skipped = asm.skippedLines.slice(listed);
    const atHere = at && { stats: at.stats, skipped: at.skipped - listed };
    at = undefined;
    listed = asm.skippedLines.length;
    const msg: FromParseWorker = {
      kind: 'batch',
      text,
      nums,
      count,
      strings,
      bytes,
      lines,
      stats: { ...asm.stats },
      skipped,
      ...(atHere ? { at: atHere } : {}),
      ...(last ? { end: last } : {}),
    };
    port.postMessage(msg, [nums.buffer as ArrayBuffer]);
    posted++;
    // Wait while the importing thread is more than WINDOW batches behind: memory stays constant.
    for (;;) {
      const consumed = Atomics.load(shared, CONSUMED);
      if (posted - consumed <= WINDOW || Atomics.load(shared, STOP) === 1) break;
      Atomics.wait(shared, CONSUMED, consumed, 1000);
    }
  };
  // readLines checks `aborted` before every chunk, as it checks a cancelled import's signal.
  const stop = {
    get aborted() {
      return Atomics.load(shared, STOP) === 1;
    },
  } as AbortSignal;
  try {
    // the lines up to afterLine were parsed by the importing thread: split again, not parsed
    const r = await readLines(data.path, (text, from, to, n, plain) => n > start.afterLine && asm.pushRange(text, from, to, n, plain), {
      chunkBytes: data.chunkBytes,
      signal: stop,
      sync: true,
      // a batch every BATCH_CHUNKS chunks (each message costs the thread about a millisecond),
      // but one of each chunk at the start and the end, where the importing thread would
      // otherwise wait for a whole batch: for the first one, or after the last one alone
      onChunk: (bytes, lines) => {
        if (++chunks % BATCH_CHUNKS === 0 || posted === 0 || bytes + BATCH_CHUNKS * data.chunkBytes > size) post(undefined, bytes, lines);
      },
    });
    asm.end();
    post(r, r.bytes, r.lines);
  } catch (e) {
    const msg: FromParseWorker = { kind: 'error', message: e instanceof Error ? e.message : String(e), importError: e instanceof ImportError };
    port.postMessage(msg);
  }
}
