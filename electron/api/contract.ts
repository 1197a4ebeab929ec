/**
 * The one typed API between the UI and the host.
 *
 * Every call and every event is declared here once, as data: its name, its parameter schema
 * and its result schema. The Electron preload bridge, the main-process IPC registration, the
 * browser host's WebSocket router and the renderer's client are all derived from this table.
 * The host validates every incoming message against these schemas; the renderer imports only
 * this file (and the types it derives), never Electron or Node.
 *
 * Pure: depends on zod and core's pure definitions only.
 */
import { z } from 'zod';

/** Session ids are file names in the host's sessions folder, never paths. */
export const sessionId = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._ -]*\.mmulab$/, 'a session id is a .mmulab file name, not a path');

const ns = z.number().finite().min(0);

export const sessionListItem = z.object({
  id: z.string(),
  name: z.string(),
  sizeBytes: z.number(),
  modifiedMs: z.number(),
});

export const diagnostic = z.object({
  severity: z.enum(['info', 'dataLoss', 'error']),
  code: z.string(),
  message: z.string(),
  byteOffset: z.number().optional(),
});

export const vcpuSummary = z.object({ vm: z.number(), vcpu: z.number(), events: z.number(), exits: z.number() });

export const sessionSummary = z.object({
  id: z.string(),
  name: z.string(),
  scenarioName: z.string(),
  complete: z.boolean(),
  vms: z.number(),
  vcpus: z.array(vcpuSummary),
  events: z.number(),
  startNs: z.number(),
  endNs: z.number(),
  eventsByType: z.record(z.string(), z.number()),
  exitsByReason: z.record(z.string(), z.number()),
  diagnostics: z.array(diagnostic),
  /**
   * Only for a recording that was cut short (no footer): every lane holds all its events up to
   * `allLanesNs`; after it, some lanes' events may be missing. Per lane, the time it is complete to.
   */
  completeness: z
    .object({
      allLanesNs: z.number(),
      lanes: z.array(z.object({ vm: z.number(), vcpu: z.number(), events: z.number(), completeNs: z.number() })),
    })
    .optional(),
  /** Only for an imported trace: what the trace cannot tell, in the importer's words (e.g. it holds no kvm_exit). */
  traceNotes: z.array(z.string()).optional(),
});

/** An event as the JSONL export shows it: header fields plus the type's own fields. */
export const eventJson = z.record(z.string(), z.union([z.string(), z.number()]));

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

export const runState = z.enum(['running', 'paused', 'finished', 'failed', 'stopped']);

/** One VM of a run: each VM runs in its own worker, so each can fail on its own. */
export const vmRunStatus = z.object({
  vm: z.number(),
  state: z.enum(['running', 'paused', 'finished', 'failed', 'stopped']),
  events: z.number(),
  exits: z.number(),
  simNs: z.number(),
  message: z.string().optional(),
});

export const runStatus = z.object({
  runId: z.string(),
  sessionId: z.string(),
  state: runState,
  events: z.number(),
  exits: z.number(),
  simNs: z.number(),
  message: z.string().optional(),
  /** Per-VM detail (added after v0.1; optional so older producers stay valid). */
  vms: z.array(vmRunStatus).optional(),
  /** Wall-clock ms since the run started, for exits/s. */
  elapsedMs: z.number().optional(),
  /** Simulated ns per wall-clock second, or null when running flat out. */
  speed: z.number().nullable().optional(),
});

/** The MMU designs the scenario picker groups by, in its order (core/scenarioDocs.ts decides a scenario's). */
export { MMU_DESIGNS } from '../../core/scenarioDocs.ts';
/** One set of colours for exit reasons in the app and the reports (core/palette.ts). */
export { addKey, keyColours } from '../../core/palette.ts';
/** The 2D walk's grid (which bit of a page_walk mask is which reference). */
export { EPT_LEVELS, FINAL_ROW, GUEST_COL, WALK_COLS, cellBit, guestRow } from '../../core/tdp/walkGrid.ts';
/** Lookups by address among a page-table tree's leaves (the picture's EPT links). */
export { findRange, sortRanges } from '../../core/ranges.ts';

