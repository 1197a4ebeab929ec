// Compare on one time axis (issue 17 §7): a simulated run and an imported real trace, each
// drawn from its own start, with a marker per guest fault; the faults drawn on each row add up
// to the guest_fault events of that session's JSONL export (`mmu-lab export`).
import { join } from 'node:path';
import { expectAxeCleanInBothThemes } from './axe-check';
import { expect, mmuLab, root, test } from './fixtures';

function exported(file: string): { faults: number; t: number[]; firstFault: number } {
  const t: number[] = [];
  let faults = 0;
  let firstFault = -1;
  for (const line of mmuLab(['export', file, '--format', 'jsonl']).split('\n')) {
    if (!line) continue;
    const e = JSON.parse(line) as { t: number; type: string };
    t.push(e.t);
    if (e.type === 'guest_fault') {
      if (faults === 0) firstFault = t.length - 1;
      faults++;
    }
  }
  return { faults, t, firstFault };
}

test('a simulated run and an imported trace share one time axis with their guest faults marked', async ({ lab, app, page }) => {
  const sim = lab.record('demand-zap');
  const trace = join(root, 'sessions', 'import', 'fixtures', 'ftrace-kvm-page-fault-pf-intercept-2023.txt');
  const imported = join(lab.sessionsDir, 'pf-intercept.mmulab');
  mmuLab(['import', trace, '-o', imported, '-q']);
  const a = exported(sim);
  const b = exported(imported);
  expect(a.faults).toBeGreaterThan(10);
  expect(b.faults).toBeGreaterThan(0);

  await app.goto(lab.url);
  await app.openSession('demand-zap.mmulab');
  await page.getByRole('tab', { name: 'Compare' }).click();
  await page.getByTestId('compare-with').selectOption('pf-intercept.mmulab');
  await page.getByRole('button', { name: 'Compare', exact: true }).click();

  const axis = page.getByTestId('compare-axis');
  for (const [row, want] of [['A', a.faults], ['B', b.faults]] as const) {
    const g = axis.getByTestId(`compare-axis-${row}`);
    await expect(g).toHaveAttribute('data-faults', String(want));
    const counts = await g.getByTestId('fault-marker').evaluateAll((els) => els.map((el) => Number(el.getAttribute('data-count'))));
    expect(counts.reduce((s, n) => s + n, 0)).toBe(want);
  }
  // aligned at their starts: the imported trace's host-clock times do not push its markers off the axis
  const box = (await axis.locator('svg').boundingBox())!;
  for (const m of await axis.getByTestId('fault-marker').all()) {
    const mb = (await m.boundingBox())!;
    expect(mb.x).toBeGreaterThanOrEqual(box.x);
    expect(mb.x).toBeLessThanOrEqual(box.x + box.width);
  }
  // A's playback position on the shared axis: at A's first fault it stands on A's first marker
  await page.getByRole('tab', { name: 'Events' }).click();
  await page.getByTestId('goto-event').fill(String(a.firstFault));
  await page.getByRole('button', { name: 'Go to the event' }).click();
  await expect(page.getByTestId('current-event')).toHaveText(new RegExp(`^event #${a.firstFault} `));
  await page.getByRole('tab', { name: 'Compare' }).click();
  const first = Number(await axis.getByTestId('compare-axis-A').getByTestId('fault-marker').first().getAttribute('x1'));
  await expect.poll(async () => Math.abs(Number(await axis.getByTestId('compare-axis-playhead').getAttribute('x1')) - first)).toBeLessThanOrEqual(0.5);
  await page.getByTestId('compare-axis').screenshot({ path: join(root, 'artifacts', 'screenshots', 'compare-axis.png') });
  await expectAxeCleanInBothThemes(page, '[data-testid="compare"]', 'the compare view with its time axis');
  app.expectNoErrors();
});
