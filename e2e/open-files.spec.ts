// Regression cases of issue 17's ranked problems 1, 4 and 5: a session recorded in a terminal
// (anywhere, not in the host's folder) opens in the browser app with Open session… and by drag
// and drop, under the user's own file name; a trace imported through the UI is titled with the
// user's file name, not the upload's temporary one; switching sessions leaves nothing of the last
// one behind (export link, the note being written, stop/finish messages, a painted tooltip).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, mmuLab, root, test, type AppPage } from './fixtures';

function cliInfo(file: string): { exits: number; events: number } {
  return JSON.parse(mmuLab(['info', file, '--json'])) as { exits: number; events: number };
}

/** Drop a file on the window as a user drags it from a file manager. */
async function dropFile(app: AppPage, name: string, bytes: Buffer): Promise<void> {
  await app.page.evaluate(
    ({ name, b64 }) => {
      const bin = atob(b64);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      const data = new DataTransfer();
      data.items.add(new File([bytes], name));
      window.dispatchEvent(new DragEvent('dragover', { dataTransfer: data, cancelable: true }));
      window.dispatchEvent(new DragEvent('drop', { dataTransfer: data, cancelable: true }));
    },
    { name, b64: bytes.toString('base64') },
  );
}

test('(1) a session recorded in a terminal opens with Open session… and by drop, keeping its file name', async ({ app, lab, page }) => {
  const outside = mkdtempSync(join(tmpdir(), 'mmulab-outside-'));
  try {
    const file = join(outside, 'my run.mmulab');
    mmuLab(['record', 'demand-update', '-o', file]);
    const expected = cliInfo(file);

    await app.goto(lab.url);
    await expect(page.getByTestId('sessions-empty')).toContainText('Open session…');
    await page.getByTestId('session-file-input').setInputFiles(file);
    await app.waitForIdle();
    await expect(page.getByTestId('session-file')).toHaveText('my run.mmulab');
    await expect(page.getByTestId('exit-count')).toHaveText(expected.exits.toLocaleString('en-US'));
    await expect(app.sessionButton('my run.mmulab')).toBeVisible();
    expect(readFileSync(join(lab.sessionsDir, 'my run.mmulab')).equals(readFileSync(file))).toBe(true);

    // The same file again: kept beside the first under a free name, never over it.
    await dropFile(app, 'my run.mmulab', readFileSync(file));
    await expect(page.getByTestId('session-file')).toHaveText('my run-2.mmulab');
    await app.waitForIdle();

    // Not a session: one clear line, nothing kept.
    await dropFile(app, 'broken.mmulab', Buffer.from('this is not a session file at all'));
    await expect(page.getByTestId('session-upload-error')).toContainText('broken.mmulab is not a readable session');
    await expect(app.sessionButton('broken.mmulab')).toHaveCount(0);
  } finally {
    rmSync(outside, { recursive: true, force: true });
  }
});

test('(5) a trace imported through the UI is titled with the user file name, not the upload name', async ({ app, lab, page }) => {
  await app.goto(lab.url);
  const trace = join(root, 'sessions', 'import', 'fixtures', 'ftrace-kvm-kvmmmu-tdp-walk-cr0wp-2023.txt');
  await page.getByTestId('trace-file').setInputFiles({ name: 'my capture.txt', mimeType: 'text/plain', buffer: readFileSync(trace) });
  await app.waitForIdle();
  await expect(page.getByTestId('session-file')).toHaveText('my capture.mmulab');
  await expect(page.getByTestId('session-title')).toHaveText('import: my capture.txt');
  await expect(page.getByTestId('session-title')).not.toContainText('imp-');
  await expect(page.getByTestId('trace-done')).not.toContainText('imp-');
  // (9) Its seven exit reasons get seven different colours in the legend, in both themes.
  for (const theme of ['light', 'dark']) {
    await page.getByTestId('theme').selectOption(theme);
    const swatches = page.getByRole('list', { name: /Exit reasons/ }).locator('.swatch');
    await expect(swatches).toHaveCount(7);
    const colours = await swatches.evaluateAll((els) => els.map((el) => getComputedStyle(el).backgroundColor));
    expect(new Set(colours).size).toBe(7);
  }
});

test('(4) switching sessions resets the export link, the note being written, run messages and the tooltip', async ({ app, lab, page }) => {
  lab.record('demand-update', 'a.mmulab');
  await app.goto(lab.url);
  // A run recorded in the UI leaves its "Recorded …" message...
  await page.getByTestId('scenario-select').selectOption('demand-update');
  await page.getByTestId('record').click();
  await expect(page.getByTestId('run-status')).toContainText('Recorded', { timeout: 30_000 });
  await app.waitForIdle();
  // ...an export its link, the notes tab a half-written note, the timeline a tooltip.
  await page.getByRole('button', { name: 'Export', exact: true }).click();
  await expect(page.getByTestId('export-link')).toBeVisible();
  await page.getByRole('tab', { name: 'Notes' }).click();
  await page.locator('#note-text').fill('half a thought');
  const canvas = page.getByTestId('timeline-canvas').first();
  const box = (await canvas.boundingBox())!;
  for (let x = 120; x < box.width && (await page.getByRole('tooltip').count()) === 0; x += 3) await page.mouse.move(box.x + x, box.y + 40);
  await expect(page.getByRole('tooltip')).toBeVisible();

  await app.sessionButton('a.mmulab').click();
  await expect(page.getByTestId('session-file')).toHaveText('a.mmulab');
  await expect(page.locator('#note-text')).toHaveValue('');
  await page.getByRole('tab', { name: 'Events' }).click();
  await app.waitForIdle();
  await expect(page.getByTestId('run-status')).toHaveCount(0);
  await expect(page.getByTestId('export-link')).toHaveCount(0);
  await expect(page.getByRole('tooltip')).toHaveCount(0);
});
