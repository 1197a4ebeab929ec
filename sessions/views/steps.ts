/**
 * Long views as steps: a generator that yields between slices of work, run straight through
 * (CLI, tests) or yielding to the event loop with progress and Cancel (the host must keep answering).
 */

/**
 * A long view's steps yield between them, optionally with how far it has got (0..1). A host runs
 * them with `runStepsYielding`, which reports that progress and stops at the next step once
 * `signal` is aborted (a Cancel): no further step runs, and the promise rejects with
 * `ViewCancelled`.
 */
export type Steps<T> = Generator<number | void, T>;

export interface StepOptions {
  signal?: AbortSignal;
  onProgress?: (fraction: number) => void;
  /** Awaited between steps (tests slow a query down with it). */
  between?: () => Promise<void>;
}

export class ViewCancelled extends Error {
  constructor() {
    super('the query was cancelled');
    this.name = 'ViewCancelled';
  }
}

/** A long view computed as steps, run straight through. */
export function runSteps<T>(steps: Steps<T>): T {
  let r = steps.next();
  while (!r.done) r = steps.next();
  return r.value;
}

/** The same, letting the event loop run (a macrotask) between steps; reports progress, honours a cancel. */
export async function runStepsYielding<T>(steps: Steps<T>, options: StepOptions = {}): Promise<T> {
  let r = steps.next();
  while (!r.done) {
    if (typeof r.value === 'number') options.onProgress?.(Math.max(0, Math.min(1, r.value)));
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
    if (options.between) await options.between();
    if (options.signal?.aborted) {
      steps.return(undefined as T);
      throw new ViewCancelled();
    }
    r = steps.next();
  }
  return r.value;
}
