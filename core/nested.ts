/**
 * Nested TDP (KVM's mmu.rst, seed 004: "tdp: (ngva->)ngpa->gpa->hpa"), with `mmu.nested`.
 *
 * The scenario's guest is an L2 guest run by an L1 hypervisor that uses EPT: L2 owns its
 * page tables (no exit on its #PF or CR3 loads), L1 maps L2's guest-physical memory with
 * its own EPT tables (EPT12, in L1 memory), and L0 maps L1's memory with EPT01. The CPU
 * takes one EPT, so L0 shadows the composition: EPT02 (L2 gpa → host), built from EPT12
 * and EPT01 on demand, with EPT12's pages write-protected as a shadow MMU's guest tables
 * are. A TLB miss costs the same 2D walk as TDP (through EPT02).
 *
 * The first touch of an L2 frame that L1 has not mapped yet costs four exits to L0:
 * 1. `EPT_VIOLATION` `reflect-to-l1`: EPT02 misses, L0 walks EPT12, finds nothing and
 *    delivers the violation to L1 (an emulated VM exit from L2 to L1);
 * 2. `EPT_VIOLATION` `emulate-ept-write`: L1's fault handler writes the EPT12 entry, a
 *    store into a write-protected shadowed table, emulated by L0;
 * 3. `VMRESUME` `nested-vmentry`: L1 resumes L2, which L0 must emulate (merging VMCS12
 *    into VMCS02);
 * 4. `EPT_VIOLATION` `shadow-ept-fill`: L2 retries, EPT02 misses again, and L0 now finds
 *    the EPT12 entry and fills EPT02 (mapping the L1 frame in EPT01 if it was not yet).
 * A frame L1 already maps (here: after L2 touched it once) needs only step 4 again, e.g.
 * after L1 invalidates EPT02 (`INVEPT` `sync-shadow-ept`, every `invept` accesses).
 * The multiplication of exits is what the Turtles project measured (Ben-Yehuda et al.,
 * "The Turtles Project: Design and Implementation of Nested Virtualization", OSDI 2010).
 */
import { WalkResult, walk, type AccessKind, type PagingControls } from './paging.ts';
import { TLB_D, TLB_G, TLB_NX, TLB_U, TLB_W } from './tlb.ts';
import type { Machine, Vcpu } from './machine.ts';
import type { ControlRegister, MissOutcome, Mmu, MmuTable, Report } from './mmu.ts';
import { EPT_R, EPT_RWX, EPT_W, EPT_X } from './tdp/spte.ts';
import { chargeWalk2d } from './tdp/walk2d.ts';

/** EPT02 maps 4 KiB pages only. */
const eptLeaf4k = (): number => 1;

/** L1 places L2's memory at this L1 guest frame (so ngfn ≠ L1 gfn in the events). */
export const L1_BASE_FRAME = 0x40000;

export class NestedTdp implements Mmu {
  readonly kind = 'nested';
  /** EPT12: the rights (EPT R/W/X bits, 0: not mapped) L1 gives each L2 frame. Public for the auditor's tests. */
  readonly ept12: Uint8Array;
  /** EPT02: the rights L0's shadow EPT gives each L2 frame — never more than EPT12 and EPT01 both allow. */
  private readonly ept02: Uint8Array;
  /** The L2 frames EPT02 maps, so the auditor visits only them. */
  private readonly ept02Mapped: number[] = [];
  /** EPT01: the rights L0 gives each L1 frame it maps. */
  private readonly ept01 = new Map<number, number>();
  readonly stats = { reflectedToL1: 0, ept12Writes: 0, nestedVmentries: 0, shadowEptFills: 0, ept01Fills: 0, invept: 0, walkRefs: 0 };
  private readonly r = new WalkResult();
  private misses = 0;

