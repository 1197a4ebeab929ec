/**
 * A query the host may take a while over (a page-table diff across millions of events, the
 * counters of a long range): it is sent with a `queryId`, the host pushes `queries.progress` for
 * it, and `cancel()` asks the host to stop it (`queries.cancel`), which it does between two steps.
 * `fraction` is undefined until the query has run for SHOW_AFTER_MS, so quick ones show nothing.
 */
import { ref } from 'vue';
import { api } from './api';

export const SHOW_AFTER_MS = 300;

let next = 0;

export function useLongQuery() {
  /** 0..1 once the running query has taken longer than SHOW_AFTER_MS; undefined otherwise. */
  const fraction = ref<number>();
  /** What the running query has found so far, when it says (a search count's matches, and those up to its event once it has read past it). */
  const matches = ref<number>();
  const before = ref<number>();
  let current: string | undefined;
  /** Queries cancelled here: their "cancelled" failure is no error (each its own, so a newer query does not forget an older one's cancel). */
  const cancelled = new Set<string>();

  async function run<T>(call: (queryId: string) => Promise<T>): Promise<T | undefined> {
    const queryId = `q-${Date.now().toString(36)}-${(next++).toString(36)}`;
    current = queryId;
    matches.value = undefined;
    before.value = undefined;
    let latest = 0;
    const off = api().on('queries.progress', (p) => {
      if (p.queryId !== queryId) return;
      latest = p.fraction;
      if (p.matches !== undefined) matches.value = p.matches;
      if (p.before !== undefined) before.value = p.before;
      if (fraction.value !== undefined) fraction.value = latest;
    });
    const timer = setTimeout(() => {
      if (current === queryId) fraction.value = latest;
    }, SHOW_AFTER_MS);
    try {
      return await call(queryId);
    } catch (error) {
      if (cancelled.has(queryId)) return undefined;
      throw error;
    } finally {
      cancelled.delete(queryId);
      clearTimeout(timer);
      off();
      if (current === queryId) {
        current = undefined;
        fraction.value = undefined;
        matches.value = undefined;
        before.value = undefined;
      }
    }
  }

  async function cancel(): Promise<void> {
    const queryId = current;
    if (!queryId) return;
    cancelled.add(queryId);
    await api().call('queries.cancel', { queryId }).catch(() => undefined);
  }

  /** Whether a query is on its way (shown or not yet). */
  const running = () => current !== undefined;

  return { fraction, matches, before, run, cancel, running };
}

/** One long query's state and controls (what `query-progress.vue` shows). */
export type LongQuery = ReturnType<typeof useLongQuery>;