export const scenarioInfo = z.object({
  name: z.string(),
  title: z.string(),
  description: z.string(),
  /** The MMU design it shows (Shadow paging, EPT/NPT, TDP MMU, Xen PV, Nested), for grouping; added after v0.1. */
  design: z.string().optional(),
});

/** A scenario as sent by the UI: a built-in name, or a whole scenario object (validated by core). */
export const scenarioRef = z.union([
  z.strictObject({ builtin: z.string().min(1).max(200) }),
  z.strictObject({ scenario: z.unknown() }),
]);

const noParams = z.strictObject({});

/**
 * A long query's id, made by the UI: with it the host pushes `queries.progress` while the query
 * runs, and `queries.cancel` stops it (added after v0.1; optional).
 */
export const queryId = z.string().regex(/^q-[A-Za-z0-9_-]{1,40}$/, 'a query id is q- and up to 40 letters, digits, _ or -');

/** An index into the session's canonical event order (what `sessions.events` pages through). */
const eventIndex = z.number().int().min(0);

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
export { filterKey, isEmptyFilter, isHidden } from '../../core/eventFilter.ts';
/** A 64-bit value (page-table entry, address) as the exports print it: `0x` and lower-case hex. */
const hex = z.string().regex(/^0x[0-9a-f]+$/);

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

/** Where a paging-structure entry points: a lower-level table, a page, or nothing (not present). */
export const entryTarget = z.object({
  kind: z.enum(['table', 'page', 'none']),
  /** Guest-physical (guest tables) or host-physical / table id (shadow, EPT) address of the target. */
  addr: hex.optional(),
  /** For `table`: the `key` of the table it points to when that table is known. */
  table: z.string().optional(),
});

/** A reference to one entry of a shadow/EPT table (a link from a guest entry to the sptes mirroring it). */
export const sptRef = z.object({ table: z.string(), index: z.number() });

export const pageTableEntryView = z.object({
  index: z.number(),
  /**
   * The first and last virtual (guest tables, shadow) or guest-physical (EPT) address this entry
   * covers; absent for a table no root reaches (e.g. a table being built or torn down).
   */
  va0: hex.optional(),
  va1: hex.optional(),
  value: hex,
  /** Decoded flags as the SDM names them (P, RW, US, PWT, PCD, A, D, PS, G, NX, RSVD...). */
  flags: z.array(z.string()),
  target: entryTarget,
  /** Guest entries only: the shadow entries that mirror this one. */
  mirrors: z.array(sptRef).optional(),
  /** Nested, entries of L0's composite (EPT02) only: the EPT12 and EPT01 entries it was built from. */
  derivedFrom: z.array(sptRef).optional(),
  /** Index of the event that last wrote this entry, when the session recorded it. */
  lastEvent: z.number().optional(),
});

/**
 * One page-table page. The tree is given flat: an entry whose target is a table names it by
 * `key`; `roots` of each space list the top-level tables.
 */
export const pageTableView = z.object({
  /** Stable within a session: `g<vm>:<gpa>` for guest tables, `s<vm>:<table id>` for shadow/EPT tables. */
  key: z.string(),
  level: z.number(),
  /** Guest tables: the table's guest-physical address. Shadow/EPT: the guest frame it shadows or maps. */
  gpa: hex.optional(),
  gfn: hex.optional(),
  role: z.string().optional(),
  quadrant: z.number().optional(),
  entries: z.array(pageTableEntryView),
});

