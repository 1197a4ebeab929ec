/**
 * Layout of the page-table picture: the guest tables in the left column and the shadow/EPT/Xen
 * tables in the right one, each table a box of its present entries laid out depth-first from
 * the roots (a child table right under its parent, indented), and the links between a guest
 * entry and each shadow entry derived from it (the guest entry's `mirrors` that exist in the
 * shadow tables). Pure geometry: the component only draws it.
 */
import { findRange, sortRanges } from '../api/contract';
import { entryKey, levelName, type Entry, type Space, type Table } from './tree';

export const ROW = 16;
export const HEAD = 20;
export const GAP = 10;
export const INDENT = 16;
export const COL_W = 400;
export const LINK_GAP = 170;
/** Entries drawn per table and rows per column before the picture says "… more". */
export const MAX_ENTRIES = 512;
export const MAX_ROWS = 2000;

export interface DrawnEntry {
  key: string;
  entry: Entry;
  label: string;
  x: number;
  y: number;
  w: number;
  /** Written since the previous picture (or, with none, by the event the picture is at). */
  changed: boolean;
  /** Present in the previous picture, gone now (drawn struck through, once). */
  removed: boolean;
}
export interface DrawnTable {
  key: string;
  title: string;
  x: number;
  y: number;
  w: number;
  h: number;
  hidden: number;
  entries: DrawnEntry[];
  /** Xen PV: the table is pinned (kept validated while no CR3 points at it). */
  pinned: boolean;
  /** Pinned or unpinned since the previous picture (or, with none, by the event the picture is at). */
  pinChange?: 'pinned' | 'unpinned';
}
export interface DrawnEdge {
  /** Parent entry → child table (the tree inside one column). */
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}
export interface Column {
  tables: DrawnTable[];
  edges: DrawnEdge[];
  height: number;
  /** Tables not drawn because the column is full. */
  omitted: number;
  /** Xen PV: tables unpinned since the previous picture (or by the event) that are gone (unpinned with no entry left). */
  unpinnedGone: number;
}
export interface Link {
  from: string;
  to: string;
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  changed: boolean;
  /** `mirror`: the shadow entry derived from the guest entry; `ept`: the EPT leaf translating what the guest entry points to. */
  kind: 'mirror' | 'ept' | 'derived';
}

/** The role the session state gives a pinned Xen PV table (sessions/state.ts `PINNED`). */
export const PINNED_ROLE = 'pinned';

export function isPinned(space: Space, t: Table): boolean {
  return space.kind === 'xenpv' && t.role === PINNED_ROLE;
}

/** A Xen PV frame's page type as Xen names it (PGT_l1_page_table …): a validated table of level n. */
export function tableTitle(space: Space, t: Table): string {
  const name = levelName(t.level, space.paging);
  // pinning is drawn as the table's badge, so the title keeps to the type
  if (space.kind === 'xenpv') return `${name} · type L${t.level} page table · mfn 0x${Number(t.key.split(':')[1] ?? 0).toString(16)}${t.role && t.role !== PINNED_ROLE ? ` · ${t.role}` : ''}`;
  if (space.kind === 'guest') return `${name} at gpa ${t.gpa ?? '?'}`;
  const what = [t.gfn !== undefined ? `gfn ${t.gfn}` : '', t.role ?? '', t.quadrant ? `q${t.quadrant}` : ''].filter(Boolean).join(' · ');
  return `${name} ${t.key}${what ? ` · ${what}` : ''}`;
}

function entryLabel(space: Space, t: Table, e: Entry): string {
  const target = e.target.kind === 'none' ? 'not present' : `${e.target.kind} ${e.target.addr ?? ''}`.trim();
  return `[${e.index}] ${e.flags.join(' ')} → ${target}`;
}

/**
 * `prev`: the same space in the picture drawn before (playback moving forward): entries whose
 * value differs are the changed ones, and entries it had that are gone are drawn as removed;
 * likewise a table whose pinning differs. `pinEvent`: without `prev`, the table the event the
 * picture is at pins or unpins.
 */
