/**
 * The `perf kvm stat` table of the breakdown view, as pure functions over the host's
 * `sessions.counters` rows: shares of the exits and of the exit time, merging (per VM from
 * per-vCPU rows) and sorting.
 */
import type { CountersResult } from '../api/contract';

export type ExitStat = CountersResult['byReason'][number];

export interface StatRow extends ExitStat {
  /** Share of the exits in scope, 0..100. */
  pctCount: number;
  /** Share of the exit time in scope, 0..100. */
  pctTime: number;
}

export type SortKey = 'key' | 'count' | 'pctCount' | 'totalNs' | 'pctTime' | 'minNs' | 'avgNs' | 'maxNs';
export type SortDir = 'asc' | 'desc';

/** Rows with their shares of the given totals (the totals of the scope, not of the rows shown). */
export function withShares(stats: readonly ExitStat[], totalCount: number, totalNs: number): StatRow[] {
  return stats.map((s) => ({
    ...s,
    pctCount: totalCount > 0 ? (s.count / totalCount) * 100 : 0,
    pctTime: totalNs > 0 ? (s.totalNs / totalNs) * 100 : 0,
  }));
}

/** Several row lists (e.g. one per vCPU of a VM) as one: counts and times add, min/max over all. */
export function mergeStats(lists: readonly (readonly ExitStat[])[]): ExitStat[] {
  const byKey = new Map<string, ExitStat>();
  for (const list of lists) {
    for (const s of list) {
      const had = byKey.get(s.key);
      if (!had) {
        byKey.set(s.key, { ...s });
        continue;
      }
      had.count += s.count;
      had.totalNs += s.totalNs;
      had.minNs = Math.min(had.minNs, s.minNs);
      had.maxNs = Math.max(had.maxNs, s.maxNs);
    }
  }
  return [...byKey.values()].map((s) => ({ ...s, avgNs: s.count > 0 ? s.totalNs / s.count : 0 }));
}

/** Sorted copy; ties keep a stable order by key so the table does not jump. */
export function sortRows<T extends StatRow>(rows: readonly T[], key: SortKey, dir: SortDir): T[] {
  const sign = dir === 'asc' ? 1 : -1;
  return [...rows].sort((a, b) => {
    const primary = key === 'key' ? a.key.localeCompare(b.key) : a[key] - b[key];
    return primary !== 0 ? sign * primary : a.key.localeCompare(b.key);
  });
}

/** What a click on a column header does: a new column sorts descending (names ascending), the same one flips. */
export function nextSort(current: { key: SortKey; dir: SortDir }, clicked: SortKey): { key: SortKey; dir: SortDir } {
  if (current.key === clicked) return { key: clicked, dir: current.dir === 'asc' ? 'desc' : 'asc' };
  return { key: clicked, dir: clicked === 'key' ? 'asc' : 'desc' };
}
