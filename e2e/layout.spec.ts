// Layouts that hold (issue 17 §6 and ranked problem 6): every view at 1280×800, 1600×1000 and
// 1920×1080, in light and dark, with a message showing in the status line: the top bar and the
// timeline's toolbar stay one row; no control sticks out of the window or of its toolbar, no two
// controls overlap, no button's or label's text is cut. Screenshots of each view (light theme) go
// to artifacts/screenshots/, or to docs/images/ for the guide with MMU_LAB_UPDATE_DOCS_IMAGES=1.
import { expect, test } from './fixtures';
import { SIZES, expectLayout } from './layout-check';

for (const theme of ['light', 'dark'] as const) {
  test(`every view holds its layout at three window sizes (${theme} theme)`, async ({ lab, app, page }) => {
    test.setTimeout(240_000);
    lab.record('multi-vcpu');
    lab.record('demand-zap');
    await app.goto(lab.url);
    await page.getByTestId('theme').selectOption(theme);
    // A message in the status line (a long one) must not push the toolbar onto a second row.
    await page.getByTestId('trace-file').setInputFiles({ name: `a-long-file-name-of-a-summary-table-${'x'.repeat(60)}.txt`, mimeType: 'text/plain', buffer: Buffer.from('Analyze events for all VMs, all VCPUs:\n') });
    await expect(page.getByTestId('trace-error')).toBeVisible();
    await app.openSession('multi-vcpu.mmulab');
    for (const size of SIZES) {
      await page.setViewportSize(size);
      const tag = `${size.width}x${size.height}`;
      const shot = (view: string) => (theme === 'light' ? `${view}-${tag}.png` : undefined);
      await page.getByRole('tab', { name: 'Events' }).click();
      await expect(page.getByTestId('event-table')).toBeVisible();
      await expectLayout(app, `the timeline and events at ${tag}`, shot('timeline'));
      await page.getByRole('tab', { name: 'Breakdown' }).click();
      await expect(page.getByTestId('breakdown-table')).toBeVisible();
      await expectLayout(app, `the breakdown at ${tag}`, shot('breakdown'));
      await page.getByRole('tab', { name: 'Page tables' }).click();
      await expect(page.getByTestId('guest-tree')).toBeVisible();
      await expectLayout(app, `the page tables at ${tag}`, shot('pagetables'));
      await page.getByRole('tab', { name: 'Compare' }).click();
      await expectLayout(app, `the compare view at ${tag}`, shot('compare'));
      await page.getByRole('tab', { name: 'Notes' }).click();
      await expectLayout(app, `the notes at ${tag}`, shot('notes'));
      await page.getByTestId('labs-toggle').click();
      await expect(page.getByTestId('lab-open-01-demand-fault')).toBeVisible();
      await expectLayout(app, `the lab panel at ${tag}`, shot('labs'));
      await page.getByTestId('labs-toggle').click();
    }
  });
}
