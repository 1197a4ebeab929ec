/**
 * One simulated VM: the VM loop (which vCPU runs next, host work, the auditor) and the
 * guest access path, over the guest kernel's operations (core/kernel.ts), the machine
 * (core/machine.ts: memory, vCPUs, clocks, exits, mmu_lock) and one MMU design behind the
 * `Mmu` interface (core/mmu.ts, chosen by core/mmus.ts). Guest accesses go through
 * `access`, whose guest-visible outcome is the architectural one whatever the MMU; what
 * differs is the exits and their cost.
 */
import type { EngineOptions, VmRunner } from './engineApi.ts';
import type { EventSink } from './events.ts';
import { GuestKernel } from './kernel.ts';
import { hex, type Vcpu } from './machine.ts';
import { MISS_FAULT, MISS_OK, type Mmu } from './mmu.ts';
import { createMmu } from './mmus.ts';
import { ACCESS_WRITE, accessDenied, canonical, type AccessKind } from './paging.ts';
import type { Scenario } from './scenario.ts';
import { TLB_D, TLB_NX, TLB_U, TLB_W } from './tlb.ts';

export { Vcpu } from './machine.ts';

/** Consecutive shadow fills for one access before the engine calls it an endless loop. */
const LOOP_LIMIT = 16;

export class Vm extends GuestKernel implements VmRunner {
  /** The MMU design virtualizing this VM's memory. */
  readonly mmu: Mmu;

  constructor(
    scenario: Scenario,
    vm: number,
    private readonly options: EngineOptions = {},
  ) {
    super(scenario, vm, options);
    this.mmu = createMmu(this);
    this.os.onZero = (frame) => this.zeroFrame(frame);
  }

  get vcpus(): number {
    return this.cpus.length;
  }
  get finished(): boolean {
    return this.stop !== 'running';
  }
  get stopReason(): VmRunner['stopReason'] {
    return this.stop;
  }
  now(): number {
    let t = Infinity;
    for (const c of this.cpus) if (!c.done && c.clock < t) t = c.clock;
    return t === Infinity ? Math.max(...this.cpus.map((c) => c.clock)) : t;
  }

  /** Install each vCPU's program (done by the engine once workloads are known). */
  setPrograms(make: (vm: Vm, cpu: Vcpu) => Iterator<void>): void {
    for (const c of this.cpus) c.program = make(this, c);
  }

  step(sink: EventSink): boolean {
    if (this.stop !== 'running') return false;
    const cpu = this.earliest();
    this.emitter.sink = sink;
    if (!cpu) {
      this.mmu.runDue?.(Infinity); // host work left when the guest is done
      this.stop = 'done';
      return false;
    }
    this.mmu.runDue?.(cpu.clock); // host work due before this vCPU's next operation
    this.enter(cpu);
    const r = (cpu.program as Iterator<void>).next();
    cpu.clock = this.emitter.t;
    if (r.done) cpu.done = true;
    if (this.options.audit) this.mmu.audit((rule, detail) => this.emitter.emit({ type: 'audit_violation', rule, detail }));
    if (this.options.maxEvents !== undefined && this.emitter.count >= this.options.maxEvents && this.stop === 'running') this.stop = 'max-events';
    return this.stop === 'running';
  }

  private earliest(): Vcpu | undefined {
    let best: Vcpu | undefined;
    for (const c of this.cpus) if (!c.done && (!best || c.clock < best.clock)) best = c;
    return best;
  }

  private enter(cpu: Vcpu): void {
    this.cur = cpu;
    this.emitter.vcpu = cpu.id;
    this.emitter.t = cpu.clock;
  }

  counters(): { vm: Record<string, number>; exitsPerVcpu: Array<Record<string, number>> } {
    return { vm: { ...this.stats, ...this.mmu.counters(), ...this.mmio.stats }, exitsPerVcpu: this.exitStats() };
  }

  /** Exits per vCPU by reason (seed 000 made exit statistics per vCPU). */
  exitStats(): Array<Record<string, number>> {
    return this.cpus.map((c) => Object.fromEntries(c.exitsByReason));
  }

  // ---- the access path --------------------------------------------------------------

  /**
   * One guest access at `va`. True if it completed (`lastGpa` set); false if the guest
   * takes a #PF (`faultCode` set) or the VM stopped.
   */
  access(va: number, acc: AccessKind, cpl: number): boolean {
    const cpu = this.cur;
    this.gp = false;
    if (!canonical(this.ctl.mode, va)) return this.deliverGp(va);
    for (let attempt = 0; ; attempt++) {
      const e = cpu.tlb.lookup(va);
      if (e >= 0 && this.tlbAllows(cpu.tlb.rights(e), acc, cpl)) {
        this.stats.tlbHit++;
        this.tick(this.cost.accessNs);
        this.lastGpa = cpu.tlb.gpa(e, va);
        return true;
      }
      if (e >= 0) cpu.tlb.drop(e);
      this.stats.tlbMiss++;
      const res = this.mmu.miss(cpu, va, acc, cpl);
      if (res === MISS_OK) return true;
      if (res === MISS_FAULT) return this.deliverPf(va);
      if (attempt >= LOOP_LIMIT) return this.endlessLoop(va, acc);
    }
  }

  /** A device access (the `mmio` workload): through the paging path, unless the MMU traps devices itself. */
  deviceAccess(va: number, acc: AccessKind, cpl: number): boolean {
    return this.mmu.deviceAccess ? this.mmu.deviceAccess(this.cur, va, acc, cpl) : this.access(va, acc, cpl);
  }

  /** The host changes its memslots (e.g. a device BAR moves): every MMIO spte goes stale. */
  changeMemslots(): void {
    const generation = this.mmio.change();
    this.emitter.emit({ type: 'guest_os', action: 'memslot-change', pid: this.cur.proc?.pid ?? 0, detail: `memslot generation ${generation}` });
    this.mmu.memslotsChanged?.(generation);
  }

  private tlbAllows(bits: number, acc: AccessKind, cpl: number): boolean {
    if (acc === ACCESS_WRITE && !(bits & TLB_D)) return false; // a write to a clean page re-walks to set D
    return !accessDenied(this.mmu.tlbControls, acc, cpl, (bits & TLB_W) !== 0, (bits & TLB_U) !== 0, (bits & TLB_NX) !== 0);
  }

  private deliverGp(va: number): false {
    this.emitter.emit({ type: 'guest_os', action: 'gp', pid: this.cur.proc?.pid ?? 0, detail: `non-canonical address ${hex(va)}` });
    this.mmu.generalProtection?.(this.cur, 'canonical', va);
    this.faultCode = 0;
    this.gp = true;
    return false;
  }

  private deliverPf(va: number): false {
    this.emitter.emit({ type: 'guest_fault', va, errorCode: this.faultCode });
    return false;
  }

  private endlessLoop(va: number, acc: AccessKind): false {
    this.emitter.emit({ type: 'audit_violation', rule: 'endless-fault-loop', detail: `va ${hex(va)} ${['read', 'write', 'fetch'][acc]}: the shadow fault at this address was "fixed" ${LOOP_LIMIT} times and the guest made no progress` });
    this.halt('endless-fault-loop');
    this.faultCode = 0;
    return false;
  }
}
