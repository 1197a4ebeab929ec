/**
 * Shadow paging as one `Mmu` (core/mmu.ts): the CPU walks shadow tables the hypervisor
 * builds from the guest's on demand (the page cache of pages.ts), every guest page table is
 * write-protected so the guest's stores into them trap and are emulated, MOV to CR3 exits to
 * switch shadow roots, and MMIO is cached as reserved-bit sptes (mmio.ts). Seed 000's
 * design, with mmu.rst's unsync pages (unsync.ts) as an option.
 */
import type { Machine, Vcpu } from '../machine.ts';
import { MISS_FAULT, MISS_OK, MISS_RETRY, controlExitReason, type ControlRegister, type MissOutcome, type Mmu, type MmuTable, type Report } from '../mmu.ts';
import { pte64 } from '../emitter.ts';
import {
  ACCESS_WRITE, PTE_HI_NX, PTE_P, PTE_U, PTE_W, WalkResult, accessDenied, entryBytes, walk,
  type AccessKind, type AdHook, type PagingControls,
} from '../paging.ts';
import { TLB_D, TLB_NX, TLB_U, TLB_W } from '../tlb.ts';
import { audit } from './auditor.ts';
import { ShadowMmioSptes } from './mmio.ts';
import { MMIO_GENERATIONS } from '../tdp/spte.ts';
import { ACC_ALL, ACC_U, ACC_W, ACC_X, HOST_GUEST_BASE_FRAME, ShadowPage, ShadowPageCache, frameOf, roleName, upperAccess } from './pages.ts';
import { Unsync } from './unsync.ts';
import { machinePlatform, type ShadowPlatform } from './platform.ts';

/** A vCPU's shadow roots: one 4-level root, or four PAE roots (one per PDPTE / GiB quadrant). */
interface Roots {
  root: ShadowPage | null;
  readonly pae: Array<ShadowPage | null>;
}

export class ShadowMmu implements Mmu {
  readonly kind = 'shadow';
  readonly pages: ShadowPageCache;
  /** Unsync shadow pages (unsync.ts), with `mmu.shadow.unsync`. */
  readonly unsync: Unsync | null;
  private readonly mmioSptes: ShadowMmioSptes;
  private readonly roots: Roots[];
  private readonly r = new WalkResult();
  private readonly hw = { gpa: 0, w: false, u: false, nx: false };
  /** The host runs the guest with CR0.WP = 1 and emulates WP = 0 in the sptes. */
  private hwCtl: PagingControls;
  /** Frames of the shadow table pages the last hardware walk read, root first. */
  private readonly walked: number[] = [];

  constructor(
    private readonly m: Machine,
    /** What the MMU runs on (platform.ts): VMX hardware, or an L0 hypervisor when it is an L1's. */
    private readonly platform: ShadowPlatform = machinePlatform(m),
  ) {
    const sh = m.config.mmu.shadow;
    this.hwCtl = { ...m.ctl, wp: true };
    this.pages = new ShadowPageCache(m.ctl, { onGuestPteWrite: sh.onGuestPteWrite, cachePages: sh.cachePages, floodThreshold: sh.floodThreshold, largePageAccessKeyBug: m.config.bugs.largePageAccessKey === true }, {
      emitter: m.emitter,
      flushAllTlbs: (reason) => m.flushAllTlbs(reason),
      chargeAlloc: () => m.tick(m.cost.shadowAllocNs),
      hasMemslot: (gfn) => m.mmio.hasMemslot(gfn),
      storeTable: platform.storeTable,
      ...(platform.tableRole ? { tableRole: platform.tableRole } : {}),
    });
    this.unsync = sh.unsync ? new Unsync(m, this.pages) : null;
    this.mmioSptes = new ShadowMmioSptes(m, this.adHook, platform);
    this.roots = m.cpus.map(() => ({ root: null, pae: [null, null, null, null] }));
  }

  get tlbControls(): PagingControls {
    return this.hwCtl;
  }

  /** The walk's A/D updates: a dirty bit set in a shadowed table must reach the shadow entries derived from it. */
  readonly adHook: AdHook = (level, gpa, oldLo, oldHi, newLo, newHi) => {
    this.m.adHook(level, gpa, oldLo, oldHi, newLo, newHi);
    if ((newLo & ~oldLo & 0x40) !== 0 && this.pages.isWriteProtected(Math.floor(gpa / 4096))) this.pages.syncDirty(gpa, newLo, newHi);
  };

