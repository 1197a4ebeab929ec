// Compare two sessions through the UI (the "flip one option" workflow: demand paging with zap
// vs update on a guest pte write): the exit-count difference, per reason, matches the JSONL
// exports of the two files; the two timelines zoom and pan together.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, mmuLab, root, test } from './fixtures';

/** Exits per reason in the JSONL export, of the events with t0 <= t <= t1. */
function exitsByReason(file: string, t0 = 0, t1 = Infinity): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of mmuLab(['export', file, '--format', 'jsonl']).split('\n')) {
    if (!line) continue;
    const e = JSON.parse(line) as { t: number; type: string; reason?: string };
    if (e.type === 'vmexit' && e.t >= t0 && e.t <= t1) out.set(e.reason!, (out.get(e.reason!) ?? 0) + 1);
  }
  return out;
}
const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

test('zap vs update: the exit difference, per reason, is the exports’ difference; timelines move together', async ({ lab, app, page }) => {
  const a = exitsByReason(lab.record('demand-zap'));
  const b = exitsByReason(lab.record('demand-update'));
  // The seed's point: update saves exits (3 per demand fault with zap, 2 with update).
  expect(sum(b)).toBeLessThan(sum(a));

  await app.goto(lab.url);
  await app.openSession('demand-zap.mmulab');
  await page.getByRole('tab', { name: 'Compare' }).click();
  await page.getByTestId('compare-with').selectOption('demand-update.mmulab');
  await page.getByRole('button', { name: 'Compare', exact: true }).click();

  const totals = page.getByTestId('compare-totals');
  const exitsRow = totals.locator('tr[data-key="exits"]');
  await expect(exitsRow.locator('[data-col="a"]')).toHaveText(sum(a).toLocaleString('en-US'));
  await expect(exitsRow.locator('[data-col="b"]')).toHaveText(sum(b).toLocaleString('en-US'));
  await expect(exitsRow.locator('[data-col="delta"]')).toHaveText(`−${(sum(a) - sum(b)).toLocaleString('en-US')}`);
  const reasons = page.getByTestId('compare-reasons');
  for (const key of new Set([...a.keys(), ...b.keys()])) {
    const d = (b.get(key) ?? 0) - (a.get(key) ?? 0);
    await expect(reasons.locator(`tr[data-key="${key}"] [data-col="delta"]`)).toHaveText(`${d > 0 ? '+' : d < 0 ? '−' : '±'}${Math.abs(d)}`);
  }

  // Two timelines, one window: zooming the first zooms the second.
  const windows = page.getByTestId('view-window');
  await expect(windows).toHaveCount(2);
  await page.getByRole('button', { name: 'Zoom in' }).first().click();
  await page.getByRole('button', { name: 'Zoom in' }).first().click();
  const first = await windows.nth(0).textContent();
  await expect(windows.nth(1)).toHaveText(first ?? '');
  // Panning the second pans the first.
  await page.getByTestId('timeline-canvas').nth(1).focus();
  await page.keyboard.press('d');
  await expect(windows.nth(0)).not.toHaveText(first ?? '');
  await expect(windows.nth(0)).toHaveText((await windows.nth(1).textContent()) ?? '');

  const dir = join(root, 'artifacts', 'screenshots');
  mkdirSync(dir, { recursive: true });
  await page.getByRole('button', { name: 'Whole run' }).first().click();
  await page.getByTestId('compare').scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(dir, 'compare.png') });
});

test('the comparison follows the selection: the same range of simulated time in both runs, counted as the exports count it', async ({ lab, app, page }) => {
  const zap = lab.record('demand-zap');
  const update = lab.record('demand-update');
  await app.goto(lab.url);
  await app.openSession('demand-zap.mmulab');
  await page.getByRole('tab', { name: 'Compare' }).click();
  await page.getByTestId('compare-with').selectOption('demand-update.mmulab');
  await page.getByRole('button', { name: 'Compare', exact: true }).click();
  const range = page.getByTestId('compare-range');
  await expect(range).toContainText('whole runs');
  const exitsRow = page.getByTestId('compare-totals').locator('tr[data-key="exits"]');
  await expect(exitsRow.locator('[data-col="a"]')).toHaveText(sum(exitsByReason(zap)).toLocaleString('en-US'));

  // Shift-drag over the middle of A's timeline.
  await app.selectRange(0.3, 0.6);
  await expect(range).toContainText('selection');
  const t0 = Number(await range.getAttribute('data-t0'));
  const t1 = Number(await range.getAttribute('data-t1'));
  expect(t1).toBeGreaterThan(t0);
  const a = exitsByReason(zap, t0, t1);
  const b = exitsByReason(update, t0, t1);
  expect(sum(a)).toBeGreaterThan(0);
  expect(sum(a)).toBeLessThan(sum(exitsByReason(zap)));
  await expect(exitsRow.locator('[data-col="a"]')).toHaveText(sum(a).toLocaleString('en-US'));
  await expect(exitsRow.locator('[data-col="b"]')).toHaveText(sum(b).toLocaleString('en-US'));
  const reasons = page.getByTestId('compare-reasons');
  for (const key of a.keys()) await expect(reasons.locator(`tr[data-key="${key}"] [data-col="a"]`)).toHaveText(String(a.get(key)));

  // Clearing the selection compares the whole runs again.
  await page.getByTestId('timeline-canvas').first().focus();
  await page.keyboard.press('Escape');
  await expect(range).toContainText('whole runs');
  await expect(exitsRow.locator('[data-col="a"]')).toHaveText(sum(exitsByReason(zap)).toLocaleString('en-US'));
});
