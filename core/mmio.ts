/**
 * MMIO sptes with a generation number (KVM's mmu.rst, seed 004).
 *
 * A guest access to a frame no memslot backs is MMIO: the hypervisor must emulate it and
 * must never map the frame. The first access takes the slow path (a #PF exit and a guest
 * walk under shadow paging, an EPT violation under TDP); the MMU then caches what it
 * learnt in the spte itself — a special value with reserved bits (shadow; the access then
 * faults with PFERR.RSVD) or an EPT misconfiguration (TDP; the access exits with
 * EPT_MISCONFIG) — tagged with the memslot generation. A repeated access goes straight to
 * the emulator: no guest walk, no mmu_lock. A memslot change bumps the generation, which
 * invalidates every cached MMIO spte at once without visiting them; the next access to
 * each takes the slow path again.
 *
 * The lab keeps the cached MMIO sptes beside the shadow tables (keyed like the leaf spte:
 * address space and page under shadow paging, guest frame under TDP). Under shadow paging
 * a trapped write to the guest pte would zap the real spte; here each cached spte
 * remembers the guest pte it was built from and is dropped if that pte changed (a check
 * the cost model does not charge, standing in for that zap).
 */
import { WalkResult, walk, type AccessKind } from './paging.ts';
import { xenTrap } from './exitReasons.ts';
import type { Vm } from './vm.ts';

interface MmioSpte {
  gpa: number;
  generation: number;
  /** The guest pte it was built from (shadow paging): gpa and value. */
  pteGpa: number;
  pteLo: number;
  pteHi: number;
}

export class MmioSptes {
  /** Memslot generation: bumped by every memslot change. */
  generation = 0;
  readonly stats = { mmioSlow: 0, mmioCached: 0, mmioStale: 0, memslotChanges: 0 };
  private readonly sptes = new Map<string, MmioSpte>();
  private readonly r = new WalkResult();

  constructor(
    private readonly vm: Vm,
    private readonly enabled: boolean,
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
  }

  /**
   * One guest access to a device register at `va` (mapped by the guest to an MMIO gpa).
   * Returns false if the guest's own tables refuse the access (a #PF for the guest).
   */
  access(va: number, acc: AccessKind, cpl: number): boolean {
    const vm = this.vm;
    if (vm.xen) return this.xenAccess(va);
    const shadow = vm.mode === 'shadow';
    const cpu = vm.current;
    const r = this.r;
    let key = `${cpu.cr3}:${Math.floor(va / 4096)}`;
    if (!shadow) {
      // TDP: the CPU walks the guest tables itself (a 2D walk); the EPT entry of the gpa is what exits
      vm.stats.guestWalk++;
      const ok = walk(vm.mem, vm.ctl, cpu.cr3, cpu.pdpte, va, acc, cpl, vm.adHook, r);
      vm.tick(((r.refs + 1) * 5 - 1) * vm.cost.walkRefNs);
      if (!ok) {
        vm.faultCode = r.errorCode;
        vm.emitter.emit({ type: 'guest_fault', va, errorCode: r.errorCode });
        return false;
      }
      key = `gfn:${Math.floor(r.gpa / 4096)}`;
    }
    const cached = this.enabled ? this.sptes.get(key) : undefined;
    if (cached && shadow) {
      const [lo, hi] = vm.os.readEntry(cached.pteGpa);
      if (lo !== cached.pteLo || hi !== cached.pteHi) this.sptes.delete(key);
    }
    const spte = this.enabled ? this.sptes.get(key) : undefined;
    const fresh = spte !== undefined && spte.generation === this.generation;
    if (spte && !fresh) this.stats.mmioStale++;
    const start = vm.beginExit();
    const reason = shadow ? 'EXCEPTION_NMI' : spte ? 'EPT_MISCONFIG' : 'EPT_VIOLATION';
    if (fresh) {
      // the hardware already walked to the MMIO spte; the handler finds it there, generation current
      this.stats.mmioCached++;
      if (shadow) vm.tick((vm.ctl.mode === 'long4' ? 4 : 2) * vm.cost.walkRefNs);
      vm.tick(vm.cost.emulateNs);
      vm.lastGpa = spte.gpa + (va % 4096);
      vm.endExit(start, reason, 'mmio-cached', va, vm.lastGpa);
      return true;
    }
    // slow path: under the mmu_lock, walk the guest tables (shadow), find no memslot, emulate
    this.stats.mmioSlow++;
    vm.lock(vm.cost.shadowFaultNs);
    vm.tick(vm.cost.shadowFaultNs);
    if (shadow) {
      vm.stats.guestWalk++;
      if (!walk(vm.mem, vm.ctl, cpu.cr3, cpu.pdpte, va, acc, cpl, vm.adHook, r)) {
        vm.faultCode = r.errorCode;
        vm.tick(vm.cost.injectNs);
        vm.endExit(start, reason, 'inject-guest-pf', va);
        vm.emitter.emit({ type: 'guest_fault', va, errorCode: r.errorCode });
        return false;
      }
    }
    const page = r.gpa - (r.gpa % 4096);
    if (!this.isMmio(r.gpa)) throw new Error(`MmioSptes.access: gpa 0x${r.gpa.toString(16)} is RAM, not MMIO`);
    vm.tick(vm.cost.emulateNs);
    if (this.enabled) {
      const leaf = r.count - 1;
      this.sptes.set(key, { gpa: page, generation: this.generation, pteGpa: r.entryGpa[leaf] as number, pteLo: r.entryLo[leaf] as number, pteHi: r.entryHi[leaf] as number });
    }
    vm.lastGpa = r.gpa;
    vm.endExit(start, reason, 'mmio-emulate', va, r.gpa);
    return true;
  }

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
