/** Placing a merge cursor at a canonical index without reading the events before it. */
import { MergeCursor } from './mergeCursor.ts';
import type { LaneIndex } from './laneIndex.ts';

/**
 * Position a cursor at the first event whose canonical position, counting only events whose
 * type is in `want` (all events without it), is `index`. Binary search on time: find the
 * largest T with fewer than or `index` matching events before T, start every lane at T, and
 * step over the few events at exactly T.
 */
export function positionAt(ix: LaneIndex, index: number, want?: Set<string>): { cursor: MergeCursor; seen: number } {
  const before = (T: number) => {
    let n = 0;
    for (const lane of ix.lanes) n += want ? ix.countTypedBefore(lane, T, want) : ix.countBefore(lane, T, false);
    return n;
  };
  let lo = ix.startNs;
  let hi = ix.endNs + 1;
  while (lo < hi) {
    const mid = lo + Math.ceil((hi - lo) / 2);
    // the chunk list alone decides most steps: only the last few read the chunks holding `mid`
    // (a 100 M-event lane: one chunk's times instead of one per step, ~15 of them)
    const b = want ? undefined : ix.boundsBefore(mid);
    if (b && b.high <= index) lo = mid;
    else if (b && b.low > index) hi = mid - 1;
    else if (before(mid) <= index) lo = mid;
    else hi = mid - 1;
  }
  const cursor = new MergeCursor(ix);
  const pos = ix.lanes.map((lane) => ix.countBefore(lane, lo, false));
  cursor.seekTo(
    pos.reduce((a, b) => a + b, 0),
    pos,
  );
  return { cursor, seen: want ? before(lo) : cursor.index };
}

/**
 * A cursor at canonical index `applied`, knowing `t`, the time of event `applied - 1`: every
 * event before it has a time below `t`, or equal to `t` in an earlier lane (ties go by lane),
 * so each lane's position is one count, without the binary search on time `positionAt` needs.
 */
export function cursorAfter(ix: LaneIndex, applied: number, t: number): MergeCursor {
  if (applied === 0) return new MergeCursor(ix);
  const pos = ix.lanes.map((lane) => ix.countBefore(lane, t, false));
  let index = pos.reduce((a, b) => a + b, 0);
  for (let l = 0; l < ix.lanes.length && index < applied; l++) {
    const atT = ix.countBefore(ix.lanes[l]!, t, true) - pos[l]!;
    const take = Math.min(atT, applied - index);
    pos[l] = pos[l]! + take;
    index += take;
  }
  if (index !== applied) return positionAt(ix, applied).cursor; // a keyframe whose time does not fit: the slow, sure way
  const cursor = new MergeCursor(ix);
  cursor.seekTo(index, pos);
  return cursor;
}
