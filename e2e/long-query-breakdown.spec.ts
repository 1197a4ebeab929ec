// Issue 17 §5: any query that can take over 300 ms shows progress with a percentage and a Cancel
// that really stops the work in the host. The breakdown counts whole summary bins from the
// session's summaries and decodes, chunk by chunk, the chunks at the range's two ends on every
// lane; the test hook makes each step take 400 ms (MMU_LAB_TEST_QUERY_STEP_MS), so a selection
// over 8 lanes counts for seconds here as a long one does on a real session. That the host
// stopped is read off the wire: after the Cancel, the host pushes no more progress for it.
import { expect, mmuLab, test } from './fixtures';
import { LARGE_ID, recordLarge, watchQueries } from './large-session';

test.use({ hostEnv: { MMU_LAB_TEST_QUERY_STEP_MS: '400' } });

test('a long breakdown shows progress % and Cancel stops the count in the host', async ({ lab, app, page }) => {
  test.setTimeout(150_000);
  const file = recordLarge(lab.sessionsDir, 8);
  const wire = watchQueries(page);

  await app.goto(lab.url);
  await app.openSession(LARGE_ID);
  await page.getByRole('tab', { name: 'Breakdown' }).click();
  await expect(page.getByTestId('breakdown-table')).toBeVisible({ timeout: 30_000 });
  await app.selectRange(0.3, 0.7);
  const bar = page.getByTestId('breakdown-progress');
  await expect(bar).toBeVisible();
  await expect(bar).toContainText(/\d+%/);
  await expect.poll(() => wire.progress.length).toBeGreaterThan(0);
  const queryId = wire.progress.at(-1)!.queryId;

  await page.getByTestId('breakdown-cancel').click();
  await expect(bar).toBeHidden();
  await expect(page.getByTestId('breakdown-cancelled')).toContainText('Cancelled: the breakdown was stopped');
  // The host had it running and stopped it ...
  await expect.poll(() => wire.cancelAnswers.find((a) => a.queryId === queryId)?.cancelled).toBe(true);
  const answeredAt = wire.cancelAnswers.find((a) => a.queryId === queryId)!.at;
  const before = wire.progress.filter((p) => p.queryId === queryId);
  expect(before.at(-1)!.fraction).toBeLessThan(1);
  // ... and pushes nothing more for it: a running count reports every 400 ms step.
  await page.waitForTimeout(1500);
  expect(wire.progress.filter((p) => p.queryId === queryId && p.at > answeredAt + 50)).toEqual([]);

  // Counted again to the end, the table holds every exit of the selection, as the export has them.
  const range = page.getByTestId('breakdown-range');
  const t0 = Number(await range.getAttribute('data-t0'));
  const t1 = Number(await range.getAttribute('data-t1'));
  let exits = 0;
  for (const line of mmuLab(['export', file, '--format', 'jsonl']).split('\n')) {
    if (!line.includes('"vmexit"')) continue;
    const e = JSON.parse(line) as { t: number; type: string };
    if (e.type === 'vmexit' && e.t >= t0 && e.t <= t1) exits++;
  }
  expect(exits).toBeGreaterThan(10_000);
  await page.getByRole('button', { name: 'Count again' }).click();
  await expect(page.getByTestId('breakdown-total')).toHaveText(String(exits), { timeout: 30_000 });
  await expect(bar).toBeHidden();
  await expect(page.getByTestId('breakdown-cancelled')).toBeHidden();
});
