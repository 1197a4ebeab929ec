/**
 * How a timeline or density query splits one lane's window: the part answered from summary bins
 * (whole bins inside the window, at a level no wider than the query's buckets) and the chunks
 * decoded for the rest (the window's two ends, and exits that start before it and overlap it).
 */
import { binAtOrAfter, gridFor, type Grid } from '../mipmap.ts';
import type { ChunkRef, Lane } from './model.ts';
import type { LaneLevel, Summaries } from './summaries.ts';

export interface LaneWindow {
  /** The summary level used, if any, and its bins [binFrom, binTo) inside the window. */
  summary?: LaneLevel & { binFrom: number; binTo: number };
  /** Event times in [innerT0, innerT1) are in those bins; the rest of the window is decoded. */
  innerT0: number;
  innerT1: number;
  /** The chunks to decode: in the window and not wholly inside the summarised part. */
  decode: ChunkRef[];
}

/** The query's grid and the window's integer bounds (event times are integers). */
export function queryGrid(t0: number, t1: number, buckets: number): Grid & { T0: number; T1: number } {
  return { ...gridFor(t0, t1, buckets), T0: Math.ceil(t0), T1: Math.floor(t1) };
}

/**
 * `from` is the earliest time whose events count (exits: the earliest start of an exit that may
 * overlap t0, i.e. any chunk whose span reaches t0). `keep` filters the chunks to decode further.
 */
export function splitLane(
  sums: Summaries,
  lane: Lane,
  g: Grid & { T0: number; T1: number },
  t0: number,
  keep: (ch: ChunkRef) => boolean = () => true,
): LaneWindow {
  const inWindow = lane.chunks.filter((ch) => ch.spanEnd >= t0 && ch.tMin <= g.T1);
  let summary: LaneWindow['summary'];
  let innerT0 = 0;
  let innerT1 = 0;
  const ll = g.T1 >= g.T0 && inWindow.length > 0 ? sums.level(lane, g.k, inWindow.length) : undefined;
  if (ll) {
    const w = 2 ** ll.level.k;
    const iA = Math.ceil(g.T0 / w);
    const iB = Math.floor((g.T1 + 1) / w);
    if (iA < iB) {
      innerT0 = iA * w;
      innerT1 = iB * w;
      summary = { ...ll, binFrom: binAtOrAfter(ll.level, iA), binTo: binAtOrAfter(ll.level, iB) };
    }
  }
  const decode = inWindow.filter((ch) => !(summary && ch.tMin >= innerT0 && ch.tMax < innerT1) && keep(ch));
  return { summary, innerT0, innerT1, decode };
}

/** The most frequent key (ties: the first in name order), '' for none. */
export function top(m: Map<string, number>): string {
  let best = '';
  let bestN = -1;
  for (const [k, v] of m) if (v > bestN || (v === bestN && k < best)) [best, bestN] = [k, v];
  return best;
}
