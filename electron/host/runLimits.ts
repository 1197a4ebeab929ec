/**
 * What the host lets runs use (docs/host.md, "Limits"): how many run at once, how much heap
 * each VM's worker may grow to, and a memory watchdog that stops runs before the host's
 * resident memory passes its budget.
 *
 * The budget is half the machine's RAM unless MMU_LAB_MEMORY_BUDGET_MB says otherwise (or a
 * caller passes one, as the tests do to see the watchdog fire). Worker heaps are handed out
 * from it per run: a run of N VMs gets N equal shares of what running runs have not taken,
 * capped at WORKER_HEAP_MB, and is refused when a share would be under MIN_WORKER_HEAP_MB.
 */
import { totalmem } from 'node:os';
import { ApiError } from '../api/contract.ts';

/** Largest heap of one VM worker (a runaway VM fails on its own at this size). */
export const WORKER_HEAP_MB = 2048;
/** A VM worker with less heap than this would fail on ordinary scenarios: the run is refused instead. */
export const MIN_WORKER_HEAP_MB = 64;
/** Runs recording at once (each is one worker per VM on a machine's few cores). */
export const DEFAULT_MAX_RUNS = 3;
/** The watchdog acts at this share of the budget, so the stop itself stays under it. */
export const WATCHDOG_SHARE = 0.9;
export const WATCHDOG_INTERVAL_MS = 200;

const MB = 1024 * 1024;

function envNumber(name: string, env: NodeJS.ProcessEnv): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

export interface RunLimits {
  /** Resident memory the host must stay under (bytes). */
  memoryBudgetBytes: number;
  maxRuns: number;
}

/** The limits from explicit options, else the environment, else the machine. */
export function runLimits(options: Partial<RunLimits> = {}, env: NodeJS.ProcessEnv = process.env): RunLimits {
  const budgetMb = envNumber('MMU_LAB_MEMORY_BUDGET_MB', env);
  const maxRuns = envNumber('MMU_LAB_MAX_RUNS', env);
  return {
    memoryBudgetBytes: options.memoryBudgetBytes ?? (budgetMb !== undefined ? budgetMb * MB : Math.floor(totalmem() / 2)),
    maxRuns: options.maxRuns ?? (maxRuns !== undefined ? Math.floor(maxRuns) : DEFAULT_MAX_RUNS),
  };
}

export function fmtMb(bytes: number): string {
  return bytes >= 1024 * MB ? `${(bytes / (1024 * MB)).toFixed(1)} GB` : `${Math.round(bytes / MB)} MB`;
}

/**
 * The heap (MB) each of a new run's `vms` workers gets, given the heap already handed to
 * running runs; throws a readable ApiError when the run does not fit.
 */
export function workerHeapMb(limits: RunLimits, vms: number, liveRuns: number, heldMb: number): number {
  if (liveRuns >= limits.maxRuns)
    throw new ApiError('failed', `${liveRuns} runs are already recording (the limit is ${limits.maxRuns}); stop one or wait for it to end`);
  const budgetMb = Math.floor(limits.memoryBudgetBytes / MB);
  const share = Math.min(WORKER_HEAP_MB, Math.floor((budgetMb - heldMb) / vms));
  if (share < MIN_WORKER_HEAP_MB)
    throw new ApiError(
      'failed',
      `a run of ${vms} VM${vms > 1 ? 's' : ''} needs ${vms * MIN_WORKER_HEAP_MB} MB of the host's memory budget and ${Math.max(0, budgetMb - heldMb)} MB are free ` +
        `(budget ${fmtMb(limits.memoryBudgetBytes)}, ${heldMb} MB held by running runs); stop a run, use fewer VMs, or raise MMU_LAB_MEMORY_BUDGET_MB`,
    );
  return share;
}

/**
 * Samples the process's resident memory (the host and every worker thread) while runs record,
 * and calls `over` once each time it reaches WATCHDOG_SHARE of the budget.
 */
export class MemoryWatchdog {
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly budgetBytes: number,
    private readonly over: (rssBytes: number, budgetBytes: number) => void,
    private readonly intervalMs = WATCHDOG_INTERVAL_MS,
    private readonly rss: () => number = () => process.memoryUsage.rss(),
  ) {}

  /** Watch while `active()` holds; idempotent. */
  watch(active: () => boolean): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (!active()) return this.stop();
      const rss = this.rss();
      if (rss >= this.budgetBytes * WATCHDOG_SHARE) this.over(rss, this.budgetBytes);
    }, this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