export const pageTableSpace = z.object({
  kind: z.enum(['guest', 'shadow', 'ept', 'xenpv']),
  paging: z.string(),
  roots: z.array(z.string()),
  tables: z.array(pageTableView),
  /** Nested: the structure (core/tableRoles.ts: `ept02`, `ept12`, `ept01`, …) and its words. */
  role: z.string().optional(),
  title: z.string().optional(),
});

export const pageTablesResult = z.object({
  at: z.number(),
  t: z.number(),
  /** `host`: the structure the CPU uses (nested: EPT02); `nested`: a nested VM's other structures (EPT12, EPT01), one tree each. */
  vms: z.array(z.object({ vm: z.number(), guest: pageTableSpace, host: pageTableSpace.optional(), nested: z.array(pageTableSpace).optional(), tlb: z.record(z.string(), z.number()).optional() })),
  /** True when more tables existed than the result carries (see `maxTables`). */
  truncated: z.boolean(),
});

export const pageTableChange = z.object({
  vm: z.number(),
  space: z.enum(['guest', 'shadow', 'ept', 'xenpv']),
  table: z.string(),
  level: z.number(),
  index: z.number(),
  va0: hex.optional(),
  va1: hex.optional(),
  change: z.enum(['added', 'removed', 'changed']),
  old: hex,
  new: hex,
  oldFlags: z.array(z.string()),
  newFlags: z.array(z.string()),
  /** Index of the event that last changed this entry before `to` ("why did this change"). */
  lastEvent: z.number(),
});

export const diffResult = z.object({
  from: z.number(),
  to: z.number(),
  total: z.number(),
  changes: z.array(pageTableChange),
  truncated: z.boolean(),
});

/** A note or a bookmark at a point of the session. */
export const sessionNote = z.object({
  noteId: z.string(),
  kind: z.enum(['note', 'bookmark']),
  t: z.number(),
  index: z.number().optional(),
  vm: z.number().optional(),
  vcpu: z.number().optional(),
  text: z.string(),
  createdMs: z.number(),
});

const compareCell = z.object({ key: z.string(), a: z.number(), b: z.number(), ratio: z.number().nullable() });
export const compareResult = z.object({
  /** The range of simulated time compared in both sessions; absent: the whole runs. */
  range: z.object({ t0: z.number(), t1: z.number() }).optional(),
  a: z.object({ id: z.string(), scenarioName: z.string(), events: z.number(), simNs: z.number(), exits: z.number(), faults: z.number() }),
  b: z.object({ id: z.string(), scenarioName: z.string(), events: z.number(), simNs: z.number(), exits: z.number(), faults: z.number() }),
  /** Simulated time, events, exits, guest faults, exit time: b / a (null when a is 0). */
  totals: z.array(compareCell),
  exitsByReason: z.array(compareCell),
  exitNsByReason: z.array(compareCell),
});

export const exportFormat = z.enum(['jsonl', 'csv', 'chrome', 'html', 'pdf']);
export const exportResult = z.object({
  /** A file name in the host's exports folder (never a path). */
  exportId: z.string(),
  fileName: z.string(),
  mimeType: z.string(),
  sizeBytes: z.number(),
  /** Browser host: the URL (same origin) that downloads it. */
  url: z.string(),
});

