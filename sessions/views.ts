/**
 * What the UI, the CLI and the reports ask of a session, computed from the reader: the page
 * tables of every VM at an event as a tree, the diff of all page tables between two events,
 * `perf kvm stat`-like counters over a time range, and two sessions side by side.
 *
 * The result shapes are the API contract's (electron/api/contract.ts), declared here as plain
 * interfaces so sessions/ stays free of the host; the host checks them against the schemas.
 */
import { PTE_HI_NX, entryBytes, reservedSet, topLevel, type PagingControls } from '../core/paging.ts';
import type { PagingMode } from '../core/scenario.ts';
import { HOST_GUEST_BASE_FRAME, HOST_SHADOW_BASE_FRAME } from '../core/shadow/pages.ts';
import { HOST_EPT_BASE_FRAME } from '../core/tdp/spte.ts';
import { xenMachineBase } from '../core/xenpv/xenpv.ts';
import { toHex } from '../core/events.ts';
import type { Counters, SessionReader } from './reader.ts';
import { PageState, type ShadowTableState, type VmState } from './state.ts';
import { linkDerived, nestedRoles, roleChild, roleTables, roleTitle } from './nestedTables.ts';
import { parseTableRole, tableOwner } from '../core/tableRoles.ts';

// ---- what a VM's tables look like ------------------------------------------------------

export type SpaceKind = 'guest' | 'shadow' | 'ept' | 'xenpv';

interface VmLayout {
  ctl: PagingControls;
  /** The host side: shadow tables, EPT/NPT (a set of mapped frames in this engine), or Xen-validated tables. */
  host: 'shadow' | 'ept' | 'xenpv';
}

/** Paging mode and MMU mode of each VM, from the scenario stored in the header (defaults for imported traces). */
export function layouts(session: SessionReader): VmLayout[] {
  const sc = session.header.scenario as { vms?: unknown[] } | null;
  const vms = Array.isArray(sc?.vms) ? sc.vms : [];
  return Array.from({ length: session.header.vms }, (_, i) => {
    const vm = (vms[i] ?? {}) as { guest?: Record<string, unknown>; mmu?: { mode?: unknown } };
    const g = vm.guest ?? {};
    const mode: PagingMode = g.paging === 'nonpae' || g.paging === 'pae' ? g.paging : 'long4';
    const bit = (o: unknown, k: string, d: boolean) => (o && typeof o === 'object' && typeof (o as Record<string, unknown>)[k] === 'boolean' ? ((o as Record<string, boolean>)[k] as boolean) : d);
    const ctl: PagingControls = {
      mode,
      wp: bit(g.cr0, 'wp', true),
      pse: bit(g.cr4, 'pse', true),
      smep: bit(g.cr4, 'smep', false),
      smap: bit(g.cr4, 'smap', false),
      nxe: bit(g.efer, 'nx', true),
    };
    const m = vm.mmu?.mode;
    return { ctl, host: m === 'tdp' ? 'ept' : m === 'xenpv' ? 'xenpv' : 'shadow' };
  });
}

const lo32 = (v: bigint) => Number(v & 0xffffffffn);
const hi32 = (v: bigint) => Number((v >> 32n) & 0xffffffffn);

/** Is this guest entry a leaf (maps a page) rather than a reference to the next table (SDM 4.3-4.5)? */
function guestLeaf(ctl: PagingControls, level: number, v: bigint): boolean {
  if (level === 1) return true;
  if (!(lo32(v) & 0x80)) return false;
  if (level === 2) return ctl.mode !== 'nonpae' || ctl.pse;
  return level === 3 && ctl.mode === 'long4';
}

