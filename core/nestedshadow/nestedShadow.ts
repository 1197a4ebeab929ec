/**
 * Nested paging with L1 using shadow paging for L2 (`mmu.nested.l1Mmu: shadow`). L1 is a KVM
 * that gives L2 no EPT: it runs L2 on shadow tables SPT12 (L2 virtual → L1 physical) that it
 * builds from L2's own page tables, in its own memory. That shadow MMU is the lab's
 * (core/shadow/mmu.ts, with `mmu.shadow`'s options), run on an L0 platform
 * (core/shadow/platform.ts) instead of on VMX hardware. What L0 does with SPT12 depends on
 * whether L0 has EPT (core/nestedshadow/l0.ts): shadow-on-EPT (onEpt.ts) or shadow-on-shadow
 * (onShadow.ts, mmu.rst's "non-tdp: ngva->gpa->hpa").
 *
 * The rule both share: everything L1 intercepts in L2 under shadow paging (#PF, CR3 loads,
 * INVLPG with unsync pages, control-register writes) is a VM exit to L0 first. L0 finds that
 * VMCS12 asks for it and reflects it (`reflect-to-l1`, with the exit's own reason): an
 * emulated VM exit into L1. L1's shadow MMU handles it as it would on hardware (fill an SPT12
 * entry, emulate L2's store into a write-protected page table, inject #PF into L2, switch
 * roots), then resumes L2 with VMRESUME, which exits to L0 (`VMRESUME` `nested-vmentry`). Two
 * exits to L0 for every exit L1 handles. What L1 did is a `guest_os` `l1-handled` marker.
 * Not modelled: L1's VMREAD/VMWRITEs (VMCS shadowing assumed), L1's own TLB flushes (INVVPID).
 */
import type { Machine, Vcpu } from '../machine.ts';
import type { ControlRegister, MissOutcome, Mmu, MmuTable, Report } from '../mmu.ts';
import { pte64 } from '../emitter.ts';
import type { AccessKind, PagingControls } from '../paging.ts';
import { ShadowMmu } from '../shadow/mmu.ts';
import type { ShadowPlatform } from '../shadow/platform.ts';
import type { L0ForShadowL1 } from './l0.ts';
import { ShadowOnEpt } from './onEpt.ts';
import { ShadowOnShadow } from './onShadow.ts';

export class NestedShadow implements Mmu {
  readonly kind: string;
  /** L1's shadow MMU for L2: SPT12, L2 virtual → L1 physical, in L1 memory. */
  readonly l1: ShadowMmu;
  /** L0's side: EPT01 (shadow-on-EPT) or SPT02 (shadow-on-shadow). */
  readonly l0: L0ForShadowL1;
  readonly stats = { reflectedToL1: 0, nestedVmentries: 0 };
  /** What L1 did with the exits L0 reflected to it, by handling. */
  private readonly l1Handled = new Map<string, number>();

  constructor(
    private readonly vm: Machine,
    /** Does L0 have EPT (`mmu.mode: tdp`)? */
    l0Ept: boolean,
    /** `mmu.tdp.walkCaches`: the paging-structure caches of the 2D walk (shadow-on-EPT). */
    walkCaches = true,
  ) {
    this.l0 = l0Ept ? new ShadowOnEpt(vm, () => this.l1, walkCaches) : new ShadowOnShadow(vm, () => this.l1);
    this.kind = `nested-${this.l0.kind}`;
    this.l1 = new ShadowMmu(vm, this.platform);
  }

  /** L1's shadow MMU runs on L0: its exits are reflected, its tables are L1 memory. */
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
      this.l0.vmentry(vm.current);
      vm.endExit(start, 'VMRESUME', 'nested-vmentry');
    },
    hardwareWalk: (cpu, va, frames, refs, leaf) => this.l0.hardwareWalk(cpu, va, frames, refs, leaf),
    storeTable: (frame, index) => this.l0.storeTable(frame, index),
    readGuestTables: (r) => this.l0.readGuestTables(r),
    tableRole: 'spt12',
  };

  // ---- the Mmu interface: L1's shadow MMU, seen through L0 ----------------------------

  get tlbControls(): PagingControls {
    return this.l1.tlbControls;
  }
  miss(cpu: Vcpu, va: number, acc: AccessKind, cpl: number): MissOutcome {
    return this.l1.miss(cpu, va, acc, cpl);
  }
  /** L2 stores into its page table: in L1 memory (L0 may have to map it), trapped by L1 if it write-protects the page. */
  guestWrite(gpa: number, bytes: number, lo: number, hi: number, level: number, va?: number): void {
    this.l0.l2Store(Math.floor(gpa / 4096), va);
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
  hostInvalidate(gfn: number): void {
    this.l0.hostInvalidate(gfn);
  }
  runDue(): void {
    this.l0.runDue?.();
  }
  traps(gfn: number): boolean {
    return this.l1.traps(gfn);
  }

  counters(): Record<string, number> {
    const out: Record<string, number> = { ...this.l1.counters(), ...this.l0.counters(), ...this.stats };
    for (const [handling, n] of this.l1Handled) out[`l1:${handling}`] = n;
    return out;
  }

  /** SPT12 (L1's shadow pages, in L1 memory, by the L1 frame that holds each) beside L0's tables. */
  tables(): MmuTable[] {
    const out: MmuTable[] = [];
    for (const sp of this.l1.pages.pages.values()) {
      const entries: Array<[number, bigint]> = [];
      for (let i = 0; i < 512; i++) if (sp.sptes[2 * i] || sp.sptes[2 * i + 1]) entries.push([i, pte64(sp.sptes[2 * i] as number, sp.sptes[2 * i + 1] as number)]);
      out.push({ id: sp.hostFrame, level: sp.level, role: 'spt12', gfn: sp.gfn, entries });
    }
    return [...out, ...this.l0.tables()];
  }

  /** L1's shadow invariants over SPT12 (core/shadow/auditor.ts: no entry grants more than L2's pte), then L0's. */
  audit(report: Report): void {
    this.l1.audit(report);
    this.l0.audit(report);
  }
}
