/**
 * A trace.dat read on a second thread (readWorker.ts): the thread decompresses and decodes the
 * pages, merges the CPUs and packs the events (packed.ts); this side unpacks the batches as an
 * in-thread read does (the same packer and unpacker), so the session does not depend on where
 * the file was decoded. The thread stays at
 * most WINDOW batches ahead (shared counters, as the text import's reading thread).
 */
import type { Worker } from 'node:worker_threads';
import { newReadingThread } from '../import/recordBatch.ts';
import type { FieldRecordBatch } from '../import/records.ts';
import { DatUnpacker, damageError } from './datRecords.ts';
import { TraceDatError, type TraceDatMeta } from './file.ts';
import type { PackedEvents } from './packed.ts';
import type { Damage } from './reader.ts';

/** Shared counters: batches taken by the importing thread; the stop request. */
export const CONSUMED = 0;
export const STOP = 1;
/** Events per batch, and batches the reading thread may be ahead. */
export const BATCH_EVENTS = 8192;
export const WINDOW = 3;

export interface DatWorkerData {
  kind: 'tracedat';
  path: string;
  shared: SharedArrayBuffer;
}

/** Packed events (none at the end of an empty file); the last batch says the damage met, if any. */
export interface DatBatch {
  kind: 'batch';
  events: PackedEvents | undefined;
  end?: { damage: Damage[] };
}

export type FromDatWorker = DatBatch | { kind: 'error'; message: string; traceDat: boolean };

/**
 * The records of `path` read on a second thread started from `location` (the parse worker's
 * entry). `meta` is this thread's read of the same file (its formats name the events).
 */
export async function* readThreaded(path: string, meta: TraceDatMeta, location: { file: string; tsxApi?: string }, signal?: AbortSignal): AsyncGenerator<FieldRecordBatch> {
  const shared = new SharedArrayBuffer(8);
  const counters = new Int32Array(shared);
  const data: DatWorkerData = { kind: 'tracedat', path, shared };
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
  const unpacker = new DatUnpacker(meta);
  try {
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
      if (m.events) yield unpacker.batch(m.events);
      if (m.end) {
        if (m.end.damage.length) throw damageError(m.end.damage);
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
