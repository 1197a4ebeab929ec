/**
 * One simulated VM: guest memory and OS, its vCPUs with their own clocks and TLBs, and the
 * MMU virtualizing it. Guest accesses go through `access`, whose guest-visible outcome is
 * the architectural one whatever the MMU mode; what differs is the exits and their cost.
 */
import { costProfile, type CostProfile } from './costs.ts';
import { Emitter, pte64 } from './emitter.ts';
import type { EngineOptions, VmRunner } from './engineApi.ts';
import type { EventSink } from './events.ts';
import { GuestOs, Process } from './guestOs.ts';
import {
  ACCESS_WRITE, GuestMemory, PF_P, PF_W, PTE_HI_NX, PTE_P, PTE_U, PTE_W, WalkResult, accessDenied,
  entryBytes, loadPdptes, walk, type AccessKind, type AdHook, type PagingControls,
} from './paging.ts';
import { Rng } from './rng.ts';
import type { Scenario, VmConfig } from './scenario.ts';
import { ACC_ALL, ACC_U, ACC_W, ACC_X, HOST_GUEST_BASE_FRAME, ShadowMmu, ShadowPage, frameOf, upperAccess } from './shadow.ts';
import { TLB_D, TLB_NX, TLB_U, TLB_W, Tlb } from './tlb.ts';
import { audit } from './auditor.ts';
import { XenPv } from './xenpv.ts';
import { TdpMmu } from './tdp/tdpMmu.ts';
import { auditTdp } from './tdp/auditor.ts';
import { WalkCaches } from './tdp/walkCaches.ts';
import { MmioSptes } from './mmio.ts';
import { Unsync } from './unsync.ts';
import { NestedTdp } from './nested.ts';
import { svmNameOf } from './exitReasons.ts';

/** Consecutive shadow fills for one access before the engine calls it an endless loop. */
const LOOP_LIMIT = 16;
const OK = 0;
const FAULT = 1;
const RETRY = 2;

export class Vcpu {
  clock = 0;
  readonly tlb = new Tlb();
  proc: Process | null = null;
  cr3 = 0;
  readonly pdpte = new Uint32Array(8);
  root: ShadowPage | null = null;
  readonly roots: Array<ShadowPage | null> = [null, null, null, null];
  done = false;
  program: Iterator<void> | null = null;
  readonly exitsByReason = new Map<string, number>();
  /** Paging-structure caches: what a TLB miss's walk can skip (cost only; core/tdp/walkCaches.ts). */
  readonly walkCaches = new WalkCaches();
  constructor(readonly id: number) {}
}

export class Vm implements VmRunner {
  readonly config: VmConfig;
  readonly cost: CostProfile;
  readonly ctl: PagingControls;
  readonly mem: GuestMemory;
  readonly os: GuestOs;
  readonly emitter = new Emitter();
  readonly mmu: ShadowMmu | null;
  readonly mode: 'shadow' | 'tdp' | 'xenpv';
  /** Xen PV direct paging (core/xenpv.ts), when `mmu.mode` is `xenpv`. */
  readonly xen: XenPv | null;
  /** MMIO sptes with the memslot generation (core/mmio.ts). */
  readonly mmio: MmioSptes;
  /** Unsync shadow pages (core/unsync.ts), with `mmu.shadow.unsync`. */
  readonly unsync: Unsync | null;
  /** Nested TDP (core/nested.ts): an L2 guest on L1's EPT, shadowed by L0, with `mmu.nested.enabled`. */
  readonly nested: NestedTdp | null;
  readonly rng: Rng;
  readonly cpus: Vcpu[];
  /** EPT/NPT tables, dirty logging and the TDP MMU (core/tdp/), when `mmu.mode` is `tdp`. */
  readonly tdp: TdpMmu | null;
  private readonly r = new WalkResult();
  private readonly hwCtl: PagingControls;
  private cur: Vcpu;
  private stop: VmRunner['stopReason'] = 'running';
  faultCode = 0;
  lastGpa = 0;
  /** Named counters (v86-style) that feed the breakdowns. */
  readonly stats = { tlbHit: 0, tlbMiss: 0, guestWalk: 0, shadowWalkRefs: 0 };
  private hw = { gpa: 0, w: false, u: false, nx: false };

