/**
 * Lookups by address among inclusive ranges that do not overlap: the leaves of a page-table tree
 * by the addresses they translate (the nested view's derived-from links in sessions/, the
 * picture's EPT links in the renderer).
 */

export interface Range {
  a: bigint;
  b: bigint;
}

/** Sorts `ranges` by start, in place, for `findRange`. */
export function sortRanges<R extends Range>(ranges: R[]): R[] {
  return ranges.sort((p, q) => (p.a < q.a ? -1 : p.a > q.a ? 1 : 0));
}

/** The range of `sorted` (by start) that holds `x`, by binary search. */
export function findRange<R extends Range>(sorted: readonly R[], x: bigint): R | undefined {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = sorted[mid]!;
    if (x < r.a) hi = mid - 1;
    else if (x > r.b) lo = mid + 1;
    else return r;
  }
  return undefined;
}
