/**
 * How a session file is named after something else (a scenario, an uploaded file, a capture): a
 * stem of the characters a session id allows (electron/api/contract/common.ts `sessionId`:
 * letters, digits, . _ space -, starting with a letter or digit), then `.mmulab`, numbered -2,
 * -3, … when the folder already holds that name. The host's folder, its uploads, trace imports,
 * captures, the desktop shell's dropped files and `mmu-lab record` all name sessions this way.
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';

/** `name` as a session file's stem (at most 180 characters; `fallback` when nothing is left). */
export function sessionStem(name: string, fallback = 'session'): string {
  return name.replace(/[^A-Za-z0-9._ -]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 180) || fallback;
}

/** A file's base name without its last extension, as a session file's stem. */
export function fileSessionStem(path: string, fallback = 'session'): string {
  return sessionStem(basename(path).replace(/\.[^.]*$/, ''), fallback);
}

/** `<stem>.mmulab`, or the first of `<stem>-2.mmulab`, `<stem>-3.mmulab`, … not yet in `dir`. */
export function freeSessionName(dir: string, stem: string): string {
  let id = `${stem}.mmulab`;
  for (let n = 2; existsSync(join(dir, id)); n++) id = `${stem}-${n}.mmulab`;
  return id;
}
