/**
 * Two-dimensional paging (EPT/NPT): the guest owns its page tables and the host maps guest
 * frames in its own tables, built on demand. Seeds 001 (dirty logging and the lockless fast
 * page fault) and 002 (the TDP MMU), and the TDP part of mmu.rst (seed 004).
 *
 * - A guest #PF never exits. An EPT violation happens only on the first touch of a guest
 *   frame (or of a 2 MiB region with large pages) or on a write the host withholds (dirty
 *   logging, write tracking). An access to a guest frame outside RAM installs an MMIO spte
 *   (misconfigured on purpose, tagged with the memslot generation of core/mmio.ts) so later
 *   accesses exit with EPT_MISCONFIG and, while the generation is current, go straight to
 *   the emulator.
 * - A TLB miss costs the 2D walk (walk2d.ts), emitted as a `page_walk` event.
 * - Every spte change goes through `setSpte` and `changed` (seed 002: one bookkeeping path
 *   for accounting, dirty log, A/D propagation and freeing); a table cut loose from its
 *   parent has every entry marked disconnected and is freed, recursively.
 * - `mmu.tdp.tdpMmu`: faults take mmu_lock shared and change sptes with atomic operations,
 *   so vCPUs never wait on each other; off, every fault serializes on mmu_lock (lock_wait).
 * - `mmu.tdp.fastPageFault`: a write fault on a present spte whose host-writable and
 *   MMU-writable bits are both set is fixed without mmu_lock by a compare-and-exchange.
 * - Host-side work (fetching the dirty log, write tracking, zapping a page) runs as host
 *   actions at their simulated time, between vCPU steps, shown on vCPU 0's lane. The
 *   read-modify-write ones have a window between reading and writing an spte; with a
 *   `bugs.fastPf*` switch on they do what the seed's review showed to be racy.
 */
import { pte64 } from '../emitter.ts';
import { ACCESS_WRITE, walk, WalkResult, type AccessKind, type AdHook } from '../paging.ts';
import { TLB_D, TLB_G, TLB_NX, TLB_U, TLB_W } from '../tlb.ts';
import type { Machine, Vcpu } from '../machine.ts';
import {
  EPT_A, EPT_D, EPT_PS, EPT_RWX, EPT_W, HI_DISCONNECTED, HI_HOST_WRITABLE, HI_MMU_WRITABLE, HOST_EPT_BASE_FRAME,
  HOST_GUEST_BASE_FRAME, MMIO_GENERATIONS, canBeWritable, mmioCurrent, mmioSpte, frameOf, isMmio, present, withFrame, writable,
} from './spte.ts';
import { EPT_LEVELS, chargeWalk2d } from './walk2d.ts';

const LEVELS = EPT_LEVELS;
/** Entries of the page-modification log (SDM Vol. 3C §28.3.6: a 4 KiB page of 8-byte gpas). */
const PML_ENTRIES = 512;

export class EptTable {
  readonly sptes = new Uint32Array(1024);
  readonly children = new Int32Array(512).fill(-1);
  constructor(
    readonly id: number,
    readonly level: number,
    /** First guest frame the table maps. */
    readonly baseGfn: number,
  ) {}
  /** The same page, reused for another range (only with bugs.fastPfAba: no grace period). */
  reuse(level: number, baseGfn: number): EptTable {
    return new EptTable(this.id, level, baseGfn);
  }
  get hostFrame(): number {
    return HOST_EPT_BASE_FRAME + this.id;
  }
}

export interface TdpOptions {
  fastPageFault: boolean;
  /** Dirty logging by EPT D bits and the page-modification log (PML) instead of write protection. */
  pml?: boolean;
  /** Split 2 MiB leaves when dirty logging starts instead of dropping them. */
  eagerSplit?: boolean;
  tdpMmu: boolean;
  largePages: boolean;
  walkCaches: boolean;
  bugs: { aba: boolean; lostDirty: boolean; missedFlush: boolean; flushOverwrite: boolean };
}

interface HostAction {
  t: number;
  seq: number;
  run: () => void;
  /** A read-modify-write under mmu_lock: held from `from` until `t` (when it writes back). */
  from?: number;
}

/** Where `lookup` stopped: the entry for a gfn at the deepest level reached. */
class Found {
  table: EptTable | null = null;
  index = 0;
  level = 0;
  lo = 0;
  hi = 0;
  leaf = false;
}

