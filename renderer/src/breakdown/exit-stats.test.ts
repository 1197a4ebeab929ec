import { describe, expect, it } from 'vitest';
import { mergeStats, nextSort, sortRows, withShares, type ExitStat } from './exit-stats';

const stat = (key: string, durations: number[]): ExitStat => ({
  key,
  count: durations.length,
  totalNs: durations.reduce((a, b) => a + b, 0),
  minNs: Math.min(...durations),
  avgNs: durations.reduce((a, b) => a + b, 0) / durations.length,
  maxNs: Math.max(...durations),
});

describe('exit statistics', () => {
  it('shares are of the scope totals (3 of 4 exits, 300 of 1000 ns)', () => {
    const [row] = withShares([stat('EPT_VIOLATION', [100, 100, 100])], 4, 1000);
    expect(row?.pctCount).toBe(75);
    expect(row?.pctTime).toBe(30);
    expect(withShares([stat('HLT', [5])], 0, 0)[0]?.pctCount).toBe(0);
  });

  it('merging per-vCPU rows adds counts and time and recomputes the average', () => {
    // vCPU 0: exits of 10 and 30 ns; vCPU 1: one of 50 ns. Together: 3 exits, 90 ns, min 10, max 50, avg 30.
    const merged = mergeStats([[stat('CR_ACCESS', [10, 30])], [stat('CR_ACCESS', [50]), stat('HLT', [7])]]);
    const cr = merged.find((s) => s.key === 'CR_ACCESS');
    expect(cr).toEqual({ key: 'CR_ACCESS', count: 3, totalNs: 90, minNs: 10, avgNs: 30, maxNs: 50 });
    expect(merged.find((s) => s.key === 'HLT')?.count).toBe(1);
  });

  it('sorts by any column, ties by name, and the header click flips the order', () => {
    const rows = withShares([stat('B', [1, 1]), stat('A', [9, 9]), stat('C', [100])], 5, 120);
    expect(sortRows(rows, 'count', 'desc').map((r) => r.key)).toEqual(['A', 'B', 'C']);
    expect(sortRows(rows, 'maxNs', 'desc').map((r) => r.key)).toEqual(['C', 'A', 'B']);
    expect(sortRows(rows, 'key', 'desc').map((r) => r.key)).toEqual(['C', 'B', 'A']);
    expect(nextSort({ key: 'count', dir: 'desc' }, 'count')).toEqual({ key: 'count', dir: 'asc' });
    expect(nextSort({ key: 'count', dir: 'desc' }, 'key')).toEqual({ key: 'key', dir: 'asc' });
    expect(nextSort({ key: 'key', dir: 'asc' }, 'totalNs')).toEqual({ key: 'totalNs', dir: 'desc' });
  });
});
