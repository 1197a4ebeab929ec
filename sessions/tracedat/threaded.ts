/**
 * A trace.dat read on a second thread (readWorker.ts): the thread decompresses and decodes the
 * pages and merges the CPUs; this side gets each event's time, CPU and payload bytes in packed
 * batches and makes the same records an in-thread read makes (the same RecordMaker and record
 * class), so the session does not depend on where the file was decoded. The thread stays at
 * most WINDOW batches ahead (shared counters, as the text import's reading thread).
 */
import type { Worker } from 'node:worker_threads';
import { newReadingThread } from '../import/recordBatch.ts';
import type { FieldRecord, FieldRecordBatch } from '../import/records.ts';
import { damageError, fieldRecord } from './datRecords.ts';
import { TraceDatError, type TraceDatMeta } from './file.ts';
import { RecordMaker, emptyRecord, type Damage } from './reader.ts';

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

/** `count` events: time (ns) in `ts`; CPU, payload offset in `bytes` and length in `ints`, three per event. */
export interface DatBatch {
  kind: 'batch';
  count: number;
  ts: Float64Array;
  ints: Int32Array;
  bytes: Uint8Array;
  /** Bytes of CPU data read so far (progress). */
  bytesRead: number;
  /** The last batch: the damage met, if any. */
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
  const le = meta.littleEndian;
  const maker = new RecordMaker(meta.events, le, (pid) => meta.comms.get(pid));
  const rec = emptyRecord();
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
      const view = new DataView(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength);
      const { ts, ints } = m;
      const records: FieldRecord[] = new Array<FieldRecord>(m.count);
      for (let i = 0; i < m.count; i++) records[i] = fieldRecord(maker.fill(rec, view, ints[3 * i + 1]!, ints[3 * i + 2]!, ts[i]!, ints[3 * i]!), le);
      Atomics.add(counters, CONSUMED, 1);
      Atomics.notify(counters, CONSUMED);
      if (m.count) yield { records, bytes: m.bytesRead };
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
