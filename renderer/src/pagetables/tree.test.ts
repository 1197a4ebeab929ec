import { describe, expect, it } from 'vitest';
import { flagChanges, levelName, pathTo, type Space } from './tree';

const entry = (index: number, table?: string) => ({
  index, va0: '0x0', va1: '0xfff', value: '0x1', flags: ['P'], target: table ? { kind: 'table' as const, table } : { kind: 'page' as const },
});

describe('page-table trees', () => {
  it('finds the path from a root to a table, and nothing for an unreachable one', () => {
    const space: Space = {
      kind: 'shadow', paging: 'long4', roots: ['r'],
      tables: [
        { key: 'r', level: 4, entries: [entry(0, 'a'), entry(1, 'b')] },
        { key: 'a', level: 3, entries: [entry(0)] },
        { key: 'b', level: 3, entries: [entry(5, 'c')] },
        { key: 'c', level: 2, entries: [] },
        { key: 'orphan', level: 1, entries: [] },
      ],
    };
    expect(pathTo(space, 'c')).toEqual(['r', 'b', 'c']);
    expect(pathTo(space, 'r')).toEqual(['r']);
    expect(pathTo(space, 'orphan')).toEqual([]);
  });

  it('tells which flags a change added and removed (COW write-protect drops RW)', () => {
    expect(flagChanges(['P', 'RW', 'US', 'A', 'D'], ['P', 'US', 'A', 'D'])).toEqual({ added: [], removed: ['RW'], kept: ['P', 'US', 'A', 'D'] });
    expect(flagChanges([], ['P', 'RW'])).toEqual({ added: ['P', 'RW'], removed: [], kept: [] });
  });

  it('names levels as the SDM does', () => {
    expect(levelName(4, 'long4')).toBe('PML4');
    expect(levelName(1, 'long4')).toBe('PT');
    expect(levelName(3, 'pae')).toBe('PDPT');
    expect(levelName(2, 'nonpae')).toBe('PD');
  });
});