/** Flags as the SDM names them, for a guest entry of `level` in `ctl`'s format. */
export function guestFlags(ctl: PagingControls, level: number, v: bigint): string[] {
  const lo = lo32(v);
  const out: string[] = [];
  const pdpte = ctl.mode === 'pae' && level === 3;
  if (lo & 1) out.push('P');
  if (!pdpte && lo & 2) out.push('RW');
  if (!pdpte && lo & 4) out.push('US');
  if (lo & 8) out.push('PWT');
  if (lo & 16) out.push('PCD');
  if (pdpte) return lo & 1 && reservedSet(ctl, level, lo, hi32(v), false) ? [...out, 'RSVD'] : out;
  if (lo & 32) out.push('A');
  const leaf = guestLeaf(ctl, level, v);
  if (leaf && lo & 64) out.push('D');
  if (level > 1 && lo & 0x80) out.push('PS');
  else if (level === 1 && lo & 0x80) out.push('PAT');
  if (leaf && lo & 0x100) out.push('G');
  if (entryBytes(ctl.mode) === 8 && hi32(v) & PTE_HI_NX) out.push('NX');
  if (lo & 1 && reservedSet(ctl, level, lo, hi32(v), leaf && level > 1)) out.push('RSVD');
  return out;
}

/** Flags of a shadow/EPT entry (always the 64-bit format the host runs the guest with). */
export function hostFlags(level: number, v: bigint): string[] {
  const lo = lo32(v);
  const out: string[] = [];
  if (lo & 1) out.push('P');
  if (lo & 2) out.push('RW');
  if (lo & 4) out.push('US');
  if (lo & 32) out.push('A');
  if (lo & 64) out.push('D');
  if (level > 1 && lo & 0x80) out.push('PS');
  if (lo & 0x100) out.push('G');
  if (hi32(v) & PTE_HI_NX) out.push('NX');
  return out;
}

/** Flags of an EPT entry (SDM Vol. 3C §28.3.2; the software bits of core/tdp/spte.ts). */
export function eptFlags(level: number, v: bigint): string[] {
  const lo = lo32(v);
  const hi = hi32(v);
  const out: string[] = [];
  if (lo & 1) out.push('R');
  if (lo & 2) out.push('W');
  if (lo & 4) out.push('X');
  if (level > 1 && lo & 0x80) out.push('PS');
  if (lo & 0x100) out.push('A');
  if (lo & 0x200) out.push('D');
  if (hi & (1 << 25)) out.push('HOST-W');
  if (hi & (1 << 26)) out.push('MMU-W');
  if (hi & (1 << 27) && (lo & 7) === 0) out.push('DISCONNECTED');
  if ((lo & 7) === 2) out.push('MMIO');
  return out;
}

/**
 * The host table an entry points to, by id: shadow pages sit at host frames from 0x800000, TDP
 * MMU (EPT) pages from 0xa00000 (core/shadow/pages.ts, core/tdp/spte.ts); a Xen-validated table is
 * named by its machine frame, which is what its parent entry holds.
 */
function hostChild(host: VmLayout['host'], value: bigint, level: number): number | undefined {
  const lo = lo32(value);
  if (level === 1 || lo & 0x80) return undefined;
  if (host === 'ept' ? (lo & 7) === 0 : (lo & 1) === 0) return undefined;
  const frame = Number(entryAddr(undefined, value) >> 12n);
  if (host === 'xenpv') return frame;
  const base = host === 'ept' ? HOST_EPT_BASE_FRAME : HOST_SHADOW_BASE_FRAME;
  return frame >= base ? frame - base : undefined;
}

/** Address bits of an entry: 4 KiB-aligned table or page address (large pages keep their low bits clear). */
function entryAddr(ctl: PagingControls | undefined, v: bigint): bigint {
  if (ctl && ctl.mode === 'nonpae') return v & 0xfffff000n;
  return v & 0x000ffffffffff000n;
}

/** Bytes one entry of `level` covers. */
function span(mode: PagingMode | 'host', level: number): bigint {
  if (mode === 'nonpae') return level === 1 ? 4096n : 4n << 20n;
  return 4096n << BigInt(9 * (level - 1));
}

function canonical(va: bigint, mode: PagingMode | 'host'): bigint {
  return (mode === 'long4' || mode === 'host') && va & (1n << 47n) ? va | 0xffff000000000000n : va;
}

// ---- page tables at an event ---------------------------------------------------------

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

const gKey = (vm: number, base: number) => `g${vm}:${toHex(base)}`;
const sKey = (vm: number, id: number) => `s${vm}:${id}`;
/** A nested VM's table: its role in the key, since L1's and L0's tables have ids of their own. */
const nKey = (vm: number, role: string, id: number) => `s${vm}:${role}:${id}`;

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

