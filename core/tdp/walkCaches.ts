/**
 * What a TLB miss costs under TDP: the two-dimensional walk (Bhargava et al., ASPLOS 2008).
 * Every guest paging-structure reference is a guest-physical address that must itself be
 * translated through the EPT/NPT tables, and so is the final guest-physical address: for a
 * g-level guest on h-level EPT, g·(h+1) + h references, 24 for 4-level on 4-level.
 *
 * Hardware cuts that down with caches, modelled here per vCPU and for cost only (the
 * functional walk always reads memory, so a stale cache entry can never change what the
 * guest sees):
 * - guest-physical translations (AMD's nested TLB, Intel's guest-physical mappings): a hit
 *   translates a guest frame with no EPT reference at all;
 * - the EPT paging-structure cache at the PDE level: a hit leaves one reference (the EPT pte);
 * - the guest's own PDE cache (Intel's paging-structure caches, AMD's page walk cache): a hit
 *   skips the upper guest levels, leaving the guest pte and its translation.
 * Large EPT pages shorten the EPT walk (3 references for a 2 MiB leaf instead of 4).
 */

const NTLB_SETS = 64;

export type EptLookup = 'tlb' | 'pde' | 'miss';

/** EPT memory references a lookup leaves: none from the TLB, the pte after a PDE-cache hit, else the walk down to the leaf. */
export function refsOf(hit: EptLookup, leafLevel: number): number {
  return hit === 'tlb' ? 0 : hit === 'pde' ? 1 : 5 - leafLevel;
}
const EPT_PDE_SETS = 16;
const GUEST_PDE_SETS = 32;

export class WalkCaches {
  private readonly ntlb = new Float64Array(NTLB_SETS).fill(-1);
  private readonly eptPde = new Float64Array(EPT_PDE_SETS).fill(-1);
  private readonly guestPde = new Float64Array(GUEST_PDE_SETS).fill(-1);
  private readonly guestPdeCr3 = new Float64Array(GUEST_PDE_SETS).fill(-1);

  /** EPT references to translate guest frame `gfn` whose EPT leaf is at `leafLevel` (1 = 4 KiB). */
  eptRefs(gfn: number, leafLevel: number): number {
    return refsOf(this.eptLookup(gfn, leafLevel), leafLevel);
  }

  /**
   * Which cache, if any, translates guest frame `gfn` (and fill them on a miss): `tlb`, the
   * guest-physical TLB (no EPT reference); `pde`, the EPT PDE cache (the EPT pte only); `miss`.
   */
  eptLookup(gfn: number, leafLevel: number): EptLookup {
    const set = gfn % NTLB_SETS;
    if (this.ntlb[set] === gfn) return 'tlb';
    this.ntlb[set] = gfn;
    const region = Math.floor(gfn / 512);
    const pset = region % EPT_PDE_SETS;
    const hit = leafLevel === 1 && this.eptPde[pset] === region;
    if (leafLevel === 1) this.eptPde[pset] = region;
    return hit ? 'pde' : 'miss';
  }

  /** Does the guest PDE cache hold the pt for `va` under `cr3`? Fills it on a miss. */
  guestPdeHit(cr3: number, va: number): boolean {
    const region = Math.floor(va / 2 ** 21);
    const set = region % GUEST_PDE_SETS;
    const hit = this.guestPde[set] === region && this.guestPdeCr3[set] === cr3;
    this.guestPde[set] = region;
    this.guestPdeCr3[set] = cr3;
    return hit;
  }

  /** INVEPT: guest-physical and combined mappings go; the guest's own PDE cache goes with CR3/invlpg. */
  flushEpt(): void {
    this.ntlb.fill(-1);
    this.eptPde.fill(-1);
  }
  flushGuest(): void {
    this.guestPde.fill(-1);
  }
}
