/**
 * What every view of the open session follows: the selected time range (shift-drag on the
 * timeline, or a breakdown's "whole run"), the legend's hidden reasons, the event types (and raw
 * events' names) the type filter hides on the lanes and from the search, and the one filter a
 * breakdown bar or row puts on the timeline (exits of one reason, or one handling).
 */
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';

export interface TimeRange {
  /** Simulated ns, t0 <= t1. */
  t0: number;
  t1: number;
}

export type ExitField = 'reason' | 'handling';
export interface ExitFilter {
  field: ExitField;
  key: string;
}

export type Theme = 'system' | 'light' | 'dark';
const THEME_KEY = 'mmulab.theme';

function systemDark(): boolean {
  return typeof matchMedia === 'function' && matchMedia('(prefers-color-scheme: dark)').matches;
}

function storedTheme(): Theme {
  try {
    const t = typeof localStorage === 'undefined' ? null : localStorage.getItem(THEME_KEY);
    return t === 'light' || t === 'dark' ? t : 'system';
  } catch {
    return 'system';
  }
}

export const useViewStore = defineStore('view', () => {
  const selection = ref<TimeRange>();
  const theme = ref<Theme>(storedTheme());
  /** Bumped when the system's preference changes, so `effectiveTheme` follows it. */
  const systemTick = ref(0);
  const effectiveTheme = computed<'light' | 'dark'>(() => {
    void systemTick.value;
    return theme.value === 'system' ? (systemDark() ? 'dark' : 'light') : theme.value;
  });

  /** The page's colours follow `data-theme` on the root element (styles.css). */
  function applyTheme(): void {
    if (typeof document !== 'undefined') document.documentElement.dataset.theme = effectiveTheme.value;
  }

  function setTheme(next: Theme): void {
    theme.value = next;
    try {
      if (next === 'system') localStorage.removeItem(THEME_KEY);
      else localStorage.setItem(THEME_KEY, next);
    } catch {
      // private mode: the choice lasts for this page only
    }
    applyTheme();
  }

  if (typeof matchMedia === 'function') {
    matchMedia('(prefers-color-scheme: dark)').addEventListener?.('change', () => {
      systemTick.value++;
      applyTheme();
    });
  }
  applyTheme();
  const hiddenReasons = ref<ReadonlySet<string>>(new Set());
  const filter = ref<ExitFilter>();

  const hasSelection = computed(() => selection.value !== undefined);
  /** The timelines' visible window; undefined shows each run whole. */
  const timeWindow = ref<TimeRange>();

  function setWindow(range: TimeRange | undefined): void {
    timeWindow.value = range;
  }

  /** Select [a, b] (either order); an empty range clears the selection. */
  function select(a: number, b: number): void {
    const t0 = Math.min(a, b);
    const t1 = Math.max(a, b);
    selection.value = t1 > t0 ? { t0, t1 } : undefined;
  }

  function clearSelection(): void {
    selection.value = undefined;
  }

  function toggleReason(reason: string): void {
    const next = new Set(hiddenReasons.value);
    if (next.has(reason)) next.delete(reason);
    else next.add(reason);
    hiddenReasons.value = next;
  }

  /** Show only exits whose `field` is `key`; the same filter again removes it. */
  function toggleFilter(field: ExitField, key: string): void {
    filter.value = filter.value?.field === field && filter.value.key === key ? undefined : { field, key };
  }

  function clearFilter(): void {
    filter.value = undefined;
  }

  /** Whether a timeline slice of this reason and handling is drawn. */
  function shows(reason: string, handling: string): boolean {
    if (hiddenReasons.value.has(reason)) return false;
    const f = filter.value;
    if (!f) return true;
    return f.field === 'reason' ? reason === f.key : handling === f.key;
  }

  /**
   * Event types hidden on the timeline's lanes and from the event search: a type, or `raw:<name>`
   * for the raw events of an imported trace with that tracepoint name (sessions/search.ts filterKey).
   */
  const hiddenTypes = ref<ReadonlySet<string>>(new Set());
  function toggleType(key: string): void {
    const next = new Set(hiddenTypes.value);
    if (next.has(key)) next.delete(key);
    else next.add(key);
    hiddenTypes.value = next;
  }
  /** Show every type again, or only `keys` (the others hidden). */
  function showOnlyTypes(keys: readonly string[] | undefined, all: readonly string[] = []): void {
    hiddenTypes.value = new Set(keys ? all.filter((k) => !keys.includes(k)) : []);
  }

  /** Markers A and B (simulated ns), for a Δt between two moments like KernelShark's. */
  const markerA = ref<number>();
  const markerB = ref<number>();
  function setMarker(which: 'a' | 'b', t: number | undefined): void {
    if (which === 'a') markerA.value = t;
    else markerB.value = t;
  }

  /** A new session: nothing selected, nothing filtered, no markers. */
  function reset(): void {
    markerA.value = undefined;
    markerB.value = undefined;
    timeWindow.value = undefined;
    selection.value = undefined;
    hiddenReasons.value = new Set();
    hiddenTypes.value = new Set();
    filter.value = undefined;
  }

  return { markerA, markerB, setMarker, theme, effectiveTheme, setTheme, timeWindow, setWindow, selection, hiddenReasons, hiddenTypes, toggleType, showOnlyTypes, filter, hasSelection, select, clearSelection, toggleReason, toggleFilter, clearFilter, shows, reset };
});
