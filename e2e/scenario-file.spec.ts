// Ranked problem 8 (errors in the file's own format, naming the field): a scenario file picked in
// the top bar that is broken JSON gets a JSON message (not a YAML parser's), broken YAML gets
// YAML's with its line and column, and a field the host refuses is named with its line in the file.
import { expect, test } from './fixtures';

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
