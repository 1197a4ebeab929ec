/**
 * A nested VM's host-side structures for the page-table view (core/tableRoles.ts): which roles
 * a VM's tables have, the tables of one role, how an entry of a role names its child table,
 * and which entries of L1's and L0's structures an entry of L0's composite (EPT02) was derived
 * from. The tree drawing itself is the one of every host structure (sessions/views.ts).
 */
import { HOST_SHADOW_BASE_FRAME } from '../core/shadow/pages.ts';
import { HOST_EPT_BASE_FRAME } from '../core/tdp/spte.ts';
import { findRange, sortRanges } from '../core/ranges.ts';
import { describeTableRole, parseTableRole } from '../core/tableRoles.ts';
import { PageState, type ShadowTableState, type VmState } from './state.ts';

/** The nested roles of a VM's live tables: the CPU's structure first (L0's, for the highest guest level), then L1's, then L0's for L1. */
export function nestedRoles(v: VmState): string[] {
  const roles = new Set<string>();
  for (const tables of [v.shadow, v.l1]) for (const t of tables.values()) if (parseTableRole(t.role)) roles.add(t.role);
  const rank = (role: string) => {
    const r = parseTableRole(role)!;
    return r.owner === 0 ? (r.from >= 2 ? 0 : 2) : 1;
  };
  return [...roles].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** Live tables of `role` (among its owner's tables), by id. */
export function roleTables(v: VmState, role: string): [number, ShadowTableState][] {
  return PageState.liveTables(v, PageState.tablesOf(v, role)).filter(([, t]) => t.role === role);
}

/**
 * The child table an entry of `role` names (EPT entry format: present when R, W or X is set;
 * an `spt` entry's P, W and U are the same bits): L0's tables by host frame − HOST_EPT_BASE_FRAME,
 * as the TDP MMU's, or − HOST_SHADOW_BASE_FRAME for shadow pages (`spt02`); L1's by the L1 frame.
 */
export function roleChild(role: string, value: bigint, level: number): number | undefined {
  const lo = Number(value & 0xffffffffn);
  const r = parseTableRole(role);
  // present: an EPT entry with R, W or X; a shadow entry with P (its W and U alone are not)
  if (level === 1 || lo & 0x80 || (r?.kind === 'spt' ? (lo & 1) === 0 : (lo & 7) === 0)) return undefined;
  const frame = Number((value & 0x000ffffffffff000n) >> 12n);
  if (r?.owner) return frame;
  const base = r?.kind === 'spt' ? HOST_SHADOW_BASE_FRAME : HOST_EPT_BASE_FRAME;
  return frame >= base ? frame - base : undefined;
}

/** The words a view shows for a structure. */
export function roleTitle(role: string): string {
  return describeTableRole(role);
}

/** What this module needs of a page-table space (the API's SpaceView has it). */
interface RefEntry {
  index: number;
  va0?: string;
  va1?: string;
  target: { kind: string; addr?: string };
  derivedFrom?: { table: string; index: number }[];
}
interface RefSpace {
  role?: string;
  tables: { key: string; entries: RefEntry[] }[];
}

/** Leaves of a space by the range they translate, for lookups by address. */
function leaves(space: RefSpace): { a: bigint; b: bigint; table: string; e: RefEntry }[] {
  const out: { a: bigint; b: bigint; table: string; e: RefEntry }[] = [];
  for (const t of space.tables)
    for (const e of t.entries) if (e.target.kind === 'page' && e.va0 !== undefined && e.va1 !== undefined) out.push({ a: BigInt(e.va0), b: BigInt(e.va1), table: t.key, e });
  return sortRanges(out);
}

/**
 * Each leaf of L0's composite structure for guest level g (EPT02: owner 0, guest 2) is derived
 * from the leaf of L1's structure for g that covers the same address (EPT12), and from the leaf
 * of L0's structure for L1 (EPT01) that covers where that one points. Sets `derivedFrom` on the
 * composite's leaves (only to entries the spaces hold).
 */
export function linkDerived(spaces: RefSpace[]): void {
  const roles = spaces.map((s) => (s.role ? parseTableRole(s.role) : undefined));
  spaces.forEach((composite, i) => {
    const c = roles[i];
    if (!c || c.owner !== 0 || c.from < 2) return;
    const l1 = spaces.find((_, j) => roles[j]?.owner === 1 && roles[j]?.from === c.from);
    const l0 = spaces.find((_, j) => roles[j]?.owner === 0 && roles[j]?.from === 1);
    if (!l1) return;
    const l1Leaves = leaves(l1);
    const l0Leaves = l0 ? leaves(l0) : [];
    for (const t of composite.tables)
      for (const e of t.entries) {
        if (e.target.kind !== 'page' || e.va0 === undefined) continue;
        const src = findRange(l1Leaves, BigInt(e.va0));
        if (!src) continue;
        const refs = [{ table: src.table, index: src.e.index }];
        const through = src.e.target.addr === undefined ? undefined : findRange(l0Leaves, BigInt(src.e.target.addr) + (BigInt(e.va0) - src.a));
        if (through) refs.push({ table: through.table, index: through.e.index });
        e.derivedFrom = refs;
      }
  });
}
