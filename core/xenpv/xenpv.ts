/**
 * Xen PV direct paging (seed 003), rebuilt from its description: the guest's own page
 * tables are the ones the CPU walks, so there is no shadow layer and no exit on a TLB
 * miss. In exchange Xen must control every entry the guest puts into them:
 *
 * - Page tables are read-only to the guest. A store into one is a request to Xen
 *   (`mmu_update`, or `update_va_mapping` when the kernel names the virtual address), which
 *   Xen validates before it writes the entry.
 * - Validation is Xen's page-type system (pageTypes.ts): type references on tables, writable
 *   references on leaf frames, a table validated entry by entry when it first gets a type.
 * - pfn → mfn: the guest thinks in pseudo-physical frames; the entries Xen writes hold
 *   machine frames (`spte_write` carries that machine form). The lab keeps guest memory in
 *   pfns so the guest reads back what it wrote (as Linux's pte_val translates back); since
 *   the p2m is a bijection the walk through pfns is the walk through mfns.
 * - Pinning (`mmu.xenpv.pinning`): a pinned table keeps its type reference while no CR3
 *   points at it, so loading it into CR3 needs no revalidation. Unpinned, every CR3 load
 *   of a table no vCPU uses validates the whole tree again, and switching away releases it.
 * - Batching (`mmu.xenpv.batching`): in lazy MMU mode (fork's copy loop) updates queue in a
 *   multicall buffer and go to Xen `batchSize` at a time: one `hypercall:multicall` each.
 * - Every guest #PF enters Xen first (`trap:page_fault`), which bounces it to the guest.
 *
 * Xen accepts an entry with reserved bits set without taking references (the CPU never
 * follows it and faults with RSVD), so such entries behave as under shadow paging and TDP.
 */
import type { CostProfile } from '../costs.ts';
import { pte64 } from '../emitter.ts';
import { xenHypercall, xenTrap } from '../exitReasons.ts';
import type { Process } from '../guestOs.ts';
import { PTE_P, WalkResult, entryAddress, entryBytes, topLevel, walk, type AccessKind, type PagingControls } from '../paging.ts';
import { TLB_D, TLB_G, TLB_NX, TLB_U, TLB_W } from '../tlb.ts';
import { hex, type Machine, type Vcpu } from '../machine.ts';
import type { MissOutcome, Mmu, MmuTable, Report } from '../mmu.ts';
import { auditXen } from './auditor.ts';
import { sameRef, type EntryRef } from './entryRef.ts';
import { PageTypes } from './pageTypes.ts';

export interface XenOptions {
  pinning: boolean;
  batching: boolean;
  batchSize: number;
}

/**
 * What Xen PV work costs, on top of the profile's figures. All are estimates (no single
 * public figure), kept in proportion with the profile: a hypercall is a ring transition
 * into Xen and back like a system call, cheaper than a VMX round trip [Barham et al.,
 * "Xen and the Art of Virtualization", SOSP 2003: PV page faults and fork cost a small
 * factor over native]; validating one entry is a read, a type check and a reference count.
 */
export interface XenCosts {
  readonly hypercallNs: number;
  readonly trapNs: number;
  /** Copying and decoding one request of a batched hypercall. */
  readonly requestNs: number;
  readonly validateEntryNs: number;
}

export function xenCosts(c: CostProfile): XenCosts {
  return { hypercallNs: c.hypercallNs, trapNs: c.trapBounceNs, requestNs: c.batchRequestNs, validateEntryNs: c.validateEntryNs };
}

/** Machine frame of pfn 0 of VM `vm` (the lab's p2m: mfn = pfn + base, 1 GiB aligned so large pages stay aligned). */
export function xenMachineBase(vm: number): number {
  return 0x400000 + vm * 0x100000;
}

type SpteBody = { type: 'spte_write'; level: number; table: number; index: number; old: bigint; new: bigint };

