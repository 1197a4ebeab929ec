/**
 * The host's event searches (sessions/search.ts): the scan of each recent (session, filter) kept,
 * so typing on, moving the cursor or pressing Next asks a kept scan rather than reading the
 * session again, and a count cancelled halfway resumes. A few are kept, the oldest dropped; a
 * session opened afresh (a new reader) starts its scans over.
 */
import type { SessionReader } from '../../sessions/reader.ts';
import { MatchScan, filterCacheKey, type EventFilter } from '../../sessions/search.ts';

/** Scans kept (each holds at most MAX_KEPT_MATCHES indexes). */
const KEPT = 6;

export class Searches {
  private readonly scans = new Map<string, MatchScan>();

  /** The scan of `filter` over `session` (session id `id`), kept or new. */
  scan(id: string, session: SessionReader, filter: EventFilter): MatchScan {
    const key = `${id}\n${filterCacheKey(filter)}`;
    let scan = this.scans.get(key);
    if (scan && scan.session !== session) scan = undefined;
    this.scans.delete(key);
    scan ??= new MatchScan(session, filter);
    this.scans.set(key, scan);
    for (const old of this.scans.keys()) {
      if (this.scans.size <= KEPT) break;
      this.scans.delete(old);
    }
    return scan;
  }
}
