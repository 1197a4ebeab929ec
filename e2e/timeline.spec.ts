// The vertical slice: a session recorded by the CLI (or through the UI) opens on the timeline
// with the same number of vmexits as the CLI's JSONL export of the same file.
import { copyFileSync, readFileSync } from 'node:fs';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, exportEvents, mmuLab, root, test } from './fixtures';

/** The marker counts as English says them: "1 guest fault", "4 TLB flushes". */
function markerText(faults: number, flushes: number, waits: number): string {
  const n = (k: number, one: string, many: string) => `${k.toLocaleString('en-US')} ${k === 1 ? one : many}`;
  return `${n(faults, 'guest fault', 'guest faults')} · ${n(flushes, 'TLB flush', 'TLB flushes')} · ${n(waits, 'lock wait', 'lock waits')}`;
}

/** vmexits in the session, counted from `mmu-lab export --format jsonl`, not from the app. */
function exportedExits(file: string): number {
  const jsonl = mmuLab(['export', file, '--format', 'jsonl']);
  return jsonl.split('\n').filter((line) => line.includes('"type":"vmexit"')).length;
}

test('a session recorded by the CLI shows as many exits as its JSONL export', async ({ lab, app, page }) => {
  const file = lab.record('demand-zap');
  const expected = exportedExits(file);
  expect(expected).toBeGreaterThan(0);

  await app.goto(lab.url);
  await app.openSession('demand-zap.mmulab');
  await expect(page.getByTestId('exit-count')).toHaveText(expected.toLocaleString('en-US'));
  // The whole run is in view at first, so the timeline's own count agrees.
  await expect(page.getByTestId('exits-in-view')).toHaveText(`${expected.toLocaleString('en-US')} exit${expected === 1 ? '' : 's'} in view`);
  // One lane per vCPU, and a legend entry per exit reason.
  await expect(page.getByRole('list', { name: /Exit reasons/ }).getByRole('button').first()).toBeVisible();
});

test('a multi-vCPU session gets one lane per vCPU, and the legend filters by reason', async ({ lab, app, page }) => {
  const file = lab.record('multi-vcpu');
  const jsonl = exportEvents<{ vm: number; vcpu: number; type: string; reason?: string }>(file);
  const vcpus = new Set(jsonl.map((e) => `${e.vm}/${e.vcpu}`));
  const exits = jsonl.filter((e) => e.type === 'vmexit');

  await app.goto(lab.url);
  await app.openSession('multi-vcpu.mmulab');
  await expect(page.getByTestId('vcpu-count')).toHaveText(String(vcpus.size));
  await expect(page.getByTestId('timeline-canvas')).toHaveAttribute('aria-label', new RegExp(`^Timeline of ${vcpus.size} vCPU lanes`));
  await expect(page.getByTestId('exit-count')).toHaveText(exits.length.toLocaleString('en-US'));

  // Each reason in the export has a legend entry with its count; clicking one hides it.
  const legend = page.getByRole('list', { name: /Exit reasons/ });
  const byReason = new Map<string, number>();
  for (const e of exits) byReason.set(e.reason ?? '', (byReason.get(e.reason ?? '') ?? 0) + 1);
  for (const [reason, n] of byReason) await expect(legend.getByRole('button', { name: new RegExp(`^${reason} ${n}$`) })).toBeVisible();
  const first = legend.getByRole('button').first();
  await expect(first).toHaveAttribute('aria-pressed', 'true');
  await first.click();
  await expect(first).toHaveAttribute('aria-pressed', 'false');
  await first.click();
  await expect(first).toHaveAttribute('aria-pressed', 'true');
});

test('recording a built-in scenario through the UI lands on its session', async ({ lab, app, page }) => {
  await app.goto(lab.url);
  await expect(page.getByTestId('sessions-empty')).toContainText('No sessions yet');
  await expect(page.getByTestId('no-session')).toBeVisible();

  const select = page.getByLabel('Scenario', { exact: true });
  await expect(select).toBeEnabled();
  await select.selectOption('demand-update');
  // exact: "Record a scenario file…" is a control of its own.
  await page.getByRole('button', { name: 'Record', exact: true }).click();

  await expect(page.getByTestId('run-status')).toContainText('Recorded', { timeout: 30_000 });
  await app.waitForIdle();
  const sessionButton = page.getByRole('navigation', { name: 'Sessions' }).locator('button[aria-current="true"]');
  await expect(sessionButton).toBeVisible();
  const name = (await sessionButton.getAttribute('data-session-id')) ?? '';
  expect(name).toMatch(/\.mmulab$/);

  const expected = exportedExits(join(lab.sessionsDir, name));
  await expect(page.getByTestId('exit-count')).toHaveText(expected.toLocaleString('en-US'));
});