  constructor(
    scenario: Scenario,
    readonly vm: number,
    private readonly options: EngineOptions = {},
  ) {
    const config = scenario.vms[vm];
    if (!config) throw new Error(`scenario has no vms[${vm}]`);
    this.config = config;
    this.cost = costProfile(scenario.hardware.profile, options.costScale);
    const g = config.guest;
    this.ctl = { mode: g.paging, wp: g.cr0.wp, pse: g.cr4.pse, smep: g.cr4.smep, smap: g.cr4.smap, nxe: g.efer.nx };
    // Under shadow paging the host runs the guest with CR0.WP = 1 and emulates WP = 0 in the sptes.
    this.hwCtl = { ...this.ctl, wp: true };
    this.mem = new GuestMemory(config.memoryMiB);
    this.emitter.vm = vm;
    this.mode = config.mmu.mode;
    const sh = config.mmu.shadow;
    this.mmu = this.mode === 'shadow'
      ? new ShadowMmu(this.ctl, { onGuestPteWrite: sh.onGuestPteWrite, cachePages: sh.cachePages, floodThreshold: sh.floodThreshold, largePageAccessKeyBug: config.bugs.largePageAccessKey === true }, {
          emitter: this.emitter,
          flushAllTlbs: (reason) => this.flushAllTlbs(reason),
          chargeAlloc: () => this.tick(this.cost.shadowAllocNs),
        })
      : null;
    this.xen = this.mode === 'xenpv' ? new XenPv(this, config.mmu.xenpv) : null;
    this.mmio = new MmioSptes(this, config.mmu.mmioSptes);
    this.unsync = this.mmu && sh.unsync ? new Unsync(this, this.mmu) : null;
    this.os = new GuestOs(this.mem, this.ctl, (gpa, level, lo, hi) => this.writeGuestEntry(gpa, level, lo, hi));
    this.os.onZero = (frame) => this.zeroFrame(frame);
    this.rng = new Rng((scenario.seed + Math.imul(vm + 1, 0x9e3779b1)) >>> 0);
    this.cpus = Array.from({ length: config.vcpus }, (_, i) => new Vcpu(i));
    this.cur = this.cpus[0] as Vcpu;
    const bugs = config.bugs;
    this.nested = this.mode === 'tdp' && config.mmu.nested.enabled ? new NestedTdp(this, config.mmu.nested.inveptEvery, config.mmu.tdp.walkCaches) : null;
    this.tdp = this.mode === 'tdp' && !this.nested
      ? new TdpMmu(this, { ...config.mmu.tdp, bugs: { aba: bugs.fastPfAba === true, lostDirty: bugs.fastPfLostDirty === true, missedFlush: bugs.fastPfMissedFlush === true, flushOverwrite: bugs.fastPfFlushOverwrite === true } })
      : null;
  }

  get vcpus(): number {
    return this.cpus.length;
  }
  get finished(): boolean {
    return this.stop !== 'running';
  }
  get stopReason(): VmRunner['stopReason'] {
    return this.stop;
  }
  now(): number {
    let t = Infinity;
    for (const c of this.cpus) if (!c.done && c.clock < t) t = c.clock;
    return t === Infinity ? Math.max(...this.cpus.map((c) => c.clock)) : t;
  }

  /** Install each vCPU's program (done by the engine once workloads are known). */
  setPrograms(make: (vm: Vm, cpu: Vcpu) => Iterator<void>): void {
    for (const c of this.cpus) c.program = make(this, c);
  }

  step(sink: EventSink): boolean {
    if (this.stop !== 'running') return false;
    const cpu = this.earliest();
    this.emitter.sink = sink;
    if (!cpu) {
      this.tdp?.runDue(Infinity); // host work left when the guest is done
      this.stop = 'done';
      return false;
    }
    this.tdp?.runDue(cpu.clock); // host work due before this vCPU's next operation
    this.enter(cpu);
    const r = (cpu.program as Iterator<void>).next();
    cpu.clock = this.emitter.t;
    if (r.done) cpu.done = true;
    if (this.options.audit && this.mmu) audit(this);
    if (this.options.audit && this.tdp) auditTdp(this, this.tdp);
    if (this.options.audit && this.nested) this.nested.audit((rule, detail) => this.emitter.emit({ type: 'audit_violation', rule, detail }));
    if (this.options.audit && this.xen) this.xen.audit((rule, detail) => this.emitter.emit({ type: 'audit_violation', rule, detail }));
    if (this.options.maxEvents !== undefined && this.emitter.count >= this.options.maxEvents && this.stop === 'running') this.stop = 'max-events';
    return this.stop === 'running';
  }

