/**
 * Nested TDP (KVM's mmu.rst, seed 004: "tdp: (ngva->)ngpa->gpa->hpa"), with `mmu.nested`:
 * L0's side. The scenario's guest is an L2 guest run by an L1 hypervisor that uses EPT. L2
 * owns its page tables (no exit for its #PF or CR3 loads). L1 maps L2's memory with EPT12,
 * real tables in L1 memory written by L1's stores (core/nested/l1.ts). L0 maps L1's memory
 * with EPT01. The CPU takes one EPT, so L0 builds EPT02 (L2 gpa → host frame) by shadowing
 * EPT12 ∘ EPT01, and write-protects (in EPT01) every EPT12 page it has shadowed.
 *
 * The rules, from which every exit count follows:
 * - An L2 access that EPT02 does not allow is an EPT violation, an exit to L0. L0 walks
 *   EPT12: if EPT12 allows the access, L0 fills EPT02 itself (`shadow-ept-fill`) and
 *   shadows the EPT12 pages it read; if not, L0 reflects the violation to L1
 *   (`reflect-to-l1`), L1's handler changes EPT12, and L1 resumes L2 (`VMRESUME`
 *   `nested-vmentry`), after which L2's retry meets EPT02 again (and is filled).
 * - An L1 access to an L1 frame EPT01 does not map yet is an EPT violation of L1 handled by
 *   L0 (`map-gfn`): L1 touching a page it just allocated for an EPT12 table.
 * - An L1 store into an EPT12 page L0 shadows traps (`emulate-ept-write`): L0 emulates it
 *   and zaps the EPT02 entries derived from the entry written. Stores into EPT12 pages L0
 *   has not shadowed yet (a table L1 just made) run natively.
 * - L1 issues INVEPT after it changes an EPT12 mapping (`INVEPT` `sync-shadow-ept`): L0
 *   flushes the translations the CPU may cache; EPT02 itself is already in sync, because
 *   the write protection made L0 see the change.
 * The multiplication of exits is what the Turtles project measured (Ben-Yehuda et al.,
 * "The Turtles Project: Design and Implementation of Nested Virtualization", OSDI 2010).
 */
import { ACCESS_FETCH, ACCESS_WRITE, WalkResult, walk, type AccessKind, type PagingControls } from '../paging.ts';
import { TLB_D, TLB_G, TLB_NX, TLB_U, TLB_W } from '../tlb.ts';
import type { Machine, Vcpu } from '../machine.ts';
import type { ControlRegister, MissOutcome, Mmu, MmuTable, Report } from '../mmu.ts';
import { EPT_R, EPT_RWX, EPT_W, EPT_X, HOST_EPT_BASE_FRAME, HOST_GUEST_BASE_FRAME, present } from '../tdp/spte.ts';
import { tdpControlsExit } from '../tdp/mmu.ts';
import { chargeWalk2d } from '../tdp/walk2d.ts';
import { EPT_LEVELS, EptTree, TreeWalk } from './eptTree.ts';
import { BootEvents, addTreeTables, hostTableId, mapL1Frame, treeRecorder } from './l0Trees.ts';
import { L1_BASE_FRAME, L1Hypervisor, type L1Memory } from './l1.ts';

export { L1_BASE_FRAME } from './l1.ts';

/** L1's tables are named by the L1 frame that holds them (core/tableRoles.ts). */
const l1TableId = (frame: number): number => frame;

/** EPT02 maps 4 KiB pages only. */
const eptLeaf4k = (): number => 1;

export class NestedTdp implements Mmu {
  readonly kind = 'nested';
  readonly l1: L1Hypervisor;
  /** L0's EPT for L1's memory (L1 gpa → host frame). */
  readonly ept01: EptTree;
  /** L0's shadow of EPT12 ∘ EPT01 (L2 gpa → host frame): the EPT the CPU uses while L2 runs. */
  readonly ept02: EptTree;
  /** EPT12 table pages L0 has shadowed, hence write-protected in EPT01. */
  private readonly shadowed = new Set<number>();
  /** L2 frames EPT02 maps. */
  private readonly ept02Mapped = new Set<number>();
  private nextHostTable = HOST_EPT_BASE_FRAME;
  readonly stats = {
    reflectedToL1: 0, ept12Writes: 0, ept12TrappedWrites: 0, ept12Tables: 0, l1Ept01Faults: 0, nestedVmentries: 0,
    shadowEptFills: 0, ept01Fills: 0, ept02Zapped: 0, invept: 0, walkRefs: 0,
  };
  private readonly boot: BootEvents;
  private readonly r = new WalkResult();
  private readonly w12 = new TreeWalk();
  private readonly w02 = new TreeWalk();
  private misses = 0;
  /** The L2 address the exits of the current fault carry. */
  private va: number | undefined;

