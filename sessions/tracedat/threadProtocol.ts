/**
 * What the trace.dat import's two threads share (threaded.ts on the importing side, readWorker.ts
 * on the reading one): the shared counters, the batch sizes and the messages. Types and numbers
 * only: the reading thread loads this, not the importing side's modules.
 */
import type { TraceDatMeta } from './file.ts';
import type { PackedEvents } from './packed.ts';
import type { Damage, ReaderPlace } from './reader.ts';

/**
 * Shared counters: batches taken by the importing thread; the stop request; the reading thread
 * is ready (1); batches it has posted.
 */
export const CONSUMED = 0;
export const STOP = 1;
export const READY = 2;
export const POSTED = 3;
/** Events per batch, and batches the reading thread may be ahead. */
export const BATCH_EVENTS = 8192;
export const WINDOW = 3;

export interface DatWorkerData {
  kind: 'tracedat';
  path: string;
  /** This side's read of the file's metadata (its `events` a structured clone: FormatTable.revive). */
  meta: TraceDatMeta;
  shared: SharedArrayBuffer;
}

/** To the reading thread, once: where to go on (this side's reader's place when the thread was ready). */
export interface DatStart {
  kind: 'start';
  place: ReaderPlace;
}

/** Packed events (none at the end of an empty file); the last batch says the damage met, if any. */
export interface DatBatch {
  kind: 'batch';
  events: PackedEvents | undefined;
  end?: { damage: Damage[] };
}

export type FromDatWorker = DatBatch | { kind: 'error'; message: string; traceDat: boolean };