  private earliest(): Vcpu | undefined {
    let best: Vcpu | undefined;
    for (const c of this.cpus) if (!c.done && (!best || c.clock < best.clock)) best = c;
    return best;
  }

  private enter(cpu: Vcpu): void {
    this.cur = cpu;
    this.emitter.vcpu = cpu.id;
    this.emitter.t = cpu.clock;
  }

  /**
   * Translate `va` for the current vCPU's address space as the hardware would, without
   * side effects (no A/D bits, no #PF, no TLB fill): for state queries and the auditor.
   */
  probe(va: number, acc: AccessKind, cpl: number, out: WalkResult): boolean {
    return walk(this.mem, this.ctl, this.cur.cr3, this.cur.pdpte, va, acc, cpl, null, out);
  }

  counters(): { vm: Record<string, number>; exitsPerVcpu: Array<Record<string, number>> } {
    const shadow = this.mmu ? { ...this.mmu.stats, shadowPagesInUse: this.mmu.used, ...this.unsync?.stats } : this.xen ? { ...this.xen.stats } : this.nested ? { ...this.nested.stats } : {};
    const tdp = this.tdp ? { ...this.tdp.stats, eptTablesInUse: this.tdp.tables.size } : {};
    return { vm: { ...this.stats, ...shadow, ...tdp, ...this.mmio.stats }, exitsPerVcpu: this.exitStats() };
  }

  /** Exits per vCPU by reason (seed 000 made exit statistics per vCPU). */
  exitStats(): Array<Record<string, number>> {
    return this.cpus.map((c) => Object.fromEntries(c.exitsByReason));
  }

  get current(): Vcpu {
    return this.cur;
  }
  get stopped(): boolean {
    return this.stop !== 'running';
  }
  halt(reason: VmRunner['stopReason']): void {
    this.stop = reason;
  }

  tick(ns: number): void {
    this.emitter.t += ns;
  }

  // ---- exits and the mmu_lock --------------------------------------------------------

  beginExit(): number {
    const start = this.emitter.t;
    this.emitter.hold();
    this.tick(this.cost.exitEntryNs);
    return start;
  }

  endExit(start: number, reason: string, handling: string, va?: number, gpa?: number): void {
    const body: Record<string, unknown> & { type: 'vmexit' } = { type: 'vmexit', reason, handling, duration: this.emitter.t - start };
    if (va !== undefined) body.va = va;
    if (gpa !== undefined) body.gpa = gpa;
    if (this.cost.name === 'npt-amd') body.reason = svmNameOf(reason); // the SVM names KVM prints (core/exitReasons.ts)
    this.emitter.release(body, start);
    const m = this.cur.exitsByReason;
    m.set(body.reason as string, (m.get(body.reason as string) ?? 0) + 1);
  }

  /**
   * Take the VM's mmu_lock for `holdNs`, waiting (and showing the wait) if another vCPU
   * holds it. A vCPU's step can run ahead of the others' clocks, so holds are kept as time
   * intervals: a vCPU gets the first gap at or after its own time, never waiting for a hold
   * that begins later than it asks.
   */
  lock(holdNs: number): void {
    const t = this.emitter.t;
    let at = t;
    if (this.cpus.length > 1) {
      this.pruneHolds();
      for (let i = 0; i < this.holds.length; i += 2) {
        const start = this.holds[i] as number;
        const end = this.holds[i + 1] as number;
        if (start < at + holdNs && end > at) at = end;
      }
    }
    if (at > t) {
      this.emitter.emit({ type: 'lock_wait', lock: 'mmu_lock', duration: at - t });
      this.tick(at - t);
    }
    this.tick(this.cost.lockNs);
    if (this.cpus.length > 1) this.insertHold(this.emitter.t, this.emitter.t + holdNs);
  }

  /** Lock holds as [start, end) pairs sorted by start. */
  private holds: number[] = [];

  private insertHold(start: number, end: number): void {
    let i = 0;
    while (i < this.holds.length && (this.holds[i] as number) < start) i += 2;
    this.holds.splice(i, 0, start, end);
  }

