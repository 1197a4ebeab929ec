/**
 * Two-dimensional paging (EPT/NPT) as one `Mmu` (core/mmu.ts): the guest owns its page
 * tables, so guest #PFs, CR3 loads, invlpg and page-table stores run without exits; the
 * mechanism (EPT tables, dirty logging, the legacy and the TDP MMU) is tdpMmu.ts and its parts.
 */
import { pte64 } from '../emitter.ts';
import type { Machine, Vcpu } from '../machine.ts';
import { MISS_FAULT, MISS_OK, controlExitReason, type ControlRegister, type MissOutcome, type Mmu, type MmuTable, type Report } from '../mmu.ts';
import type { AccessKind, PagingControls } from '../paging.ts';
import { auditTdp } from './auditor.ts';
import { HostWork } from './hostWork.ts';
import { TdpMmu } from './tdpMmu.ts';

export class Tdp implements Mmu {
  readonly kind = 'tdp';
  readonly tdp: TdpMmu;
  /** The host's side of the dirty-log benchmark and of the race demonstrations (hostWork.ts). */
  readonly host: HostWork;

  constructor(private readonly m: Machine) {
    const bugs = m.config.bugs;
    this.tdp = new TdpMmu(m, { ...m.config.mmu.tdp, bugs: { aba: bugs.fastPfAba === true, lostDirty: bugs.fastPfLostDirty === true, missedFlush: bugs.fastPfMissedFlush === true, flushOverwrite: bugs.fastPfFlushOverwrite === true } });
    this.host = new HostWork(this.tdp);
  }

  get tlbControls(): PagingControls {
    return this.m.ctl;
  }
  miss(cpu: Vcpu, va: number, acc: AccessKind, cpl: number): MissOutcome {
    return this.tdp.miss(cpu, va, acc, cpl) ? MISS_OK : MISS_FAULT;
  }
  /** Under TDP a store into a page table is a store through the EPT like any other. */
  guestWrite(gpa: number, bytes: number, lo: number, hi: number, level: number, va?: number): void {
    this.tdp.guestStore(Math.floor(gpa / 4096), va);
    this.m.store(gpa, bytes, lo, hi, level);
  }
  invlpg(cpu: Vcpu, va: number): void {
    this.m.nativeInvlpg(cpu, va);
  }
  loadCr3(): void {
    /* the guest's own CR3: no exit */
  }
  /** The guest's controls apply to its own walk; EPT entries do not depend on them. */
  controlsChanged(_cpu: Vcpu, register: ControlRegister): void {
    tdpControlsExit(this.m, register);
  }
  traps(): boolean {
    return false;
  }
  audit(report: Report): void {
    auditTdp(this.m, this.tdp, report);
  }
  counters(): Record<string, number> {
    return { ...this.tdp.stats, eptTablesInUse: this.tdp.tables.size };
  }
  tables(): MmuTable[] {
    const out: MmuTable[] = [];
    for (const t of this.tdp.tables.values()) {
      const entries: Array<[number, bigint]> = [];
      for (let i = 0; i < 512; i++) if (t.sptes[2 * i] || t.sptes[2 * i + 1]) entries.push([i, pte64(t.sptes[2 * i] as number, t.sptes[2 * i + 1] as number)]);
      out.push({ id: t.id, level: t.level, role: `ept l${t.level}`, gfn: t.baseGfn, entries });
    }
    return out;
  }
  runDue(now: number): void {
    this.tdp.runDue(now);
  }
  memslotsChanged(generation: number): void {
    this.tdp.wrapMmioGeneration(generation);
  }
  hostInvalidate(gfn: number, migrate: boolean): void {
    this.tdp.hostInvalidate(gfn, migrate);
  }
  dirtyLog(): boolean {
    // The host fetches and clears the log (the first fetch turns logging on).
    if (!this.tdp.logging) this.tdp.enableDirtyLog();
    else this.tdp.fetchDirtyLog();
    return true;
  }
}

/** The TDP mechanism of a VM's MMU, if it is TDP (for workloads and tests that drive it). */
export function tdpOf(vm: { readonly mmu: Mmu }): TdpMmu | null {
  return vm.mmu instanceof Tdp ? vm.mmu.tdp : null;
}

/** The host work driving a TDP VM (the dirty-log benchmark, the race demonstrations), if it is TDP. */
export function hostWorkOf(vm: { readonly mmu: Mmu }): HostWork | null {
  return vm.mmu instanceof Tdp ? vm.mmu.host : null;
}

/**
 * A control-register write under two-dimensional paging: KVM intercepts the role bits of CR4
 * (PSE, SMEP, SMAP) and EFER and resets the guest walker's role; the EPT tables do not
 * depend on them. CR0.WP is guest-owned under EPT (no exit).
 */
export function tdpControlsExit(m: Machine, register: ControlRegister): void {
  if (register === 'cr0') return;
  const start = m.beginExit();
  m.tick(m.cost.emulateNs);
  m.endExit(start, controlExitReason(register), 'mmu-role-change');
}
