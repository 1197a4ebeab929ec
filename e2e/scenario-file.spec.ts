// Ranked problem 8 (errors in the file's own format, naming the field): a scenario file picked in
// the top bar that is broken JSON gets a JSON message (not a YAML parser's), broken YAML gets
// YAML's with its line and column, and a field the host refuses is named with its line in the file.
import { expect, mmuLab, test } from './fixtures';

test('(8) scenario file errors are in the file format and name the field and its line', async ({ app, lab, page }) => {
  await app.goto(lab.url);
  const problem = page.getByTestId('scenario-file-error');
  await page.getByTestId('scenario-file').setInputFiles({ name: 'broken.json', mimeType: 'application/json', buffer: Buffer.from('{\n  "name": "x",\n  "vms": [ }\n') });
  await expect(problem).toContainText('broken.json is not valid JSON');
  await expect(problem).not.toContainText(/YAML|flow collection/);

  await page.getByTestId('scenario-file').setInputFiles({ name: 'broken.yaml', mimeType: 'text/yaml', buffer: Buffer.from('name: x\nvms:\n  - memoryMiB: [1, 2\n') });
  await expect(problem).toContainText(/broken\.yaml is not valid YAML \(line \d+, column \d+\)/);

  const json = '{\n  "name": "too-small",\n  "vms": [\n    { "memoryMiB": -5 }\n  ]\n}\n';
  await page.getByTestId('scenario-file').setInputFiles({ name: 'small.json', mimeType: 'application/json', buffer: Buffer.from(json) });
  await expect(problem).toContainText('small.json, line 4: vms[0].memoryMiB:');
  await problem.getByRole('button', { name: 'Dismiss' }).click();
  await expect(problem).toHaveCount(0);
  await expect(page.getByTestId('no-session')).toBeVisible();
});

test('(8) Edit & run: labels and help from the schema, scenarios grouped by MMU design with descriptions', async ({ app, lab, page }) => {
  const builtins = JSON.parse(mmuLab(['scenarios', '--json'])) as { name: string; description: string }[];
  await app.goto(lab.url);
  await page.getByTestId('edit-scenario').click();
  const dialog = page.getByRole('dialog', { name: 'Run a scenario with your options' });
  const picker = dialog.getByTestId('editor-builtin');
  // Grouped by the MMU design each scenario shows (their mmu.mode and switches).
  for (const [design, name] of [
    ['Shadow paging', 'demand-zap'],
    ['EPT/NPT', 'tdp-demand'],
    ['TDP MMU', 'tdp-mmu-parallel'],
    ['Xen PV', 'xenpv-fork-cow'],
    ['Nested', 'nested-tdp'],
  ] as const)
    await expect(picker.locator(`optgroup[label="${design}"] option[value="${name}"]`)).toHaveCount(1);
  expect(await picker.locator('optgroup').count()).toBe(5);
  expect(await picker.locator('optgroup option').count()).toBe(builtins.length);

  await picker.selectOption('demand-zap');
  await expect(dialog.getByTestId('editor-description')).toHaveText(builtins.find((b) => b.name === 'demand-zap')!.description);
  const form = dialog.getByTestId('scenario-form');
  // People's words, not the raw schema's: "Memory (MiB)", "VM 1", "Add a VM", with help text.
  await expect(form.getByLabel('Memory (MiB)')).toHaveAttribute('data-path', 'vms[0].memoryMiB');
  await expect(form.getByLabel('Memory (MiB)')).toHaveAccessibleDescription(/Guest RAM/);
  await expect(form.getByLabel('On a guest pte write')).toHaveAccessibleDescription(/zap the shadow pte/);
  await expect(form.locator('legend', { hasText: /^VM 1$/ })).toHaveCount(1);
  await expect(form.getByRole('button', { name: 'Add a VM' })).toBeVisible();
  await expect(form).not.toContainText(/Memory Mi B|Vms 0|Add to vms/);
});