export function layoutColumn(space: Space | undefined, x0: number, at: number, prev?: Space, pinEvent?: { table: string; pinned: boolean }): Column {
  const out: Column = { tables: [], edges: [], height: 0, omitted: 0, unpinnedGone: 0 };
  if (!space) return out;
  const byKey = new Map(space.tables.map((t) => [t.key, t]));
  const before = prev ? new Map(prev.tables.map((t) => [t.key, new Map(t.entries.map((e) => [e.index, e]))])) : undefined;
  const pinnedBefore = prev ? new Set(prev.tables.filter((t) => isPinned(prev, t)).map((t) => t.key)) : undefined;
  const pinChangeOf = (t: Table, pinned: boolean): DrawnTable['pinChange'] => {
    if (pinnedBefore) return pinnedBefore.has(t.key) === pinned ? undefined : pinned ? 'pinned' : 'unpinned';
    return pinEvent?.table === t.key ? (pinEvent.pinned ? 'pinned' : 'unpinned') : undefined;
  };
  if (pinnedBefore) out.unpinnedGone = [...pinnedBefore].filter((k) => !byKey.has(k)).length;
  else if (pinEvent && !pinEvent.pinned && !byKey.has(pinEvent.table)) out.unpinnedGone = 1;
  const seen = new Set<string>();
  const rowOf = new Map<string, DrawnEntry>();
  let y = 0;
  let rows = 0;
  const place = (t: Table, depth: number, parent?: DrawnEntry): void => {
    if (seen.has(t.key)) return;
    seen.add(t.key);
    if (rows >= MAX_ROWS) {
      out.omitted++;
      return;
    }
    const x = x0 + depth * INDENT;
    const w = COL_W - depth * INDENT;
    const old = before?.get(t.key);
    const now = new Set(t.entries.map((e) => e.index));
    const gone = old ? [...old.values()].filter((e) => !now.has(e.index)).map((e) => ({ ...e, gone: true })) : [];
    const all = [...t.entries.map((e) => ({ ...e, gone: false })), ...gone].sort((a, b) => a.index - b.index);
    const shown = all.slice(0, MAX_ENTRIES);
    const pinned = isPinned(space, t);
    const pinChange = pinChangeOf(t, pinned);
    const box: DrawnTable = {
      key: t.key, title: tableTitle(space, t), x, y, w, h: HEAD + shown.length * ROW + (all.length > shown.length ? ROW : 0), hidden: all.length - shown.length, entries: [], pinned,
      ...(pinChange ? { pinChange } : {}),
    };
    if (parent) out.edges.push({ x0: parent.x + 4, y0: parent.y + ROW / 2, x1: x, y1: y + HEAD / 2 });
    shown.forEach(({ gone: removed, ...e }, i) => {
      const changed = removed ? false : before ? old?.get(e.index)?.value !== e.value : e.lastEvent === at;
      const d: DrawnEntry = { key: entryKey(t.key, e.index), entry: e, label: entryLabel(space, t, e), x, y: y + HEAD + i * ROW, w, changed, removed };
      box.entries.push(d);
      rowOf.set(d.key, d);
    });
    out.tables.push(box);
    rows += shown.length + 1;
    y += box.h + GAP;
    for (const d of box.entries) {
      if (d.removed) continue;
      const child = d.entry.target.table ? byKey.get(d.entry.target.table) : undefined;
      if (child) place(child, Math.min(depth + 1, 4), d);
    }
  };
  for (const r of space.roots) {
    const t = byKey.get(r);
    if (t) place(t, 0);
  }
  // tables no root reaches (being built or torn down) still get drawn, at the left
  for (const t of space.tables) place(t, 0);
  out.height = y;
  return out;
}