/** A bundled lab's name: a folder name under labs/, never a path. */
export const labName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,59}$/, 'a lab name is a folder name of labs/, not a path');
export const labInfo = z.object({ name: z.string(), title: z.string(), summary: z.string(), mechanism: z.string() });
/** A question as the student sees it: never its reference answer. */
export const labQuestion = z.object({
  id: z.string(),
  phase: z.enum(['predict', 'observe', 'explain']),
  type: z.enum(['choice', 'number', 'text']),
  prompt: z.string(),
  graded: z.boolean(),
  hint: z.string().optional(),
  unit: z.string().optional(),
  choices: z.array(z.object({ id: z.string(), text: z.string() })).optional(),
});
export const labDetail = labInfo.extend({
  /** Markdown source: the renderer renders it with HTML disabled and sanitizes the result. */
  instructions: z.string(),
  scenarios: z.array(z.object({ id: z.string(), title: z.string() })),
  questions: z.array(labQuestion),
  checks: z.array(z.object({ id: z.string(), title: z.string(), hint: z.string().optional() })),
  hints: z.array(z.string()),
});
const labAnswer = z.union([z.string().max(4000), z.number().finite()]);
/** Question id → answer; ids are lower-case with dashes (so `__proto__` and friends are refused). */
export const labAnswers = z.record(z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'a question id'), labAnswer);
export const labStatus = z.object({
  name: z.string(),
  /** The lab's sessions in the sessions folder (one per scenario), once the lab has been run. */
  sessions: z.array(z.object({ scenario: z.string(), title: z.string(), sessionId: z.string() })),
  recorded: z.boolean(),
  passed: z.boolean(),
  checks: z.array(
    z.object({ id: z.string(), title: z.string(), passed: z.boolean(), value: z.union([z.string(), z.number(), z.boolean()]).nullable(), error: z.string().optional(), hint: z.string().optional() }),
  ),
  /** `correct` is null for an unanswered question; `explanation` comes once it is answered. */
  questions: z.array(z.object({ id: z.string(), answered: z.boolean(), correct: z.boolean().nullable(), explanation: z.string().optional() })),
  /** What is saved with the lab's first session: the student's name and answers. */
  progress: z.object({ student: z.string(), answers: labAnswers }),
});

/** A live capture of the host's KVM (sessions/capture): made by `capture.start`. */
const captureId = z.string().regex(/^cap-[0-9a-f]{16}$/, 'a capture id is what capture.start returned');
export const captureStatus = z.object({
  captureId: z.string(),
  state: z.enum(['recording', 'done', 'failed']),
  /** The session it records into (readable while it grows, once its first events are written). */
  sessionId: z.string(),
  events: z.number(),
  seconds: z.number(),
  /** Events the kernel dropped (its buffer filled before it was read). */
  lost: z.number(),
  /** What happened, in one line, once it ended. */
  message: z.string().optional(),
});

/** A trace import's id: made by the host (`traces.begin`), never a path. */
const traceImportId = z.string().regex(/^imp-[0-9a-f]{16}$/, 'a trace import id is what traces.begin returned');
/** Upload chunks are base64 text, small enough for one message (MAX_MESSAGE_BYTES). */
export const TRACE_CHUNK_BYTES = 512 * 1024;
/** Where a trace import is (docs/import.md): uploading, importing, then done, failed or cancelled. */
export const traceImportStatus = z.object({
  importId: z.string(),
  /** The uploaded file's name (it names the new session). */
  fileName: z.string(),
  state: z.enum(['uploading', 'importing', 'done', 'failed', 'cancelled']),
  receivedBytes: z.number(),
  totalBytes: z.number(),
  /** 0..1 over the upload and the import. */
  fraction: z.number(),
  /** Trace lines read so far. */
  lines: z.number(),
  /** The new session, once `done`. */
  sessionId: z.string().optional(),
  /** What happened, in one line (with `done`: what was imported and what was skipped). */
  message: z.string().optional(),
});

/** A session upload's id: made by the host (`sessions.uploadBegin`), never a path. */
const sessionUploadId = z.string().regex(/^up-[0-9a-f]{16}$/, 'a session upload id is what sessions.uploadBegin returned');
export const sessionUploadStatus = z.object({ uploadId: z.string(), fileName: z.string(), receivedBytes: z.number(), totalBytes: z.number() });