export class TdpMmu {
  readonly tables = new Map<number, EptTable>();
  root: EptTable | null = null;
  private nextId = 1;
  /** Dirty logging: on, and the bitmap the next fetch returns. */
  logging = false;
  readonly dirty: Uint8Array;
  /** Frames the guest may have written through a write-capable translation (the auditor's truth). */
  readonly written: Uint8Array;
  /** The same frames as a set, so the auditor visits only them. */
  readonly writtenSet = new Set<number>();
  /** Frames whose dirtiness reached the host page (kvm_set_pfn_dirty). */
  readonly hostDirty: Uint8Array;
  /** Host frames of guest frames the host has moved (page migration); the rest sit at base + gfn. */
  private readonly moved = new Map<number, number>();
  /** Table pages freed without a grace period, reused at once (bugs.fastPfAba only). */
  private readonly reusable: EptTable[] = [];
  /** Host work to run inside vCPU 1's next lockless fix, between its read and its exchange (hostWork.ts). */
  locklessWindow: ((gfn: number) => void) | null = null;
  /** Frames the host write-tracks (writes are emulated, never mapped writable). */
  readonly tracked: Uint8Array;
  /** When W was last set on a frame's spte, and by which vCPU (for spurious faults). Sparse: per-frame arrays would cost too much for big guests. */
  private readonly wSet = new Map<number, { t: number; by: number }>();
  private readonly found = new Found();
  private readonly r = new WalkResult();
  private readonly actions: HostAction[] = [];
  private seq = 0;
  /** Guest frames whose entries the current walk set A/D bits in (writes by the walker). */
  private readonly adGfns: number[] = [];
  readonly stats = {
    eptViolations: 0, eptMisconfigs: 0, fastPf: 0, slowWriteFaults: 0, spurious: 0,
    walkRefs: 0, guestWalkRefs: 0, tablesAllocated: 0, tablesFreed: 0, disconnectedSptes: 0,
    largePages: 0, dirtyLogFetches: 0, dirtyPagesFetched: 0, emulatedWrites: 0, cmpxchgLost: 0, zapAllFast: 0,
    pmlEntries: 0, pmlFull: 0, pmlKicks: 0, hugePagesSplit: 0,
  };

  constructor(
    readonly vm: Machine,
    readonly opts: TdpOptions,
  ) {
    const frames = vm.mem.frames;
    this.dirty = new Uint8Array(frames);
    this.written = new Uint8Array(frames);
    this.hostDirty = new Uint8Array(frames);
    this.tracked = new Uint8Array(frames);
  }

  /** True while host work runs: its time is the host thread's, not a vCPU's. */
  private inHost = false;

  /** Charge the current vCPU, unless this is host work. */
  private charge(ns: number): void {
    if (!this.inHost) this.vm.tick(ns);
  }

  private runHost(a: HostAction): void {
    this.inHost = true;
    try {
      a.run();
    } finally {
      this.inHost = false;
    }
  }

  /** The host frame backing guest frame `gfn`. */
  pfn(gfn: number): number {
    return this.moved.get(gfn) ?? HOST_GUEST_BASE_FRAME + gfn;
  }
  setPfn(gfn: number, pfn: number): void {
    if (pfn === HOST_GUEST_BASE_FRAME + gfn) this.moved.delete(gfn);
    else this.moved.set(gfn, pfn);
  }

  get frames(): number {
    return this.vm.mem.frames;
  }

