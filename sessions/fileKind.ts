/**
 * What a path that is not a regular file is, in words. Sessions and traces are read from regular
 * files only: opening a named pipe for reading blocks until a writer appears, and a device may
 * never end, so every reader checks with `stat` (which never blocks) before it opens.
 */
import type { Stats } from 'node:fs';

/** 'a folder', 'a named pipe', ... for anything but a regular file; undefined for a regular file. */
export function nonRegularKind(st: Stats): string | undefined {
  if (st.isFile()) return undefined;
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a named pipe';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** The one sentence for a path that is not a regular file: `what` is 'session file', 'trace file', ... */
export function notRegularMessage(path: string, kind: string, what: string, verb: string): string {
  return `${path} is ${kind}, not a ${what}; MMU Lab ${verb} regular files only.`;
}
