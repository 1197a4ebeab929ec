/**
 * The raw events of a session by tracepoint name: what the timeline's type filter lists for an
 * imported trace, where the importer kept records it does not model as `raw` events. Only chunks
 * holding raw events (by the index's per-type counts) are decoded, in steps a host can report and
 * cancel (sessions/views.ts).
 */
import type { SessionReader } from './reader.ts';
import type { Steps } from './views.ts';

/** Chunks decoded per step. */
const SLICE_CHUNKS = 16;

export function* rawNameSteps(session: SessionReader): Steps<Record<string, number>> {
  const chunks = session.lanes.flatMap((lane) => lane.chunks.filter((ch) => !ch.bad && (!ch.stats || (ch.stats.types.raw ?? 0) > 0)));
  const out = new Map<string, number>();
  for (const [k, ch] of chunks.entries()) {
    for (const e of session.decodeChunk(ch)) {
      if (e.type !== 'raw') continue;
      const name = (e as { name?: unknown }).name;
      if (typeof name === 'string') out.set(name, (out.get(name) ?? 0) + 1);
    }
    if ((k + 1) % SLICE_CHUNKS === 0) yield (k + 1) / chunks.length;
  }
  return Object.fromEntries(out);
}
