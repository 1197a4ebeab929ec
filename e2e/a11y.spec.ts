// Accessibility of each main view, checked with axe-core (WCAG 2.1 A and AA rules): no
// serious or critical violation, in the light and in the dark theme. Plus: every control of
// the session's views can be reached with the keyboard.
import AxeBuilder from '@axe-core/playwright';
import type { Page } from '@playwright/test';
import { expect, test } from './fixtures';

async function expectNoSeriousViolations(page: Page, view: string): Promise<void> {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  const bad = result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help}\n  ${v.nodes.slice(0, 5).map((n) => n.target.join(' ')).join('\n  ')}`);
  expect.soft(bad, `axe on ${view}`).toEqual([]);
}

for (const theme of ['light', 'dark'] as const) {
  test(`every main view has no serious or critical axe violation (${theme} theme)`, async ({ lab, app, page }) => {
    // Seven axe passes over a full page take a while on a shared 2-core machine.
    test.setTimeout(150_000);
    lab.record('multi-vcpu');
    await app.goto(lab.url);
    await page.getByTestId('theme').selectOption(theme);
    await expect(page.locator('html')).toHaveAttribute('data-theme', theme);
    await expectNoSeriousViolations(page, 'the empty lab');

    await app.openSession('multi-vcpu.mmulab');
    await expectNoSeriousViolations(page, 'the timeline and events');

    await page.getByRole('tab', { name: 'Breakdown' }).click();
    await expect(page.getByTestId('breakdown-table')).toBeVisible();
    await expectNoSeriousViolations(page, 'the breakdown');

    await page.getByRole('tab', { name: 'Events' }).click();
    await page.getByTestId('goto-event').fill('200');
    await page.getByRole('button', { name: 'Go to the event' }).click();
    await page.getByRole('tab', { name: 'Page tables' }).click();
    await expect(page.getByTestId('guest-tree')).toBeVisible();
    await expectNoSeriousViolations(page, 'the page-table trees');

    await page.getByRole('radio', { name: 'Diff' }).check();
    await page.getByTestId('diff-from').fill('10');
    await page.getByTestId('diff-to').fill('200');
    await page.getByRole('button', { name: 'Show the diff' }).click();
    await expect(page.getByTestId('diff-table')).toBeVisible();
    await expectNoSeriousViolations(page, 'the page-table diff');

    await page.getByRole('tab', { name: 'Compare' }).click();
    await expectNoSeriousViolations(page, 'the compare view (no second session)');
    await page.getByRole('tab', { name: 'Notes' }).click();
    await expectNoSeriousViolations(page, 'the notes');

    await page.getByRole('button', { name: 'Keyboard shortcuts' }).click();
    await expect(page.getByRole('dialog', { name: 'Keyboard shortcuts' })).toBeVisible();
    await expectNoSeriousViolations(page, 'the shortcuts help');
    await page.getByRole('dialog', { name: 'Keyboard shortcuts' }).getByRole('button', { name: 'Close' }).click();

    await page.getByTestId('edit-scenario').click();
    await page.getByTestId('editor-builtin').selectOption('demand-zap');
    await expect(page.getByTestId('scenario-form')).toBeVisible();
    await expectNoSeriousViolations(page, 'the scenario options form');
  });
}

test('the session views can be driven from the keyboard alone', async ({ lab, app, page }) => {
  lab.record('demand-zap');
  await app.goto(lab.url);
  // Tab to the session in the list and open it with Enter.
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('Tab');
    if (await app.sessionButton('demand-zap.mmulab').evaluate((el) => el === document.activeElement)) break;
  }
  await expect(app.sessionButton('demand-zap.mmulab')).toBeFocused();
  await page.keyboard.press('Enter');
  await app.waitForIdle();

  // The tabs follow the arrow keys; the breakdown's controls are reachable with Tab.
  await page.getByRole('tab', { name: 'Events' }).focus();
  await page.keyboard.press('ArrowRight');
  await expect(page.getByRole('tab', { name: 'Breakdown' })).toBeFocused();
  await expect(page.getByRole('tab', { name: 'Breakdown' })).toHaveAttribute('aria-selected', 'true');
  await expect(page.getByTestId('breakdown-table')).toBeVisible();
  const reason = page.getByTestId('breakdown-table').locator('tbody th button').first();
  for (let i = 0; i < 30 && !(await reason.evaluate((el) => el === document.activeElement)); i++) await page.keyboard.press('Tab');
  await expect(reason).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('timeline-filter')).toBeVisible();

  // Every button and field in the main area is in the tab order (none hidden from the keyboard).
  const unreachable = await page.locator('main').evaluate((main) =>
    [...main.querySelectorAll<HTMLElement>('button, input, select, [role="separator"]')]
      .filter((el) => !(el as HTMLButtonElement).disabled && el.offsetParent !== null && el.tabIndex < 0 && el.getAttribute('role') !== 'tab')
      .map((el) => el.outerHTML.slice(0, 80)),
  );
  expect(unreachable).toEqual([]);
});