// ---- diff between two events ----------------------------------------------------------

export interface ChangeView {
  vm: number;
  space: SpaceKind;
  table: string;
  level: number;
  index: number;
  va0?: string;
  va1?: string;
  change: 'added' | 'removed' | 'changed';
  old: string;
  new: string;
  oldFlags: string[];
  newFlags: string[];
  lastEvent: number;
}
export interface DiffView {
  from: number;
  to: number;
  total: number;
  changes: ChangeView[];
  truncated: boolean;
}

/**
 * Every entry whose value differs between just after event `from` and just after event `to`
 * (`from` may be -1: the empty state before the session). Both states come from the nearest
 * keyframe (plus the events up to the next one), so a long range costs about what a short one
 * does. An entry still present at `to` names the event that last wrote it from the state itself;
 * an entry gone by `to` is looked up by a backward search over the range's events, which stops
 * as soon as every removed entry is found.
 */
export function diffView(session: SessionReader, from: number, to: number, limit = 10_000): DiffView {
  return runSteps(diffSteps(session, from, to, limit));
}

/** `diffView` for a host that must keep answering: it yields to the event loop between its steps (at most every 50 000 events read). */
export function diffViewAsync(session: SessionReader, from: number, to: number, limit = 10_000, options: StepOptions = {}): Promise<DiffView> {
  return runStepsYielding(diffSteps(session, from, to, limit), options);
}

/**
 * A long view's steps yield between them, optionally with how far it has got (0..1). A host runs
 * them with `runStepsYielding`, which reports that progress and stops at the next step once
 * `signal` is aborted (a Cancel): no further step runs, and the promise rejects with
 * `ViewCancelled`.
 */
export type Steps<T> = Generator<number | void, T>;

export interface StepOptions {
  signal?: AbortSignal;
  onProgress?: (fraction: number) => void;
  /** Awaited between steps (tests slow a query down with it). */
  between?: () => Promise<void>;
}

export class ViewCancelled extends Error {
  constructor() {
    super('the query was cancelled');
    this.name = 'ViewCancelled';
  }
}

/** A long view computed as steps, run straight through. */
function runSteps<T>(steps: Steps<T>): T {
  let r = steps.next();
  while (!r.done) r = steps.next();
  return r.value;
}

/** The same, letting the event loop run (a macrotask) between steps; reports progress, honours a cancel. */
export async function runStepsYielding<T>(steps: Steps<T>, options: StepOptions = {}): Promise<T> {
  let r = steps.next();
  while (!r.done) {
    if (typeof r.value === 'number') options.onProgress?.(Math.max(0, Math.min(1, r.value)));
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
    if (options.between) await options.between();
    if (options.signal?.aborted) {
      steps.return(undefined as T);
      throw new ViewCancelled();
    }
    r = steps.next();
  }
  return r.value;
}

const DIFF_SLICE_EVENTS = 50_000;
/** The backward search reads windows that start at this many events and double up to the cap: each window costs a seek. */
const DIFF_WINDOW_FIRST = 4096;
const DIFF_WINDOW_MAX = 131_072;

/** Removed entries waiting for the event that removed them, by VM and then by gpa (guest) or table and index (host). */
interface PendingRemovals {
  guest: Map<number, Map<number, ChangeView>>;
  /** By VM, then by owner and table (`<owner>:<table>`: under nesting L1's and L0's tables have ids of their own), then index. */
  host: Map<number, Map<string, Map<number, ChangeView>>>;
  size: number;
}

