/**
 * The session's lanes with the questions that turn times into positions: which chunk holds a
 * lane's n-th event, how many events of a lane lie before a time, and where an event falls in
 * canonical order (t, vm, vcpu, position within the lane).
 */
import type { MmuEvent } from '../../core/events.ts';
import type { ChunkColumns } from '../codec.ts';
import type { ChunkStore } from './chunkStore.ts';
import { ownValue, type ChunkRef, type ChunkStats, type Lane } from './model.ts';

export class LaneIndex {
  readonly startNs: number;
  readonly endNs: number;

  constructor(
    readonly lanes: Lane[],
    readonly store: ChunkStore,
  ) {
    let start = Infinity;
    let end = 0;
    for (const l of lanes)
      for (const ch of l.chunks) {
        start = Math.min(start, ch.tMin);
        end = Math.max(end, ch.spanEnd);
      }
    this.startNs = Number.isFinite(start) ? start : 0;
    this.endNs = end;
  }

  decodeChunk(ch: ChunkRef): MmuEvent[] {
    return this.store.decodeChunk(ch);
  }
  /** A chunk's events for one pass over them (not kept in the cache, see ChunkStore.decodeChunk). */
  eventsOnce(ch: ChunkRef): MmuEvent[] {
    return this.store.decodeChunk(ch, undefined, false);
  }
  columns(ch: ChunkRef): ChunkColumns {
    return this.store.columns(ch);
  }
  chunkStats(ch: ChunkRef): ChunkStats {
    return this.store.chunkStats(ch);
  }

  chunkOfOrdinal(lane: Lane, ord: number): number {
    let lo = 0;
    let hi = lane.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lane.chunks[mid]!.ordinal <= ord) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Canonical index of the first event at or after time `t` (the event count if none). */
  indexAtTime(t: number): number {
    let n = 0;
    for (const lane of this.lanes) n += this.countBefore(lane, t, false);
    return n;
  }

  /** Events of `lane` whose type is in `want` and whose time is before `t`. */
  countTypedBefore(lane: Lane, t: number, want: Set<string>): number {
    let n = 0;
    for (const ch of lane.chunks) {
      if (ch.tMin >= t) break;
      if (ch.tMax < t) {
        const st = this.chunkStats(ch);
        if (ch.bad) continue;
        for (const w of want) n += ownValue(st.types, w) ?? 0;
        continue;
      }
      for (const e of this.eventsOnce(ch)) {
        if (e.t >= t) break;
        if (want.has(e.type)) n++;
      }
    }
    return n;
  }

  /** Events of `lane` with time before `t` (or at most `t` when `inclusive`). */
  countBefore(lane: Lane, t: number, inclusive: boolean): number {
    const ch = lane.chunks;
    const before = (x: number) => (inclusive ? x <= t : x < t);
    // first chunk whose tMax is not before t
    let lo = 0;
    let hi = ch.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (before(ch[mid]!.tMax)) lo = mid + 1;
      else hi = mid;
    }
    let n = lo < ch.length ? ch[lo]!.ordinal : lane.count;
    for (let i = lo; i < ch.length && before(ch[i]!.tMin); i++) {
      const times = this.columns(ch[i]!).times;
      let a = 0;
      let b = times.length;
      while (a < b) {
        const m = (a + b) >> 1;
        if (before(times[m]!)) a = m + 1;
        else b = m;
      }
      n = ch[i]!.ordinal + (ch[i]!.bad ? ch[i]!.count : a);
    }
    return n;
  }

  /**
   * Bounds on the events with time before `t` from the chunk list alone (no chunk read): at least
   * those of the chunks ending before t, at most those of the chunks starting before it.
   */
  boundsBefore(t: number): { low: number; high: number } {
    let low = 0;
    let high = 0;
    for (const lane of this.lanes) {
      const ch = lane.chunks;
      const first = (past: (c: ChunkRef) => boolean) => {
        let lo = 0;
        let hi = ch.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (past(ch[mid]!)) hi = mid;
          else lo = mid + 1;
        }
        return lo < ch.length ? ch[lo]!.ordinal : lane.count;
      };
      low += first((c) => c.tMax >= t);
      high += first((c) => c.tMin >= t);
    }
    return { low, high };
  }

  /** Canonical index of the event at `ordinal` in lane `l`, whose time is `t`. */
  globalIndex(l: number, ordinal: number, t: number): number {
    let n = ordinal;
    for (let j = 0; j < this.lanes.length; j++) if (j !== l) n += this.countBefore(this.lanes[j]!, t, j < l);
    return n;
  }
}
