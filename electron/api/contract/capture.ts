/**
 * Real KVM traces into sessions: recording this host's KVM live (capture) and importing a trace
 * file the user uploads (trace-cmd report, ftrace, perf script, trace.dat).
 *
 * Pure: zod only.
 */
import { z } from 'zod';
import { type CallTable, type EventTable, noParams, uploadBegin, uploadChunkData } from './common.ts';

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

export type CaptureStatus = z.output<typeof captureStatus>;
export type TraceImportStatus = z.output<typeof traceImportStatus>;

export const CAPTURE_CALLS = {
  /** Start importing a KVM trace text (trace-cmd report, ftrace, perf script): announce its name and size. */
  'traces.begin': {
    params: uploadBegin,
    result: traceImportStatus,
  },
  /** The next chunk of the trace text (base64), at `offset` = the bytes sent so far. */
  'traces.upload': {
    params: z.strictObject({ importId: traceImportId, offset: z.number().int().min(0), data: uploadChunkData }),
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
} as const satisfies CallTable;

export const CAPTURE_EVENTS = {
  /** A trace import moved on (at most ~10 a second), or ended (`done` with its session, `failed`, `cancelled`). */
  'traces.progress': traceImportStatus,
  /** A capture recorded more (about twice a second), or ended. */
  'capture.progress': captureStatus,
} as const satisfies EventTable;
