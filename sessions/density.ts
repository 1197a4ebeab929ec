/** The density view (every event per lane, bucket and type): the query is sessions/read/density.ts. */
import type { DensityView } from './read/density.ts';
import type { SessionReader } from './reader.ts';

export type { DensityView, LaneDensity } from './read/density.ts';

export function densityView(session: SessionReader, t0: number, t1: number, buckets: number): DensityView {
  return session.density(t0, t1, buckets);
}
