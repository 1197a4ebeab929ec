/**
 * The page tables of every VM at an event, as a tree per space (guest, shadow, EPT, Xen PV,
 * nested roles), with each shadow entry linked to the guest entry it mirrors.
 */
import { toHex } from '../../core/events.ts';
import { entryBytes, type PagingControls, topLevel } from '../../core/paging.ts';
import { HOST_GUEST_BASE_FRAME } from '../../core/shadow/pages.ts';
import { xenMachineBase } from '../../core/xenpv/xenpv.ts';
import { linkDerived, nestedRoles, roleChild, roleTables, roleTitle } from '../nestedTables.ts';
import type { SessionReader } from '../reader.ts';
import { PageState, type ShadowTableState, type VmState } from '../state.ts';
import { canonical, entryAddr, eptFlags, guestFlags, guestLeaf, hostChild, hostFlags, layouts, lo32, type SpaceKind, span } from './layout.ts';
import { gKey, nKey, sKey } from './tableKeys.ts';

export interface EntryView {
  index: number;
  va0?: string;
  va1?: string;
  value: string;
  flags: string[];
  target: { kind: 'table' | 'page' | 'none'; addr?: string; table?: string };
  mirrors?: { table: string; index: number }[];
  /** Nested: an entry of L0's composite (EPT02) → the entries of L1's (EPT12) and L0's (EPT01) structures it was built from. */
  derivedFrom?: { table: string; index: number }[];
  lastEvent?: number;
}

export interface TableView {
  key: string;
  level: number;
  gpa?: string;
  gfn?: string;
  role?: string;
  quadrant?: number;
  entries: EntryView[];
}

export interface SpaceView {
  kind: SpaceKind;
  paging: string;
  roots: string[];
  tables: TableView[];
  /** Nested: the structure these tables are (core/tableRoles.ts), and its words. */
  role?: string;
  title?: string;
}

export interface PageTablesView {
  at: number;
  t: number;
  /** `host` is the structure the CPU uses (under nesting EPT02); `nested` the nested VM's other structures (EPT12, EPT01), one tree each. */
  vms: { vm: number; guest: SpaceView; host?: SpaceView; nested?: SpaceView[]; tlb?: Record<string, number> }[];
  truncated: boolean;
}

interface GuestTable {
  base: number;
  level: number;
  entries: Map<number, { gpa: number; value: bigint }>;
}

/** Guest tables: entries grouped by the page-table page (PAE PDPTs by their 32-byte block). */
function guestTables(v: VmState, ctl: PagingControls): Map<number, GuestTable> {
  const bytes = entryBytes(ctl.mode);
  const top = topLevel(ctl.mode);
  const tables = new Map<number, GuestTable>();
  for (const [gpa, value] of v.guest) {
    const level = v.guestLevel.get(gpa) ?? 0;
    if (level < 1) continue;
    const pdpt = ctl.mode === 'pae' && level === top;
    const base = pdpt ? gpa - (gpa % 32) : gpa - (gpa % 4096);
    let t = tables.get(base);
    if (!t) {
      t = { base, level, entries: new Map() };
      tables.set(base, t);
    }
    t.entries.set((gpa - base) / bytes, { gpa, value });
  }
  return tables;
}

/** The shadow entries that mirror guest entry `gi` of the guest table at frame `gfn` (seed 000's quadrants). */
function mirrorsOf(v: VmState, vm: number, ctl: PagingControls, byGfn: Map<number, number[]>, gfn: number, level: number, gi: number): { table: string; index: number }[] {
  const out: { table: string; index: number }[] = [];
  for (const id of byGfn.get(gfn) ?? []) {
    const t = v.shadow.get(id)!;
    if (t.level !== level) continue;
    if (ctl.mode === 'nonpae') {
      const per = level === 1 ? 512 : 256;
      if (Math.floor(gi / per) !== t.quadrant) continue;
      if (level === 1) out.push({ table: sKey(vm, id), index: gi % 512 });
      else out.push({ table: sKey(vm, id), index: (gi % 256) * 2 }, { table: sKey(vm, id), index: (gi % 256) * 2 + 1 });
    } else out.push({ table: sKey(vm, id), index: gi });
  }
  return out;
}