export class XenPv implements Mmu {
  readonly kind = 'xenpv';
  readonly pinned: Uint8Array;
  /** The root each vCPU's CR3 holds a type reference on, or -1. */
  readonly cr3Root: Int32Array;
  /** Machine frame of pfn 0: mfn = pfn + base (1 GiB aligned, so large pages stay aligned). */
  readonly base: number;
  readonly costs: XenCosts;
  readonly stats = {
    hypercalls: 0, mmuUpdateRequests: 0, multicalls: 0, traps: 0, pins: 0, unpins: 0,
    fullValidations: 0, validatedEntries: 0, releasedEntries: 0, validationNs: 0, rejected: 0,
  };
  readonly frames: number;
  private readonly queue: SpteBody[] = [];
  private lazy = false;
  private readonly r = new WalkResult();
  /** Xen's page types and references (pageTypes.ts); its `work` is charged to the current hypercall. */
  private readonly types: PageTypes;

  private readonly opts: XenOptions;

  constructor(private readonly vm: Machine) {
    this.opts = vm.config.mmu.xenpv;
    this.types = new PageTypes(vm, this.stats, {
      typed: (frame, level) => {
        this.flushStaleWritable(frame);
        this.reportTable(frame, level, true);
      },
      released: (frame, level) => {
        this.reportTable(frame, level, false);
        // the frame is ordinary memory again: its (now empty) validated table is gone
        this.vm.emitter.emit({ type: 'shadow_page', action: 'free', table: this.mfn(frame), level, gfn: frame });
      },
    });
    this.frames = this.types.frames;
    this.pinned = new Uint8Array(this.frames);
    this.cr3Root = new Int32Array(vm.config.vcpus).fill(-1);
    this.base = xenMachineBase(vm.vm);
    this.costs = xenCosts(vm.cost);
  }

  /** pfn → mfn (the domain's p2m). */
  mfn(pfn: number): number {
    return pfn + this.base;
  }

  // ---- the page-type system's state (pageTypes.ts), as the auditor and tests read it ----

  /** Page type of each guest frame: 0 none, n = page table of level n. */
  get type(): Uint8Array {
    return this.types.type;
  }
  get typeCount(): Int32Array {
    return this.types.typeCount;
  }
  /** Writable leaf mappings of each frame from validated tables. */
  get writable(): Int32Array {
    return this.types.writable;
  }
  /** Frames that currently have a page type. */
  get typed(): ReadonlySet<number> {
    return this.types.typed;
  }
  isPageTable(frame: number): boolean {
    return this.types.isPageTable(frame);
  }
  refOf(level: number, lo: number, hi: number): EntryRef | null {
    return this.types.refOf(level, lo, hi);
  }
  entries(level: number): number {
    return this.types.entries(level);
  }

  // ---- hypercalls ---------------------------------------------------------------------

  private begin(): number {
    const start = this.vm.emitter.t;
    this.vm.emitter.hold();
    this.vm.tick(this.costs.hypercallNs);
    this.stats.hypercalls++;
    this.types.work = 0;
    return start;
  }

  private end(start: number, name: string, handling: string, va?: number, gpa?: number, on?: { table: number; level: number }): void {
    const ns = this.types.work * this.costs.validateEntryNs;
    this.stats.validationNs += ns;
    this.vm.tick(ns);
    this.types.work = 0;
    this.vm.endExit(start, xenHypercall(name), handling, va, gpa, on);
  }

  /** What a pin or unpin names (MMUEXT_PIN_Ln_TABLE's mfn and n): the root's machine frame, the id its spte_writes carry. */
  private rootRef(root: number): { table: number; level: number } {
    return { table: this.mfn(root), level: topLevel(this.vm.ctl.mode) };
  }

  /** Lazy MMU mode (fork's copy loop): with batching, updates queue until the batch is full or the mode ends. */
  enterLazy(): void {
    this.lazy = this.opts.batching;
  }
  leaveLazy(): void {
    this.flush();
    this.lazy = false;
  }

