// §3: every event is drawn on its lane, not only exits. A real trace with its kvm_exit and
// kvm_entry lines taken out (as a host that does not trace exits gives it) is not empty: its lane
// shows a band of its events at every zoom, the count of events in view is the session's, and the
// type legend and the breakdown list each type with the count `mmu-lab info` gives.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, mmuLab, root, test } from './fixtures';

test('a trace without exits still shows its events on its lane at every zoom', async ({ app, lab, page }) => {
  const text = readFileSync(join(root, 'sessions', 'import', 'fixtures', 'ftrace-kvm-kvmmmu-tdp-walk-cr0wp-2023.txt'), 'utf8')
    .split('\n')
    .filter((l) => !/kvm_exit|kvm_entry/.test(l))
    .join('\n');
  await app.goto(lab.url);
  await page.getByTestId('trace-file').setInputFiles({ name: 'no-exits.txt', mimeType: 'text/plain', buffer: Buffer.from(text) });
  await app.waitForIdle();
  const info = JSON.parse(mmuLab(['info', join(lab.sessionsDir, 'no-exits.mmulab'), '--json'])) as { events: number; exits: number; eventsByType: Record<string, number> };
  expect(info.exits).toBe(0);
  await expect(page.getByTestId('exit-count')).toHaveText('0');
  await expect(page.getByTestId('events-in-view')).toHaveText(`${info.events} events`);
  const legend = page.getByTestId('type-legend');
  for (const [type, n] of Object.entries(info.eventsByType)) if (n > 0) await expect(legend.getByText(new RegExp(`^${type} ${n}$`))).toBeVisible();

  /** Pixels of the first lane's lower half that are neither its background nor the guest band. */
  const painted = () =>
    page.getByTestId('timeline-canvas').first().evaluate((canvas: HTMLCanvasElement) => {
      const ctx = canvas.getContext('2d')!;
      const dpr = window.devicePixelRatio || 1;
      const x0 = Number(canvas.dataset.plotX0) * dpr;
      const y0 = (26 + 4 + 15) * dpr;
      const img = ctx.getImageData(x0, y0, canvas.width - x0, 11 * dpr).data;
      const bg = [img[0], img[1], img[2]].join();
      let n = 0;
      for (let i = 0; i < img.length; i += 4) if ([img[i], img[i + 1], img[i + 2]].join() !== bg) n++;
      return n;
    });
  await expect.poll(painted).toBeGreaterThan(20);
  // The breakdown counts any event type, not only exits (this trace has none).
  await page.getByRole('tab', { name: 'Breakdown' }).click();
  const types = page.getByTestId('breakdown-types');
  for (const [type, n] of Object.entries(info.eventsByType)) if (n > 0) await expect(types.locator(`tr[data-key="${type}"] [data-col="count"]`)).toHaveText(String(n));
  await expect(page.getByTestId('breakdown-events')).toHaveText(String(info.events));
  await page.getByRole('tab', { name: 'Events' }).click();
  for (let i = 0; i < 3; i++) {
    await page.getByRole('button', { name: 'Zoom in', exact: true }).click();
    await expect(page.getByTestId('timeline-canvas').first()).toHaveAttribute('data-exact', 'true');
  }
  await expect(page.getByTestId('events-in-view')).toHaveText(/^\d+ events?$/);
  const shown = Number((await page.getByTestId('events-in-view').textContent())!.split(' ')[0]);
  if (shown > 0) await expect.poll(painted).toBeGreaterThan(0);
});
