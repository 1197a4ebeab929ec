// Notes and bookmarks through the UI: saved with the session by the host, so they are there
// after the page is reloaded and the session opened again; they mark the timeline and take
// you back to their event.
import { expect, test } from './fixtures';

test('a note and a bookmark are found again after reopening, and removing one sticks', async ({ lab, app, page }) => {
  lab.record('demand-zap');
  await app.goto(lab.url);
  await app.openSession('demand-zap.mmulab');
  await page.getByTestId('goto-event').fill('40');
  await page.getByRole('button', { name: 'Go to the event' }).click();
  await expect(page.getByTestId('current-event')).toHaveText(/^event #40 /);

  await page.getByRole('tab', { name: 'Notes' }).click();
  await expect(page.getByTestId('notes-empty')).toBeVisible();
  await page.getByLabel('Note at event #40').fill('The second demand fault: three exits with zap.');
  await page.getByRole('button', { name: 'Add note' }).click();
  await expect(page.getByTestId('notes-list')).toContainText('The second demand fault: three exits with zap.');

  // B bookmarks where playback is (from the timeline, after a few steps).
  await page.getByTestId('timeline-canvas').focus();
  for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowRight');
  await expect(page.getByTestId('current-event')).toHaveText(/^event #43 /);
  await page.keyboard.press('b');
  await expect(page.getByTestId('bookmark-status')).toContainText('Bookmarked');
  await expect(page.getByTestId('notes-list').locator('li')).toHaveCount(2);
  await expect(page.getByTestId('timeline-notes')).toHaveText('2 notes');

  // Reopen: the page is reloaded and the session opened again.
  await page.reload();
  await app.openSession('demand-zap.mmulab');
  await expect(page.getByTestId('timeline-notes')).toHaveText('2 notes');
  await page.getByRole('tab', { name: 'Notes' }).click();
  const list = page.getByTestId('notes-list');
  await expect(list.locator('li.note')).toContainText('The second demand fault: three exits with zap.');
  await expect(list.locator('li.note')).toContainText('#40');
  await expect(list.locator('li.bookmark')).toContainText('#43');

  // A note takes you back to its event.
  await list.locator('li.note').getByRole('button', { name: /^Go to note/ }).click();
  await expect(page.getByTestId('current-event')).toHaveText(/^event #40 /);

  // Removing the bookmark is saved too.
  await list.locator('li.bookmark').getByRole('button', { name: /^Remove bookmark/ }).click();
  await expect(list.locator('li')).toHaveCount(1);
  await page.reload();
  await app.openSession('demand-zap.mmulab');
  await expect(page.getByTestId('timeline-notes')).toHaveText('1 note');
});
