// Issue 17 §3: filters by event type and name, raw events included, on the timeline itself. A
// real 6.18 trace (no exits; most of its records kept as raw events) lists each type and each raw
// event's tracepoint name with its count as `mmu-lab export` gives it; hiding one takes its events
// off the lanes (the count of events in view) and out of the search; Show all types brings them back.
import { join } from 'node:path';
import { expect, mmuLab, root, test } from './fixtures';

test('type and raw-name chips hide events on the lanes and in the search', async ({ lab, app, page }) => {
  const file = join(lab.sessionsDir, 'cr3-cpl0.mmulab');
  mmuLab(['import', join(root, 'sessions/import/fixtures/real-6.18/cr3-cpl0.report.txt'), '-o', file]);
  const rows = mmuLab(['export', file, '--format', 'jsonl'])
    .split('\n')
    .filter(Boolean)
    .map((l) => ({ line: l.toLowerCase(), e: JSON.parse(l) as Record<string, string | number> }));
  const byType = new Map<string, number>();
  const byName = new Map<string, number>();
  for (const { e } of rows) {
    byType.set(String(e.type), (byType.get(String(e.type)) ?? 0) + 1);
    if (e.type === 'raw') byName.set(String(e.name), (byName.get(String(e.name)) ?? 0) + 1);
  }
  expect(byName.size).toBeGreaterThan(2);

  await app.goto(lab.url);
  await app.openSession('cr3-cpl0.mmulab');
  const legend = page.getByTestId('type-legend');
  for (const [type, n] of byType) await expect(legend.locator(`button[data-key="${type}"]`)).toHaveText(`${type} ${n}`);
  for (const [name, n] of byName) await expect(legend.locator(`button[data-key="raw:${name}"]`)).toHaveText(`raw: ${name} ${n}`);
  const inView = page.getByTestId('events-in-view');
  await expect(inView).toHaveText(`${rows.length.toLocaleString('en-US')} events`);

  // Hide the most frequent raw name and one type: the lanes count only what is shown.
  const [name, k] = [...byName].sort((a, b) => b[1] - a[1])[0]!;
  await legend.locator(`button[data-key="raw:${name}"]`).click();
  await expect(legend.locator(`button[data-key="raw:${name}"]`)).toHaveAttribute('aria-pressed', 'false');
  await expect(inView).toHaveText(`${(rows.length - k).toLocaleString('en-US')} events shown`);
  const walks = byType.get('page_walk')!;
  await legend.locator('button[data-key="page_walk"]').click();
  await expect(inView).toHaveText(`${(rows.length - k - walks).toLocaleString('en-US')} events shown`);

  // The search does not find hidden events: the name itself matches only other events that hold it.
  const text = name.toLowerCase();
  const want = rows.filter(({ line, e }) => line.includes(text) && !(e.type === 'raw' && e.name === name) && e.type !== 'page_walk').length;
  await page.getByTestId('search-text').fill(name);
  await expect(page.getByTestId('search-count')).toHaveText(want === 0 ? 'no match' : new RegExp(` / ${want}$`));
  // Every raw event hidden at once with `raw`; then all shown again.
  await legend.locator('button[data-key="raw"]').click();
  await expect(inView).toHaveText(`${(rows.length - byType.get('raw')! - walks).toLocaleString('en-US')} events shown`);
  await page.getByTestId('show-all-types').click();
  await expect(inView).toHaveText(`${rows.length.toLocaleString('en-US')} events`);
  await expect(page.getByTestId('search-count')).toHaveText(new RegExp(` / ${rows.filter(({ line }) => line.includes(text)).length}$`));
});

test('hiding vmexit takes the exits off the lanes of a simulated run', async ({ lab, app, page }) => {
  lab.record('demand-zap');
  await app.goto(lab.url);
  await app.openSession('demand-zap.mmulab');
  await page.getByTestId('type-legend').locator('button[data-key="vmexit"]').click();
  await expect(page.getByTestId('exits-shown')).toHaveText('0 shown');
});
