/**
 * The shadow MMU's MMIO sptes (KVM's mmu.rst, seed 004), with the memslot generation of
 * core/mmio.ts.
 *
 * Under shadow paging a shadow spte for MMIO is a value with reserved bits, so the access
 * faults with PFERR.RSVD and the handler finds the cached gfn there; the lab keeps those
 * sptes beside the shadow tables (keyed by address space and page) rather than in them, and
 * uses one only while the guest's tables still translate the page the same way with nothing
 * to set — standing in for the zap a trapped write to those tables would do (a check the
 * cost model does not charge).
 */
import type { Machine, Vcpu } from '../machine.ts';
import { ACCESS_WRITE, PTE_A, PTE_D, WalkResult, walk, type AccessKind, type AdHook } from '../paging.ts';
import { MMIO_GENERATIONS } from '../tdp/spte.ts';
import type { ShadowPlatform } from './platform.ts';

interface ShadowMmioSpte {
  /** The MMIO page (guest-physical). */
  gpa: number;
  /** The generation's low bits, as many as an MMIO spte has room for (as KVM's MMIO_SPTE_GEN_LOW). */
  generation: number;
}

export class ShadowMmioSptes {
  private readonly sptes = new Map<string, ShadowMmioSpte>();
  private readonly r = new WalkResult();
  /** Whether the pte `stillTranslates` last looked at is dirty. */
  private leafDirty = false;

  constructor(
    private readonly m: Machine,
    private readonly adHook: AdHook,
    /** Where the #PF (RSVD) exit goes (platform.ts). */
    private readonly platform: ShadowPlatform,
  ) {}

  /** Drop every MMIO spte (kvm_mmu_zap_all_fast). */
  clear(): void {
    this.sptes.clear();
  }

  /**
   * A TLB miss the shadow tables could not serve: if a current MMIO spte caches this page,
   * the #PF (RSVD) handler emulates at once — no guest walk, no mmu_lock (`mmio-cached`) —
   * and this returns true. A stale one (older generation) is dropped and counted; the
   * caller then takes the slow path.
   */
  cached(cpu: Vcpu, va: number, acc: AccessKind, cpl: number): boolean {
    const mmio = this.m.mmio;
    if (!mmio.enabled) return false;
    const key = `${cpu.cr3}:${Math.floor(va / 4096)}`;
    const spte = this.sptes.get(key);
    if (!spte) return false;
    if (!this.stillTranslates(spte, va, acc, cpl)) {
      this.sptes.delete(key);
      return false;
    }
    if (spte.generation !== mmio.generation % MMIO_GENERATIONS) {
      mmio.stats.mmioStale++;
      this.sptes.delete(key);
      return false;
    }
    const m = this.m;
    const start = this.platform.beginExit('EXCEPTION_NMI', va);
    mmio.stats.mmioCached++;
    if (acc === ACCESS_WRITE && !this.leafDirty) {
      // The spte was cached from a clean pte, so it grants no write (KVM's protect_clean_gpte):
      // the emulator walks the guest tables for this write, which sets D as the CPU would.
      m.stats.guestWalk++;
      walk(m.mem, m.ctl, cpu.cr3, cpu.pdpte, va, acc, cpl, this.adHook, this.r);
      m.tick(this.r.refs * m.cost.walkRefNs);
    }
    m.tick(m.cost.emulateNs);
    m.lastGpa = spte.gpa + (va % 4096);
    this.platform.endExit(start, 'EXCEPTION_NMI', 'mmio-cached', va, m.lastGpa);
    return true;
  }

  /**
   * Inside the #PF exit: the guest walk `r` for `va` reached a frame no memslot backs.
   * Emulate the access and cache the MMIO spte with the current generation.
   */
  emulate(cpu: Vcpu, va: number, r: WalkResult): void {
    const m = this.m;
    m.mmio.stats.mmioSlow++;
    m.tick(m.cost.emulateNs);
    if (m.mmio.enabled) this.sptes.set(`${cpu.cr3}:${Math.floor(va / 4096)}`, { gpa: r.gpa - (r.gpa % 4096), generation: m.mmio.generation % MMIO_GENERATIONS });
  }

  /** Every cached MMIO spte (for the auditor): the page it stands for. */
  forEach(visit: (gpa: number) => void): void {
    for (const s of this.sptes.values()) visit(s.gpa);
  }

  /**
   * Would the guest's tables still send this access to the same page, allowed, with every
   * accessed bit set? (A probe walk: no side effects.) Otherwise the slow path must walk
   * them, as it would after the zap of a trapped write to them.
   */
  private stillTranslates(spte: ShadowMmioSpte, va: number, acc: AccessKind, cpl: number): boolean {
    const r = this.r;
    if (!this.m.probe(va, acc, cpl, r) || r.gpa - (r.gpa % 4096) !== spte.gpa) return false;
    const first = this.m.ctl.mode === 'pae' ? 1 : 0; // PAE PDPTEs have no accessed bit
    for (let i = first; i < r.count; i++) if (!((r.entryLo[i] as number) & PTE_A)) return false;
    this.leafDirty = ((r.entryLo[r.count - 1] as number) & PTE_D) !== 0;
    return true;
  }
}
