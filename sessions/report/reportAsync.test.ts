/**
 * The report as the host makes it (renderReportAsync, through exportSessionFile): the same page
 * as the synchronous renderer, with the event loop running while it is made.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { recordBuiltin } from '../testing/recordBuiltin.ts';
import { defaultSections, renderReport, renderReportAsync } from './html.ts';
import { exportSessionFile } from './exportFile.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmulab-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));


/** How many times the event loop got round to its check phase while `work` ran. */
async function loopTurnsDuring<T>(work: () => Promise<T>): Promise<{ value: T; turns: number }> {
  let turns = 0;
  let done = false;
  const tick = () => {
    if (done) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  const value = await work();
  done = true;
  return { value, turns };
}

describe('the report in the host', () => {
  const s = recordBuiltin(join(dir, 'kbuild-zap.mmulab'), 'kbuild-zap', { keyframeEvents: 512, maxEvents: 8000 });

  it('is the same page as the synchronous renderer, for the whole session and for a range', async () => {
    for (const options of [{ title: 'whole' }, { title: 'range', diffFrom: 1000, diffTo: 5000, diffLimit: 20 }]) {
      const { value: html, turns } = await loopTurnsDuring(() => renderReportAsync(s, options));
      expect(html).toBe(renderReport(s, options));
      // the loop ran between every two of its steps: at least once between sections
      expect(turns).toBeGreaterThanOrEqual(defaultSections().length - 1);
    }
  });

  it('names the cap when the diff lists fewer changes than it found', async () => {
    const html = await renderReportAsync(s, { title: 'cap', diffLimit: 5 });
    const m = /Entries that differ between just after event 0 and just after event [\d\s,]+: ([\d\s,]+) \(the first 5 by the event that last changed them are listed\)/.exec(html);
    expect(m).not.toBeNull();
    expect(Number(m![1]!.replace(/\D/g, ''))).toBeGreaterThan(5);
  });

  it('exportSessionFile writes that page', async () => {
    const out = join(dir, 'r.html');
    await exportSessionFile(s, 'html', out, { title: 'file', diffFrom: 10, diffTo: 7000 });
    expect(readFileSync(out, 'utf8')).toBe(renderReport(s, { title: 'file', diffFrom: 10, diffTo: 7000 }));
  });
});
