/**
 * A trace.dat's events in packed batches: typed arrays, no object per event. The same packing
 * serves the read in the importing thread and the read on a second thread (readWorker.ts, whose
 * batches are transferred, not copied), so the session does not depend on where it was read.
 *
 * Most events of a KVM trace repeat a payload seen before (the walk's paging elements read the
 * same few hundred entries; kvm_emulate_insn emulates the same few instructions): an event's own
 * fields (the bytes after the common ones) are interned, and such an event is only a reference to
 * its first occurrence. The importing thread then reads the fields, and makes their texts (hex
 * entries, a raw event's name=value text), once per distinct payload instead of once per event
 * (datRecords.ts). An event whose payloads do not repeat stops being interned after a while
 * (INTERN_TRIAL), and the table is bounded (MAX_ENTRIES, MAX_ARENA): memory stays constant.
 */
import type { EventFormat, FieldFormat, FormatTable } from './formats.ts';
import { BATCH_DONE, NEED_PAGE, NEED_PLAN, outOfMemory, type PackCore } from './packCore.ts';
import type { TraceDatReader } from './reader.ts';

/** Ints per event in `PackedEvents.ints`: pid, event id (common_type, -1 none), payload ref, payload length. */
export const STRIDE = 4;
export const I_PID = 0;
export const I_ID = 1;
/** >= 0: an interned payload's index; < 0: the payload is in `bytes` at ~ref (one's complement). */
export const I_REF = 2;
export const I_LEN = 3;

/** `count` events in time order. */
export interface PackedEvents {
  count: number;
  /** Nanoseconds of the trace clock. */
  ts: Float64Array<ArrayBuffer>;
  /** STRIDE per event (I_PID … I_LEN). */
  ints: Int32Array<ArrayBuffer>;
  /** Payloads (common fields included): the events' own ones and the new interned ones. */
  bytes: Uint8Array<ArrayBuffer>;
  /** Interned payloads first seen in this batch, their index from `freshFrom` on: offset and length in `bytes`, two per payload. */
  fresh: Int32Array<ArrayBuffer>;
  freshCount: number;
  freshFrom: number;
  /** Bytes of CPU data read so far (progress). */
  bytesRead: number;
}

/** Distinct payloads kept at most, and their bytes: past either, new payloads are not interned. */
const MAX_ENTRIES = 1 << 15;
const MAX_ARENA = 4 << 20;
/** Events of an id after which its interning stops when fewer than half of them repeated a payload. */
const INTERN_TRIAL = 2048;

/** Where a field's bytes may lie: a data_loc field points anywhere in the payload. */
function ownStart(format: EventFormat): number {
  let start = Infinity;
  for (const f of format.fields as readonly FieldFormat[]) {
    if (f.loc) return 0;
    start = Math.min(start, f.offset);
  }
  return start === Infinity ? 0 : start;
}

/**
 * Packs a reader's events into batches. The loop itself is WebAssembly (wasm/pack.c, through the
 * reader's PackCore); here are its plans (per event id: where common_pid is, where the event's
 * own fields start) and the batches copied out of its memory.
 */
export class EventPacker {
  private readonly core: PackCore;
  private readonly events: FormatTable;
  private readonly pidAt: number;

  /** Distinct payloads interned so far. */
  get interned(): number {
    return this.core.x.interned();
  }

  /** `limits` lowers the table's bounds and the trial (tests: the paths past them). One packer per reader. */
  constructor(
    private readonly reader: TraceDatReader,
    limits: { entries: number; trial: number } = { entries: MAX_ENTRIES, trial: INTERN_TRIAL },
  ) {
    const meta = reader.meta;
    this.core = reader.core;
    this.events = meta.events;
    this.pidAt = meta.events.commonPid()?.offset ?? -1;
    if (this.core.x.pack_init(meta.events.idLimit, this.pidAt, limits.entries, limits.trial, MAX_ARENA) < 0) throw outOfMemory();
  }

  private plan(id: number): void {
    const format = this.events.get(id);
    this.core.x.set_plan(id, format?.pid?.offset ?? this.pidAt, format ? ownStart(format) : -1);
  }

  /**
   * The next events, at most `max` (fewer at the end of the file); undefined when none is left.
   * `typical` is the first guess of the bytes needed per event (interned payloads need none).
   */
  next(max: number, typical = 16): PackedEvents | undefined {
    const x = this.core.x;
    if (x.batch(max, typical) < 0) throw outOfMemory();
    for (;;) {
      const r = x.pack();
      if (r === BATCH_DONE) break;
      if (r < 0) throw outOfMemory();
      if (r & NEED_PAGE) this.reader.pageDone(r & (NEED_PAGE - 1));
      else if (r & NEED_PLAN) this.plan(r & 0xffff);
      else throw new Error(`the packing loop answered ${r}`);
    }
    const n = x.batch_n();
    if (n === 0) return undefined;
    this.reader.count += n;
    const mem = this.core.bytes().buffer as ArrayBuffer;
    const freshCount = x.batch_fresh_n();
    return {
      count: n,
      ts: new Float64Array(mem, x.batch_ts(), n).slice(),
      ints: new Int32Array(mem, x.batch_ints(), n * STRIDE).slice(),
      bytes: new Uint8Array(mem, x.batch_bytes(), x.batch_pos()).slice(),
      fresh: new Int32Array(mem, x.batch_fresh(), 2 * freshCount).slice(),
      freshCount,
      freshFrom: x.batch_fresh_from(),
      bytesRead: this.reader.bytesRead,
    };
  }
}
