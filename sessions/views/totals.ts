/**
 * Whole-session (or range) totals: events, exits, exit time, faults, simulated time; the one
 * definition `mmu-lab info`, `compare` and the API's summaries share.
 */
import type { Counters, SessionReader } from '../reader.ts';

/**
 * The totals `mmu-lab info` and `compare`, the report and `sessions.compare` print, each defined
 * once here from the reader's counters (index statistics for whole chunks).
 */
export interface SessionTotals {
  counters: Counters;
  events: number;
  /** Simulated time from the first event to the end of the last. */
  simNs: number;
  exits: number;
  /** Time spent handling exits (sum of vmexit durations). */
  exitNs: number;
  /** Guest page faults (guest_fault events). */
  faults: number;
}

const sum = (r: Record<string, number>): number => Object.values(r).reduce((x, y) => x + y, 0);

/** A range of simulated time, both ends included. */
export interface TimeRange {
  t0: number;
  t1: number;
}

/**
 * The totals of the whole session, or of the events in `range` (then `simNs` is the part of the
 * range the session's run covers: two runs compared over one range each count their own).
 */
export function sessionTotals(s: SessionReader, range?: TimeRange): SessionTotals {
  const counters = range ? s.counters(range.t0, range.t1) : s.counters();
  return {
    counters,
    events: range ? counters.events : s.eventCount,
    simNs: range ? Math.max(0, Math.min(range.t1, s.endNs) - Math.max(range.t0, s.startNs)) : s.endNs - s.startNs,
    exits: sum(counters.exitsByReason),
    exitNs: sum(counters.exitNsByReason),
    faults: counters.eventsByType.guest_fault ?? 0,
  };
}