  // ---- the miss / fault path ---------------------------------------------------------

  miss(cpu: Vcpu, va: number, acc: AccessKind, cpl: number): MissOutcome {
    const m = this.m;
    const walked = this.hwWalk(cpu, va);
    // The PDE cache leaves the last level to read on a successful 4 KiB walk, as on bare metal.
    const refs = walked > 1 && cpu.walkCaches.guestPdeHit(cpu.cr3, va) ? 1 : Math.abs(walked);
    m.stats.shadowWalkRefs += refs;
    const hw = this.hw;
    const allowed = walked > 0 && !accessDenied(this.hwCtl, acc, cpl, hw.w, hw.u, hw.nx);
    if (this.platform.hardwareWalk) {
      if (!this.platform.hardwareWalk(cpu, va, this.walked, refs, allowed ? HOST_GUEST_BASE_FRAME + Math.floor(hw.gpa / 4096) : -1)) return MISS_RETRY;
    } else {
      m.emitter.emit({ type: 'page_walk', refs, guestRefs: 0, duration: refs * m.cost.walkRefNs, va });
      m.tick(refs * m.cost.walkRefNs);
    }
    if (allowed) {
      cpu.tlb.fill(va, hw.gpa, (hw.w ? TLB_W | TLB_D : 0) | (hw.u ? TLB_U : 0) | (hw.nx ? TLB_NX : 0), 12);
      m.lastGpa = hw.gpa;
      return MISS_OK;
    }
    // An MMIO spte for this page (mmio.ts): the #PF (RSVD) goes straight to the emulator.
    if (this.mmioSptes.cached(cpu, va, acc, cpl)) return MISS_OK;
    return this.fault(cpu, va, acc, cpl);
  }

  /** The shadow roots `cpu` runs on now (never recycled while in use). */
  rootsOf(cpu: Vcpu): ShadowPage[] {
    const roots = this.roots[cpu.id] as Roots;
    return [roots.root, ...roots.pae].filter((r): r is ShadowPage => r !== null);
  }

  /** The root shadow page that translates `va` for `cpu`. */
  private rootFor(cpu: Vcpu, va: number): ShadowPage | null {
    const roots = this.roots[cpu.id] as Roots;
    return this.m.ctl.mode === 'long4' ? roots.root : roots.pae[Math.floor(va / 2 ** 30) & 3] ?? null;
  }

  /** The hardware walk of the shadow tables. Positive refs on success, negative on a miss. */
  private hwWalk(cpu: Vcpu, va: number): number {
    let sp = this.rootFor(cpu, va);
    let refs = 0;
    this.walked.length = 0;
    let w = true;
    let u = true;
    let nx = false;
    while (sp) {
      const i = ShadowPageCache.index(va, sp.level);
      const lo = sp.sptes[2 * i] as number;
      const hi = sp.sptes[2 * i + 1] as number;
      refs++;
      this.walked.push(sp.hostFrame);
      if (!(lo & PTE_P)) return -refs;
      w = w && (lo & PTE_W) !== 0;
      u = u && (lo & PTE_U) !== 0;
      nx = nx || (hi & PTE_HI_NX) !== 0;
      if (sp.level === 1) {
        this.hw.gpa = (frameOf(lo, hi) - HOST_GUEST_BASE_FRAME) * 4096 + (va % 4096);
        this.hw.w = w;
        this.hw.u = u;
        this.hw.nx = nx;
        return refs;
      }
      sp = this.pages.pages.get(sp.children[i] as number) ?? null;
    }
    return -Math.max(refs, 1);
  }

