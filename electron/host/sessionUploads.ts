/**
 * Sessions the user opens from the UI (`sessions.upload*`): Open session… and a `.mmulab`
 * dropped on the window. The renderer never sends a path (in the browser there is none, only
 * the File); it uploads the file's bytes in chunks, and the host checks the result with the
 * reader before it keeps anything. The upload is written under `<sessions>/.uploads/` (a name
 * the host makes), then renamed into the sessions folder under the user's own file name (made
 * free with -2, -3... when taken), so the list shows what the user picked, never a temp name.
 * A failed check or a cancel keeps nothing. Like trace uploads (traceImports.ts), `begin` checks
 * free space first, a full disk fails the upload cleanly, and an upload whose client goes away
 * (its WebSocket closes) is dropped at once so it does not hold a slot.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, linkSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ApiError } from '../api/contract.ts';
import { requireFreeSpace } from './diskSpace.ts';
import { openSession } from '../../sessions/reader.ts';
import { sessionIdFor } from './traceImports.ts';

/** At most this many uploads at once (each holds a file on disk). */
export const MAX_ACTIVE_UPLOADS = 4;
/** An upload that has not moved for this long was abandoned (a closed tab): it is dropped. */
export const STALE_SESSION_UPLOAD_MS = 10 * 60_000;

interface Upload {
  uploadId: string;
  fileName: string;
  path: string;
  fd: number;
  received: number;
  total: number;
  touched: number;
  /** The connection that began it, if any. */
  owner?: object;
}

export interface SessionUploadStatus {
  uploadId: string;
  fileName: string;
  receivedBytes: number;
  totalBytes: number;
}

export class SessionUploads {
  private readonly uploads = new Map<string, Upload>();
  private readonly dir: string;

  constructor(
    private readonly sessionsDir: string,
    /** A new session is in the folder (the list changed). */
    private readonly onSession: (id: string) => void,
  ) {
    this.dir = join(sessionsDir, '.uploads');
  }

  private status(u: Upload): SessionUploadStatus {
    return { uploadId: u.uploadId, fileName: u.fileName, receivedBytes: u.received, totalBytes: u.total };
  }

  private get(uploadId: string): Upload {
    const u = this.uploads.get(uploadId);
    if (!u) throw new ApiError('not-found', `no session upload "${uploadId}"`);
    return u;
  }

  private drop(u: Upload): void {
    try {
      closeSync(u.fd);
    } catch {
      // already closed
    }
    rmSync(u.path, { force: true });
    this.uploads.delete(u.uploadId);
  }

  /** Start an upload of `sizeBytes` bytes; `fileName` (the user's) names the session. */
  begin(fileName: string, sizeBytes: number, now = Date.now(), owner?: object): SessionUploadStatus {
    for (const u of [...this.uploads.values()]) if (now - u.touched > STALE_SESSION_UPLOAD_MS) this.drop(u);
    if (!/\.mmulab$/i.test(fileName)) throw new ApiError('bad-request', `${fileName.slice(0, 200)} is not a session file (.mmulab)`);
    if (this.uploads.size >= MAX_ACTIVE_UPLOADS) throw new ApiError('failed', `${MAX_ACTIVE_UPLOADS} sessions are already being opened; wait for one to end`);
    // the file is linked into the folder, not copied: its own size, plus what other uploads still write
    let pending = 0;
    for (const u of this.uploads.values()) pending += u.total - u.received;
    requireFreeSpace(this.sessionsDir, fileName, sizeBytes + pending, 'the session file');
    mkdirSync(this.dir, { recursive: true });
    const uploadId = `up-${randomBytes(8).toString('hex')}`;
    const path = join(this.dir, `${uploadId}.mmulab`);
    const fd = openSync(path, 'wx', 0o600);
    const name = fileName.split(/[\\/]/).pop()!.slice(0, 255);
    const u: Upload = { uploadId, fileName: name, path, fd, received: 0, total: sizeBytes, touched: now, ...(owner ? { owner } : {}) };
    this.uploads.set(uploadId, u);
    return this.status(u);
  }

  /** Append the next chunk (base64) at `offset`, which must be where the last one ended. */
  chunk(uploadId: string, offset: number, data: string): SessionUploadStatus {
    const u = this.get(uploadId);
    if (offset !== u.received) throw new ApiError('bad-request', `sessions.uploadChunk: params.offset is ${offset}; the upload has ${u.received} bytes so far`);
    const bytes = Buffer.from(data, 'base64');
    if (u.received + bytes.length > u.total) throw new ApiError('bad-request', `sessions.uploadChunk: more bytes than the ${u.total} announced`);
    let off = 0;
    try {
      while (off < bytes.length) off += writeSync(u.fd, bytes, off, bytes.length - off);
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'error';
      this.drop(u);
      throw new ApiError('failed', `${u.fileName}: ${code === 'ENOSPC' ? 'the disk is full' : `writing it failed (${code})`}; nothing kept`);
    }
    u.received += bytes.length;
    u.touched = Date.now();
    return this.status(u);
  }

  /**
   * Check the uploaded file with the reader and move it into the sessions folder under the
   * user's file name. Returns the new session id. A file that is not a readable session is
   * refused with the reader's first error and nothing is kept.
   */
  finish(uploadId: string): { sessionId: string } {
    const u = this.get(uploadId);
    const size = fstatSync(u.fd).size;
    closeSync(u.fd);
    try {
      if (size !== u.total) throw new ApiError('bad-request', `${u.fileName}: the upload has ${size} of the ${u.total} bytes announced`);
      const { session, diagnostics } = openSession(u.path);
      if (!session) {
        const first = diagnostics.find((d) => d.severity === 'error') ?? diagnostics[0];
        throw new ApiError('bad-session', `${u.fileName} is not a readable session${first ? `: ${first.message}` : ''}`);
      }
      // link + unlink: never replaces a session that appeared under the same name meanwhile.
      for (;;) {
        const id = sessionIdFor(this.sessionsDir, u.fileName);
        try {
          linkSync(u.path, join(this.sessionsDir, id));
        } catch (error) {
          if ((error as { code?: string }).code === 'EEXIST') continue;
          throw new ApiError('failed', `could not keep ${u.fileName} in the sessions folder (${(error as { code?: string }).code ?? String(error)})`);
        }
        this.onSession(id);
        return { sessionId: id };
      }
    } finally {
      rmSync(u.path, { force: true });
      this.uploads.delete(u.uploadId);
    }
  }

  /** Stop an upload; nothing of it is kept. */
  cancel(uploadId: string): { cancelled: boolean } {
    const u = this.uploads.get(uploadId);
    if (!u) return { cancelled: false };
    this.drop(u);
    return { cancelled: true };
  }

  /** A connection closed: drop the uploads it began (their slots free at once). */
  clientGone(owner: object): void {
    for (const u of [...this.uploads.values()]) if (u.owner === owner) this.drop(u);
  }

  /** A POSTed chunk's request was aborted before its body arrived: its upload cannot go on. */
  requestAborted(uploadId: string): void {
    const u = this.uploads.get(uploadId);
    if (u) this.drop(u);
  }

  /** The host is closing: leave no upload behind. */
  close(): void {
    for (const u of [...this.uploads.values()]) this.drop(u);
  }
}
