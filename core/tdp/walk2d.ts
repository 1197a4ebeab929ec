/**
 * The one cost model of a TLB miss under two-dimensional paging (Bhargava et al., ASPLOS
 * 2008): every guest paging-structure reference the walk made is a guest-physical address
 * translated through the EPT/NPT, and so is the final guest-physical address. Without
 * caches a g-level guest on h-level EPT makes g·(h+1)+h references (24 for 4-level on
 * 4-level); the paging-structure caches of `walkCaches.ts` cut that down. Used by the TDP
 * MMU (EPT01 of a plain guest, MMIO accesses included) and by nested TDP (EPT02), so every
 * 2D walk is charged the same way and shows as the same `page_walk` event.
 *
 * The event also says what became of each reference of the grid (`memMask`, `pscMask`,
 * `tlbMask`; bit 5·row + column, see `walkGrid.ts`), so a picture can shade the exact cells.
 */
import type { WalkResult } from '../paging.ts';
import type { Machine, Vcpu } from '../machine.ts';
import { refsOf, type EptLookup, type WalkCaches } from './walkCaches.ts';
import { EPT_LEVELS, FINAL_ROW, GUEST_COL, cellBit, guestRow } from './walkGrid.ts';

export { EPT_LEVELS } from './walkGrid.ts';

/** How each reference of a 2D walk went: made in memory, saved by a paging-structure cache, or by the TLB. */
export interface WalkMasks {
  mem: number;
  psc: number;
  tlb: number;
}

/**
 * Charge the 2D walk that just ran (`r`, successful or not) on `cpu`, emit its `page_walk`
 * event, and return its references. `eptLeafLevel(gfn)` is the level of the EPT leaf that
 * maps a guest frame (1 for 4 KiB, 2 for a 2 MiB host page; 1 when nothing maps it yet).
 */
export function chargeWalk2d(
  vm: Machine,
  cpu: Vcpu,
  va: number,
  r: WalkResult,
  ok: boolean,
  useCaches: boolean,
  eptLeafLevel: (gfn: number) => number,
): { refs: number; guestRefs: number } {
  const caches = cpu.walkCaches;
  const first = vm.ctl.mode === 'pae' ? 1 : 0; // PAE PDPTEs come from registers
  const leafLevel = r.count ? (r.entryLevel[r.count - 1] as number) : 0;
  let from = first;
  // A guest PDE-cache hit leaves only the guest pte to read (4 KiB guest pages).
  if (useCaches && ok && leafLevel === 1 && r.count - first >= 2 && caches.guestPdeHit(cpu.cr3, va)) from = r.count - 1;
  const m: WalkMasks = { mem: 0, psc: 0, tlb: 0 };
  const gfnAt = (i: number) => Math.floor((r.entryGpa[i] as number) / 4096);
  // the guest rows the PDE cache skipped: neither the entry nor its translation is needed
  for (let i = first; i < from; i++) {
    const row = guestRow(r.entryLevel[i] as number);
    m.psc |= eptCells(row, eptLeafLevel(gfnAt(i)), 0) | cellBit(row, GUEST_COL);
  }
  let guestRefs = 0;
  for (let i = from; i < r.count; i++) {
    const row = guestRow(r.entryLevel[i] as number);
    translate(m, row, caches, useCaches, eptLeafLevel, gfnAt(i));
    m.mem |= cellBit(row, GUEST_COL);
    guestRefs++;
  }
  if (ok) translate(m, FINAL_ROW, caches, useCaches, eptLeafLevel, Math.floor(r.gpa / 4096));
  const refs = popcount(m.mem);
  const duration = refs * vm.cost.walkRefNs;
  vm.emitter.emit({ type: 'page_walk', refs, guestRefs, duration, va, memMask: m.mem, pscMask: m.psc, tlbMask: m.tlb });
  vm.tick(duration);
  return { refs, guestRefs };
}

/** The EPT cells of `row` for a walk down to an EPT leaf at `leaf`, skipping the top `skip` levels. */
function eptCells(row: number, leaf: number, skip: number): number {
  let bits = 0;
  for (let level = EPT_LEVELS - skip; level >= leaf; level--) bits |= cellBit(row, EPT_LEVELS - level);
  return bits;
}

/** Translate one guest frame through the EPT: the walk, or less with the caches; marks its cells. */
function translate(m: WalkMasks, row: number, caches: WalkCaches, useCaches: boolean, eptLeafLevel: (gfn: number) => number, gfn: number): void {
  const leaf = eptLeafLevel(gfn);
  const hit: EptLookup = useCaches ? caches.eptLookup(leaf === 2 ? gfn - (gfn % 512) : gfn, leaf) : 'miss';
  const all = eptCells(row, leaf, 0);
  const made = eptCells(row, leaf, EPT_LEVELS + 1 - leaf - refsOf(hit, leaf));
  m.mem |= made;
  if (hit === 'tlb') m.tlb |= all;
  else m.psc |= all & ~made;
}

function popcount(x: number): number {
  let n = 0;
  for (let v = x >>> 0; v; v &= v - 1) n++;
  return n;
}
