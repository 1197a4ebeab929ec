/**
 * The access path under TDP: a TLB miss runs the guest's own walk (no exit on a guest #PF),
 * each guest-physical reference of it goes through the EPT, and the 2D walk is charged
 * (walk2d.ts). An EPT violation happens only on the first touch of a guest frame (or of a
 * 2 MiB region with large pages) or on a write the host withholds (dirty logging, write
 * tracking); a frame outside RAM gets an MMIO spte so later accesses exit with EPT_MISCONFIG.
 * With `mmu.tdp.fastPageFault` a write fault on a present spte whose host-writable and
 * MMU-writable bits are both set is fixed without mmu_lock by a compare-and-exchange.
 */
import { pte64 } from '../emitter.ts';
import type { Vcpu } from '../machine.ts';
import { ACCESS_WRITE, walk, WalkResult, type AccessKind, type AdHook } from '../paging.ts';
import { TLB_D, TLB_G, TLB_NX, TLB_U, TLB_W } from '../tlb.ts';
import type { EptTable, Found } from './eptTable.ts';
import type { EptTables } from './eptTables.ts';
import { EPT_A, EPT_D, EPT_PS, EPT_RWX, EPT_W, HI_HOST_WRITABLE, HI_MMU_WRITABLE, canBeWritable, isMmio, mmioCurrent, mmioSpte, withFrame, writable } from './spte.ts';
import { EPT_LEVELS, chargeWalk2d } from './walk2d.ts';
import { TdpPart, type TdpShared } from './tdpPart.ts';

/** Entries of the page-modification log (SDM Vol. 3C §28.3.6: a 4 KiB page of 8-byte gpas). */
const PML_ENTRIES = 512;

export class FaultPath extends TdpPart {
  /** Host work to run inside vCPU 1's next lockless fix, between its read and its exchange (hostWork.ts). */
  locklessWindow: ((gfn: number) => void) | null = null;
  /** When W was last set on a frame's spte, and by which vCPU (for spurious faults). Sparse: per-frame arrays would cost too much for big guests. */
  private readonly wSet = new Map<number, { t: number; by: number }>();
  private readonly r = new WalkResult();
  /** Guest frames whose entries the current walk set A/D bits in (writes by the walker). */
  private readonly adGfns: number[] = [];

  constructor(
    shared: TdpShared,
    private readonly ept: EptTables,
  ) {
    super(shared);
  }

  /**
   * A TLB miss under TDP. Returns true with `vm.lastGpa` set, or false with `vm.faultCode`
   * set (a guest #PF, delivered without an exit).
   */
  miss(cpu: Vcpu, va: number, acc: AccessKind, cpl: number): boolean {
    const vm = this.vm;
    const r = this.r;
    vm.stats.guestWalk++;
    const walkAt = vm.emitter.t;
    this.adGfns.length = 0;
    const ok = walk(vm.mem, vm.ctl, cpu.cr3, cpu.pdpte, va, acc, cpl, this.adHook, r);
    // Each guest table the walk read is a guest-physical reference through the EPT.
    const first = vm.ctl.mode === 'pae' ? 1 : 0; // PAE PDPTEs come from registers
    for (let i = first; i < r.count; i++) this.ensure(cpu, Math.floor((r.entryGpa[i] as number) / 4096), false, va, walkAt);
    // The walker's A/D updates are writes to those tables.
    for (const gfn of this.adGfns) this.ensure(cpu, gfn, true, va, walkAt);
    if (!ok) {
      this.chargeWalk(cpu, va, r, false);
      vm.faultCode = r.errorCode;
      return false;
    }
    const gfn = Math.floor(r.gpa / 4096);
    const write = acc === ACCESS_WRITE;
    const outcome = this.ensure(cpu, gfn, write, va, walkAt);
    this.chargeWalk(cpu, va, r, true);
    vm.lastGpa = r.gpa;
    if (outcome !== 'mapped') return true; // emulated (MMIO, tracked page): nothing cached
    const f = this.ept.lookup(gfn);
    const eptW = f.leaf && writable(f.lo);
    const d = r.dirty && eptW;
    if (d) this.noteWritten(f, gfn, cpu);
    cpu.tlb.fill(va, r.gpa, (r.writable ? TLB_W : 0) | (r.user ? TLB_U : 0) | (r.nx ? TLB_NX : 0) | (d ? TLB_D : 0) | (r.global ? TLB_G : 0), r.pageShift);
    return true;
  }

  /** The guest's own store to one of its page tables: a write to that frame through the EPT. */
  guestStore(gfn: number, va: number | undefined): void {
    if (gfn >= this.frames.count) return;
    const cpu = this.vm.current;
    this.ensure(cpu, gfn, true, va ?? 0, this.vm.emitter.t);
  }

  private readonly adHook: AdHook = (level, gpa, oldLo, oldHi, newLo, newHi) => {
    this.vm.adHook(level, gpa, oldLo, oldHi, newLo, newHi);
    const gfn = Math.floor(gpa / 4096);
    if (!this.adGfns.includes(gfn)) this.adGfns.push(gfn);
  };

