// trace.dat and live capture in the app: "Open trace…" takes a trace-cmd trace.dat (its record
// count from the report text beside it, counted here); "Capture…" ("Record this host's KVM…")
// records the harness guest on this host's real KVM, the session opens while it records and grows,
// and Stop keeps it. Where the host cannot record, the dialog says what is missing.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from './fixtures';
import { REAL_618_DIR } from '../sessions/testing/realPaths';
import { buildHarness, onlyBuildMissing, realKvmMissing } from '../sessions/testing/realKvm';

const REAL = REAL_618_DIR;


test('Open trace… imports a trace.dat with every record of its report twin', async ({ app, lab, page }) => {
  test.skip(!existsSync(join(REAL, 'demand-cpl3.trace.dat')), `no real-6.18 samples at ${REAL}`);
  const report = readFileSync(join(REAL, 'demand-cpl3.report.txt'), 'utf8');
  const records = report.split('\n').filter((l) => /^\s*\S.*-\d+\s+\[\d+\]\s+\d+\.\d+: \w+:/.test(l)).length;
  await app.goto(lab.url);
  await page.getByTestId('trace-file').setInputFiles(join(REAL, 'demand-cpl3.trace.dat'));
  await app.waitForIdle();
  await expect(page.getByTestId('session-file')).toHaveText('demand-cpl3.trace.mmulab');
  await expect(page.getByTestId('trace-done')).toContainText(`from ${records} records of demand-cpl3.trace.dat`);
});

test("Capture… records this host's KVM into a session that opens while it records", async ({ app, lab, page }) => {
  const why = realKvmMissing();
  await app.goto(lab.url);
  await page.getByTestId('capture-open').click();
  const dialog = page.getByTestId('capture-dialog');
  await expect(dialog.getByRole('heading', { name: "Record this host's KVM" })).toBeVisible();
  if (why) {
    // no root / tracefs / KVM here: one sentence says which, and nothing can be started
    test.skip(onlyBuildMissing(why), `the harness guest cannot be built: ${why}`);
    await expect(page.getByTestId('capture-problem')).toContainText(/root|tracefs|KVM/);
    await expect(page.getByTestId('capture-start')).toHaveCount(0);
    return;
  }
  const harness = buildHarness(mkdtempSync(join(tmpdir(), 'mmu-e2e-rk-')));
  await page.getByTestId('capture-duration').fill('');
  await page.getByTestId('capture-start').click();
  await expect(page.getByTestId('capture-status')).toBeVisible();
  const runGuest = () => execFileSync(harness, ['demand', '32'], { env: { ...process.env, GUEST_CPL3: '1' }, stdio: 'ignore' });
  runGuest();
  // the session opens while recording (the dialog follows it) ...
  await expect(page.getByTestId('session-file')).toHaveText(/^capture-.*\.mmulab$/, { timeout: 15_000 });
  const first = Number((await page.getByTestId('event-count').textContent())!.replace(/,/g, ''));
  expect(first).toBeGreaterThan(0);
  // ... and grows with the next run of the guest
  runGuest();
  await expect.poll(async () => Number((await page.getByTestId('event-count').textContent())!.replace(/,/g, '')), { timeout: 15_000 }).toBeGreaterThan(first);
  await page.getByTestId('capture-stop').click();
  await expect(page.getByTestId('capture-done')).toContainText('imported');
});
