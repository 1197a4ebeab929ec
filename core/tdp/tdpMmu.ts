/**
 * Two-dimensional paging (EPT/NPT): the guest owns its page tables and the host maps guest
 * frames in its own tables, built on demand. Seeds 001 (dirty logging and the lockless fast
 * page fault) and 002 (the TDP MMU), and the TDP part of mmu.rst (seed 004).
 *
 * This class only wires the parts together and is the one face the VM's `Mmu` (mmu.ts), the
 * host's work (hostWork.ts), the auditor and the tests use; each part has one job:
 * - faultPath.ts: a TLB miss, the 2D walk's cost, EPT violations and misconfigurations, the
 *   lockless fast page fault and the spurious faults it leaves;
 * - eptTables.ts: the EPT tree and the one path every spte change takes (seed 002's
 *   bookkeeping for accounting, dirty log, A/D propagation and freeing);
 * - mmuLock.ts: mmu_lock (`mmu.tdp.tdpMmu`: shared for faults, else exclusive) and the host
 *   actions that run at their simulated time between vCPU steps, on vCPU 0's lane;
 * - dirtyLog.ts: turning dirty logging on and off and fetching the log (write protection or PML);
 * - zap.ts: zapping everything, the memslot generation's wrap, mmu_notifier invalidations;
 * - frameState.ts: what the host knows of each guest frame (backing page, tracking, dirtiness);
 * - tdpOptions.ts, tdpStats.ts, eptTable.ts: the switches, the counters and the table page;
 * - tdpPart.ts: what the parts share (the VM, the switches, the counters, the lock, the frames).
 */
import type { Machine, Vcpu } from '../machine.ts';
import type { AccessKind } from '../paging.ts';
import type { EptTable, Found } from './eptTable.ts';
import { DirtyLog } from './dirtyLog.ts';
import { EptTables } from './eptTables.ts';
import { FaultPath } from './faultPath.ts';
import { FrameState } from './frameState.ts';
import { MmuLock } from './mmuLock.ts';
import type { TdpOptions } from './tdpOptions.ts';
import { newTdpStats } from './tdpStats.ts';
import { Zap } from './zap.ts';

export class TdpMmu {
  readonly stats = newTdpStats();
  private readonly lock: MmuLock;
  private readonly frameState: FrameState;
  private readonly ept: EptTables;
  private readonly faults: FaultPath;
  private readonly dirtyLog: DirtyLog;
  private readonly zap: Zap;

  constructor(
    readonly vm: Machine,
    readonly opts: TdpOptions,
  ) {
    this.lock = new MmuLock(vm, opts.tdpMmu);
    this.frameState = new FrameState(vm, this.lock, opts.largePages);
    const shared = { vm, opts, stats: this.stats, lock: this.lock, frames: this.frameState };
    this.ept = new EptTables(shared);
    this.faults = new FaultPath(shared, this.ept);
    this.dirtyLog = new DirtyLog(shared, this.ept);
    this.zap = new Zap(shared, this.ept);
  }

  // ---- state read by the host's work, the auditor and the views ------------------------

  get tables(): Map<number, EptTable> {
    return this.ept.tables;
  }
  get root(): EptTable | null {
    return this.ept.root;
  }
  get frames(): number {
    return this.frameState.count;
  }
  /** Dirty logging is on. */
  get logging(): boolean {
    return this.frameState.logging;
  }
  /** The bitmap the next fetch of the dirty log returns. */
  get dirty(): Uint8Array {
    return this.frameState.dirty;
  }
  /** Frames the guest may have written through a write-capable translation (the auditor's truth). */
  get written(): Uint8Array {
    return this.frameState.written;
  }
  get writtenSet(): Set<number> {
    return this.frameState.writtenSet;
  }
  /** Frames whose dirtiness reached the host page (kvm_set_pfn_dirty). */
  get hostDirty(): Uint8Array {
    return this.frameState.hostDirty;
  }
  /** Frames the host write-tracks (writes are emulated, never mapped writable). */
  get tracked(): Uint8Array {
    return this.frameState.tracked;
  }
  /** Host work to run inside vCPU 1's next lockless fix, between its read and its exchange (hostWork.ts). */
  get locklessWindow(): ((gfn: number) => void) | null {
    return this.faults.locklessWindow;
  }
  set locklessWindow(hook: ((gfn: number) => void) | null) {
    this.faults.locklessWindow = hook;
  }

