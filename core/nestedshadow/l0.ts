/**
 * L0's side of a nested guest whose L1 hypervisor uses shadow paging (core/nestedshadow/):
 * how L0 holds L1's memory and runs L2 on L1's shadow tables SPT12. Two answers, chosen by
 * `mmu.mode`: with EPT, the CPU walks SPT12 through EPT01 (onEpt.ts, shadow-on-EPT); without,
 * L0 shadows SPT12 into SPT02 (onShadow.ts, shadow-on-shadow).
 */
import type { Vcpu } from '../machine.ts';
import type { MmuTable, Report } from '../mmu.ts';
import type { WalkResult } from '../paging.ts';

export interface L0ForShadowL1 {
  /** The design, as `counters()` and the docs name it. */
  readonly kind: string;
  /**
   * The CPU ran L2 at `va`: `frames` are SPT12's table pages on the way (L1 frames, root
   * first), of which the last `refs` were read (the rest came from the paging-structure
   * caches), and `leaf` the L1 frame the access reaches (-1: SPT12 stops or refuses it). Charge
   * the walk; false if it met an exit L0 handled alone (the access is retried).
   */
  hardwareWalk(cpu: Vcpu, va: number, frames: readonly number[], refs: number, leaf: number): boolean;
  /** L1 stores into its SPT12 page at L1 frame `frame` (entry `index`; none: it clears a new page). */
  storeTable(frame: number, index?: number): void;
  /** L1's software walk of L2's tables read these entries. */
  readGuestTables(r: WalkResult): void;
  /** L2 stores into its page table at its frame `gfn` (before L1's write protection is applied). */
  l2Store(gfn: number, va?: number): void;
  /** L0 emulates L1's VMRESUME into L2 on `cpu` (the nested VM entry loads L2's CR3: SPT12's roots). */
  vmentry(cpu: Vcpu): void;
  /** The host reclaims the page behind L2 frame `gfn`. */
  hostInvalidate(gfn: number): void;
  /** First step: events of what L0 set up before the scenario began. */
  runDue?(): void;
  tables(): MmuTable[];
  audit(report: Report): void;
  counters(): Record<string, number>;
}