export function pageTablesView(session: SessionReader, state: PageState, at: number, opts: { vm?: number; maxTables?: number } = {}): PageTablesView {
  const lay = layouts(session);
  const max = opts.maxTables ?? 5000;
  let budget = max;
  let truncated = false;
  const vms: PageTablesView['vms'] = [];
  state.vms.forEach((v, vm) => {
    if (opts.vm !== undefined && opts.vm !== vm) return;
    const { ctl, host } = lay[vm] ?? lay[0]!;
    const top = topLevel(ctl.mode);
    // --- guest
    const gt = guestTables(v, ctl);
    const byGfn = new Map<number, number[]>();
    for (const [id, t] of PageState.liveTables(v))
      if (t.gfn >= 0 && t.role.startsWith('shadow')) byGfn.set(t.gfn, [...(byGfn.get(t.gfn) ?? []), id]);
    const gva = new Map<number, bigint>();
    const walkG = (base: number, va: bigint, depth: number) => {
      const t = gt.get(base);
      if (!t || gva.has(base) || depth > 5) return;
      gva.set(base, va);
      for (const [i, e] of t.entries) {
        if (!(lo32(e.value) & 1) || guestLeaf(ctl, t.level, e.value)) continue;
        walkG(Number(entryAddr(ctl, e.value)), va + BigInt(i) * span(ctl.mode, t.level), depth + 1);
      }
    };
    const roots = [...gt.values()].filter((t) => t.level === top).map((t) => t.base).sort((a, b) => a - b);
    for (const r of roots) walkG(r, 0n, 0);
    const guestViews: TableView[] = [];
    for (const t of [...gt.values()].sort((a, b) => b.level - a.level || a.base - b.base)) {
      if (budget <= 0) {
        truncated = true;
        break;
      }
      budget--;
      const base = gva.get(t.base);
      const entries: EntryView[] = [...t.entries]
        .sort((a, b) => a[0] - b[0])
        .map(([i, e]) => {
          const present = (lo32(e.value) & 1) !== 0;
          const leaf = guestLeaf(ctl, t.level, e.value);
          const addr = Number(entryAddr(ctl, e.value));
          const ev: EntryView = {
            index: i,
            value: toHex(e.value),
            flags: guestFlags(ctl, t.level, e.value),
            target: !present ? { kind: 'none' } : leaf ? { kind: 'page', addr: toHex(addr) } : { kind: 'table', addr: toHex(addr), ...(gt.has(addr) ? { table: gKey(vm, addr) } : {}) },
          };
          if (base !== undefined) {
            const va0 = base + BigInt(i) * span(ctl.mode, t.level);
            ev.va0 = toHex(canonical(va0, ctl.mode));
            ev.va1 = toHex(canonical(va0 + span(ctl.mode, t.level) - 1n, ctl.mode));
          }
          const last = v.guestLast.get(e.gpa);
          if (last !== undefined) ev.lastEvent = last;
          if (host === 'shadow') {
            const m = mirrorsOf(v, vm, ctl, byGfn, Math.floor(t.base / 4096), t.level, Math.floor((e.gpa % 4096) / entryBytes(ctl.mode)));
            if (m.length) ev.mirrors = m;
          } else if (host === 'xenpv') {
            // Xen PV: the validated entry is the guest's own, in machine form, in the table at the frame's mfn
            const id = xenMachineBase(vm) + Math.floor(e.gpa / 4096);
            const index = Math.floor((e.gpa % 4096) / entryBytes(ctl.mode));
            if (v.shadow.get(id)?.entries.has(index)) ev.mirrors = [{ table: sKey(vm, id), index }];
          }
          return ev;
        });
      guestViews.push({ key: gKey(vm, t.base), level: t.level, gpa: toHex(t.base), entries });
    }
    const guest: SpaceView = { kind: 'guest', paging: ctl.mode, roots: roots.map((r) => gKey(vm, r)), tables: guestViews };
    // --- host
    let hostView: SpaceView | undefined;
    let nested: SpaceView[] | undefined;
    if (host === 'ept' && v.shadow.size === 0) {
      // the plain TDP model keeps no EPT tables, only the frames it has mapped
      const frames = [...v.ept].sort((a, b) => a[0] - b[0]);
      hostView = {
        kind: 'ept',
        paging: 'ept (mapped guest frames)',
        roots: frames.length ? [`e${vm}:mapped`] : [],
        tables: frames.length
          ? [
              {
                key: `e${vm}:mapped`,
                level: 1,
                entries: frames.map(([gfn, last]) => ({
                  index: gfn,
                  va0: toHex(gfn * 4096),
                  va1: toHex(gfn * 4096 + 4095),
                  value: toHex((BigInt(HOST_GUEST_BASE_FRAME + gfn) << 12n) | 0x7n),
                  flags: ['R', 'W', 'X'],
                  target: { kind: 'page' as const, addr: toHex((HOST_GUEST_BASE_FRAME + gfn) * 4096) },
                  lastEvent: last,
                })),
              },
            ]
          : [],
      };
    } else {
      const tree = (live: [number, ShadowTableState][], childOf: (value: bigint, level: number) => number | undefined, key: (id: number) => string, kind: 'shadow' | 'ept' | 'xenpv', paging: string): SpaceView => {
        const byId = new Map(live);
        const referenced = new Set<number>();
        for (const [, t] of live) for (const value of t.entries.values()) {
          const c = childOf(value, t.level);
          if (c !== undefined) referenced.add(c);
        }
        const sRoots = live.filter(([id]) => !referenced.has(id)).map(([id]) => id);
        const sva = new Map<number, bigint>();
        const walkS = (id: number, va: bigint, depth: number) => {
          const t = byId.get(id);
          if (!t || sva.has(id) || depth > 5) return;
          sva.set(id, va);
          for (const [i, value] of t.entries) {
            const c = childOf(value, t.level);
            if (c !== undefined) walkS(c, va + BigInt(i) * span('host', t.level), depth + 1);
          }
        };
        // PAE shadow roots are the four page directories behind the vCPU's PDPTE registers: the
        // GiB a root covers is its quadrant (non-PAE guest) or the guest PDPTE pointing at its gfn.
        const gib = (t: { gfn: number; quadrant: number }): bigint | undefined => {
          if (ctl.mode === 'nonpae') return BigInt(t.quadrant) << 30n;
          if (ctl.mode !== 'pae') return undefined;
          for (const [gpa, value] of v.guest)
            if ((v.guestLevel.get(gpa) ?? 0) === 3 && lo32(value) & 1 && Number(entryAddr(ctl, value) >> 12n) === t.gfn) return BigInt((gpa % 32) / 8) << 30n;
          return undefined;
        };
        for (const r of sRoots) {
          const t = byId.get(r)!;
          if (t.level >= 3) walkS(r, 0n, 0);
          else if (t.level === 2 && t.gfn >= 0) {
            const base = gib(t);
            if (base !== undefined) walkS(r, base, 0);
          }
        }
        const tables: TableView[] = [];
        for (const [id, t] of [...live].sort((a, b) => b[1].level - a[1].level || a[0] - b[0])) {
          if (budget <= 0) {
            truncated = true;
            break;
          }
          budget--;
          const base = sva.get(id);
          const entries: EntryView[] = [...t.entries]
            .sort((a, b) => a[0] - b[0])
            .map(([i, value]) => {
              const c = childOf(value, t.level);
              const addr = entryAddr(undefined, value);
              const present = kind === 'ept' ? (lo32(value) & 7) !== 0 : (lo32(value) & 1) !== 0;
              const ev: EntryView = {
                index: i,
                value: toHex(value),
                flags: kind === 'ept' ? eptFlags(t.level, value) : hostFlags(t.level, value),
                target: !present ? { kind: 'none' } : c !== undefined ? { kind: 'table', addr: toHex(addr), ...(byId.has(c) ? { table: key(c) } : {}) } : { kind: 'page', addr: toHex(addr) },
              };
              if (base !== undefined) {
                const va0 = base + BigInt(i) * span('host', t.level);
                ev.va0 = toHex(canonical(va0, 'host'));
                ev.va1 = toHex(canonical(va0 + span('host', t.level) - 1n, 'host'));
              }
              const last = t.last.get(i);
              if (last !== undefined) ev.lastEvent = last;
              return ev;
            });
          tables.push({
            key: key(id),
            level: t.level,
            // a Xen PV table is the guest frame itself, named by its mfn: its gfn is the pfn (the p2m inverted)
            ...(t.gfn >= 0 ? { gfn: toHex(t.gfn) } : kind === 'xenpv' && id >= xenMachineBase(vm) ? { gfn: toHex(id - xenMachineBase(vm)) } : {}),
            ...(t.role ? { role: t.role + (t.zapped ? ' zapped' : '') } : {}),
            quadrant: t.quadrant,
            entries,
          });
        }
        return { kind, paging, roots: sRoots.map(key), tables };
      };
      const roles = nestedRoles(v);
      if (roles.length) {
        // nested: one tree per structure, the CPU's (EPT02) as `host`
        const spaces = roles.map((role): SpaceView => ({
          ...tree(roleTables(v, role), (value, level) => roleChild(role, value, level), (id) => nKey(vm, role, id), role.startsWith('spt') ? 'shadow' : 'ept', role.startsWith('spt') ? 'long4' : 'ept 4-level'),
          role,
          title: roleTitle(role),
        }));
        linkDerived(spaces);
        hostView = spaces[0];
        nested = spaces.slice(1);
      } else {
        const paging = host === 'xenpv' ? ctl.mode : host === 'ept' ? 'ept 4-level' : ctl.mode === 'long4' ? 'long4' : 'pae';
        hostView = tree(PageState.liveTables(v), (value, level) => hostChild(host, value, level), (id) => sKey(vm, id), host, paging);
      }
    }
    const tlb = Object.fromEntries([...v.tlbFlushes].map(([k, n]) => [`flush:${k}`, n]));
    vms.push({ vm, guest, host: hostView, ...(nested ? { nested } : {}), tlb });
  });
  const ev = at < session.eventCount ? session.rawEvents(at, 1)[0] : undefined;
  return { at, t: ev?.t ?? session.endNs, vms, truncated };
}
