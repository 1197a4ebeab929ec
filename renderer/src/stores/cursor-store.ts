/**
 * The current event: the last event at or before the playback position (or the one a step
 * landed on, when several share a time), the page of events around it that the inspector
 * shows, and the event-wise moves of playback: one event, the next/previous exit, the
 * next/previous guest fault.
 *
 * Navigation first scans the events right after (before) the current one; when the kind of
 * event it looks for is rarer than that, it bisects the type-filtered order by time.
 */
import { defineStore } from 'pinia';
import { markRaw, ref, shallowRef, watch } from 'vue';
import { toApiError } from '../api/client';
import type { EventFilter } from '../api/contract';
import { useLongQuery } from '../api/long-query';
import { usePlaybackStore } from './playback-store';
import { useSessionStore, type EventWindow, type SessionEvent } from './session-store';

/** Events the inspector shows before and after the current one. */
export const BEFORE = 8;
export const AFTER = 14;
/** Events scanned next to the current one before bisecting the filtered order. */
export const SCAN = 2000;

export const useCursorStore = defineStore('cursor', () => {
  const sessions = useSessionStore();
  const playback = usePlaybackStore();

  const page = shallowRef<EventWindow>();
  /** Canonical index of the current event (-1 before the first event). */
  const index = ref(-1);
  const current = shallowRef<SessionEvent>();
  const error = ref<string>();
  const busy = ref(false);
  /** Set by a step: the event stays current while the position stays at its time. */
  let pinned: { index: number; t: number } | undefined;

  let inFlight = false;
  let again = false;

  async function refresh(): Promise<void> {
    if (inFlight) {
      again = true;
      return;
    }
    if (!sessions.current) return;
    inFlight = true;
    try {
      do {
        again = false;
        const t = playback.position;
        let w: EventWindow;
        if (pinned && pinned.t === t) {
          const from = Math.max(0, pinned.index - BEFORE);
          const got = await sessions.eventsFrom(from, BEFORE + AFTER + 1);
          w = { from, events: got.events, focus: pinned.index - from, total: got.total };
        } else {
          pinned = undefined;
          w = await sessions.eventsAt(t);
        }
        if (!sessions.current) return;
        page.value = w;
        index.value = w.focus >= 0 ? w.from + w.focus : -1;
        current.value = w.focus >= 0 ? w.events[w.focus] : undefined;
        error.value = undefined;
      } while (again && sessions.current);
    } catch (e) {
      error.value = toApiError(e).message;
    } finally {
      inFlight = false;
    }
  }

  function land(at: number, event: SessionEvent): void {
    pinned = { index: at, t: Number(event.t) };
    playback.pause();
    if (playback.position === pinned.t) void refresh();
    else playback.seek(pinned.t);
  }

  let queue: Promise<void> = Promise.resolve();
  let queued = 0;
  /**
   * Run navigation jobs one after another: a key pressed while a search is on its way is done
   * after it, from where it landed (none is dropped, none races another).
   */
  function guarded(what: string, job: () => Promise<void>): Promise<void> {
    if (!sessions.current) return Promise.resolve();
    queued++;
    busy.value = true;
    const run = queue.then(async () => {
      try {
        if (sessions.current) await job();
      } catch (e) {
        error.value = `${what}: ${toApiError(e).message}`;
      } finally {
        if (--queued === 0) busy.value = false;
      }
    });
    queue = run;
    return run;
  }

  /** The current event's index, counting a step that landed but is not loaded yet. */
  function baseIndex(): number {
    return pinned && pinned.t === playback.position ? pinned.index : index.value;
  }

  let pendingSteps = 0;
  let stepping: Promise<void> | undefined;
  /**
   * One event forward (+1) or back (-1) in the canonical order. Steps asked for while one is
   * on its way add up (a held arrow key moves by all of them, none is dropped).
   */
  function stepEvent(dir: 1 | -1): Promise<void> {
    pendingSteps += dir;
    stepping ??= (async () => {
      // Yield first, so `stepping` is set before this can finish (and be cleared) synchronously.
      await null;
      try {
        while (pendingSteps !== 0 && sessions.current) {
          const n = pendingSteps;
          pendingSteps = 0;
          const total = sessions.current.events;
          const target = Math.min(total - 1, Math.max(0, baseIndex() + n));
          if (target === baseIndex()) continue;
          const got = await sessions.eventsFrom(target, 1);
          const event = got.events[0];
          if (event) land(target, event);
        }
      } catch (e) {
        error.value = `Stepping: ${toApiError(e).message}`;
      } finally {
        pendingSteps = 0;
        stepping = undefined;
      }
    })();
    return stepping;
  }

  /** The next (dir 1) or previous (-1) event whose type is one of `types`. Resolves whether one was found. */
  async function findOfType(types: readonly string[], dir: 1 | -1): Promise<{ index: number; event: SessionEvent } | undefined> {
    const want = new Set(types);
    const at = baseIndex();
    const total = sessions.current?.events ?? 0;
    // 1. Scan the neighbourhood in canonical order (exact, also among events of the same time).
    const from = dir > 0 ? at + 1 : Math.max(0, at - SCAN);
    const count = dir > 0 ? Math.min(SCAN, total - from) : at - from;
    let edgeT: number | undefined;
    if (count > 0) {
      const got = await sessions.eventsFrom(from, count);
      const list = got.events;
      if (dir > 0) {
        for (let i = 0; i < list.length; i++) if (want.has(String(list[i]!.type))) return { index: from + i, event: list[i]! };
        edgeT = Number(list[list.length - 1]?.t);
      } else {
        for (let i = list.length - 1; i >= 0; i--) if (want.has(String(list[i]!.type))) return { index: from + i, event: list[i]! };
        edgeT = Number(list[0]?.t);
      }
      if ((dir > 0 && from + list.length >= total) || (dir < 0 && from === 0)) return undefined;
    } else return undefined;
    // 2. Bisect the filtered order for the first (last) such event after (before) the scanned stretch.
    const typeList = [...want];
    const first = await sessions.eventsFrom(0, 1, typeList);
    const n = first.total;
    if (n === 0) return undefined;
    const tOf = async (k: number) => Number((await sessions.eventsFrom(k, 1, typeList)).events[0]?.t);
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const t = await tOf(mid);
      if (dir > 0 ? t <= edgeT! : t < edgeT!) lo = mid + 1;
      else hi = mid;
    }
    const k = dir > 0 ? lo : lo - 1;
    if (k < 0 || k >= n) return undefined;
    const found = (await sessions.eventsFrom(k, 1, typeList)).events[0];
    if (!found) return undefined;
    // Its canonical index: locate its time, then the matching event in that page.
    const w = await sessions.eventsAt(Number(found.t));
    for (let i = w.focus; i >= 0; i--) {
      const e = w.events[i]!;
      if (Number(e.t) !== Number(found.t)) break;
      if (e.type === found.type && e.vm === found.vm && e.vcpu === found.vcpu) return { index: w.from + i, event: e };
    }
    return undefined;
  }

  /** Move to the next/previous event of these types; `false` when there is none (the position stays). */
  async function goToType(types: readonly string[], dir: 1 | -1): Promise<boolean> {
    let moved = false;
    await guarded('Searching', async () => {
      const hit = await findOfType(types, dir);
      if (hit) {
        land(hit.index, hit.event);
        moved = true;
      }
    });
    return moved;
  }

  const nextExit = (dir: 1 | -1 = 1) => goToType(['vmexit'], dir);
  const nextFault = (dir: 1 | -1 = 1) => goToType(['guest_fault'], dir);

  /** The event search's Next/Prev: the host finds the match (sessions.search), with progress and Cancel. */
  const searchQuery = markRaw(useLongQuery());

  /**
   * The next (dir 1) or previous (-1) event after the current one that `filter` matches, found
   * by the host; 'none' when there is none, 'cancelled' when the Cancel stopped it.
   */
  async function findMatching(filter: EventFilter, dir: 1 | -1): Promise<'found' | 'none' | 'cancelled'> {
    let outcome: 'found' | 'none' | 'cancelled' = 'none';
    await guarded('Searching', async () => {
      const from = baseIndex();
      const got = await searchQuery.run((queryId) => sessions.search(filter, from, dir, queryId));
      if (!got) outcome = 'cancelled';
      else if (got.index !== null && got.event) {
        land(got.index, got.event);
        outcome = 'found';
      }
    });
    return outcome;
  }

  /** Make event `at` current (the inspector's "go to" for related events, a note, a diff entry). */
  function goToIndex(at: number): Promise<void> {
    return guarded('Going to the event', async () => {
      const got = await sessions.eventsFrom(at, 1);
      const event = got.events[0];
      if (event) land(at, event);
    });
  }

  /** Save a note or bookmark at the current position and event (with its VM and vCPU). */
  function annotate(kind: 'note' | 'bookmark', text: string): ReturnType<typeof sessions.addNote> {
    const event = current.value;
    return sessions.addNote({
      kind,
      t: playback.position,
      ...(index.value >= 0 ? { index: index.value } : {}),
      ...(event ? { vm: Number(event.vm), vcpu: Number(event.vcpu) } : {}),
      text,
    });
  }

  function reset(): void {
    pinned = undefined;
    page.value = undefined;
    index.value = -1;
    current.value = undefined;
    error.value = undefined;
  }

  watch(() => [sessions.current, playback.position] as const, ([summary]) => {
    if (!summary) reset();
    else void refresh();
  });

  return { page, index, current, error, busy, refresh, stepEvent, findOfType, goToType, nextExit, nextFault, goToIndex, annotate, findMatching, searchQuery, reset };
});