  /**
   * A write-capable translation is cached: the guest may now write the frame; hardware sets
   * the spte's D. With PML during dirty logging, setting a D bit also appends the gpa to the
   * vCPU's page-modification log (SDM Vol. 3C §28.3.6): no exit until the 512-entry log is
   * full, then a PML-full exit in which KVM drains it into the dirty bitmap.
   */
  private noteWritten(f: Found, gfn: number, cpu: Vcpu): void {
    this.frames.written[gfn] = 1;
    this.frames.writtenSet.add(gfn);
    if (f.lo & EPT_D || !f.table) return;
    const lo = (f.lo | EPT_D) >>> 0;
    f.table.sptes[2 * f.index] = lo;
    this.vm.emitter.emit({ type: 'spte_write', level: f.table.level, table: f.table.id, index: f.index, old: pte64(f.lo, f.hi), new: pte64(lo, f.hi) });
    if (!this.opts.pml || !this.frames.logging || f.level !== 1) return;
    const log = this.frames.pmlLog(cpu.id);
    log.push(gfn);
    this.stats.pmlEntries++;
    if (log.length < PML_ENTRIES) return;
    const vm = this.vm;
    const start = vm.beginExit();
    this.stats.pmlFull++;
    this.frames.drainPml(cpu.id);
    vm.endExit(start, 'PML_FULL', 'pml-flush', undefined, gfn * 4096);
  }

  /** Cost of the 2D walk that just ran (walk2d.ts, the one model), emitted as a `page_walk` event. */
  private chargeWalk(cpu: Vcpu, va: number, r: WalkResult, ok: boolean): void {
    const { refs, guestRefs } = chargeWalk2d(this.vm, cpu, va, r, ok, this.opts.walkCaches, this.eptLeafLevel);
    this.stats.walkRefs += refs;
    this.stats.guestWalkRefs += guestRefs;
  }

  /** The level of the EPT leaf mapping `gfn` (1 when none does yet: the walk that maps it will be 4 KiB-deep). */
  private readonly eptLeafLevel = (gfn: number): number => {
    const f = this.ept.lookup(gfn);
    return f.leaf ? f.level : 1;
  };

  /**
   * Make guest frame `gfn` accessible (for a write if `write`), taking the EPT violations
   * that needs. 'mapped' when the access can go through the TLB, 'emulated' when the host
   * emulated it (MMIO, a write-tracked page).
   */
  private ensure(cpu: Vcpu, gfn: number, write: boolean, va: number, walkAt: number): 'mapped' | 'emulated' {
    for (let tries = 0; tries < 4; tries++) {
      const f = this.ept.lookup(gfn);
      if (f.leaf && isMmio(f.lo, f.hi)) return this.mmioExit(gfn, va, f.lo);
      if (!f.leaf) {
        if (gfn >= this.frames.count) return this.mmioExit(gfn, va, null);
        this.violation(cpu, gfn, write, va);
        continue;
      }
      if (!write) return 'mapped';
      if (!writable(f.lo)) {
        if (this.frames.tracked[gfn]) return this.emulateTrackedWrite(gfn, va);
        this.writeFault(cpu, gfn, va);
        continue;
      }
      // Another vCPU made it writable after this vCPU's walk read it read-only: the fault
      // still happens, and its handler finds nothing to do (a spurious fault, seed 001).
      const set = this.wSet.get(gfn);
      if (set && set.t > walkAt && set.by !== cpu.id) this.spurious(gfn, va);
      return 'mapped';
    }
    return 'mapped';
  }

  /**
   * An access to a frame no memslot backs (mmu.rst's MMIO sptes). No spte (`spteLo` null):
   * an EPT violation; the handler walks the memslots under mmu_lock, finds none, and caches
   * "this is MMIO" in a misconfigured spte tagged with the memslot generation. An MMIO spte:
   * an EPT misconfiguration; if its generation is current the handler goes straight to the
   * emulator (no memslot walk, no lock: `mmio-cached`), else it is stale (the memslots
   * changed since) and the slow path runs again. The counters are the VM's (`vm.mmio`).
   */
  private mmioExit(gfn: number, va: number, spteLo: number | null): 'emulated' {
    const vm = this.vm;
    const mmio = vm.mmio;
    const start = vm.beginExit();
    const reason = spteLo === null ? 'EPT_VIOLATION' : 'EPT_MISCONFIG';
    if (spteLo === null) this.stats.eptViolations++;
    else this.stats.eptMisconfigs++;
    if (spteLo !== null && mmioCurrent(spteLo, mmio.generation)) {
      mmio.stats.mmioCached++;
      vm.tick(vm.cost.emulateNs);
      vm.endExit(start, reason, 'mmio-cached', va, gfn * 4096);
      return 'emulated';
    }
    if (spteLo !== null) mmio.stats.mmioStale++;
    mmio.stats.mmioSlow++;
    this.lock.acquire(vm.cost.shadowFaultNs);
    vm.tick(vm.cost.shadowFaultNs);
    if (mmio.enabled) this.ept.install(gfn, 1, mmioSpte(mmio.generation), 0, false);
    vm.tick(vm.cost.emulateNs);
    vm.endExit(start, reason, 'mmio-emulate', va, gfn * 4096);
    return 'emulated';
  }

