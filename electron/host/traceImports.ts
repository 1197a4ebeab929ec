/**
 * Trace imports through the API (`traces.*`): the UI uploads the trace text in chunks (the
 * renderer never sends a path: in the browser the file is the user's upload; Electron's
 * drop/menu path goes through shellFiles.importTraceFile instead), then the host imports it into
 * a new session in the sessions folder, pushing `traces.progress` events, and can cancel either
 * step. Uploads live under `<sessions>/.imports/<importId>.trace` (a name the host makes), are
 * written strictly in order, never beyond the size announced, and are removed when the import
 * ends, fails or is cancelled. A cancelled import keeps nothing.
 *
 * An upload holds one of MAX_ACTIVE_IMPORTS slots and disk space, so: `begin` refuses a trace
 * the disk has no room for (fs.statfs, with what other uploads still have to write), and an
 * upload is cancelled at once when its client goes away (its WebSocket closes, or a POSTed
 * chunk's request is aborted) instead of holding its slot until STALE_UPLOAD_MS.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ApiError, type TraceImportStatus } from '../api/contract.ts';
import { ImportError } from '../../sessions/import/index.ts';
import { importAnyTrace } from '../../sessions/tracedat/source.ts';
import { requireFreeSpace } from './diskSpace.ts';
import { fileSessionStem, freeSessionName } from '../../sessions/sessionNames.ts';

/** At most this many imports (uploading or importing) at once: each holds a file on disk. */
export const MAX_ACTIVE_IMPORTS = 4;
/** An upload that has not moved for this long was abandoned (a closed tab): it is cancelled. */
export const STALE_UPLOAD_MS = 10 * 60_000;
/** Ended imports remembered for `traces.cancel` / late questions. */
const KEEP_ENDED = 50;
/** The upload counts for this share of the progress bar; the import's two passes for the rest. */
const UPLOAD_SHARE = 0.3;

interface Entry {
  status: TraceImportStatus;
  path: string;
  fd?: number;
  abort?: AbortController;
  lastEmit: number;
  /** Last upload activity (ms), to find abandoned uploads. */
  touched: number;
  /** The connection that began it (a WebSocket); when it goes away, so does the upload. */
  owner?: object;
}

export interface TraceImportsOptions {
  sessionsDir: string;
  emit: (status: TraceImportStatus) => void;
  /** A new session is in the folder. */
  onSession: (id: string) => void;
  progressIntervalMs?: number;
}

/** A session id (file name) not yet taken in the folder, made from the uploaded file's name. */
export function sessionIdFor(sessionsDir: string, fileName: string): string {
  return freeSessionName(sessionsDir, fileSessionStem(fileName, 'trace'));
}

export class TraceImports {
  private readonly entries = new Map<string, Entry>();
  private readonly dir: string;

  constructor(private readonly options: TraceImportsOptions) {
    this.dir = join(options.sessionsDir, '.imports');
  }