/** The calls. Each has `params` (validated by the host) and `result` (the shape returned). */
export const API = {
  'app.info': { params: noParams, result: z.object({ version: z.string(), host: z.enum(['electron', 'browser']) }) },
  'scenarios.list': { params: noParams, result: z.array(scenarioInfo) },
  'scenarios.get': { params: z.strictObject({ name: z.string().min(1).max(200) }), result: z.unknown() },
  'scenarios.validate': {
    params: z.strictObject({ scenario: z.unknown() }),
    result: z.object({ ok: z.boolean(), error: z.string().optional() }),
  },
  /** The scenario file's JSON Schema (draft 2020-12, input side: defaults filled in by the host), for the UI's options form. */
  'scenarios.schema': { params: noParams, result: z.record(z.string(), z.unknown()) },
  'sessions.list': { params: noParams, result: z.array(sessionListItem) },
  'sessions.open': { params: z.strictObject({ id: sessionId }), result: sessionSummary },
  'sessions.events': {
    params: z.strictObject({
      id: sessionId,
      from: z.number().int().min(0),
      count: z.number().int().min(1).max(10_000),
      types: z.array(z.string().max(64)).max(32).optional(),
    }),
    result: z.object({ total: z.number(), events: z.array(eventJson) }),
  },
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
  'runs.start': {
    /**
     * `maxEvents`: stop each VM after this many events; left out, the host's default bound
     * (DEFAULT_MAX_EVENTS in sessions/record.ts); `null` lifts the bound (docs/host.md, Limits).
     */
    params: z.strictObject({
      scenario: scenarioRef,
      seed: z.number().int().min(0).max(2 ** 32 - 1).optional(),
      maxEvents: z.number().int().min(1).max(1e12).nullable().optional(),
    }),
    result: runStatus,
  },
  'runs.status': { params: z.strictObject({ runId: z.string().min(1).max(100) }), result: runStatus },
  'runs.control': {
    /**
     * `step` runs one engine step of each VM (one guest operation and the events it causes),
     * `stepExit` runs each VM until its next vmexit or guest fault; both leave the run paused.
     */
    params: z.strictObject({ runId: z.string().min(1).max(100), action: z.enum(['pause', 'resume', 'stop', 'step', 'stepExit']) }),
    result: runStatus,
  },
  /** Run at a chosen speed (simulated ns per wall-clock second), or flat out with `null`. */
  'runs.setSpeed': {
    params: z.strictObject({ runId: z.string().min(1).max(100), nsPerSecond: z.number().finite().positive().max(1e15).nullable() }),
    result: runStatus,
  },
  /** Exits by reason, by handling and by vCPU over [t0, t1] (simulated ns; a `perf kvm stat` table). */
  'sessions.counters': { params: z.strictObject({ id: sessionId, t0: ns, t1: ns, queryId: queryId.optional() }), result: countersResult },
  /** Every guest and shadow/EPT page table of each VM just after event `at`, rebuilt from the nearest keyframe. */
  'sessions.pageTables': {
    params: z.strictObject({
      id: sessionId,
      at: eventIndex,
      vm: z.number().int().min(0).optional(),
      maxTables: z.number().int().min(1).max(100_000).optional(),
    }),
    result: pageTablesResult,
  },
  /** Entries added, removed and changed between just after event `from` and just after event `to`. */
  'sessions.diff': {
    params: z.strictObject({ id: sessionId, from: eventIndex, to: eventIndex, limit: z.number().int().min(1).max(100_000).optional(), queryId: queryId.optional() }),
    result: diffResult,
  },
  'sessions.notes.list': { params: z.strictObject({ id: sessionId }), result: z.array(sessionNote) },
  /** Add a note or bookmark; with `noteId`, replace that one (last wins). Appended to the file, nothing rewritten. */
  'sessions.notes.add': {
    params: z.strictObject({
      id: sessionId,
      noteId: z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/).optional(),
      kind: z.enum(['note', 'bookmark']),
      t: ns,
      index: eventIndex.optional(),
      vm: z.number().int().min(0).optional(),
      vcpu: z.number().int().min(0).optional(),
      text: z.string().max(10_000),
    }),
    result: sessionNote,
  },
  'sessions.notes.remove': {
    params: z.strictObject({ id: sessionId, noteId: z.string().min(1).max(64) }),
    result: z.object({ removed: z.boolean() }),
  },
  /**
   * Two sessions side by side: exits per reason, faults, simulated time, ratios b / a; over the
   * whole runs, or over one range of simulated time in both (the selection).
   */
  'sessions.compare': {
    params: z.strictObject({ a: sessionId, b: sessionId, range: z.strictObject({ t0: ns, t1: ns }).refine((r) => r.t1 >= r.t0, 't1 must not be before t0').optional() }),
    result: compareResult,
  },
  /** Write an export into the host's exports folder; the UI offers it for download or saving. */
  'sessions.export': {
    params: z.strictObject({
      id: sessionId,
      format: exportFormat,
      /** html/pdf: the range of the page-table diff section (event indexes). */
      diffFrom: eventIndex.optional(),
      diffTo: eventIndex.optional(),
      title: z.string().max(200).optional(),
    }),
    result: exportResult,
  },
  /** Every run the host knows of since it started, newest last. */
  'runs.list': { params: noParams, result: z.array(runStatus) },
  /** Start importing a KVM trace text (trace-cmd report, ftrace, perf script): announce its name and size. */
  'traces.begin': {
    params: z.strictObject({ fileName: z.string().min(1).max(255), sizeBytes: z.number().int().min(0).max(2 ** 40) }),
    result: traceImportStatus,
  },
  /** The next chunk of the trace text (base64), at `offset` = the bytes sent so far. */
  'traces.upload': {
    params: z.strictObject({ importId: traceImportId, offset: z.number().int().min(0), data: z.string().max(Math.ceil(TRACE_CHUNK_BYTES / 3) * 4) }),
    result: traceImportStatus,
  },
  /** Import the uploaded text into a new session; returns at once, `traces.progress` follows to the end. */
  'traces.import': { params: z.strictObject({ importId: traceImportId }), result: traceImportStatus },
  /** Stop an upload or an import; nothing of it is kept. */
  'traces.cancel': { params: z.strictObject({ importId: traceImportId }), result: traceImportStatus },
  /** Whether this host can record its own KVM; `problem` says what is missing, in one sentence. */
  'capture.check': { params: noParams, result: z.object({ available: z.boolean(), problem: z.string().optional() }) },
  /**
   * Record this host's KVM (kvm + kvmmmu tracepoints, in a tracefs instance of the host's own) into a
   * new session until `capture.stop` or `durationSeconds`; `pid`: only that process. Progress comes as
   * `capture.progress`.
   */
  'capture.start': {
    params: z.strictObject({ durationSeconds: z.number().min(0.1).max(3600).optional(), pid: z.number().int().min(1).max(2 ** 31).optional() }),
    result: captureStatus,
  },
  /** Stop recording; the session keeps everything recorded until now. */
  'capture.stop': { params: z.strictObject({ captureId }), result: captureStatus },
  /**
   * Open a session file the user picked or dropped in the UI: announce its name (the user's own,
   * which names the session) and size, send its bytes with `sessions.uploadChunk`, then
   * `sessions.uploadFinish` checks it with the reader and keeps it in the sessions folder.
   */
  'sessions.uploadBegin': {
    params: z.strictObject({ fileName: z.string().min(1).max(255), sizeBytes: z.number().int().min(0).max(2 ** 40) }),
    result: sessionUploadStatus,
  },
  /** The next chunk of the session file (base64), at `offset` = the bytes sent so far. */
  'sessions.uploadChunk': {
    params: z.strictObject({ uploadId: sessionUploadId, offset: z.number().int().min(0), data: z.string().max(Math.ceil(TRACE_CHUNK_BYTES / 3) * 4) }),
    result: sessionUploadStatus,
  },
  /** Check the uploaded file and keep it as a session under the user's file name; returns its id. */
  'sessions.uploadFinish': { params: z.strictObject({ uploadId: sessionUploadId }), result: z.object({ sessionId: z.string() }) },
  /** Stop an upload; nothing of it is kept. */
  'sessions.uploadCancel': { params: z.strictObject({ uploadId: sessionUploadId }), result: z.object({ cancelled: z.boolean() }) },
  /**
   * The desktop app: show the system's Open dialog for a session file and bring the chosen file
   * into the sessions folder; `sessionId` is null when the user cancelled. The browser host has no
   * dialog of its own (the page uses the browser's file picker and `sessions.uploadBegin`).
   */
  'sessions.pick': { params: noParams, result: z.object({ sessionId: z.string().nullable() }) },
  /** Stop a query that is still running (`sessions.diff`, `sessions.counters`, `sessions.timeline`, `sessions.density`, `sessions.searchCount`, `sessions.search`, `sessions.rawNames` with a `queryId`): no further step of it runs, and it fails with "cancelled". */
  'queries.cancel': { params: z.strictObject({ queryId }), result: z.object({ cancelled: z.boolean() }) },
  /** The bundled labs (docs/labs.md). */
  'labs.list': { params: noParams, result: z.array(labInfo) },
  'labs.get': { params: z.strictObject({ name: labName }), result: labDetail },
  /** Record every scenario of the lab into the sessions folder (replacing an earlier run) and check it. */
  'labs.run': { params: z.strictObject({ name: labName }), result: labStatus },
  /** Check the recorded sessions against the lab; with `answers`/`student`, grade and save them with the session. */
  'labs.status': {
    params: z.strictObject({ name: labName, answers: labAnswers.optional(), student: z.string().max(200).optional() }),
    result: labStatus,
  },
  /**
   * Record the lab's reference session of one scenario (default: its first) into the sessions
   * folder as `lab-<name>-<scenario>-reference.mmulab`, for comparing a student's session with it
   * (`sessions.compare`, as `mmu-lab compare --lab`). The lab's own sessions are left alone.
   */
  'labs.reference': {
    params: z.strictObject({ name: labName, scenario: z.string().regex(/^[a-z0-9][a-z0-9-]{0,59}$/, 'a scenario id of the lab').optional() }),
    result: z.object({ sessionId: z.string() }),
  },
  /** The lab report (student, answers, checks, figures, fingerprints) into the exports folder. */
  'labs.report': { params: z.strictObject({ name: labName, format: z.enum(['html', 'pdf']) }), result: exportResult },
} as const;

