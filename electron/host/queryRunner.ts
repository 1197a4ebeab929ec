/**
 * Long queries the UI names with a `queryId` (diffs, counters, searches, a lazy summary build):
 * their progress goes out as `queries.progress`, and `queries.cancel` stops one between two of
 * its steps.
 */
import { ApiError, type ApiEventPayload } from '../api/contract.ts';
import { ViewCancelled, type StepOptions } from '../../sessions/views.ts';

/** What a running query has found so far, sent with its progress (the search count's matches). */
type SoFar = () => { matches: number; before?: number };

export class QueryRunner {
  /** Queries running with a `queryId`: their Cancel. */
  private readonly running = new Map<string, AbortController>();

  constructor(private readonly progress: (payload: ApiEventPayload<'queries.progress'>) => void) {}

  /**
   * Run a long query; with a `queryId`, push its progress (at most every 100 ms, with what
   * `partial` says so far) and let `cancel` stop it between two of its steps.
   */
  async run<T>(queryId: string | undefined, run: (options: StepOptions) => Promise<T>, partial?: SoFar): Promise<T> {
    if (queryId === undefined) return run({});
    if (this.running.has(queryId)) throw new ApiError('bad-request', `query ${queryId} is already running`);
    const abort = new AbortController();
    this.running.set(queryId, abort);
    let last = 0;
    const stepMs = Number(process.env.MMU_LAB_TEST_HOOKS === '1' ? (process.env.MMU_LAB_TEST_QUERY_STEP_MS ?? 0) : 0);
    try {
      return await run({
        signal: abort.signal,
        onProgress: (fraction) => {
          const now = Date.now();
          if (now - last < 100 && fraction < 1) return;
          last = now;
          this.progress({ queryId, fraction, ...partial?.() });
        },
        // Test hook (MMU_LAB_TEST_HOOKS): each step takes this long, so e2e tests can see progress and Cancel.
        // A Cancel cuts the wait short, as it would stop real work at its next step.
        ...(stepMs > 0 ? { between: () => sleepUnlessAborted(stepMs, abort.signal) } : {}),
      });
    } catch (error) {
      if (error instanceof ViewCancelled) throw new ApiError('failed', 'cancelled: the query was stopped');
      throw error;
    } finally {
      this.running.delete(queryId);
    }
  }

  /** Stop a running query; false when none runs under that id. */
  cancel(queryId: string): boolean {
    const running = this.running.get(queryId);
    running?.abort();
    return running !== undefined;
  }

  /** The host is closing: stop every query. */
  cancelAll(): void {
    for (const q of this.running.values()) q.abort();
  }
}

/** Wait `ms`, or less if `signal` is aborted meanwhile. */
function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });
}
