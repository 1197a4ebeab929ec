/**
 * The trace.dat import's reading thread: decompresses the CPUs' chunks, decodes their pages and
 * merges the CPUs in time order (reader.ts), and posts the events to the importing thread in
 * packed batches (threaded.ts): each event's time, CPU and payload bytes, nothing else. The
 * importing thread reads the payloads with the same code as an in-thread read, so the session
 * is the same. At most WINDOW batches wait for the importing thread: memory stays constant.
 * Started by the parse worker's entry (sessions/import/parseWorker.ts) for a `tracedat` job.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { TraceDatError } from './file.ts';
import { TraceDatReader } from './reader.ts';
import { BATCH_EVENTS, CONSUMED, STOP, WINDOW, type DatBatch, type DatWorkerData, type FromDatWorker } from './threaded.ts';

const data = workerData as DatWorkerData;
const port = parentPort!;
const shared = new Int32Array(data.shared);

function run(reader: TraceDatReader): void {
  const at = reader.at;
  let posted = 0;
  let u8: Uint8Array = new Uint8Array(0);
  let u8Of: ArrayBufferLike | undefined;
  for (;;) {
    const ts = new Float64Array(BATCH_EVENTS);
    const ints = new Int32Array(BATCH_EVENTS * 3);
    let bytes = new Uint8Array(BATCH_EVENTS * 48);
    let n = 0;
    let pos = 0;
    while (n < BATCH_EVENTS && reader.advance()) {
      const len = at.length;
      if (pos + len > bytes.length) {
        const grown = new Uint8Array(Math.max(bytes.length * 2, pos + len));
        grown.set(bytes.subarray(0, pos));
        bytes = grown;
      }
      const view = at.view;
      if (view.buffer !== u8Of) {
        u8 = new Uint8Array(view.buffer);
        u8Of = view.buffer;
      }
      const from = view.byteOffset + at.offset;
      // payloads are a few dozen bytes: a loop beats a subarray and a set per event
      if (len > 256) bytes.set(u8.subarray(from, from + len), pos);
      else for (let i = 0; i < len; i++) bytes[pos + i] = u8[from + i]!;
      ts[n] = at.ts;
      ints[3 * n] = at.cpu;
      ints[3 * n + 1] = pos;
      ints[3 * n + 2] = len;
      pos += len;
      n++;
    }
    const last = n < BATCH_EVENTS;
    const batch: DatBatch = { kind: 'batch', count: n, ts, ints, bytes, bytesRead: reader.bytesRead };
    const msg: FromDatWorker = last ? { ...batch, end: { damage: reader.damage } } : batch;
    port.postMessage(msg, [ts.buffer, ints.buffer, bytes.buffer]);
    posted++;
    if (last) return;
    // wait while the importing thread is more than WINDOW batches behind
    for (;;) {
      const consumed = Atomics.load(shared, CONSUMED);
      if (posted - consumed <= WINDOW) break;
      if (Atomics.load(shared, STOP) === 1) return;
      Atomics.wait(shared, CONSUMED, consumed, 1000);
    }
    if (Atomics.load(shared, STOP) === 1) return;
  }
}

async function main(): Promise<void> {
  let reader: TraceDatReader | undefined;
  try {
    reader = await TraceDatReader.open(data.path);
    run(reader);
  } catch (e) {
    const msg: FromDatWorker = { kind: 'error', message: e instanceof Error ? e.message : String(e), traceDat: e instanceof TraceDatError };
    port.postMessage(msg);
  } finally {
    reader?.close();
  }
}

void main();
