/**
 * "Zoom to event": the window that shows an event whole with its neighbours on its own lane (an
 * exit is often a few ns from what caused it and what it did), and a margin each side.
 */
import type { EventWindow, SessionEvent } from '../stores/session-store';

export function eventWindow(e: SessionEvent | undefined, page: EventWindow | undefined, minSpan: number): { t0: number; t1: number } | undefined {
  if (!e) return undefined;
  const t = Number(e.t);
  const end = t + Math.max(0, Number(e.duration ?? 0));
  let t0 = t;
  let t1 = end;
  if (page && page.focus >= 0) {
    const sameLane = (x: SessionEvent) => x.vm === e.vm && x.vcpu === e.vcpu;
    for (let i = page.focus - 1; i >= 0; i--)
      if (sameLane(page.events[i]!)) {
        t0 = Math.min(t0, Number(page.events[i]!.t));
        break;
      }
    for (let i = page.focus + 1; i < page.events.length; i++)
      if (sameLane(page.events[i]!)) {
        const n = page.events[i]!;
        t1 = Math.max(t1, Number(n.t) + Number(n.duration ?? 0));
        break;
      }
  }
  const span = Math.max(minSpan, t1 - t0, 4 * (end - t));
  const mid = (t0 + t1) / 2;
  return { t0: mid - 0.6 * span, t1: mid + 0.6 * span };
}
