/**
 * Event density per lane, bucket and type against a count made straight from the JSONL export
 * (every event's time, lane and type), for whole runs and zoomed windows, with chunks small enough
 * that some fall inside one bucket (counted from the index) and others straddle buckets (decoded).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { recordBuiltin } from './testing/recordBuiltin.ts';
import { densityView } from './density.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmulab-density-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('counts every event of each lane per bucket and type, exactly', () => {
  const s = recordBuiltin(join(dir, 'multi-vcpu.mmulab'), 'multi-vcpu', { chunkEvents: 16 });
  const all = s.events(0, s.eventCount).events;
  for (const [t0, t1, nb] of [
    [s.startNs, s.endNs, 40],
    [s.startNs, s.endNs, 3],
    [s.startNs + (s.endNs - s.startNs) * 0.3, s.startNs + (s.endNs - s.startNs) * 0.35, 17],
  ] as const) {
    const view = densityView(s, t0, t1, nb);
    // buckets are cells of a power-of-two grid no wider than a pixel: the widest such cell
    let width = 1;
    while (width * 2 <= (t1 - t0) / nb) width *= 2;
    const first = Math.floor(t0 / width);
    const count = Math.floor(t1 / width) - first + 1;
    expect([view.bucketNs, view.origin, view.buckets]).toEqual([width, first * width, count]);
    for (const lane of view.lanes) {
      const expected = new Map<string, number[]>();
      let n = 0;
      for (const e of all) {
        const t = Number(e.t);
        if (e.vm !== lane.vm || e.vcpu !== lane.vcpu || t < t0 || t > t1) continue;
        const b = Math.floor(t / width) - first;
        const row = expected.get(String(e.type)) ?? new Array<number>(count).fill(0);
        row[b]! += 1;
        expected.set(String(e.type), row);
        n++;
      }
      expect(lane.events).toBe(n);
      expect(Object.fromEntries(lane.types.map((t, k) => [t, lane.counts[k]]))).toEqual(Object.fromEntries(expected));
    }
  }
});