function* diffSteps(session: SessionReader, from: number, to: number, limit: number): Steps<DiffView> {
  if (to < from) [from, to] = [to, from];
  const lay = layouts(session);
  const before = from < 0 ? new PageState(session.header.vms) : session.stateAfter(from);
  yield 0.05;
  const after = to < 0 ? new PageState(session.header.vms) : session.stateAfter(to);
  yield 0.1;
  const all: ChangeView[] = [];
  const pending: PendingRemovals = { guest: new Map(), host: new Map(), size: 0 };
  const kind = (o: bigint, n: bigint): ChangeView['change'] => (o === 0n ? 'added' : n === 0n ? 'removed' : 'changed');
  const vmCount = Math.max(before.vms.length, after.vms.length);
  for (let vm = 0; vm < vmCount; vm++) {
    const b = before.vms[vm];
    const a = after.vms[vm];
    const { ctl, host } = lay[vm] ?? lay[0]!;
    for (const gpa of new Set([...(b?.guest.keys() ?? []), ...(a?.guest.keys() ?? [])])) {
      const o = b?.guest.get(gpa) ?? 0n;
      const n = a?.guest.get(gpa) ?? 0n;
      if (o === n) continue;
      const level = a?.guestLevel.get(gpa) ?? b?.guestLevel.get(gpa) ?? 0;
      const pdpt = ctl.mode === 'pae' && level === topLevel(ctl.mode);
      const base = pdpt ? gpa - (gpa % 32) : gpa - (gpa % 4096);
      const c: ChangeView = {
        vm,
        space: 'guest',
        table: gKey(vm, base),
        level,
        index: (gpa - base) / entryBytes(ctl.mode),
        change: kind(o, n),
        old: toHex(o),
        new: toHex(n),
        oldFlags: o ? guestFlags(ctl, level, o) : [],
        newFlags: n ? guestFlags(ctl, level, n) : [],
        lastEvent: n ? (a?.guestLast.get(gpa) ?? -1) : -1,
      };
      all.push(c);
      if (!n) {
        let m = pending.guest.get(vm);
        if (!m) pending.guest.set(vm, (m = new Map()));
        m.set(gpa, c);
        pending.size++;
      }
    }
    // the plain TDP model's mapped frames: only ever added
    for (const [gfn, last] of a?.ept ?? []) {
      if (b?.ept.has(gfn)) continue;
      const n = (BigInt(HOST_GUEST_BASE_FRAME + gfn) << 12n) | 7n;
      all.push({ vm, space: 'ept', table: `e${vm}:mapped`, level: 1, index: gfn, va0: toHex(gfn * 4096), va1: toHex(gfn * 4096 + 4095), change: 'added', old: '0x0', new: toHex(n), oldFlags: [], newFlags: ['R', 'W', 'X'], lastEvent: last });
    }
    for (const owner of [0, 1]) for (const id of new Set([...(b ? ownerTables(b, owner).keys() : []), ...(a ? ownerTables(a, owner).keys() : [])])) {
      const tb = b && ownerTables(b, owner).get(id);
      const ta = a && ownerTables(a, owner).get(id);
      const level = ta?.level ?? tb?.level ?? 1;
      const role = ta?.role ?? tb?.role ?? '';
      const nestedRole = parseTableRole(role);
      const flags = host === 'ept' || (nestedRole && nestedRole.kind !== 'spt') ? eptFlags : hostFlags;
      for (const index of new Set([...(tb?.entries.keys() ?? []), ...(ta?.entries.keys() ?? [])])) {
        const o = tb?.entries.get(index) ?? 0n;
        const n = ta?.entries.get(index) ?? 0n;
        if (o === n) continue;
        const c: ChangeView = {
          vm,
          space: nestedRole ? (nestedRole.kind === 'spt' ? 'shadow' : 'ept') : host,
          table: nestedRole ? nKey(vm, role, id) : sKey(vm, id),
          level,
          index,
          change: kind(o, n),
          old: toHex(o),
          new: toHex(n),
          oldFlags: o ? flags(level, o) : [],
          newFlags: n ? flags(level, n) : [],
          lastEvent: n ? (ta?.last.get(index) ?? -1) : -1,
        };
        all.push(c);
        if (!n) {
          let byTable = pending.host.get(vm);
          if (!byTable) pending.host.set(vm, (byTable = new Map()));
          let m = byTable.get(`${owner}:${id}`);
          if (!m) byTable.set(`${owner}:${id}`, (m = new Map()));
          m.set(index, c);
          pending.size++;
        }
      }
    }
  }
  yield* findRemovals(session, pending, Math.max(0, from + 1), Math.min(to + 1, session.eventCount), 0.1, 0.9);
  // What each entry covers (virtual or guest-physical range), from its place in the tree: after
  // the change for an added or changed entry, before it for a removed one.
  yield 0.9;
  const coversAfter = coverage(session, after);
  const coversBefore = all.some((c) => c.change === 'removed') ? coverage(session, before) : undefined;
  for (const c of all) {
    if (c.va0 !== undefined) continue;
    const range = (c.change === 'removed' ? coversBefore : coversAfter)?.get(`${c.table}:${c.index}`);
    if (range) [c.va0, c.va1] = range;
  }
  all.sort((a, b) => a.lastEvent - b.lastEvent || a.table.localeCompare(b.table) || a.index - b.index);
  return { from, to, total: all.length, changes: all.slice(0, limit), truncated: all.length > limit };
}