/** Events the host pushes to the UI. */
export const API_EVENTS = {
  'runs.progress': runStatus,
  /** A trace import moved on (at most ~10 a second), or ended (`done` with its session, `failed`, `cancelled`). */
  'traces.progress': traceImportStatus,
  'sessions.changed': z.object({}),
  /** How far a long query with a `queryId` has got (0..1), at most ~10 a second. */
  'queries.progress': z.object({
    queryId: z.string(),
    fraction: z.number(),
    /** `sessions.searchCount`: matches found so far (at least this many in all). */
    matches: z.number().optional(),
    /** `sessions.searchCount`: matches at or before its `at`, once the count has read past it (exact from then on). */
    before: z.number().optional(),
  }),
  /** A capture recorded more (about twice a second), or ended. */
  'capture.progress': captureStatus,
  /**
   * The desktop shell asks the UI to open a session: File → Open, Open Recent, a `.mmulab`
   * file given to the app by the OS (file association, second launch). The file has already
   * been copied into the sessions folder; `id` is its session id.
   */
  'sessions.openRequested': z.object({ id: z.string() }),
  /**
   * Damage found in an open session after it was opened: a session is opened without reading
   * its events, so an event chunk that fails its checksum is found when first read. `diagnostics`
   * is the session's whole list, as `sessions.open` would give it now.
   */
  'sessions.diagnostics': z.object({ id: z.string(), diagnostics: z.array(diagnostic) }),
} as const;

