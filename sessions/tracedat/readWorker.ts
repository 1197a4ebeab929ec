/**
 * The trace.dat import's reading thread: decompresses the CPUs' chunks, decodes their pages,
 * merges the CPUs in time order (reader.ts) and packs the events (packed.ts: each event's time,
 * pid, id and payload, a repeated payload as a reference to its first occurrence), posting the
 * batches to the importing thread (threaded.ts), which unpacks them as an in-thread read does,
 * so the session is the same. It is handed the importing thread's read of the file's metadata;
 * the importing thread reads the first events itself while this one starts, then says where
 * its reader is (`start`), and this one goes on from there. At most WINDOW batches wait for the
 * importing thread: memory stays constant. Started by the parse worker's entry
 * (sessions/import/parseWorker.ts) for a `tracedat` job.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { TraceDatError } from './file.ts';
import { FormatTable } from './formats.ts';
import { EventPacker } from './packed.ts';
import { TraceDatReader } from './reader.ts';
import { BATCH_EVENTS, CONSUMED, POSTED, READY, STOP, WINDOW, type DatStart, type DatWorkerData, type FromDatWorker } from './threadProtocol.ts';

const data = workerData as DatWorkerData;
const port = parentPort!;
const shared = new Int32Array(data.shared);
const meta = { ...data.meta, events: FormatTable.revive(data.meta.events) };

/** A turn of this thread's event loop: V8's tasks for this thread (code made by its compiler threads) run there. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function run(reader: TraceDatReader): Promise<void> {
  const packer = new EventPacker(reader);
  let posted = 0;
  for (;;) {
    if (Atomics.load(shared, STOP) === 1) return;
    const events = packer.next(BATCH_EVENTS);
    const last = !events || events.count < BATCH_EVENTS;
    const msg: FromDatWorker = { kind: 'batch', events, ...(last ? { end: { damage: reader.damage } } : {}) };
    port.postMessage(msg, events ? [events.ts.buffer, events.ints.buffer, events.bytes.buffer, events.fresh.buffer] : []);
    posted++;
    Atomics.store(shared, POSTED, posted);
    if (last) return;
    // wait while the importing thread is more than WINDOW batches behind, this thread's event
    // loop turning meanwhile: a thread that never returns to it can hold up V8's compiler jobs,
    // and with them the importing thread (Node 20 waits for them: nodejs/node#54918)
    await turn();
    for (;;) {
      const consumed = Atomics.load(shared, CONSUMED);
      if (posted - consumed <= WINDOW) break;
      if (Atomics.load(shared, STOP) === 1) return;
      Atomics.wait(shared, CONSUMED, consumed, 20);
      await turn();
    }
  }
}

function fail(e: unknown): void {
  const msg: FromDatWorker = { kind: 'error', message: e instanceof Error ? e.message : String(e), traceDat: e instanceof TraceDatError };
  port.postMessage(msg);
}

/** Read from where the importing thread's reader was, to the end. */
async function from(start: DatStart): Promise<void> {
  let reader: TraceDatReader | undefined;
  try {
    reader = new TraceDatReader(data.path, meta, start.place);
    await run(reader);
  } catch (e) {
    fail(e);
  } finally {
    reader?.close();
  }
}

port.once('message', (start: DatStart) => void from(start));
Atomics.store(shared, READY, 1);