/** L0's tables (owner 0, and every table of a plain VM) or L1's. */
const ownerTables = (v: VmState, owner: number): Map<number, ShadowTableState> => (owner === 0 ? v.shadow : v.l1);

/** Table key and index → the first and last address the entry covers, for every entry a root reaches. */
function coverage(session: SessionReader, state: PageState): Map<string, [string, string]> {
  const out = new Map<string, [string, string]>();
  for (const v of pageTablesView(session, state, -1, { maxTables: 100_000 }).vms)
    for (const space of [v.guest, v.host, ...(v.nested ?? [])])
      for (const t of space?.tables ?? []) for (const e of t.entries) if (e.va0 !== undefined && e.va1 !== undefined) out.set(`${t.key}:${e.index}`, [e.va0, e.va1]);
  return out;
}

/**
 * The event that removed each pending entry: the last write to it in [lo, hi), read backwards a
 * window at a time, stopping once every entry is found (keyframes keep no history of removed entries).
 */
function* findRemovals(session: SessionReader, pending: PendingRemovals, lo: number, hi: number, p0: number, p1: number): Steps<void> {
  let slice = 0;
  let window = DIFF_WINDOW_FIRST;
  const top = hi;
  while (pending.size > 0 && hi > lo) {
    if (slice >= DIFF_SLICE_EVENTS) {
      slice = 0;
      // the part of the range searched so far (the search may stop early: everything found)
      yield p0 + ((p1 - p0) * (top - hi)) / Math.max(1, top - lo);
    }
    const start = Math.max(lo, hi - window);
    window = Math.min(2 * window, DIFF_WINDOW_MAX);
    const batch = session.rawEvents(start, hi - start);
    if (!batch.length) break;
    slice += batch.length;
    for (let k = batch.length - 1; k >= 0 && pending.size > 0; k--) {
      const e = batch[k]!;
      let m: Map<number, ChangeView> | undefined;
      let key: number;
      if (e.type === 'gpte_write') {
        m = pending.guest.get(e.vm);
        key = e.gpa;
      } else if (e.type === 'spte_write') {
        m = pending.host.get(e.vm)?.get(`${tableOwner(e.role)}:${e.table}`);
        key = e.index;
      } else continue;
      const c = m?.get(key);
      if (!c) continue;
      c.lastEvent = start + k;
      m!.delete(key);
      pending.size--;
    }
    hi = start;
  }
}

// ---- counters ----------------------------------------------------------------------------

export interface ExitStat {
  key: string;
  count: number;
  totalNs: number;
  minNs: number;
  avgNs: number;
  maxNs: number;
}
export interface CountersView {
  t0: number;
  t1: number;
  events: number;
  eventsByType: Record<string, number>;
  exits: number;
  exitNs: number;
  /** Memory references of the TLB-miss walks (sum of page_walk `refs`), in all and per vCPU. */
  walkRefs: number;
  byReason: ExitStat[];
  byHandling: ExitStat[];
  /** Each vCPU's exits by reason and by handling (a VM's rows are the merge of its vCPUs'). */
  byVcpu: { vm: number; vcpu: number; events: number; exits: number; exitNs: number; walkRefs: number; byReason: ExitStat[]; byHandling: ExitStat[] }[];
}

