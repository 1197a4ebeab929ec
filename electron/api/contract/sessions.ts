/**
 * Session files: the list, opening one, paging its events, notes, comparing two, exports, and
 * bringing a file in (upload from the page, the desktop's Open dialog).
 *
 * Pure: zod only.
 */
import { z } from 'zod';
import { type CallTable, type EventTable, eventIndex, noParams, ns, sessionId, uploadBegin, uploadChunkData } from './common.ts';

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

/** One side of a comparison. */
const compareSide = z.object({ id: z.string(), scenarioName: z.string(), events: z.number(), simNs: z.number(), exits: z.number(), faults: z.number() });
const compareCell = z.object({ key: z.string(), a: z.number(), b: z.number(), ratio: z.number().nullable() });
export const compareResult = z.object({
  /** The range of simulated time compared in both sessions; absent: the whole runs. */
  range: z.object({ t0: z.number(), t1: z.number() }).optional(),
  a: compareSide,
  b: compareSide,
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

/** A session upload's id: made by the host (`sessions.uploadBegin`), never a path. */
const sessionUploadId = z.string().regex(/^up-[0-9a-f]{16}$/, 'a session upload id is what sessions.uploadBegin returned');
export const sessionUploadStatus = z.object({ uploadId: z.string(), fileName: z.string(), receivedBytes: z.number(), totalBytes: z.number() });

export type SessionSummary = z.output<typeof sessionSummary>;
export type SessionNote = z.output<typeof sessionNote>;
export type CompareResult = z.output<typeof compareResult>;
export type ExportResult = z.output<typeof exportResult>;

export const SESSION_CALLS = {
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
  /**
   * Open a session file the user picked or dropped in the UI: announce its name (the user's own,
   * which names the session) and size, send its bytes with `sessions.uploadChunk`, then
   * `sessions.uploadFinish` checks it with the reader and keeps it in the sessions folder.
   */
  'sessions.uploadBegin': {
    params: uploadBegin,
    result: sessionUploadStatus,
  },
  /** The next chunk of the session file (base64), at `offset` = the bytes sent so far. */
  'sessions.uploadChunk': {
    params: z.strictObject({ uploadId: sessionUploadId, offset: z.number().int().min(0), data: uploadChunkData }),
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
} as const satisfies CallTable;

export const SESSION_EVENTS = {
  'sessions.changed': z.object({}),
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
} as const satisfies EventTable;
