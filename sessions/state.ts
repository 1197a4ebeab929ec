/**
 * Page-table state rebuilt from a session's events, and its binary form (the keyframe body).
 *
 * The engine reports every change of state that matters for page tables as an event, so the
 * state just after canonical event `i` is a pure function of events [0, i]:
 * - `gpte_write` sets the guest entry at `gpa` to `new` (level 0 = the frame was zeroed);
 * - `spte_write` sets entry `index` of shadow/EPT/Xen table `table` to `new`;
 * - `shadow_page` alloc gives a table its level, gfn, role and quadrant; zap/recycle/free mark it
 *   zapped (its entries are cleared by the spte_writes that follow), and a zapped table is
 *   dropped once it holds no entry;
 * - under nested virtualization the role of those two events says whose memory holds the table
 *   (core/tableRoles.ts): L0's tables (`ept01`, `ept02`, and every table of a plain session) are
 *   in `shadow`, L1's (`ept12`, `spt12`) in `l1`, each keyed by its own ids;
 * - a `vmexit` handled `map-gfn` maps its guest frame in the TDP tables (the engine keeps
 *   EPT/NPT as the set of mapped frames);
 * - `tlb_flush` counts flushes per scope; every event counts in the per-VM counters.
 * Replay applies `new` values (not old → new deltas), so a keyframe plus the events after it
 * gives exactly the state a replay from the start gives. Each entry remembers the index of the
 * event that last wrote it ("why did this change").
 */
import type { MmuEvent } from '../core/events.ts';
import { tableOwner } from '../core/tableRoles.ts';
import { ByteReader, ByteWriter, FormatError } from './format.ts';

export interface ShadowTableState {
  level: number;
  /** Set by the alloc event; -1 for a table seen only through its sptes. */
  gfn: number;
  role: string;
  quadrant: number;
  zapped: boolean;
  entries: Map<number, bigint>;
  last: Map<number, number>;
}

export interface VmState {
  /** Guest paging-structure entries by guest-physical address of the entry (non-zero only). */
  guest: Map<number, bigint>;
  guestLevel: Map<number, number>;
  guestLast: Map<number, number>;
  shadow: Map<number, ShadowTableState>;
  /** Nested: tables in L1's memory (role owner 1, e.g. EPT12), by the L1 guest frame that holds them. */
  l1: Map<number, ShadowTableState>;
  /** TDP: guest frames the second-level tables map, with the index of the exit that mapped each. */
  ept: Map<number, number>;
  tlbFlushes: Map<string, number>;
  events: number;
  exitsByReason: Map<string, number>;
}

function newVm(): VmState {
  return {
    guest: new Map(),
    guestLevel: new Map(),
    guestLast: new Map(),
    shadow: new Map(),
    l1: new Map(),
    ept: new Map(),
    tlbFlushes: new Map(),
    events: 0,
    exitsByReason: new Map(),
  };
}

/**
 * A Xen PV pin or unpin of the table with machine frame `table`: pinning is part of the
 * frame's page type in Xen (PGT_pinned), so the state keeps it as the table's role, `pinned`
 * (and the keyframes with it). A table pinned before any entry of it was written through Xen
 * is created empty; unpinned and still empty, it is dropped again.
 */
function pinned(v: VmState, table: number, level: number, on: boolean): void {
  const t = v.shadow.get(table);
  if (on) {
    if (t) t.role = PINNED;
    else v.shadow.set(table, { level, gfn: -1, role: PINNED, quadrant: 0, zapped: false, entries: new Map(), last: new Map() });
  } else if (t) {
    t.role = '';
    if (t.entries.size === 0) v.shadow.delete(table);
  }
}

/** The role of a Xen PV table while it is pinned. */
export const PINNED = 'pinned';

