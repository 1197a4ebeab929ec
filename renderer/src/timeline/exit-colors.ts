/**
 * Colours of exit reasons and handlings in the app: one set per open session (core/palette.ts,
 * the same rule as the reports), so no two reasons on screen share a colour. The usual reasons
 * keep their colour from session to session; a reason seen for the first time (the compared
 * session's) takes a free one, and the others keep theirs.
 */
import { addKey, keyColours } from '../api/contract';

let reasons = new Map<string, string>();
let handlings = new Map<string, string>();
let types = new Map<string, string>();

/** A session was opened: its reasons, most frequent first, get their colours. */
export function colourSession(exitsByReason: Record<string, number>): void {
  reasons = keyColours(
    Object.entries(exitsByReason)
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .map(([r]) => r),
  );
  handlings = new Map();
  types = new Map();
}

export function exitColor(reason: string): string {
  return addKey(reasons, reason);
}

export function handlingColor(handling: string): string {
  return addKey(handlings, handling, {});
}

/** Event types (the lanes' density of all events) have colours of their own set. */
export function typeColor(type: string): string {
  return addKey(types, type, {});
}