  /** A #PF exit under shadow paging: inject, emulate a page-table write or MMIO, or fill the spte. */
  private fault(cpu: Vcpu, va: number, acc: AccessKind, cpl: number): MissOutcome {
    const m = this.m;
    const mmu = this.pages;
    const exits = this.platform;
    const start = exits.beginExit('EXCEPTION_NMI', va);
    m.lock(m.cost.shadowFaultNs);
    mmu.noteFault();
    mmu.topUp();
    m.tick(m.cost.shadowFaultNs);
    const r = this.r;
    m.stats.guestWalk++;
    const ok = walk(m.mem, m.ctl, cpu.cr3, cpu.pdpte, va, acc, cpl, this.adHook, r);
    this.platform.readGuestTables?.(r);
    if (!ok) {
      m.faultCode = r.errorCode;
      m.tick(m.cost.injectNs);
      exits.endExit(start, 'EXCEPTION_NMI', 'inject-guest-pf', va);
      return MISS_FAULT;
    }
    if (m.mmio.isMmio(r.gpa)) {
      // No memslot backs the frame: MMIO, emulated and never mapped (mmu.rst's MMIO sptes).
      this.mmioSptes.emulate(cpu, va, r);
      m.lastGpa = r.gpa;
      exits.endExit(start, 'EXCEPTION_NMI', 'mmio-emulate', va, r.gpa);
      return MISS_OK;
    }
    const gfn = Math.floor(r.gpa / 4096);
    if (acc === ACCESS_WRITE && mmu.isWriteProtected(gfn) && this.unsync?.tryUnsync(gfn)) {
      this.fetch(cpu, va, r, acc, cpl); // no longer write-protected: a writable spte, the store runs natively
      exits.endExit(start, 'EXCEPTION_NMI', 'unsync', va, r.gpa);
      return MISS_RETRY;
    }
    if (acc === ACCESS_WRITE && mmu.isWriteProtected(gfn)) {
      // The guest writes one of its own page tables through a mapping: emulate the write.
      m.tick(m.cost.emulateNs);
      const bytes = entryBytes(m.ctl.mode);
      const at = r.gpa - (r.gpa % bytes);
      const [lo, hi] = m.os.readEntry(at);
      mmu.onGuestWrite(at, bytes, lo, hi);
      exits.endExit(start, 'EXCEPTION_NMI', 'emulate-pte-write', va, r.gpa);
      m.lastGpa = r.gpa;
      return MISS_OK;
    }
    this.fetch(cpu, va, r, acc, cpl);
    exits.endExit(start, 'EXCEPTION_NMI', 'fill-spte', va, r.gpa);
    return MISS_RETRY;
  }

  /** Build the shadow path for `va` from a successful guest walk and set the leaf spte. */
  private fetch(cpu: Vcpu, va: number, r: WalkResult, acc: AccessKind, cpl: number): void {
    const mmu = this.pages;
    const ctl = this.m.ctl;
    let sp = this.rootFor(cpu, va) as ShadowPage;
    const leafIdx = r.count - 1;
    const leafLevel = r.entryLevel[leafIdx] as number;
    for (let level = sp.level; level > 1; level--) {
      const i = ShadowPageCache.index(va, level);
      const child = sp.children[i] as number;
      if (child >= 0) {
        sp = mmu.pages.get(child) as ShadowPage;
        continue;
      }
      const next = level > leafLevel ? this.tablePage(r, va, level) : this.directPage(r, level);
      mmu.link(sp, i, next);
      sp = next;
    }
    let access = sp.direct ? sp.access : upperAccess(ctl, r, r.count);
    // CR0.WP = 0: a supervisor write to a read-only page is allowed; map it writable but
    // supervisor-only. If that turned a user page into a supervisor page, SMEP would no
    // longer stop the kernel executing it, so the spte also gets NX; a later user access or
    // fetch faults and rebuilds it (mmu.rst, seed 004). A page that was supervisor already
    // keeps its execute right: SMEP never applied to it.
    if (!ctl.wp && cpl === 0 && acc === ACCESS_WRITE && !(access & ACC_W)) {
      const wasUser = (access & ACC_U) !== 0;
      access = (access | ACC_W) & ~ACC_U;
      if (ctl.smep && wasUser) access &= ~ACC_X;
    }
    const dirty = ((r.entryLo[leafIdx] as number) & 0x40) !== 0;
    const [lo, hi] = mmu.leafSpte(Math.floor(r.gpa / 4096), access, dirty);
    mmu.setSpte(sp, ShadowPageCache.index(va, 1), lo, hi);
  }

  /** The shadow page of the guest table referenced by the guest entry at `level`. */
  private tablePage(r: WalkResult, va: number, level: number): ShadowPage {
    const ctl = this.m.ctl;
    let gi = 0;
    while ((r.entryLevel[gi] as number) !== level) gi++;
    const lo = r.entryLo[gi] as number;
    const gfn = ctl.mode === 'nonpae' ? lo >>> 12 : frameOf(lo, r.entryHi[gi] as number);
    // Non-PAE: a guest pt (4 MiB) is shadowed by two PAE pts; the quadrant says which half.
    const quadrant = ctl.mode === 'nonpae' && level === 2 ? Math.floor(va / 2 ** 21) & 1 : 0;
    return this.pages.getPage(gfn, level - 1, quadrant, false, upperAccess(ctl, r, gi + 1));
  }

