/**
 * Which events are related to one (its exit's episode: the exit, the guest pte write it
 * emulated, the spte writes it produced). The search itself runs in the host (sessions/search.ts).
 */
import type { SessionEvent } from '../stores/session-store';

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