  /** Send the queued updates as one multicall; they were validated in order as they were queued. */
  private flush(): void {
    if (!this.queue.length) return;
    const n = this.queue.length;
    const work = this.types.work;
    const start = this.begin();
    this.types.work = work;
    this.stats.multicalls++;
    this.vm.tick(n * this.costs.requestNs);
    for (const body of this.queue) this.vm.emitter.emit(body);
    this.queue.length = 0;
    this.end(start, 'multicall', 'validate-pte');
  }

  // ---- guest page-table writes ----------------------------------------------------------

  /**
   * The guest OS stores one paging-structure entry. Into an ordinary frame that is a plain
   * store; into a page table (read-only to the guest) it is a request Xen validates.
   */
  guestWrite(gpa: number, bytes: number, lo: number, hi: number, level: number, va?: number): void {
    const size = entryBytes(this.vm.ctl.mode);
    if (bytes === size && gpa % size === 0) return this.entryWrite(gpa, level, lo, hi, va);
    this.partialWrite(gpa, bytes, lo, hi, level, va);
  }

  /**
   * A store of part of an entry. Into an ordinary frame it is a plain store. Into a page
   * table Xen's write emulation (ptwr) takes only a naturally aligned store inside one
   * entry: it merges it with the rest of the entry and validates the whole entry as an
   * `mmu_update`. Any other store to a read-only page table is refused (the guest's #PF).
   */
  private partialWrite(gpa: number, bytes: number, lo: number, hi: number, level: number, va?: number): void {
    const vm = this.vm;
    const frame = Math.floor(gpa / 4096);
    if (!this.isPageTable(frame)) return vm.store(gpa, bytes, lo, hi, level);
    const size = entryBytes(vm.ctl.mode);
    const at = gpa - (gpa % size);
    if (gpa % bytes !== 0 || gpa + bytes > at + size) {
      // ptwr refuses it: the store faults on the read-only page and Xen bounces the #PF to the guest
      this.flush();
      this.stats.rejected++;
      this.stats.traps++;
      vm.emitter.emit({ type: 'guest_os', action: 'xen-reject', pid: vm.current.proc?.pid ?? 0, detail: `a ${bytes}-byte store at gpa 0x${gpa.toString(16)} is not naturally aligned inside one entry: write emulation refused it` });
      const start = vm.beginEntry(this.costs.trapNs);
      vm.endExit(start, xenTrap('page_fault'), 'reject-update', va, gpa);
      return;
    }
    const [oldLo, oldHi] = vm.os.readEntry(at);
    const bytesOf = (l: number, h: number): number[] => Array.from({ length: 8 }, (_, b) => (b < 4 ? l >>> (8 * b) : h >>> (8 * (b - 4))) & 0xff);
    const merged = bytesOf(oldLo, oldHi);
    const value = bytesOf(lo, hi);
    for (let b = 0; b < bytes; b++) merged[(gpa - at) + b] = value[b] as number;
    const word = (k: number): number => ((merged[k] as number) | ((merged[k + 1] as number) << 8) | ((merged[k + 2] as number) << 16) | ((merged[k + 3] as number) << 24)) >>> 0;
    this.entryWrite(at, level, word(0), size === 8 ? word(4) : 0, va);
  }

  /** One whole entry stored by the guest: a plain store, or a validated request into a page table. */
  private entryWrite(gpa: number, level: number, lo: number, hi: number, va?: number): void {
    const vm = this.vm;
    const frame = Math.floor(gpa / 4096);
    const [oldLo, oldHi] = vm.os.readEntry(gpa);
    if (!this.isPageTable(frame)) {
      this.store(gpa, level, oldLo, oldHi, lo, hi);
      return;
    }
    const tableLevel = this.types.type[frame] as number;
    const index = Math.floor((gpa % 4096) / entryBytes(vm.ctl.mode));
    this.stats.mmuUpdateRequests++;
    const name = va !== undefined ? 'update_va_mapping' : 'mmu_update';
    if (this.lazy) {
      if (this.retarget(tableLevel, oldLo, oldHi, lo, hi)) {
        this.store(gpa, level, oldLo, oldHi, lo, hi);
        this.queue.push(this.machineWrite(frame, tableLevel, index, oldLo, oldHi, lo, hi));
        if (this.queue.length >= this.opts.batchSize) this.flush();
        return;
      }
      // refused inside a batch: what was queued goes first, then the failing request alone
      this.flush();
      this.reject(this.begin(), name, gpa, va);
      return;
    }
    const start = this.begin();
    if (!this.retarget(tableLevel, oldLo, oldHi, lo, hi)) {
      this.reject(start, name, gpa, va);
      return;
    }
    this.store(gpa, level, oldLo, oldHi, lo, hi);
    vm.emitter.emit(this.machineWrite(frame, tableLevel, index, oldLo, oldHi, lo, hi));
    this.end(start, name, 'validate-pte', va, gpa);
  }