export type CaptureStatus = z.output<typeof captureStatus>;
export type ApiMethod = keyof typeof API;
export type ApiParams<M extends ApiMethod> = z.input<(typeof API)[M]['params']>;
export type ApiResult<M extends ApiMethod> = z.output<(typeof API)[M]['result']>;
export type ApiEventName = keyof typeof API_EVENTS;
export type ApiEventPayload<E extends ApiEventName> = z.output<(typeof API_EVENTS)[E]>;

export type SessionSummary = z.output<typeof sessionSummary>;
export type TimelineResult = z.output<typeof timelineResult>;
export type DensityResult = z.output<typeof densityResult>;
export type RunStatus = z.output<typeof runStatus>;
export type CountersResult = z.output<typeof countersResult>;
export type PageTablesResult = z.output<typeof pageTablesResult>;
export type DiffResult = z.output<typeof diffResult>;
export type SessionNote = z.output<typeof sessionNote>;
export type CompareResult = z.output<typeof compareResult>;
export type ExportResult = z.output<typeof exportResult>;
export type TraceImportStatus = z.output<typeof traceImportStatus>;
export type LabDetail = z.output<typeof labDetail>;
export type LabStatus = z.output<typeof labStatus>;

export const API_METHODS = Object.keys(API) as ApiMethod[];
export function isApiMethod(name: unknown): name is ApiMethod {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(API, name);
}