test('zooming and panning the timeline changes the window, and a click moves the cursor', async ({ lab, app, page }) => {
  lab.record('demand-zap');
  await app.goto(lab.url);
  await app.openSession('demand-zap.mmulab');
  const window = page.getByTestId('view-window');
  const canvas = page.getByTestId('timeline-canvas');
  const whole = await window.textContent();

  const box = (await canvas.boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2);
  await page.mouse.wheel(0, -400);
  await expect(window).not.toHaveText(whole ?? '');
  const zoomed = await window.textContent();

  // Drag to pan.
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.8, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  await expect(window).not.toHaveText(zoomed ?? '');

  // Keys on the focused canvas: 0 shows the whole run again.
  await canvas.focus();
  await page.keyboard.press('0');
  await expect(window).toHaveText(whole ?? '');
  await page.getByRole('button', { name: 'Zoom in' }).click();
  await expect(window).not.toHaveText(whole ?? '');
  await page.getByRole('button', { name: 'Whole run' }).click();
  await expect(window).toHaveText(whole ?? '');

  // A click on the timeline puts the playback position there.
  const before = await app.position.textContent();
  await page.mouse.click(box.x + box.width * 0.5, box.y + box.height / 2);
  await expect(app.position).not.toHaveText(before ?? '');
});

test('screenshot of the main view', async ({ lab, app, page }) => {
  lab.record('multi-vcpu');
  lab.record('demand-zap');
  lab.record('demand-update');
  await app.goto(lab.url);
  await page.getByTestId('theme').selectOption('light');
  await app.openSession('multi-vcpu.mmulab');
  // A playback position a third of the way in, a selected range, and its breakdown.
  await page.getByTestId('jump-time').fill('100 µs');
  await page.getByRole('button', { name: 'Go to the time' }).click();
  await page.getByTestId('timeline-canvas').focus();
  await page.keyboard.press('j');
  const canvas = page.getByTestId('timeline-canvas');
  await app.selectRange(0.5, 0.72, canvas, 0.6);
  const box = (await canvas.boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.3, box.y + 10);
  await page.getByRole('tab', { name: 'Breakdown' }).click();
  await page.getByRole('radio', { name: 'Handling' }).check();
  await expect(page.getByTestId('breakdown-range')).toContainText('selection');
  await expect(page.getByTestId('breakdown-table')).toBeVisible();
  const dir = join(root, 'artifacts', 'screenshots');
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, 'timeline.png'), fullPage: false });
  expect(readFileSync(join(dir, 'timeline.png')).length).toBeGreaterThan(10_000);
});

test('zoomed in, lanes mark guest faults, TLB flushes and lock waits as the export lists them', async ({ lab, app, page }) => {
  for (const name of ['multi-vcpu', 'tlb-flush-on-reduce']) {
    const file = lab.record(name);
    const events = exportEvents<{ t: number; type: string }>(file);
    await app.goto(lab.url);
    await app.openSession(`${name}.mmulab`);
    // The whole run of these small sessions is few enough events to mark them all.
    const win = page.getByTestId('view-window');
    const t0 = Number(await win.getAttribute('data-t0'));
    const t1 = Number(await win.getAttribute('data-t1'));
    const count = (type: string) => events.filter((e) => e.type === type && e.t >= t0 && e.t <= t1).length;
    expect(count('guest_fault') + count('tlb_flush') + count('lock_wait')).toBeGreaterThan(0);
    await expect(page.getByTestId('markers-in-view')).toHaveText(markerText(count('guest_fault'), count('tlb_flush'), count('lock_wait')));
    // Zoomed to one exit, only what falls in its window.
    await page.getByTestId('timeline-canvas').focus();
    await page.keyboard.press('j');
    await page.keyboard.press('j');
    await page.keyboard.press('e');
    // (Other vCPUs' exits may overlap it: only the window's span is known to shrink.)
    await expect.poll(async () => Number(await win.getAttribute('data-t1')) - Number(await win.getAttribute('data-t0'))).toBeLessThan(t1 - t0);
    const z0 = Number(await win.getAttribute('data-t0'));
    const z1 = Number(await win.getAttribute('data-t1'));
    const inZoom = (type: string) => events.filter((e) => e.type === type && e.t >= z0 && e.t <= z1).length;
    await expect(page.getByTestId('markers-in-view')).toHaveText(markerText(inZoom('guest_fault'), inZoom('tlb_flush'), inZoom('lock_wait')));
  }
});

test('damage found as a session is read shows in its header: a clean-looking file whose event chunk fails its checksum', async ({ lab, app, page }) => {
  // sessions/fixtures/corrupt: the multi-vcpu fixture with one byte of its second event chunk flipped
  copyFileSync(join(root, 'sessions', 'fixtures', 'corrupt', '001-flipped-event-body.mmulab'), join(lab.sessionsDir, 'damaged.mmulab'));
  await app.goto(lab.url);
  await app.openSession('damaged.mmulab');
  // the whole-run timeline reads every chunk, so the damage is found for the first paint
  const problems = page.getByRole('list', { name: 'Problems found reading the session' });
  await expect(problems).toContainText('fail their checksum');
  await expect(problems).toContainText('byte 3 661');
});
