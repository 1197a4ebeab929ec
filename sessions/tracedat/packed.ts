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
const E_ID = 0;
const E_LEN = 1;
const E_AT = 2;
const E_STRIDE = 3;

/** Per event id (one shape for all: the packing loop reads only these): how it is packed. */
interface IdPlan {
  /** Where common_pid is; -1: nowhere known. */
  pidAt: number;
  /** First byte of the event's own fields (the key); -1: never interned. */
  keyStart: number;
  seen: number;
  misses: number;
}

/** Where a field's bytes may lie: a data_loc field points anywhere in the payload. */
function ownStart(format: EventFormat): number {
  let start = Infinity;
  for (const f of format.fields as readonly FieldFormat[]) {
    if (f.loc) return 0;
    start = Math.min(start, f.offset);
  }
  // `| 0`: an integer, as the plan's other offsets (Math.min's result is a double, and a plan
  // with a double there deprecated the plans' shape and the code made for it: 'wrong map')
  return start === Infinity ? 0 : start | 0;
}

export class EventPacker {
  private readonly le: boolean;
  private readonly events: FormatTable;
  private readonly pidAt: number;
  /** By id, for the ids with a format (sized so: an array of 65536 cost ~3 ms to make). */
  private readonly plans: (IdPlan | undefined)[];
  /** An event too short to have an id: no pid either unless common_pid fits, never interned. */
  private readonly noId: IdPlan;
  /** An id without a format (none at or past events.idLimit): the common pid, never interned. */
  private readonly noFormat: IdPlan;
  /**
   * Interned payloads by hash (open addressing, at most half full, grown as needed: a small
   * table stays in the cache): per slot the hash and the payload's index + 1 (0: empty). Per
   * payload, E_* ints: its id, length and bytes' place in `arena`.
   */
  // small at first: their growth (rehash, grow) then runs within the first events, before
  // intern() is optimized, whose code would otherwise be thrown away at the first growth
  // (no type feedback for what was never run)
  private slots = new Int32Array(2 * 16);
  private entry = new Int32Array(E_STRIDE * 16);
  private arena: Uint8Array<ArrayBuffer> = new Uint8Array(1 << 10);
  private arenaView = new DataView(this.arena.buffer);
  private arenaUsed = 0;
  private entries = 0;
  private chunkBytes: Uint8Array = new Uint8Array(0);
  private chunkOf: ArrayBufferLike | undefined;

  /** Distinct payloads interned so far. */
  get interned(): number {
    return this.entries;
  }

  /** `limits` lowers the table's bounds and the trial (tests: the paths past them). */
  constructor(
    private readonly reader: TraceDatReader,
    private readonly limits: { entries: number; trial: number } = { entries: MAX_ENTRIES, trial: INTERN_TRIAL },
  ) {
    const meta = reader.meta;
    this.le = meta.littleEndian;
    this.events = meta.events;
    this.pidAt = meta.events.commonPid()?.offset ?? -1;
    this.noId = { pidAt: this.pidAt, keyStart: -1, seen: 0, misses: 0 };
    this.noFormat = { pidAt: this.pidAt, keyStart: -1, seen: 0, misses: 0 };
    this.plans = new Array<IdPlan | undefined>(meta.events.idLimit);
  }

  private plan(id: number): IdPlan {
    let p = id < 0 ? this.noId : id < this.plans.length ? this.plans[id] : this.noFormat;
    if (!p) {
      const format = this.events.get(id);
      p = { pidAt: format?.pid?.offset ?? this.pidAt, keyStart: format ? ownStart(format) : -1, seen: 0, misses: 0 };
      this.plans[id] = p;
    }
    return p;
  }

  /**
   * The next events, at most `max` (fewer at the end of the file); undefined when none is left.
   * `typical` is the first guess of the bytes needed per event (interned payloads need none).
   */
  next(max: number, typical = 16): PackedEvents | undefined {
    const reader = this.reader;
    const at = reader.at;
    const le = this.le;
    const ts = new Float64Array(max);
    const ints = new Int32Array(max * STRIDE);
    let bytes = new Uint8Array(max * typical);
    let pos = 0;
    let fresh = new Int32Array(64);
    let freshCount = 0;
    const freshFrom = this.entries;
    let n = 0;
    while (n < max && reader.advance()) {
      const view = at.view;
      const off = at.offset;
      const len = at.length;
      if (view.buffer !== this.chunkOf) {
        this.chunkBytes = new Uint8Array(view.buffer);
        this.chunkOf = view.buffer;
      }
      const src = view.byteOffset + off;
      // common_type is the payload's first u16 in every kernel that has trace.dat v6
      const id = len >= 2 ? view.getUint16(off, le) : -1;
      const pf = this.plan(id);
      const pidOff = pf.pidAt;
      const o = n * STRIDE;
      ts[n] = at.ts;
      ints[o + I_PID] = pidOff >= 0 && pidOff + 4 <= len ? view.getInt32(off + pidOff, le) : -1;
      ints[o + I_ID] = id;
      ints[o + I_LEN] = len;
      let ref = -1;
      if (pf.keyStart >= 0 && pf.keyStart <= len) {
        ref = this.intern(id, pf, view, off, len);
        if (ref === freshFrom + freshCount) {
          // first seen now: its bytes go with this batch, once
          if (2 * freshCount + 2 > fresh.length) {
            const grown = new Int32Array(fresh.length * 2);
            grown.set(fresh);
            fresh = grown;
          }
          if (pos + len > bytes.length) bytes = grow(bytes, pos + len);
          copy(this.chunkBytes, src, bytes, pos, len);
          fresh[2 * freshCount] = pos;
          fresh[2 * freshCount + 1] = len;
          freshCount++;
          pos += len;
        }
      }
      if (ref < 0) {
        if (pos + len > bytes.length) bytes = grow(bytes, pos + len);
        copy(this.chunkBytes, src, bytes, pos, len);
        ref = ~pos;
        pos += len;
      }
      ints[o + I_REF] = ref;
      n++;
    }
    if (n === 0) return undefined;
    return { count: n, ts, ints, bytes: bytes.subarray(0, pos), fresh, freshCount, freshFrom, bytesRead: reader.bytesRead };
  }

