/**
 * A trace.dat read on a second thread (readWorker.ts): the thread decompresses and decodes the
 * pages, merges the CPUs and packs the events (packed.ts); this side unpacks the batches as an
 * in-thread read does (the same packer and unpacker), so the session does not depend on where
 * the file was decoded. The thread stays at most WINDOW batches ahead (shared counters, as the
 * text import's reading thread).
 *
 * A thread takes tens of milliseconds to start (a new V8 isolate, its modules, zstd): it is
 * handed this side's read of the file's metadata, so it does not read it again, and meanwhile
 * this side reads the first events itself. When the thread is ready, this side tells it where
 * its own reader is (a ReaderPlace: each CPU's chunk, page and event), and the thread goes on
 * from there, reading again one chunk per CPU, not what came before; this side reads on until
 * the thread's first batch comes and passes over what of it was read here already.
 */
import type { Worker } from 'node:worker_threads';
import { newReadingThread } from '../import/recordBatch.ts';
import type { FieldRecordBatch } from '../import/records.ts';
import { DatUnpacker, damageError } from './datRecords.ts';
import { TraceDatError, type TraceDatMeta } from './file.ts';
import { EventPacker } from './packed.ts';
import { TraceDatReader, type Damage } from './reader.ts';
import { CONSUMED, POSTED, READY, STOP, type DatStart, type DatWorkerData, type FromDatWorker } from './threadProtocol.ts';

/** Events per batch this side reads while the thread starts. */
const OWN_BATCH = 4096;

/**
 * The records of `path` read on a second thread started from `location` (the parse worker's
 * entry). `meta` is this thread's read of the same file (its formats name the events). This
 * thread reads at most `ownEvents` itself before it waits for the other (tests: the hand-over
 * at a given event).
 */
export async function* readThreaded(
  path: string,
  meta: TraceDatMeta,
  location: { file: string; tsxApi?: string },
  signal?: AbortSignal,
  ownEvents = Infinity,
): AsyncGenerator<FieldRecordBatch> {
  const shared = new SharedArrayBuffer(16);
  const counters = new Int32Array(shared);
  const data: DatWorkerData = { kind: 'tracedat', path, meta, shared };
  const worker: Worker = newReadingThread(location, data);
  const queue: FromDatWorker[] = [];
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const poke = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  worker.on('message', (m: FromDatWorker) => {
    queue.push(m);
    poke();
  });
  worker.on('error', (e) => {
    failure ??= e;
    poke();
  });
  worker.on('exit', (code) => {
    failure ??= new Error(`the trace.dat reading thread stopped (exit code ${code})`);
    poke();
  });
  try {
    // the first events, read here while the thread starts (all of them when it never does)
    const own = await TraceDatReader.open(path, meta);
    let handed = 0;
    /** Events read here when the thread was told where to go on, and the damage met by then. */
    let from = -1;
    let damage: Damage[] = [];
    try {
      const packer = new EventPacker(own);
      const unpacker = new DatUnpacker(meta);
      while (Atomics.load(counters, POSTED) === 0) {
        if (signal?.aborted) return;
        if (from < 0 && Atomics.load(counters, READY) === 1) {
          from = handed;
          damage = own.damage.slice();
          const start: DatStart = { kind: 'start', place: own.place() };
          worker.postMessage(start);
        }
        if (handed >= ownEvents) {
          if (failure) throw failure;
          await new Promise((resolve) => setTimeout(resolve, 2));
          continue;
        }
        const p = packer.next(Math.min(OWN_BATCH, ownEvents - handed));
        if (!p) {
          if (own.damage.length) throw damageError(own.damage);
          return;
        }
        handed += p.count;
        yield unpacker.batch(p);
      }
    } finally {
      own.close();
    }
    // the thread's batches, from event `from` on; what of them was read here already is passed over
    const unpacker = new DatUnpacker(meta);
    let at = from;
    for (;;) {
      if (signal?.aborted) return;
      const m = queue.shift();
      if (!m) {
        if (failure) throw failure;
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      if (m.kind === 'error') throw m.traceDat ? new TraceDatError(m.message) : new Error(m.message);
      Atomics.add(counters, CONSUMED, 1);
      Atomics.notify(counters, CONSUMED);
      if (m.events) {
        const skip = Math.max(0, handed - at);
        at += m.events.count;
        const batch = unpacker.batch(m.events, skip);
        if (skip < m.events.count) {
          handed = at;
          yield batch;
        }
      }
      if (m.end) {
        damage.push(...m.end.damage);
        if (damage.length) throw damageError(damage);
        return;
      }
    }
  } finally {
    Atomics.store(counters, STOP, 1);
    Atomics.notify(counters, CONSUMED);
    worker.removeAllListeners('exit');
    void worker.terminate();
  }
}
