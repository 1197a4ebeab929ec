/**
 * The timeline's markers (guest faults, TLB flushes, lock waits), drawn when the window is
 * zoomed in far enough that its events can be loaded: grouped by lane, counted, and filtered
 * by the type filter.
 */
import type { SessionEvent } from '../stores/session-store';
import type { LaneMarkers } from './vcpu-exit-track';

/** At most this many events in view get loaded for markers (more: the toolbar says to zoom in). */
export const MARKER_EVENTS = 5000;

/** The markers of each lane ("vm/vcpu") among `events`. */
export function markersByLane(events: readonly SessionEvent[]): Map<string, LaneMarkers> {
  const out = new Map<string, LaneMarkers>();
  for (const e of events) {
    const key = `${e.vm}/${e.vcpu}`;
    let m = out.get(key);
    if (!m) out.set(key, (m = { faults: [], flushes: [], waits: [] }));
    if (e.type === 'guest_fault') m.faults.push(Number(e.t));
    else if (e.type === 'tlb_flush') m.flushes.push(Number(e.t));
    else if (e.type === 'lock_wait') m.waits.push([Number(e.t), Number(e.duration ?? 0)]);
  }
  return out;
}

/** How many of each marker all lanes hold. */
export function countMarkers(markers: Map<string, LaneMarkers> | undefined): { faults: number; flushes: number; waits: number } {
  let faults = 0;
  let flushes = 0;
  let waits = 0;
  for (const m of markers?.values() ?? []) {
    faults += m.faults.length;
    flushes += m.flushes.length;
    waits += m.waits.length;
  }
  return { faults, flushes, waits };
}

/** The markers of the types the type filter shows. */
export function shownMarkers(m: LaneMarkers | undefined, hide: ReadonlySet<string>): LaneMarkers | undefined {
  if (!m || hide.size === 0) return m;
  return { faults: hide.has('guest_fault') ? [] : m.faults, flushes: hide.has('tlb_flush') ? [] : m.flushes, waits: hide.has('lock_wait') ? [] : m.waits };
}