  // ---- the access path ---------------------------------------------------------------

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
    const f = this.lookup(gfn);
    const eptW = f.leaf && writable(f.lo);
    const d = r.dirty && eptW;
    if (d) this.noteWritten(f, gfn, cpu);
    cpu.tlb.fill(va, r.gpa, (r.writable ? TLB_W : 0) | (r.user ? TLB_U : 0) | (r.nx ? TLB_NX : 0) | (d ? TLB_D : 0) | (r.global ? TLB_G : 0), r.pageShift);
    return true;
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
    this.written[gfn] = 1;
    this.writtenSet.add(gfn);
    if (f.lo & EPT_D || !f.table) return;
    const lo = (f.lo | EPT_D) >>> 0;
    f.table.sptes[2 * f.index] = lo;
    this.vm.emitter.emit({ type: 'spte_write', level: f.table.level, table: f.table.id, index: f.index, old: pte64(f.lo, f.hi), new: pte64(lo, f.hi) });
    if (!this.opts.pml || !this.logging || f.level !== 1) return;
    const log = this.pmlLog(cpu.id);
    log.push(gfn);
    this.stats.pmlEntries++;
    if (log.length < PML_ENTRIES) return;
    const vm = this.vm;
    const start = vm.beginExit();
    this.stats.pmlFull++;
    this.drainPml(cpu.id);
    vm.endExit(start, 'PML_FULL', 'pml-flush', undefined, gfn * 4096);
  }

  /** Each vCPU's page-modification log (the gfns of the 4 KiB pages whose D bit it set). */
  private readonly pml = new Map<number, number[]>();
  private pmlLog(cpu: number): number[] {
    let log = this.pml.get(cpu);
    if (!log) this.pml.set(cpu, (log = []));
    return log;
  }

  /** Is `gfn` dirty by the log's account: in the bitmap, or in a vCPU's PML log not yet drained? */
  loggedDirty(gfn: number): boolean {
    if (this.dirty[gfn]) return true;
    for (const log of this.pml.values()) if (log.includes(gfn)) return true;
    return false;
  }

  /**
   * PML at a fetch of the log (KVM's kvm_flush_pml_buffers): a vCPU's log holds pages not in the
   * bitmap yet, and it is drained at the start of every exit of that vCPU, so the host kicks
   * each running vCPU out of the guest with an IPI, one after another (`ipiSendNs` each, inside
   * the host's exclusive hold), and each takes an `EXTERNAL_INTERRUPT` exit on its own timeline
   * (`pml-kick`) that drains its log. The logs go into the bitmap now, before the fetch reads
   * it; the returned function records the kicks once the fetch's own events are out (the host's
   * work is stamped on vCPU 0's lane, whose kick comes after it).
   */
  private kickToFlushPml(): () => void {
    const vm = this.vm;
    const kicked = vm.cpus.filter((c) => !c.done).map((c) => [c, this.drainPml(c.id, false)] as const);
    return () => {
      const t = vm.emitter.t;
      for (const [c, drained] of kicked) {
        this.holdExtraNs += vm.cost.ipiSendNs;
        vm.onVcpu(c, t + this.holdExtraNs, () => {
          const start = vm.beginExit();
          this.stats.pmlKicks++;
          vm.tick(drained * vm.cost.lockNs); // the drain: one bitmap write per logged page
          vm.endExit(start, 'EXTERNAL_INTERRUPT', 'pml-kick');
        });
      }
    };
  }

  /** KVM's vmx_flush_pml_buffer: every logged gfn into the dirty bitmap (one bitmap write each, charged unless the caller does). Returns how many. */
  private drainPml(cpu: number, charge = true): number {
    const log = this.pmlLog(cpu);
    const n = log.length;
    for (const gfn of log) this.markDirty(gfn);
    if (charge) this.charge(n * this.vm.cost.lockNs);
    log.length = 0;
    return n;
  }

  /** Cost of the 2D walk that just ran (walk2d.ts, the one model), emitted as a `page_walk` event. */
  private chargeWalk(cpu: Vcpu, va: number, r: WalkResult, ok: boolean): void {
    const { refs, guestRefs } = chargeWalk2d(this.vm, cpu, va, r, ok, this.opts.walkCaches, this.eptLeafLevel);
    this.stats.walkRefs += refs;
    this.stats.guestWalkRefs += guestRefs;
  }

  /** The level of the EPT leaf mapping `gfn` (1 when none does yet: the walk that maps it will be 4 KiB-deep). */
  private readonly eptLeafLevel = (gfn: number): number => {
    const f = this.lookup(gfn);
    return f.leaf ? f.level : 1;
  };

  /**
   * Make guest frame `gfn` accessible (for a write if `write`), taking the EPT violations
   * that needs. 'mapped' when the access can go through the TLB, 'emulated' when the host
   * emulated it (MMIO, a write-tracked page).
   */
  private ensure(cpu: Vcpu, gfn: number, write: boolean, va: number, walkAt: number): 'mapped' | 'emulated' {
    for (let tries = 0; tries < 4; tries++) {
      const f = this.lookup(gfn);
      if (f.leaf && isMmio(f.lo, f.hi)) return this.mmioExit(gfn, va, f.lo);
      if (!f.leaf) {
        if (gfn >= this.frames) return this.mmioExit(gfn, va, null);
        this.violation(cpu, gfn, write, va);
        continue;
      }
      if (!write) return 'mapped';
      if (!writable(f.lo)) {
        if (this.tracked[gfn]) return this.emulateTrackedWrite(gfn, va);
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
    this.mmuLock(vm.cost.shadowFaultNs);
    vm.tick(vm.cost.shadowFaultNs);
    if (mmio.enabled) this.install(gfn, 1, mmioSpte(mmio.generation), 0, false);
    vm.tick(vm.cost.emulateNs);
    vm.endExit(start, reason, 'mmio-emulate', va, gfn * 4096);
    return 'emulated';
  }

  /**
   * The memslot generation moved on. When the bits an MMIO spte holds wrap around, an old
   * one could look current again, so KVM throws the whole MMU away (mmu.rst: all pages are
   * zapped on overflow; `kvm_mmu_zap_all_fast`).
   */
  wrapMmioGeneration(generation: number): void {
    if (generation % MMIO_GENERATIONS === 0) this.zapAllFast();
  }

  /**
   * kvm_mmu_zap_all_fast: bump the MMU generation so the root in use is obsolete, have every
   * vCPU load a fresh root (an empty one, refilled fault by fault: the `map-gfn` exits that
   * follow), and free the obsolete tree. The obsolete tree goes under mmu_lock held for write,
   * so the hold is as long as the tree is big; faults meanwhile wait.
   */
  zapAllFast(): void {
    this.stats.zapAllFast++;
    const old = this.root;
    this.exclusively(() => {
      this.root = null;
      if (old) {
        for (let i = 0; i < 512; i++) if (present(old.sptes[2 * i] as number)) this.setSpte(old, i, 0, 0);
        this.tables.delete(old.id);
        this.stats.tablesFreed++;
        this.vm.emitter.emit({ type: 'shadow_page', action: 'free', table: old.id, level: old.level, gfn: 0, role: 'tdp' });
      }
      this.flush('zap-all-fast');
    });
  }

  private emulateTrackedWrite(gfn: number, va: number): 'emulated' {
    const vm = this.vm;
    const start = vm.beginExit();
    this.stats.emulatedWrites++;
    this.mmuLock(vm.cost.emulateNs);
    vm.tick(vm.cost.emulateNs);
    this.markDirty(gfn);
    this.hostDirty[gfn] = 1;
    vm.endExit(start, 'EPT_VIOLATION', 'emulate-write', va, gfn * 4096);
    return 'emulated';
  }

  private spurious(gfn: number, va: number): void {
    const vm = this.vm;
    const start = vm.beginExit();
    this.stats.spurious++;
    if (this.opts.fastPageFault) vm.tick(this.fastPfNs());
    else {
      this.mmuLock(vm.cost.shadowFaultNs);
      vm.tick(vm.cost.shadowFaultNs);
    }
    vm.endExit(start, 'EPT_VIOLATION', 'spurious', va, gfn * 4096);
  }

  /**
   * mmu_lock for a fault: shared under the TDP MMU (readers never wait for readers), else
   * exclusive. A host read-modify-write holds it exclusively for its window: a fault that
   * asks inside one waits for it to end and then sees its result (only the lockless fast
   * path can slip into the window, which is the seed's point).
   */
  private mmuLock(holdNs: number): void {
    const vm = this.vm;
    const until = this.exclusiveUntil(vm.emitter.t);
    if (until > vm.emitter.t) {
      vm.emitter.emit({ type: 'lock_wait', lock: 'mmu_lock', duration: until - vm.emitter.t });
      vm.tick(until - vm.emitter.t);
    }
    for (const a of [...this.actions]) {
      if (a.from === undefined || a.from > vm.emitter.t || a.t <= vm.emitter.t) continue;
      vm.emitter.emit({ type: 'lock_wait', lock: 'mmu_lock', duration: a.t - vm.emitter.t });
      vm.tick(a.t - vm.emitter.t);
      this.actions.splice(this.actions.indexOf(a), 1);
      this.runHost(a);
    }
    if (this.opts.tdpMmu) vm.tick(vm.cost.lockNs);
    else vm.lock(holdNs);
  }

  /** Host time of an exclusive hold besides its spte writes (the IPIs of PML kicks). */
  private holdExtraNs = 0;
  /** sptes written so far (by anyone): what an exclusive holder's time is made of. */
  private spteWrites = 0;
  /** mmu_lock held exclusively by host work, as [start, end) pairs. */
  private readonly exclusive: number[] = [];

  /** The end of the exclusive hold covering time `t`, or `t` when none does. */
  private exclusiveUntil(t: number): number {
    let until = t;
    for (let i = 0; i < this.exclusive.length; i += 2) {
      if ((this.exclusive[i] as number) <= until && (this.exclusive[i + 1] as number) > until) until = this.exclusive[i + 1] as number;
    }
    // Holds that ended before every vCPU's clock can never matter again.
    let earliest = Infinity;
    for (const c of this.vm.cpus) if (!c.done && c.clock < earliest) earliest = c.clock;
    while (this.exclusive.length && (this.exclusive[1] as number) < earliest) this.exclusive.splice(0, 2);
    return until;
  }

  /**
   * Host work that takes mmu_lock for write even under the TDP MMU (seed 002: only faults run
   * under the shared lock): turning dirty logging on or off, fetching the log, zapping
   * everything, a memslot change's zap. The hold lasts as long as the work: one read (a
   * walk reference) and one locked write per spte it writes. Faults that ask for the lock
   * meanwhile, shared or exclusive, wait (`mmuLock`); the lockless fast path does not.
   * Returns when the hold ends.
   */
  private exclusively(work: () => void): number {
    const c = this.vm.cost;
    const before = this.spteWrites;
    this.holdExtraNs = 0;
    work();
    const start = this.vm.emitter.t;
    const end = start + c.lockNs + (this.spteWrites - before) * (c.walkRefNs + c.lockNs) + this.holdExtraNs;
    this.exclusive.push(start, end);
    return end;
  }

  /** When the last exclusive hold ends (host work the vCPUs wait for, e.g. the dirty-log fetch). */
  get exclusiveEnd(): number {
    return this.exclusive.length ? (this.exclusive[this.exclusive.length - 1] as number) : 0;
  }

  /** The lockless path: walk the EPT without the lock, compare-and-exchange, mark dirty. */
  private fastPfNs(): number {
    const c = this.vm.cost;
    return LEVELS * c.walkRefNs + c.lockNs + c.fastPfNs;
  }

  // ---- faults -------------------------------------------------------------------------

  /** First touch: map the frame (a 2 MiB region with large pages when nothing forbids it). */
  private violation(cpu: Vcpu, gfn: number, write: boolean, va: number): void {
    const vm = this.vm;
    const start = vm.beginExit();
    this.stats.eptViolations++;
    this.mmuLock(vm.cost.shadowFaultNs);
    vm.tick(vm.cost.shadowFaultNs);
    const large = this.largeAllowed(gfn);
    const leafGfn = large ? gfn - (gfn % 512) : gfn;
    const mayWrite = !this.tracked[gfn];
    // Write protection withholds W while logging; PML logs through D and keeps W.
    const w = mayWrite && (!this.logging || write || this.opts.pml === true);
    let lo = EPT_RWX & ~(w ? 0 : EPT_W);
    lo |= EPT_A | (large ? EPT_PS : 0);
    const hi = HI_HOST_WRITABLE | (mayWrite ? HI_MMU_WRITABLE : 0);
    const [flo, fhi] = withFrame(lo, hi, this.pfn(leafGfn));
    this.install(leafGfn, large ? 2 : 1, flo, fhi, true, { cpu: cpu.id, since: start });
    if (w) this.noteW(cpu, gfn);
    vm.endExit(start, 'EPT_VIOLATION', 'map-gfn', va, gfn * 4096);
  }

  private largeAllowed(gfn: number): boolean {
    if (!this.opts.largePages || this.logging) return false;
    const base = gfn - (gfn % 512);
    if (base + 512 > this.frames) return false;
    // a 2 MiB leaf needs the region's host frames contiguous and nothing tracked
    for (let g = base; g < base + 512; g++) if (this.tracked[g] || this.moved.has(g)) return false;
    return true;
  }

  /** A write to a present spte without W: the fast path when allowed, else the locked one. */
  private writeFault(cpu: Vcpu, gfn: number, va: number): void {
    const vm = this.vm;
    const start = vm.beginExit();
    const f = this.lookup(gfn);
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
        this.inHost = true;
        try {
          hook(gfn);
        } finally {
          this.inHost = false;
        }
      }
      // The walker's pointer: the same page, whatever it holds now (a freed table reads as disconnected).
      const now = this.tables.get(id) ?? table;
      const ok = (now.sptes[2 * index] as number) === readLo && (now.sptes[2 * index + 1] as number) === readHi;
      if (ok && this.opts.bugs.aba) {
        // The racy version marks the gfn it worked out before the exchange (seed 001's case 1).
        this.setSpte(now, index, (readLo | EPT_W) >>> 0, readHi, undefined, false);
        this.markDirty(gfn);
      } else if (ok) this.setSpte(now, index, (readLo | EPT_W) >>> 0, readHi);
      if (ok) this.noteW(cpu, gfn);
      vm.endExit(start, 'EPT_VIOLATION', 'fast-pf', va, gfn * 4096);
      return;
    }
    this.stats.slowWriteFaults++;
    this.mmuLock(vm.cost.shadowFaultNs);
    vm.tick(vm.cost.shadowFaultNs);
    this.setSpte(table, f.index, (f.lo | EPT_W) >>> 0, f.hi | HI_MMU_WRITABLE);
    this.noteW(cpu, gfn);
    vm.endExit(start, 'EPT_VIOLATION', 'fill-spte', va, gfn * 4096);
  }

  private noteW(cpu: Vcpu, gfn: number): void {
    this.wSet.set(gfn, { t: this.vm.emitter.t, by: cpu.id });
  }

  // ---- the tables ---------------------------------------------------------------------

  /** Hardware-style walk of the EPT for `gfn`: the leaf, or the first non-present entry. */
  lookup(gfn: number): Found {
    const f = this.found;
    f.table = null;
    f.leaf = false;
    let t = this.root;
    while (t) {
      const i = Math.floor(gfn / 512 ** (t.level - 1)) % 512;
      const lo = t.sptes[2 * i] as number;
      const hi = t.sptes[2 * i + 1] as number;
      f.table = t;
      f.index = i;
      f.level = t.level;
      f.lo = lo;
      f.hi = hi;
      if (isMmio(lo, hi)) {
        f.leaf = true;
        return f;
      }
      if (!present(lo)) return f;
      if (t.level === 1 || lo & EPT_PS) {
        f.leaf = true;
        return f;
      }
      t = this.tables.get(t.children[i] as number) ?? null;
    }
    return f;
  }

  private alloc(level: number, baseGfn: number): EptTable {
    const old = this.reusable.pop();
    const t = old ? old.reuse(level, baseGfn) : new EptTable(this.nextId++, level, baseGfn);
    this.tables.set(t.id, t);
    this.stats.tablesAllocated++;
    this.charge(this.vm.cost.shadowAllocNs);
    this.vm.emitter.emit({ type: 'shadow_page', action: 'alloc', table: t.id, level, gfn: baseGfn, role: 'tdp' });
    return t;
  }

  /** Set the entry for `gfn` at `level`, creating the tables above it. */
  install(gfn: number, level: number, lo: number, hi: number, countLarge: boolean, racer?: { cpu: number; since: number }): void {
    if (!this.root) this.root = this.alloc(LEVELS, 0);
    let t = this.root;
    while (t.level > level) {
      const i = Math.floor(gfn / 512 ** (t.level - 1)) % 512;
      let child = this.tables.get(t.children[i] as number);
      if (!child || !present(t.sptes[2 * i] as number)) {
        const span = 512 ** (t.level - 1);
        child = this.alloc(t.level - 1, gfn - (gfn % span));
        const [clo, chi] = withFrame(EPT_RWX, 0, child.hostFrame);
        this.setSpte(t, i, clo, chi);
        t.children[i] = child.id;
        this.linkedAt.set(t.id * 512 + i, { t: this.vm.emitter.t, by: racer?.cpu ?? -1 });
      } else if (racer && this.opts.tdpMmu) this.lostRace(t, i, racer);
      t = child;
    }
    const i = Math.floor(gfn / 512 ** (level - 1)) % 512;
    this.setSpte(t, i, lo, hi);
    if (countLarge && level > 1) this.stats.largePages++;
  }

  /** When each non-leaf entry was linked, and by which vCPU (-1: the host). */
  private readonly linkedAt = new Map<number, { t: number; by: number }>();

  /**
   * Under the TDP MMU two vCPUs can fault on the same missing entry at once, each under the
   * shared lock: both allocate a table and try to install it with a compare-and-exchange;
   * one loses, frees its table and carries on with the winner's (seed 002: atomic spte
   * changes instead of an exclusive lock). Seen here as an entry another vCPU linked after
   * this vCPU's fault began. Under the legacy MMU the second one waits and finds it linked.
   */
  private lostRace(t: EptTable, i: number, racer: { cpu: number; since: number }): void {
    const linked = this.linkedAt.get(t.id * 512 + i);
    if (!linked || linked.by === racer.cpu || linked.by < 0 || linked.t <= racer.since) return;
    this.stats.cmpxchgLost++;
    const span = 512 ** (t.level - 1);
    const base = t.baseGfn + i * span;
    const wasted = new EptTable(this.nextId++, t.level - 1, base);
    // The failed cmpxchg, then the walk is retried from the root to find the winner's table.
    this.charge(this.vm.cost.shadowAllocNs + this.vm.cost.lockNs + LEVELS * this.vm.cost.walkRefNs);
    this.vm.emitter.emit({ type: 'shadow_page', action: 'alloc', table: wasted.id, level: wasted.level, gfn: base, role: 'tdp' });
    this.vm.emitter.emit({ type: 'shadow_page', action: 'free', table: wasted.id, level: wasted.level, gfn: base, role: 'tdp' });
  }

  /**
   * The one place an spte changes (seed 002's handle_changed_pte): write it (a cmpxchg under
   * the TDP MMU), emit it, then do the bookkeeping the change implies.
   */
  setSpte(t: EptTable, i: number, lo: number, hi: number, bookkeepingOld?: [number, number], logDirty = true): void {
    const oldLo = t.sptes[2 * i] as number;
    const oldHi = t.sptes[2 * i + 1] as number;
    t.sptes[2 * i] = lo >>> 0;
    t.sptes[2 * i + 1] = hi >>> 0;
    this.spteWrites++;
    if (this.opts.tdpMmu) this.charge(this.vm.cost.lockNs); // atomic compare-and-exchange
    this.vm.emitter.emit({ type: 'spte_write', level: t.level, table: t.id, index: i, old: pte64(oldLo, oldHi), new: pte64(lo, hi) });
    const [bLo, bHi] = bookkeepingOld ?? [oldLo, oldHi];
    this.changed(t, i, bLo, bHi, lo >>> 0, hi >>> 0, logDirty);
  }

  private changed(t: EptTable, i: number, oldLo: number, oldHi: number, lo: number, hi: number, logDirty = true): void {
    const level = t.level;
    const gfn = t.baseGfn + i * 512 ** (level - 1);
    const wasPresent = present(oldLo);
    const isPresent = present(lo);
    const wasLeaf = wasPresent && (level === 1 || (oldLo & EPT_PS) !== 0);
    const isLeaf = isPresent && (level === 1 || (lo & EPT_PS) !== 0);
    const moved = frameOf(oldLo, oldHi) !== frameOf(lo, hi);
    // A/D: a dirty leaf that goes away (or loses D) hands its dirtiness to the host page.
    if (wasLeaf && oldLo & EPT_D && (!isPresent || moved || !(lo & EPT_D))) {
      const n = level === 1 ? 1 : 512;
      for (let g = gfn; g < gfn + n && g < this.frames; g++) this.hostDirty[g] = 1;
    }
    // Dirty log: a leaf that becomes writable is logged (the only way to regain W).
    if (logDirty && this.logging && !this.opts.pml && isLeaf && level === 1 && writable(lo) && (!wasLeaf || !writable(oldLo) || moved)) this.markDirty(gfn);
    if (wasLeaf && level > 1 && !(isLeaf && !moved)) this.stats.largePages--;
    // A table cut loose: every entry marked disconnected, bookkeeping for each, then freed.
    if (wasPresent && !wasLeaf && (!isPresent || moved)) {
      const child = this.tables.get(t.children[i] as number);
      t.children[i] = -1;
      if (child) this.disconnect(child);
    }
  }

  private disconnect(t: EptTable): void {
    for (let i = 0; i < 512; i++) {
      const lo = t.sptes[2 * i] as number;
      const hi = t.sptes[2 * i + 1] as number;
      if (!lo && !hi) continue;
      t.sptes[2 * i] = 0;
      t.sptes[2 * i + 1] = HI_DISCONNECTED;
      this.spteWrites++;
      this.stats.disconnectedSptes++;
      this.vm.emitter.emit({ type: 'spte_write', level: t.level, table: t.id, index: i, old: pte64(lo, hi), new: pte64(0, HI_DISCONNECTED) });
      this.changed(t, i, lo, hi, 0, HI_DISCONNECTED);
    }
    this.tables.delete(t.id);
    this.stats.tablesFreed++;
    // The TDP MMU frees a disconnected table only after every lockless walker is done with it
    // (RCU), so its page is never reused under one; with bugs.fastPfAba it is reused at once.
    if (this.opts.bugs.aba) this.reusable.push(t);
    this.vm.emitter.emit({ type: 'shadow_page', action: 'free', table: t.id, level: t.level, gfn: t.baseGfn, role: 'tdp' });
  }

  markDirty(gfn: number): void {
    if (this.logging && gfn < this.frames) this.dirty[gfn] = 1;
  }

  /** INVEPT on every vCPU: combined and guest-physical mappings go. Host actions do not tick. */
  flush(reason: string): void {
    for (const c of this.vm.cpus) c.walkCaches.flushEpt();
    for (const c of this.vm.cpus) c.tlb.flush(true);
    this.vm.emitter.emit({ type: 'tlb_flush', scope: 'all', reason });
  }

  /** Every present 4 KiB-or-larger leaf, in gfn order. */
  private forEachLeaf(fn: (t: EptTable, i: number, gfn: number) => void): void {
    const visit = (t: EptTable): void => {
      for (let i = 0; i < 512; i++) {
        const lo = t.sptes[2 * i] as number;
        if (!present(lo)) continue;
        if (t.level === 1 || lo & EPT_PS) fn(t, i, t.baseGfn + i * 512 ** (t.level - 1));
        else {
          const c = this.tables.get(t.children[i] as number);
          if (c) visit(c);
        }
      }
    };
    if (this.root) visit(this.root);
  }

  // ---- host actions -------------------------------------------------------------------

  /** Queue host work for simulated time `t`; it runs between vCPU steps once every vCPU got there. */
  schedule(t: number, run: () => void, from?: number): void {
    this.actions.push(from === undefined ? { t, seq: this.seq++, run } : { t, seq: this.seq++, run, from });
    this.actions.sort((a, b) => a.t - b.t || a.seq - b.seq);
  }

  /** Run the host actions due by `now` (the earliest vCPU clock), stamped on vCPU 0's lane. */
  runDue(now: number): void {
    const vm = this.vm;
    while (this.actions.length && (this.actions[0] as HostAction).t <= now) {
      const a = this.actions.shift() as HostAction;
      vm.emitter.vcpu = 0;
      vm.emitter.t = Math.max(a.t, (vm.cpus[0] as Vcpu).clock);
      this.runHost(a);
    }
  }

  get pendingHostWork(): boolean {
    return this.actions.length > 0;
  }

  /** Start dirty logging: write-protect every leaf (large ones are dropped, to be refaulted as 4 KiB). */
  enableDirtyLog(): void {
    if (this.logging) return;
    this.exclusively(() => this.enableDirtyLogLocked());
  }

  private enableDirtyLogLocked(): void {
    this.logging = true;
    this.dirty.fill(0);
    const large: Array<[EptTable, number]> = [];
    const small: Array<[EptTable, number]> = [];
    this.forEachLeaf((t, i) => (t.level > 1 ? large : small).push([t, i]));
    // A 2 MiB leaf cannot log 4 KiB pages: split it now (eager) or drop it to be refaulted page by page (lazy).
    for (const [t, i] of large) {
      if (this.opts.eagerSplit) small.push(...this.split(t, i));
      else this.setSpte(t, i, 0, 0);
    }
    for (const [t, i] of small) this.startLogging(t, i);
    this.vm.emitter.emit({ type: 'dirty_log', action: 'enable', pages: 0 });
    this.flush('dirty-log');
  }

  /** Start logging one 4 KiB leaf: clear W (write protection) or, with PML, D (the next write logs it). */
  private startLogging(t: EptTable, i: number): void {
    const lo = t.sptes[2 * i] as number;
    const hi = t.sptes[2 * i + 1] as number;
    if (this.opts.pml) {
      if (lo & EPT_D) this.setSpte(t, i, lo & ~EPT_D, hi);
    } else if (writable(lo)) this.setSpte(t, i, lo & ~EPT_W, hi);
  }

  /**
   * Eager page splitting: replace the 2 MiB leaf at entry `i` of `t` by a 4 KiB table holding
   * the same 512 frames with the same rights, built before it is linked (so no vCPU sees it
   * half-made), then link it in place of the leaf. Returns the new leaves.
   */
  private split(t: EptTable, i: number): Array<[EptTable, number]> {
    const lo = t.sptes[2 * i] as number;
    const hi = t.sptes[2 * i + 1] as number;
    const base = t.baseGfn + i * 512;
    const child = this.alloc(1, base);
    const first = frameOf(lo, hi);
    for (let k = 0; k < 512; k++) {
      const [clo, chi] = withFrame(lo & ~EPT_PS, hi, first + k);
      child.sptes[2 * k] = clo;
      child.sptes[2 * k + 1] = chi;
      this.spteWrites++;
    }
    const [plo, phi] = withFrame(EPT_RWX, 0, child.hostFrame);
    this.setSpte(t, i, plo, phi);
    t.children[i] = child.id;
    this.stats.hugePagesSplit++;
    const out: Array<[EptTable, number]> = [];
    for (let k = 0; k < 512; k++) out.push([child, k]);
    return out;
  }

  /**
   * KVM_GET_DIRTY_LOG: take the bitmap (fetch and clear), write-protect every page in it,
   * flush once if any spte lost W. The pages named are then taken as copied (clean). With `bugs.fastPfFlushOverwrite` the flush flag is
   * assigned per page instead of accumulated (seed 001 review: "This clears previous flush
   * value when looping"), so only the last page decides.
   */
  fetchDirtyLog(): number[] {
    let pages: number[] = [];
    this.exclusively(() => {
      pages = this.fetchDirtyLogLocked();
    });
    return pages;
  }

  private fetchDirtyLogLocked(): number[] {
    // PML: the vCPUs are kicked and flush their logs into the bitmap first.
    const kicks = this.opts.pml ? this.kickToFlushPml() : undefined;
    const pages: number[] = [];
    for (let g = 0; g < this.frames; g++) if (this.dirty[g]) pages.push(g);
    this.dirty.fill(0);
    let flush = false;
    for (const gfn of pages) {
      const needs = this.writeProtect(gfn, false);
      flush = this.opts.bugs.flushOverwrite ? needs : flush || needs;
      // The caller copies what the log names (live migration sends the page): from here on
      // only new writes make it dirty again, on the host side as in the log.
      this.hostDirty[gfn] = 0;
      this.written[gfn] = 0;
      this.writtenSet.delete(gfn);
    }
    this.stats.dirtyLogFetches++;
    this.stats.dirtyPagesFetched += pages.length;
    const shown = pages.slice(0, 64).map((g) => '0x' + g.toString(16)).join(',');
    this.vm.emitter.emit({ type: 'dirty_log', action: 'fetch', pages: pages.length, detail: pages.length > 64 ? shown + ',…' : shown });
    if (flush) this.flush('dirty-log');
    kicks?.();
    return pages;
  }

  /**
   * Clear W (and MMU-writable with `ptProtect`) on the spte of `gfn`. Returns whether a TLB
   * flush is needed: the spte was writable, or could have been made writable locklessly.
   */
  private writeProtect(gfn: number, ptProtect: boolean): boolean {
    const f = this.lookup(gfn);
    if (!f.leaf || isMmio(f.lo, f.hi) || !f.table) return false;
    if (this.opts.pml && !ptProtect) {
      // PML: clear D (handing it to the host page); the next write sets it and logs again.
      if (!(f.lo & EPT_D)) return false;
      this.setSpte(f.table, f.index, f.lo & ~EPT_D, f.hi);
      return true;
    }
    if (!writable(f.lo) && !(ptProtect && canBeWritable(f.hi))) return false;
    const hi = ptProtect ? f.hi & ~HI_MMU_WRITABLE : f.hi;
    // D goes with W: the bookkeeping hands it to the host page, and the next write sets it again.
    this.setSpte(f.table, f.index, f.lo & ~(EPT_W | EPT_D), hi);
    return true;
  }

  /** Stop dirty logging and rebuild large pages: zap each table that a 2 MiB leaf can replace. */
  disableDirtyLog(): void {
    if (!this.logging) return;
    this.exclusively(() => this.disableDirtyLogLocked());
  }

  private disableDirtyLogLocked(): void {
    this.logging = false;
    let zapped = false;
    const visit = (t: EptTable): void => {
      for (let i = 0; i < 512; i++) {
        const lo = t.sptes[2 * i] as number;
        if (!present(lo) || lo & EPT_PS) continue;
        const c = this.tables.get(t.children[i] as number);
        if (!c) continue;
        if (t.level === 2 && this.largeAllowed(t.baseGfn + i * 512)) {
          this.setSpte(t, i, 0, 0);
          zapped = true;
        } else if (t.level > 2) visit(c);
      }
    };
    if (this.root && this.opts.largePages) visit(this.root);
    this.vm.emitter.emit({ type: 'dirty_log', action: 'disable', pages: 0 });
    if (zapped) this.flush('zap');
  }

  /**
   * mmu_notifier invalidation of the host page behind `gfn` (reclaim or migration), under
   * mmu_lock held for write: the leaf mapping it goes (a 2 MiB leaf with all its pages; its
   * D bit is handed to the host page by the bookkeeping), the TLBs are flushed, and the next
   * access faults it back in (`map-gfn`), on the new host frame after a migration.
   */
  hostInvalidate(gfn: number, migrate: boolean): void {
    this.exclusively(() => {
      const f = this.lookup(gfn);
      if (f.leaf && f.table && !isMmio(f.lo, f.hi)) this.setSpte(f.table, f.index, 0, 0);
      if (migrate) this.setPfn(gfn, HOST_GUEST_BASE_FRAME + this.frames + gfn);
      this.flush('mmu-notifier');
    });
  }

  /** The host writes guest memory itself (e.g. the steal-time record): mark_page_dirty, no spte change. */
  hostWrite(gfn: number): void {
    this.markDirty(gfn);
    this.hostDirty[gfn] = 1;
  }

  /** Tear everything down (VM exit): the root's entries go, and every table below is freed recursively. */
  zapAll(): void {
    const root = this.root;
    if (!root) return;
    this.exclusively(() => {
      for (let i = 0; i < 512; i++) if (present(root.sptes[2 * i] as number)) this.setSpte(root, i, 0, 0);
      this.flush('zap');
    });
  }

  /** The guest's own store to one of its page tables: a write to that frame through the EPT. */
  guestStore(gfn: number, va: number | undefined): void {
    if (gfn >= this.frames) return;
    const cpu = this.vm.current;
    this.ensure(cpu, gfn, true, va ?? 0, this.vm.emitter.t);
  }
}

