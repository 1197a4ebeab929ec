/**
 * The time window a timeline shows, in simulated ns: kept inside the run and at least MIN_SPAN
 * wide, shared through the view store (every timeline on screen, compare's two included, shows
 * the same window), and the zoom, pan and reset that move it.
 */
import { computed, type Ref } from 'vue';
import type { SessionSummary } from '../api/contract';
import { useCursorStore } from '../stores/cursor-store';
import { useViewStore } from '../stores/view-store';
import { eventWindow } from '../timeline/event-window';
import { xToTime, type TimeScale } from '../timeline/track';

/** The narrowest window, in simulated ns. */
export const MIN_SPAN = 20;

/** `summary`: the run shown; the plot starts at x = `x0` and is `plotWidth` pixels wide. */
export function useTimeWindow(summary: () => SessionSummary, x0: number, plotWidth: Ref<number>) {
  const viewState = useViewStore();
  const cursor = useCursorStore();

  function fullWindow(): { t0: number; t1: number } {
    const s = summary();
    return { t0: s.startNs, t1: Math.max(s.startNs + MIN_SPAN, s.endNs + 1) };
  }

  /** The window [t0, t1] kept inside this run and at least MIN_SPAN wide. */
  function clampWindow(t0: number, t1: number): { t0: number; t1: number } {
    const full = fullWindow();
    const fullSpan = full.t1 - full.t0;
    let span = Math.min(fullSpan, Math.max(MIN_SPAN, t1 - t0));
    if (!Number.isFinite(span)) span = fullSpan;
    let start = Math.min(Math.max(full.t0, t0), full.t1 - span);
    if (!Number.isFinite(start)) start = full.t0;
    return { t0: start, t1: start + span };
  }

  const view = computed(() => (viewState.timeWindow ? clampWindow(viewState.timeWindow.t0, viewState.timeWindow.t1) : fullWindow()));
  const scale = computed<TimeScale>(() => ({ t0: view.value.t0, t1: view.value.t1, x0, width: plotWidth.value }));
  /** Simulated ns one pixel of the plot stands for now. */
  const nsPerPx = computed(() => (view.value.t1 - view.value.t0) / plotWidth.value);
  const zoomed = computed(() => view.value.t0 > summary().startNs || view.value.t1 < summary().endNs + 1);

  /** Every timeline on screen shares the view store's window (compare keeps two in step). */
  function setView(t0: number, t1: number): void {
    viewState.setWindow(clampWindow(t0, t1));
  }

  function zoom(factor: number, atX = x0 + plotWidth.value / 2): void {
    const { t0, t1 } = view.value;
    const anchor = xToTime(scale.value, atX);
    setView(anchor - (anchor - t0) * factor, anchor + (t1 - anchor) * factor);
  }

  function pan(fraction: number): void {
    const span = view.value.t1 - view.value.t0;
    setView(view.value.t0 + span * fraction, view.value.t1 + span * fraction);
  }

  function reset(): void {
    viewState.setWindow(undefined);
  }

  /**
   * Zoom to the current event (E): the event whole, with the events just before and after it on
   * its own lane in view too (an exit is often a few ns from what caused it and what it did), and a
   * margin each side.
   */
  function zoomToEvent(): void {
    const w = eventWindow(cursor.current, cursor.page, MIN_SPAN);
    if (w) setView(w.t0, w.t1);
  }

  /** Zoom the view to the selection (Z). */
  function zoomToSelection(): void {
    const sel = viewState.selection;
    if (sel) setView(sel.t0, sel.t1);
  }

  return { view, scale, nsPerPx, zoomed, setView, zoom, pan, reset, zoomToEvent, zoomToSelection };
}