  constructor(
    private readonly vm: Machine,
    /** L1 flushes EPT02 (INVEPT) after this many TLB misses of L2; 0: never. */
    private readonly inveptEvery = 0,
    /** `mmu.tdp.walkCaches`: the paging-structure caches of the 2D walk. */
    private readonly walkCaches = true,
  ) {
    this.ept12 = new Uint8Array(vm.mem.frames);
    this.ept02 = new Uint8Array(vm.mem.frames);
  }

  /** A TLB miss of L2: the CPU walks L2's tables through EPT02 (2D). Returns 0 (ok) or 1 (#PF for L2). */
  miss(cpu: Vcpu, va: number, acc: AccessKind, cpl: number): MissOutcome {
    const vm = this.vm;
    const r = this.r;
    if (this.inveptEvery > 0 && ++this.misses % this.inveptEvery === 0) this.invept(va);
    vm.stats.guestWalk++;
    const ok = walk(vm.mem, vm.ctl, cpu.cr3, cpu.pdpte, va, acc, cpl, vm.adHook, r);
    for (let i = 0; i < r.count; i++) this.touch(Math.floor((r.entryGpa[i] as number) / 4096), va);
    if (ok) this.touch(Math.floor(r.gpa / 4096), va);
    // the CPU's 2D walk through EPT02 (4 KiB leaves only), charged by the one model (core/tdp/walk2d.ts)
    this.stats.walkRefs += chargeWalk2d(vm, cpu, va, r, ok, this.walkCaches, eptLeaf4k).refs;
    if (!ok) {
      vm.faultCode = r.errorCode;
      return 1;
    }
    vm.lastGpa = r.gpa;
    if (vm.mmio.isMmio(r.gpa)) {
      // No memslot backs the frame: L0 emulates it on every access (the lab does not model
      // L1's device emulation or MMIO sptes in EPT02), and nothing is cached in the TLB.
      const start = vm.beginExit();
      vm.mmio.stats.mmioSlow++;
      vm.tick(vm.cost.shadowFaultNs + vm.cost.emulateNs);
      vm.endExit(start, 'EPT_VIOLATION', 'mmio-emulate', va, r.gpa);
      return 0;
    }
    cpu.tlb.fill(va, r.gpa, (r.writable ? TLB_W : 0) | (r.user ? TLB_U : 0) | (r.nx ? TLB_NX : 0) | (r.dirty ? TLB_D : 0) | (r.global ? TLB_G : 0), r.pageShift);
    return 0;
  }

  /** L2 touches one of its frames (a walk or a store): EPT02 must map it. */
  touch(ngfn: number, va?: number): void {
    if (ngfn >= this.ept02.length || this.ept02[ngfn]) return;
    const vm = this.vm;
    const gpa = ngfn * 4096;
    if (!this.ept12[ngfn]) {
      // 1. L0 walks EPT12 (4 references in L1 memory), finds no entry: reflect to L1
      let start = vm.beginExit();
      vm.tick(4 * vm.cost.walkRefNs + vm.cost.shadowFaultNs);
      this.stats.reflectedToL1++;
      vm.endExit(start, 'EPT_VIOLATION', 'reflect-to-l1', va, gpa);
      // L1's own EPT violation handler runs (L1 guest time, no exit)
      vm.tick(vm.cost.shadowFaultNs);
      // 2. its store into EPT12 traps: EPT12 pages are write-protected shadowed tables
      start = vm.beginExit();
      vm.lock(vm.cost.emulateNs);
      vm.tick(vm.cost.emulateNs);
      this.ept12[ngfn] = EPT_RWX; // L1 maps L2 memory read/write/execute
      this.stats.ept12Writes++;
      vm.endExit(start, 'EPT_VIOLATION', 'emulate-ept-write', va, (L1_BASE_FRAME + ngfn) * 4096);
      // 3. L1 resumes L2: VMRESUME exits to L0, which emulates the nested VM entry
      start = vm.beginExit();
      vm.tick(vm.cost.emulateNs);
      this.stats.nestedVmentries++;
      vm.endExit(start, 'VMRESUME', 'nested-vmentry');
    }
    // 4. EPT02 misses again; L0 combines EPT12 and EPT01 into an EPT02 entry
    const start = vm.beginExit();
    vm.lock(vm.cost.shadowFaultNs);
    vm.tick(4 * vm.cost.walkRefNs + vm.cost.shadowFaultNs);
    const l1 = L1_BASE_FRAME + ngfn;
    if (!this.ept01.has(l1)) {
      this.ept01.set(l1, EPT_RWX); // L1's memory is ordinary RAM to L0
      this.stats.ept01Fills++;
    }
    // the composition: what both L1 (EPT12) and L0 (EPT01) allow
    this.ept02[ngfn] = (this.ept12[ngfn] as number) & (this.ept01.get(l1) as number);
    this.ept02Mapped.push(ngfn);
    this.stats.shadowEptFills++;
    vm.endExit(start, 'EPT_VIOLATION', 'shadow-ept-fill', va, gpa);
  }