class StatTable {
  private readonly rows = new Map<string, { count: number; total: number; min: number; max: number }>();
  add(key: string, ns: number): void {
    const r = this.rows.get(key);
    if (!r) this.rows.set(key, { count: 1, total: ns, min: ns, max: ns });
    else {
      r.count++;
      r.total += ns;
      if (ns < r.min) r.min = ns;
      if (ns > r.max) r.max = ns;
    }
  }
  addMany(key: string, count: number, total: number, min: number, max: number): void {
    const r = this.rows.get(key);
    if (!r) this.rows.set(key, { count, total, min, max });
    else {
      r.count += count;
      r.total += total;
      r.min = Math.min(r.min, min);
      r.max = Math.max(r.max, max);
    }
  }
  list(): ExitStat[] {
    return [...this.rows]
      .map(([key, r]) => ({ key, count: r.count, totalNs: r.total, minNs: r.min, avgNs: r.count ? r.total / r.count : 0, maxNs: r.max }))
      .sort((a, b) => b.count - a.count || a.key.localeCompare(b.key));
  }
}

/**
 * Exits with t0 <= t <= t1 by reason, by handling and by vCPU (each vCPU again by reason and by
 * handling), each with count and total, min, average and max time. One pass over the chunks'
 * exit columns (decoded and cached by the reader) fills every table at once.
 */
export function countersView(session: SessionReader, t0: number, t1: number): CountersView {
  return runSteps(countersSteps(session, t0, t1));
}

/** `countersView` for a host that must keep answering: it yields to the event loop every 4 chunks it decodes (about 16 000 events). */
export function countersViewAsync(session: SessionReader, t0: number, t1: number, options: StepOptions = {}): Promise<CountersView> {
  return runStepsYielding(countersSteps(session, t0, t1), options);
}

const COUNTERS_SLICE_CHUNKS = 4;

function* countersSteps(session: SessionReader, t0: number, t1: number): Steps<CountersView> {
  let decoded = 0;
  // whole summary bins inside the range are counted from the session's summaries; only the
  // chunks at the range's ends are decoded (all of them for a file without summaries)
  const splits = session.lanes.map((_, li) => session.exitSplit(li, t0, t1));
  const inRange = splits.reduce((n, s) => n + s.decode.length, 0);
  const byReason = new StatTable();
  const byHandling = new StatTable();
  const counts = session.counters(t0, t1);
  const out: CountersView = { t0, t1, events: 0, eventsByType: counts.eventsByType, exits: 0, exitNs: 0, walkRefs: counts.walkRefs, byReason: [], byHandling: [], byVcpu: [] };
  for (const [li, lane] of session.lanes.entries()) {
    const mine = new StatTable();
    const mineByHandling = new StatTable();
    // events in the range: the reader's count; exits with their times: the exit columns
    const events = counts.vcpus[li]?.events ?? 0;
    let exits = 0;
    let exitNs = 0;
    const split = splits[li]!;
    for (const [reason, x] of split.reasons) {
      byReason.addMany(reason, x.n, x.ns, x.min, x.max);
      mine.addMany(reason, x.n, x.ns, x.min, x.max);
      exits += x.n;
      exitNs += x.ns;
    }
    for (const [handling, x] of split.handlings) {
      byHandling.addMany(handling, x.n, x.ns, x.min, x.max);
      mineByHandling.addMany(handling, x.n, x.ns, x.min, x.max);
    }
    for (const ch of split.decode) {
      if (ch.tMax < t0 || ch.tMin > t1) continue;
      if (++decoded % COUNTERS_SLICE_CHUNKS === 0) yield decoded / Math.max(1, inRange);
      const cols = session.columns(ch);
      for (let k = 0; k < cols.exitAt.length; k++) {
        const t = cols.times[cols.exitAt[k]!]!;
        if (t < t0 || t > t1 || (t >= split.innerT0 && t < split.innerT1)) continue;
        const ns = cols.exitDur[k]!;
        const reason = cols.exitReason[k]!;
        byReason.add(reason, ns);
        const handling = cols.exitHandling[k]!;
        byHandling.add(handling, ns);
        mine.add(reason, ns);
        mineByHandling.add(handling, ns);
        exits++;
        exitNs += ns;
      }
    }
    out.events += events;
    out.exits += exits;
    out.exitNs += exitNs;
    out.byVcpu.push({ vm: lane.vm, vcpu: lane.vcpu, events, exits, exitNs, walkRefs: counts.vcpus[li]?.walkRefs ?? 0, byReason: mine.list(), byHandling: mineByHandling.list() });
  }
  out.byReason = byReason.list();
  out.byHandling = byHandling.list();
  return out;
}

