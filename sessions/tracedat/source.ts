/**
 * A trace.dat as a source of decoded records for the import (sessions/import/records.ts), and
 * the one entry point that imports any trace file: a trace.dat by its magic, text otherwise.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { nonRegularKind, notRegularMessage } from '../fileKind.ts';
import { basename } from 'node:path';
import type { Fields } from '../import/fields.ts';
import { ImportError, importTrace, type ImportOptions, type ImportResult } from '../import/index.ts';
import { importRecords, type FieldRecord, type FieldRecordBatch, type RecordSource } from '../import/records.ts';
import { TraceDatError, isTraceDat, type TraceDatMeta } from './file.ts';
import { FormatError } from './formats.ts';
import { PayloadFields } from './fields.ts';
import { TraceDatReader, type DatRecord, type Damage } from './reader.ts';

/** Records handed to the import at a time. */
const BATCH = 4096;

/**
 * A record and its payload's fields in one object (the record is its own `fields`): one
 * allocation per event instead of two, on the import's hottest path.
 */
class DatFieldRecord extends PayloadFields implements FieldRecord {
  readonly ts: number;
  readonly cpu: number;
  readonly pid: number;
  readonly comm: string;
  readonly system: string | undefined;
  readonly event: string;
  readonly fields: Fields;
  constructor(r: DatRecord, littleEndian: boolean) {
    super(r.view, r.offset, r.length, r.format, littleEndian);
    this.ts = r.ts;
    this.cpu = r.cpu;
    this.pid = r.pid;
    this.comm = r.comm;
    this.system = r.format?.system;
    this.event = r.format?.name ?? `event_${r.id}`;
    this.fields = this;
  }
}

/** The record the import keeps (the reader reuses its own). */
export function fieldRecord(r: DatRecord, littleEndian: boolean): FieldRecord {
  return new DatFieldRecord(r, littleEndian);
}

/** Where damage stopped a CPU, in one sentence. */
export function damageText(d: Damage): string {
  return `${d.message} (${d.afterTs === undefined ? `all of cpu ${d.cpu}'s events are missing` : `cpu ${d.cpu}'s events after ${(d.afterTs / 1e9).toFixed(6)} s are missing`})`;
}

/** Thrown at the end of a read that met damage: the import keeps what came before it. */
export class TraceDatDamage extends Error {}

export async function traceDatSource(path: string): Promise<RecordSource> {
  // Read the metadata now, so a file that cannot be read fails before any session is started.
  const probe = await TraceDatReader.open(path);
  const meta = probe.meta;
  const bytes = probe.dataBytes;
  probe.close();
  return {
    file: basename(path),
    bytes,
    flavour: 'trace.dat',
    evidence: [`trace.dat version ${meta.version}`, meta.compression === 'none' ? 'uncompressed' : `${meta.compression}-compressed`, `${meta.cpus.length} CPUs`, ...(meta.clock ? [`${meta.clock} clock`] : [])],
    rereadable: true,
    read: (signal?: AbortSignal) => readBatches(path, meta, signal),
  };
}

async function* readBatches(path: string, meta: TraceDatMeta, signal?: AbortSignal): AsyncGenerator<FieldRecordBatch> {
  const reader = await TraceDatReader.open(path, meta);
  const le = reader.meta.littleEndian;
  try {
    for (;;) {
      if (signal?.aborted) return;
      const records: FieldRecord[] = [];
      for (let i = 0; i < BATCH; i++) {
        const r = reader.next();
        if (!r) break;
        records.push(fieldRecord(r, le));
      }
      if (records.length === 0) break;
      yield { records, bytes: reader.bytesRead };
    }
    if (reader.damage.length) throw new TraceDatDamage(`the trace.dat is damaged: ${reader.damage.map(damageText).join('; ')}`);
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
    source = await traceDatSource(path);
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
