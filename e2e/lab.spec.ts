// A student walks through lab 1 in the UI: open it, read it, run it, answer, see the checks
// pass, export the PDF; the PDF is read back with pdftotext (poppler-utils). And a lab with
// hostile instructions renders inert.
import AxeBuilder from '@axe-core/playwright';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, root, test } from './fixtures';

// The host started for each test reads its labs from here (the spec's own worker process).
const labsDir = mkdtempSync(join(tmpdir(), 'mmulab-e2e-labs-'));
cpSync(join(root, 'labs', '01-demand-fault'), join(labsDir, '01-demand-fault'), { recursive: true });
cpSync(join(root, 'labs', '02-nonpae-quadrants'), join(labsDir, '99-hostile'), { recursive: true });
writeFileSync(
  join(labsDir, '99-hostile', 'instructions.md'),
  [
    '# Hostile instructions',
    '',
    '<script>window.__pwned = 1</script>',
    '',
    '<img src=x onerror="window.__pwned = 2">',
    '',
    '[click me](javascript:window.__pwned=3) and [docs](https://www.kernel.org/)',
    '',
    '<iframe src="https://example.com"></iframe>',
  ].join('\n'),
);
writeFileSync(join(labsDir, '99-hostile', 'lab.yaml'), readFileSync(join(labsDir, '99-hostile', 'lab.yaml'), 'utf8').replace('title: "Lab 2: non-PAE quadrants"', 'title: "Hostile lab"'));
process.env.MMU_LAB_LABS_DIR = labsDir;

test('a student walks through lab 1: read, predict, run, answer, checks pass, PDF report', async ({ lab, app, page }, testInfo) => {
  await app.goto(lab.url);
  await page.getByTestId('labs-toggle').click();
  await page.getByTestId('lab-open-01-demand-fault').click();
  await expect(page.getByTestId('lab-title')).toHaveText('Lab 1: the three-vmexit demand fault and the update optimisation');
  await expect(page.getByTestId('lab-instructions').getByRole('heading', { name: 'Lab 1: the three-vmexit demand fault' })).toBeVisible();

  // predict before running
  await page.getByTestId('lab-q-predict-zap').getByRole('textbox').fill('3');
  await expect(page.getByTestId('lab-checks-count')).toHaveText('0 / 5');

  // run: the checks turn green and the first session opens in the views
  await page.getByTestId('lab-run').click();
  await expect(page.getByTestId('lab-checks-count')).toHaveText('5 / 5', { timeout: 30_000 });
  for (const id of ['zap-three-exits', 'update-two-exits', 'same-faults', 'update-faster', 'no-violation'])
    await expect(page.getByTestId(`lab-check-${id}`)).toHaveAttribute('data-passed', 'true');
  await app.waitForIdle();

  // observe and explain
  await page.getByTestId('lab-q-observe-zap').getByRole('textbox').fill('3.0');
  await page.getByTestId('lab-q-observe-update').getByRole('textbox').fill('2');
  await page.getByTestId('lab-q-explain-third').getByLabel("c) the guest's retry of the access").check();
  await page
    .getByTestId('lab-q-explain-why')
    .getByRole('textbox')
    .fill('Update writes the new value into the shadow pte, so the retried access finds a valid spte.');
  await page.getByTestId('lab-check').click();
  for (const id of ['observe-zap', 'observe-update', 'explain-third', 'explain-why']) await expect(page.getByTestId(`lab-q-${id}`).getByRole('status')).toHaveText('✓ right');
  await expect(page.getByTestId('lab-q-predict-zap').getByRole('status')).toHaveText('prediction noted');
  // the panel meets WCAG 2.1 AA as the rest of the app does (a11y.spec.ts)
  const axe = await new AxeBuilder({ page }).include('[data-testid="lab-panel"]').withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  expect(axe.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
  // `MMU_LAB_DOC_SCREENSHOTS=1 npx playwright test e2e/lab.spec.ts` refreshes the guide's picture
  if (process.env.MMU_LAB_DOC_SCREENSHOTS) await page.screenshot({ path: join(root, 'docs', 'images', 'lab-panel.png') });

  // the name is asked once, then the PDF
  await page.getByTestId('lab-student').fill('Ada Lovelace');
  await page.getByTestId('lab-export-pdf').click();
  const link = page.getByTestId('lab-report-link');
  await expect(link).toBeVisible({ timeout: 30_000 });
  await expect(page.getByTestId('lab-student')).toHaveCount(0);
  const download = page.waitForEvent('download');
  await link.click();
  const pdf = testInfo.outputPath('lab-report.pdf');
  await (await download).saveAs(pdf);
  expect(readFileSync(pdf).subarray(0, 5).toString()).toBe('%PDF-');

  const text = spawnSync('pdftotext', [pdf, '-'], { encoding: 'utf8' }).stdout.replace(/\s+/g, ' ');
  expect(text).toContain('Lab 1: the three-vmexit demand fault and the update optimisation');
  expect(text).toContain('Ada Lovelace');
  expect(text).toContain('PASS: 5 of 5 checks pass');
  expect(text).toContain("c) the guest's retry of the access");
  expect(text).toContain('Update writes the new value into the shadow pte');
  expect(text).toMatch(/zap: 3 page-fault exits per guest demand fault zap-three-exits PASS/);
  // a page of it as an image, too (pdftoppm), for the record
  const png = spawnSync('pdftoppm', ['-png', '-r', '50', '-f', '1', '-l', '1', pdf, testInfo.outputPath('page')]);
  expect(png.status).toBe(0);
});

test('hostile lab instructions render inert', async ({ lab, app, page }) => {
  await app.goto(lab.url);
  await page.getByTestId('labs-toggle').click();
  await page.getByTestId('lab-open-99-hostile').click();
  const md = page.getByTestId('lab-instructions');
  await expect(md.getByRole('heading', { name: 'Hostile instructions' })).toBeVisible();
  await expect(md).toContainText('<script>window.__pwned = 1</script>');
  await expect(md).toContainText('<img src=x onerror="window.__pwned = 2">');
  await expect(md.locator('script, img, iframe')).toHaveCount(0);
  await expect(md.locator('a[href^="javascript:"]')).toHaveCount(0);
  await expect(md.locator('a[href="https://www.kernel.org/"]')).toHaveCount(1);
  expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
});