  private reject(start: number, name: string, gpa: number, va?: number): void {
    this.stats.rejected++;
    const pid = this.vm.current.proc?.pid ?? 0;
    this.vm.emitter.emit({ type: 'guest_os', action: 'xen-reject', pid, detail: `${name} at gpa 0x${gpa.toString(16)} refused: ${this.types.why}` });
    this.end(start, name, 'reject-update', va, gpa);
  }

  /** Write the entry into guest memory and report it as the guest sees it (pfn form). */
  private store(gpa: number, level: number, oldLo: number, oldHi: number, lo: number, hi: number): void {
    const vm = this.vm;
    vm.mem.write32(gpa, lo);
    if (entryBytes(vm.ctl.mode) === 8) vm.mem.write32(gpa + 4, hi);
    if (oldLo !== lo >>> 0 || oldHi !== hi >>> 0) vm.emitter.emit({ type: 'gpte_write', level, gpa, old: pte64(oldLo, oldHi), new: pte64(lo, hi), cause: 'guest' });
    vm.tick(vm.cost.accessNs);
  }

  /** The entry as Xen writes it: the frame field holds the machine frame. */
  private machineWrite(frame: number, level: number, index: number, oldLo: number, oldHi: number, lo: number, hi: number): SpteBody {
    return { type: 'spte_write', level, table: this.mfn(frame), index, old: this.machine(level, oldLo, oldHi), new: this.machine(level, lo, hi) };
  }

  private machine(level: number, lo: number, hi: number): bigint {
    if (!(lo & PTE_P)) return pte64(lo, hi);
    const ref = this.refOf(level, lo, hi);
    const flags = pte64(lo & 0xfff, hi & 0xfff00000);
    const frame = ref ? ref.frame : Math.floor(entryAddress(lo, this.vm.ctl.mode === 'nonpae' ? 0 : hi, 12) / 4096);
    return flags | (BigInt(this.mfn(frame)) << 12n);
  }

  /** Replace what an entry references: take the new references first, then drop the old. */
  private retarget(level: number, oldLo: number, oldHi: number, lo: number, hi: number): boolean {
    const before = this.refOf(level, oldLo, oldHi);
    const after = this.refOf(level, lo, hi);
    if (sameRef(before, after)) return true; // only bits Xen keeps no references for changed
    if (after && !this.types.getRef(after)) return false;
    if (before) this.types.putRef(before);
    return true;
  }

  /**
   * A table just validated (or released) in place: its present entries become (cease to be)
   * Xen-validated entries, reported as spte_writes from (to) 0 in machine form, so a session's
   * Xen tables are always the frames Xen has typed, whether their entries came through Xen or
   * were already there when the table was pinned or loaded (a released one is then `free`d).
   */
  private reportTable(frame: number, level: number, typed: boolean): void {
    const bytes = entryBytes(this.vm.ctl.mode);
    for (let i = 0, n = this.entries(level); i < n; i++) {
      const [lo, hi] = this.vm.os.readEntry(frame * 4096 + i * bytes);
      if (!lo && !hi) continue;
      const value = this.machine(level, lo, hi);
      this.vm.emitter.emit({ type: 'spte_write', level, table: this.mfn(frame), index: i, old: typed ? 0n : value, new: typed ? value : 0n });
    }
  }

