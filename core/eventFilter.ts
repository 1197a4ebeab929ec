/**
 * What the event search looks for, and how the timeline's type filter names an event: free text
 * over every field as the JSONL export prints it, a type, an exit reason, part of a handling, an
 * address's 4 KiB page, minus the types hidden on the timeline. Pure, over events as JSON, so the
 * host's search (sessions/search.ts) and the UI (through the API contract) share one definition.
 */

export interface EventFilter {
  /** Free text: an event any of whose field names or values (raw events' text too) contains it, ignoring case. */
  text?: string;
  type?: string;
  reason?: string;
  /** Part of the exit's handling, ignoring case. */
  handling?: string;
  /** A guest-virtual or guest-physical address (hex or decimal): events with a va or gpa in its 4 KiB page. */
  address?: string;
  /** Filter keys (`filterKey`) hidden on the timeline: never matched. */
  hidden?: string[];
}

export type EventJson = Record<string, string | number>;

/**
 * What the timeline's type filter shows or hides an event by: its type, or for an imported trace
 * event the importer kept as `raw`, `raw:` and its tracepoint name (each raw name on its own).
 */
export function filterKey(e: { type: string; name?: unknown }): string {
  return e.type === 'raw' && typeof e.name === 'string' ? `raw:${e.name}` : e.type;
}

/** Whether the type filter's `hidden` keys hide this event: its type (all raw events with `raw`), or its raw name. */
export function isHidden(hidden: ReadonlySet<string>, e: { type: string; name?: unknown }): boolean {
  return hidden.has(e.type) || (e.type === 'raw' && hidden.has(filterKey(e)));
}

/** Whether the filter has something to look for (hiding types alone does not make a search). */
export function isEmptyFilter(f: EventFilter): boolean {
  return !f.type && !f.reason && !f.handling?.trim() && !f.address?.trim() && !f.text?.trim();
}

/** The address as a 4 KiB page number, or undefined when it is not an address. */
export function pageOf(text: string | number | undefined): bigint | undefined {
  if (text === undefined) return undefined;
  const s = String(text).trim().toLowerCase();
  if (!/^(0x[0-9a-f]+|\d+)$/.test(s)) return undefined;
  return BigInt(s) >> 12n;
}

/** A predicate over events as JSON (the export's shape); address text that is not an address matches nothing. */
export function jsonMatcher(f: EventFilter): (e: EventJson) => boolean {
  const page = f.address?.trim() ? pageOf(f.address) : undefined;
  const badAddress = !!f.address?.trim() && page === undefined;
  const handling = f.handling?.trim().toLowerCase();
  const text = f.text?.trim().toLowerCase();
  const hidden = new Set(f.hidden ?? []);
  return (e) => {
    if (badAddress) return false;
    if (hidden.size && isHidden(hidden, { type: String(e.type), name: e.name })) return false;
    if (f.type && e.type !== f.type) return false;
    if (f.reason && e.reason !== f.reason) return false;
    if (handling && !String(e.handling ?? '').toLowerCase().includes(handling)) return false;
    if (page !== undefined && pageOf(e.va) !== page && pageOf(e.gpa) !== page) return false;
    if (text && !Object.entries(e).some(([k, v]) => k.toLowerCase().includes(text) || String(v).toLowerCase().includes(text))) return false;
    return true;
  };
}

