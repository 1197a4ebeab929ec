// The vmexit breakdown as a user reads it: the whole run, a shift-dragged selection, one VM or
// one vCPU, by reason and by handling, sorted; a click on a row or a bar filters the timeline.
// Every count is checked against `mmu-lab export --format jsonl` of the same session.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, exportEvents, mmuLab, root, test, type AppPage } from './fixtures';
import type { Page } from '@playwright/test';

interface Exit {
  t: number;
  vm: number;
  vcpu: number;
  reason: string;
  handling: string;
  duration: number;
}

function exportExits(file: string): Exit[] {
  return mmuLab(['export', file, '--format', 'jsonl'])
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Exit & { type: string })
    .filter((e) => e.type === 'vmexit');
}

function countBy(exits: Exit[], key: (e: Exit) => string): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of exits) out.set(key(e), (out.get(key(e)) ?? 0) + 1);
  return out;
}

async function openBreakdown(app: AppPage, page: Page, lab: { url: string }, id: string): Promise<void> {
  await app.goto(lab.url);
  await app.openSession(id);
  await page.getByRole('tab', { name: 'Breakdown' }).click();
  await expect(page.getByTestId('breakdown-table')).toBeVisible();
}

async function expectTable(page: Page, counts: Map<string, number>): Promise<void> {
  const table = page.getByTestId('breakdown-table');
  await expect(table.locator('tbody tr')).toHaveCount(counts.size);
  for (const [key, n] of counts) await expect(table.locator(`tbody tr[data-key="${key}"] td[data-col="count"]`)).toHaveText(String(n));
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  await expect(page.getByTestId('breakdown-total')).toHaveText(String(total));
}

