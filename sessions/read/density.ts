/**
 * Every event of each lane, counted per bucket and per type: what a timeline draws so that a
 * session without exits (a real trace of page-table events) is not empty at any zoom. Buckets are
 * cells of a power-of-two grid no wider than a pixel (../mipmap.ts `gridFor`): bucket b
 * holds the events with origin + b·bucketNs <= t < origin + (b+1)·bucketNs, clipped to the window.
 * The window's inside is counted from the session's summaries (summaries.ts) and
 * only the chunks at its ends are decoded. The counts are exact.
 */
import type { LaneIndex } from './laneIndex.ts';
import type { Summaries } from './summaries.ts';
import { queryGrid, splitLane } from './window.ts';

export interface LaneDensity {
  vm: number;
  vcpu: number;
  /** Event types counted, in the order of `counts`' rows. */
  types: string[];
  /** counts[k][b]: events of types[k] in bucket b. */
  counts: number[][];
  /** Events in the window on this lane (all types). */
  events: number;
}

export interface DensityView {
  /** The window asked for: `events` counts t0 <= t <= t1. */
  t0: number;
  t1: number;
  buckets: number;
  /** Where bucket 0 starts (at or before t0) and how wide each bucket is (a power of two, at most (t1 - t0) / the buckets asked for). */
  origin: number;
  bucketNs: number;
  lanes: LaneDensity[];
}

/** The density query over a reader's lanes and summaries (SessionReader.density). */
export function density(ix: LaneIndex, sums: Summaries, typeNames: readonly string[], t0: number, t1: number, buckets: number): DensityView {
  const g = queryGrid(t0, t1, buckets);
  const lanes: LaneDensity[] = [];
  for (const lane of ix.lanes) {
    const rows = new Map<number, number[]>();
    const row = (type: number) => {
      let r = rows.get(type);
      if (!r) rows.set(type, (r = new Array<number>(g.count).fill(0)));
      return r;
    };
    let events = 0;
    // events count by their own time: chunks before t0 do not matter here, whatever their span
    const w = splitLane(sums, lane, g, g.T0);
    const s = w.summary;
    if (s) {
      const lv = s.level;
      const shift = 2 ** (g.k - lv.k);
      for (let i = s.binFrom; i < s.binTo; i++) {
        const b = Math.min(g.count - 1, Math.floor(lv.idx[i]! / shift) - g.first);
        for (let j = lv.typeStart[i]!; j < lv.typeStart[i + 1]!; j++) row(lv.typeId[j]!)[b]! += lv.typeN[j]!;
        events += lv.events[i]!;
      }
    }
    for (const ch of w.decode) {
      const cols = ix.columns(ch);
      for (let i = 0; i < cols.times.length; i++) {
        const t = cols.times[i]!;
        if (t < g.T0) continue;
        if (t > g.T1) break;
        if (t >= w.innerT0 && t < w.innerT1) continue;
        row(cols.typeIds[i]!)[Math.floor(t / g.width) - g.first]! += 1;
        events++;
      }
    }
    const ids = [...rows.keys()].sort((a, b) => (typeNames[a]! < typeNames[b]! ? -1 : typeNames[a]! > typeNames[b]! ? 1 : 0));
    lanes.push({ vm: lane.vm, vcpu: lane.vcpu, types: ids.map((id) => typeNames[id]!), counts: ids.map((id) => rows.get(id)!), events });
  }
  return { t0, t1, buckets: g.count, origin: g.first * g.width, bucketNs: g.width, lanes };
}