  /** A frame turning into a page table must not stay writable in any TLB (Xen flushes on a type change). */
  private flushStaleWritable(frame: number): void {
    let stale = false;
    for (const c of this.vm.cpus) c.tlb.writableFrames((f) => {
      if (f === frame) stale = true;
    });
    if (!stale) return;
    for (const c of this.vm.cpus) c.tlb.flush(true);
    this.vm.emitter.emit({ type: 'tlb_flush', scope: 'all', reason: 'xen-type-change' });
  }

  // ---- address spaces -----------------------------------------------------------------

  private rootOf(p: Process): number {
    return Math.floor(p.cr3 / 4096);
  }

  /** MMUEXT_PIN_Ln_TABLE: validate the tree now and keep it validated while unused (seed 003). */
  addressSpaceCreated(p: Process): void {
    this.pin(p); // dup_mmap pins the new address space (seed 003)
  }

  pin(p: Process): void {
    const root = this.rootOf(p);
    if (!this.opts.pinning || this.pinned[root]) return;
    this.flush();
    const start = this.begin();
    this.stats.pins++;
    const fresh = !this.isPageTable(root);
    if (this.types.getType(root, topLevel(this.vm.ctl.mode))) {
      this.pinned[root] = 1;
      if (fresh) this.stats.fullValidations++;
      this.end(start, 'mmuext_op', 'pin', undefined, root * 4096, this.rootRef(root));
      return;
    }
    this.crash(start, `pin of table ${hex(root)} refused: ${this.types.why}`);
  }

  /** The process is gone (exit_mmap): unpin its tables so they become ordinary memory again. */
  addressSpaceReleased(p: Process): void {
    const root = this.rootOf(p);
    if (!this.pinned[root]) return;
    this.flush();
    const start = this.begin();
    this.stats.unpins++;
    this.pinned[root] = 0;
    this.types.putType(root);
    this.end(start, 'mmuext_op', 'unpin', undefined, root * 4096, this.rootRef(root));
  }

  /** MOV to CR3 is MMUEXT_NEW_BASEPTR: the new root gets a type reference (validated unless already typed). */
  loadCr3(cpu: Vcpu): void {
    const p = cpu.proc;
    if (p && this.opts.pinning) this.pin(p); // activate_mm pins a fresh address space (seed 003)
    this.flush();
    const root = Math.floor(cpu.cr3 / 4096);
    const start = this.begin();
    const fresh = !this.isPageTable(root);
    if (!this.types.getType(root, topLevel(this.vm.ctl.mode))) {
      this.crash(start, `new base pointer ${hex(root)} refused: ${this.types.why}`);
      return;
    }
    if (fresh) this.stats.fullValidations++;
    const old = this.cr3Root[cpu.id] as number;
    this.cr3Root[cpu.id] = root;
    if (old >= 0) this.types.putType(old);
    this.end(start, 'mmuext_op', 'cr3-switch');
  }

  /** Xen refused a table the guest needs: a PV kernel BUG()s here; the lab stops the VM. */
  private crash(start: number, detail: string): void {
    this.stats.rejected++;
    this.vm.emitter.emit({ type: 'guest_os', action: 'xen-reject', pid: this.vm.current.proc?.pid ?? 0, detail });
    this.end(start, 'mmuext_op', 'reject-update');
    this.vm.halt('guest-crashed');
  }

  /** INVLPG is privileged for a PV kernel: MMUEXT_INVLPG_LOCAL. */
  invlpg(cpu: Vcpu, va: number): void {
    this.flush();
    const start = this.begin();
    cpu.tlb.invlpg(va);
    this.end(start, 'mmuext_op', 'invlpg', va);
  }

  // ---- the access path ------------------------------------------------------------------

