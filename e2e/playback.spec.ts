// Playback with the mouse and the keyboard: play/pause (button and space), the position
// slider (mouse and arrow keys), the readout following along.
import { expect, test } from './fixtures';

test.beforeEach(async ({ lab, app }) => {
  lab.record('demand-zap');
  await app.goto(lab.url);
  await app.openSession('demand-zap.mmulab');
});

test('play and pause with the mouse and the space key', async ({ app, page }) => {
  const play = page.getByRole('button', { name: 'Play' });
  await expect(app.position).toHaveText('0 ns');

  await play.click();
  await expect(page.getByRole('button', { name: 'Pause' })).toBeVisible();
  await expect(app.position).not.toHaveText('0 ns');
  await page.getByRole('button', { name: 'Pause' }).click();
  await expect(page.getByRole('button', { name: 'Play' })).toBeVisible();
  const paused = await app.position.textContent();
  // Paused means paused: the readout stays put (checked a few frames later).
  await page.waitForTimeout(300);
  await expect(app.position).toHaveText(paused ?? '');

  // Space plays and pauses when the focus is on the page (here: the timeline).
  await page.getByTestId('timeline-canvas').focus();
  await page.keyboard.press('Space');
  await expect(page.getByRole('button', { name: 'Pause' })).toBeVisible();
  await expect(app.position).not.toHaveText(paused ?? '');
  await page.keyboard.press('Space');
  await expect(page.getByRole('button', { name: 'Play' })).toBeVisible();
});

test('the position slider with the mouse and the arrow keys', async ({ app, page }) => {
  const slider = page.getByRole('slider', { name: 'Playback position' });
  const box = (await slider.boundingBox())!;
  await page.mouse.click(box.x + box.width * 0.5, box.y + box.height / 2);
  await expect(app.position).not.toHaveText('0 ns');
  const middle = await app.position.textContent();
  await expect(slider).toBeFocused();

  await page.keyboard.press('ArrowRight');
  await expect(app.position).not.toHaveText(middle ?? '');
  const right = await app.position.textContent();
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('ArrowLeft');
  await expect(app.position).not.toHaveText(right ?? '');
  await page.keyboard.press('Home');
  await expect(app.position).toHaveText('0 ns');

  // The arrows step the position from anywhere on the page, not just the slider.
  await page.getByTestId('timeline-canvas').focus();
  await page.keyboard.press('ArrowRight');
  await expect(app.position).not.toHaveText('0 ns');
  // The inspector follows: an event at or before the position is highlighted.
  await expect(page.locator('tr[aria-current="true"]')).toBeVisible();
});
