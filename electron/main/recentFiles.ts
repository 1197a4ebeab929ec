/** The recent-files list (recent.json: a JSON array of paths, newest first), read defensively. Electron-free, so it is tested directly. */
export const MAX_RECENT = 10;

/** The paths in a saved list; a damaged or hand-edited file gives what can be used of it, or none. */
export function parseRecentList(text: string): string[] {
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch {
    return [];
  }
  return Array.isArray(list) ? list.filter((p): p is string => typeof p === 'string').slice(0, MAX_RECENT) : [];
}
