/**
 * A trace.dat event as the import reads it (records.ts's FieldRecord), and what a damaged file
 * says: shared by the in-thread read, the read on a second thread (threaded.ts) and the live
 * capture.
 */
import { hexOf, type Fields } from '../import/fields.ts';
import type { ImportRecord } from '../import/predecode.ts';
import { predecodeFields, type FieldRecord, type PackedRecordBatch } from '../import/records.ts';
import type { TraceDatMeta } from './file.ts';
import type { EventFormat } from './formats.ts';
import { PayloadFields, type FieldValue } from './fields.ts';
import { I_ID, I_LEN, I_PID, I_REF, STRIDE, type PackedEvents } from './packed.ts';
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

/**
 * An interned payload's fields (packed.ts): shared by every event with the same payload, so
 * what is made from them alone is made once: the raw text, an entry's hex digits.
 */
class InternedFields extends PayloadFields {
  private text: string | undefined;
  private hexName: string | undefined;
  private hex: string | undefined;
  // the last two fields read (the mapping reads the same one or two of every such event)
  private name0: string | undefined;
  private value0: FieldValue | undefined;
  private name1: string | undefined;
  private value1: FieldValue | undefined;

  override get(name: string): FieldValue | undefined {
    if (name === this.name0) return this.value0;
    if (name === this.name1) return this.value1;
    const v = super.get(name);
    this.name1 = this.name0;
    this.value1 = this.value0;
    this.name0 = name;
    this.value0 = v;
    return v;
  }

  override fieldsText(): string {
    return (this.text ??= super.fieldsText());
  }

  /** fieldHex (sessions/import/fields.ts) of one field, kept for the next event. */
  fieldHex(name: string): string | undefined {
    if (name !== this.hexName) {
      this.hex = hexOf(this.get(name));
      this.hexName = name;
    }
    return this.hex;
  }
}

/** The fields of an event the file has no format for: none. */
const NO_FIELDS = new PayloadFields(new DataView(new ArrayBuffer(0)), 0, 0, undefined, true);

/** A packed event as the import reads it (see importRecordOf); one is reused while nothing keeps it. */
class PackedRecord implements ImportRecord {
  lineNo = 0;
  comm = '';
  pid = -1;
  tgid: number | undefined = undefined;
  sec = 0;
  ns = 0;
  system: string | undefined = undefined;
  event = '';
  body = '';
  scanVcpu = NaN;
  vcpu = NaN;
  reason = '';
  a = NaN;
  flags = 0;
  fields: Fields = NO_FIELDS;
}

/** Bytes of interned payloads kept in one block (a DataView per block, not per payload). */
const BLOCK = 64 << 10;

/**
 * Packed batches (packed.ts) → the import's records, in the importing thread. Keeps the
 * interned payloads' fields (bounded by the packer's table) and the event names by id.
 */
export class DatUnpacker {
  private readonly interned: InternedFields[] = [];
  /** By id, for the ids with a format (none at or past events.idLimit). */
  private readonly formats: (EventFormat | null | undefined)[];
  private readonly le: boolean;
  private block = new Uint8Array(BLOCK);
  private blockView = new DataView(this.block.buffer);
  private blockUsed = 0;
  private lastPid = -2;
  private lastComm = '';
  private readonly reused = new PackedRecord();

  constructor(private readonly meta: TraceDatMeta) {
    this.le = meta.littleEndian;
    this.formats = new Array<EventFormat | null | undefined>(meta.events.idLimit);
  }

  private format(id: number): EventFormat | undefined {
    if (id < 0 || id >= this.formats.length) return undefined;
    let f = this.formats[id];
    if (f === undefined) this.formats[id] = f = this.meta.events.get(id) ?? null;
    return f ?? undefined;
  }

  private comm(pid: number): string {
    if (pid !== this.lastPid) {
      this.lastPid = pid;
      this.lastComm = pid === 0 ? '<idle>' : (this.meta.comms.get(pid) ?? '<...>');
    }
    return this.lastComm;
  }

  /** Keep the payloads first interned in `p` (their bytes are copied: the batch's buffer is not kept). */
  private learn(p: PackedEvents): void {
    if (p.freshFrom !== this.interned.length) throw new Error(`packed batch out of order: payload ${p.freshFrom} after ${this.interned.length}`);
    for (let k = 0; k < p.freshCount; k++) {
      const off = p.fresh[2 * k]!;
      const len = p.fresh[2 * k + 1]!;
      if (this.blockUsed + len > this.block.length) {
        this.block = new Uint8Array(Math.max(BLOCK, len));
        this.blockView = new DataView(this.block.buffer);
        this.blockUsed = 0;
      }
      this.block.set(p.bytes.subarray(off, off + len), this.blockUsed);
      // the event's id: its payload's first u16, as the packer read it
      const id = len >= 2 ? this.blockView.getUint16(this.blockUsed, this.le) : -1;
      this.interned.push(new InternedFields(this.blockView, this.blockUsed, len, this.format(id), this.le));
      this.blockUsed += len;
    }
  }

  /** The records of a batch from its record `from` on, made when the import asks for each. */
  batch(p: PackedEvents, from = 0): PackedRecordBatch {
    this.learn(p);
    return new DatBatch(this, p, from);
  }

  /** Record `i` of `p` (DatBatch.importRecord). */
  record(p: PackedEvents, view: DataView, i: number, n: number, keep: boolean): ImportRecord {
    const o = i * STRIDE;
    const ints = p.ints;
    const r = keep ? new PackedRecord() : this.reused;
    const id = ints[o + I_ID]!;
    const format = this.format(id);
    const ref = ints[o + I_REF]!;
    const pid = ints[o + I_PID]!;
    const ts = p.ts[i]!;
    r.lineNo = n;
    r.pid = pid;
    r.comm = this.comm(pid);
    r.sec = Math.floor(ts / 1e9);
    r.ns = ts - r.sec * 1e9;
    r.system = format?.system;
    r.event = format?.name ?? `event_${id}`;
    r.fields = !format ? NO_FIELDS : ref >= 0 ? this.interned[ref]! : new PayloadFields(view, ~ref, ints[o + I_LEN]!, format, this.le);
    r.scanVcpu = NaN;
    r.vcpu = NaN;
    r.reason = '';
    r.a = NaN;
    r.flags = 0;
    predecodeFields(r, r.fields);
    return r;
  }
}

/**
 * A packed batch as the import reads it. A class, not an object with a closure per batch: the
 * import's loop calls importRecord() of every batch at one call site, whose optimized code a
 * new closure each batch threw away ('wrong call target').
 */
class DatBatch implements PackedRecordBatch {
  readonly count: number;
  readonly bytes: number;
  private readonly view: DataView;

  constructor(
    private readonly unpacker: DatUnpacker,
    private readonly p: PackedEvents,
    private readonly from: number,
  ) {
    this.count = p.count - from;
    this.bytes = p.bytesRead;
    this.view = new DataView(p.bytes.buffer, p.bytes.byteOffset, p.bytes.byteLength);
  }

  importRecord(i: number, n: number, keep: boolean): ImportRecord {
    return this.unpacker.record(this.p, this.view, this.from + i, n, keep);
  }
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