function bump(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

export class PageState {
  readonly vms: VmState[];
  /** Number of canonical events applied: the state is "just before event `applied`". */
  applied = 0;

  constructor(vmCount: number) {
    this.vms = Array.from({ length: vmCount }, newVm);
  }

  vm(i: number): VmState {
    let v = this.vms[i];
    if (!v) {
      v = newVm();
      this.vms[i] = v;
    }
    return v;
  }

  /** Apply canonical event number `index` (which must be `this.applied`). */
  apply(e: MmuEvent, index = this.applied): void {
    const v = this.vm(e.vm);
    v.events++;
    switch (e.type) {
      case 'gpte_write':
        if (e.new === 0n) {
          v.guest.delete(e.gpa);
          v.guestLevel.delete(e.gpa);
        } else {
          v.guest.set(e.gpa, e.new);
          v.guestLevel.set(e.gpa, e.level);
        }
        v.guestLast.set(e.gpa, index);
        break;
      case 'spte_write': {
        const tables = PageState.tablesOf(v, e.role);
        let t = tables.get(e.table);
        if (!t) {
          t = { level: e.level, gfn: -1, role: e.role ?? '', quadrant: 0, zapped: false, entries: new Map(), last: new Map() };
          tables.set(e.table, t);
        }
        if (e.new === 0n) {
          t.entries.delete(e.index);
          // a zapped table is gone once its last entry is cleared (a table the state keeps
          // forever would make every keyframe pay for the whole history of the cache)
          if (t.zapped && t.entries.size === 0) tables.delete(e.table);
          else t.last.set(e.index, index);
        } else {
          t.entries.set(e.index, e.new);
          t.last.set(e.index, index);
        }
        break;
      }
      case 'shadow_page': {
        const tables = PageState.tablesOf(v, e.role);
        const t = tables.get(e.table);
        if (e.action === 'alloc') {
          tables.set(e.table, {
            level: e.level,
            gfn: e.gfn ?? -1,
            role: e.role ?? '',
            quadrant: e.quadrant ?? 0,
            zapped: false,
            entries: t?.entries ?? new Map(),
            last: t?.last ?? new Map(),
          });
        } else if ((e.action === 'zap' || e.action === 'recycle' || e.action === 'free') && t) {
          t.zapped = true;
          if (t.entries.size === 0) tables.delete(e.table);
        }
        break;
      }
      case 'vmexit':
        bump(v.exitsByReason, e.reason);
        if (e.handling === 'map-gfn' && e.gpa !== undefined) v.ept.set(Math.floor(e.gpa / 4096), index);
        else if ((e.handling === 'pin' || e.handling === 'unpin') && e.table !== undefined) pinned(v, e.table, e.level ?? 0, e.handling === 'pin');
        break;
      case 'tlb_flush':
        bump(v.tlbFlushes, e.scope);
        break;
      default:
        break;
    }
    this.applied = index + 1;
  }

  /** The tables a `role` (of an spte_write or shadow_page event) names its table among: L0's or L1's. */
  static tablesOf(v: VmState, role: string | undefined): Map<number, ShadowTableState> {
    return tableOwner(role) === 0 ? v.shadow : v.l1;
  }

  /** Shadow tables worth keeping: live ones, and zapped ones that still hold entries (kept roots). L0's, or `tables`. */
  static liveTables(v: VmState, tables: Map<number, ShadowTableState> = v.shadow): [number, ShadowTableState][] {
    return [...tables].filter(([, t]) => !t.zapped || t.entries.size > 0).sort((a, b) => a[0] - b[0]);
  }

  /**
   * The binary form (a keyframe body before compression). Canonical: two states that hold the
   * same page tables and counters give the same bytes, whatever history led to them.
   */
  encode(): Uint8Array {
    const w = new ByteWriter(1 << 16);
    const str = (s: string) => {
      const b = new TextEncoder().encode(s);
      w.varuint(b.length);
      w.raw(b);
    };
    const counts = (m: Map<string, number>) => {
      const keys = [...m.keys()].sort();
      w.varuint(keys.length);
      for (const k of keys) {
        str(k);
        w.varuint(m.get(k)!);
      }
    };
    const tableList = (tables: [number, ShadowTableState][]) => {
      w.varuint(tables.length);
      for (const [id, t] of tables) {
        w.varuint(id);
        w.varuint(t.level);
        w.varuint(t.gfn + 1);
        str(t.role);
        w.varuint(t.quadrant);
        w.u8(t.zapped ? 1 : 0);
        const idx = [...t.entries.keys()].sort((a, b) => a - b);
        w.varuint(idx.length);
        for (const i of idx) {
          w.varuint(i);
          w.varuint64(t.entries.get(i)!);
          w.varuint(t.last.get(i) ?? 0);
        }
      }
    };
    w.varuint(this.applied);
    w.varuint(this.vms.length);
    for (const v of this.vms) {
      w.varuint(v.events);
      counts(v.exitsByReason);
      counts(v.tlbFlushes);
      // guest entries, sorted by gpa, delta-coded
      const gpas = [...v.guest.keys()].sort((a, b) => a - b);
      w.varuint(gpas.length);
      let prev = 0;
      for (const gpa of gpas) {
        w.varuint(gpa - prev);
        prev = gpa;
        w.varuint(v.guestLevel.get(gpa) ?? 0);
        w.varuint64(v.guest.get(gpa)!);
        w.varuint(v.guestLast.get(gpa) ?? 0);
      }
      tableList(PageState.liveTables(v));
      const frames = [...v.ept.keys()].sort((a, b) => a - b);
      w.varuint(frames.length);
      prev = 0;
      for (const f of frames) {
        w.varuint(f - prev);
        prev = f;
        w.varuint(v.ept.get(f)!);
      }
    }
    // Nested: L1's tables, after every VM and only when some VM has any, so a state without
    // them has the bytes it had before they existed (older keyframes still verify)
    const withL1 = this.vms.map((v, i) => [i, PageState.liveTables(v, v.l1)] as const).filter(([, t]) => t.length > 0);
    if (withL1.length) {
      w.varuint(withL1.length);
      for (const [i, tables] of withL1) {
        w.varuint(i);
        tableList(tables);
      }
    }
    return w.bytes().slice();
  }

  /** Inverse of `encode`. Throws FormatError on malformed bytes; caps every count by the bytes left. */
  static decode(bytes: Uint8Array): PageState {
    const r = new ByteReader(bytes);
    const left = () => bytes.length - r.pos;
    const count = () => {
      const n = r.varuint();
      if (n > left()) throw new FormatError('a keyframe count exceeds its bytes');
      return n;
    };
    const dec = new TextDecoder('utf-8', { fatal: false });
    const str = () => dec.decode(r.bytes(count()));
    const counts = () => {
      const m = new Map<string, number>();
      for (let n = count(); n > 0; n--) m.set(str(), r.varuint());
      return m;
    };
    const tableList = (into: Map<number, ShadowTableState>) => {
      for (let n = count(); n > 0; n--) {
        const id = r.varuint();
        const t: ShadowTableState = {
          level: r.varuint(),
          gfn: r.varuint() - 1,
          role: str(),
          quadrant: r.varuint(),
          zapped: r.u8() === 1,
          entries: new Map(),
          last: new Map(),
        };
        for (let k = count(); k > 0; k--) {
          const idx = r.varuint();
          t.entries.set(idx, r.varuint64());
          t.last.set(idx, r.varuint());
        }
        into.set(id, t);
      }
    };
    const applied = r.varuint();
    const vmCount = count();
    const s = new PageState(vmCount);
    s.applied = applied;
    for (let i = 0; i < vmCount; i++) {
      const v = s.vms[i]!;
      v.events = r.varuint();
      v.exitsByReason = counts();
      v.tlbFlushes = counts();
      let gpa = 0;
      for (let n = count(); n > 0; n--) {
        gpa += r.varuint();
        v.guestLevel.set(gpa, r.varuint());
        v.guest.set(gpa, r.varuint64());
        v.guestLast.set(gpa, r.varuint());
      }
      tableList(v.shadow);
      let f = 0;
      for (let n = count(); n > 0; n--) {
        f += r.varuint();
        v.ept.set(f, r.varuint());
      }
    }
    if (r.pos < bytes.length) {
      for (let n = count(); n > 0; n--) {
        const i = r.varuint();
        const v = s.vms[i];
        if (!v) throw new FormatError(`a keyframe has L1 tables for VM ${i}, which it does not have`);
        tableList(v.l1);
      }
    }
    if (r.pos !== bytes.length) throw new FormatError('a keyframe has bytes after its state');
    return s;
  }
}
