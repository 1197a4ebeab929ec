// Nested shadow paging in the page-table view (core/nestedshadow/): L1's shadow pages (SPT12)
// beside L0's structure, each one tree under one root with as many entries as a replay of
// `mmu-lab export --format jsonl` gives per role. Shadow-on-shadow: the CPU's SPT02 as the host
// tree, each SPT02 leaf linked to the one SPT12 leaf it was derived from (L0 has no EPT01 to
// add). Shadow-on-EPT: SPT12 is what the CPU walks (through EPT01), EPT01 beside it.
import { expectAxeCleanInBothThemes } from './axe-check';
import { expect, exportEvents, test, type AppPage } from './fixtures';
import { replayRoles, type Ev } from './roleReplay';

test.use({ viewport: { width: 1600, height: 900 } });

async function openAtEnd(lab: { record(name: string): string; url: string }, app: AppPage, name: string) {
  const file = lab.record(name);
  const events = exportEvents<Ev>(file);
  await app.pageTablesAt(lab.url, `${name}.mmulab`, events.length - 1, false);
  return replayRoles(events);
}

test('shadow-on-shadow: SPT02 and SPT12 side by side, each SPT02 leaf linked to its SPT12 leaf', async ({ lab, app, page }) => {
  const roles = await openAtEnd(lab, app, 'nested-shadow-on-shadow');
  expect([...roles.keys()].sort()).toEqual(['spt02', 'spt12']);
  const host = page.getByTestId('host-tree');
  const spt12 = page.locator('[data-testid="nested-tree"][data-role="spt12"]');
  await expect(host.locator('h3')).toContainText('SPT02');
  await expect(spt12.locator('h3')).toContainText("SPT12 · L1's shadow page tables for L2");
  for (const tree of [host, spt12]) await expect(tree.locator('.root')).toHaveCount(1);
  await page.getByRole('button', { name: 'Expand all' }).click();
  for (const [tree, role] of [[host, 'spt02'], [spt12, 'spt12']] as const) await expect(tree.locator('li[data-entry]')).toHaveCount(roles.get(role)!.entries.size);
  // every SPT02 leaf names the SPT12 leaf it copies; following one highlights exactly that entry
  const leaves02 = [...roles.get('spt02')!.entries.values()].filter((e) => e.level === 1).length;
  expect(leaves02).toBe(32); // one per page the guest touched (the built-in's 32 pages)
  await expect(host.getByTestId('derived-from')).toHaveCount(leaves02);
  await host.getByTestId('derived-from').first().click();
  await expect(spt12.locator('li.hl')).toHaveCount(1);
  // the Picture: SPT12 in the third column, one derived-from curve per SPT02 leaf, to an SPT12 entry drawn there
  await page.getByRole('radio', { name: 'Picture' }).check();
  const diagram = page.getByTestId('pt-diagram');
  await expect(diagram.getByTestId('pt-diagram-section')).toHaveText([/^SPT12/]);
  await expect(diagram.getByTestId('pt-link-derived')).toHaveCount(leaves02);
  for (const l of (await diagram.getByTestId('pt-link-derived').all()).slice(0, 4)) {
    await expect(diagram.getByTestId('pt-diagram-host').locator(`g.entry[data-entry="${await l.getAttribute('data-from')}"]`)).toHaveCount(1);
    await expect(diagram.getByTestId('pt-diagram-nested').locator(`g.entry[data-entry="${await l.getAttribute('data-to')}"]`)).toHaveCount(1);
  }
  await expectAxeCleanInBothThemes(page, '[data-testid="page-tables"]', 'the nested shadow page tables');
  app.expectNoErrors();
});

test('shadow-on-EPT: SPT12 as the CPU walks it, EPT01 beside it', async ({ lab, app, page }) => {
  const roles = await openAtEnd(lab, app, 'nested-shadow');
  expect([...roles.keys()].sort()).toEqual(['ept01', 'spt12']);
  const host = page.getByTestId('host-tree');
  const ept01 = page.locator('[data-testid="nested-tree"][data-role="ept01"]');
  await expect(host.locator('h3')).toContainText('SPT12');
  await expect(ept01.locator('h3')).toContainText("EPT01 · L0's EPT for L1");
  for (const tree of [host, ept01]) await expect(tree.locator('.root')).toHaveCount(1);
  await page.getByRole('button', { name: 'Expand all' }).click();
  for (const [tree, role] of [[host, 'spt12'], [ept01, 'ept01']] as const) await expect(tree.locator('li[data-entry]')).toHaveCount(roles.get(role)!.entries.size);
  app.expectNoErrors();
});