  private emulateTrackedWrite(gfn: number, va: number): 'emulated' {
    const vm = this.vm;
    const start = vm.beginExit();
    this.stats.emulatedWrites++;
    this.lock.acquire(vm.cost.emulateNs);
    vm.tick(vm.cost.emulateNs);
    this.frames.markDirty(gfn);
    this.frames.hostDirty[gfn] = 1;
    vm.endExit(start, 'EPT_VIOLATION', 'emulate-write', va, gfn * 4096);
    return 'emulated';
  }

  private spurious(gfn: number, va: number): void {
    const vm = this.vm;
    const start = vm.beginExit();
    this.stats.spurious++;
    if (this.opts.fastPageFault) vm.tick(this.fastPfNs());
    else {
      this.lock.acquire(vm.cost.shadowFaultNs);
      vm.tick(vm.cost.shadowFaultNs);
    }
    vm.endExit(start, 'EPT_VIOLATION', 'spurious', va, gfn * 4096);
  }

  /** The lockless path: walk the EPT without the lock, compare-and-exchange, mark dirty. */
  private fastPfNs(): number {
    const c = this.vm.cost;
    return EPT_LEVELS * c.walkRefNs + c.lockNs + c.fastPfNs;
  }

  /** First touch: map the frame (a 2 MiB region with large pages when nothing forbids it). */
  private violation(cpu: Vcpu, gfn: number, write: boolean, va: number): void {
    const vm = this.vm;
    const start = vm.beginExit();
    this.stats.eptViolations++;
    this.lock.acquire(vm.cost.shadowFaultNs);
    vm.tick(vm.cost.shadowFaultNs);
    const large = this.frames.largeAllowed(gfn);
    const leafGfn = large ? gfn - (gfn % 512) : gfn;
    const mayWrite = !this.frames.tracked[gfn];
    // Write protection withholds W while logging; PML logs through D and keeps W.
    const w = mayWrite && (!this.frames.logging || write || this.opts.pml === true);
    let lo = EPT_RWX & ~(w ? 0 : EPT_W);
    lo |= EPT_A | (large ? EPT_PS : 0);
    const hi = HI_HOST_WRITABLE | (mayWrite ? HI_MMU_WRITABLE : 0);
    const [flo, fhi] = withFrame(lo, hi, this.frames.pfn(leafGfn));
    this.ept.install(leafGfn, large ? 2 : 1, flo, fhi, true, { cpu: cpu.id, since: start });
    if (w) this.noteW(cpu, gfn);
    vm.endExit(start, 'EPT_VIOLATION', 'map-gfn', va, gfn * 4096);
  }

  /** A write to a present spte without W: the fast path when allowed, else the locked one. */
  private writeFault(cpu: Vcpu, gfn: number, va: number): void {
    const vm = this.vm;
    const start = vm.beginExit();
    const f = this.ept.lookup(gfn);
    const table = f.table as EptTable;
    if (this.opts.fastPageFault && canBeWritable(f.hi)) {
      this.stats.fastPf++;
      vm.tick(this.fastPfNs());
      // The lockless walk read (table, index, value); the compare-and-exchange then sets W only
      // if the entry still holds that value. Host work aimed at this window runs in between.
      const id = table.id;
      const index = f.index;
      const readLo = f.lo;
      const readHi = f.hi;
      const hook = cpu.id === 1 ? this.locklessWindow : null;
      if (hook) {
        this.locklessWindow = null;
        this.lock.asHost(() => hook(gfn));
      }
      // The walker's pointer: the same page, whatever it holds now (a freed table reads as disconnected).
      const now = this.ept.tables.get(id) ?? table;
      const ok = (now.sptes[2 * index] as number) === readLo && (now.sptes[2 * index + 1] as number) === readHi;
      if (ok && this.opts.bugs.aba) {
        // The racy version marks the gfn it worked out before the exchange (seed 001's case 1).
        this.ept.setSpte(now, index, (readLo | EPT_W) >>> 0, readHi, undefined, false);
        this.frames.markDirty(gfn);
      } else if (ok) this.ept.setSpte(now, index, (readLo | EPT_W) >>> 0, readHi);
      if (ok) this.noteW(cpu, gfn);
      vm.endExit(start, 'EPT_VIOLATION', 'fast-pf', va, gfn * 4096);
      return;
    }
    this.stats.slowWriteFaults++;
    this.lock.acquire(vm.cost.shadowFaultNs);
    vm.tick(vm.cost.shadowFaultNs);
    this.ept.setSpte(table, f.index, (f.lo | EPT_W) >>> 0, f.hi | HI_MMU_WRITABLE);
    this.noteW(cpu, gfn);
    vm.endExit(start, 'EPT_VIOLATION', 'fill-spte', va, gfn * 4096);
  }

  private noteW(cpu: Vcpu, gfn: number): void {
    this.wSet.set(gfn, { t: this.vm.emitter.t, by: cpu.id });
  }
}
