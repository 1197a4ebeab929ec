/** The timeline view's data: each lane's exits in a time window, merged per bucket when there are many. */
import type { ChunkColumns } from '../codec.ts';
import type { LaneIndex } from './laneIndex.ts';
import type { ChunkRef, Timeline, TimelineLane, TimelineSlice } from './model.ts';

/** Exits of a chunk that overlap [t0, t1]: from its statistics when it lies wholly inside. */
function exitsOverlapping(ix: LaneIndex, ch: ChunkRef, t0: number, t1: number): number {
  if (ch.stats && !ch.bad && ch.tMin >= t0 && ch.tMax <= t1) {
    let n = 0;
    for (const k in ch.stats.exits) n += ch.stats.exits[k]!;
    return n;
  }
  const cols = ix.columns(ch);
  let n = 0;
  for (let k = 0; k < cols.exitAt.length; k++) {
    const t = cols.times[cols.exitAt[k]!]!;
    if (t > t1) break;
    if (t + cols.exitDur[k]! >= t0) n++;
  }
  return n;
}

/** The exits of each lane overlapping [t0, t1], merged per bucket when there are more exits than buckets. */
export function timeline(ix: LaneIndex, t0: number, t1: number, buckets: number): Timeline {
  const nb = Math.max(1, Math.floor(buckets) || 1);
  const width = Math.max(t1 - t0, 1) / nb;
  const lanesOut: TimelineLane[] = [];
  ix.lanes.forEach((lane, l) => {
    const chunks = lane.chunks.filter((ch) => ch.spanEnd >= t0 && ch.tMin <= t1 && !(ch.stats && Object.keys(ch.stats.exits).length === 0));
    let estimate = 0;
    for (const ch of chunks) estimate += exitsOverlapping(ix, ch, t0, t1);
    // Exits overlapping the window, one chunk's columns at a time: a long range never holds
    // every chunk's columns at once (they stay cached within READ_LIMITS.columnCacheBytes).
    let n = 0;
    const eachExit = (fn: (t: number, end: number, k: number, ch: ChunkRef, cols: ChunkColumns) => void) => {
      for (const ch of chunks) {
        const cols = ix.columns(ch);
        for (let k = 0; k < cols.exitAt.length; k++) {
          const t = cols.times[cols.exitAt[k]!]!;
          if (t > t1) break;
          const end = t + cols.exitDur[k]!;
          if (end < t0) continue;
          n++;
          fn(t, end, k, ch, cols);
        }
      }
    };
    const slices: TimelineSlice[] = [];
    if (estimate <= nb) {
      eachExit((t, end, k, ch, cols) => {
        const ord = ch.ordinal + cols.exitAt[k]!;
        slices.push({ t0: t, t1: end, reason: cols.exitReason[k]!, handling: cols.exitHandling[k]!, index: ix.globalIndex(l, ord, t), count: 1 });
      });
    } else {
      let b = -1;
      let count = 0;
      let first = { t: 0, ord: 0 };
      let end = 0;
      const reasons = new Map<string, number>();
      const handlings = new Map<string, number>();
      const top = (m: Map<string, number>) => {
        let best = '';
        let bestN = -1;
        for (const [k, v] of m) if (v > bestN) [best, bestN] = [k, v];
        return best;
      };
      const emit = () => {
        if (!count) return;
        slices.push({ t0: first.t, t1: end, reason: top(reasons), handling: top(handlings), index: ix.globalIndex(l, first.ord, first.t), count });
        count = 0;
        end = 0;
        reasons.clear();
        handlings.clear();
      };
      eachExit((t, e, k, ch, cols) => {
        const xb = Math.min(nb - 1, Math.max(0, Math.floor((t - t0) / width)));
        if (xb !== b) {
          emit();
          b = xb;
          first = { t, ord: ch.ordinal + cols.exitAt[k]! };
        }
        count++;
        if (e > end) end = e;
        const r = cols.exitReason[k]!;
        const h = cols.exitHandling[k]!;
        reasons.set(r, (reasons.get(r) ?? 0) + 1);
        handlings.set(h, (handlings.get(h) ?? 0) + 1);
      });
      emit();
    }
    lanesOut.push({ vm: lane.vm, vcpu: lane.vcpu, slices, exits: n });
  });
  return { t0, t1, lanes: lanesOut };
}
