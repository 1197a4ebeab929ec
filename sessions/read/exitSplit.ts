/**
 * Exits of one lane in [t0, t1] by reason and by handling (count and total, least and greatest
 * duration), as the breakdown counts them: whole summary bins inside the range from the session's
 * summaries, and the chunks left to decode for the range's two ends.
 */
import { addExitStat, type ExitStat } from '../mipmap.ts';
import type { ChunkRef, Lane } from './model.ts';
import type { Summaries } from './summaries.ts';
import { queryGrid, splitLane, type LaneWindow } from './window.ts';

export interface ExitSplit {
  reasons: Map<string, ExitStat>;
  handlings: Map<string, ExitStat>;
  /** Exits starting in [innerT0, innerT1) are counted above; those of `decode` outside it are not. */
  innerT0: number;
  innerT1: number;
  decode: ChunkRef[];
}

/**
 * The coarsest summary level with bins at most 1/1024 of the range (summing them is cheap, and a
 * coarser level is read and decoded faster the first time), or failing that one whose bins are at
 * most 1/16 of the range (the ends left to decode stay small).
 */
const RANGE_BINS = [1024, 16];


/** A lane's range [t0, t1] split for counting events by their own time: summary bins inside, chunks to decode at the ends. */
export function rangeSplit(sums: Summaries, lane: Lane, t0: number, t1: number): LaneWindow {
  // events count by their own time: a chunk that ends before t0 holds none
  const keep = (ch: ChunkRef) => ch.tMax >= t0;
  const w = splitLane(sums, lane, queryGrid(t0, t1, RANGE_BINS[0]!), Math.ceil(t0), keep);
  return w.summary ? w : splitLane(sums, lane, queryGrid(t0, t1, RANGE_BINS[1]!), Math.ceil(t0), keep);
}

export function exitSplit(sums: Summaries, lane: Lane, t0: number, t1: number): ExitSplit {
  const w = rangeSplit(sums, lane, t0, t1);
  const reasons = new Map<string, ExitStat>();
  const handlings = new Map<string, ExitStat>();
  const s = w.summary;
  if (s) {
    const lv = s.level;
    for (let b = s.binFrom; b < s.binTo; b++) {
      for (let j = lv.reasonStart[b]!; j < lv.reasonStart[b + 1]!; j++) addExitStat(reasons, s.strings[lv.reasonId[j]!]!, lv.reasonN[j]!, lv.reasonNs[j]!, lv.reasonMin[j]!, lv.reasonMax[j]!);
      for (let j = lv.handlingStart[b]!; j < lv.handlingStart[b + 1]!; j++) addExitStat(handlings, s.strings[lv.handlingId[j]!]!, lv.handlingN[j]!, lv.handlingNs[j]!, lv.handlingMin[j]!, lv.handlingMax[j]!);
    }
  }
  return { reasons, handlings, innerT0: w.innerT0, innerT1: w.innerT1, decode: w.decode };
}
