/**
 * Page-table trees as the page-tables view walks them: the host sends every table flat, an
 * entry naming its child table by key; these helpers index them, find the path from a root
 * to a table (to expand it when a guest entry's shadow mirror is shown), and compare flags.
 */
import type { PageTablesResult } from '../api/contract';

export type Space = PageTablesResult['vms'][number]['guest'];
export type Table = Space['tables'][number];
export type Entry = Table['entries'][number];

/** `table:index`, the key of one entry (what mirrors and diff changes point at). */
export function entryKey(table: string, index: number): string {
  return `${table}:${index}`;
}

export function indexTables(space: Space | undefined): Map<string, Table> {
  return new Map((space?.tables ?? []).map((t) => [t.key, t]));
}

/** Keys of the tables from a root down to `key` (inclusive), or [] when it is not reachable. */
export function pathTo(space: Space, key: string): string[] {
  const tables = indexTables(space);
  const parent = new Map<string, string>();
  const queue = [...space.roots];
  const seen = new Set(queue);
  while (queue.length) {
    const k = queue.shift()!;
    if (k === key) break;
    for (const e of tables.get(k)?.entries ?? []) {
      const child = e.target.table;
      if (child && !seen.has(child) && tables.has(child)) {
        seen.add(child);
        parent.set(child, k);
        queue.push(child);
      }
    }
  }
  if (!seen.has(key)) return [];
  const path = [key];
  for (let k = parent.get(key); k !== undefined; k = parent.get(k)) path.unshift(k);
  return path;
}

/** Flags of `next` that `prev` lacks, and flags of `prev` gone from `next`. */
export function flagChanges(prev: readonly string[], next: readonly string[]): { added: string[]; removed: string[]; kept: string[] } {
  const a = new Set(prev);
  const b = new Set(next);
  return { added: next.filter((f) => !a.has(f)), removed: prev.filter((f) => !b.has(f)), kept: next.filter((f) => a.has(f)) };
}

/** Level names as the SDM gives them for 4-level paging (level 1 = PT). */
export function levelName(level: number, paging: string): string {
  if (paging === 'nonpae') return level === 2 ? 'PD' : 'PT';
  if (paging === 'pae') return ['', 'PT', 'PD', 'PDPT'][level] ?? `L${level}`;
  return ['', 'PT', 'PD', 'PDPT', 'PML4', 'PML5'][level] ?? `L${level}`;
}
