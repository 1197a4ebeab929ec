/**
 * Long views report how far they have got and stop at their next step when cancelled: a diff over
 * a session whose backward search has many windows to read, cancelled after its first report, runs
 * no further step and rejects; uncancelled, its reports rise to the end and its result is the
 * straight-through one.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { recordBuiltin } from './testing/recordBuiltin.ts';
import { ViewCancelled, countersView, countersViewAsync, diffView, diffViewAsync } from './views.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmulab-cancel-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('progress rises to the end; a cancel stops the query at its next step', async () => {
  const s = recordBuiltin(join(dir, 'kbuild-zap.mmulab'), 'kbuild-zap', { chunkEvents: 64 });
  const to = s.eventCount - 1;
  const seen: number[] = [];
  expect(await diffViewAsync(s, 0, to, 100_000, { onProgress: (f) => seen.push(f) })).toEqual(diffView(s, 0, to, 100_000));
  expect(seen.length).toBeGreaterThan(1);
  expect([...seen].sort((a, b) => a - b)).toEqual(seen);
  expect(seen.at(-1)).toBeGreaterThanOrEqual(0.9);

  const abort = new AbortController();
  let stepsAfterCancel = 0;
  const cancelled = diffViewAsync(s, 0, to, 100_000, {
    signal: abort.signal,
    onProgress: () => {
      if (abort.signal.aborted) stepsAfterCancel++;
      abort.abort();
    },
  });
  await expect(cancelled).rejects.toBeInstanceOf(ViewCancelled);
  expect(stepsAfterCancel).toBe(0);

  const c: number[] = [];
  expect(await countersViewAsync(s, s.startNs, s.endNs, { onProgress: (f) => c.push(f) })).toEqual(countersView(s, s.startNs, s.endNs));
});