  /** L1 invalidates EPT02 (INVEPT): L0 drops its shadow EPT; EPT12 is kept. */
  private invept(va: number): void {
    const vm = this.vm;
    const start = vm.beginExit();
    vm.lock(vm.cost.shadowFaultNs);
    this.ept02.fill(0);
    this.ept02Mapped.length = 0;
    for (const c of vm.cpus) {
      c.tlb.flush(true);
      c.walkCaches.flushEpt();
    }
    this.stats.invept++;
    vm.endExit(start, 'INVEPT', 'sync-shadow-ept', va);
  }

  get tlbControls(): PagingControls {
    return this.vm.ctl;
  }
  /** L2's store into its own page table needs an EPT02 entry like any access. */
  guestWrite(gpa: number, bytes: number, lo: number, hi: number, level: number, va?: number): void {
    this.touch(Math.floor(gpa / 4096), va);
    this.vm.store(gpa, bytes, lo, hi, level);
  }
  invlpg(cpu: Vcpu, va: number): void {
    this.vm.nativeInvlpg(cpu, va);
  }
  loadCr3(): void {
    /* L2 loads its own CR3 without an exit */
  }
  /** L2's controls apply to its own walk; EPT02 does not depend on them (L0's view of the exit only). */
  controlsChanged(_cpu: Vcpu, register: ControlRegister): void {
    this.vm.tdpControlsExit(register);
  }
  traps(): boolean {
    return false;
  }
  counters(): Record<string, number> {
    return { ...this.stats };
  }
  /** EPT02 as one flat table of the L2 frames it maps (EPT R/W/X bits). */
  tables(): MmuTable[] {
    return [{ id: 0, level: 1, role: 'ept02', gfn: 0, entries: this.ept02Mapped.map((g): [number, bigint] => [g, BigInt(this.ept02[g] as number)]) }];
  }

  /**
   * Nested invariants (`audit: true`): an EPT02 entry never grants more than both EPT12 (L1's
   * intent) and EPT01 (what L0 lets L1's memory do) allow; otherwise L2 could reach memory,
   * or write memory, that one of the two hypervisors withholds (`nested-ept02`).
   */
  audit(report: Report): void {
    for (const ngfn of this.ept02Mapped) {
      const granted = this.ept02[ngfn] as number;
      const l12 = this.ept12[ngfn] as number;
      const l01 = this.ept01.get(L1_BASE_FRAME + ngfn) ?? 0;
      if (granted & ~(l12 & l01)) report('nested-ept02', `EPT02 gives L2 frame 0x${ngfn.toString(16)} ${rights(granted)}, but EPT12 allows ${rights(l12)} and EPT01 ${rights(l01)} (L1 frame 0x${(L1_BASE_FRAME + ngfn).toString(16)})`);
    }
  }
}

function rights(bits: number): string {
  return (bits & EPT_R ? 'r' : '-') + (bits & EPT_W ? 'w' : '-') + (bits & EPT_X ? 'x' : '-');
}
