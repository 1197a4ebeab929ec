// Page tables through the UI: the trees at an event, a guest entry's shadow mirrors, and a
// diff between two events with the expected changed entry (the COW write-protect of a guest
// pte: RW cleared), checked against `mmu-lab export --format jsonl` of the same session;
// "why did this change" lands on the event that wrote it.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, exportEvents, root, test } from './fixtures';

interface Ev {
  t: number;
  type: string;
  level?: number;
  gpa?: string;
  old?: string;
  new?: string;
}

test('a diff across a guest pte write shows the changed entry with old → new flags, and why', async ({ lab, app, page }) => {
  const file = lab.record('cow-zap');
  const events = exportEvents<Ev>(file);
  // The first guest pte rewritten from one present value to another (fork write-protects it).
  const k = events.findIndex((e) => e.type === 'gpte_write' && e.old !== '0x0' && e.new !== '0x0' && e.level === 1);
  expect(k).toBeGreaterThan(0);
  const w = events[k]!;
  const gpa = BigInt(w.gpa!);
  const table = `g0:0x${(gpa & ~0xfffn).toString(16)}`;
  const index = Number((gpa & 0xfffn) / 8n);
  // Bit 1 (R/W) is what the write-protect clears.
  expect(BigInt(w.old!) & 2n).toBe(2n);
  expect(BigInt(w.new!) & 2n).toBe(0n);

  await app.goto(lab.url);
  await app.openSession('cow-zap.mmulab');
  const current = page.getByTestId('current-event');

  // Go to the event before the write, mark it, step one event, mark that, diff.
  await page.getByTestId('goto-event').fill(String(k - 1));
  await page.getByRole('button', { name: 'Go to the event' }).click();
  await expect(current).toHaveText(new RegExp(`^event #${k - 1} `));
  await page.getByRole('tab', { name: 'Page tables' }).click();
  await page.getByRole('radio', { name: 'Diff' }).check();
  await page.getByRole('button', { name: 'From here' }).click();
  await page.getByRole('button', { name: 'Step forward one event' }).click();
  await expect(page.getByTestId('diff-from')).toHaveValue(String(k - 1));
  await page.getByRole('button', { name: 'To here' }).click();
  await expect(page.getByTestId('diff-to')).toHaveValue(String(k));
  await page.getByRole('button', { name: 'Show the diff' }).click();

  await expect(page.getByTestId('diff-summary')).toContainText('1 entry differ between event');
  const row = page.locator(`[data-testid="diff-table"] tr[data-entry="guest:${table}:${index}"]`);
  await expect(row).toBeVisible();
  await expect(row.locator('.badge')).toHaveText('changed');
  await expect(row.locator('code.old')).toHaveText(w.old!);
  await expect(row.locator('code.new')).toHaveText(w.new!);
  await expect(row.locator('del.flag')).toHaveText('RW');

  // Why: back to event k-1, then the link lands on event k.
  await page.getByRole('button', { name: 'Step back one event' }).click();
  await expect(current).toHaveText(new RegExp(`^event #${k - 1} `));
  await row.getByRole('button', { name: /^Why did/ }).click();
  await expect(current).toHaveText(`event #${k} · gpte_write`);

  // A wider range for the picture: from the write to 40 events later.
  await page.getByTestId('diff-to').fill(String(Math.min(events.length - 1, k + 40)));
  await page.getByRole('button', { name: 'Show the diff' }).click();
  await expect(page.getByTestId('diff-table').locator('tbody tr').first()).toBeVisible();
  const dir = join(root, 'artifacts', 'screenshots');
  mkdirSync(dir, { recursive: true });
  await page.getByTestId('page-tables').scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(dir, 'pagetable-diff.png') });
});

test('the trees at an event hold the entries the export wrote, and a guest entry links to its sptes', async ({ lab, app, page }) => {
  const file = lab.record('demand-zap');
  const events = exportEvents<Ev>(file);
  const at = Math.floor(events.length / 2);
  // Guest entries present after event `at`: the last value written to each entry address.
  const last = new Map<bigint, string>();
  for (let i = 0; i <= at; i++) {
    const e = events[i]!;
    if (e.type === 'gpte_write') last.set(BigInt(e.gpa!), e.new!);
  }
  const present = [...last].filter(([, v]) => v !== '0x0');
  expect(present.length).toBeGreaterThan(2);

  await app.goto(lab.url);
  await app.openSession('demand-zap.mmulab');
  await page.getByTestId('goto-event').fill(String(at));
  await page.getByRole('button', { name: 'Go to the event' }).click();
  await page.getByRole('tab', { name: 'Page tables' }).click();
  await expect(page.getByTestId('pt-at')).toContainText(`After event #${at}`);
  const guest = page.getByTestId('guest-tree');
  await page.getByRole('button', { name: 'Expand all' }).click();
  await expect(guest.locator('li[data-entry]')).toHaveCount(present.length);
  for (const [addr, value] of present) {
    const key = `g0:0x${(addr & ~0xfffn).toString(16)}:${Number((addr & 0xfffn) / 8n)}`;
    await expect(guest.locator(`li[data-entry="${key}"] > .entry code.value`)).toHaveText(value);
  }

  // The last written leaf: its shadow entries get highlighted in the shadow tree.
  const [leafAddr] = present[present.length - 1]!;
  const leafKey = `g0:0x${(leafAddr & ~0xfffn).toString(16)}:${Number((leafAddr & 0xfffn) / 8n)}`;
  await guest.locator(`li[data-entry="${leafKey}"] > .entry`).getByRole('button', { name: /^Show the shadow entries/ }).click();
  const host = page.getByTestId('host-tree');
  await expect(host.locator('li.hl')).toHaveCount(1);
  await expect(host.locator('li.hl > .entry .flags')).toContainText('P');
});
