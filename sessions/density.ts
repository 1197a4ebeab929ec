/**
 * Every event of each lane, counted per pixel and per type: what a timeline draws so that a
 * session without exits (a real trace of page-table events) is not empty at any zoom. A chunk
 * whose events all fall in one bucket is counted from the per-type counts of the session's index
 * without being decoded (so a whole-run view of a long session decodes only the chunks that
 * straddle a bucket boundary); any other chunk in the window is decoded and its events bucketed
 * one by one. The counts are exact.
 */
import type { SessionReader } from './reader.ts';

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
  t0: number;
  t1: number;
  buckets: number;
  lanes: LaneDensity[];
}

export function densityView(session: SessionReader, t0: number, t1: number, buckets: number): DensityView {
  const nb = Math.max(1, Math.floor(buckets) || 1);
  const width = Math.max(t1 - t0, 1) / nb;
  const bucketOf = (t: number) => Math.min(nb - 1, Math.max(0, Math.floor((t - t0) / width)));
  const lanes: LaneDensity[] = [];
  for (const lane of session.lanes) {
    const rows = new Map<string, number[]>();
    const row = (type: string) => {
      let r = rows.get(type);
      if (!r) rows.set(type, (r = new Array<number>(nb).fill(0)));
      return r;
    };
    let events = 0;
    for (const ch of lane.chunks) {
      if (ch.bad || ch.tMax < t0 || ch.tMin > t1) continue;
      const inside = ch.tMin >= t0 && ch.tMax <= t1;
      if (inside && ch.stats && bucketOf(ch.tMin) === bucketOf(ch.tMax)) {
        const b = bucketOf(ch.tMin);
        for (const [type, n] of Object.entries(ch.stats.types)) {
          row(type)[b]! += n;
          events += n;
        }
        continue;
      }
      for (const e of session.decodeChunk(ch)) {
        if (e.t < t0 || e.t > t1) continue;
        row(e.type)[bucketOf(e.t)]! += 1;
        events++;
      }
    }
    const types = [...rows.keys()].sort();
    lanes.push({ vm: lane.vm, vcpu: lane.vcpu, types, counts: types.map((t) => rows.get(t)!), events });
  }
  return { t0, t1, buckets: nb, lanes };
}