  private get active(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.status.state === 'uploading' || e.status.state === 'importing') n++;
    return n;
  }

  private entry(importId: string): Entry {
    const e = this.entries.get(importId);
    if (!e) throw new ApiError('not-found', `no trace import "${importId}"`);
    return e;
  }

  private publish(e: Entry, force = false): TraceImportStatus {
    const now = Date.now();
    if (force || now - e.lastEmit >= (this.options.progressIntervalMs ?? 100)) {
      e.lastEmit = now;
      this.options.emit({ ...e.status });
    }
    return { ...e.status };
  }

  /** Cancel abandoned uploads and forget old ended imports, so neither holds a slot or memory. */
  private sweep(now: number): void {
    for (const e of this.entries.values())
      if (e.status.state === 'uploading' && now - e.touched > STALE_UPLOAD_MS) this.finish(e, 'cancelled', `upload of ${e.status.fileName} abandoned; nothing kept`);
    const ended = [...this.entries.values()].filter((e) => e.status.state === 'done' || e.status.state === 'failed' || e.status.state === 'cancelled');
    for (const e of ended.slice(0, Math.max(0, ended.length - KEEP_ENDED))) this.entries.delete(e.status.importId);
  }

  /**
   * Start an upload of `sizeBytes` bytes of trace text named `fileName` (the name only names the
   * session). `owner` is the connection it came on, if it has one (see `clientGone`).
   */
  begin(fileName: string, sizeBytes: number, now = Date.now(), owner?: object): TraceImportStatus {
    this.sweep(now);
    if (this.active >= MAX_ACTIVE_IMPORTS) throw new ApiError('failed', `${MAX_ACTIVE_IMPORTS} trace imports are already under way; wait for one to end`);
    // The trace, the session it becomes (at most its size), what other uploads still have to write, and a margin.
    let pending = 0;
    for (const e of this.entries.values()) if (e.status.state === 'uploading') pending += e.status.totalBytes - e.status.receivedBytes;
    requireFreeSpace(this.options.sessionsDir, fileName, 2 * sizeBytes + pending, 'the trace, the session it becomes');
    mkdirSync(this.dir, { recursive: true });
    const importId = `imp-${randomBytes(8).toString('hex')}`;
    const path = join(this.dir, `${importId}.trace`);
    const fd = openSync(path, 'wx', 0o600);
    const status: TraceImportStatus = { importId, fileName: basename(fileName).slice(0, 255), state: 'uploading', receivedBytes: 0, totalBytes: sizeBytes, fraction: 0, lines: 0 };
    this.entries.set(importId, { status, path, fd, lastEmit: 0, touched: now, ...(owner ? { owner } : {}) });
    return { ...status };
  }

  /** A connection closed: cancel the uploads it began and has not finished (their slots free at once). */
  clientGone(owner: object): void {
    for (const e of this.entries.values())
      if (e.owner === owner && e.status.state === 'uploading') this.finish(e, 'cancelled', `upload of ${e.status.fileName} abandoned: the client went away; nothing kept`);
  }

  /** A POSTed chunk's request was aborted before its body arrived: its upload cannot go on. */
  requestAborted(importId: string): void {
    const e = this.entries.get(importId);
    if (e?.status.state === 'uploading') this.finish(e, 'cancelled', `upload of ${e.status.fileName} abandoned: the client went away mid-chunk; nothing kept`);
  }

  /** Append the next chunk (base64) at `offset`, which must be where the last chunk ended. */
  upload(importId: string, offset: number, data: string): TraceImportStatus {
    const e = this.entry(importId);
    if (e.status.state !== 'uploading' || e.fd === undefined) throw new ApiError('bad-request', `trace import ${importId} is ${e.status.state}, not uploading`);
    if (offset !== e.status.receivedBytes) throw new ApiError('bad-request', `traces.upload: params.offset is ${offset}; the upload has ${e.status.receivedBytes} bytes so far`);
    const bytes = Buffer.from(data, 'base64');
    if (e.status.receivedBytes + bytes.length > e.status.totalBytes)
      throw new ApiError('bad-request', `traces.upload: more bytes than the ${e.status.totalBytes} announced`);
    let off = 0;
    try {
      while (off < bytes.length) off += writeSync(e.fd, bytes, off, bytes.length - off);
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'error';
      const why = code === 'ENOSPC' ? 'the disk is full' : `writing it failed (${code})`;
      this.finish(e, 'failed', `upload of ${e.status.fileName} stopped: ${why}; nothing kept`);
      throw new ApiError('failed', `trace import ${importId}: ${why}; nothing kept`);
    }
    e.status.receivedBytes += bytes.length;
    e.touched = Date.now();
    e.status.fraction = e.status.totalBytes ? (UPLOAD_SHARE * e.status.receivedBytes) / e.status.totalBytes : UPLOAD_SHARE;
    return this.publish(e);
  }

  /** Import the uploaded text into a new session; progress and the end come as `traces.progress` events. */
  start(importId: string): TraceImportStatus {
    const e = this.entry(importId);
    if (e.status.state !== 'uploading' || e.fd === undefined) throw new ApiError('bad-request', `trace import ${importId} is ${e.status.state}, not uploaded`);
    const size = fstatSync(e.fd).size;
    closeSync(e.fd);
    e.fd = undefined;
    if (size !== e.status.totalBytes) {
      this.finish(e, 'failed', `the upload has ${size} of the ${e.status.totalBytes} bytes announced`);
      throw new ApiError('bad-request', `trace import ${importId}: the upload has ${size} of the ${e.status.totalBytes} bytes announced`);
    }
    e.status.state = 'importing';
    e.status.fraction = UPLOAD_SHARE;
    e.abort = new AbortController();
    const sessionId = sessionIdFor(this.options.sessionsDir, e.status.fileName);
    const out = join(this.options.sessionsDir, sessionId);
    void this.run(e, out, sessionId);
    return this.publish(e, true);
  }

  private async run(e: Entry, out: string, sessionId: string): Promise<void> {
    try {
      const r = await importAnyTrace(e.path, out, {
        // the session is titled with the user's file name, not the upload's temporary one
        sourceName: e.status.fileName,
        signal: e.abort!.signal,
        onProgress: (p) => {
          e.status.fraction = UPLOAD_SHARE + (1 - UPLOAD_SHARE) * p.fraction;
          e.status.lines = p.lines;
          this.publish(e);
        },
      });
      e.status.lines = r.lines;
      if (r.cancelled) {
        rmSync(out, { force: true });
        this.finish(e, 'cancelled', `import of ${e.status.fileName} cancelled; nothing kept`);
      } else if (!r.ok) this.finish(e, 'failed', r.message);
      else {
        e.status.sessionId = sessionId;
        this.options.onSession(sessionId);
        this.finish(e, 'done', r.message);
      }
    } catch (error) {
      rmSync(out, { force: true });
      this.finish(e, 'failed', error instanceof ImportError ? error.message : `import failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
    }
  }

  private finish(e: Entry, state: 'done' | 'failed' | 'cancelled', message: string): void {
    if (e.fd !== undefined) {
      closeSync(e.fd);
      e.fd = undefined;
    }
    rmSync(e.path, { force: true });
    e.status.state = state;
    e.status.message = message;
    if (state === 'done') e.status.fraction = 1;
    this.publish(e, true);
  }

  /** Stop an upload or an import; nothing of it is kept. */
  cancel(importId: string): TraceImportStatus {
    const e = this.entry(importId);
    if (e.status.state === 'uploading') this.finish(e, 'cancelled', `upload of ${e.status.fileName} cancelled; nothing kept`);
    else if (e.status.state === 'importing') e.abort?.abort(); // run() reports the end
    return { ...e.status };
  }

  status(importId: string): TraceImportStatus {
    return { ...this.entry(importId).status };
  }

  /** The host is closing: stop everything, leave no upload behind. */
  close(): void {
    for (const e of this.entries.values()) {
      if (e.status.state === 'uploading') this.finish(e, 'cancelled', 'the host closed');
      else e.abort?.abort();
    }
  }
}
