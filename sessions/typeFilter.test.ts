/**
 * The timeline's type filter in the host: the density leaves out the hidden types and raw names,
 * and the raw events' names are counted, each checked against the session's JSONL export.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { densityView } from './density.ts';
import { exportJsonl } from './export.ts';
import { importTrace } from './import/index.ts';
import { openSession, type SessionReader } from './reader.ts';
import { rawNameSteps } from './rawNames.ts';
import { recordBuiltin } from './testing/recordBuiltin.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmulab-typefilter-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function rows(s: SessionReader): Record<string, string | number>[] {
  let text = '';
  exportJsonl(s, (t) => (text += t));
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, string | number>);
}
const shown = (s: SessionReader, buckets: number, hidden: string[]) => densityView(s, s.startNs, s.endNs, buckets, hidden).lanes.reduce((n, l) => n + l.events, 0);

it('leaves hidden types out of the density, whether counted from the index or decoded', () => {
  const s = recordBuiltin(join(dir, 'multi-vcpu.mmulab'), 'multi-vcpu', { chunkEvents: 64 });
  const all = rows(s);
  for (const buckets of [1, 7, 900]) {
    expect(shown(s, buckets, [])).toBe(all.length);
    expect(shown(s, buckets, ['vmexit', 'lock_wait'])).toBe(all.filter((e) => e.type !== 'vmexit' && e.type !== 'lock_wait').length);
    const d = densityView(s, s.startNs, s.endNs, buckets, ['vmexit']);
    expect(d.lanes.every((l) => !l.types.includes('vmexit'))).toBe(true);
  }
});

it('counts raw events by name and hides them by name', async () => {
  const out = join(dir, 'dirty-ring.mmulab');
  await importTrace(join(import.meta.dirname, 'import/fixtures/tracecmd-kvm-dirty-ring-2019.txt'), out);
  const s = openSession(out).session!;
  const all = rows(s);
  const want: Record<string, number> = {};
  for (const e of all) if (e.type === 'raw') want[String(e.name)] = (want[String(e.name)] ?? 0) + 1;
  const g = rawNameSteps(s);
  let r = g.next();
  while (!r.done) r = g.next();
  expect(r.value).toEqual(want);
  const [name] = Object.keys(want);
  for (const buckets of [1, 50]) {
    expect(shown(s, buckets, [`raw:${name}`])).toBe(all.filter((e) => !(e.type === 'raw' && e.name === name)).length);
    expect(shown(s, buckets, ['raw'])).toBe(all.filter((e) => e.type !== 'raw').length);
    // Per bucket: the raw events of the other names, bucketed on the density's own grid.
    const d = densityView(s, s.startNs, s.endNs, buckets, [`raw:${name}`]);
    const first = Math.round(d.origin / d.bucketNs);
    for (const lane of d.lanes) {
      const want = new Array<number>(d.buckets).fill(0);
      for (const e of all) if (e.type === 'raw' && e.name !== name && e.vm === lane.vm && e.vcpu === lane.vcpu) want[Math.min(d.buckets - 1, Math.floor(Number(e.t) / d.bucketNs) - first)]! += 1;
      const k = lane.types.indexOf('raw');
      if (k >= 0) expect(lane.counts[k]).toEqual(want);
      else expect(want.every((n) => n === 0)).toBe(true);
    }
  }
});
