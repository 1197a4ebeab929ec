/**
 * mmu_lock and the host's time, the contention model of the TDP MMU (seed 002) and of the
 * legacy one. Host work (dirty-log fetches, zaps, the race demonstrations) is queued as host
 * actions at a simulated time and runs between vCPU steps, on vCPU 0's lane; its time is the
 * host thread's, so it is never charged to a vCPU. Work that takes mmu_lock for write holds
 * it for as long as the sptes it writes take, and faults that ask meanwhile wait for the end.
 */
import type { Machine, Vcpu } from '../machine.ts';

interface HostAction {
  t: number;
  seq: number;
  run: () => void;
  /** A read-modify-write under mmu_lock: held from `from` until `t` (when it writes back). */
  from?: number;
}

export class MmuLock {
  private readonly actions: HostAction[] = [];
  private seq = 0;
  /** True while host work runs: its time is the host thread's, not a vCPU's. */
  private inHost = false;
  /** Host time of an exclusive hold besides its spte writes (the IPIs of PML kicks). */
  holdExtraNs = 0;
  /** sptes written so far (by anyone): what an exclusive holder's time is made of. */
  private spteWrites = 0;
  /** mmu_lock held exclusively by host work, as [start, end) pairs. */
  private readonly exclusive: number[] = [];

  constructor(
    private readonly vm: Machine,
    /** Faults take the lock shared (TDP MMU) rather than exclusive (legacy). */
    private readonly shared: boolean,
  ) {}

  /** Charge the current vCPU, unless this is host work. */
  charge(ns: number): void {
    if (!this.inHost) this.vm.tick(ns);
  }

  /** One spte written: an exclusive hold running now lasts that much longer. */
  countSpteWrite(): void {
    this.spteWrites++;
  }

  /** Run `work` as the host's (uncharged), e.g. host work aimed at a lockless fix's window. */
  asHost(work: () => void): void {
    this.inHost = true;
    try {
      work();
    } finally {
      this.inHost = false;
    }
  }

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
      this.asHost(a.run);
    }
  }

  get pendingHostWork(): boolean {
    return this.actions.length > 0;
  }

  /**
   * mmu_lock for a fault: shared under the TDP MMU (readers never wait for readers), else
   * exclusive. A host read-modify-write holds it exclusively for its window: a fault that
   * asks inside one waits for it to end and then sees its result (only the lockless fast
   * path can slip into the window, which is the seed's point).
   */
  acquire(holdNs: number): void {
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
      this.asHost(a.run);
    }
    if (this.shared) vm.tick(vm.cost.lockNs);
    else vm.lock(holdNs);
  }

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
   * meanwhile, shared or exclusive, wait (`acquire`); the lockless fast path does not.
   * Returns when the hold ends.
   */
  exclusively(work: () => void): number {
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
}
