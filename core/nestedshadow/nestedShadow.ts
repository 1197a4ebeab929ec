/**
 * Nested paging with L1 using shadow paging for L2, on an L0 that uses EPT ("shadow-on-EPT",
 * Ben-Yehuda et al., "The Turtles Project", OSDI 2010, §3.3; `mmu.nested.l1Mmu: shadow`).
 * L1 is a KVM without EPT for its guest: it runs L2 on shadow tables SPT12 (L2 virtual → L1
 * physical) that it builds from L2's own page tables, in its own memory. That shadow MMU is
 * the lab's (core/shadow/mmu.ts, with `mmu.shadow`'s options), run on an L0 platform
 * (core/shadow/platform.ts). L0 maps L1's memory with EPT01 (L1 physical → host).
 *
 * When L2 runs, VMCS12 names no EPT, so L0 enters L2 with L2's CR3 = SPT12's root and its own
 * EPT01: the CPU walks SPT12 and translates every table it reads, and the final address,
 * through EPT01 (a 2D walk, charged like TDP's). L0 keeps no table of its own for L2 (mmu.rst,
 * seed 004: "paging, tdp: (gva->)gpa->hpa" — the nested guest's addresses are L1's to
 * translate). The rules, from which every exit count follows:
 * - Everything L1 intercepts in L2 under shadow paging (#PF, CR3 loads, INVLPG with unsync
 *   pages, control-register writes) is a VM exit to L0 first. L0 finds that VMCS12 asks for
 *   it and reflects it (`reflect-to-l1`, with the exit's own reason): an emulated VM exit
 *   into L1. L1's shadow MMU handles it as it would on hardware (fill an SPT12 entry, emulate
 *   L2's store into a write-protected page table, inject #PF into L2, switch roots), then
 *   resumes L2 with VMRESUME, which exits to L0 (`VMRESUME` `nested-vmentry`). Two exits to L0
 *   for every exit L1 handles.
 * - An L1 frame EPT01 does not map yet is an EPT violation that L0 handles alone (`map-gfn`):
 *   L1 clearing a new SPT12 page or reading L2's tables, L2 storing into its page tables, or
 *   the CPU's walk reaching an L2 data frame for the first time.
 * - L1's stores into SPT12 run natively (L0 does not shadow SPT12, the CPU reads it).
 * So each L2 fault of a fresh page costs L1's shadow exits twice (inject #PF, the trapped
 * pte store, the fill: 6) plus the EPT01 fault of the new frame (1), against nested TDP's
 * 4 per frame and none for L2's own #PF, pte stores and CR3 loads: why nested EPT exists.
 * Not modelled: L1's VMREAD/VMWRITEs (VMCS shadowing assumed), L1's own TLB flushes (INVVPID).
 */
import type { Machine, Vcpu } from '../machine.ts';
import type { ControlRegister, MissOutcome, Mmu, MmuTable, Report } from '../mmu.ts';
import { pte64 } from '../emitter.ts';
import type { AccessKind, PagingControls, WalkResult } from '../paging.ts';
import { EPT_LEVELS, EptTree } from '../nested/eptTree.ts';
import { HOST_GUEST_BASE_FRAME as L2_IN_L1_FRAME } from '../shadow/pages.ts';
import { ShadowMmu } from '../shadow/mmu.ts';
import type { ShadowPlatform } from '../shadow/platform.ts';
import { EPT_RWX, HOST_EPT_BASE_FRAME, HOST_GUEST_BASE_FRAME, present } from '../tdp/spte.ts';

export class NestedShadow implements Mmu {
  readonly kind = 'nested-shadow';
  /** L1's shadow MMU for L2: SPT12, L2 virtual → L1 physical, in L1 memory. */
  readonly l1: ShadowMmu;
  /** L0's EPT for L1's memory (L1 physical → host frame). */
  readonly ept01: EptTree;
  private nextHostTable = HOST_EPT_BASE_FRAME;
  readonly stats = { reflectedToL1: 0, nestedVmentries: 0, l1Ept01Faults: 0, walkRefs: 0 };
  /** What L1 did with the exits L0 reflected to it, by handling. */
  private readonly l1Handled = new Map<string, number>();

