/**
 * Memslots and the MMIO generation (KVM's mmu.rst, seed 004), shared by every MMU.
 *
 * A guest access to a frame no memslot backs (the lab's memslots are exactly guest RAM) is
 * MMIO: the hypervisor emulates it and never maps the frame, under every MMU and every
 * policy. Each MMU caches "this is MMIO" in its own way (core/shadow/mmio.ts, the TDP MMU's
 * misconfigured EPT entries in core/tdp/); this module owns what they share:
 * - which frames have a memslot (`isMmio`);
 * - the memslot generation, bumped by each memslot change (`Vm.changeMemslots`), which makes
 *   every cached MMIO spte stale at once without visiting it;
 * - the counters (`mmioSlow`, `mmioCached`, `mmioStale`, `memslotChanges`).
 */
export class Memslots {
  /** Memslot generation: bumped by every memslot change. */
  generation = 0;
  readonly stats = { mmioSlow: 0, mmioCached: 0, mmioStale: 0, memslotChanges: 0 };

  constructor(
    /** Guest RAM frames: the one memslot covers frames [0, frames). */
    private readonly frames: number,
    /** `mmu.mmioSptes`: cache MMIO translations at all (off: every MMIO access is slow). */
    readonly enabled: boolean,
  ) {}

  /** A guest-physical address no memslot backs. */
  isMmio(gpa: number): boolean {
    return gpa >= this.frames * 4096;
  }
  hasMemslot(gfn: number): boolean {
    return gfn >= 0 && gfn < this.frames;
  }

  /** The host changes its memslots (e.g. a device BAR moves): every MMIO spte goes stale. */
  change(): number {
    this.generation++;
    this.stats.memslotChanges++;
    return this.generation;
  }
}
