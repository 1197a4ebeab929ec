/**
 * The walk grid's cells from a page_walk's masks: hand-built masks (bit 5·row + column, rows guest
 * L4..L1 then the final gPA, columns EPT L4..L1 then the guest entry) come back as the cells drawn,
 * memory references numbered in the walk's order (row by row: the EPT translation, then the entry).
 */
import { describe, expect, it } from 'vitest';
import { cellBit } from '../api/contract';
import { walkCells } from './walkGrid';

const bits = (cells: [number, number][]) => cells.reduce((m, [r, c]) => m | cellBit(r, c), 0);
const picture = (g: ReturnType<typeof walkCells>) => g.rows.map((r) => r.cells.map((c) => ({ made: 'M', psc: 'P', tlb: 'T', register: 'R', none: '.', unknown: '?' })[c.state]).join(''));

describe('walk grid cells', () => {
  it('24 references made, numbered 1..24 in walk order', () => {
    const all = Array.from({ length: 24 }, (_, i) => 1 << i).reduce((a, b) => a | b, 0);
    const g = walkCells({ refs: 24, guestRefs: 4, guestLevels: 4, pae: false, masks: { mem: all, psc: 0, tlb: 0 } });
    expect(picture(g)).toEqual(['MMMMM', 'MMMMM', 'MMMMM', 'MMMMM', 'MMMM']);
    expect(g.rows[0]!.cells.map((c) => c.n)).toEqual([1, 2, 3, 4, 5]); // the pml4 frame's EPT walk, then the pml4e
    expect(g.rows[4]!.cells.map((c) => c.n)).toEqual([21, 22, 23, 24]);
    expect(g.exact).toBe(true);
  });

  it('a warm walk: upper rows cached, the pt frame from the TLB, the data frame through the EPT PDE cache', () => {
    const psc = bits([[0, 0], [0, 1], [0, 2], [0, 3], [0, 4], [1, 0], [1, 1], [1, 2], [1, 3], [1, 4], [2, 0], [2, 1], [2, 2], [2, 3], [2, 4], [4, 0], [4, 1], [4, 2]]);
    const g = walkCells({ refs: 2, guestRefs: 1, guestLevels: 4, pae: false, masks: { mem: bits([[3, 4], [4, 3]]), psc, tlb: bits([[3, 0], [3, 1], [3, 2], [3, 3]]) } });
    expect(picture(g)).toEqual(['PPPPP', 'PPPPP', 'PPPPP', 'TTTTM', 'PPPM']);
    expect(g.rows[3]!.cells[4]!.n).toBe(1);
    expect(g.rows[4]!.cells[3]!.n).toBe(2);
  });

  it('PAE: three guest rows, the PDPTE a register', () => {
    const mem = bits([[2, 0], [2, 1], [2, 2], [2, 3], [2, 4], [3, 0], [3, 1], [3, 2], [3, 3], [3, 4], [4, 0], [4, 1], [4, 2], [4, 3]]);
    const g = walkCells({ refs: 14, guestRefs: 2, guestLevels: 3, pae: true, masks: { mem, psc: 0, tlb: 0 } });
    expect(g.rows.map((r) => r.name)).toEqual(['guest L3', 'guest L2', 'guest L1', 'final gPA']);
    expect(picture(g)).toEqual(['....R', 'MMMMM', 'MMMMM', 'MMMM']);
  });

  it('an imported walk (totals only): EPT cells unknown, the guest rows not read saved', () => {
    const g = walkCells({ refs: 6, guestRefs: 1, guestLevels: 4, pae: false });
    expect(g.exact).toBe(false);
    expect(picture(g)).toEqual(['PPPPP', 'PPPPP', 'PPPPP', '????M', '????']);
  });
});
