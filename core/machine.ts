/**
 * What every MMU design runs on, below the MMUs: guest memory and the guest OS, the vCPUs
 * with their clocks and TLBs, exit accounting, the mmu_lock, the memslots and event
 * emission. The MMUs (core/mmus.ts lists them) take a `Machine`; they never see the VM
 * loop of core/vm.ts, which builds on this class.
 */
import { costProfile, type CostProfile } from './costs.ts';
import type { EngineOptions } from './engineApi.ts';
import { Emitter, pte64 } from './emitter.ts';
import { svmNameOf } from './exitReasons.ts';
import { GuestOs, type Process } from './guestOs.ts';
import { GuestMemory, WalkResult, entryBytes, walk, type AccessKind, type AdHook, type PagingControls } from './paging.ts';
import { Memslots } from './mmio.ts';
import { Rng } from './rng.ts';
import type { Scenario, VmConfig } from './scenario.ts';
import { Tlb } from './tlb.ts';
import { WalkCaches } from './tdp/walkCaches.ts';

export type StopReason = 'running' | 'done' | 'max-events' | 'endless-fault-loop' | 'guest-crashed';

export class Vcpu {
  clock = 0;
  readonly tlb = new Tlb();
  proc: Process | null = null;
  cr3 = 0;
  /** PAE PDPTE registers (4 lo/hi pairs), loaded by MOV to CR3 (SDM 4.4.1). */
  readonly pdpte = new Uint32Array(8);
  done = false;
  program: Iterator<void> | null = null;
  readonly exitsByReason = new Map<string, number>();
  /** Paging-structure caches: what a TLB miss's walk can skip (cost only; core/tdp/walkCaches.ts). */
  readonly walkCaches = new WalkCaches();
  constructor(readonly id: number) {}
}

export abstract class Machine {
  readonly config: VmConfig;
  readonly cost: CostProfile;
  /** The guest's paging controls (CR0.WP, CR4.PSE/SMEP/SMAP, EFER.NXE); a script step may change them. */
  readonly ctl: PagingControls;
  readonly mem: GuestMemory;
  readonly os: GuestOs;
  readonly emitter = new Emitter();
  /** Memslots: which guest frames are RAM, the memslot generation and the MMIO counters (core/mmio.ts). */
  readonly mmio: Memslots;
  readonly rng: Rng;
  readonly cpus: Vcpu[];
  /** #PF error code of the last failed access, and the gpa of the last translated one. */
  faultCode = 0;
  lastGpa = 0;
  /** The last failed access was a #GP (a non-canonical address), not a #PF. */
  gp = false;
  /** Named counters (v86-style) that feed the breakdowns. */
  readonly stats = { tlbHit: 0, tlbMiss: 0, guestWalk: 0, shadowWalkRefs: 0 };
  protected cur: Vcpu;
  protected stop: StopReason = 'running';
  private readonly probeResult = new WalkResult();

  constructor(
    scenario: Scenario,
    readonly vm: number,
    options: EngineOptions = {},
  ) {
    const config = scenario.vms[vm];
    if (!config) throw new Error(`scenario has no vms[${vm}]`);
    this.config = config;
    this.cost = costProfile(scenario.hardware.profile, options.costScale);
    const g = config.guest;
    this.ctl = { mode: g.paging, wp: g.cr0.wp, pse: g.cr4.pse, smep: g.cr4.smep, smap: g.cr4.smap, nxe: g.efer.nx };
    this.mem = new GuestMemory(config.memoryMiB);
    this.mmio = new Memslots(this.mem.frames, config.mmu.mmioSptes);
    this.emitter.vm = vm;
    this.os = new GuestOs(this.mem, this.ctl, (gpa, level, lo, hi) => this.writeGuestEntry(gpa, level, lo, hi));
    this.rng = new Rng((scenario.seed + Math.imul(vm + 1, 0x9e3779b1)) >>> 0);
    this.cpus = Array.from({ length: config.vcpus }, (_, i) => new Vcpu(i));
    this.cur = this.cpus[0] as Vcpu;
  }