  /** The host frame backing guest frame `gfn`. */
  pfn(gfn: number): number {
    return this.frameState.pfn(gfn);
  }
  setPfn(gfn: number, pfn: number): void {
    this.frameState.setPfn(gfn, pfn);
  }
  /** Is `gfn` dirty by the log's account: in the bitmap, or in a vCPU's PML log not yet drained? */
  loggedDirty(gfn: number): boolean {
    return this.frameState.loggedDirty(gfn);
  }
  markDirty(gfn: number): void {
    this.frameState.markDirty(gfn);
  }
  /** The host writes guest memory itself (e.g. the steal-time record): mark_page_dirty, no spte change. */
  hostWrite(gfn: number): void {
    this.frameState.hostWrite(gfn);
  }

  // ---- the guest's accesses -----------------------------------------------------------

  /**
   * A TLB miss under TDP. Returns true with `vm.lastGpa` set, or false with `vm.faultCode`
   * set (a guest #PF, delivered without an exit).
   */
  miss(cpu: Vcpu, va: number, acc: AccessKind, cpl: number): boolean {
    return this.faults.miss(cpu, va, acc, cpl);
  }
  /** The guest's own store to one of its page tables: a write to that frame through the EPT. */
  guestStore(gfn: number, va: number | undefined): void {
    this.faults.guestStore(gfn, va);
  }

  // ---- the tables ---------------------------------------------------------------------

  /** Hardware-style walk of the EPT for `gfn`: the leaf, or the first non-present entry. */
  lookup(gfn: number): Found {
    return this.ept.lookup(gfn);
  }
  /** Set the entry for `gfn` at `level`, creating the tables above it. */
  install(gfn: number, level: number, lo: number, hi: number, countLarge: boolean, racer?: { cpu: number; since: number }): void {
    this.ept.install(gfn, level, lo, hi, countLarge, racer);
  }
  /** The one place an spte changes (eptTables.ts). */
  setSpte(t: EptTable, i: number, lo: number, hi: number, bookkeepingOld?: [number, number], logDirty = true): void {
    this.ept.setSpte(t, i, lo, hi, bookkeepingOld, logDirty);
  }
  /** INVEPT on every vCPU: combined and guest-physical mappings go. Host actions do not tick. */
  flush(reason: string): void {
    this.ept.flush(reason);
  }

  // ---- host actions -------------------------------------------------------------------

  /** Queue host work for simulated time `t`; it runs between vCPU steps once every vCPU got there. */
  schedule(t: number, run: () => void, from?: number): void {
    this.lock.schedule(t, run, from);
  }
  /** Run the host actions due by `now` (the earliest vCPU clock), stamped on vCPU 0's lane. */
  runDue(now: number): void {
    this.lock.runDue(now);
  }
  get pendingHostWork(): boolean {
    return this.lock.pendingHostWork;
  }
  /** When the last exclusive hold of mmu_lock ends (host work the vCPUs wait for, e.g. the dirty-log fetch). */
  get exclusiveEnd(): number {
    return this.lock.exclusiveEnd;
  }

  /** Start dirty logging: write-protect every leaf (large ones are dropped, to be refaulted as 4 KiB). */
  enableDirtyLog(): void {
    this.dirtyLog.enable();
  }
  /** KVM_GET_DIRTY_LOG: the pages written since the last fetch, protected again. */
  fetchDirtyLog(): number[] {
    return this.dirtyLog.fetch();
  }
  /** Stop dirty logging and rebuild large pages. */
  disableDirtyLog(): void {
    this.dirtyLog.disable();
  }

  /** The memslot generation moved on: zap everything if the MMIO sptes' generation bits wrapped. */
  wrapMmioGeneration(generation: number): void {
    this.zap.mmioGenerationChanged(generation);
  }
  /** kvm_mmu_zap_all_fast: a fresh root for every vCPU, the obsolete tree freed. */
  zapAllFast(): void {
    this.zap.allFast();
  }
  /** Tear everything down (VM exit). */
  zapAll(): void {
    this.zap.all();
  }
  /** mmu_notifier invalidation of the host page behind `gfn` (reclaim or migration). */
  hostInvalidate(gfn: number, migrate: boolean): void {
    this.zap.hostInvalidate(gfn, migrate);
  }
}
