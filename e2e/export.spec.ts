// Exporting from the UI: the host writes the file (a progress bar meanwhile), the page offers it
// for download, and the downloaded JSONL is the CLI's JSONL export of the same session.
import { readFileSync } from 'node:fs';
import { expect, mmuLab, test } from './fixtures';

test('Export JSONL downloads what `mmu-lab export` prints', async ({ lab, app, page }) => {
  const file = lab.record('demand-zap');
  const expected = mmuLab(['export', file, '--format', 'jsonl']);
  await app.goto(lab.url);
  await app.openSession('demand-zap.mmulab');
  await page.getByTestId('export-format').selectOption('jsonl');
  await page.getByRole('button', { name: 'Export', exact: true }).click();
  const link = page.getByTestId('export-link');
  await expect(link).toContainText('demand-zap.jsonl');
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  const body = readFileSync((await download.path())!, 'utf8');
  expect(body.split('\n').filter(Boolean)).toEqual(expected.split('\n').filter(Boolean));
});
