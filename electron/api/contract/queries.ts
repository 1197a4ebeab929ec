/**
 * Queries over an open session's events: the timeline and its density, the event search, the
 * exit counters, the raw tracepoint names; long ones report progress and can be cancelled.
 *
 * Pure: zod and core's pure definitions only.
 */
import { z } from 'zod';
import { type CallTable, type EventTable, ns, queryId, sessionId } from './common.ts';
import { eventJson } from './sessions.ts';

/** One set of colours for exit reasons in the app and the reports (core/palette.ts). */
export { addKey, keyColours } from '../../../core/palette.ts';

export const timelineSlice = z.object({
  /** Start and end in simulated ns. */
  t0: z.number(),
  t1: z.number(),
  reason: z.string(),
  handling: z.string(),
  /**
   * Index of the first exit in the session's canonical order (for the inspector); -1 for a merged
   * slice counted from the session's summaries (look its first exit up by its lane and `t0`).
   */
  index: z.number(),
  /** How many exits this slice stands for: 1 when zoomed in, more when exits are merged per pixel. */
  count: z.number(),
});

export const timelineLane = z.object({
  vm: z.number(),
  vcpu: z.number(),
  slices: z.array(timelineSlice),
  /** Number of exits in the queried window on this lane (all of them, even when slices are merged). */
  exits: z.number(),
});

export const timelineResult = z.object({ t0: z.number(), t1: z.number(), lanes: z.array(timelineLane) });

/**
 * Every event of each lane per bucket and type (sessions/density.ts): counts[k][b] is events of
 * types[k] in bucket b, which holds origin + b·bucketNs <= t < origin + (b+1)·bucketNs within [t0, t1].
 */
export const densityResult = z.object({
  t0: z.number(),
  t1: z.number(),
  buckets: z.number(),
  /** Start of bucket 0 (at or before t0) and the buckets' width: a power of two no wider than a pixel. */
  origin: z.number(),
  bucketNs: z.number(),
  lanes: z.array(z.object({ vm: z.number(), vcpu: z.number(), types: z.array(z.string()), counts: z.array(z.array(z.number())), events: z.number() })),
});

/**
 * What the event search looks for (sessions/search.ts): free text over every field, a type, an
 * exit reason, part of a handling, an address's 4 KiB page; `hidden`: the timeline's type filter
 * (types, and raw events as `raw:<name>`), whose events never match (added after v0.1).
 */
export const eventFilter = z.strictObject({
  text: z.string().max(200).optional(),
  type: z.string().max(64).optional(),
  reason: z.string().max(64).optional(),
  handling: z.string().max(64).optional(),
  address: z.string().max(40).optional(),
  hidden: z.array(z.string().max(200)).max(256).optional(),
});
export type EventFilter = z.output<typeof eventFilter>;
/** Whether a filter has something to look for, and what the type filter hides an event by: the host's own rules. */
export { filterKey, isEmptyFilter, isHidden } from '../../../core/eventFilter.ts';

/** One row of a `perf kvm stat`-like table: exits of one key (reason, handling) and their time. */
export const exitStat = z.object({
  key: z.string(),
  count: z.number(),
  totalNs: z.number(),
  minNs: z.number(),
  avgNs: z.number(),
  maxNs: z.number(),
});

/** Exits in [t0, t1] by reason, by handling and by vCPU (each vCPU again by reason and by handling). */
export const countersResult = z.object({
  t0: z.number(),
  t1: z.number(),
  events: z.number(),
  eventsByType: z.record(z.string(), z.number()),
  exits: z.number(),
  exitNs: z.number(),
  /** Memory references of the TLB-miss walks in the range: the sum of the page_walk events' `refs`. */
  walkRefs: z.number(),
  byReason: z.array(exitStat),
  byHandling: z.array(exitStat),
  byVcpu: z.array(
    z.object({
      vm: z.number(),
      vcpu: z.number(),
      events: z.number(),
      exits: z.number(),
      exitNs: z.number(),
      walkRefs: z.number(),
      byReason: z.array(exitStat),
      /** The vCPU's exits by handling (a VM's: the merge of its vCPUs' rows). */
      byHandling: z.array(exitStat),
    }),
  ),
});