  constructor(
    private readonly vm: Machine,
    /** L1 changes EPT12 and issues INVEPT after this many TLB misses of L2; 0: never. */
    private readonly inveptEvery = 0,
    /** `mmu.tdp.walkCaches`: the paging-structure caches of the 2D walk. */
    private readonly walkCaches = true,
  ) {
    this.boot = new BootEvents(vm);
    // L0's tables are named as the TDP MMU names its EPT tables, L1's by the L1 frame that holds them
    this.ept01 = new EptTree(this.nextHostTable++, treeRecorder(this.boot, 'ept01', hostTableId));
    this.ept02 = new EptTree(this.nextHostTable++, treeRecorder(this.boot, 'ept02', hostTableId));
    this.l1 = new L1Hypervisor(this.l1Memory, treeRecorder(this.boot, 'ept12', l1TableId));
    // L1 boots before the scenario starts: its EPT12 root is mapped in EPT01, and L0 shadows
    // it (write-protects it) when L2 first runs on the EPT pointer that names it.
    this.ept01.map(this.l1.root, HOST_GUEST_BASE_FRAME + this.l1.root, EPT_RWX, () => this.nextHostTable++);
    this.shadow(this.l1.root);
  }

  /** The first step: the tables L1's boot made are recorded at its start. */
  runDue(): void {
    this.boot.release();
  }

  /** L1's stores and page touches, as L0 sees them (through EPT01). */
  private readonly l1Memory: L1Memory = {
    zero: (frame) => {
      this.l1Access(frame);
      this.stats.ept12Tables++;
      this.vm.tick(this.vm.cost.zeroPageNs);
    },
    storeEntry: (frame, index, lo, hi) => {
      this.l1Access(frame);
      this.stats.ept12Writes++;
      const [elo] = this.ept01Entry(frame);
      if (elo & EPT_W) {
        this.l1.ept12.write(frame, index, lo, hi);
        this.vm.tick(this.vm.cost.accessNs);
        return;
      }
      // A store into a shadowed EPT12 page: L0 emulates it and zaps what it derived from the entry.
      const vm = this.vm;
      const start = vm.beginExit();
      vm.lock(vm.cost.emulateNs);
      vm.tick(vm.cost.emulateNs);
      this.l1.ept12.write(frame, index, lo, hi);
      this.stats.ept12TrappedWrites++;
      this.zapDerived(frame, index);
      vm.endExit(start, 'EPT_VIOLATION', 'emulate-ept-write', this.va, (frame * 512 + index) * 8);
    },
  };

  /** L1 touches its frame `frame`: an EPT01 violation, handled by L0, if EPT01 does not map it yet. */
  private l1Access(frame: number): void {
    if (present(this.ept01Entry(frame)[0])) return;
    mapL1Frame(this.vm, this.ept01, frame, this.va, () => this.allocHost(), this.stats);
  }

  private ept01Entry(l1gfn: number): [number, number] {
    const w = this.ept01.walk(l1gfn);
    if (w.frame < 0) return [0, 0];
    return this.ept01.entry(w.tables[EPT_LEVELS - 1] as number, w.indexes[EPT_LEVELS - 1] as number);
  }

  private allocHost(): number {
    this.vm.tick(this.vm.cost.shadowAllocNs);
    return this.nextHostTable++;
  }

  /** L0 shadows an EPT12 page: from now on L1's stores into it trap (W cleared in EPT01). */
  private shadow(frame: number): void {
    if (this.shadowed.has(frame)) return;
    this.shadowed.add(frame);
    const w = this.ept01.walk(frame);
    const t = w.tables[EPT_LEVELS - 1] as number;
    const i = w.indexes[EPT_LEVELS - 1] as number;
    const [lo, hi] = this.ept01.entry(t, i);
    this.ept01.write(t, i, lo & ~EPT_W, hi);
  }

