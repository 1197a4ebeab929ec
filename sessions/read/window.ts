/**
 * How a timeline or density query splits one lane's window: the part answered from summary bins
 * (whole bins inside the window, at a level no wider than the query's buckets) and the chunks
 * decoded for the rest (the window's two ends, and exits that start before it and overlap it).
 * Chunks are found by binary search over the lane's times, so a query's cost does not grow with
 * the lane's number of chunks.
 */
import { gridFor, type Grid } from '../mipmap.ts';
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
  /** Every chunk of the window (spanning t0 or later, starting at T1 or earlier), in lane order. */
  all(): ChunkRef[];
}

/** The query's grid and the window's integer bounds (event times are integers). */
export function queryGrid(t0: number, t1: number, buckets: number): Grid & { T0: number; T1: number } {
  return { ...gridFor(t0, t1, buckets), T0: Math.ceil(t0), T1: Math.floor(t1) };
}

/** A lane's chunk times as arrays (times never go back within a lane), with the running maximum of their span ends. */
interface LaneTimes {
  chunks: number;
  tMin: Float64Array;
  tMax: Float64Array;
  spanMax: Float64Array;
}

const timesOf = new WeakMap<Lane, LaneTimes>();

function laneTimes(lane: Lane): LaneTimes {
  let x = timesOf.get(lane);
  if (!x || x.chunks !== lane.chunks.length) {
    const n = lane.chunks.length;
    x = { chunks: n, tMin: new Float64Array(n), tMax: new Float64Array(n), spanMax: new Float64Array(n) };
    let m = 0;
    lane.chunks.forEach((ch, i) => {
      x!.tMin[i] = ch.tMin;
      x!.tMax[i] = ch.tMax;
      x!.spanMax[i] = m = Math.max(m, ch.spanEnd);
    });
    timesOf.set(lane, x);
  }
  return x;
}

/** First i in [lo, hi) with a[i] >= v (a non-decreasing), else hi. */
function firstAtLeast(a: Float64Array, v: number, lo = 0, hi = a.length): number {
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * `t0`: chunks whose events span t0 or later count (for exits, one that starts before t0 and
 * overlaps it). `keep` filters the chunks to decode further.
 */
export function splitLane(sums: Summaries, lane: Lane, g: Grid & { T0: number; T1: number }, t0: number, keep: (ch: ChunkRef) => boolean = () => true): LaneWindow {
  const x = laneTimes(lane);
  const j0 = firstAtLeast(x.tMax, t0);
  const j1 = firstAtLeast(x.tMin, g.T1 + 1, j0);
  // chunks before j0 end before t0 but may hold an exit that lasts into the window (rare)
  const before: ChunkRef[] = [];
  for (let i = j0 - 1; i >= 0 && x.spanMax[i]! >= t0; i--) if (lane.chunks[i]!.spanEnd >= t0) before.unshift(lane.chunks[i]!);
  const windowChunks = j1 - j0 + before.length;
  let summary: LaneWindow['summary'];
  let innerT0 = 0;
  let innerT1 = 0;
  const lb = g.T1 >= g.T0 && windowChunks > 0 ? sums.level(lane, g.k, windowChunks) : undefined;
  if (lb) {
    const w = 2 ** lb.bins.k;
    const iA = Math.ceil(g.T0 / w);
    const iB = Math.floor((g.T1 + 1) / w);
    if (iA < iB) {
      innerT0 = iA * w;
      innerT1 = iB * w;
      // only the window's bins are decoded: a level of a long session is mostly elsewhere
      summary = { ...lb.bins.slice(iA, iB), strings: lb.strings, types: lb.types };
    }
  }
  let decode: ChunkRef[];
  if (summary) {
    // chunks wholly inside [innerT0, innerT1) are a run in the middle: from the first starting at
    // innerT0 or later to the first ending at innerT1 or later
    const a = firstAtLeast(x.tMin, innerT0, j0, j1);
    const b = Math.max(a, firstAtLeast(x.tMax, innerT1, j0, j1));
    decode = [...before, ...lane.chunks.slice(j0, a), ...lane.chunks.slice(b, j1)];
  } else decode = [...before, ...lane.chunks.slice(j0, j1)];
  return { summary, innerT0, innerT1, decode: decode.filter(keep), all: () => [...before, ...lane.chunks.slice(j0, j1)] };
}

/** The most frequent key (ties: the first in name order), '' for none. */
export function top(m: Map<string, number>): string {
  let best = '';
  let bestN = -1;
  for (const [k, v] of m) if (v > bestN || (v === bestN && k < best)) [best, bestN] = [k, v];
  return best;
}
