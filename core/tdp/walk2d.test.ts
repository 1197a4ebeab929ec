/**
 * The 2D walk's grid, reference by reference (the `page_walk` masks), against walks worked out
 * by hand from the SDM's rules (Vol. 3C §28.3: every guest paging-structure address and the final
 * guest-physical address is translated through the EPT) and the caches of walkCaches.ts. The
 * guest OS hands out table frames lowest first from frame 256 (pml4 256, then the pdpt, pd and
 * pt of the first `map` at 257, 258, 259); the data frames are 0x200 and 0x201.
 *
 * A grid is drawn as rows guest L4, L3, L2, L1, final gPA; columns EPT L4, L3, L2, L1, guest
 * entry (the final row has no guest entry). `M` a memory reference, `P` saved by a
 * paging-structure cache, `T` saved by the guest-physical TLB, `.` no part of the walk.
 */
import { describe, expect, it } from 'vitest';
import type { EventOf } from '../events.ts';
import type { ScenarioInput, ScriptStep } from '../scenario.ts';
import { ofType, run } from '../test/helpers.ts';
import { cellBit } from './walkGrid.ts';

type Tdp = { largePages?: boolean; walkCaches?: boolean };
function tdpScript(steps: readonly object[], tdp: Tdp, paging: 'nonpae' | 'pae' | 'long4' = 'long4'): ScenarioInput {
  return { name: 't', seed: 1, hardware: { profile: 'ept-2012' }, vms: [{ vcpus: 1, memoryMiB: 64, guest: { paging, workload: { kind: 'script', steps: steps as unknown as ScriptStep[] } }, mmu: { mode: 'tdp', tdp } }] };
}
const MAP_A = { op: 'map', va: '0x400000', gpa: '0x200000', size: '4k', levels: {} } as const;
const MAP_B = { op: 'map', va: '0x401000', gpa: '0x201000', size: '4k', levels: {} } as const;
const read = (va: string) => ({ op: 'access', va, access: 'read', cpl: 3 }) as const;

/** The masks a hand-drawn grid stands for. */
function grid(rows: [string, string, string, string, string]): { memMask: number; pscMask: number; tlbMask: number } {
  const out = { memMask: 0, pscMask: 0, tlbMask: 0 };
  rows.forEach((cells, row) => {
    expect(cells.length, `row ${row}`).toBe(row === 4 ? 4 : 5);
    [...cells].forEach((c, col) => {
      if (c === 'M') out.memMask |= cellBit(row, col);
      else if (c === 'P') out.pscMask |= cellBit(row, col);
      else if (c === 'T') out.tlbMask |= cellBit(row, col);
    });
  });
  return out;
}
const masks = (w: EventOf<'page_walk'> | undefined) => ({ memMask: w?.memMask, pscMask: w?.pscMask, tlbMask: w?.tlbMask });
const walks = (input: ScenarioInput) => ofType(run(input).events, 'page_walk');
const popcount = (x: number) => x.toString(2).split('').filter((b) => b === '1').length;

describe('the 2D walk grid: which reference was made, cached or saved by the TLB', () => {
  it('no caches, 4-level guest on 4-level EPT: all 24 references are made', () => {
    const [w] = walks(tdpScript([MAP_A, read('0x400000')], { largePages: false, walkCaches: false }));
    expect(masks(w)).toEqual(grid(['MMMMM', 'MMMMM', 'MMMMM', 'MMMMM', 'MMMM']));
    expect(popcount(w!.memMask!)).toBe(24);
    expect(w!.refs).toBe(24);
  });

  it('a walk that faults at a not-present pte reads it (translated) and has no final row: 20', () => {
    const [w] = walks(tdpScript([MAP_A, read('0x401000')], { largePages: false, walkCaches: false }));
    expect(masks(w)).toEqual(grid(['MMMMM', 'MMMMM', 'MMMMM', 'MMMMM', '....']));
  });

  it('PAE: the PDPTE comes from a register (no cell), non-PAE has no L4/L3 rows: both 14', () => {
    for (const paging of ['pae', 'nonpae'] as const) {
      const [w] = walks(tdpScript([MAP_A, read('0x400000')], { largePages: false, walkCaches: false }, paging));
      expect(masks(w), paging).toEqual(grid(['.....', '.....', 'MMMMM', 'MMMMM', 'MMMM']));
    }
  });

  it('2 MiB EPT pages: no EPT pte in any row (EPT L1 column empty): 19', () => {
    const [w] = walks(tdpScript([MAP_A, read('0x400000')], { largePages: true, walkCaches: false }));
    expect(masks(w)).toEqual(grid(['MMM.M', 'MMM.M', 'MMM.M', 'MMM.M', 'MMM.']));
  });

  it('cold caches (15), then the next page of the same guest pt (2)', () => {
    const [cold, warm] = walks(tdpScript([MAP_A, MAP_B, read('0x400000'), read('0x401000')], { largePages: false }));
    // cold: the pml4 frame (256) walks the EPT in full and fills the EPT PDE cache for region 0,
    // so the pdpt, pd and pt frames (257-259, region 0) need only their EPT pte; the data frame
    // 0x200 is in region 1: a full EPT walk. 4 guest entries + 4 + 1 + 1 + 1 + 4 = 15.
    expect(masks(cold)).toEqual(grid(['MMMMM', 'PPPMM', 'PPPMM', 'PPPMM', 'MMMM']));
    // warm: the guest PDE cache holds the pt for 0x400000-0x5fffff, so the pml4e, pdpte and pde
    // rows are skipped whole; the pt frame 259 is in the guest-physical TLB from the cold walk;
    // the data frame 0x201 is new but region 1's EPT PDE is cached: its EPT pte only. 1 + 1 = 2.
    expect(masks(warm)).toEqual(grid(['PPPPP', 'PPPPP', 'PPPPP', 'TTTTM', 'PPPM']));
    expect([cold!.refs, warm!.refs]).toEqual([15, 2]);
  });

  it('on every walk of a longer run the made cells count the references, and no cell is in two masks', () => {
    const steps = [MAP_A, MAP_B, ...Array.from({ length: 6 }, (_, i) => read(i % 2 ? '0x401000' : '0x400000')), { op: 'invlpg', va: '0x400000' }, read('0x400000')];
    for (const w of walks(tdpScript(steps, { largePages: false }))) {
      expect(popcount(w.memMask!)).toBe(w.refs);
      expect(w.memMask! & w.pscMask!).toBe(0);
      expect(w.memMask! & w.tlbMask!).toBe(0);
      expect(w.pscMask! & w.tlbMask!).toBe(0);
      // the guest-entry column's made cells are the guest references
      const guestCol = [0, 1, 2, 3].reduce((m, row) => m | cellBit(row, 4), 0);
      expect(popcount(w.memMask! & guestCol)).toBe(w.guestRefs);
    }
  });
});
