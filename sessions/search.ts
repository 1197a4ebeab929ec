/**
 * The event search, in the host: which events match a filter (core/eventFilter.ts) and are not
 * hidden by the timeline's type filter; how many there are and how many come up to an event
 * ("n / N"), and the next or previous one. The count is a scan of the whole session, so it runs as
 * steps a host can report and cancel (sessions/views.ts), and it is kept: a count cancelled halfway
 * resumes where it stopped, and once done, "n" for any event and Next/Prev are binary searches.
 */
import type { MmuEvent } from '../core/events.ts';
import { isHidden, jsonMatcher, type EventFilter } from '../core/eventFilter.ts';
import type { SessionReader } from './reader.ts';
import type { Steps } from './views.ts';

export { filterKey, isEmptyFilter, isHidden, jsonMatcher, pageOf, type EventFilter } from '../core/eventFilter.ts';

/** The same over decoded events: the type tests first, so most events are rejected without their JSON. */
export function eventMatcher(session: SessionReader, f: EventFilter): (e: MmuEvent) => boolean {
  const json = jsonMatcher(f);
  const hidden = new Set(f.hidden ?? []);
  const rec = (e: MmuEvent) => e as unknown as Record<string, unknown>;
  return (e) => {
    if (f.type && e.type !== f.type) return false;
    if (f.reason && rec(e).reason !== f.reason) return false;
    if (hidden.size && isHidden(hidden, { type: e.type, name: rec(e).name })) return false;
    return json(session.toJson(e));
  };
}

/** A stable key of a filter (the cache's): its fields in one order, the hidden set sorted. */
export function filterCacheKey(f: EventFilter): string {
  return JSON.stringify([f.text?.trim().toLowerCase() ?? '', f.type ?? '', f.reason ?? '', f.handling?.trim().toLowerCase() ?? '', f.address?.trim().toLowerCase() ?? '', [...(f.hidden ?? [])].sort()]);
}

/** Events read per step of a scan (a step is a few ms to some tens of ms). */
export const SEARCH_SLICE = 8192;
/** Matches kept per filter; past this a count still counts, and Next/Prev scan. */
export const MAX_KEPT_MATCHES = 4_000_000;

/** First k in the sorted `a` with a[k] > x (a.length if none). */
function upperBound(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The matches of one filter in one session, found by a scan from the first event on: events
 * [0, scanned) have been read, and `matches` holds the indexes of those that match (unless more
 * than MAX_KEPT_MATCHES did: then only `total` is exact).
 */
export class MatchScan {
  scanned = 0;
  total = 0;
  readonly matches: number[] = [];
  overflow = false;
  private readonly match: (e: MmuEvent) => boolean;

  constructor(
    readonly session: SessionReader,
    readonly filter: EventFilter,
    /** Events read per step. */
    private readonly slice = SEARCH_SLICE,
  ) {
    this.match = eventMatcher(session, filter);
  }

  get done(): boolean {
    return this.scanned >= this.session.eventCount;
  }

  /**
   * Count to the end, a slice per step, yielding the fraction scanned. Each step reads on from
   * `scanned` and moves it on before it yields, so two counts of one scan share the work and a
   * cancelled count leaves what it read.
   */
  *count(): Steps<void> {
    const n = this.session.eventCount;
    while (this.scanned < n) {
      const from = this.scanned;
      const events = this.session.rawEvents(from, Math.min(this.slice, n - from));
      if (events.length === 0) break;
      for (let i = 0; i < events.length; i++) {
        if (!this.match(events[i]!)) continue;
        this.total++;
        if (this.overflow) continue;
        if (this.matches.length >= MAX_KEPT_MATCHES) this.overflow = true;
        else this.matches.push(from + i);
      }
      this.scanned = from + events.length;
      yield this.scanned / Math.max(1, n);
    }
    this.scanned = Math.max(this.scanned, n);
  }

  /** Matches with an index at or before `at` (the "n" of "n / N"); exact once the scan has passed `at`. */
  upTo(at: number): number {
    return at < 0 ? 0 : upperBound(this.matches, at);
  }

  /**
   * The next match after `from` (dir 1) or the last before it (-1), as far as the scan so far
   * tells: a number, null when there is none, undefined when the unscanned part must be read.
   */
  known(from: number, dir: 1 | -1): number | null | undefined {
    if (this.overflow) return undefined;
    if (dir > 0) {
      const k = upperBound(this.matches, from);
      if (k < this.matches.length) return this.matches[k]!;
      return this.done ? null : undefined;
    }
    if (from - 1 < this.scanned) {
      const k = upperBound(this.matches, from - 1) - 1;
      return k >= 0 ? this.matches[k]! : null;
    }
    return undefined;
  }

  /**
   * The next (dir 1) or previous (-1) match from `from`, reading what the scan has not: the
   * answer (or null) at the end, the fraction of the stretch read at each step.
   */
  *find(from: number, dir: 1 | -1): Steps<number | null> {
    const hit = this.known(from, dir);
    if (hit !== undefined) return hit;
    const n = this.session.eventCount;
    if (dir > 0) {
      const start = Math.max(from + 1, this.overflow ? 0 : this.scanned);
      for (let pos = start; pos < n; ) {
        const events = this.session.rawEvents(pos, Math.min(this.slice, n - pos));
        if (events.length === 0) break;
        for (let i = 0; i < events.length; i++) if (this.match(events[i]!)) return pos + i;
        pos += events.length;
        yield (pos - start) / Math.max(1, n - start);
      }
      return null;
    }
    // Backward: read down to what the scan has covered, then its last match is the answer.
    const floor = this.overflow ? 0 : this.scanned;
    const start = Math.min(from - 1, n - 1);
    for (let hi = start; hi >= floor; ) {
      const lo = Math.max(floor, hi - this.slice + 1);
      const events = this.session.rawEvents(lo, hi - lo + 1);
      for (let i = events.length - 1; i >= 0; i--) if (this.match(events[i]!)) return lo + i;
      hi = lo - 1;
      yield (start - hi) / Math.max(1, start - floor + 1);
    }
    if (this.overflow) return null;
    return this.matches.length ? this.matches[this.matches.length - 1]! : null;
  }
}