/** Errors crossing the API carry a code a program can test and a message a person can read. */
export const apiErrorCode = z.enum(['bad-request', 'unknown-method', 'too-large', 'not-found', 'bad-session', 'failed']);
export type ApiErrorCode = z.output<typeof apiErrorCode>;

export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The wire format shared by Electron IPC and the browser host's WebSocket. */
export const MAX_MESSAGE_BYTES = 1 << 20;
export const requestMessage = z.strictObject({
  id: z.number().int().min(0),
  method: z.string().max(100),
  params: z.unknown(),
});
export type RequestMessage = z.output<typeof requestMessage>;
export type ResponseMessage =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { code: ApiErrorCode; message: string } };
export type EventMessage = { event: ApiEventName; payload: unknown };
/** A response without its id: what the Electron preload's `call` resolves with (errors keep their code). */
export type ResponseEnvelope = { ok: true; result: unknown } | { ok: false; error: { code: ApiErrorCode; message: string } };

/**
 * What the Electron preload exposes as `window.mmulab` (and nothing else). `call` never
 * rejects for API errors: it resolves with the envelope so the error code survives the
 * context bridge; the renderer's client turns `ok: false` into an `ApiError`.
 */
export interface MmulabBridge {
  call(method: string, params: unknown): Promise<ResponseEnvelope>;
  on(event: string, listener: (payload: unknown) => void): () => void;
}

/** The Electron IPC channel on which the main process pushes `EventMessage`s to the window. */
export const IPC_EVENT_CHANNEL = 'mmulab:event';
/** Electron only: the preload reports a file dropped on the window (path from the File object; checked by the main process). */
export const IPC_DROP_CHANNEL = 'mmulab:shell.dropped';
/** Electron only: the preload reports the first listener for an event (queued events then flow). */
export const IPC_LISTEN_CHANNEL = 'mmulab:shell.listening';
/** The browser host's WebSocket path (same origin as the page). */
export const BROWSER_API_PATH = '/api';

/** Electron IPC channels are namespaced so no other channel can reach a handler. */
export const IPC_CHANNEL_PREFIX = 'mmulab:';

/** What the renderer holds: one typed client, whichever host is behind it. */
export interface ApiClient {
  call<M extends ApiMethod>(method: M, params: ApiParams<M>): Promise<ApiResult<M>>;
  on<E extends ApiEventName>(event: E, listener: (payload: ApiEventPayload<E>) => void): () => void;
}
