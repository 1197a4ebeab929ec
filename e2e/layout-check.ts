// Layout checks shared by the layout specs (issue 17 §6): the three window sizes, and what is
// wrong with the visible controls' boxes (sticking out, overlapping, cut text, a one-row toolbar
// that wraps). Screenshots go to artifacts/screenshots/, or to docs/images/ for the guide with
// MMU_LAB_UPDATE_DOCS_IMAGES=1.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { expect, root, type AppPage } from './fixtures';

export const SIZES = [
  { width: 1280, height: 800 },
  { width: 1600, height: 1000 },
  { width: 1920, height: 1080 },
] as const;

/** Boxes of the visible controls, and what is wrong with them (run in the page). */
export async function layoutProblems(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const problems: string[] = [];
    const name = (el: Element) => {
      const text = (el.getAttribute('aria-label') ?? el.textContent ?? '').trim().replace(/\s+/g, ' ').slice(0, 40);
      const id = el.getAttribute('data-testid');
      return `<${el.tagName.toLowerCase()}${id ? ` data-testid=${id}` : ''}> "${text}"`;
    };
    const visible = (el: Element) => {
      const r = el.getBoundingClientRect();
      if (r.width <= 2 || r.height <= 2) return false;
      const css = getComputedStyle(el);
      return css.visibility !== 'hidden' && css.display !== 'none' && Number(css.opacity) > 0.05;
    };
    /** Inside a scrolled box (a table, a list), being out of view is scrolling, not clipping. */
    const scrolled = (el: Element) => {
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
        const css = getComputedStyle(p);
        if (/(auto|scroll)/.test(css.overflowX + css.overflowY) && (p.scrollWidth > p.clientWidth + 1 || p.scrollHeight > p.clientHeight + 1)) return true;
      }
      return false;
    };
    const controls = [...document.querySelectorAll('button, select, input, label.button, a[href], output, [role="tab"], h1, h2')].filter(visible);
    for (const el of controls) {
      const r = el.getBoundingClientRect();
      if (!scrolled(el) && (r.left < -0.5 || r.right > window.innerWidth + 0.5)) problems.push(`${name(el)} sticks out of the window (${Math.round(r.left)}..${Math.round(r.right)} of ${window.innerWidth})`);
      const css = getComputedStyle(el);
      if ((el.tagName === 'BUTTON' || el.tagName === 'LABEL') && css.textOverflow !== 'ellipsis' && el.scrollWidth > el.clientWidth + 1)
        problems.push(`${name(el)} has its text cut (${el.scrollWidth} > ${el.clientWidth})`);
    }
    for (let i = 0; i < controls.length; i++) {
      const a = controls[i]!.getBoundingClientRect();
      for (let j = i + 1; j < controls.length; j++) {
        const ea = controls[i]!;
        const eb = controls[j]!;
        if (ea.contains(eb) || eb.contains(ea)) continue;
        // a label and the control it names sit together by design
        if ((ea.tagName === 'LABEL' && (ea as HTMLLabelElement).control === eb) || (eb.tagName === 'LABEL' && (eb as HTMLLabelElement).control === ea)) continue;
        const b = eb.getBoundingClientRect();
        const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
        const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        if (w > 1 && h > 1) problems.push(`${name(ea)} overlaps ${name(eb)} (${Math.round(w)}×${Math.round(h)} px)`);
      }
    }
    // Toolbars that must stay one row: every child on the same line.
    for (const bar of document.querySelectorAll('[data-one-row]')) {
      const kids = [...bar.children].filter(visible);
      const tops = kids.map((k) => k.getBoundingClientRect().top + k.getBoundingClientRect().height / 2);
      if (tops.length && Math.max(...tops) - Math.min(...tops) > 12) problems.push(`${bar.getAttribute('data-one-row')} wraps to more than one row`);
      const box = bar.getBoundingClientRect();
      for (const k of kids) {
        const r = k.getBoundingClientRect();
        if (r.right > box.right + 0.5 || r.left < box.left - 0.5) problems.push(`${name(k)} sticks out of ${bar.getAttribute('data-one-row')}`);
      }
    }
    // Text inside those toolbars never breaks onto a second line (a two-line "MMU\nLab", a label).
    for (const bar of document.querySelectorAll('[data-one-row]')) {
      const walker = document.createTreeWalker(bar, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (!node.textContent?.trim() || !node.parentElement || !visible(node.parentElement)) continue;
        const range = document.createRange();
        range.selectNodeContents(node);
        const tops = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
        if (tops.size > 1) problems.push(`"${node.textContent.trim().slice(0, 40)}" wraps inside ${bar.getAttribute('data-one-row')}`);
      }
    }
    return problems;
  });
}

export async function expectLayout(app: AppPage, view: string, shot?: string): Promise<void> {
  const problems = await layoutProblems(app.page);
  expect.soft(problems, `layout of ${view}`).toEqual([]);
  if (shot) {
    // The guide's pictures are refreshed on request only, so a test run leaves the tree clean.
    const dir = process.env.MMU_LAB_UPDATE_DOCS_IMAGES ? join(root, 'docs', 'images') : join(root, 'artifacts', 'screenshots');
    mkdirSync(dir, { recursive: true });
    await app.page.screenshot({ path: join(dir, shot) });
  }
}