  /** Holds that ended before every vCPU's clock can never matter again. */
  private pruneHolds(): void {
    let min = Infinity;
    for (const c of this.cpus) if (!c.done && c !== this.cur && c.clock < min) min = c.clock;
    min = Math.min(min, this.emitter.t);
    let keep = 0;
    while (keep < this.holds.length && (this.holds[keep + 1] as number) <= min) keep += 2;
    if (keep) this.holds.splice(0, keep);
  }

  flushAllTlbs(reason: string): void {
    for (const c of this.cpus) c.tlb.flush(true);
    this.emitter.emit({ type: 'tlb_flush', scope: 'all', reason });
    if (this.cpus.length > 1) this.tick(this.cost.ipiNs);
  }

  // ---- guest page-table writes ------------------------------------------------------

  /** The guest OS writes one of its paging-structure entries; trapped if the frame is shadowed. */
  writeGuestEntry(gpa: number, level: number, lo: number, hi: number, va?: number): void {
    if (this.xen) return this.xen.guestWrite(gpa, level, lo, hi, va);
    this.nested?.touch(Math.floor(gpa / 4096), va); // L2's store needs an EPT02 entry like any access
    this.tdp?.guestStore(Math.floor(gpa / 4096), va); // under TDP a store through the EPT like any other
    const [oldLo, oldHi] = this.os.readEntry(gpa);
    const trapped = this.mmu !== null && this.mmu.isWriteProtected(Math.floor(gpa / 4096));
    const start = trapped ? this.beginExit() : 0;
    this.mem.write32(gpa, lo);
    const bytes = entryBytes(this.ctl.mode);
    if (bytes === 8) this.mem.write32(gpa + 4, hi);
    // A store that changes nothing is invisible to the guest (it still traps if protected).
    if (oldLo !== lo >>> 0 || oldHi !== hi >>> 0) this.emitter.emit({ type: 'gpte_write', level, gpa, old: pte64(oldLo, oldHi), new: pte64(lo, hi), cause: 'guest' });
    this.tick(this.cost.accessNs);
    if (!trapped) return;
    this.lock(this.cost.emulateNs);
    // unsync: the page goes out of sync and this store (and the next ones) run natively
    if (this.unsync?.tryUnsync(Math.floor(gpa / 4096))) return this.endExit(start, 'EXCEPTION_NMI', 'unsync', va, gpa);
    this.tick(this.cost.emulateNs);
    (this.mmu as ShadowMmu).onGuestWrite(gpa, bytes, lo, hi);
    this.endExit(start, 'EXCEPTION_NMI', 'emulate-pte-write', va, gpa);
  }

  /**
   * The guest zeroes a frame it reuses. Each entry it clears is reported (level 0: the frame
   * is no longer a paging structure) so page tables can be rebuilt from the events. If the
   * frame is still a shadowed page table, the stores trap and are emulated until flood
   * detection zaps its shadow pages (seed 000: "a page table may have been recycled into a
   * regular page").
   */
  private zeroFrame(frame: number): void {
    if (!this.mem.hasContents(frame)) return;
    const bytes = entryBytes(this.ctl.mode);
    for (let gpa = frame * 4096; gpa < (frame + 1) * 4096; gpa += bytes) {
      const [lo, hi] = this.os.readEntry(gpa);
      if (lo || hi || this.mmu?.isWriteProtected(frame)) this.writeGuestEntry(gpa, 0, 0, 0);
    }
  }

  readonly adHook: AdHook = (level, gpa, oldLo, oldHi, newLo, newHi) => {
    this.emitter.emit({ type: 'gpte_write', level, gpa, old: pte64(oldLo, oldHi), new: pte64(newLo, newHi), cause: 'ad' });
    // A dirty bit set in a shadowed table must reach the shadow entries derived from it.
    const mmu = this.mmu;
    if (mmu && (newLo & ~oldLo & 0x40) !== 0 && mmu.isWriteProtected(Math.floor(gpa / 4096))) mmu.syncDirty(gpa, newLo, newHi);
  };

  // ---- the access path --------------------------------------------------------------

