// Issue 17 §5: any query that can take over 300 ms shows progress with a percentage and a Cancel
// that really stops the work in the host. The breakdown of a long session counts its exits chunk
// by chunk in the host; the test hook makes each step take 400 ms (MMU_LAB_TEST_QUERY_STEP_MS), so
// the count runs for seconds here as one over millions of events does on a real session. That the
// host stopped is read off the wire: after the Cancel, the host pushes no more progress for it.
import { expect, mmuLab, test } from './fixtures';
import { LARGE_ID, recordLarge, watchQueries } from './large-session';

test.use({ hostEnv: { MMU_LAB_TEST_QUERY_STEP_MS: '400' } });

test('a long breakdown shows progress % and Cancel stops the count in the host', async ({ lab, app, page }) => {
  test.setTimeout(120_000);
  const file = recordLarge(lab.sessionsDir);
  const exits = Number(/of which ([\d\s,]+) VM exits/.exec(mmuLab(['info', file]))?.[1]?.replace(/[\s,]/g, ''));
  expect(exits).toBeGreaterThan(100_000);
  const wire = watchQueries(page);

  await app.goto(lab.url);
  await app.openSession(LARGE_ID);
  await page.getByRole('tab', { name: 'Breakdown' }).click();
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
  expect(before.at(-1)!.fraction).toBeLessThan(0.9);
  // ... and pushes nothing more for it: a running count reports every 400 ms step.
  await page.waitForTimeout(1500);
  expect(wire.progress.filter((p) => p.queryId === queryId && p.at > answeredAt + 50)).toEqual([]);

  // Counted again to the end, the table holds every exit of the session.
  await page.getByRole('button', { name: 'Count again' }).click();
  await expect(page.getByTestId('breakdown-total')).toHaveText(String(exits), { timeout: 30_000 });
  await expect(bar).toBeHidden();
  await expect(page.getByTestId('breakdown-cancelled')).toBeHidden();
});
