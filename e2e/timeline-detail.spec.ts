// Regression cases of issue 17's ranked problems 2 and 3, against the CLI's JSONL export of the
// same file (not the app's own numbers):
// (2) at every zoom step the "exits in view" count is the number of exits overlapping the window
//     shown, and no drawn bucket stands for more than one pixel's time (coarser data, e.g. the last
//     window's while the zoom loads, is not drawn);
// (3) a click selects the exit under the pointer in its own lane, even where another vCPU has an
//     event nearer in time, and the details panel shows all of its fields, its duration and vCPU.
import { expect, mmuLab, test, type AppPage } from './fixtures';

interface Ev {
  t: number;
  vm: number;
  vcpu: number;
  type: string;
  duration?: number;
  reason?: string;
  handling?: string;
  [k: string]: unknown;
}

function exported(file: string): Ev[] {
  return mmuLab(['export', file, '--format', 'jsonl'])
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Ev);
}

/** Layout of the lanes (timeline-view.vue): a 26 px ruler, 4 px gap, 30 px per lane. */
const laneMiddle = (i: number) => 26 + 4 + 30 * i + 13;

async function viewWindow(app: AppPage): Promise<{ t0: number; t1: number }> {
  const win = app.page.getByTestId('view-window');
  return { t0: Number(await win.getAttribute('data-t0')), t1: Number(await win.getAttribute('data-t1')) };
}

/** The canvas's own account of what it drew: time per pixel and per drawn bucket. */
async function drawnResolution(app: AppPage): Promise<{ nsPerPx: number; bucketNs: number | undefined }> {
  const canvas = app.page.getByTestId('timeline-canvas').first();
  const bucket = await canvas.getAttribute('data-bucket-ns');
  return { nsPerPx: Number(await canvas.getAttribute('data-ns-per-px')), bucketNs: bucket === null ? undefined : Number(bucket) };
}

test('(2) exact detail at every zoom: counts in view match the export, buckets never wider than a pixel', async ({ app, lab, page }) => {
  const file = lab.record('kbuild-zap');
  const exits = exported(file).filter((e) => e.type === 'vmexit');
  const inWindow = (t0: number, t1: number) => exits.filter((e) => e.t <= t1 && e.t + (e.duration ?? 0) >= t0).length;
  await app.goto(lab.url);
  await app.openSession('kbuild-zap.mmulab');
  await expect(page.getByTestId('exits-in-view')).toHaveText(`${exits.length.toLocaleString('en-US')} exits in view`);

  for (let step = 0; step < 6; step++) {
    await page.getByRole('button', { name: 'Zoom in', exact: true }).click();
    // Right after the click, before the new window's data arrives: nothing coarse is drawn.
    const now = await drawnResolution(app);
    if (now.bucketNs !== undefined) expect(now.bucketNs).toBeLessThanOrEqual(now.nsPerPx * 1.001);
    await expect(page.getByTestId('timeline-canvas').first()).toHaveAttribute('data-exact', 'true');
    const { t0, t1 } = await viewWindow(app);
    const n = inWindow(t0, t1);
    await expect(page.getByTestId('exits-in-view')).toHaveText(`${n.toLocaleString('en-US')} exit${n === 1 ? '' : 's'} in view`);
    const drawn = await drawnResolution(app);
    expect(drawn.bucketNs).toBeDefined();
    expect(drawn.bucketNs!).toBeLessThanOrEqual(drawn.nsPerPx * 1.001);
  }
});

