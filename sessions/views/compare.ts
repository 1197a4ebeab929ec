/**
 * Two sessions side by side (sessions.compare and `mmu-lab compare`): each side's totals and
 * the ratio b/a of every figure.
 */
import type { SessionReader } from '../reader.ts';
import { sessionTotals, type TimeRange } from './totals.ts';

export interface CompareCell {
  key: string;
  a: number;
  b: number;
  ratio: number | null;
}

export interface CompareSide {
  id: string;
  scenarioName: string;
  events: number;
  simNs: number;
  exits: number;
  faults: number;
}

export interface CompareView {
  /** The range of simulated time compared in both sessions; absent: the whole runs. */
  range?: TimeRange;
  a: CompareSide;
  b: CompareSide;
  totals: CompareCell[];
  exitsByReason: CompareCell[];
  exitNsByReason: CompareCell[];
}

/** b over a, or null where a is 0 (the `ratio` of sessions.compare and of `mmu-lab compare`). */
export const ratio = (a: number, b: number): number | null => (a === 0 ? null : b / a);

export function compareView(a: SessionReader, b: SessionReader, ids: { a: string; b: string }, range?: TimeRange): CompareView {
  const side = (s: SessionReader, id: string) => {
    const t = sessionTotals(s, range);
    return { c: t.counters, exitNs: t.exitNs, side: { id, scenarioName: s.header.scenarioName, events: t.events, simNs: t.simNs, exits: t.exits, faults: t.faults } };
  };
  const A = side(a, ids.a);
  const B = side(b, ids.b);
  const cells = (ra: Record<string, number>, rb: Record<string, number>) =>
    [...new Set([...Object.keys(ra), ...Object.keys(rb)])]
      .map((key) => ({ key, a: ra[key] ?? 0, b: rb[key] ?? 0, ratio: ratio(ra[key] ?? 0, rb[key] ?? 0) }))
      .sort((x, y) => Math.max(y.a, y.b) - Math.max(x.a, x.b) || x.key.localeCompare(y.key));
  const totals: CompareCell[] = [
    { key: 'simulated ns', a: A.side.simNs, b: B.side.simNs, ratio: ratio(A.side.simNs, B.side.simNs) },
    { key: 'events', a: A.side.events, b: B.side.events, ratio: ratio(A.side.events, B.side.events) },
    { key: 'exits', a: A.side.exits, b: B.side.exits, ratio: ratio(A.side.exits, B.side.exits) },
    { key: 'exit ns', a: A.exitNs, b: B.exitNs, ratio: ratio(A.exitNs, B.exitNs) },
    { key: 'guest faults', a: A.side.faults, b: B.side.faults, ratio: ratio(A.side.faults, B.side.faults) },
  ];
  return { ...(range ? { range } : {}), a: A.side, b: B.side, totals, exitsByReason: cells(A.c.exitsByReason, B.c.exitsByReason), exitNsByReason: cells(A.c.exitNsByReason, B.c.exitNsByReason) };
}
