/**
 * The report's legends and charts never draw two exit reasons in one colour (issue 17, ranked
 * problem 9: the PDF legend drew two reasons alike): a real trace with seven reasons, imported,
 * gets seven different colours in the timeline legend and the exits chart, the same in both.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { importTrace } from '../import/index.ts';
import { openSession } from '../reader.ts';
import { renderReport } from './html.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmulab-colours-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('every reason of a session has its own colour in the report', async () => {
  const out = join(dir, 's.mmulab');
  const r = await importTrace(join(import.meta.dirname, '..', 'import', 'fixtures', 'ftrace-kvm-kvmmmu-tdp-walk-cr0wp-2023.txt'), out);
  expect(r.ok).toBe(true);
  const session = openSession(out).session!;
  const reasons = Object.keys(session.summary().exitsByReason);
  expect(reasons.length).toBe(7);
  const html = renderReport(session, { title: 't' });
  const legend = [...html.matchAll(/<span class="key"><i style="background:([^"]+)"><\/i>([^<]+)<\/span>/g)].map((m) => [m[2]!, m[1]!] as const);
  expect(legend.map(([r]) => r).sort()).toEqual([...reasons].sort());
  expect(new Set(legend.map(([, c]) => c)).size).toBe(reasons.length);
  // the chart of exits by reason uses the same colour for each reason as the legend
  for (const [reason] of legend) expect(html).toContain(`${reason}</text><rect x="210" `);
  const bars = [...html.matchAll(/>([^<>]+)<\/text><rect x="210" y="[\d.]+" width="[\d.]+" height="\d+" fill="([^"]+)"/g)].map((m) => [m[1]!, m[2]!] as const);
  for (const [reason, colour] of bars) expect(colour).toBe(new Map(legend).get(reason));
});