test('(3) a click selects the exit under the pointer in its own lane and shows its details', async ({ app, lab, page }) => {
  const file = lab.record('multi-vcpu');
  const events = exported(file);
  // An exit of vCPU 1 during which another vCPU has an event: a click on it must not land on that one.
  const pick = events.findIndex(
    (e, i) => e.type === 'vmexit' && e.vcpu === 1 && (e.duration ?? 0) > 0 && events.some((o, j) => j > i && o.vcpu !== 1 && o.t > e.t && o.t < e.t + (e.duration ?? 0)),
  );
  expect(pick).toBeGreaterThanOrEqual(0);
  const exit = events[pick]!;

  await app.goto(lab.url);
  await app.openSession('multi-vcpu.mmulab');
  // Put the exit in view with some neighbours: go to it, zoom to it, zoom out a little.
  await page.getByTestId('goto-event').fill(String(pick));
  await page.getByRole('button', { name: 'Go to the event' }).click();
  await expect(page.getByTestId('current-event')).toContainText(`event #${pick}`);
  await page.getByRole('button', { name: 'Zoom to event' }).click();
  await page.getByRole('button', { name: 'Zoom out', exact: true }).click();
  await page.getByRole('button', { name: 'Zoom out', exact: true }).click();
  await expect(page.getByTestId('timeline-canvas').first()).toHaveAttribute('data-exact', 'true');
  // Move away first (one event back), so the click is what selects it.
  await page.getByRole('button', { name: 'Step back one event' }).click();
  await expect(page.getByTestId('current-event')).not.toContainText(`event #${pick}`);

  const canvas = page.getByTestId('timeline-canvas').first();
  const box = (await canvas.boundingBox())!;
  const x0 = Number(await canvas.getAttribute('data-plot-x0'));
  const { t0, t1 } = await viewWindow(app);
  // Just after the other vCPU's event inside the exit: the nearest event in time is not this exit.
  const other = events.find((o, j) => j > pick && o.vcpu !== 1 && o.t > exit.t && o.t < exit.t + (exit.duration ?? 0))!;
  const tClick = Math.min(other.t + 1, exit.t + (exit.duration ?? 0) - 1);
  const x = x0 + ((tClick - t0) / (t1 - t0)) * (box.width - x0);
  const lane = [...new Set(events.map((e) => `${e.vm}/${e.vcpu}`))].sort().indexOf('0/1');
  await page.mouse.click(box.x + x, box.y + laneMiddle(lane));

  const details = page.getByTestId('event-details');
  await expect(details).toHaveAttribute('data-index', String(pick));
  await expect(details.locator('[data-field="vcpu"]')).toHaveText('1');
  await expect(details.locator('[data-field="vm"]')).toHaveText(String(exit.vm));
  await expect(details.locator('[data-field="duration"]')).toContainText(exit.duration! >= 1000 ? 'µs' : 'ns');
  for (const key of Object.keys(exit).filter((k) => !['t', 'vm', 'vcpu', 'type', 'duration'].includes(k)))
    await expect(details.locator(`[data-field="${key}"]`)).toHaveText(String(exit[key]));
  await expect(details.getByRole('heading')).toHaveText(`Event #${pick.toLocaleString('en-US')}: vmexit`);
});

test('a click on a merged pixel of a long run (counted from the session summaries) selects that pixel\'s first exit in its lane', async ({ app, lab, page }) => {
  const file = lab.record('kbuild-zap');
  const events = exported(file);
  await app.goto(lab.url);
  await app.openSession('kbuild-zap.mmulab');
  const canvas = page.getByTestId('timeline-canvas').first();
  await expect(canvas).toHaveAttribute('data-exact', 'true');
  const box = (await canvas.boundingBox())!;
  const x0 = Number(await canvas.getAttribute('data-plot-x0'));
  const { t0, t1 } = await viewWindow(app);
  const lanes = [...new Set(events.map((e) => `${e.vm}/${e.vcpu}`))].sort();
  const [vm, vcpu] = lanes[0]!.split('/').map(Number);
  // the middle of the run, on the first lane: a pixel standing for many exits
  const x = x0 + (box.width - x0) / 2;
  const tAt = (px: number) => t0 + ((px - x0) / (box.width - x0)) * (t1 - t0);
  await page.mouse.click(box.x + x, box.y + laneMiddle(0));
  const details = page.getByTestId('event-details');
  // the slice's first exit is looked up (a few event pages) before it is selected
  await expect(details.locator('#details-title')).toContainText(': vmexit');
  const picked = events[Number(await details.getAttribute('data-index'))]!;
  expect([picked.type, picked.vm, picked.vcpu]).toEqual(['vmexit', vm, vcpu]);
  // the first exit of a cell no wider than a pixel, within the 4 px the hit test allows
  const px = (t1 - t0) / (box.width - x0);
  expect(picked.t).toBeGreaterThanOrEqual(tAt(x) - 5 * px);
  expect(picked.t).toBeLessThanOrEqual(tAt(x) + 5 * px);
  const index = Number(await details.getAttribute('data-index'));
  await expect(details.locator('#details-title')).toHaveText(`Event #${index.toLocaleString('en-US')}: vmexit`);
  await expect(page.getByTestId('current-event')).toContainText(`event #${index}`);
});
