/**
 * The trace.dat import's reading thread: decompresses the CPUs' chunks, decodes their pages,
 * merges the CPUs in time order (reader.ts) and packs the events (packed.ts: each event's time,
 * pid, id and payload, a repeated payload as a reference to its first occurrence), posting the
 * batches to the importing thread (threaded.ts), which unpacks them as an in-thread read does,
 * so the session is the same. The importing thread reads the first events itself while this one
 * starts; this one passes over as many as it is told (SKIP). At most WINDOW batches wait for the
 * importing thread: memory stays constant. Started by the parse worker's entry
 * (sessions/import/parseWorker.ts) for a `tracedat` job.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { TraceDatError } from './file.ts';
import { EventPacker } from './packed.ts';
import { TraceDatReader } from './reader.ts';
import { BATCH_EVENTS, CONSUMED, READY, SKIP, STOP, WINDOW, type DatWorkerData, type FromDatWorker } from './threaded.ts';

const data = workerData as DatWorkerData;
const port = parentPort!;
const shared = new Int32Array(data.shared);

function run(reader: TraceDatReader): void {
  // the importing thread read the first events itself while this one started: pass over them
  Atomics.store(shared, READY, 1);
  for (;;) {
    if (Atomics.load(shared, STOP) === 1) return;
    if (Atomics.load(shared, SKIP) >= 0) break;
    Atomics.wait(shared, SKIP, -1, 1000);
  }
  for (let n = Atomics.load(shared, SKIP); n > 0 && reader.advance(); n--);
  const packer = new EventPacker(reader);
  let posted = 0;
  for (;;) {
    const events = packer.next(BATCH_EVENTS);
    const last = !events || events.count < BATCH_EVENTS;
    const msg: FromDatWorker = { kind: 'batch', events, ...(last ? { end: { damage: reader.damage } } : {}) };
    port.postMessage(msg, events ? [events.ts.buffer, events.ints.buffer, events.bytes.buffer, events.fresh.buffer] : []);
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
