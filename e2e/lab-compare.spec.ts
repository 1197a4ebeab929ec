// A student's session against the lab's reference in the app (issue 17 §7; the terminal's
// `mmu-lab compare --lab`): the student's run of demand-update against lab 1's "zap" reference.
// The reference the host records holds as many exits as the CLI's own reference recording says,
// A's exits are the student's export's vmexit lines, and the guest faults of both are marked.
import { join } from 'node:path';
import { expectAxeCleanInBothThemes } from './axe-check';
import { expect, mmuLab, test } from './fixtures';

function exportCounts(file: string): { exits: number; faults: number } {
  let exits = 0;
  let faults = 0;
  for (const line of mmuLab(['export', file, '--format', 'jsonl']).split('\n')) {
    if (!line) continue;
    const e = JSON.parse(line) as { type: string };
    if (e.type === 'vmexit') exits++;
    else if (e.type === 'guest_fault') faults++;
  }
  return { exits, faults };
}

test('the lab panel compares a student session with the lab reference, on one axis', async ({ lab, app, page }) => {
  const studentFile = lab.record('demand-update', 'my-run.mmulab');
  const student = exportCounts(studentFile);
  const cli = JSON.parse(mmuLab(['compare', studentFile, '--lab', '01-demand-fault', '--scenario', 'zap', '--json'])) as { metrics: { name: string; a: number; b: number }[] };
  const cliExits = cli.metrics.find((m) => m.name === 'vmexits')!;
  expect(cliExits.a).toBe(student.exits);

  await app.goto(lab.url);
  await page.getByTestId('labs-toggle').click();
  await page.getByTestId('lab-open-01-demand-fault').click();
  const panel = page.getByTestId('lab-compare');
  await panel.getByTestId('lab-compare-session').selectOption('my-run.mmulab');
  await panel.getByTestId('lab-compare-scenario').selectOption('zap');
  await panel.getByTestId('lab-compare-run').click();
  await expect(panel.getByTestId('lab-compare-done')).toContainText('lab-01-demand-fault-zap-reference.mmulab');

  const reference = exportCounts(join(lab.sessionsDir, 'lab-01-demand-fault-zap-reference.mmulab'));
  // the host's reference is the same recording as the CLI's (the simulator is deterministic)
  expect(reference.exits).toBe(cliExits.b);
  const exitsRow = page.getByTestId('compare-totals').locator('tr[data-key="exits"]');
  await expect(exitsRow.locator('[data-col="a"]')).toHaveText(student.exits.toLocaleString('en-US'));
  await expect(exitsRow.locator('[data-col="b"]')).toHaveText(reference.exits.toLocaleString('en-US'));
  await expect(page.getByTestId('compare-axis-A')).toHaveAttribute('data-faults', String(student.faults));
  await expect(page.getByTestId('compare-axis-B')).toHaveAttribute('data-faults', String(reference.faults));
  // the lab's own sessions were not touched
  await expect(app.sessionButton('lab-01-demand-fault-zap.mmulab')).toHaveCount(0);
  await expectAxeCleanInBothThemes(page, '[data-testid="lab-compare"]', 'the lab panel’s compare');
  app.expectNoErrors();
});
