// Running with options from the UI: a built-in scenario loaded into the form generated from the
// scenario schema, options changed, a bad value named with its field (and Run refused), then run
// and landed in playback. The recorded session is checked against the CLI recording of the same
// scenario (the form's JSON), so the UI ran exactly what the form showed.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, mmuLab, test } from './fixtures';

test('edit a built-in scenario in the generated form, see validation, run it, land in playback', async ({ lab, app, page }) => {
  await app.goto(lab.url);
  await page.getByTestId('edit-scenario').click();
  const dialog = page.getByRole('dialog', { name: 'Run a scenario with your options' });
  await dialog.getByTestId('editor-builtin').selectOption('demand-zap');
  const form = dialog.getByTestId('scenario-form');
  await expect(form.locator('[data-path="vms[0].mmu.shadow.onGuestPteWrite"]')).toHaveValue('zap');

  // Flip one option and shrink the run.
  await form.locator('[data-path="vms[0].mmu.shadow.onGuestPteWrite"]').selectOption('update');
  await form.locator('[data-path="vms[0].guest.workload.pages"]').fill('12');
  // A value out of range is named with its field, and Run is refused.
  await form.locator('[data-path="vms[0].memoryMiB"]').fill('0');
  await expect(dialog.getByTestId('form-errors')).toContainText('vms[0].memoryMiB must be at least 1');
  await expect(dialog.getByRole('button', { name: 'Run' })).toBeDisabled();
  await form.locator('[data-path="vms[0].memoryMiB"]').fill('64');
  await expect(dialog.getByTestId('form-ok')).toBeVisible();

  await dialog.getByRole('checkbox', { name: 'Show as JSON' }).check();
  const json = JSON.parse((await dialog.getByTestId('scenario-json').textContent()) ?? '{}') as { vms: { mmu: { shadow: { onGuestPteWrite: string } }; guest: { workload: { pages: number } } }[] };
  expect(json.vms[0]!.mmu.shadow.onGuestPteWrite).toBe('update');
  expect(json.vms[0]!.guest.workload.pages).toBe(12);

  await dialog.getByRole('button', { name: 'Run' }).click();
  await expect(page.getByTestId('run-status')).toContainText('Recorded', { timeout: 30_000 });
  await app.waitForIdle();
  const name = (await page.getByRole('navigation', { name: 'Sessions' }).locator('button[aria-current="true"]').getAttribute('data-session-id')) ?? '';

  // The CLI records the form's JSON: the same exits as the session the UI recorded.
  const scenarioFile = join(lab.sessionsDir, `${name}.scenario.json`);
  writeFileSync(scenarioFile, JSON.stringify(json));
  const cliFile = join(lab.sessionsDir, `cli-${name}`);
  mmuLab(['record', scenarioFile, '-o', cliFile]);
  const exits = (file: string) => mmuLab(['export', file, '--format', 'jsonl']).split('\n').filter((l) => l.includes('"type":"vmexit"')).length;
  const expected = exits(cliFile);
  expect(expected).toBe(exits(join(lab.sessionsDir, name)));
  await expect(page.getByTestId('exit-count')).toHaveText(expected.toLocaleString('en-US'));
});