  /**
   * A direct shadow page under a guest large page, keyed by the access of the large mapping;
   * write access only once the large page is dirty, so the first write faults and sets D.
   */
  private directPage(r: WalkResult, level: number): ShadowPage {
    const span = 2 ** (12 + 9 * (level - 1));
    const base = r.gpa - (r.gpa % span);
    let access = upperAccess(this.m.ctl, r, r.count);
    if (!((r.entryLo[r.count - 1] as number) & 0x40)) access &= ~ACC_W;
    return this.pages.getPage(base / 4096, level - 1, 0, true, access);
  }

  /**
   * Under mmu_lock (a CR3 load, an MMU role change): top up the page cache, bring every unsync
   * page back in sync, and point the vCPU's roots at its CR3's shadow pages.
   */
  private reloadRoots(cpu: Vcpu): void {
    this.m.lock(this.m.cost.shadowFaultNs);
    this.pages.topUp();
    this.unsync?.syncAll();
    this.loadRoots(cpu);
  }

  /** Point the vCPU's shadow roots at the shadow pages of its CR3 (PDPTE valid bits honoured). */
  private loadRoots(cpu: Vcpu): void {
    const mmu = this.pages;
    const ctl = this.m.ctl;
    const roots = this.roots[cpu.id] as Roots;
    if (roots.root) roots.root.roots--;
    for (const r of roots.pae) if (r) r.roots--;
    roots.root = null;
    roots.pae.fill(null);
    const gfn = Math.floor(cpu.cr3 / 4096);
    if (ctl.mode === 'long4') {
      roots.root = mmu.getPage(gfn, 4, 0, false, ACC_ALL);
      roots.root.roots++;
      return;
    }
    for (let i = 0; i < 4; i++) {
      const lo = cpu.pdpte[2 * i] as number;
      if (ctl.mode === 'pae' && !(lo & PTE_P)) continue; // an invalid PDPTE is never followed
      const target = ctl.mode === 'pae' ? frameOf(lo, cpu.pdpte[2 * i + 1] as number) : gfn;
      const root = mmu.getPage(target, 2, ctl.mode === 'pae' ? 0 : i, false, ACC_ALL);
      root.roots++;
      roots.pae[i] = root;
    }
  }

  // ---- guest page-table writes, invlpg, CR3 ------------------------------------------

  guestWrite(gpa: number, bytes: number, lo: number, hi: number, level: number, va?: number): void {
    const m = this.m;
    const gfn = Math.floor(gpa / 4096);
    const trapped = this.pages.isWriteProtected(gfn);
    const start = trapped ? this.platform.beginExit('EXCEPTION_NMI', va) : 0;
    m.store(gpa, bytes, lo, hi, level);
    if (!trapped) return;
    m.lock(m.cost.emulateNs);
    // unsync: the page goes out of sync and this store (and the next ones) run natively
    if (this.unsync?.tryUnsync(gfn)) return this.platform.endExit(start, 'EXCEPTION_NMI', 'unsync', va, gpa);
    m.tick(m.cost.emulateNs);
    const size = entryBytes(m.ctl.mode);
    const [newLo, newHi] = m.os.readEntry(gpa - (gpa % size));
    this.pages.onGuestWrite(gpa, bytes, newLo, newHi);
    this.platform.endExit(start, 'EXCEPTION_NMI', 'emulate-pte-write', va, gpa);
  }

  traps(gfn: number): boolean {
    return this.pages.isWriteProtected(gfn);
  }

  invlpg(cpu: Vcpu, va: number): void {
    const m = this.m;
    if (!this.unsync) return m.nativeInvlpg(cpu, va); // guest tables are write-protected: invlpg need not be trapped (seed 000)
    // with unsync pages a stale spte may be cached: invlpg must exit so it can be resynced
    const start = this.platform.beginExit('INVLPG', va);
    m.lock(m.cost.shadowFaultNs);
    let sp = this.rootFor(cpu, va);
    while (sp && sp.level > 1) sp = this.pages.pages.get(sp.children[ShadowPageCache.index(va, sp.level)] as number) ?? null;
    this.unsync.invlpg(sp, va);
    cpu.tlb.invlpg(va);
    this.platform.endExit(start, 'INVLPG', 'sync-shadow-pages', va);
  }