  /**
   * One guest access. Returns true and sets `lastGpa`, or false with `faultCode` set and
   * a `guest_fault` emitted (the #PF the guest sees).
   */
  access(va: number, acc: AccessKind, cpl: number): boolean {
    const cpu = this.cur;
    for (let attempt = 0; ; attempt++) {
      const e = cpu.tlb.lookup(va);
      if (e >= 0 && this.tlbAllows(cpu.tlb.rights(e), acc, cpl)) {
        this.stats.tlbHit++;
        this.tick(this.cost.accessNs);
        this.lastGpa = cpu.tlb.gpa(e, va);
        return true;
      }
      if (e >= 0) cpu.tlb.drop(e);
      this.stats.tlbMiss++;
      const res = this.mode === 'shadow' ? this.shadowMiss(cpu, va, acc, cpl) : this.xen ? this.xen.miss(cpu, va, acc, cpl) : this.nested ? this.nested.miss(cpu, va, acc, cpl) : this.tdpMiss(cpu, va, acc, cpl);
      if (res === OK) return true;
      if (res === FAULT) return this.deliverPf(va);
      if (attempt >= LOOP_LIMIT) return this.endlessLoop(va, acc);
    }
  }

  private tlbAllows(bits: number, acc: AccessKind, cpl: number): boolean {
    if (acc === ACCESS_WRITE && !(bits & TLB_D)) return false; // a write to a clean page re-walks to set D
    const ctl = this.mode === 'shadow' ? this.hwCtl : this.ctl;
    return !accessDenied(ctl, acc, cpl, (bits & TLB_W) !== 0, (bits & TLB_U) !== 0, (bits & TLB_NX) !== 0);
  }

  private deliverPf(va: number): false {
    this.emitter.emit({ type: 'guest_fault', va, errorCode: this.faultCode });
    return false;
  }

  private endlessLoop(va: number, acc: AccessKind): false {
    this.emitter.emit({ type: 'audit_violation', rule: 'endless-fault-loop', detail: `va ${hex(va)} ${['read', 'write', 'fetch'][acc]}: the shadow fault at this address was "fixed" ${LOOP_LIMIT} times and the guest made no progress` });
    this.halt('endless-fault-loop');
    this.faultCode = 0;
    return false;
  }

  // ---- shadow paging -----------------------------------------------------------------

  private shadowMiss(cpu: Vcpu, va: number, acc: AccessKind, cpl: number): number {
    const walked = this.shadowHwWalk(cpu, va);
    // The PDE cache leaves the last level to read on a successful 4 KiB walk, as on bare metal.
    const refs = walked > 1 && cpu.walkCaches.guestPdeHit(cpu.cr3, va) ? 1 : Math.abs(walked);
    this.stats.shadowWalkRefs += refs;
    this.emitter.emit({ type: 'page_walk', refs, guestRefs: 0, duration: refs * this.cost.walkRefNs, va });
    this.tick(refs * this.cost.walkRefNs);
    const hw = this.hw;
    if (walked > 0 && !accessDenied(this.hwCtl, acc, cpl, hw.w, hw.u, hw.nx)) {
      cpu.tlb.fill(va, hw.gpa, (hw.w ? TLB_W | TLB_D : 0) | (hw.u ? TLB_U : 0) | (hw.nx ? TLB_NX : 0), 12);
      this.lastGpa = hw.gpa;
      return OK;
    }
    // An MMIO spte for this page (core/mmio.ts): the #PF (RSVD) goes straight to the emulator.
    if (this.mmio.shadowCached(cpu, va, acc, cpl)) return OK;
    return this.shadowFault(cpu, va, acc, cpl);
  }

  /** The hardware walk of the shadow tables. Positive refs on success, negative on a miss. */
  private shadowHwWalk(cpu: Vcpu, va: number): number {
    const mmu = this.mmu as ShadowMmu;
    let sp = this.ctl.mode === 'long4' ? cpu.root : cpu.roots[Math.floor(va / 2 ** 30) & 3] ?? null;
    let refs = 0;
    let w = true;
    let u = true;
    let nx = false;
    while (sp) {
      const i = ShadowMmu.index(va, sp.level);
      const lo = sp.sptes[2 * i] as number;
      const hi = sp.sptes[2 * i + 1] as number;
      refs++;
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
      sp = mmu.pages.get(sp.children[i] as number) ?? null;
    }
    return -Math.max(refs, 1);
  }