  /** The guest OS stores one of its paging-structure entries (where an MMU may trap it). */
  abstract writeGuestEntry(gpa: number, level: number, lo: number, hi: number, va?: number): void;

  get current(): Vcpu {
    return this.cur;
  }
  get stopped(): boolean {
    return this.stop !== 'running';
  }
  halt(reason: StopReason): void {
    this.stop = reason;
  }

  tick(ns: number): void {
    this.emitter.t += ns;
  }

  /**
   * Translate `va` for the current vCPU's address space as the hardware would, without
   * side effects (no A/D bits, no #PF, no TLB fill): for state queries and the auditors.
   */
  probe(va: number, acc: AccessKind, cpl: number, out: WalkResult = this.probeResult): boolean {
    return walk(this.mem, this.ctl, this.cur.cr3, this.cur.pdpte, va, acc, cpl, null, out);
  }

  /** A walk set an accessed or dirty bit in a guest entry: report it. MMUs that shadow the entry wrap this. */
  readonly adHook: AdHook = (level, gpa, oldLo, oldHi, newLo, newHi) => {
    this.emitter.emit({ type: 'gpte_write', level, gpa, old: pte64(oldLo, oldHi), new: pte64(newLo, newHi), cause: 'ad' });
  };

  /**
   * The guest's store of `bytes` bytes at `gpa` (value `lo`/`hi`, little-endian) into
   * paging structures, with no trap: report each entry it changed (whole entries, as the
   * guest reads them back) and charge the access. A whole aligned entry is the common case;
   * a script may write part of an entry or straddle two.
   */
  store(gpa: number, bytes: number, lo: number, hi: number, level: number): void {
    const size = entryBytes(this.ctl.mode);
    const first = gpa - (gpa % size);
    const last = gpa + bytes - 1 - ((gpa + bytes - 1) % size);
    const before: Array<[number, number]> = [];
    for (let e = first; e <= last; e += size) before.push(this.os.readEntry(e));
    const whole = bytes === size && gpa === first;
    if (whole) {
      this.mem.write32(gpa, lo);
      if (size === 8) this.mem.write32(gpa + 4, hi);
    } else {
      for (let b = 0; b < bytes; b++) writeByte(this.mem, gpa + b, (b < 4 ? lo >>> (8 * b) : hi >>> (8 * (b - 4))) & 0xff);
    }
    for (let e = first, k = 0; e <= last; e += size, k++) {
      const [oldLo, oldHi] = before[k] as [number, number];
      // a whole entry is reported as written (even where no RAM keeps it), a partial one as memory now holds it
      const [newLo, newHi] = whole ? [lo >>> 0, size === 8 ? hi >>> 0 : 0] : this.os.readEntry(e);
      // A store that changes nothing is invisible to the guest (it still traps if protected).
      if (oldLo !== newLo || oldHi !== newHi) this.emitter.emit({ type: 'gpte_write', level, gpa: e, old: pte64(oldLo, oldHi), new: pte64(newLo, newHi), cause: 'guest' });
    }
    this.tick(this.cost.accessNs);
  }

  // ---- exits and the mmu_lock --------------------------------------------------------

  beginExit(): number {
    const start = this.emitter.t;
    this.emitter.hold();
    this.tick(this.cost.exitEntryNs);
    return start;
  }

  /** A hypervisor entry that is not a VMX/SVM exit (a Xen hypercall or trap) starts here. */
  beginEntry(ns: number): number {
    const start = this.emitter.t;
    this.emitter.hold();
    this.tick(ns);
    return start;
  }

