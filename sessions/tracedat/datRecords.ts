/**
 * A trace.dat event as the import reads it (records.ts's FieldRecord), and what a damaged file
 * says: shared by the in-thread read, the read on a second thread (threaded.ts) and the live
 * capture.
 */
import type { Fields } from '../import/fields.ts';
import type { ImportRecord } from '../import/predecode.ts';
import { predecodeFields, type FieldRecord } from '../import/records.ts';
import { PayloadFields } from './fields.ts';
import type { Damage, DatRecord } from './reader.ts';

/**
 * A record, its payload's fields and its import record in one object (the record is its own
 * `fields`, and importRecord() makes it the ImportRecord in place): one allocation per event
 * instead of three, on the import's hottest path.
 */
class DatFieldRecord extends PayloadFields implements FieldRecord, ImportRecord {
  readonly cpu: number;
  readonly pid: number;
  readonly comm: string;
  readonly system: string | undefined;
  readonly event: string;
  readonly fields: Fields;
  // the ImportRecord's own (see importRecordOf, whose result this is)
  lineNo = 0;
  tgid: number | undefined = undefined;
  sec: number;
  ns: number;
  body = '';
  scanVcpu = NaN;
  vcpu = NaN;
  reason = '';
  a = NaN;
  flags = 0;
  constructor(r: DatRecord, littleEndian: boolean) {
    super(r.view, r.offset, r.length, r.format, littleEndian);
    this.cpu = r.cpu;
    this.pid = r.pid;
    this.comm = r.comm;
    this.system = r.format?.system;
    this.event = r.format?.name ?? `event_${r.id}`;
    this.fields = this;
    this.sec = Math.floor(r.ts / 1e9);
    this.ns = r.ts - this.sec * 1e9;
  }

  /** Nanoseconds of the trace clock (sec and ns hold it: no boxed double per record). */
  get ts(): number {
    return this.sec * 1e9 + this.ns;
  }

  importRecord(n: number): ImportRecord {
    this.lineNo = n;
    this.scanVcpu = NaN;
    this.vcpu = NaN;
    this.reason = '';
    this.a = NaN;
    this.flags = 0;
    predecodeFields(this, this);
    return this;
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

/** The error that ends a read which met damage. */
export function damageError(damage: readonly Damage[]): TraceDatDamage {
  return new TraceDatDamage(`the trace.dat is damaged: ${damage.map(damageText).join('; ')}`);
}