export type TimelineResult = z.output<typeof timelineResult>;
export type DensityResult = z.output<typeof densityResult>;
export type CountersResult = z.output<typeof countersResult>;

export const QUERY_CALLS = {
  /**
   * How many events match the search (`total`) and how many of them come at or before event `at`
   * (`before`, the "n" of "n / N"; null past 4 M matches, which are counted, not kept). A scan of the whole session the first time: with a `queryId`,
   * its `queries.progress` carry the matches found so far; the host keeps the scan, so the same
   * filter again (another `at`, or after a Cancel) answers from it or resumes it (added after v0.1).
   */
  'sessions.searchCount': {
    params: z.strictObject({ id: sessionId, filter: eventFilter, at: z.number().int().min(-1), queryId: queryId.optional() }),
    result: z.object({ total: z.number(), before: z.number().nullable() }),
  },
  /** The first matching event after `from` (dir 1) or the last before it (-1); `index` null when there is none (added after v0.1). */
  'sessions.search': {
    params: z.strictObject({ id: sessionId, filter: eventFilter, from: z.number().int().min(-1), dir: z.union([z.literal(1), z.literal(-1)]), queryId: queryId.optional() }),
    result: z.object({ index: z.number().nullable(), event: eventJson.optional() }),
  },
  'sessions.timeline': {
    /** `queryId`: a file without summaries builds them first, with progress and Cancel (added after v0.1). */
    params: z.strictObject({ id: sessionId, t0: ns, t1: ns, buckets: z.number().int().min(1).max(20_000), queryId: queryId.optional() }),
    result: timelineResult,
  },
  /** Every event (not only exits) of each lane in [t0, t1], counted per bucket and type; exact (added after v0.1). */
  'sessions.density': {
    params: z.strictObject({
      id: sessionId,
      t0: ns,
      t1: ns,
      buckets: z.number().int().min(1).max(4000),
      /** The timeline's type filter: types, and raw events' names as `raw:<name>`, left out of the counts (added after v0.1). */
      hidden: z.array(z.string().max(200)).max(256).optional(),
      /** A file without summaries builds them first, with progress and Cancel (added after v0.1). */
      queryId: queryId.optional(),
    }),
    result: densityResult,
  },
  /** The raw events of an imported trace by tracepoint name (the type filter lists them); a scan of the chunks holding raw events (added after v0.1). */
  'sessions.rawNames': { params: z.strictObject({ id: sessionId, queryId: queryId.optional() }), result: z.record(z.string(), z.number()) },
  'sessions.counters': { params: z.strictObject({ id: sessionId, t0: ns, t1: ns, queryId: queryId.optional() }), result: countersResult },
  /** Stop a query that is still running (`sessions.diff`, `sessions.counters`, `sessions.timeline`, `sessions.density`, `sessions.searchCount`, `sessions.search`, `sessions.rawNames` with a `queryId`): no further step of it runs, and it fails with "cancelled". */
  'queries.cancel': { params: z.strictObject({ queryId }), result: z.object({ cancelled: z.boolean() }) },
} as const satisfies CallTable;

export const QUERY_EVENTS = {
  /** How far a long query with a `queryId` has got (0..1), at most ~10 a second. */
  'queries.progress': z.object({
    queryId: z.string(),
    fraction: z.number(),
    /** `sessions.searchCount`: matches found so far (at least this many in all). */
    matches: z.number().optional(),
    /** `sessions.searchCount`: matches at or before its `at`, once the count has read past it (exact from then on). */
    before: z.number().optional(),
  }),
} as const satisfies EventTable;
