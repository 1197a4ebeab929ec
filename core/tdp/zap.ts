/**
 * Host work that throws mappings away, each holding mmu_lock for write (mmuLock.ts
 * `exclusively`): the whole tree at teardown or when the memslot generation wraps
 * (kvm_mmu_zap_all_fast), and one guest frame's mapping on an mmu_notifier invalidation.
 */
import type { EptTables } from './eptTables.ts';
import { HOST_GUEST_BASE_FRAME, MMIO_GENERATIONS, isMmio, present } from './spte.ts';
import { TdpPart, type TdpShared } from './tdpPart.ts';

export class Zap extends TdpPart {
  constructor(
    shared: TdpShared,
    private readonly ept: EptTables,
  ) {
    super(shared);
  }

  /**
   * The memslot generation moved on. When the bits an MMIO spte holds wrap around, an old
   * one could look current again, so KVM throws the whole MMU away (mmu.rst: all pages are
   * zapped on overflow; `kvm_mmu_zap_all_fast`).
   */
  mmioGenerationChanged(generation: number): void {
    if (generation % MMIO_GENERATIONS === 0) this.allFast();
  }

  /**
   * kvm_mmu_zap_all_fast: bump the MMU generation so the root in use is obsolete, have every
   * vCPU load a fresh root (an empty one, refilled fault by fault: the `map-gfn` exits that
   * follow), and free the obsolete tree. The obsolete tree goes under mmu_lock held for write,
   * so the hold is as long as the tree is big; faults meanwhile wait.
   */
  allFast(): void {
    this.stats.zapAllFast++;
    const ept = this.ept;
    const old = ept.root;
    this.lock.exclusively(() => {
      ept.root = null;
      if (old) {
        for (let i = 0; i < 512; i++) if (present(old.sptes[2 * i] as number)) ept.setSpte(old, i, 0, 0);
        ept.tables.delete(old.id);
        this.stats.tablesFreed++;
        this.vm.emitter.emit({ type: 'shadow_page', action: 'free', table: old.id, level: old.level, gfn: 0, role: 'tdp' });
      }
      ept.flush('zap-all-fast');
    });
  }

  /** Tear everything down (VM exit): the root's entries go, and every table below is freed recursively. */
  all(): void {
    const root = this.ept.root;
    if (!root) return;
    this.lock.exclusively(() => {
      for (let i = 0; i < 512; i++) if (present(root.sptes[2 * i] as number)) this.ept.setSpte(root, i, 0, 0);
      this.ept.flush('zap');
    });
  }

  /**
   * mmu_notifier invalidation of the host page behind `gfn` (reclaim or migration), under
   * mmu_lock held for write: the leaf mapping it goes (a 2 MiB leaf with all its pages; its
   * D bit is handed to the host page by the bookkeeping), the TLBs are flushed, and the next
   * access faults it back in (`map-gfn`), on the new host frame after a migration.
   */
  hostInvalidate(gfn: number, migrate: boolean): void {
    this.lock.exclusively(() => {
      const f = this.ept.lookup(gfn);
      if (f.leaf && f.table && !isMmio(f.lo, f.hi)) this.ept.setSpte(f.table, f.index, 0, 0);
      if (migrate) this.frames.setPfn(gfn, HOST_GUEST_BASE_FRAME + this.frames.count + gfn);
      this.ept.flush('mmu-notifier');
    });
  }
}
