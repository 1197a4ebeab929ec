// The page-table picture on a projector (issue 17 §4 and §6): at 1280×800, 1600×1000 and 1920×1080,
// light and dark, the picture's controls hold their layout (e2e/layout-check.ts), the walk grid and
// every legend stay inside the page-tables panel with no text cut, the picture scrolls by keyboard
// with a visible focus ring, and its Size control enlarges the drawing. Screenshots of the TDP walk
// and of Xen PV pinning (light theme) go to docs/images/ with MMU_LAB_UPDATE_DOCS_IMAGES=1.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { expect, exportEvents, root, test } from './fixtures';
import { SIZES, expectLayout } from './layout-check';

interface Ev {
  type: string;
  table?: number;
  handling?: string;
  memMask?: number;
  pscMask?: number;
  tlbMask?: number;
}
function shotDir(): string {
  const dir = process.env.MMU_LAB_UPDATE_DOCS_IMAGES ? join(root, 'docs', 'images') : join(root, 'artifacts', 'screenshots');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Legends, captions and grid cells of the picture that stick out of the panel or have their text cut (run in the page). */
async function pictureProblems(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const out: string[] = [];
    const panel = document.querySelector('[data-testid="page-tables"]')!.getBoundingClientRect();
    const items = document.querySelectorAll('[data-testid="page-tables"] :is(figcaption, .legend li, .legend .key, [data-testid="walk-grid"] table, [data-testid="walk-cell"], .zoom)');
    for (const el of items) {
      const r = el.getBoundingClientRect();
      if (r.width < 1) continue;
      const what = `${el.tagName.toLowerCase()} "${(el.textContent ?? '').trim().replace(/\s+/g, ' ').slice(0, 40)}"`;
      if (r.left < panel.left - 0.5 || r.right > panel.right + 0.5) out.push(`${what} sticks out of the panel (${Math.round(r.left)}..${Math.round(r.right)} of ${Math.round(panel.left)}..${Math.round(panel.right)})`);
      if (r.right > window.innerWidth + 0.5) out.push(`${what} sticks out of the window`);
      if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'auto') out.push(`${what} has its text cut (${el.scrollWidth} > ${el.clientWidth})`);
    }
    const legend = [...document.querySelectorAll('[data-testid="page-tables"] .legend li, [data-testid="page-tables"] .legend .key')].map((e) => e.getBoundingClientRect());
    for (let i = 0; i < legend.length; i++)
      for (let j = i + 1; j < legend.length; j++) {
        const a = legend[i]!;
        const b = legend[j]!;
        if (Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1 && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1) out.push(`legend items ${i} and ${j} overlap`);
      }
    return out;
  });
}

/** Scroll the panes holding the page tables back to the top, as the app opens. */
async function scrollPanesToTop(page: Page): Promise<void> {
  await page.evaluate(() => {
    for (let el = document.querySelector('[data-testid="page-tables"]'); el; el = el.parentElement) el.scrollTop = 0;
    window.scrollTo(0, 0);
  });
}

for (const theme of ['light', 'dark'] as const) {
  test(`the page-table picture holds at three window sizes, scrolls by keyboard and enlarges (${theme} theme)`, async ({ lab, app, page }) => {
    test.setTimeout(180_000);
    const tdp = exportEvents<Ev>(lab.record('tdp-mmu-parallel'));
    const walkAt = tdp.findIndex((e, i) => i > tdp.length / 2 && e.type === 'page_walk' && !!e.pscMask && !!e.tlbMask);
    const xen = exportEvents<Ev>(lab.record('xenpv-fork-cow'));
    // just after the second pin and the entries Xen validated for it (they follow the exit)
    let pinAt = xen.map((e, i) => (e.type === 'vmexit' && e.handling === 'pin' ? i : -1)).filter((i) => i >= 0)[1]!;
    while (xen[pinAt + 1]?.type === 'spte_write' || xen[pinAt + 1]?.type === 'shadow_page') pinAt++;
    expect(walkAt).toBeGreaterThan(0);
    expect(pinAt).toBeGreaterThan(0);

    for (const [session, at, view] of [['tdp-mmu-parallel.mmulab', walkAt, 'walk'], ['xenpv-fork-cow.mmulab', pinAt, 'xen']] as const) {
      await app.pageTablesAt(lab.url, session, at);
      await expect(page.getByTestId('pt-diagram')).toBeVisible();
      await page.getByTestId('theme').selectOption(theme);
      await expect(page.locator('html')).toHaveAttribute('data-theme', theme);
      if (view === 'walk') await expect(page.getByTestId('walk-grid')).toBeVisible();
      else await expect(page.getByTestId('pt-legend-pinned')).toBeVisible();
      for (const size of SIZES) {
        await page.setViewportSize(size);
        const tag = `${size.width}x${size.height}`;
        expect.soft(await pictureProblems(page), `the ${view} picture at ${tag} (${theme})`).toEqual([]);
        await expectLayout(app, `the ${view} picture at ${tag} (${theme})`, theme === 'light' ? `pagetables-picture-${view}-${tag}.png` : undefined);
        // the guide's close-up: the panel alone, at the projector-like middle size
        if (theme === 'light' && size.width === 1600) {
          await page.getByTestId('page-tables').screenshot({ path: join(shotDir(), `pagetables-picture-${view}.png`) });
          await scrollPanesToTop(page); // the element screenshot scrolled the panel into view
        }
      }
    }

    // keyboard: Tab reaches the picture, which shows its focus and scrolls with the arrow keys
    await page.setViewportSize(SIZES[0]);
    const scroll = page.getByTestId('pt-scroll');
    await page.getByTestId('pt-zoom').focus();
    await page.keyboard.press('Tab');
    await expect(scroll).toBeFocused();
    expect(await scroll.evaluate((el) => getComputedStyle(el).outlineStyle)).not.toBe('none');
    const top0 = await scroll.evaluate((el) => el.scrollTop);
    await page.keyboard.press('PageDown');
    await expect.poll(() => scroll.evaluate((el) => el.scrollTop)).toBeGreaterThan(top0);

    // Size: the drawing grows by the chosen factor, and the page still holds
    const svg = scroll.locator('svg');
    const w1 = Number(await svg.getAttribute('width'));
    await page.getByTestId('pt-zoom').selectOption({ label: '150%' });
    await expect.poll(async () => Number(await svg.getAttribute('width'))).toBeCloseTo(w1 * 1.5, 0);
    // (focusing the picture scrolled the panes holding it: back to the top, as a user would)
    await scrollPanesToTop(page);
    expect.soft(await pictureProblems(page), `the enlarged picture (${theme})`).toEqual([]);
    await expectLayout(app, `the enlarged picture (${theme})`);
    app.expectNoErrors();
  });
}
