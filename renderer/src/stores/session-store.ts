/**
 * Sessions: the list in the host's sessions folder, the open session's summary and its
 * whole-run timeline overview, and the queries the views make of the open session.
 * A thin façade over the API: it holds what the views show and nothing they can derive.
 */
import { defineStore } from 'pinia';
import { computed, markRaw, ref, shallowRef } from 'vue';
import type { ApiParams, ApiResult, CompareResult, DensityResult, CountersResult, DiffResult, EventFilter, ExportResult, PageTablesResult, SessionNote, SessionSummary, TimelineResult } from '../api/contract';
import { api } from '../api/api';
import { useLongQuery } from '../api/long-query';
import { toApiError } from '../api/client';
import { useNoticeStore } from './notice-store';
import type { TimeRange } from './view-store';

export type SessionListItem = ApiResult<'sessions.list'>[number];
export type SessionEvent = ApiResult<'sessions.events'>['events'][number];
export type ExportFormat = ApiParams<'sessions.export'>['format'];
type LoadState = 'idle' | 'loading' | 'ready' | 'error';

/** How many events one lookup page fetches while locating a time in the event order. */
export const LOCATE_PAGE = 256;
/** Buckets of the whole-run overview (the exit count comes from its lanes, not from the buckets). */
export const OVERVIEW_BUCKETS = 1000;

export interface EventWindow {
  /** Index (in the session's canonical order) of `events[0]`. */
  from: number;
  events: SessionEvent[];
  /** Index into `events` of the last event at or before the time asked for (-1 when none). */
  focus: number;
  total: number;
}