  /** A #PF exit under shadow paging: inject, emulate a page-table write, or fill the spte. */
  private shadowFault(cpu: Vcpu, va: number, acc: AccessKind, cpl: number): number {
    const mmu = this.mmu as ShadowMmu;
    const start = this.beginExit();
    this.lock(this.cost.shadowFaultNs);
    mmu.noteFault();
    mmu.topUp();
    this.tick(this.cost.shadowFaultNs);
    const r = this.r;
    this.stats.guestWalk++;
    if (!walk(this.mem, this.ctl, cpu.cr3, cpu.pdpte, va, acc, cpl, this.adHook, r)) {
      this.faultCode = r.errorCode;
      this.tick(this.cost.injectNs);
      this.endExit(start, 'EXCEPTION_NMI', 'inject-guest-pf', va);
      return FAULT;
    }
    if (this.mmio.isMmio(r.gpa)) {
      // No memslot backs the frame: MMIO, emulated and never mapped (mmu.rst's MMIO sptes).
      this.mmio.shadowEmulate(cpu, va, r);
      this.lastGpa = r.gpa;
      this.endExit(start, 'EXCEPTION_NMI', 'mmio-emulate', va, r.gpa);
      return OK;
    }
    const gfn = Math.floor(r.gpa / 4096);
    if (acc === ACCESS_WRITE && mmu.isWriteProtected(gfn) && this.unsync?.tryUnsync(gfn)) {
      this.fetch(cpu, va, r, acc, cpl); // no longer write-protected: a writable spte, the store runs natively
      this.endExit(start, 'EXCEPTION_NMI', 'unsync', va, r.gpa);
      return RETRY;
    }
    if (acc === ACCESS_WRITE && mmu.isWriteProtected(gfn)) {
      // The guest writes one of its own page tables through a mapping: emulate the write.
      this.tick(this.cost.emulateNs);
      const bytes = entryBytes(this.ctl.mode);
      const at = r.gpa - (r.gpa % bytes);
      const [lo, hi] = this.os.readEntry(at);
      mmu.onGuestWrite(at, bytes, lo, hi);
      this.endExit(start, 'EXCEPTION_NMI', 'emulate-pte-write', va, r.gpa);
      this.lastGpa = r.gpa;
      return OK;
    }
    this.fetch(cpu, va, r, acc, cpl);
    this.endExit(start, 'EXCEPTION_NMI', 'fill-spte', va, r.gpa);
    return RETRY;
  }

  /** Build the shadow path for `va` from a successful guest walk and set the leaf spte. */
  private fetch(cpu: Vcpu, va: number, r: WalkResult, acc: AccessKind, cpl: number): void {
    const mmu = this.mmu as ShadowMmu;
    let sp = (this.ctl.mode === 'long4' ? cpu.root : cpu.roots[Math.floor(va / 2 ** 30) & 3]) as ShadowPage;
    const leafIdx = r.count - 1;
    const leafLevel = r.entryLevel[leafIdx] as number;
    for (let level = sp.level; level > 1; level--) {
      const i = ShadowMmu.index(va, level);
      const child = sp.children[i] as number;
      if (child >= 0) {
        sp = mmu.pages.get(child) as ShadowPage;
        continue;
      }
      const next = level > leafLevel ? this.tablePage(r, va, level) : this.directPage(r, level);
      mmu.link(sp, i, next);
      sp = next;
    }
    let access = sp.direct ? sp.access : upperAccess(this.ctl, r, r.count);
    // CR0.WP = 0: a supervisor write to a read-only page is allowed; map it writable but
    // supervisor-only. With SMEP that would let the kernel execute a user page, so the spte
    // also gets NX; a later user access or fetch faults and rebuilds it (mmu.rst, seed 004).
    if (!this.ctl.wp && cpl === 0 && acc === ACCESS_WRITE && !(access & ACC_W)) {
      access = (access | ACC_W) & ~ACC_U;
      if (this.ctl.smep) access &= ~ACC_X;
    }
    const dirty = ((r.entryLo[leafIdx] as number) & 0x40) !== 0;
    const [lo, hi] = mmu.leafSpte(Math.floor(r.gpa / 4096), access, dirty);
    mmu.setSpte(sp, ShadowMmu.index(va, 1), lo, hi);
  }

