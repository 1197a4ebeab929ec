/**
 * What a timeline draws for its window, loaded from the host: the exits (`sessions.timeline`,
 * one bucket per pixel), every event's density (`sessions.density`) and, zoomed in far enough,
 * the markers (guest faults, TLB flushes, lock waits). A newer window's answer replaces an
 * older one's; an older answer arriving late is dropped.
 */
import { computed, onBeforeUnmount, ref, shallowRef, watch, type Ref } from 'vue';
import type { DensityResult, SessionSummary, TimelineResult } from '../api/contract';
import { toApiError } from '../api/client';
import { OVERVIEW_BUCKETS, useSessionStore } from '../stores/session-store';
import { useViewStore } from '../stores/view-store';
import { MARKER_EVENTS, countMarkers, markersByLane } from '../timeline/lane-markers';
import type { LaneMarkers } from '../timeline/vcpu-exit-track';

type TimeWindow = { t0: number; t1: number };

export function useTimelineData(summary: () => SessionSummary, view: Ref<TimeWindow>, plotWidth: Ref<number>, nsPerPx: Ref<number>) {
  const sessions = useSessionStore();
  const viewState = useViewStore();

  const data = shallowRef<TimelineResult>();
  /** Every event per lane, bucket and type for the same window (drawn under the exits). */
  const density = shallowRef<DensityResult>();
  /** How many buckets `data` was asked for (its time per bucket is its span over them). */
  const dataBuckets = ref(OVERVIEW_BUCKETS);
  const loadError = ref<string>();
  const markers = shallowRef<Map<string, LaneMarkers>>();
  const markerCounts = computed(() => countMarkers(markers.value));

  /** Simulated ns one bucket of the loaded data spans. */
  const bucketNs = computed(() => (data.value ? (data.value.t1 - data.value.t0) / dataBuckets.value : Infinity));
  /**
   * Whether the loaded data may be drawn: its buckets are no wider than a pixel now. Coarser data
   * (the last window's while a zoom-in loads) would draw many exits as one solid bar; it is not
   * drawn, so what is on screen is always exact at the pixel.
   */
  const drawable = computed(() => bucketNs.value <= nsPerPx.value * 1.001 + 1e-9);
  /** Whether the loaded data is of exactly this window (so its counts are the counts in view). */
  const exact = computed(() => !!data.value && Math.abs(data.value.t0 - view.value.t0) < 1 && Math.abs(data.value.t1 - view.value.t1) < 1);
  /** Every event in the window (the density's count), when it is for this window. */
  const eventsInView = computed(() =>
    density.value && Math.abs(density.value.t0 - view.value.t0) < 1 && Math.abs(density.value.t1 - view.value.t1) < 1 ? density.value.lanes.reduce((n, l) => n + l.events, 0) : undefined,
  );
  const exitsInView = computed(() => (exact.value ? data.value?.lanes.reduce((sum, lane) => sum + lane.exits, 0) : undefined));

  let fetchSeq = 0;
  let fetchTimer: ReturnType<typeof setTimeout> | undefined;
  function scheduleFetch(): void {
    clearTimeout(fetchTimer);
    fetchTimer = setTimeout(fetchNow, 25);
  }

  async function fetchNow(): Promise<void> {
    const seq = ++fetchSeq;
    const { t0, t1 } = view.value;
    const id = summary().id;
    try {
      const buckets = Math.round(plotWidth.value);
      const [result, dens] = await Promise.all([sessions.timelineOf(id, t0, t1, buckets), sessions.densityOf(id, t0, t1, Math.min(4000, buckets), [...viewState.hiddenTypes])]);
      if (seq !== fetchSeq) return;
      dataBuckets.value = buckets;
      data.value = result;
      density.value = dens;
      loadError.value = undefined;
      await loadMarkers(seq, t0, t1);
    } catch (error) {
      if (seq !== fetchSeq) return;
      loadError.value = toApiError(error).message;
    }
  }

  async function loadMarkers(seq: number, t0: number, t1: number): Promise<void> {
    if (summary().id !== sessions.current?.id) return;
    // More exits than that in view: more events too, no need to ask.
    if ((data.value?.lanes.reduce((n, l) => n + l.exits, 0) ?? 0) > MARKER_EVENTS) {
      markers.value = undefined;
      return;
    }
    try {
      const got = await sessions.eventsBetween(t0, t1, MARKER_EVENTS);
      if (seq !== fetchSeq) return;
      markers.value = got ? markersByLane(got.events) : undefined;
    } catch {
      // Markers are extra: the exits are drawn without them.
      if (seq === fetchSeq) markers.value = undefined;
    }
  }

  watch(
    summary,
    () => {
      markers.value = undefined;
      dataBuckets.value = OVERVIEW_BUCKETS;
      density.value = undefined;
      data.value = summary().id === sessions.current?.id ? sessions.overview : undefined;
    },
    { immediate: true },
  );
  watch([view, plotWidth, () => viewState.hiddenTypes], scheduleFetch, { immediate: true });
  onBeforeUnmount(() => clearTimeout(fetchTimer));

  return { data, density, loadError, markers, markerCounts, bucketNs, drawable, exact, eventsInView, exitsInView, fetchNow };
}
