/**
 * The one interface every MMU design implements (the lab's `struct kvm_mmu`): shadow
 * paging (core/shadow/), two-dimensional paging with the legacy or the TDP MMU (core/tdp/),
 * Xen PV direct paging (core/xenpv/), nested TDP (core/nested/) and nested shadow paging
 * (core/nestedshadow/: L1's shadow MMU on an L0 with or without EPT). The VM loop
 * (core/vm.ts) talks to its MMU only through this interface; core/mmus.ts picks the design
 * from the scenario. An MMU gets the `Machine` (core/machine.ts) and never the VM.
 */
import type { Process } from './guestOs.ts';
import type { Vcpu } from './machine.ts';
import type { AccessKind, PagingControls } from './paging.ts';

/** Outcome of a TLB miss: translated (TLB filled or emulated), a #PF for the guest, or try again (an spte was filled). */
export const MISS_OK = 0;
export const MISS_FAULT = 1;
export const MISS_RETRY = 2;
export type MissOutcome = typeof MISS_OK | typeof MISS_FAULT | typeof MISS_RETRY;

export type ControlRegister = 'cr0' | 'cr4' | 'efer';
/** The exit a write to a control register takes where it is intercepted. */
export function controlExitReason(register: ControlRegister): string {
  return register === 'efer' ? 'MSR_WRITE' : 'CR_ACCESS';
}

export type Report = (rule: string, detail: string) => void;

/** One table of the MMU's own state, as the page-table view shows it: present entries only. */
export interface MmuTable {
  /** The table's id in `spte_write.table` events. */
  id: number;
  level: number;
  /** What it is: a shadow page's role, an EPT level, a Xen page type. */
  role: string;
  /** Guest frame it shadows or maps from (shadow: the guest table; EPT: the first gfn). */
  gfn: number;
  entries: Array<[index: number, value: bigint]>;
}

export interface Mmu {
  /** The design, as `counters()` and the docs name it. */
  readonly kind: string;
  /**
   * The controls a TLB hit is checked against: the guest's, unless the CPU runs the guest
   * under other controls (shadow paging runs it with CR0.WP = 1, emulating WP = 0 in sptes).
   */
  readonly tlbControls: PagingControls;
  /** A TLB miss of `cpu` at `va`: the hardware walk and, on a fault, the exit that handles it. */
  miss(cpu: Vcpu, va: number, acc: AccessKind, cpl: number): MissOutcome;
  /**
   * The guest stores `bytes` bytes (`lo`/`hi`: the value, little-endian) at `gpa` inside
   * the entry of a paging structure of `level` (0: a frame being recycled). A whole entry
   * write is `bytes` = the entry size at an aligned `gpa`; a script may write fewer bytes
   * or straddle two entries. `va` is the address the kernel names, if any.
   */
  guestWrite(gpa: number, bytes: number, lo: number, hi: number, level: number, va?: number): void;
  /** INVLPG by the guest kernel. */
  invlpg(cpu: Vcpu, va: number): void;
  /** MOV to CR3 succeeded (cpu.cr3 and the PDPTE registers are loaded, the TLB flushed). */
  loadCr3(cpu: Vcpu): void;
  /**
   * CR0.WP, CR4.PSE/SMEP/SMAP or EFER.NXE changed on `cpu` (the machine's controls hold the
   * new values; the TLB is already flushed) by a write to `register` (MOV to CR0/CR4,
   * WRMSR to EFER).
   */
  controlsChanged(cpu: Vcpu, register: ControlRegister): void;
  /** Would a guest store into this frame trap (it is a write-protected, shadowed page table)? */
  traps(gfn: number): boolean;
  /** Check the design's invariants; report each broken one. */
  audit(report: Report): void;
  /** Named counters of the design. */
  counters(): Record<string, number>;
  /** The state the page-table view shows: the MMU's own tables. */
  tables(): MmuTable[];

  // optional hooks (a design that has nothing to do leaves them out)
  /** Host work due by simulated time `now` (run between vCPU steps). */
  runDue?(now: number): void;
  /** The memslots changed; the new generation is `generation`. */
  memslotsChanged?(generation: number): void;
  /** A device access that does not go through the paging path (a PV guest traps into the hypervisor). */
  deviceAccess?(cpu: Vcpu, va: number, acc: AccessKind, cpl: number): boolean;
  /** The guest OS enters / leaves lazy MMU mode (fork's copy loop). */
  enterLazy?(): void;
  leaveLazy?(): void;
  /** A new address space is ready (dup_mmap) / a process's address space is gone (exit_mmap). */
  addressSpaceCreated?(p: Process): void;
  addressSpaceReleased?(p: Process): void;
  /**
   * The guest takes #GP: a MOV to CR3 refused (a reserved bit in a PAE PDPTE; nothing changed)
   * or a non-canonical address. Only a design that sees the guest's #GP or CR3 loads acts.
   */
  generalProtection?(cpu: Vcpu, cause: 'cr3' | 'canonical', va?: number): void;
  /**
   * The host invalidates the host page behind guest frame `gfn` (mmu_notifier: reclaim, or
   * migration to another host frame): drop every spte that maps it.
   */
  hostInvalidate?(gfn: number, migrate: boolean): void;
  /** The host fetches (and on the first call enables) the dirty log: the script's `dirtyLog` step. Returns false if the design has none. */
  dirtyLog?(): boolean;
}