  /** The shadow page of the guest table referenced by the guest entry at `level`. */
  private tablePage(r: WalkResult, va: number, level: number): ShadowPage {
    let gi = 0;
    while ((r.entryLevel[gi] as number) !== level) gi++;
    const lo = r.entryLo[gi] as number;
    const gfn = this.ctl.mode === 'nonpae' ? lo >>> 12 : frameOf(lo, r.entryHi[gi] as number);
    // Non-PAE: a guest pt (4 MiB) is shadowed by two PAE pts; the quadrant says which half.
    const quadrant = this.ctl.mode === 'nonpae' && level === 2 ? Math.floor(va / 2 ** 21) & 1 : 0;
    return (this.mmu as ShadowMmu).getPage(gfn, level - 1, quadrant, false, upperAccess(this.ctl, r, gi + 1));
  }

  /**
   * A direct shadow page under a guest large page, keyed by the access of the large mapping;
   * write access only once the large page is dirty, so the first write faults and sets D.
   */
  private directPage(r: WalkResult, level: number): ShadowPage {
    const span = 2 ** (12 + 9 * (level - 1));
    const base = r.gpa - (r.gpa % span);
    let access = upperAccess(this.ctl, r, r.count);
    if (!((r.entryLo[r.count - 1] as number) & 0x40)) access &= ~ACC_W;
    return (this.mmu as ShadowMmu).getPage(base / 4096, level - 1, 0, true, access);
  }

  /** Point the vCPU's shadow roots at the shadow pages of its new CR3 (PDPTE valid bits honoured). */
  loadShadowRoots(cpu: Vcpu): void {
    const mmu = this.mmu as ShadowMmu;
    if (cpu.root) cpu.root.roots--;
    for (const r of cpu.roots) if (r) r.roots--;
    cpu.root = null;
    cpu.roots.fill(null);
    const gfn = Math.floor(cpu.cr3 / 4096);
    if (this.ctl.mode === 'long4') {
      cpu.root = mmu.getPage(gfn, 4, 0, false, ACC_ALL);
      cpu.root.roots++;
      return;
    }
    for (let i = 0; i < 4; i++) {
      const lo = cpu.pdpte[2 * i] as number;
      if (this.ctl.mode === 'pae' && !(lo & PTE_P)) continue; // an invalid PDPTE is never followed
      const target = this.ctl.mode === 'pae' ? frameOf(lo, cpu.pdpte[2 * i + 1] as number) : gfn;
      const root = mmu.getPage(target, 2, this.ctl.mode === 'pae' ? 0 : i, false, ACC_ALL);
      root.roots++;
      cpu.roots[i] = root;
    }
  }

  // ---- TDP (EPT/NPT) ---------------------------------------------------------------

  private tdpMiss(cpu: Vcpu, va: number, acc: AccessKind, cpl: number): number {
    return (this.tdp as TdpMmu).miss(cpu, va, acc, cpl) ? OK : FAULT;
  }

  // ---- guest OS operations the workloads use ---------------------------------------

  /** The lowest free pid above 0 (0 is the script's first process). */
  newPid(): number {
    let pid = 1;
    while (this.os.procs.has(pid)) pid++;
    return pid;
  }

  /** MOV to CR3: flush non-global TLB entries; under shadow paging this exits (CR_ACCESS). */
  switchTo(p: Process): void {
    const cpu = this.cur;
    cpu.proc = p;
    cpu.cr3 = p.cr3;
    if (this.ctl.mode === 'pae') this.loadPdpteRegisters(cpu);
    cpu.tlb.flush(false);
    this.tick(this.cost.accessNs);
    if (this.xen) return this.xen.newBaseptr(cpu);
    if (!this.mmu) return;
    const start = this.beginExit();
    this.lock(this.cost.shadowFaultNs);
    this.mmu.topUp();
    this.unsync?.syncAll();
    this.loadShadowRoots(cpu);
    this.endExit(start, 'CR_ACCESS', 'cr3-switch');
  }

  private loadPdpteRegisters(cpu: Vcpu): void {
    const bad = loadPdptes(this.mem, cpu.cr3, cpu.pdpte);
    if (bad < 0) return;
    // MOV to CR3 takes #GP with a reserved bit in a present PDPTE; the registers keep nothing valid.
    cpu.pdpte.fill(0);
    this.emitter.emit({ type: 'guest_os', action: 'gp', pid: cpu.proc?.pid ?? 0, detail: `MOV to CR3: PDPTE ${bad} has a reserved bit set` });
  }