export const useSessionStore = defineStore('session', () => {
  const list = ref<SessionListItem[]>([]);
  const listState = ref<LoadState>('idle');
  const listError = ref<string>();

  const openingId = ref<string>();
  const openState = ref<'none' | 'opening' | 'open' | 'error'>('none');
  const openError = ref<string>();
  const current = shallowRef<SessionSummary>();
  const overview = shallowRef<TimelineResult>();
  let openSeq = 0;
  /**
   * The whole-run overview's query: a file without summaries (an older file, a killed recording)
   * builds them in it, which can take seconds; its progress and Cancel (query-progress.vue).
   */
  const overviewQuery = markRaw(useLongQuery());

  /** Exits on the timeline over the whole run: the sum of every lane's exit count. */
  const exitCount = computed(() => overview.value?.lanes.reduce((sum, lane) => sum + lane.exits, 0));
  const durationNs = computed(() => (current.value ? current.value.endNs - current.value.startNs : 0));

  async function refreshList(): Promise<void> {
    listState.value = 'loading';
    try {
      list.value = [...(await api().call('sessions.list', {}))].sort((a, b) => b.modifiedMs - a.modifiedMs);
      listState.value = 'ready';
      listError.value = undefined;
    } catch (error) {
      listState.value = 'error';
      listError.value = toApiError(error).message;
    }
  }

  /** Open a session: its summary, then its whole-run timeline. A later open wins over an earlier one. */
  async function open(id: string): Promise<boolean> {
    const seq = ++openSeq;
    openingId.value = id;
    openState.value = 'opening';
    openError.value = undefined;
    try {
      const summary = await api().call('sessions.open', { id });
      if (overviewQuery.running()) void overviewQuery.cancel();
      const whole = await overviewQuery.run((queryId) =>
        api().call('sessions.timeline', {
          id,
          t0: summary.startNs,
          // The end is exclusive on the host side; one ns more takes in an exit at the very end.
          t1: summary.endNs + 1,
          buckets: OVERVIEW_BUCKETS,
          queryId,
        }),
      );
      if (seq !== openSeq) return false;
      if (!whole) {
        // cancelled: the session shown before (if any) stays
        openState.value = current.value ? 'open' : 'none';
        openingId.value = undefined;
        return false;
      }
      if (current.value?.id !== summary.id) closeCompare();
      notes.value = [];
      current.value = summary;
      overview.value = whole;
      openState.value = 'open';
      return true;
    } catch (error) {
      if (seq !== openSeq) return false;
      current.value = undefined;
      overview.value = undefined;
      openState.value = 'error';
      openError.value = toApiError(error).message;
      return false;
    }
  }

  function close(): void {
    openSeq++;
    if (overviewQuery.running()) void overviewQuery.cancel();
    closeCompare();
    openingId.value = undefined;
    current.value = undefined;
    overview.value = undefined;
    openState.value = 'none';
    openError.value = undefined;
  }

  function requireOpen(): SessionSummary {
    if (!current.value) throw new Error('No session is open.');
    return current.value;
  }

  /** Exits per lane in [t0, t1), merged to at most `buckets` slices per lane (one per pixel). */
  function timeline(t0: number, t1: number, buckets: number): Promise<TimelineResult> {
    return timelineOf(requireOpen().id, t0, t1, buckets);
  }

  /** The same for any session (the compare view's second timeline). */
  function timelineOf(id: string, t0: number, t1: number, buckets: number): Promise<TimelineResult> {
    return api().call('sessions.timeline', {
      id,
      t0: Math.max(0, t0),
      t1: Math.max(Math.max(0, t0) + 1, t1),
      buckets: Math.max(1, Math.min(20_000, Math.round(buckets))),
    });
  }

  /** Every event of each lane per bucket and type in [t0, t1] (the lanes' density band). */
  function densityOf(id: string, t0: number, t1: number, buckets: number, hidden?: readonly string[]): Promise<DensityResult> {
    return api().call('sessions.density', {
      id,
      t0: Math.max(0, t0),
      t1: Math.max(Math.max(0, t0) + 1, t1),
      buckets: Math.max(1, Math.min(4000, Math.round(buckets))),
      ...(hidden?.length ? { hidden: [...hidden] } : {}),
    });
  }

  /** An imported trace's raw events by tracepoint name (the timeline's type filter lists them). */
  function rawNamesOf(id: string, queryId?: string): Promise<Record<string, number>> {
    return api().call('sessions.rawNames', { id, ...(queryId ? { queryId } : {}) });
  }

  /** Exits by reason, by handling and by vCPU with t0 <= t <= t1 (the breakdown's `perf kvm stat`). */
  function counters(t0: number, t1: number, queryId?: string): Promise<CountersResult> {
    const { id } = requireOpen();
    return api().call('sessions.counters', { id, t0: Math.max(0, t0), t1: Math.max(0, t0, t1), ...(queryId ? { queryId } : {}) });
  }

  /** How many events match the search, and how many of them are at or before event `at` (a host scan, kept there). */
  function searchCount(filter: EventFilter, at: number, queryId?: string): Promise<{ total: number; before: number | null }> {
    const { id } = requireOpen();
    return api().call('sessions.searchCount', { id, filter, at: Math.max(-1, Math.floor(at)), ...(queryId ? { queryId } : {}) });
  }

  /** The first event matching the search after event `from` (dir 1) or the last before it (-1). */
  function search(filter: EventFilter, from: number, dir: 1 | -1, queryId?: string): Promise<{ index: number | null; event?: SessionEvent }> {
    const { id } = requireOpen();
    return api().call('sessions.search', { id, filter, from: Math.max(-1, Math.floor(from)), dir, ...(queryId ? { queryId } : {}) });
  }

  /** Every page table of each VM just after event `at`. */
  function pageTables(at: number, vm?: number): Promise<PageTablesResult> {
    const { id } = requireOpen();
    return api().call('sessions.pageTables', { id, at: Math.max(0, Math.floor(at)), ...(vm !== undefined ? { vm } : {}) });
  }

  /** Entries added, removed and changed between just after event `from` and just after event `to`. */
  function diff(from: number, to: number, queryId?: string): Promise<DiffResult> {
    const { id } = requireOpen();
    return api().call('sessions.diff', { id, from: Math.max(0, Math.floor(from)), to: Math.max(0, Math.floor(to)), ...(queryId ? { queryId } : {}) });
  }

  /**
   * The events with t0 <= t <= t1 when there are at most `max` of them (the timeline's markers
   * when zoomed in), or undefined when there are more.
   */
  async function eventsBetween(t0: number, t1: number, max: number): Promise<{ from: number; events: SessionEvent[] } | undefined> {
    const [a, b] = await Promise.all([eventsAt(t0), eventsAt(t1)]);
    // First index at or after t0: just after the last event before t0.
    let from = a.focus >= 0 ? a.from + a.focus : 0;
    if (a.focus >= 0 && Number(a.events[a.focus]!.t) < t0) from += 1;
    while (from > 0 && a.focus >= 0 && from - 1 >= a.from && Number(a.events[from - 1 - a.from]?.t) >= t0) from--;
    const to = b.focus >= 0 ? b.from + b.focus + 1 : 0;
    if (to - from > max) return undefined;
    if (to <= from) return { from, events: [] };
    const got = await eventsFrom(from, to - from);
    return { from, events: got.events.filter((e) => Number(e.t) >= t0 && Number(e.t) <= t1) };
  }

  /** Canonical index of the last event at or before `t` (-1 when none). */
  async function indexAt(t: number): Promise<number> {
    const w = await eventsAt(t);
    return w.focus >= 0 ? w.from + w.focus : -1;
  }

  /** Notes and bookmarks of the open session (saved in the session file by the host). */
  const notes = ref<SessionNote[]>([]);
  const notesError = ref<string>();

  async function loadNotes(): Promise<void> {
    const id = current.value?.id;
    if (!id) return;
    try {
      const list = await api().call('sessions.notes.list', { id });
      if (current.value?.id !== id) return;
      notes.value = [...list].sort((a, b) => a.t - b.t);
      notesError.value = undefined;
    } catch (error) {
      notesError.value = toApiError(error).message;
    }
  }

  async function addNote(note: { kind: 'note' | 'bookmark'; t: number; index?: number; vm?: number; vcpu?: number; text: string }): Promise<SessionNote> {
    const { id } = requireOpen();
    const saved = await api().call('sessions.notes.add', { id, ...note });
    if (current.value?.id === id) notes.value = [...notes.value.filter((n) => n.noteId !== saved.noteId), saved].sort((a, b) => a.t - b.t);
    return saved;
  }

  async function removeNote(noteId: string): Promise<void> {
    const { id } = requireOpen();
    const before = notes.value;
    notes.value = before.filter((n) => n.noteId !== noteId);
    try {
      await api().call('sessions.notes.remove', { id, noteId });
    } catch (error) {
      if (current.value?.id === id) notes.value = before;
      throw error;
    }
  }

  /** The scenario file's JSON Schema, for the options form. */
  function scenarioSchema(): Promise<Record<string, unknown>> {
    return api().call('scenarios.schema', {});
  }

  /** A built-in scenario as a scenario object (to edit before running). */
  function builtinScenario(name: string): Promise<unknown> {
    return api().call('scenarios.get', { name });
  }

  function validateScenario(scenario: unknown): Promise<{ ok: boolean; error?: string }> {
    return api().call('scenarios.validate', { scenario });
  }

  /** Have the host write an export of the open session into its exports folder. */
  function exportSession(format: ExportFormat): Promise<ExportResult> {
    return api().call('sessions.export', { id: requireOpen().id, format });
  }

  /** The session compared with the open one (the compare view's B), and the comparison. */
  const compareSummary = shallowRef<SessionSummary>();
  const comparison = shallowRef<CompareResult>();

  /** Latest comparison asked for: an older answer that arrives late is dropped. */
  let compareAsk = 0;

  /** Compare the open session (A) with session `id` (B), over `range` of simulated time or the whole runs. */
  async function openCompare(id: string, range?: TimeRange): Promise<void> {
    const a = requireOpen().id;
    const ask = ++compareAsk;
    const [summary, result] = await Promise.all([api().call('sessions.open', { id }), api().call('sessions.compare', { a, b: id, ...(range ? { range } : {}) })]);
    if (current.value?.id !== a || ask !== compareAsk) return;
    compareSummary.value = summary;
    comparison.value = result;
  }

  /** The open comparison again, over another range (the selection) or the whole runs. */
  async function compareOver(range?: TimeRange): Promise<void> {
    const a = current.value?.id;
    const b = compareSummary.value?.id;
    if (!a || !b) return;
    const ask = ++compareAsk;
    const result = await api().call('sessions.compare', { a, b, ...(range ? { range } : {}) });
    if (current.value?.id !== a || compareSummary.value?.id !== b || ask !== compareAsk) return;
    comparison.value = result;
  }

  function closeCompare(): void {
    compareSummary.value = undefined;
    comparison.value = undefined;
  }

  /** Events [from, from + count) of the canonical order (at most 10 000). */
  async function eventsFrom(from: number, count: number, types?: string[]): Promise<{ total: number; events: SessionEvent[] }> {
    const { id } = requireOpen();
    return api().call('sessions.events', { id, from: Math.max(0, Math.floor(from)), count: Math.max(1, Math.min(10_000, Math.floor(count))), ...(types ? { types } : {}) });
  }

  /**
   * The events around simulated time `t`: a page of the event order located by bisection
   * (events are ordered by time), with the last event at or before `t` marked.
   */
  async function eventsAt(t: number): Promise<EventWindow> {
    const { id, events: total } = requireOpen();
    let lo = 0;
    let hi = total;
    for (;;) {
      const mid = Math.floor((lo + hi) / 2);
      const from = Math.max(0, Math.min(mid - LOCATE_PAGE / 2, total - LOCATE_PAGE));
      const page = await api().call('sessions.events', { id, from, count: LOCATE_PAGE });
      const events = page.events;
      const first = events[0];
      const last = events[events.length - 1];
      if (!first || !last) return { from, events, focus: -1, total: page.total };
      const end = from + events.length;
      if (t < Number(first.t) && from > lo) hi = from;
      else if (t > Number(last.t) && end < hi) lo = end;
      else {
        let focus = -1;
        for (let i = 0; i < events.length; i++) if (Number(events[i]?.t) <= t) focus = i;
        return { from, events, focus, total: page.total };
      }
    }
  }

  /**
   * Diagnostics found after a session was opened, by session id (damage in a chunk is found when
   * the chunk is first read); kept apart from the summary, whose identity the views watch.
   */
  const lateDiagnostics = shallowRef(new Map<string, SessionSummary['diagnostics']>());
  /** A session's diagnostics as they are now. */
  function diagnosticsOf(summary: SessionSummary): SessionSummary['diagnostics'] {
    return lateDiagnostics.value.get(summary.id) ?? summary.diagnostics;
  }

  let unsubscribe: (() => void)[] = [];
  /** Start listening to the host (the sessions folder changed, damage found in an open session) and load the list. */
  function hydrate(): Promise<void> {
    if (!unsubscribe.length)
      unsubscribe = [
        api().on('sessions.changed', () => {
          refreshList().catch((error) => useNoticeStore().unexpectedError('Refreshing the sessions', error));
        }),
        api().on('sessions.diagnostics', ({ id, diagnostics }) => {
          lateDiagnostics.value = new Map(lateDiagnostics.value).set(id, diagnostics);
        }),
        // The desktop shell was given a session (File → Open, a drop, the OS): it is in the folder now.
        api().on('sessions.openRequested', ({ id }) => {
          refreshList()
            .then(() => open(id))
            .catch((error) => useNoticeStore().unexpectedError(`Opening ${id}`, error));
        }),
      ];
    return refreshList();
  }

  function dehydrate(): void {
    for (const off of unsubscribe) off();
    unsubscribe = [];
  }

  return {
    list,
    listState,
    listError,
    openingId,
    openState,
    openError,
    current,
    overview,
    overviewQuery,
    exitCount,
    durationNs,
    refreshList,
    open,
    close,
    timeline,
    timelineOf,
    densityOf,
    exportSession,
    scenarioSchema,
    builtinScenario,
    validateScenario,
    notes,
    notesError,
    loadNotes,
    addNote,
    removeNote,
    compareSummary,
    comparison,
    openCompare,
    compareOver,
    diagnosticsOf,
    closeCompare,
    counters,
    searchCount,
    rawNamesOf,
    search,
    eventsBetween,
    pageTables,
    diff,
    indexAt,
    eventsFrom,
    eventsAt,
    hydrate,
    dehydrate,
  };
});
