/** The density view (every event per lane, bucket and type): the query is sessions/read/density.ts. */
import { isHidden } from '../core/eventFilter.ts';
import type { DensityView } from './read/density.ts';
import type { SessionReader } from './reader.ts';

export type { DensityView, LaneDensity } from './read/density.ts';

/**
 * `hidden`: filter keys (core/eventFilter.ts) the timeline's type filter hides, left out of the
 * counts. A hidden type's row is dropped; a hidden raw name (`raw:<name>`) is taken off the `raw`
 * row by decoding the window's chunks that hold raw events, since the summaries count raw events
 * by type only.
 */
export function densityView(session: SessionReader, t0: number, t1: number, buckets: number, hidden: readonly string[] = []): DensityView {
  const d = session.density(t0, t1, buckets);
  return hidden.length ? withoutHidden(session, d, hidden) : d;
}

function withoutHidden(session: SessionReader, d: DensityView, hidden: readonly string[]): DensityView {
  const hide = new Set(hidden);
  const names = hide.has('raw') ? new Set<string>() : new Set(hidden.filter((k) => k.startsWith('raw:')));
  const first = Math.round(d.origin / d.bucketNs);
  const lanes = d.lanes.map((lane) => {
    let events = lane.events;
    const types: string[] = [];
    const counts: number[][] = [];
    for (const [k, type] of lane.types.entries()) {
      const row = lane.counts[k]!;
      if (hide.has(type)) {
        for (const n of row) events -= n;
        continue;
      }
      types.push(type);
      counts.push(type === 'raw' && names.size ? [...row] : row);
    }
    const raw = counts[types.indexOf('raw')];
    const source = session.lanes.find((l) => l.vm === lane.vm && l.vcpu === lane.vcpu);
    if (raw && source) {
      for (const ch of source.chunks) {
        if (ch.bad || ch.tMax < d.t0 || ch.tMin > d.t1) continue;
        // the index says which chunks hold raw events (after an open from the footer it is parsed on this first need)
        const stats = session.indexedStats(ch);
        if (stats && !stats.types.raw) continue;
        for (const e of session.decodeChunk(ch)) {
          if (e.type !== 'raw' || e.t < d.t0 || e.t > d.t1 || !isHidden(names, e as { type: string; name?: unknown })) continue;
          raw[Math.min(d.buckets - 1, Math.max(0, Math.floor(e.t / d.bucketNs) - first))]! -= 1;
          events--;
        }
      }
    }
    return { ...lane, types, counts, events };
  });
  return { ...d, lanes };
}