  invlpg(va: number): void {
    if (this.xen) return this.xen.invlpg(va);
    if (this.unsync) {
      // with unsync pages a stale spte may be cached: invlpg must exit so it can be resynced
      const start = this.beginExit();
      this.lock(this.cost.shadowFaultNs);
      this.unsync.invlpg(va);
      this.cur.tlb.invlpg(va);
      this.endExit(start, 'INVLPG', 'sync-shadow-pages', va);
      return;
    }
    // Shadow paging write-protects guest tables, so invlpg need not be trapped (seed 000).
    this.cur.tlb.invlpg(va);
    this.tick(this.cost.accessNs * 20);
  }

  /** The guest #PF handler of a workload: demand-fault or copy-on-write; false = segfault. */
  handlePf(va: number, acc: AccessKind, code: number): boolean {
    const p = this.cur.proc as Process;
    this.tick(this.cost.guestPfNs);
    const vpn = Math.floor(va / 4096);
    if (!(code & PF_P)) {
      if (!p.inRegion(va)) return false;
      const pte = this.os.ensurePte(p, va);
      const frame = this.os.allocFrame();
      this.tick(this.cost.zeroPageNs);
      p.pages.set(vpn, frame);
      const [lo, hi] = this.os.userPte(frame, true, acc === ACCESS_WRITE);
      this.writeGuestEntry(pte, 1, lo, hi, va);
      return true;
    }
    if (code & PF_W && p.cow.has(vpn)) return this.breakCow(p, va, vpn);
    return false;
  }

  private breakCow(p: Process, va: number, vpn: number): boolean {
    const old = p.pages.get(vpn) as number;
    let frame = old;
    if ((this.os.refs[old] as number) > 1) {
      frame = this.os.allocFrame();
      this.tick(this.cost.copyPageNs);
      this.os.releaseFrame(old);
      p.pages.set(vpn, frame);
    }
    p.cow.delete(vpn);
    const [lo, hi] = this.os.userPte(frame, true, true);
    this.writeGuestEntry(this.os.findPte(p, va), 1, lo, hi, va);
    this.invlpg(va);
    return true;
  }

  /** Access with the OS fixing demand and COW faults; false if the process would be killed. */
  touch(va: number, acc: AccessKind): boolean {
    for (let tries = 0; tries < 4; tries++) {
      if (this.access(va, acc, 3)) return true;
      if (this.stopped || !this.handlePf(va, acc, this.faultCode)) return false;
    }
    return false;
  }

  /** fork: the child shares every page copy-on-write; the parent's ptes lose W (trapped writes). */
  fork(parent: Process): Process {
    const child = this.os.createProcess(this.newPid());
    child.regions = parent.regions.map(([s, e]) => [s, e]);
    this.tick(this.cost.syscallNs);
    this.emitter.emit({ type: 'guest_os', action: 'fork', pid: child.pid, detail: `from ${parent.pid}` });
    this.xen?.enterLazy(); // copy_page_range runs in lazy MMU mode
    for (const [vpn, frame] of parent.pages) {
      const va = vpn * 4096;
      const [lo, hi] = this.os.userPte(frame, false, false);
      this.writeGuestEntry(this.os.ensurePte(child, va), 1, lo, hi);
      const ppte = this.os.findPte(parent, va);
      const [plo, phi] = this.os.readEntry(ppte);
      if (plo & PTE_W) this.writeGuestEntry(ppte, 1, plo & ~PTE_W, phi);
      child.pages.set(vpn, frame);
      this.os.refs[frame] = (this.os.refs[frame] as number) + 1;
      parent.cow.add(vpn);
      child.cow.add(vpn);
      this.tick(this.cost.forkPteNs);
    }
    this.xen?.leaveLazy();
    this.xen?.pin(child); // dup_mmap pins the new address space (seed 003)
    // The parent's write-protected ptes must not stay writable in its TLB: reload CR3.
    if (this.cur.proc === parent) this.switchTo(parent);
    return child;
  }

  exitProcess(p: Process, next: Process | null): void {
    this.emitter.emit({ type: 'guest_os', action: 'exit', pid: p.pid });
    this.tick(this.cost.syscallNs);
    if (next) this.switchTo(next);
    this.xen?.release(p);
    this.os.destroy(p);
  }

  newProcess(regions: Array<[number, number]>): Process {
    const p = this.os.createProcess(this.newPid());
    p.regions = regions;
    this.emitter.emit({ type: 'guest_os', action: 'create', pid: p.pid });
    return p;
  }
}

export function hex(n: number): string {
  return '0x' + n.toString(16);
}