  constructor(
    private readonly vm: Machine,
    /** `mmu.tdp.walkCaches`: the paging-structure caches of the 2D walk. */
    private readonly walkCaches = true,
  ) {
    this.ept01 = new EptTree(this.nextHostTable++);
    this.l1 = new ShadowMmu(vm, this.platform);
  }

  /** L1's shadow MMU runs on L0: its exits are reflected, its tables are L1 memory behind EPT01. */
  private readonly platform: ShadowPlatform = {
    beginExit: (reason, va) => {
      // L2's exit reaches L0; VMCS12 says L1 wants it: L0 emulates a VM exit into L1.
      const vm = this.vm;
      const start = vm.beginExit();
      vm.tick(vm.cost.emulateNs);
      this.stats.reflectedToL1++;
      vm.endExit(start, reason, 'reflect-to-l1', va);
      return vm.emitter.t; // L1's handler runs from here (L1 guest time)
    },
    endExit: (_start, reason, handling, va, gpa) => {
      const vm = this.vm;
      this.l1Handled.set(handling, (this.l1Handled.get(handling) ?? 0) + 1);
      // what L1 did is no exit to L0: a marker, as Xen's refusals are (`guest_os` `l1-handled`)
      const at = `${va === undefined ? '' : ` va 0x${va.toString(16)}`}${gpa === undefined ? '' : ` gpa 0x${gpa.toString(16)}`}`;
      vm.emitter.emit({ type: 'guest_os', action: 'l1-handled', pid: vm.current.proc?.pid ?? 0, detail: `${reason} ${handling}${at}` });
      // L1 resumes L2: VMRESUME exits to L0, which emulates the nested VM entry.
      const start = vm.beginExit();
      vm.tick(vm.cost.emulateNs);
      this.stats.nestedVmentries++;
      vm.endExit(start, 'VMRESUME', 'nested-vmentry');
    },
    hardwareWalk: (cpu, va, frames, leaf) => this.walk2d(cpu, va, frames, leaf),
    storeTable: (frame) => this.l1Touch(frame),
    readGuestTables: (r) => this.l1ReadsL2Tables(r),
  };

  /** L1 (or L2, in L1's memory) touches L1 frame `frame`: an EPT violation handled by L0 if EPT01 lacks it. */
  private l1Touch(frame: number, va?: number): void {
    if (this.ept01Maps(frame)) return;
    const vm = this.vm;
    const start = vm.beginExit();
    vm.lock(vm.cost.shadowFaultNs);
    vm.tick(vm.cost.shadowFaultNs);
    this.ept01.map(frame, HOST_GUEST_BASE_FRAME + frame, EPT_RWX, () => this.allocHost());
    this.stats.l1Ept01Faults++;
    vm.endExit(start, 'EPT_VIOLATION', 'map-gfn', va, frame * 4096);
  }

  private ept01Maps(frame: number): boolean {
    return this.ept01.walk(frame).frame >= 0;
  }

  private allocHost(): number {
    this.vm.tick(this.vm.cost.shadowAllocNs);
    return this.nextHostTable++;
  }

  /** L1's software walk of L2's tables reads them in L1 memory. */
  private l1ReadsL2Tables(r: WalkResult): void {
    for (let i = 0; i < r.count; i++) this.l1Touch(L2_IN_L1_FRAME + Math.floor((r.entryGpa[i] as number) / 4096));
  }

  /**
   * The CPU's walk of SPT12 through EPT01: each SPT12 table read is an L1 frame, and so is
   * the frame the access reaches. A frame EPT01 lacks is an EPT violation L0 handles (the
   * access is retried). Charged as TDP charges its 2D walk: one reference per SPT12 entry
   * plus the EPT01 references the paging-structure caches do not save.
   */
  private walk2d(cpu: Vcpu, va: number, frames: readonly number[], leaf: number): boolean {
    for (const f of frames) {
      if (!this.ept01Maps(f)) {
        this.l1Touch(f, va);
        return false;
      }
    }
    if (leaf >= 0 && !this.ept01Maps(leaf)) {
      this.l1Touch(leaf, va);
      return false;
    }
    const caches = cpu.walkCaches;
    const eptRefs = (frame: number): number => (this.walkCaches ? caches.eptRefs(frame, 1) : EPT_LEVELS);
    let refs = frames.length;
    for (const f of frames) refs += eptRefs(f);
    if (leaf >= 0) refs += eptRefs(leaf);
    this.stats.walkRefs += refs;
    const vm = this.vm;
    const duration = refs * vm.cost.walkRefNs;
    vm.emitter.emit({ type: 'page_walk', refs, guestRefs: frames.length, duration, va });
    vm.tick(duration);
    return true;
  }

