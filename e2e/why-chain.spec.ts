// Ranked problem 7: "why did this change" follows the causal chain, and the diff's Covers column
// is filled. From a shadow pte in the page-table diff, Why lands on the spte write, and the details
// show the chain back to the guest pte write, the guest fault and the access that started it (and on
// to the retried access), each a link; the events are those the JSONL export lists for that address.
import { expect, exportEvents, test } from './fixtures';

interface Ev {
  t: number;
  vm: number;
  vcpu: number;
  type: string;
  va?: string;
  gpa?: string;
  handling?: string;
  table?: number;
  index?: number;
  level?: number;
}

test('(7) why: from the spte write back through the gpte write and the guest fault; Covers filled', async ({ lab, app, page }) => {
  const file = lab.record('demand-zap');
  const events = exportEvents<Ev>(file);
  // The second demand fault's story, read from the export: its emulation exit names the gpte's gpa,
  // its fill exit is followed by the leaf spte write.
  const fills = events.map((e, i) => ({ e, i })).filter(({ e }) => e.type === 'vmexit' && e.handling === 'fill-spte');
  const fill = fills[1]!;
  const va = fill.e.va!;
  const spte = events.findIndex((e, i) => i > fill.i && e.type === 'spte_write' && e.level === 1);
  const emulate = events.findIndex((e) => e.type === 'vmexit' && e.handling === 'emulate-pte-write' && e.va === va);
  const gpte = events.findIndex((e, i) => i > emulate && e.type === 'gpte_write' && e.gpa === events[emulate]!.gpa);
  const fault = events.findIndex((e) => e.type === 'guest_fault' && e.va === va);
  const access = events.findIndex((e) => e.type === 'page_walk' && e.va === va);
  expect([access, fault, emulate, gpte, fill.i, spte].every((x, i, a) => x > 0 && (i === 0 || x > a[i - 1]!))).toBe(true);

  await app.goto(lab.url);
  await app.openSession('demand-zap.mmulab');
  await page.getByRole('tab', { name: 'Page tables' }).click();
  await page.getByRole('radio', { name: 'Diff' }).check();
  await page.getByTestId('diff-from').fill('0');
  await page.getByTestId('diff-to').fill(String(spte + 2));
  await page.getByRole('button', { name: 'Show the diff' }).click();
  const row = page.locator(`[data-testid="diff-table"] tr[data-entry="shadow:s0:${events[spte]!.table}:${events[spte]!.index}"]`);
  await expect(row).toBeVisible();
  // Covers: the 4 KiB page at va.
  await expect(row.locator('td').nth(4)).toHaveText(`${va}–0x${(BigInt(va) + 0xfffn).toString(16)}`);

  await row.getByRole('button', { name: /^Why did/ }).click();
  await expect(page.getByTestId('current-event')).toContainText(`event #${spte} · spte_write`);
  const chain = page.getByTestId('causal-chain');
  for (const i of [access, fault, emulate, gpte, fill.i, spte]) await expect(chain.locator(`li[data-index="${i}"]`)).toBeVisible();
  await expect(chain.locator(`li[data-index="${gpte}"]`)).toContainText('gpte write');
  await expect(chain.locator(`li[data-index="${fault}"]`)).toContainText('guest fault');
  await expect(chain.locator('li[aria-current="step"]')).toHaveAttribute('data-index', String(spte));
  // Each step is a link: back to the guest fault, then the chain is the same from there.
  await chain.locator(`li[data-index="${fault}"]`).getByRole('button').click();
  await expect(page.getByTestId('current-event')).toContainText(`event #${fault} · guest_fault`);
  await expect(chain.locator('li[aria-current="step"]')).toHaveAttribute('data-index', String(fault));
  await expect(chain.locator(`li[data-index="${spte}"]`)).toBeVisible();
});
