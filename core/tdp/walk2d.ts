/**
 * The one cost model of a TLB miss under two-dimensional paging (Bhargava et al., ASPLOS
 * 2008): every guest paging-structure reference the walk made is a guest-physical address
 * translated through the EPT/NPT, and so is the final guest-physical address. Without
 * caches a g-level guest on h-level EPT makes g·(h+1)+h references (24 for 4-level on
 * 4-level); the paging-structure caches of `walkCaches.ts` cut that down. Used by the TDP
 * MMU (EPT01 of a plain guest, MMIO accesses included) and by nested TDP (EPT02), so every
 * 2D walk is charged the same way and shows as the same `page_walk` event.
 */
import type { WalkResult } from '../paging.ts';
import type { Machine, Vcpu } from '../machine.ts';
import type { WalkCaches } from './walkCaches.ts';

/** EPT levels of the host tables (4-level EPT/NPT). */
export const EPT_LEVELS = 4;

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
  let guestRefs = 0;
  let refs = 0;
  for (let i = from; i < r.count; i++) {
    refs += eptRefs(caches, useCaches, eptLeafLevel, Math.floor((r.entryGpa[i] as number) / 4096));
    guestRefs++;
  }
  if (ok) refs += eptRefs(caches, useCaches, eptLeafLevel, Math.floor(r.gpa / 4096));
  refs += guestRefs;
  const duration = refs * vm.cost.walkRefNs;
  vm.emitter.emit({ type: 'page_walk', refs, guestRefs, duration, va });
  vm.tick(duration);
  return { refs, guestRefs };
}

/** References to translate one guest frame through the EPT: the EPT walk, or less with the caches. */
function eptRefs(caches: WalkCaches, useCaches: boolean, eptLeafLevel: (gfn: number) => number, gfn: number): number {
  const leaf = eptLeafLevel(gfn);
  if (!useCaches) return EPT_LEVELS + 1 - leaf;
  return caches.eptRefs(leaf === 2 ? gfn - (gfn % 512) : gfn, leaf);
}
