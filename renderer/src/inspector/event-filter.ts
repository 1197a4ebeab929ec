/**
 * The inspector's search: which events match a filter by type, exit reason, handling and
 * address (va or gpa), and which events are related to one (its exit's episode: the exit, the
 * guest pte write it emulated, the spte writes it produced).
 */
import type { SessionEvent } from '../stores/session-store';

export interface EventFilter {
  type?: string;
  reason?: string;
  handling?: string;
  /** A guest-virtual or guest-physical address (hex or decimal); matches the same 4 KiB page. */
  address?: string;
  /** Free text: matches an event any of whose fields (names or values, raw events' text too) contains it, ignoring case. */
  text?: string;
}

/** The address as a 4 KiB page number, or undefined when it is not an address. */
export function pageOf(text: string | number | undefined): bigint | undefined {
  if (text === undefined) return undefined;
  const s = String(text).trim().toLowerCase();
  if (!/^(0x[0-9a-f]+|\d+)$/.test(s)) return undefined;
  return BigInt(s) >> 12n;
}

export function isEmptyFilter(f: EventFilter): boolean {
  return !f.type && !f.reason && !f.handling && !f.address?.trim() && !f.text?.trim();
}

/** A predicate for the filter; address text that is not an address matches nothing. */
export function matcher(f: EventFilter): (e: SessionEvent) => boolean {
  const page = f.address?.trim() ? pageOf(f.address) : undefined;
  const badAddress = !!f.address?.trim() && page === undefined;
  const handling = f.handling?.trim().toLowerCase();
  const text = f.text?.trim().toLowerCase();
  return (e) => {
    if (badAddress) return false;
    if (text && !Object.entries(e).some(([k, v]) => k.toLowerCase().includes(text) || String(v).toLowerCase().includes(text))) return false;
    if (f.type && e.type !== f.type) return false;
    if (f.reason && e.reason !== f.reason) return false;
    if (handling && !String(e.handling ?? '').toLowerCase().includes(handling)) return false;
    if (page !== undefined && pageOf(e.va) !== page && pageOf(e.gpa) !== page) return false;
    return true;
  };
}

export interface Related {
  index: number;
  event: SessionEvent;
  /** How it relates to the event asked about. */
  role: 'the exit' | 'guest pte write that caused the exit' | 'guest pte write' | 'spte write it produced' | 'guest fault' | 'other';
}

/**
 * The episode of the exit an event belongs to, on the event's vCPU: from the last vmexit at or
 * before it to just before the next vmexit. `events[i]` is event `from + i`. The guest pte
 * write whose entry address is the exit's gpa is the one that caused it (an emulated write).
 */
export function relatedEvents(events: readonly SessionEvent[], from: number, index: number): Related[] {
  const at = index - from;
  const self = events[at];
  if (!self) return [];
  const same = (e: SessionEvent) => e.vm === self.vm && e.vcpu === self.vcpu;
  let start = -1;
  for (let i = at; i >= 0; i--) {
    const e = events[i]!;
    if (same(e) && e.type === 'vmexit') {
      start = i;
      break;
    }
  }
  if (start < 0) return [];
  const exit = events[start]!;
  const out: Related[] = [{ index: from + start, event: exit, role: 'the exit' }];
  for (let i = start + 1; i < events.length; i++) {
    const e = events[i]!;
    if (!same(e)) continue;
    if (e.type === 'vmexit') break;
    let role: Related['role'] = 'other';
    if (e.type === 'gpte_write') role = exit.gpa !== undefined && e.gpa === exit.gpa ? 'guest pte write that caused the exit' : 'guest pte write';
    else if (e.type === 'spte_write') role = 'spte write it produced';
    else if (e.type === 'guest_fault') role = 'guest fault';
    out.push({ index: from + i, event: e, role });
  }
  return out;
}
