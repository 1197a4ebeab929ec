// Compare two sessions through the UI (the "flip one option" workflow: demand paging with zap
// vs update on a guest pte write): the exit-count difference, per reason, matches the JSONL
// exports of the two files; the two timelines zoom and pan together.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, mmuLab, root, test } from './fixtures';

function exitsByReason(file: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of mmuLab(['export', file, '--format', 'jsonl']).split('\n')) {
    if (!line) continue;
    const e = JSON.parse(line) as { type: string; reason?: string };
    if (e.type === 'vmexit') out.set(e.reason!, (out.get(e.reason!) ?? 0) + 1);
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
