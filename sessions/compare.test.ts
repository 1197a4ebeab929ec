import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SessionReader } from './reader.ts';
import { recordBuiltin } from './testing/recordBuiltin.ts';
import { compareView } from './views.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmulab-compare-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const recorded = (name: string): SessionReader => recordBuiltin(join(dir, `${name}.mmulab`), name, { chunkEvents: 200 });

/** What a range of one session holds, counted from its events one by one. */
function countIn(s: SessionReader, t0: number, t1: number) {
  let events = 0;
  let faults = 0;
  let exitNs = 0;
  const exits = new Map<string, number>();
  for (const e of s.iterate()) {
    if (e.t < t0 || e.t > t1) continue;
    events++;
    if (e.type === 'guest_fault') faults++;
    if (e.type === 'vmexit') {
      exits.set(e.reason, (exits.get(e.reason) ?? 0) + 1);
      exitNs += e.duration;
    }
  }
  return { events, faults, exitNs, exits };
}

describe('sessions.compare over a range of simulated time', () => {
  const zap = recorded('kbuild-zap');
  const update = recorded('kbuild-update');

  it('each side counts its own events in the range; the whole runs without one', () => {
    const end = Math.min(zap.endNs, update.endNs);
    for (const [t0, t1] of [
      [0, end / 3],
      [end / 3, (2 * end) / 3],
      [end / 2, Number.MAX_SAFE_INTEGER],
    ]) {
      const c = compareView(zap, update, { a: 'zap', b: 'update' }, { t0: t0!, t1: t1! });
      expect(c.range).toEqual({ t0, t1 });
      for (const [side, s] of [['a', zap], ['b', update]] as const) {
        const want = countIn(s, t0!, t1!);
        expect(want.events).toBeGreaterThan(0);
        const cell = (key: string) => c.totals.find((x) => x.key === key)![side];
        expect([cell('events'), cell('guest faults'), cell('exit ns'), cell('exits')]).toEqual([want.events, want.faults, want.exitNs, [...want.exits.values()].reduce((x, y) => x + y, 0)]);
        for (const [reason, n] of want.exits) expect(c.exitsByReason.find((x) => x.key === reason)![side]).toBe(n);
        // the part of the range the run covers
        expect(cell('simulated ns')).toBe(Math.min(t1!, s.endNs) - Math.max(t0!, s.startNs));
      }
    }
    const whole = compareView(zap, update, { a: 'zap', b: 'update' });
    expect(whole.range).toBeUndefined();
    expect(whole.totals.find((x) => x.key === 'events')).toMatchObject({ a: zap.eventCount, b: update.eventCount });
  });

  it('a range after both runs compares nothing, without dividing by zero', () => {
    const t0 = Math.max(zap.endNs, update.endNs) + 1;
    const c = compareView(zap, update, { a: 'zap', b: 'update' }, { t0, t1: t0 + 1000 });
    for (const cell of c.totals) expect([cell.a, cell.b, cell.ratio]).toEqual([0, 0, null]);
    expect(c.exitsByReason).toEqual([]);
  });
});
