// Nested TDP in the page-table view (issue 15 §3): EPT02, EPT12 and EPT01 side by side, each one
// tree under one root, with as many entries as a replay of `mmu-lab export --format jsonl` gives
// per role; each EPT02 leaf linked to the EPT12 and EPT01 entries it was derived from, in the
// tree (highlighted) and in the Picture (a curve each).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { expectAxeCleanInBothThemes } from './axe-check';
import { expect, exportEvents, root, test } from './fixtures';
import { replayRoles as replay, type Ev } from './roleReplay';

// wide enough for the guest's tree and the three EPTs in one row
test.use({ viewport: { width: 1600, height: 900 } });

test('a nested TDP session shows EPT02, EPT12 and EPT01 side by side, each EPT02 leaf linked to what it was derived from', async ({ lab, app, page }) => {
  const file = lab.record('nested-tdp');
  const events = exportEvents<Ev>(file);
  const roles = replay(events);
  expect([...roles.keys()].sort()).toEqual(['ept01', 'ept02', 'ept12']);
  const leaves02 = [...roles.get('ept02')!.entries.values()].filter((e) => e.level === 1).length;
  expect(leaves02).toBeGreaterThan(30);

  await app.pageTablesAt(lab.url, 'nested-tdp.mmulab', events.length - 1, false);

  const host = page.getByTestId('host-tree');
  const ept12 = page.locator('[data-testid="nested-tree"][data-role="ept12"]');
  const ept01 = page.locator('[data-testid="nested-tree"][data-role="ept01"]');
  await expect(host.locator('h3')).toContainText('EPT02');
  await expect(ept12.locator('h3')).toContainText("EPT12 · L1's EPT for L2");
  await expect(ept01.locator('h3')).toContainText("EPT01 · L0's EPT for L1");
  // one root each, and (expanded) exactly the entries the replay gives per role
  for (const tree of [host, ept12, ept01]) await expect(tree.locator('.root')).toHaveCount(1);
  await page.getByRole('button', { name: 'Expand all' }).click();
  for (const [tree, role] of [[host, 'ept02'], [ept12, 'ept12'], [ept01, 'ept01']] as const) await expect(tree.locator('li[data-entry]')).toHaveCount(roles.get(role)!.entries.size);
  // side by side: the three trees' tops on one row (the view is wide enough for three columns)
  const tops = await Promise.all([host, ept12, ept01].map(async (t) => (await t.boundingBox())!.y));
  expect(new Set(tops.map((y) => Math.round(y))).size).toBe(1);

  // an EPT02 leaf: "from EPT12 ∘ EPT01" highlights one entry in each
  await host.getByTestId('derived-from').first().click();
  await expect(ept12.locator('li.hl')).toHaveCount(1);
  await expect(ept01.locator('li.hl')).toHaveCount(1);
  await expect(host.getByTestId('derived-from')).toHaveCount(leaves02);
  const shots = join(root, 'artifacts', 'screenshots');
  mkdirSync(shots, { recursive: true });
  await page.getByTestId('page-tables').screenshot({ path: join(shots, 'pagetables-nested-trees.png') });

  // the Picture: a third column (EPT12 above EPT01), two derived-from curves per EPT02 leaf
  await page.getByRole('radio', { name: 'Picture' }).check();
  const diagram = page.getByTestId('pt-diagram');
  await expect(diagram.getByTestId('pt-diagram-section')).toHaveText([/^EPT12/, /^EPT01/]);
  await expect(diagram.getByTestId('pt-link-derived')).toHaveCount(2 * leaves02);
  await expect(page.getByTestId('pt-diagram-summary')).toContainText(`${2 * leaves02} links from EPT02 entries to the EPT12 and EPT01 entries`);
  for (const l of (await diagram.getByTestId('pt-link-derived').all()).slice(0, 6)) {
    await expect(diagram.getByTestId('pt-diagram-host').locator(`g.entry[data-entry="${await l.getAttribute('data-from')}"]`)).toHaveCount(1);
    await expect(diagram.getByTestId('pt-diagram-nested').locator(`g.entry[data-entry="${await l.getAttribute('data-to')}"]`)).toHaveCount(1);
  }
  await diagram.screenshot({ path: join(shots, 'pagetables-nested-picture.png') });
  await expectAxeCleanInBothThemes(page, '[data-testid="page-tables"]', 'the nested page-table picture');
  app.expectNoErrors();
});
