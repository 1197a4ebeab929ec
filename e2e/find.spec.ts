// §3 find and measure, as KernelShark users expect: free-text search over every field of every
// event with Next/Prev, the keys n / N and an "n / N" count (the matches counted in the JSONL
// export, not by the app); the timeline follows the match; markers A and B give the Δt between
// two moments; a shift-drag selection says its Δt.
import { expect, mmuLab, test } from './fixtures';

test('free-text search with n / N, the timeline following; markers A/B with Δt', async ({ lab, app, page }) => {
  const file = lab.record('demand-zap');
  const lines = mmuLab(['export', file, '--format', 'jsonl']).split('\n').filter(Boolean);
  const text = '0x103010';
  const matches = lines.map((l, i) => ({ l, i })).filter(({ l }) => l.toLowerCase().includes(text)).map(({ i }) => i);
  expect(matches.length).toBeGreaterThanOrEqual(2);
  const tOf = (i: number) => (JSON.parse(lines[i]!) as { t: number }).t;

  await app.goto(lab.url);
  await app.openSession('demand-zap.mmulab');
  // Zoomed in near the start, so the matches are out of view.
  for (let i = 0; i < 6; i++) await page.getByRole('button', { name: 'Zoom in', exact: true }).click();
  await page.getByTestId('search-text').fill(text);
  await expect(page.getByTestId('search-count')).toHaveText(`0 / ${matches.length}`);
  await page.getByRole('button', { name: 'Find next' }).click();
  const current = page.getByTestId('current-event');
  await expect(current).toContainText(`event #${matches[0]} `);
  await expect(page.getByTestId('search-count')).toHaveText(`1 / ${matches.length}`);
  // The timeline followed: the match is in view.
  const win = page.getByTestId('view-window');
  await expect.poll(async () => Number(await win.getAttribute('data-t0')) <= tOf(matches[0]!) && Number(await win.getAttribute('data-t1')) >= tOf(matches[0]!)).toBe(true);

  // Marker A here; n to the next match; marker B there; Δt is theirs; N back.
  await page.getByTestId('marker-a').click();
  await page.getByRole('heading', { name: /^Events near/ }).click();
  await page.keyboard.press('n');
  await expect(current).toContainText(`event #${matches[1]} `);
  await expect(page.getByTestId('search-count')).toHaveText(`2 / ${matches.length}`);
  await page.getByTestId('marker-b').click();
  const dt = tOf(matches[1]!) - tOf(matches[0]!);
  const shown = dt < 1000 ? `${dt} ns` : dt < 1e6 ? `${(dt / 1e3).toFixed(3)} µs` : `${(dt / 1e6).toFixed(3)} ms`;
  await expect(page.getByTestId('marker-dt')).toHaveText(`Δt ${shown}`);
  await page.getByRole('heading', { name: /^Events near/ }).click();
  await page.keyboard.press('Shift+N');
  await expect(current).toContainText(`event #${matches[0]} `);

  // A selection says how long it is.
  await page.getByRole('button', { name: 'Whole run' }).click();
  await app.selectRange(0.2, 0.6);
  await expect(page.getByTestId('selection-dt')).toHaveText(/^Δt [\d.]+ (ns|µs|ms) selected$/);
});
