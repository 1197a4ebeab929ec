// Issue 17 §3: flow arrows on the timeline link related events. With an event of a demand fault's
// causal chain selected, the timeline draws an arrow from each step to the next (the guest access,
// the #PF exit, the guest fault, the emulation exit and its gpte write, the fill exit and its spte
// write, the retried access), each end at its event's time on its lane, as the JSONL export times
// them; a click on an arrow's end selects that event.
import { join } from 'node:path';
import { expect, exportEvents, root, test } from './fixtures';

interface Ev {
  t: number;
  type: string;
  va?: string;
  gpa?: string;
  handling?: string;
  level?: number;
}

test('the causal chain is drawn as flow arrows; a click on an end selects that step', async ({ lab, app, page }) => {
  const file = lab.record('demand-zap');
  const events = exportEvents<Ev>(file);
  const fill = events.map((e, i) => ({ e, i })).filter(({ e }) => e.type === 'vmexit' && e.handling === 'fill-spte')[1]!;
  const va = fill.e.va!;
  const access = events.findIndex((e) => e.type === 'page_walk' && e.va === va);
  const fault = events.findIndex((e) => e.type === 'guest_fault' && e.va === va);
  const emulate = events.findIndex((e) => e.type === 'vmexit' && e.handling === 'emulate-pte-write' && e.va === va);
  const gpte = events.findIndex((e, i) => i > emulate && e.type === 'gpte_write' && e.gpa === events[emulate]!.gpa);
  const spte = events.findIndex((e, i) => i > fill.i && e.type === 'spte_write' && e.level === 1);
  const story = [access, fault, emulate, gpte, fill.i, spte];
  expect(story.every((x, i, a) => x > 0 && (i === 0 || x > a[i - 1]!))).toBe(true);

  await app.goto(lab.url);
  await app.openSession('demand-zap.mmulab');
  // Zoom in (about the middle) as far as the story still fits three times over, then go to the
  // guest fault: the timeline centres it at that zoom.
  const canvas = page.getByTestId('timeline-canvas').first();
  const win = page.getByTestId('view-window');
  const span = events[spte]!.t - events[access]!.t;
  for (;;) {
    const s = Number(await win.getAttribute('data-t1')) - Number(await win.getAttribute('data-t0'));
    if (s / 2 < 3 * span) break;
    await page.getByRole('button', { name: 'Zoom in', exact: true }).click();
    await expect.poll(async () => Number(await win.getAttribute('data-t1')) - Number(await win.getAttribute('data-t0'))).toBeLessThan(s);
  }
  await page.getByTestId('goto-event').fill(String(fault));
  await page.getByRole('button', { name: 'Go to the event' }).click();
  await expect(page.getByTestId('current-event')).toContainText(`event #${fault} · guest_fault`);

  // The arrows' ends are the chain's steps, in the details panel's order, at their export times.
  const chainIndexes = await page.getByTestId('causal-chain').locator('li').evaluateAll((lis) => lis.map((li) => Number(li.getAttribute('data-index'))));
  for (const i of story) expect(chainIndexes).toContain(i);
  await expect.poll(async () => (await canvas.getAttribute('data-flows'))?.split(' ').map((e) => Number(e.split(':')[0]))).toEqual(chainIndexes);
  const ends = (await canvas.getAttribute('data-flows'))!.split(' ').map((e) => e.split(':').map(Number) as [number, number, number]);
  const t0 = Number(await win.getAttribute('data-t0'));
  const nsPerPx = Number(await canvas.getAttribute('data-ns-per-px'));
  const x0 = Number(await canvas.getAttribute('data-plot-x0'));
  for (const [index, x] of ends) expect(Math.abs(x - (x0 + (events[index]!.t - t0) / nsPerPx))).toBeLessThan(1);

  // The guide's picture of the arrows, refreshed on request only.
  if (process.env.MMU_LAB_UPDATE_DOCS_IMAGES) await page.locator('section.timeline').first().screenshot({ path: join(root, 'docs', 'images', 'timeline-flows.png') });

  // The first step's dot is painted in the accent colour.
  const [, ax, ay] = ends[0]!;
  const painted = await canvas.evaluate((c: HTMLCanvasElement, [x, y]) => {
    const dpr = window.devicePixelRatio || 1;
    const px = c.getContext('2d')!.getImageData(Math.round(x * dpr), Math.round(y * dpr), 1, 1).data;
    const probe = document.createElement('canvas').getContext('2d')!;
    probe.fillStyle = getComputedStyle(c).getPropertyValue('--accent').trim();
    probe.fillRect(0, 0, 1, 1);
    const want = probe.getImageData(0, 0, 1, 1).data;
    return [0, 1, 2].every((k) => Math.abs(px[k]! - want[k]!) <= 8);
  }, [ax, ay] as const);
  expect(painted).toBe(true);

  // A click on the first end selects the guest access; the chain (the same from any step) stays drawn.
  const box = (await canvas.boundingBox())!;
  await page.mouse.click(box.x + ax, box.y + ay);
  await expect(page.getByTestId('current-event')).toContainText(`event #${ends[0]![0]} · `);
  await expect(page.getByTestId('causal-chain').locator('li[aria-current="step"]')).toHaveAttribute('data-index', String(ends[0]![0]));
  await expect.poll(async () => (await canvas.getAttribute('data-flows'))?.split(' ').map((e) => Number(e.split(':')[0]))).toEqual(chainIndexes);
});