/** Links from each entry of column `from` to the entries of column `to` that `refs` names and the picture draws. */
function layoutRefLinks(from: Column, to: Column, refs: (e: Entry) => { table: string; index: number }[] | undefined, kind: Link['kind']): Link[] {
  const toRows = new Map<string, DrawnEntry>();
  for (const t of to.tables) for (const e of t.entries) if (!e.removed) toRows.set(e.key, e);
  const links: Link[] = [];
  for (const t of from.tables)
    for (const g of t.entries)
      for (const m of g.removed ? [] : (refs(g.entry) ?? [])) {
        const s = toRows.get(entryKey(m.table, m.index));
        if (!s) continue;
        links.push({ from: g.key, to: s.key, x0: g.x + g.w, y0: g.y + ROW / 2, x1: s.x, y1: s.y + ROW / 2, changed: g.changed || s.changed, kind });
      }
  return links;
}

/** Links from each guest entry to the shadow entries derived from it that the picture draws. */
export function layoutLinks(guest: Column, host: Column): Link[] {
  return layoutRefLinks(guest, host, (e) => e.mirrors, 'mirror');
}

/** Nested: links from each EPT02 entry to the EPT12 and EPT01 entries it was derived from (its `derivedFrom`). */
export function layoutDerivedLinks(host: Column, nested: Column): Link[] {
  return layoutRefLinks(host, nested, (e) => e.derivedFrom, 'derived');
}

/** Space between two structures stacked in one column, for the second one's title. */
export const STACK_GAP = 36;

/**
 * Several structures in one column, one under the other (a nested VM's EPT12 and EPT01 beside
 * EPT02), each laid out as a column of its own; `sections` say where each starts, for its title.
 */
export function layoutStack(spaces: readonly Space[], x0: number, at: number, prevs?: readonly Space[]): Column & { sections: { title: string; y: number }[] } {
  const out: Column & { sections: { title: string; y: number }[] } = { tables: [], edges: [], height: 0, omitted: 0, unpinnedGone: 0, sections: [] };
  for (const space of spaces) {
    const dy = out.sections.length ? out.height + STACK_GAP : 0;
    const col = layoutColumn(space, x0, at, prevs?.find((p) => p.role === space.role));
    out.sections.push({ title: `${space.title ?? space.kind} · ${space.paging}`, y: dy });
    for (const t of col.tables) {
      t.y += dy;
      for (const e of t.entries) e.y += dy;
      out.tables.push(t);
    }
    for (const e of col.edges) out.edges.push({ ...e, y0: e.y0 + dy, y1: e.y1 + dy });
    out.omitted += col.omitted;
    out.height = dy + col.height;
  }
  return out;
}

/**
 * Under EPT/NPT: from each present guest entry to the EPT leaf that translates the guest-physical
 * address it points to (the next table or the page), the second dimension of the 2D walk.
 */
export function layoutEptLinks(guest: Column, host: Column): Link[] {
  const leaves: { a: bigint; b: bigint; e: DrawnEntry }[] = [];
  for (const t of host.tables)
    for (const e of t.entries)
      if (!e.removed && e.entry.target.kind === 'page' && e.entry.va0 !== undefined && e.entry.va1 !== undefined) leaves.push({ a: BigInt(e.entry.va0), b: BigInt(e.entry.va1), e });
  sortRanges(leaves);
  const links: Link[] = [];
  for (const t of guest.tables)
    for (const g of t.entries) {
      const addr = g.removed || g.entry.target.kind === 'none' ? undefined : g.entry.target.addr;
      const s = addr === undefined ? undefined : findRange(leaves, BigInt(addr))?.e;
      if (s) links.push({ from: g.key, to: s.key, x0: g.x + g.w, y0: g.y + ROW / 2, x1: s.x, y1: s.y + ROW / 2, changed: g.changed || s.changed, kind: 'ept' });
    }
  return links;
}

/**
 * The guest entries a walk of `va` reads: in each guest table, the entry whose range holds `va`
 * (so the path from the root to the leaf, when the tables are drawn). Keys of the drawn entries.
 */
export function walkPath(guest: Column, va: string | number | undefined): Set<string> {
  const out = new Set<string>();
  if (va === undefined) return out;
  const v = BigInt(va);
  for (const t of guest.tables)
    for (const e of t.entries) {
      const { va0, va1 } = e.entry;
      if (!e.removed && va0 !== undefined && va1 !== undefined && BigInt(va0) <= v && v <= BigInt(va1)) out.add(e.key);
    }
  return out;
}
