// Importing a real KVM trace through the UI ("Open trace…"): the file is uploaded to the browser
// host, imported, and the new session opens with as many vmexits as the trace text has kvm_exit
// records, counted by the independent oracle (sessions/testing/traceTextCounts.ts), not the app.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { countText } from '../sessions/testing/traceTextCounts';
import { expect, root, test } from './fixtures';

const FIXTURES = join(root, 'sessions', 'import', 'fixtures');

test('Open trace… imports a trace and lands on its session with the exits of the text', async ({ app, lab, page }) => {
  const name = 'ftrace-kvm-kvmmmu-tdp-walk-cr0wp-2023.txt';
  const text = readFileSync(join(FIXTURES, name), 'utf8');
  const counts = countText(text);
  expect(counts.byEvent.kvm_exit).toBeGreaterThan(5);

  await app.goto(lab.url);
  await page.getByTestId('trace-file').setInputFiles(join(FIXTURES, name));
  await app.waitForIdle();
  await expect(page.getByTestId('session-file')).toHaveText('ftrace-kvm-kvmmmu-tdp-walk-cr0wp-2023.mmulab');
  await expect(page.getByTestId('exit-count')).toHaveText((counts.byEvent.kvm_exit ?? 0).toLocaleString('en-US'));
  await expect(page.getByTestId('exits-in-view')).toHaveText(`${(counts.byEvent.kvm_exit ?? 0).toLocaleString('en-US')} exit${counts.byEvent.kvm_exit === 1 ? '' : 's'} in view`);
  // one legend entry per reason, with the count the text has
  const legend = page.getByRole('list', { name: /Exit reasons/ });
  for (const [reason, n] of Object.entries(counts.reasons)) await expect(legend.getByRole('button', { name: new RegExp(`^${reason} ${n}$`) })).toBeVisible();
  await expect(page.getByTestId('trace-done')).toContainText(`${counts.byEvent.kvm_exit} exits`);
  await expect(app.sessionButton('ftrace-kvm-kvmmmu-tdp-walk-cr0wp-2023.mmulab')).toBeVisible();
});

test('a summary table is refused with the reason; Cancel stops a big import and keeps nothing', async ({ app, lab, page }) => {
  await app.goto(lab.url);
  await page.getByTestId('trace-file').setInputFiles(join(FIXTURES, 'perf-kvm-stat-report-samples.txt'));
  await expect(page.getByTestId('trace-error')).toContainText('summary table, not a trace');
  await page.getByTestId('trace-error').getByRole('button', { name: 'Dismiss' }).click();

  const line = (i: number) => `qemu-1 [000] d.... ${(1000 + i / 1e6).toFixed(6)}: kvm_exit: vcpu 0 reason HLT rip 0x1 info1 0x0 info2 0x0 intr_info 0x0 error_code 0x0\n`;
  const big = Buffer.from(Array.from({ length: 120_000 }, (_, i) => line(i)).join(''));
  await page.getByTestId('trace-file').setInputFiles({ name: 'big-trace.txt', mimeType: 'text/plain', buffer: big });
  await expect(page.getByTestId('trace-progress')).toBeVisible();
  await page.getByTestId('trace-cancel').click();
  await expect(page.getByTestId('trace-progress')).toBeHidden();
  await expect(page.getByTestId('trace-error')).toBeHidden();
  await expect(page.getByTestId('no-session')).toBeVisible();
  await expect(app.sessionButton('big-trace.mmulab')).toHaveCount(0);
});

test("a real 6.18 trace with no kvm_exit says so in the session header, and a trace with exits does not", async ({ app, lab, page }) => {
  const realDir = join(FIXTURES, 'real-6.18');
  const file = join(realDir, 'demand-cpl3.ftrace.txt');
  test.skip(!existsSync(file), `no real-6.18 sample at ${realDir}`);
  const counts = countText(readFileSync(file, 'utf8'));
  expect(counts.byEvent.kvm_exit ?? 0).toBe(0); // the oracle: this host's KVM traces no exits
  expect(counts.records.length).toBeGreaterThan(100);

  await app.goto(lab.url);
  await page.getByTestId('trace-file').setInputFiles(join(FIXTURES, 'ftrace-kvm-kvmmmu-tdp-walk-cr0wp-2023.txt'));
  await app.waitForIdle();
  await expect(page.getByTestId('session-file')).toHaveText('ftrace-kvm-kvmmmu-tdp-walk-cr0wp-2023.mmulab');
  await expect(page.getByTestId('trace-notes')).toHaveCount(0);

  await page.getByTestId('trace-file').setInputFiles(file);
  await app.waitForIdle();
  await expect(page.getByTestId('session-file')).toHaveText('demand-cpl3.ftrace.mmulab');
  await expect(page.getByTestId('trace-notes')).toContainText('no kvm_exit');
  await expect(page.getByTestId('exit-count')).toHaveText('0');
});