test('the whole run by reason and by handling, per vCPU, sorted, as the export counts them', async ({ lab, app, page }) => {
  const file = lab.record('multi-vcpu');
  const exits = exportExits(file);
  await openBreakdown(app, page, lab, 'multi-vcpu.mmulab');
  await expect(page.getByTestId('breakdown-range')).toHaveText('whole run');

  const byReason = countBy(exits, (e) => e.reason);
  await expectTable(page, byReason);
  // Time of a reason: the sum of its exits' durations (exact in data-ns, readable in the cell), its min and max.
  const table = page.getByTestId('breakdown-table');
  for (const [reason] of byReason) {
    const mine = exits.filter((e) => e.reason === reason);
    const row = table.locator(`tbody tr[data-key="${reason}"]`);
    const total = mine.reduce((a, e) => a + e.duration, 0);
    await expect(row.locator('td[data-col="time"]')).toHaveAttribute('data-ns', String(total));
    await expect(row.locator('td[data-col="time"]')).toHaveText(/^[\d.]+ (ns|µs|ms)$/);
    await expect(row.locator('td[data-col="min"]')).toHaveAttribute('data-ns', String(Math.min(...mine.map((e) => e.duration))));
    await expect(row.locator('td[data-col="max"]')).toHaveAttribute('data-ns', String(Math.max(...mine.map((e) => e.duration))));
  }

  // Sorted by count, most first; a click on the header reverses it.
  const sortedKeys = [...byReason].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([k]) => k);
  await expect(table.locator('tbody tr').first()).toHaveAttribute('data-key', sortedKeys[0]!);
  await table.getByRole('button', { name: 'Count' }).click();
  await expect(table.locator('thead th').nth(1)).toHaveAttribute('aria-sort', 'ascending');
  await expect(table.locator('tbody tr').first()).toHaveAttribute('data-key', sortedKeys[sortedKeys.length - 1]!);

  await page.getByRole('radio', { name: 'Handling' }).check();
  await expectTable(page, countBy(exits, (e) => e.handling));

  // One vCPU: its exits only.
  await page.getByRole('radio', { name: 'Reason' }).check();
  await page.getByTestId('breakdown-scope').selectOption({ label: 'VM 0 · vCPU 1' });
  await expectTable(page, countBy(exits.filter((e) => e.vm === 0 && e.vcpu === 1), (e) => e.reason));

  // The same vCPU by handling: its exits only, each row's time, min and max from its exits' durations.
  await page.getByRole('radio', { name: 'Handling' }).check();
  const vcpu1 = exits.filter((e) => e.vm === 0 && e.vcpu === 1);
  const handlings1 = countBy(vcpu1, (e) => e.handling);
  await expectTable(page, handlings1);
  for (const [handling] of handlings1) {
    const mine = vcpu1.filter((e) => e.handling === handling);
    const row = table.locator(`tbody tr[data-key="${handling}"]`);
    await expect(row.locator('td[data-col="time"]')).toHaveAttribute('data-ns', String(mine.reduce((a, e) => a + e.duration, 0)));
    await expect(row.locator('td[data-col="min"]')).toHaveAttribute('data-ns', String(Math.min(...mine.map((e) => e.duration))));
    await expect(row.locator('td[data-col="max"]')).toHaveAttribute('data-ns', String(Math.max(...mine.map((e) => e.duration))));
  }
  // Another vCPU has other handlings (only one vCPU fills the shared page table's spte), and the VM is the sum of its vCPUs.
  await page.getByTestId('breakdown-scope').selectOption({ label: 'VM 0 · vCPU 0' });
  const handlings0 = countBy(exits.filter((e) => e.vm === 0 && e.vcpu === 0), (e) => e.handling);
  expect(handlings0).not.toEqual(handlings1);
  await expectTable(page, handlings0);
  await page.getByTestId('breakdown-scope').selectOption({ label: 'VM 0' });
  await expectTable(page, countBy(exits.filter((e) => e.vm === 0), (e) => e.handling));

  // A handling's name filters the timeline to the exits of that handling (on every vCPU, as a reason's does).
  await page.getByTestId('breakdown-scope').selectOption({ label: 'VM 0 · vCPU 1' });
  const [picked] = [...handlings1].sort((a, b) => a[1] - b[1])[0]!;
  await table.getByRole('button', { name: picked }).click();
  await expect(page.getByTestId('timeline-filter')).toContainText(`handling ${picked}`);
  await expect(page.getByTestId('exits-shown')).toHaveText(`${exits.filter((e) => e.handling === picked).length} shown`);
  await page.getByRole('button', { name: 'Show all exits' }).click();
  await expect(page.getByTestId('exits-shown')).toBeHidden();

  // Per vCPU: one row per vCPU with its exits.
  await page.getByTestId('breakdown-scope').selectOption({ label: 'All VMs and vCPUs' });
  await page.getByRole('radio', { name: 'vCPU' }).check();
  await expectTable(page, countBy(exits, (e) => `VM ${e.vm} · vCPU ${e.vcpu}`));
});

test('a shift-drag selection on the timeline narrows the breakdown; a row or a bar filters the timeline', async ({ lab, app, page }) => {
  const file = lab.record('multi-vcpu');
  const exits = exportExits(file);
  await openBreakdown(app, page, lab, 'multi-vcpu.mmulab');

  // Shift-drag over the middle of the timeline.
  await app.selectRange(0.35, 0.7);
  const range = page.getByTestId('breakdown-range');
  await expect(range).toContainText('selection');
  const t0 = Number(await range.getAttribute('data-t0'));
  const t1 = Number(await range.getAttribute('data-t1'));
  expect(t1).toBeGreaterThan(t0);
  const inRange = exits.filter((e) => e.t >= t0 && e.t <= t1);
  expect(inRange.length).toBeGreaterThan(0);
  expect(inRange.length).toBeLessThan(exits.length);
  await expectTable(page, countBy(inRange, (e) => e.reason));

  const dir = join(root, 'artifacts', 'screenshots');
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, 'breakdown.png') });

  // "Whole run" goes back to every exit.
  await page.getByTestId('breakdown').getByRole('button', { name: 'Whole run' }).click();
  await expectTable(page, countBy(exits, (e) => e.reason));

  // A row's name filters the timeline to that reason: the timeline counts what it shows.
  const byReason = countBy(exits, (e) => e.reason);
  const rare = [...byReason].sort((a, b) => a[1] - b[1])[0]!;
  const table = page.getByTestId('breakdown-table');
  await table.getByRole('button', { name: rare[0] }).click();
  await expect(page.getByTestId('timeline-filter')).toContainText(rare[0]);
  await expect(page.getByTestId('exits-shown')).toHaveText(`${rare[1]} shown`);
  await page.getByRole('button', { name: 'Show all exits' }).click();
  await expect(page.getByTestId('exits-shown')).toBeHidden();

  // A click on a bar of the chart does the same (bars are sorted by count, most first).
  const sorted = [...byReason].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const last = sorted.length - 1;
  const over = page.getByTestId('exit-chart').first().locator('.u-over');
  const ob = (await over.boundingBox())!;
  await page.mouse.move(ob.x + ob.width * ((last + 0.5) / sorted.length), ob.y + ob.height - 2);
  await page.mouse.click(ob.x + ob.width * ((last + 0.5) / sorted.length), ob.y + ob.height - 2);
  await expect(page.getByTestId('timeline-filter')).toContainText(sorted[last]![0]);
  await expect(page.getByTestId('exits-shown')).toHaveText(`${sorted[last]![1]} shown`);
});

