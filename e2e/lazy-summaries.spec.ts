// Issue 17 §5 for a file without summaries (an older file, a killed recording): opening it builds
// each lane's summaries in its whole-run overview query, which shows progress % and a Cancel that
// stops the build in the host (no further progress on the wire); opened again, it ends with the
// exit count of the JSONL export. The test hook makes each step of 4 chunks take 200 ms.
import { readFileSync, writeFileSync } from 'node:fs';
import { crc32 } from '../sessions/format';
import { expect, mmuLab, test } from './fixtures';
import { LARGE_ID, recordLarge, watchQueries } from './large-session';

test.use({ hostEnv: { MMU_LAB_TEST_QUERY_STEP_MS: '200' } });

/** The file with its SUMM chunk's type one the reader does not know (checksum redone): an older file. */
function dropSummaries(file: string): void {
  const b = readFileSync(file);
  for (let off = 16; off + 8 <= b.length; off += 16 + b.readUInt32LE(off + 4)) {
    if (b.toString('latin1', off, off + 4) !== 'SUMM') continue;
    const length = b.readUInt32LE(off + 4);
    b.write('XSUM', off, 'latin1');
    b.writeUInt32LE(crc32(b.subarray(off, off + 8 + length)), off + 8 + length);
    writeFileSync(file, b);
    return;
  }
  throw new Error('the recording has no SUMM chunk');
}

test('opening a file without summaries shows the build progress %, and Cancel stops it in the host', async ({ lab, app, page }) => {
  test.setTimeout(150_000);
  const file = recordLarge(lab.sessionsDir);
  dropSummaries(file);
  const wire = watchQueries(page);

  await app.goto(lab.url);
  await app.sessionButton(LARGE_ID).click();
  const bar = page.getByTestId('open-progress');
  await expect(bar).toBeVisible();
  await expect(bar).toContainText(/\d+%/);
  await expect.poll(() => wire.progress.length).toBeGreaterThan(0);
  const queryId = wire.progress.at(-1)!.queryId;

  await page.getByTestId('open-cancel').click();
  await expect(bar).toBeHidden();
  await expect(page.getByTestId('no-session')).toBeVisible();
  await expect.poll(() => wire.cancelAnswers.find((a) => a.queryId === queryId)?.cancelled).toBe(true);
  const answeredAt = wire.cancelAnswers.find((a) => a.queryId === queryId)!.at;
  expect(wire.progress.filter((p) => p.queryId === queryId).at(-1)!.fraction).toBeLessThan(1);
  // a running build reports every 200 ms step; a stopped one nothing more
  await page.waitForTimeout(1000);
  expect(wire.progress.filter((p) => p.queryId === queryId && p.at > answeredAt + 50)).toEqual([]);

  // opened again, the build ends and the overview counts every exit the export has
  let exits = 0;
  for (const line of mmuLab(['export', file, '--format', 'jsonl']).split('\n')) if (line.includes('"vmexit"') && (JSON.parse(line) as { type: string }).type === 'vmexit') exits++;
  expect(exits).toBeGreaterThan(10_000);
  await app.sessionButton(LARGE_ID).click();
  await expect(page.getByTestId('exit-count')).toHaveText(/^[\d,]+$/, { timeout: 60_000 });
  expect(Number((await page.getByTestId('exit-count').textContent())!.replace(/\D/g, ''))).toBe(exits);
  await expect(bar).toBeHidden();
});
