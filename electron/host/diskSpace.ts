/**
 * The free-space rule of every upload into the sessions folder (trace text, session files):
 * refuse up front, in one sentence, what the disk has no room for, rather than fill it and
 * fail half-way.
 */
import { statfsSync } from 'node:fs';
import { basename } from 'node:path';
import { ApiError } from '../api/contract.ts';

/** Free space an upload must leave beyond what it writes: room for everything else on the disk. */
export const UPLOAD_RESERVE_BYTES = 64 * 1024 * 1024;

export function fmtBytes(bytes: number): string {
  return bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(1)} GB` : `${Math.ceil(bytes / 1024 ** 2)} MB`;
}

/** Bytes free for an unprivileged writer on the disk holding `dir`. */
export function freeBytes(dir: string): number {
  const fs = statfsSync(dir);
  return Number(fs.bavail) * Number(fs.bsize);
}

/**
 * Throw unless the disk of `dir` has `writes` bytes free plus UPLOAD_RESERVE_BYTES; `what` says
 * what the bytes are for ("the trace, the session it becomes").
 */
export function requireFreeSpace(dir: string, fileName: string, writes: number, what: string): void {
  const needed = writes + UPLOAD_RESERVE_BYTES;
  const free = freeBytes(dir);
  if (free < needed)
    throw new ApiError(
      'failed',
      `not enough free disk space for ${basename(fileName).slice(0, 100)}: it needs about ${fmtBytes(needed)} (${what} and a margin) and the sessions folder's disk has ${fmtBytes(free)} free`,
    );
}
