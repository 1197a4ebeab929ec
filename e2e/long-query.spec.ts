// Ranked problem 10: a query that takes over 300 ms shows its progress with a percentage and a
// Cancel that really stops the work in the host. The host's test hook makes each step of a query
// take 1 s (MMU_LAB_TEST_QUERY_STEP_MS; a Cancel cuts that wait short), so a page-table diff runs
// for seconds here as one over millions of events does on a real session, and a loaded machine
// still has time to press Cancel while it runs.
import { expect, test } from './fixtures';
import { watchQueries } from './large-session';

test.use({ hostEnv: { MMU_LAB_TEST_QUERY_STEP_MS: '1000' } });

test('(10) a long page-table diff shows progress % and Cancel stops it', async ({ lab, app, page }) => {
  lab.record('demand-zap');
  const wire = watchQueries(page);
  await app.goto(lab.url);
  await app.openSession('demand-zap.mmulab');
  await page.getByRole('tab', { name: 'Page tables' }).click();
  await page.getByRole('radio', { name: 'Diff' }).check();
  await page.getByTestId('diff-from').fill('0');
  await page.getByTestId('diff-to').fill('300');

  // Run to the end: the percentage shows and moves, then the result replaces it.
  await page.getByRole('button', { name: 'Show the diff' }).click();
  const progress = page.getByTestId('diff-progress');
  await expect(progress).toBeVisible();
  await expect(progress).toContainText(/\d+%/);
  await expect(page.getByTestId('diff-table')).toBeVisible({ timeout: 20_000 });
  await expect(progress).toBeHidden();

  // Again, and Cancel: it stops at once (well before its remaining steps), keeping nothing.
  await page.getByTestId('diff-to').fill('400');
  await page.getByRole('button', { name: 'Show the diff' }).click();
  await expect(progress).toBeVisible();
  await page.getByTestId('diff-cancel').click();
  await expect(progress).toBeHidden();
  await expect(page.getByTestId('page-tables')).toContainText('Cancelled: the diff was stopped.');
  // Timed on the page's socket, from the cancel sent to the diff's answer, so the click and the
  // polling of the checks above (which a loaded machine stretches) are not counted: the host
  // answered within its 1 s step, so it cut that step short rather than finishing it.
  const sent = wire.cancelsSent.at(-1)!;
  await expect.poll(() => wire.cancelAnswers.find((a) => a.queryId === sent.queryId)?.cancelled).toBe(true);
  await expect.poll(() => wire.queryAnswers.find((a) => a.queryId === sent.queryId)).toMatchObject({ method: 'sessions.diff', ok: false });
  const answer = wire.queryAnswers.find((a) => a.queryId === sent.queryId)!;
  expect(answer.at - sent.at).toBeLessThan(900);
});
