/**
 * A trace.dat as a source of decoded records for the import (sessions/import/records.ts), and
 * the one entry point that imports any trace file: a trace.dat by its magic, text otherwise.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { nonRegularKind, notRegularMessage } from '../fileKind.ts';
import { basename } from 'node:path';
import { ImportError, importTrace, type ImportOptions, type ImportResult } from '../import/index.ts';
import { coreFree } from '../import/importer.ts';
import { parseWorkerLocation } from '../import/recordBatch.ts';
import { readThreaded } from './threaded.ts';
import { importRecords, type FieldRecordBatch, type RecordSource } from '../import/records.ts';
import { DatUnpacker, TraceDatDamage, damageError } from './datRecords.ts';
import { EventPacker } from './packed.ts';
import { TraceDatError, cpuDataBytes, isTraceDat, readMetaOf, type TraceDatMeta } from './file.ts';
import { FormatError } from './formats.ts';
import { TraceDatReader } from './reader.ts';

/** Records handed to the import at a time. */
const BATCH = 4096;

export { fieldRecord, damageText, TraceDatDamage } from './datRecords.ts';

/**
 * CPU data (as stored) from which a second thread decodes. The importing thread reads the first
 * events itself while the thread starts (threaded.ts), so it never waits; but the thread (a V8
 * isolate, its modules, zstd, its own compiled code, then its decoding: ~0.1-0.15 CPU s at 325 k
 * events) competes with V8's own helper threads (compiler, garbage collector), which keep much of
 * a second core busy while the import warms up; taking the decoding off the importing thread
 * does not make up for it on 2 cores, even when the thread is ready after 16 k events (~90 ms).
 * Measured (abtime: SCHED_FIFO runs, bundled import, wall min / median): 1.6 M events (5 MB of
 * zstd chunks) 0.67 / 0.68 s threaded against 0.88 / 0.92 s in one thread; 325 k events (1 MB)
 * 0.35-0.38 / 0.38-0.40 s threaded against 0.33-0.35 / 0.35-0.38 s in one thread. Uncompressed
 * pages are ~10× bigger for the same events.
 */
const THREAD_MIN_BYTES = { chunked: 2 << 20, plain: 16 << 20 };

/**
 * Where the trace.dat is decoded: on a second thread (its entry's location) when the file is
 * big enough and a core is free for it, as the text import decides (`parseWorker` forces it
 * either way); else undefined, in this thread. The session is the same either way.
 */
function readingThread(meta: TraceDatMeta, dataBytes: number, option: boolean | undefined): ReturnType<typeof parseWorkerLocation> {
  if (option === false) return undefined;
  if (option === undefined && (dataBytes < (meta.chunked ? THREAD_MIN_BYTES.chunked : THREAD_MIN_BYTES.plain) || !coreFree())) return undefined;
  return parseWorkerLocation();
}

/**
 * A trace.dat as a record source. `parseWorker` forces the second thread (true) or none (false);
 * `ownEvents` bounds the events the importing thread reads itself while the thread starts
 * (tests: the hand-over at a given event).
 */
export async function traceDatSource(path: string, options: { parseWorker?: boolean; ownEvents?: number } = {}): Promise<RecordSource> {
  // Read the metadata now, so a file that cannot be read fails before any session is started
  // (only the metadata: a reader here would decode each CPU's first chunk for nothing).
  const meta = await readMetaOf(path);
  const bytes = cpuDataBytes(meta);
  return {
    file: basename(path),
    bytes,
    flavour: 'trace.dat',
    evidence: [`trace.dat version ${meta.version}`, meta.compression === 'none' ? 'uncompressed' : `${meta.compression}-compressed`, `${meta.cpus.length} CPUs`, ...(meta.clock ? [`${meta.clock} clock`] : [])],
    rereadable: true,
    read: (signal?: AbortSignal) => {
      const thread = readingThread(meta, bytes, options.parseWorker);
      return thread ? readThreaded(path, meta, thread, signal, options.ownEvents) : readBatches(path, meta, signal);
    },
  };
}

async function* readBatches(path: string, meta: TraceDatMeta, signal?: AbortSignal): AsyncGenerator<FieldRecordBatch> {
  const reader = await TraceDatReader.open(path, meta);
  const packer = new EventPacker(reader);
  const unpacker = new DatUnpacker(reader.meta);
  try {
    for (;;) {
      if (signal?.aborted) return;
      const packed = packer.next(BATCH);
      if (!packed) break;
      yield unpacker.batch(packed);
    }
    if (reader.damage.length) throw damageError(reader.damage);
  } finally {
    reader.close();
  }
}

function startsLikeTraceDat(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return false; // the text import says why it cannot be opened
  }
  try {
    const head = Buffer.alloc(16);
    return isTraceDat(head.subarray(0, readSync(fd, head, 0, 16, 0)));
  } finally {
    closeSync(fd);
  }
}

/** Import a trace file of any kind this build reads: trace.dat, or trace text. */
export async function importAnyTrace(path: string, outPath: string, options: ImportOptions = {}): Promise<ImportResult> {
  // stat first: sniffing opens the file, and opening a named pipe for reading waits for a writer
  let kind: string | undefined;
  try {
    kind = nonRegularKind(statSync(path));
  } catch {
    kind = undefined; // the text import says why it cannot be read
  }
  if (kind) throw new ImportError(notRegularMessage(path, kind, 'trace file', 'imports'));
  if (!startsLikeTraceDat(path)) return importTrace(path, outPath, options);
  let source: RecordSource;
  try {
    source = await traceDatSource(path, options);
  } catch (e) {
    if (e instanceof TraceDatError || e instanceof FormatError) throw new ImportError(`${basename(options.sourceName ?? path)} cannot be read as a trace.dat: ${e.message}`);
    throw e;
  }
  // an upload is read from a file the host named: the session carries the user's file name
  try {
    return await importRecords(options.sourceName ? { ...source, file: basename(options.sourceName) } : source, outPath, options);
  } catch (e) {
    // damage before the first record: nothing to keep, one line
    if (e instanceof TraceDatDamage) throw new ImportError(`${basename(options.sourceName ?? path)}: ${e.message}; nothing imported`);
    throw e;
  }
}
