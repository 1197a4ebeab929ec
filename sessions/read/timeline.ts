/**
 * The timeline view's data: each lane's exits in a time window, merged per bucket when there are
 * more exits than buckets. Buckets are cells of a power-of-two grid no wider than a pixel (see
 * sessions/mipmap.ts `gridFor`), so whole summary bins fall in one bucket: the window's inside is
 * counted from the session's summaries and only its ends are decoded. Counts are exact.
 */
import type { ChunkColumns } from '../codec.ts';
import type { LaneIndex } from './laneIndex.ts';
import type { ChunkRef, Timeline, TimelineLane, TimelineSlice } from './model.ts';
import type { Summaries } from './summaries.ts';
import { queryGrid, splitLane, top } from './window.ts';

const hasExits = (ch: ChunkRef) => !(ch.stats && Object.keys(ch.stats.exits).length === 0);

/** Each exit of `chunks` with t <= T1 and t + duration >= t0 for which `take(t)` holds. */
function eachExit(
  ix: LaneIndex,
  chunks: ChunkRef[],
  t0: number,
  T1: number,
  take: (t: number) => boolean,
  fn: (t: number, end: number, k: number, ch: ChunkRef, cols: ChunkColumns) => void,
): void {
  // one chunk's columns at a time: a long range never holds every chunk's columns at once
  for (const ch of chunks) {
    const cols = ix.columns(ch);
    for (let k = 0; k < cols.exitAt.length; k++) {
      const t = cols.times[cols.exitAt[k]!]!;
      if (t > T1) break;
      const end = t + cols.exitDur[k]!;
      if (end < t0 || !take(t)) continue;
      fn(t, end, k, ch, cols);
    }
  }
}

/** The exits of each lane overlapping [t0, t1], merged per bucket when there are more exits than buckets. */
export function timeline(ix: LaneIndex, sums: Summaries, t0: number, t1: number, buckets: number): Timeline {
  const nb = Math.max(1, Math.floor(buckets) || 1);
  const g = queryGrid(t0, t1, nb);
  const lanesOut: TimelineLane[] = [];
  ix.lanes.forEach((lane, l) => {
    const w = splitLane(sums, lane, g, t0, hasExits);
    const inner = (t: number) => t >= w.innerT0 && t < w.innerT1;
    const outer = (t: number) => !inner(t);
    let n = 0;
    const s = w.summary;
    if (s) for (let b = s.binFrom; b < s.binTo; b++) n += s.level.exits[b]!;
    eachExit(ix, w.decode, t0, g.T1, outer, () => n++);
    const slices: TimelineSlice[] = [];
    if (n <= nb) {
      // few enough to draw one by one: every exit of the window, decoded
      eachExit(ix, w.all().filter(hasExits), t0, g.T1, () => true, (t, end, k, ch, cols) => {
        slices.push({ t0: t, t1: end, reason: cols.exitReason[k]!, handling: cols.exitHandling[k]!, index: ix.globalIndex(l, ch.ordinal + cols.exitAt[k]!, t), count: 1 });
      });
    } else {
      const count = new Float64Array(g.count);
      const firstT = new Float64Array(g.count).fill(Infinity);
      const end = new Float64Array(g.count);
      /** Lane ordinal of the bucket's first exit when it was decoded (-1: from the summaries). */
      const firstOrd = new Float64Array(g.count).fill(-1);
      const reasons: (Map<string, number> | undefined)[] = new Array(g.count);
      const handlings: (Map<string, number> | undefined)[] = new Array(g.count);
      const add = (m: (Map<string, number> | undefined)[], b: number, key: string, by: number) => {
        const x = (m[b] ??= new Map());
        x.set(key, (x.get(key) ?? 0) + by);
      };
      const bucketOf = (t: number) => Math.min(g.count - 1, Math.max(0, Math.floor(t / g.width) - g.first));
      if (s) {
        const lv = s.level;
        const shift = 2 ** (g.k - lv.k);
        for (let i = s.binFrom; i < s.binTo; i++) {
          const x = lv.exits[i]!;
          if (!x) continue;
          const b = Math.min(g.count - 1, Math.floor(lv.idx[i]! / shift) - g.first);
          count[b]! += x;
          if (lv.firstExitT[i]! < firstT[b]!) {
            firstT[b] = lv.firstExitT[i]!;
            firstOrd[b] = -1;
          }
          if (lv.maxExitEnd[i]! > end[b]!) end[b] = lv.maxExitEnd[i]!;
          for (let j = lv.reasonStart[i]!; j < lv.reasonStart[i + 1]!; j++) add(reasons, b, s.strings[lv.reasonId[j]!]!, lv.reasonN[j]!);
          for (let j = lv.handlingStart[i]!; j < lv.handlingStart[i + 1]!; j++) add(handlings, b, s.strings[lv.handlingId[j]!]!, lv.handlingN[j]!);
        }
      }
      eachExit(ix, w.decode, t0, g.T1, outer, (t, e, k, ch, cols) => {
        const b = bucketOf(t);
        count[b]! += 1;
        if (t < firstT[b]!) {
          firstT[b] = t;
          firstOrd[b] = ch.ordinal + cols.exitAt[k]!;
        }
        if (e > end[b]!) end[b] = e;
        add(reasons, b, cols.exitReason[k]!, 1);
        add(handlings, b, cols.exitHandling[k]!, 1);
      });
      for (let b = 0; b < g.count; b++) {
        if (!count[b]) continue;
        const t = firstT[b]!;
        // a bucket counted from the summaries has no event position at hand: -1 (the app looks its first exit up on demand)
        const index = firstOrd[b]! >= 0 ? ix.globalIndex(l, firstOrd[b]!, t) : -1;
        slices.push({ t0: t, t1: end[b]!, reason: top(reasons[b]!), handling: top(handlings[b]!), index, count: count[b]! });
      }
    }
    lanesOut.push({ vm: lane.vm, vcpu: lane.vcpu, slices, exits: n });
  });
  return { t0, t1, lanes: lanesOut };
}
