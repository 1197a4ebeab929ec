// The browser host only serves whoever has the token it printed; and the app says what went
// wrong (with a way out) rather than showing a blank page.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from './fixtures';

test('the page loaded without the token is refused', async ({ lab, page }) => {
  const response = await page.goto(lab.origin + '/');
  expect(response?.status()).toBe(403);
  await expect(page.getByText('MMU Lab', { exact: true })).toHaveCount(0);

  const wrong = await page.request.get(lab.origin + '/?token=not-the-token', { failOnStatusCode: false });
  expect(wrong.status()).toBe(403);
  const withToken = await page.request.get(lab.url, { failOnStatusCode: false });
  expect(withToken.status()).toBe(200);
});

test('an empty sessions folder says what to do next', async ({ lab, app, page }) => {
  await app.goto(lab.url);
  await expect(page.getByTestId('sessions-empty')).toContainText('mmu-lab record');
  await expect(page.getByTestId('no-session')).toContainText('Record');

  // The shortcuts are listed behind the ? key (and a button), and the dialog closes again.
  await page.keyboard.press('?');
  const help = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
  await expect(help).toBeVisible();
  await expect(help).toContainText('Play or pause');
  await help.getByRole('button', { name: 'Close' }).click();
  await expect(help).toBeHidden();
});

test('a damaged session shows the error with a way back', async ({ lab, app, page }) => {
  writeFileSync(join(lab.sessionsDir, 'broken.mmulab'), 'this is not a session file');
  await app.goto(lab.url);
  await app.sessionButton('broken.mmulab').click();
  const error = page.getByTestId('open-error');
  await expect(error).toBeVisible();
  await expect(error).toContainText('broken.mmulab');
  await error.getByRole('button', { name: 'Back to the sessions' }).click();
  await expect(page.getByTestId('no-session')).toBeVisible();
});

test('losing the host shows a banner with a way out, not a blank page', async ({ lab, app, page }) => {
  lab.record('demand-zap');
  await app.goto(lab.url);
  await app.openSession('demand-zap.mmulab');
  await lab.stop();
  const banner = page.getByTestId('connection-banner');
  await expect(banner).toContainText('connection to the MMU Lab host was lost');
  await expect(banner.getByRole('button', { name: 'Reload the page' })).toBeVisible();
  // What was on screen stays usable.
  await expect(page.getByTestId('exit-count')).toHaveText(/^[\d,]+$/);
  // The browser reports each failed reconnection attempt as a console error; those are expected here.
  const unexpected = app.errors.filter((e) => !/WebSocket connection to .* failed/.test(e));
  expect(unexpected).toEqual([]);
  app.errors.length = 0;
});