test('under EPT the breakdown shows the page-walk references the TLB misses cost, as the export sums them', async ({ lab, app, page }) => {
  const file = lab.record('tdp-demand');
  const events = exportEvents<{ type: string; refs?: number }>(file);
  const refs = events.filter((e) => e.type === 'page_walk').reduce((n, e) => n + (e.refs ?? 0), 0);
  expect(refs).toBeGreaterThan(0);
  await openBreakdown(app, page, lab, 'tdp-demand.mmulab');
  await expect(page.getByTestId('breakdown-walk-refs')).toHaveText(refs.toLocaleString('en-US'));
  await expect(page.getByTestId('breakdown-exits')).toHaveText(String(events.filter((e) => e.type === 'vmexit').length));
});

test('two VMs of two vCPUs: one VM and one of its vCPUs by handling, as the export counts them', async ({ lab, app, page }, testInfo) => {
  // VM 0 zaps the shadow pte on a guest pte write, VM 1 updates it: their handlings differ.
  const scenario = {
    name: 'two VMs, two vCPUs',
    seed: 3,
    vms: (['zap', 'update'] as const).map((onGuestPteWrite) => ({
      vcpus: 2,
      guest: { workload: { kind: 'demand-paging', pages: 16 } },
      mmu: { mode: 'shadow', shadow: { onGuestPteWrite } },
    })),
  };
  const scenarioFile = testInfo.outputPath('two-vms.json');
  writeFileSync(scenarioFile, JSON.stringify(scenario));
  const exits = exportExits(lab.record(scenarioFile, 'two-vms.mmulab'));
  await openBreakdown(app, page, lab, 'two-vms.mmulab');
  await page.getByRole('radio', { name: 'Handling' }).check();
  await expectTable(page, countBy(exits, (e) => e.handling));

  const table = page.getByTestId('breakdown-table');
  for (const vm of [0, 1]) {
    await page.getByTestId('breakdown-scope').selectOption({ label: `VM ${vm}` });
    const mine = exits.filter((e) => e.vm === vm);
    const handlings = countBy(mine, (e) => e.handling);
    await expectTable(page, handlings);
    // A VM's time, min and max of a handling span both its vCPUs.
    for (const [handling] of handlings) {
      const d = mine.filter((e) => e.handling === handling).map((e) => e.duration);
      const row = table.locator(`tbody tr[data-key="${handling}"]`);
      await expect(row.locator('td[data-col="time"]')).toHaveAttribute('data-ns', String(d.reduce((a, b) => a + b, 0)));
      await expect(row.locator('td[data-col="min"]')).toHaveAttribute('data-ns', String(Math.min(...d)));
      await expect(row.locator('td[data-col="max"]')).toHaveAttribute('data-ns', String(Math.max(...d)));
    }
  }
  expect(countBy(exits.filter((e) => e.vm === 0), (e) => e.handling)).not.toEqual(countBy(exits.filter((e) => e.vm === 1), (e) => e.handling));

  await page.getByTestId('breakdown-scope').selectOption({ label: 'VM 1 · vCPU 1' });
  await expectTable(page, countBy(exits.filter((e) => e.vm === 1 && e.vcpu === 1), (e) => e.handling));
});
