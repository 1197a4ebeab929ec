// The inspector's search and related events, as a user drives them: find an exit by reason and
// handling, a guest fault by its address; for an emulated pte write, the guest pte write that
// caused it; for a fill, the spte writes it produced. Indexes come from `mmu-lab export`.
import { expect, exportEvents, test } from './fixtures';

interface Ev {
  t: number;
  vm: number;
  vcpu: number;
  type: string;
  handling?: string;
  reason?: string;
  gpa?: string;
  va?: string;
}

test('search by reason, handling and address; related events of an exit', async ({ lab, app, page }) => {
  const file = lab.record('demand-zap');
  const events = exportEvents<Ev>(file);
  const current = page.getByTestId('current-event');
  await app.goto(lab.url);
  await app.openSession('demand-zap.mmulab');

  // The first emulated pte write exit, and the guest pte write (same gpa) that caused it.
  const emu = events.findIndex((e) => e.type === 'vmexit' && e.handling === 'emulate-pte-write');
  const cause = events.findIndex((e, i) => i > emu && e.type === 'gpte_write' && e.gpa === events[emu]!.gpa);
  await page.getByTestId('search-reason').selectOption(events[emu]!.reason!);
  await page.getByTestId('search-handling').fill('emulate');
  await page.getByRole('button', { name: 'Find next' }).click();
  await expect(current).toHaveText(`event #${emu} · vmexit`);
  const related = page.getByTestId('related');
  await expect(related.locator('li[data-role="guest pte write that caused the exit"] .go')).toHaveText(`#${cause}`);

  // The next fill: the spte writes it produced (its vCPU, up to its next exit).
  const fill = events.findIndex((e, i) => i > emu && e.type === 'vmexit' && e.handling === 'fill-spte');
  const produced: number[] = [];
  for (let i = fill + 1; i < events.length; i++) {
    const e = events[i]!;
    if (e.vm !== events[fill]!.vm || e.vcpu !== events[fill]!.vcpu) continue;
    if (e.type === 'vmexit') break;
    if (e.type === 'spte_write') produced.push(i);
  }
  expect(produced.length).toBeGreaterThan(0);
  await page.getByTestId('search-handling').fill('fill-spte');
  await page.getByRole('button', { name: 'Find next' }).click();
  await expect(current).toHaveText(`event #${fill} · vmexit`);
  await expect(related.locator('li[data-role="spte write it produced"] .go')).toHaveText(produced.map((i) => `#${i}`));
  // Going to one of them keeps the same episode in view.
  await related.locator('li[data-role="spte write it produced"]').first().getByRole('button').click();
  await expect(current).toHaveText(`event #${produced[0]} · spte_write`);
  await expect(related.locator('li[data-role="the exit"] .go')).toHaveText(`#${fill}`);

  // By address: the guest fault on the third page the workload touches.
  const faults = events.map((e, i) => ({ e, i })).filter(({ e }) => e.type === 'guest_fault');
  const target = faults[2]!;
  await page.getByTestId('search-reason').selectOption('');
  await page.getByTestId('search-handling').fill('');
  await page.getByTestId('search-type').selectOption('guest_fault');
  await page.getByTestId('search-address').fill(target.e.va!);
  await page.getByRole('button', { name: 'Find previous' }).click();
  const before = faults.filter(({ e, i }) => i < produced[0]! && e.va === target.e.va);
  if (before.length === 0) await expect(page.getByTestId('search-status')).toContainText('No matching event before');
  await page.getByRole('button', { name: 'Find next' }).click();
  await expect(current).toHaveText(`event #${target.i} · guest_fault`);
  await page.getByRole('button', { name: 'Find next' }).click();
  const after = faults.find(({ e, i }) => i > target.i && (BigInt(e.va!) >> 12n) === (BigInt(target.e.va!) >> 12n));
  if (after) await expect(current).toHaveText(`event #${after.i} · guest_fault`);
  else await expect(page.getByTestId('search-status')).toContainText(`No matching event after event #${target.i}`);
});