  // ---- the Mmu interface: L1's shadow MMU, seen through L0 ----------------------------

  get tlbControls(): PagingControls {
    return this.l1.tlbControls;
  }
  miss(cpu: Vcpu, va: number, acc: AccessKind, cpl: number): MissOutcome {
    return this.l1.miss(cpu, va, acc, cpl);
  }
  /** L2 stores into its page table: in L1 memory (EPT01 must map it), trapped by L1 if it write-protects the page. */
  guestWrite(gpa: number, bytes: number, lo: number, hi: number, level: number, va?: number): void {
    this.l1Touch(L2_IN_L1_FRAME + Math.floor(gpa / 4096), va);
    this.l1.guestWrite(gpa, bytes, lo, hi, level, va);
  }
  invlpg(cpu: Vcpu, va: number): void {
    this.l1.invlpg(cpu, va);
  }
  loadCr3(cpu: Vcpu): void {
    this.l1.loadCr3(cpu);
  }
  controlsChanged(cpu: Vcpu, register: ControlRegister): void {
    this.l1.controlsChanged(cpu, register);
  }
  generalProtection(cpu: Vcpu, cause: 'cr3' | 'canonical'): void {
    this.l1.generalProtection(cpu, cause);
  }
  memslotsChanged(generation: number): void {
    this.l1.memslotsChanged(generation);
  }
  traps(gfn: number): boolean {
    return this.l1.traps(gfn);
  }

  /**
   * The host reclaims the page behind L2 frame `gfn`: L0's mmu_notifier drops the EPT01 leaf
   * of the L1 frame that holds it (SPT12, L1's, is untouched), and L2's next access faults it
   * back in (`map-gfn`).
   */
  hostInvalidate(gfn: number): void {
    const frame = L2_IN_L1_FRAME + gfn;
    const w = this.ept01.walk(frame);
    if (w.frame < 0) return;
    this.ept01.write(w.tables[EPT_LEVELS - 1] as number, w.indexes[EPT_LEVELS - 1] as number, 0, 0);
    for (const c of this.vm.cpus) {
      c.tlb.flush(true);
      c.walkCaches.flushEpt();
    }
    this.vm.emitter.emit({ type: 'tlb_flush', scope: 'all', reason: 'mmu-notifier' });
  }

  counters(): Record<string, number> {
    const out: Record<string, number> = { ...this.l1.counters(), ...this.stats };
    for (const [handling, n] of this.l1Handled) out[`l1:${handling}`] = n;
    return out;
  }

  /** SPT12 (L1 memory, L1's shadow pages) and EPT01 (host memory), side by side. */
  tables(): MmuTable[] {
    const out: MmuTable[] = this.l1.tables().map((t) => ({ ...t, role: `spt12 ${t.role}` }));
    for (const [frame, t] of this.ept01.pages) {
      const info = this.ept01.info.get(frame);
      const entries: Array<[number, bigint]> = [];
      for (let i = 0; i < 512; i++) if (present(t[2 * i] as number)) entries.push([i, pte64(t[2 * i] as number, t[2 * i + 1] as number)]);
      out.push({ id: frame, level: info?.level ?? 0, role: 'ept01', gfn: info?.baseGfn ?? 0, entries });
    }
    return out;
  }

  /**
   * L1's shadow invariants over SPT12 (core/shadow/auditor.ts: no SPT12 entry grants more
   * than L2's pte), and L0's: every SPT12 table page L1 holds is mapped by EPT01, since L1
   * wrote it through EPT01 (`nested-shadow-ept01`).
   */
  audit(report: Report): void {
    this.l1.audit(report);
    for (const sp of this.l1.pages.pages.values()) {
      if (!this.ept01Maps(sp.hostFrame)) report('nested-shadow-ept01', `SPT12 page ${sp.id} (L1 frame 0x${sp.hostFrame.toString(16)}) is not mapped by EPT01`);
    }
  }
}
