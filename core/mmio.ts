/**
 * MMIO sptes with a generation number (KVM's mmu.rst, seed 004): the memslot generation,
 * and the shadow MMU's side of MMIO.
 *
 * A guest access to a frame no memslot backs (the lab's memslots are exactly guest RAM) is
 * MMIO: the hypervisor emulates it and never maps the frame. Every guest access goes
 * through the ordinary access path (`Vm.access`); this module owns what both MMUs share:
 * - the memslot generation, bumped by each memslot change (`changeMemslots`), which makes
 *   every cached MMIO spte stale at once without visiting it;
 * - the counters (`mmioSlow`, `mmioCached`, `mmioStale`, `memslotChanges`).
 * Under TDP the MMIO spte is the TDP MMU's own EPT entry (a misconfiguration with the
 * generation in it, core/tdp/spte.ts; core/tdp/tdpMmu.ts `mmioExit`). Under shadow paging a
 * shadow spte for MMIO is a value with reserved bits, so the access faults with PFERR.RSVD
 * and the handler finds the cached gfn there; the lab keeps those sptes beside the shadow
 * tables (keyed by address space and page) rather than in them, and uses one only while the
 * guest's tables still translate the page the same way with nothing to set — standing in for
 * the zap a trapped write to those tables would do (a check the cost model does not charge).
 * A Xen PV guest's device access traps into Xen (`trap:general_protection`).
 */
import { ACCESS_WRITE, PTE_A, PTE_D, WalkResult, walk, type AccessKind } from './paging.ts';
import { xenTrap } from './exitReasons.ts';
import type { Vcpu, Vm } from './vm.ts';

interface ShadowMmioSpte {
  /** The MMIO page (guest-physical). */
  gpa: number;
  generation: number;
}

export class MmioSptes {
  /** Memslot generation: bumped by every memslot change. */
  generation = 0;
  readonly stats = { mmioSlow: 0, mmioCached: 0, mmioStale: 0, memslotChanges: 0 };
  private readonly shadowSptes = new Map<string, ShadowMmioSpte>();
  private readonly r = new WalkResult();

  constructor(
    private readonly vm: Vm,
    /** `mmu.mmioSptes`: cache MMIO translations at all (off: every MMIO access is slow). */
    readonly enabled: boolean,
  ) {}

  /** A guest-physical address no memslot backs (the lab's memslots cover exactly guest RAM). */
  isMmio(gpa: number): boolean {
    return gpa >= this.vm.mem.frames * 4096;
  }

  /** The host changes its memslots (e.g. a device BAR moves): every MMIO spte goes stale. */
  changeMemslots(): void {
    this.generation++;
    this.stats.memslotChanges++;
    this.vm.emitter.emit({ type: 'guest_os', action: 'memslot-change', pid: this.vm.current.proc?.pid ?? 0, detail: `memslot generation ${this.generation}` });
    // An EPT MMIO spte holds only the low bits of the generation (spte.ts): on wrap-around zap them all.
    this.vm.tdp?.wrapMmioGeneration(this.generation);
  }

  /**
   * One guest access to a device register at `va` (the `mmio` workload). Returns false if
   * the guest's own tables refuse the access (a #PF for the guest).
   */
  access(va: number, acc: AccessKind, cpl: number): boolean {
    if (this.vm.xen) return this.xenAccess(va);
    return this.vm.access(va, acc, cpl);
  }

  /**
   * Shadow paging, a TLB miss the shadow tables could not serve: if a current MMIO spte
   * caches this page, the #PF (RSVD) handler emulates at once — no guest walk, no mmu_lock
   * (`mmio-cached`) — and this returns true. A stale one (older generation) is dropped and
   * counted; the caller then takes the slow path.
   */
  shadowCached(cpu: Vcpu, va: number, acc: AccessKind, cpl: number): boolean {
    if (!this.enabled) return false;
    const key = `${cpu.cr3}:${Math.floor(va / 4096)}`;
    const spte = this.shadowSptes.get(key);
    if (!spte) return false;
    if (!this.stillTranslates(spte, va, acc, cpl)) {
      this.shadowSptes.delete(key);
      return false;
    }
    if (spte.generation !== this.generation) {
      this.stats.mmioStale++;
      this.shadowSptes.delete(key);
      return false;
    }
    const vm = this.vm;
    const start = vm.beginExit();
    this.stats.mmioCached++;
    if (acc === ACCESS_WRITE && !this.leafDirty) {
      // The spte was cached from a clean pte, so it grants no write (KVM's protect_clean_gpte):
      // the emulator walks the guest tables for this write, which sets D as the CPU would.
      vm.stats.guestWalk++;
      walk(vm.mem, vm.ctl, cpu.cr3, cpu.pdpte, va, acc, cpl, vm.adHook, this.r);
      vm.tick(this.r.refs * vm.cost.walkRefNs);
    }
    vm.tick(vm.cost.emulateNs);
    vm.lastGpa = spte.gpa + (va % 4096);
    vm.endExit(start, 'EXCEPTION_NMI', 'mmio-cached', va, vm.lastGpa);
    return true;
  }

  /**
   * Shadow paging, inside the #PF exit: the guest walk `r` for `va` reached a frame no
   * memslot backs. Emulate the access and cache the MMIO spte with the current generation.
   */
  shadowEmulate(cpu: Vcpu, va: number, r: WalkResult): void {
    const vm = this.vm;
    this.stats.mmioSlow++;
    vm.tick(vm.cost.emulateNs);
    if (this.enabled) this.shadowSptes.set(`${cpu.cr3}:${Math.floor(va / 4096)}`, { gpa: r.gpa - (r.gpa % 4096), generation: this.generation });
  }

  /**
   * Would the guest's tables still send this access to the same page, allowed, with every
   * accessed bit set? (A probe walk: no side effects.) Otherwise the slow path must walk
   * them, as it would after the zap of a trapped write to them.
   */
  private stillTranslates(spte: ShadowMmioSpte, va: number, acc: AccessKind, cpl: number): boolean {
    const r = this.r;
    if (!this.vm.probe(va, acc, cpl, r) || r.gpa - (r.gpa % 4096) !== spte.gpa) return false;
    const first = this.vm.ctl.mode === 'pae' ? 1 : 0; // PAE PDPTEs have no accessed bit
    for (let i = first; i < r.count; i++) if (!((r.entryLo[i] as number) & PTE_A)) return false;
    this.leafDirty = ((r.entryLo[r.count - 1] as number) & PTE_D) !== 0;
    return true;
  }

  /** Whether the pte `stillTranslates` last looked at is dirty. */
  private leafDirty = false;

  /** A PV guest's access to an emulated device traps (#GP) into Xen, which emulates it. */
  private xenAccess(va: number): boolean {
    const vm = this.vm;
    const start = vm.emitter.t;
    vm.emitter.hold();
    vm.tick(vm.xen?.costs.trapNs ?? 0);
    vm.tick(vm.cost.emulateNs);
    this.stats.mmioSlow++;
    vm.endExit(start, xenTrap('general_protection'), 'mmio-emulate', va);
    return true;
  }
}