// ---- whole-session totals -----------------------------------------------------------------

/**
 * The totals `mmu-lab info` and `compare`, the report and `sessions.compare` print, each defined
 * once here from the reader's counters (index statistics for whole chunks).
 */
export interface SessionTotals {
  counters: Counters;
  events: number;
  /** Simulated time from the first event to the end of the last. */
  simNs: number;
  exits: number;
  /** Time spent handling exits (sum of vmexit durations). */
  exitNs: number;
  /** Guest page faults (guest_fault events). */
  faults: number;
}

const sum = (r: Record<string, number>): number => Object.values(r).reduce((x, y) => x + y, 0);

/** A range of simulated time, both ends included. */
export interface TimeRange {
  t0: number;
  t1: number;
}

/**
 * The totals of the whole session, or of the events in `range` (then `simNs` is the part of the
 * range the session's run covers: two runs compared over one range each count their own).
 */
export function sessionTotals(s: SessionReader, range?: TimeRange): SessionTotals {
  const counters = range ? s.counters(range.t0, range.t1) : s.counters();
  return {
    counters,
    events: range ? counters.events : s.eventCount,
    simNs: range ? Math.max(0, Math.min(range.t1, s.endNs) - Math.max(range.t0, s.startNs)) : s.endNs - s.startNs,
    exits: sum(counters.exitsByReason),
    exitNs: sum(counters.exitNsByReason),
    faults: counters.eventsByType.guest_fault ?? 0,
  };
}

// ---- two sessions side by side ---------------------------------------------------------

export interface CompareCell {
  key: string;
  a: number;
  b: number;
  ratio: number | null;
}
export interface CompareSide {
  id: string;
  scenarioName: string;
  events: number;
  simNs: number;
  exits: number;
  faults: number;
}
export interface CompareView {
  /** The range of simulated time compared in both sessions; absent: the whole runs. */
  range?: TimeRange;
  a: CompareSide;
  b: CompareSide;
  totals: CompareCell[];
  exitsByReason: CompareCell[];
  exitNsByReason: CompareCell[];
}

/** b over a, or null where a is 0 (the `ratio` of sessions.compare and of `mmu-lab compare`). */
export const ratio = (a: number, b: number): number | null => (a === 0 ? null : b / a);

export function compareView(a: SessionReader, b: SessionReader, ids: { a: string; b: string }, range?: TimeRange): CompareView {
  const side = (s: SessionReader, id: string) => {
    const t = sessionTotals(s, range);
    return { c: t.counters, exitNs: t.exitNs, side: { id, scenarioName: s.header.scenarioName, events: t.events, simNs: t.simNs, exits: t.exits, faults: t.faults } };
  };
  const A = side(a, ids.a);
  const B = side(b, ids.b);
  const cells = (ra: Record<string, number>, rb: Record<string, number>) =>
    [...new Set([...Object.keys(ra), ...Object.keys(rb)])]
      .map((key) => ({ key, a: ra[key] ?? 0, b: rb[key] ?? 0, ratio: ratio(ra[key] ?? 0, rb[key] ?? 0) }))
      .sort((x, y) => Math.max(y.a, y.b) - Math.max(x.a, x.b) || x.key.localeCompare(y.key));
  const totals: CompareCell[] = [
    { key: 'simulated ns', a: A.side.simNs, b: B.side.simNs, ratio: ratio(A.side.simNs, B.side.simNs) },
    { key: 'events', a: A.side.events, b: B.side.events, ratio: ratio(A.side.events, B.side.events) },
    { key: 'exits', a: A.side.exits, b: B.side.exits, ratio: ratio(A.side.exits, B.side.exits) },
    { key: 'exit ns', a: A.exitNs, b: B.exitNs, ratio: ratio(A.exitNs, B.exitNs) },
    { key: 'guest faults', a: A.side.faults, b: B.side.faults, ratio: ratio(A.side.faults, B.side.faults) },
  ];
  return { ...(range ? { range } : {}), a: A.side, b: B.side, totals, exitsByReason: cells(A.c.exitsByReason, B.c.exitsByReason), exitNsByReason: cells(A.c.exitNsByReason, B.c.exitNsByReason) };
}
