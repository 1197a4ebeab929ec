/**
 * Recording from the UI: the built-in scenarios, and the run in progress. A run is started
 * with `runs.start`, followed through `runs.progress` events (with a `runs.status` poll as a
 * fallback), and when it finishes the recorded session is opened.
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef } from 'vue';
import { MMU_DESIGNS, type ApiParams, type ApiResult, type RunStatus } from '../api/contract';
import { api } from '../api/api';
import { toApiError } from '../api/client';
import { useNoticeStore } from './notice-store';
import { useSessionStore } from './session-store';

export type ScenarioInfo = ApiResult<'scenarios.list'>[number];

/** Poll `runs.status` when no progress event came for this long. */
export const POLL_MS = 1000;

export const useRunStore = defineStore('run', () => {
  const scenarios = ref<ScenarioInfo[]>([]);
  const scenariosState = ref<'idle' | 'loading' | 'ready' | 'error'>('idle');
  const scenariosError = ref<string>();
  const selected = ref<string>();
  /** The scenarios grouped by the MMU design they show, in the order of MMU_DESIGNS (others last). */
  const scenarioGroups = computed(() => {
    const order = [...MMU_DESIGNS, 'Other'];
    const groups = new Map<string, ScenarioInfo[]>();
    for (const s of scenarios.value) {
      const design = s.design ?? 'Other';
      if (!groups.has(design)) groups.set(design, []);
      groups.get(design)!.push(s);
    }
    return [...groups.entries()].sort((a, b) => order.indexOf(a[0]) - order.indexOf(b[0])).map(([design, list]) => ({ design, scenarios: list }));
  });
  const run = shallowRef<RunStatus>();
  const runError = ref<string>();
  const starting = ref(false);

  const busy = computed(() => starting.value || run.value?.state === 'running' || run.value?.state === 'paused');

  /** Progress seen for runs (a fast run may report before `runs.start` answers). */
  const seen = new Map<string, RunStatus>();
  let pollTimer: ReturnType<typeof setTimeout> | undefined;
  let lastProgressMs = 0;

  async function loadScenarios(): Promise<void> {
    scenariosState.value = 'loading';
    try {
      scenarios.value = await api().call('scenarios.list', {});
      scenariosState.value = 'ready';
      scenariosError.value = undefined;
      if (!selected.value || !scenarios.value.some((s) => s.name === selected.value)) selected.value = scenarios.value[0]?.name;
    } catch (error) {
      scenariosState.value = 'error';
      scenariosError.value = toApiError(error).message;
    }
  }

  /** Record a built-in scenario; resolves once the run has started (not finished). */
  async function start(builtin = selected.value): Promise<void> {
    if (!builtin) return;
    return begin({ builtin });
  }

  /**
   * Record a scenario the user loaded from a file (parsed, not yet validated: the host does that).
   * `unbounded` lifts the host's default event bound (docs/host.md, Limits): a scenario that never
   * ends then records until stopped.
   */
  function startScenario(scenario: unknown, options: { unbounded?: boolean } = {}): Promise<void> {
    return begin({ scenario }, options.unbounded ? { maxEvents: null } : {});
  }

  async function begin(scenario: ApiParams<'runs.start'>['scenario'], extra: { maxEvents?: null } = {}): Promise<void> {
    if (busy.value) return;
    starting.value = true;
    runError.value = undefined;
    try {
      const status = await api().call('runs.start', { scenario, ...extra });
      const latest = seen.get(status.runId);
      await update(latest && latest.events >= status.events ? latest : status);
    } catch (error) {
      runError.value = toApiError(error).message;
    } finally {
      starting.value = false;
    }
  }

  async function stop(): Promise<void> {
    const current = run.value;
    if (!current || (current.state !== 'running' && current.state !== 'paused')) return;
    try {
      await update(await api().call('runs.control', { runId: current.runId, action: 'stop' }));
    } catch (error) {
      useNoticeStore().unexpectedError('Stopping the run', error);
    }
  }

  /** Pause, resume, step one event or to the next exit (stepping leaves the run paused). */
  async function control(action: 'pause' | 'resume' | 'step' | 'stepExit'): Promise<void> {
    const current = run.value;
    if (!current || (current.state !== 'running' && current.state !== 'paused')) return;
    try {
      await update(await api().call('runs.control', { runId: current.runId, action }));
    } catch (error) {
      useNoticeStore().unexpectedError(`Run control (${action})`, error);
    }
  }

  /** Pace the run at `nsPerSecond` simulated ns per wall-clock second, or flat out (null). */
  async function setSpeed(nsPerSecond: number | null): Promise<void> {
    const current = run.value;
    if (!current || (current.state !== 'running' && current.state !== 'paused')) return;
    try {
      await update(await api().call('runs.setSpeed', { runId: current.runId, nsPerSecond }));
    } catch (error) {
      useNoticeStore().unexpectedError('Setting the run speed', error);
    }
  }

  /** Take a new status of the current run; open its session when it has finished. */
  async function update(status: RunStatus): Promise<void> {
    const previous = run.value;
    if (previous && previous.runId === status.runId && isOver(previous)) return;
    run.value = status;
    if (status.state === 'running' || status.state === 'paused') {
      schedulePoll();
      return;
    }
    clearTimeout(pollTimer);
    if (status.state === 'failed') {
      runError.value = status.message ?? 'The run failed.';
      return;
    }
    const sessions = useSessionStore();
    await sessions.refreshList();
    // A stopped run still recorded a session up to where it stopped.
    if (status.sessionId) await sessions.open(status.sessionId);
  }

  function isOver(status: RunStatus): boolean {
    return status.state === 'finished' || status.state === 'failed' || status.state === 'stopped';
  }

  function schedulePoll(): void {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(async () => {
      const current = run.value;
      if (!current || isOver(current)) return;
      if (Date.now() - lastProgressMs < POLL_MS) return schedulePoll();
      try {
        await update(await api().call('runs.status', { runId: current.runId }));
      } catch (error) {
        runError.value = toApiError(error).message;
      }
    }, POLL_MS);
  }

  function onProgress(status: RunStatus): void {
    lastProgressMs = Date.now();
    const known = seen.has(status.runId);
    seen.set(status.runId, status);
    // A run started elsewhere (a scenario file dropped on the desktop window) is followed
    // when none of ours is going on.
    const adopt = !known && !busy.value && (status.state === 'running' || status.state === 'paused');
    if (run.value?.runId === status.runId || adopt) {
      update(status).catch((error) => useNoticeStore().unexpectedError('Following the run', error));
    }
  }

  let unsubscribe: (() => void) | undefined;
  function hydrate(): Promise<void> {
    unsubscribe ??= api().on('runs.progress', onProgress);
    return loadScenarios();
  }

  function dehydrate(): void {
    unsubscribe?.();
    unsubscribe = undefined;
    clearTimeout(pollTimer);
  }

  function dismiss(): void {
    if (run.value && isOver(run.value)) run.value = undefined;
    runError.value = undefined;
  }

  return {
    scenarios,
    scenarioGroups,
    scenariosState,
    scenariosError,
    selected,
    run,
    runError,
    starting,
    busy,
    loadScenarios,
    start,
    startScenario,
    stop,
    control,
    setSpeed,
    hydrate,
    dehydrate,
    dismiss,
  };
});