  /** MOV to CR3 exits (CR_ACCESS): sync unsync pages and switch to the new address space's roots. */
  loadCr3(cpu: Vcpu): void {
    const start = this.platform.beginExit('CR_ACCESS');
    this.reloadRoots(cpu);
    this.platform.endExit(start, 'CR_ACCESS', 'cr3-switch');
  }

  /** A MOV to CR3 exits under shadow paging: KVM loads the PDPTEs, finds a reserved bit and injects #GP (nothing else changes). */
  generalProtection(_cpu: Vcpu, cause: 'cr3' | 'canonical'): void {
    if (cause !== 'cr3') return; // #GP is not intercepted: it goes straight to the guest
    const m = this.m;
    const start = this.platform.beginExit('CR_ACCESS');
    m.tick(m.cost.injectNs);
    this.platform.endExit(start, 'CR_ACCESS', 'inject-gp');
  }

  /**
   * CR0.WP, CR4.SMEP/SMAP/PSE or EFER.NXE changed (intercepted under shadow paging): the
   * MMU's role changes (mmu.rst: cr0_wp, smep_andnot_wp, smap_andnot_wp, nxe), so the vCPU
   * gets the roots of the new role; pages of the old role stay cached for a change back.
   */
  controlsChanged(cpu: Vcpu, register: ControlRegister): void {
    const m = this.m;
    this.hwCtl = { ...m.ctl, wp: true };
    const start = this.platform.beginExit(controlExitReason(register));
    this.reloadRoots(cpu);
    m.tick(m.cost.emulateNs);
    this.platform.endExit(start, controlExitReason(register), 'mmu-role-change');
  }

  // ---- audit, counters, view ---------------------------------------------------------

  /**
   * mmu_notifier invalidation (kvm_unmap_rmapp): every leaf spte mapping the frame, found by
   * the rmap, is cleared and the TLBs flushed; the guest's next access refills (`fill-spte`).
   * Shadow pages of the frame (if it is a guest page table) stay: they are keyed by the guest
   * frame, not by the host page. Host frames are not modelled apart from guest frames here,
   * so a migration is the same invalidation.
   */
  hostInvalidate(gfn: number): void {
    const refs = [...this.pages.rmapOf(gfn)];
    for (const ref of refs) {
      const sp = this.pages.pages.get(Math.floor(ref / 512));
      if (sp) this.pages.clearSpte(sp, ref % 512);
    }
    if (refs.length) this.m.flushAllTlbs('mmu-notifier');
  }

  audit(report: Report): void {
    audit(this.m, this.pages, report);
  }

  /**
   * The memslot generation moved on. An MMIO spte holds only its low bits, so when they wrap
   * an old one could look current again: KVM then throws every shadow page away
   * (kvm_mmu_zap_all_fast; mmu.rst). Roots in use are emptied and kept, as any zap does.
   */
  memslotsChanged(generation: number): void {
    if (generation % MMIO_GENERATIONS !== 0) return;
    this.zapAllFast++;
    for (const sp of [...this.pages.pages.values()]) if (this.pages.pages.has(sp.id)) this.pages.zapPage(sp);
    this.mmioSptes.clear();
    this.m.flushAllTlbs('zap-all-fast');
  }
  private zapAllFast = 0;

  counters(): Record<string, number> {
    return { ...this.pages.stats, shadowPagesInUse: this.pages.used, zapAllFast: this.zapAllFast, ...this.unsync?.stats };
  }

  tables(): MmuTable[] {
    const out: MmuTable[] = [];
    for (const sp of this.pages.pages.values()) {
      const entries: Array<[number, bigint]> = [];
      for (let i = 0; i < 512; i++) if (sp.sptes[2 * i] || sp.sptes[2 * i + 1]) entries.push([i, pte64(sp.sptes[2 * i] as number, sp.sptes[2 * i + 1] as number)]);
      out.push({ id: sp.id, level: sp.level, role: roleName(sp), gfn: sp.gfn, entries });
    }
    return out;
  }
}