  /** The EPT02 entries derived from entry `index` of EPT12 table `frame` go (a trapped L1 store changed it). */
  private zapDerived(frame: number, index: number): void {
    const info = this.l1.ept12.info.get(frame);
    if (!info) return;
    const span = 512 ** (info.level - 1);
    const first = info.baseGfn + index * span;
    let zapped = 0;
    for (const ngfn of [...this.ept02Mapped]) {
      if (ngfn < first || ngfn >= first + span) continue;
      const w = this.ept02.walk(ngfn, this.w02);
      const t = w.tables[EPT_LEVELS - 1] as number;
      const i = w.indexes[EPT_LEVELS - 1] as number;
      this.ept02.write(t, i, 0, 0);
      this.ept02Mapped.delete(ngfn);
      zapped++;
    }
    this.stats.ept02Zapped += zapped;
    if (zapped) this.flushAll('zap');
  }

  private flushAll(reason: string): void {
    for (const c of this.vm.cpus) {
      c.tlb.flush(true);
      c.walkCaches.flushEpt();
    }
    this.vm.emitter.emit({ type: 'tlb_flush', scope: 'all', reason });
  }

  /** A TLB miss of L2: the CPU walks L2's tables through EPT02 (2D). */
  miss(cpu: Vcpu, va: number, acc: AccessKind, cpl: number): MissOutcome {
    const vm = this.vm;
    const r = this.r;
    if (this.inveptEvery > 0 && ++this.misses % this.inveptEvery === 0) this.l1ChangesEpt12(va);
    vm.stats.guestWalk++;
    const ok = walk(vm.mem, vm.ctl, cpu.cr3, cpu.pdpte, va, acc, cpl, vm.adHook, r);
    for (let i = 0; i < r.count; i++) this.touch(Math.floor((r.entryGpa[i] as number) / 4096), EPT_R, va);
    if (ok) this.touch(Math.floor(r.gpa / 4096), acc === ACCESS_WRITE ? EPT_W : acc === ACCESS_FETCH ? EPT_X : EPT_R, va);
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

  /** L2 needs `need` (EPT R/W/X) on its frame `ngfn` (a walk's read, a store, the access itself). */
  touch(ngfn: number, need: number, va?: number): void {
    if (this.vm.mmio.isMmio(ngfn * 4096)) return;
    const w02 = this.ept02.walk(ngfn, this.w02);
    if (w02.frame >= 0 && (w02.rights & need) === need) return;
    const vm = this.vm;
    this.va = va;
    const gpa = ngfn * 4096;
    const w12 = this.l1.ept12.walk(ngfn, this.w12);
    if (w12.frame < 0 || (w12.rights & need) !== need) {
      // L0 walks EPT12 (4 references in L1 memory), which does not allow it: reflect to L1.
      let start = vm.beginExit();
      vm.tick(EPT_LEVELS * vm.cost.walkRefNs + vm.cost.shadowFaultNs);
      this.stats.reflectedToL1++;
      vm.endExit(start, 'EPT_VIOLATION', 'reflect-to-l1', va, gpa);
      // L1's handler runs (L1 guest time, no exit of its own except what its accesses cause)
      vm.tick(vm.cost.shadowFaultNs);
      this.l1.handleViolation(ngfn);
      // L1 resumes L2: VMRESUME exits to L0, which emulates the nested VM entry.
      start = vm.beginExit();
      vm.tick(vm.cost.emulateNs);
      this.stats.nestedVmentries++;
      vm.endExit(start, 'VMRESUME', 'nested-vmentry');
    }
    this.fill(ngfn, va);
  }

  /** EPT02 misses and EPT12 allows the access: L0 composes EPT12 and EPT01 into an EPT02 entry. */
  private fill(ngfn: number, va: number | undefined): void {
    const vm = this.vm;
    const start = vm.beginExit();
    vm.lock(vm.cost.shadowFaultNs);
    vm.tick(EPT_LEVELS * vm.cost.walkRefNs + vm.cost.shadowFaultNs);
    const w12 = this.l1.ept12.walk(ngfn, this.w12);
    for (const t of w12.tables) this.shadow(t);
    const l1gfn = w12.frame;
    if (this.ept01.walk(l1gfn).frame < 0) {
      // L1's memory is ordinary RAM to L0: map it in EPT01 as L0 would on L1's own touch
      this.ept01.map(l1gfn, HOST_GUEST_BASE_FRAME + l1gfn, EPT_RWX, () => this.allocHost());
      this.stats.ept01Fills++;
    }
    const w01 = this.ept01.walk(l1gfn);
    const rights = w12.rights & w01.rights;
    this.ept02.map(ngfn, w01.frame, rights, () => this.allocHost());
    this.ept02Mapped.add(ngfn);
    this.stats.shadowEptFills++;
    vm.endExit(start, 'EPT_VIOLATION', 'shadow-ept-fill', va, ngfn * 4096);
  }

  /** L1 changes an EPT12 mapping (a trapped store into a shadowed page), then issues INVEPT. */
  private l1ChangesEpt12(va: number): void {
    this.va = va;
    if (this.l1.revokeExec() === null) return;
    const vm = this.vm;
    const start = vm.beginExit();
    vm.lock(vm.cost.shadowFaultNs);
    vm.tick(vm.cost.shadowFaultNs);
    this.flushAll('invept');
    this.stats.invept++;
    vm.endExit(start, 'INVEPT', 'sync-shadow-ept', va);
  }

  get tlbControls(): PagingControls {
    return this.vm.ctl;
  }
  /** L2's store into its own page table needs an EPT02 entry with W like any store. */
  guestWrite(gpa: number, bytes: number, lo: number, hi: number, level: number, va?: number): void {
    this.touch(Math.floor(gpa / 4096), EPT_W, va);
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
    tdpControlsExit(this.vm, register);
  }
  traps(): boolean {
    return false;
  }
  counters(): Record<string, number> {
    return { ...this.stats };
  }

  /**
   * EPT12 (in L1 memory), EPT01 and EPT02 (host memory), side by side: every table with its
   * entries, named as the events name it (core/tableRoles.ts: L1's tables by their L1 frame).
   */
  tables(): MmuTable[] {
    const out: MmuTable[] = [];
    addTreeTables(out, this.l1.ept12, 'ept12', l1TableId);
    addTreeTables(out, this.ept01, 'ept01', hostTableId);
    addTreeTables(out, this.ept02, 'ept02', hostTableId);
    return out;
  }

  /**
   * Nested invariants (`audit: true`): an EPT02 entry never grants more than both EPT12 (L1's
   * intent) and EPT01 (what L0 lets L1's memory do) allow, and points at the host frame EPT01
   * gives EPT12's target (`nested-ept02`); every EPT12 page L0 shadows is write-protected in
   * EPT01, or L1 could change EPT12 behind L0's back (`nested-ept12-wp`).
   */
  audit(report: Report): void {
    for (const ngfn of this.ept02Mapped) {
      const w02 = this.ept02.walk(ngfn);
      const w12 = this.l1.ept12.walk(ngfn);
      const l1gfn = w12.frame >= 0 ? w12.frame : L1_BASE_FRAME + ngfn;
      const w01 = this.ept01.walk(l1gfn);
      const allowed = w12.rights & w01.rights;
      if (w02.rights & ~allowed) report('nested-ept02', `EPT02 gives L2 frame 0x${ngfn.toString(16)} ${rights(w02.rights)}, but EPT12 allows ${rights(w12.rights)} and EPT01 ${rights(w01.rights)} (L1 frame 0x${l1gfn.toString(16)})`);
      else if (w02.frame !== w01.frame) report('nested-ept02', `EPT02 maps L2 frame 0x${ngfn.toString(16)} to host frame 0x${w02.frame.toString(16)}, EPT12 ∘ EPT01 to 0x${w01.frame.toString(16)}`);
    }
    for (const frame of this.shadowed) {
      if (this.ept01Entry(frame)[0] & EPT_W) report('nested-ept12-wp', `EPT12 page at L1 frame 0x${frame.toString(16)} is shadowed but writable in EPT01`);
    }
  }
}

function rights(bits: number): string {
  return (bits & EPT_R ? 'r' : '-') + (bits & EPT_W ? 'w' : '-') + (bits & EPT_X ? 'x' : '-');
}

/** For tests: the EPT12 leaf entry of `ngfn` (its table frame and index), if L1 maps it. */
export function ept12Leaf(n: NestedTdp, ngfn: number): { frame: number; index: number; lo: number; hi: number } | null {
  const w = n.l1.ept12.walk(ngfn);
  if (w.frame < 0) return null;
  const frame = w.tables[EPT_LEVELS - 1] as number;
  const index = w.indexes[EPT_LEVELS - 1] as number;
  const [lo, hi] = n.l1.ept12.entry(frame, index);
  return { frame, index, lo, hi };
}