  /**
   * A TLB miss: the CPU walks the guest's own tables (a 1D walk, A/D set in them directly).
   * A refused access traps into Xen, which bounces the #PF to the guest kernel.
   * Returns 0 (translated) or 1 (#PF for the guest), as `Vm.access` expects.
   */
  miss(cpu: Vcpu, va: number, acc: AccessKind, cpl: number): MissOutcome {
    const vm = this.vm;
    const r = this.r;
    vm.stats.guestWalk++;
    const ok = walk(vm.mem, vm.ctl, cpu.cr3, cpu.pdpte, va, acc, cpl, vm.adHook, r);
    vm.tick(r.refs * vm.cost.walkRefNs);
    if (!ok) {
      vm.faultCode = r.errorCode;
      this.flush();
      const start = vm.emitter.t;
      vm.emitter.hold();
      vm.tick(this.costs.trapNs);
      this.stats.traps++;
      vm.endExit(start, xenTrap('page_fault'), 'inject-guest-pf', va);
      return 1;
    }
    cpu.tlb.fill(va, r.gpa, (r.writable ? TLB_W : 0) | (r.user ? TLB_U : 0) | (r.nx ? TLB_NX : 0) | (r.dirty ? TLB_D : 0) | (r.global ? TLB_G : 0), r.pageShift);
    vm.lastGpa = r.gpa;
    return 0;
  }

  // ---- the rest of the Mmu interface ------------------------------------------------------

  /** The CPU walks the guest's own tables under the guest's own controls. */
  get tlbControls(): PagingControls {
    return this.vm.ctl;
  }
  /** Page tables are read-only to the guest: every store into one is a request to Xen. */
  traps(gfn: number): boolean {
    return this.isPageTable(gfn);
  }
  /**
   * Every exception of a PV guest enters Xen first: a #GP is bounced to the guest kernel
   * (`trap:general_protection`). A new base pointer whose PDPT has a reserved bit is refused
   * before anything changes (the guest's CR3 stays).
   */
  generalProtection(_cpu: Vcpu, cause: 'cr3' | 'canonical', va?: number): void {
    const vm = this.vm;
    this.flush();
    if (cause === 'cr3') {
      const start = this.begin();
      this.stats.rejected++;
      this.end(start, 'mmuext_op', 'reject-update');
      return;
    }
    const start = vm.beginEntry(this.costs.trapNs);
    this.stats.traps++;
    vm.endExit(start, xenTrap('general_protection'), 'inject-gp', va);
  }

  /**
   * A PV kernel's write to CR0/CR4 or EFER is a privileged instruction: it traps into Xen,
   * which emulates it. Nothing Xen caches depends on these bits (the CPU walks the guest's
   * own tables).
   */
  controlsChanged(): void {
    const vm = this.vm;
    this.flush();
    const start = vm.beginEntry(this.costs.trapNs);
    this.stats.traps++;
    vm.tick(vm.cost.emulateNs);
    vm.endExit(start, xenTrap('general_protection'), 'mmu-role-change');
  }
  /** A PV guest's access to an emulated device traps (#GP) into Xen, which emulates it. */
  deviceAccess(_cpu: Vcpu, va: number): boolean {
    const vm = this.vm;
    const start = vm.beginEntry(this.costs.trapNs);
    vm.tick(vm.cost.emulateNs);
    vm.mmio.stats.mmioSlow++;
    vm.endExit(start, xenTrap('general_protection'), 'mmio-emulate', va);
    return true;
  }
  counters(): Record<string, number> {
    return { ...this.stats };
  }
  /** The guest's own tables, as Xen has typed them (entries in machine form). */
  tables(): MmuTable[] {
    const out: MmuTable[] = [];
    const bytes = entryBytes(this.vm.ctl.mode);
    for (const f of [...this.types.typed].sort((a, b) => a - b)) {
      const level = this.types.type[f] as number;
      const entries: Array<[number, bigint]> = [];
      for (let i = 0, n = this.entries(level); i < n; i++) {
        const [lo, hi] = this.vm.os.readEntry(f * 4096 + i * bytes);
        if (lo || hi) entries.push([i, this.machine(level, lo, hi)]);
      }
      out.push({ id: this.mfn(f), level, role: `L${level} page table${this.pinned[f] ? ' pinned' : ''}`, gfn: f, entries });
    }
    return out;
  }

  /** Recount every reference from scratch and compare (auditor.ts). */
  audit(report: Report): void {
    auditXen(this.vm, this, report);
  }
}