  /** The index of the interned payload equal to this one (new when first seen), or -1: not interned. */
  private intern(id: number, p: IdPlan, view: DataView, off: number, len: number): number {
    const k = p.keyStart;
    // FNV-1a over the event's own bytes a 32-bit word at a time, its id and length mixed in
    let h = Math.imul(0x811c9dc5 ^ id, 0x01000193) ^ len;
    let i = off + k;
    const end = off + len;
    for (; i + 4 <= end; i += 4) h = Math.imul(h ^ view.getInt32(i, true), 0x01000193);
    for (; i < end; i++) h = Math.imul(h ^ view.getUint8(i), 0x01000193);
    h ^= h >>> 15;
    const slots = this.slots;
    const mask = (slots.length >> 1) - 1;
    let s = h & mask;
    for (;;) {
      const e = slots[2 * s + 1]! - 1;
      if (e < 0) break;
      const eo = e * E_STRIDE;
      if (slots[2 * s] === h && this.entry[eo + E_ID] === id && this.entry[eo + E_LEN] === len && this.same(view, off + k, this.entry[eo + E_AT]! + k, len - k)) {
        p.seen++;
        return e;
      }
      s = (s + 1) & mask;
    }
    p.seen++;
    p.misses++;
    // its payloads do not repeat: stop (the comparison that first holds early is tested first,
    // so that both have run before intern() is optimized)
    if (2 * p.misses > p.seen && p.seen >= this.limits.trial) p.keyStart = -1;
    if (this.entries >= this.limits.entries || this.arenaUsed + len > MAX_ARENA) return -1;
    if (this.arenaUsed + len > this.arena.length) {
      this.arena = grow(this.arena, this.arenaUsed + len);
      this.arenaView = new DataView(this.arena.buffer);
    }
    const e = this.entries++;
    if ((e + 1) * E_STRIDE > this.entry.length) {
      const grown = new Int32Array(this.entry.length * 2);
      grown.set(this.entry);
      this.entry = grown;
    }
    copy(this.chunkBytes, view.byteOffset + off, this.arena, this.arenaUsed, len);
    const eo = e * E_STRIDE;
    this.entry[eo + E_ID] = id;
    this.entry[eo + E_LEN] = len;
    this.entry[eo + E_AT] = this.arenaUsed;
    this.arenaUsed += len;
    slots[2 * s] = h;
    slots[2 * s + 1] = e + 1;
    if (2 * this.entries > mask) this.rehash();
    return e;
  }

  /** Twice the slots, every payload placed again by its hash. */
  private rehash(): void {
    const old = this.slots;
    const slots = new Int32Array(old.length * 2);
    const mask = (slots.length >> 1) - 1;
    for (let i = 0; i < old.length; i += 2) {
      if (old[i + 1] === 0) continue;
      let s = old[i]! & mask;
      while (slots[2 * s + 1] !== 0) s = (s + 1) & mask;
      slots[2 * s] = old[i]!;
      slots[2 * s + 1] = old[i + 1]!;
    }
    this.slots = slots;
  }

  /** The `len` bytes at `at` of `view` are those at `arenaAt` of the arena. */
  private same(view: DataView, at: number, arenaAt: number, len: number): boolean {
    const a = this.arenaView;
    let i = 0;
    for (; i + 4 <= len; i += 4) if (view.getInt32(at + i, true) !== a.getInt32(arenaAt + i, true)) return false;
    for (; i < len; i++) if (view.getUint8(at + i) !== a.getUint8(arenaAt + i)) return false;
    return true;
  }
}

function grow(b: Uint8Array<ArrayBuffer>, need: number): Uint8Array<ArrayBuffer> {
  const next = new Uint8Array(Math.max(need, b.length * 2));
  next.set(b);
  return next;
}

/** Payloads are a few dozen bytes: a loop beats a subarray and a set. */
function copy(from: Uint8Array, at: number, to: Uint8Array, pos: number, len: number): void {
  if (len > 256) to.set(from.subarray(at, at + len), pos);
  else for (let i = 0; i < len; i++) to[pos + i] = from[at + i]!;
}

