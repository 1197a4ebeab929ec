/**
 * Milliseconds from a monotonic clock, for the import's elapsed time. Not `performance.now()`:
 * the first use of the `performance` global loads Node's perf_hooks and its ~10 internal
 * modules (~0.7 ms of every import's start); process.hrtime is there from Node's start.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