  endExit(start: number, reason: string, handling: string, va?: number, gpa?: number, on?: { table: number; level: number }): void {
    const body: Record<string, unknown> & { type: 'vmexit' } = { type: 'vmexit', reason, handling, duration: this.emitter.t - start };
    if (va !== undefined) body.va = va;
    if (gpa !== undefined) body.gpa = gpa;
    if (on) {
      body.table = on.table;
      body.level = on.level;
    }
    if (this.cost.name === 'npt-amd') body.reason = svmNameOf(reason); // the SVM names KVM prints (core/exitReasons.ts)
    this.emitter.release(body, start);
    const m = this.cur.exitsByReason;
    m.set(body.reason as string, (m.get(body.reason as string) ?? 0) + 1);
  }

  /**
   * Take the VM's mmu_lock for `holdNs`, waiting (and showing the wait) if another vCPU
   * holds it. A vCPU's step can run ahead of the others' clocks, so holds are kept as time
   * intervals: a vCPU gets the first gap at or after its own time, never waiting for a hold
   * that begins later than it asks.
   */
  lock(holdNs: number): void {
    const t = this.emitter.t;
    let at = t;
    if (this.cpus.length > 1) {
      this.pruneHolds();
      for (let i = 0; i < this.holds.length; i += 2) {
        const start = this.holds[i] as number;
        const end = this.holds[i + 1] as number;
        if (start < at + holdNs && end > at) at = end;
      }
    }
    if (at > t) {
      this.emitter.emit({ type: 'lock_wait', lock: 'mmu_lock', duration: at - t });
      this.tick(at - t);
    }
    this.tick(this.cost.lockNs);
    if (this.cpus.length > 1) this.insertHold(this.emitter.t, this.emitter.t + holdNs);
  }

  /** Lock holds as [start, end) pairs sorted by start. */
  private holds: number[] = [];

  private insertHold(start: number, end: number): void {
    let i = 0;
    while (i < this.holds.length && (this.holds[i] as number) < start) i += 2;
    this.holds.splice(i, 0, start, end);
  }

  /** Holds that ended before every vCPU's clock can never matter again. */
  private pruneHolds(): void {
    let min = Infinity;
    for (const c of this.cpus) if (!c.done && c !== this.cur && c.clock < min) min = c.clock;
    min = Math.min(min, this.emitter.t);
    let keep = 0;
    while (keep < this.holds.length && (this.holds[keep + 1] as number) <= min) keep += 2;
    if (keep) this.holds.splice(0, keep);
  }

  /**
   * Run `work` on `cpu`'s lane (host work that makes another vCPU exit, e.g. a kick): its events
   * carry that vCPU and start at `t` or the vCPU's own clock, whichever is later, and the vCPU's
   * clock moves on by what the work takes. The current lane is restored afterwards.
   */
  onVcpu(cpu: Vcpu, t: number, work: () => void): void {
    const cur = this.cur;
    const vcpu = this.emitter.vcpu;
    const now = this.emitter.t;
    this.cur = cpu;
    this.emitter.vcpu = cpu.id;
    this.emitter.t = Math.max(t, cpu.clock);
    try {
      work();
      cpu.clock = this.emitter.t;
    } finally {
      this.cur = cur;
      this.emitter.vcpu = vcpu;
      this.emitter.t = now;
    }
  }

  flushAllTlbs(reason: string): void {
    for (const c of this.cpus) c.tlb.flush(true);
    this.emitter.emit({ type: 'tlb_flush', scope: 'all', reason });
    if (this.cpus.length > 1) this.tick(this.cost.ipiNs);
  }

  /** INVLPG run natively (no exit): the hypervisor need not see it (seed 000). */
  nativeInvlpg(cpu: Vcpu, va: number): void {
    cpu.tlb.invlpg(va);
    this.tick(this.cost.accessNs * 20);
  }
}

/** Store one byte of guest memory (memory is kept as 32-bit words). */
function writeByte(mem: GuestMemory, gpa: number, value: number): void {
  const word = gpa - (gpa % 4);
  const shift = 8 * (gpa % 4);
  mem.write32(word, ((mem.read32(word) & ~(0xff << shift)) | (value << shift)) >>> 0);
}

export function hex(n: number): string {
  return '0x' + n.toString(16);
}
