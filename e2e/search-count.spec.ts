// Issue 17 §3/§5: the search's "n / N" count does not scan the whole session on each keystroke in
// the page: the host counts, streaming "… / ≥N…" as it goes, a Cancel stops it in the host, the
// same filter again resumes where it stopped, and once counted "n / N" and Next/Prev are exact.
// The test hook makes each step of a host query take 100 ms more, so the count of a 640 000-event
// session takes seconds, as one of millions of events does.
import { expect, mmuLab, test } from './fixtures';
import { LARGE_ID, recordLarge, watchQueries } from './large-session';

test.use({ hostEnv: { MMU_LAB_TEST_QUERY_STEP_MS: '100' } });

test('the search count streams, stops on Cancel in the host, resumes, and is exact', async ({ lab, app, page }) => {
  test.setTimeout(180_000);
  const file = recordLarge(lab.sessionsDir);
  // The independent answer: the index's count of guest_fault events (`mmu-lab info`); no other
  // field of this scenario's events holds the text "guest_fault".
  const faults = Number(/^\s*guest_fault\s+([\d\s]+?)\s{2}/m.exec(mmuLab(['info', file]))?.[1]?.replace(/\s/g, ''));
  expect(faults).toBeGreaterThan(10_000);
  const wire = watchQueries(page);

  await app.goto(lab.url);
  await app.openSession(LARGE_ID);
  const count = page.getByTestId('search-count');
  const field = page.getByTestId('search-text');
  await field.fill('guest_faul');
  // Typing on while it counts: the field never waits for the count.
  await expect(count).toHaveText(/^(counting…|0 \/ ≥[\d,]+…)$/);
  await field.pressSequentially('t', { delay: 0 });
  await expect(field).toHaveValue('guest_fault');
  // "n / ≥N…": no guest fault at or before the first event, at least N found so far.
  await expect(count).toHaveText(/^0 \/ ≥[\d,]+…$/);
  const progress = page.getByTestId('search-count-progress');
  await expect(progress).toContainText(/\d+%/);
  // Partial counts rise.
  await expect.poll(() => new Set(wire.progress.map((p) => p.matches)).size, { timeout: 20_000 }).toBeGreaterThan(2);
  const queryId = wire.progress.at(-1)!.queryId;

  await page.getByTestId('search-count-cancel').click();
  await expect(count).toHaveText('count stopped');
  await expect.poll(() => wire.cancelAnswers.find((a) => a.queryId === queryId)?.cancelled).toBe(true);
  const answeredAt = wire.cancelAnswers.find((a) => a.queryId === queryId)!.at;
  const stoppedAt = wire.progress.filter((p) => p.queryId === queryId).at(-1)!;
  expect(stoppedAt.fraction).toBeLessThan(0.9);
  await page.waitForTimeout(800);
  expect(wire.progress.filter((p) => p.queryId === queryId && p.at > answeredAt + 50)).toEqual([]);

  // The same filter again resumes the kept scan (its first report is past where it stopped) and ends exact.
  await field.fill('guest_faults');
  await field.fill('guest_fault');
  await expect(count).toHaveText(`0 / ${faults.toLocaleString('en-US')}`, { timeout: 60_000 });
  const resumed = wire.progress.filter((p) => p.at > answeredAt && p.queryId !== queryId && p.matches !== undefined && p.matches > 0);
  expect(resumed[0]!.fraction).toBeGreaterThanOrEqual(stoppedAt.fraction);

  // Next and Previous land on guest faults and count them one by one.
  const current = page.getByTestId('current-event');
  await page.getByRole('button', { name: 'Find next' }).click();
  await expect(current).toContainText('guest_fault');
  await expect(count).toHaveText(`1 / ${faults.toLocaleString('en-US')}`);
  const first = await current.textContent();
  await page.getByRole('button', { name: 'Find next' }).click();
  await expect(count).toHaveText(`2 / ${faults.toLocaleString('en-US')}`);
  await expect(current).not.toHaveText(first!);
  await page.getByRole('button', { name: 'Find previous' }).click();
  await expect(current).toHaveText(first!);
  await expect(count).toHaveText(`1 / ${faults.toLocaleString('en-US')}`);
});
