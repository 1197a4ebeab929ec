/**
 * Xen PV direct paging (seed 003), rebuilt from its description: the guest's own page
 * tables are the ones the CPU walks, so there is no shadow layer and no exit on a TLB
 * miss. In exchange Xen must control every entry the guest puts into them:
 *
 * - Page tables are read-only to the guest. A store into one is a request to Xen
 *   (`mmu_update`, or `update_va_mapping` when the kernel names the virtual address), which
 *   Xen validates before it writes the entry.
 * - Validation is Xen's page-type system: every frame has a type (none, or "page table of
 *   level n") and a type reference count. Linking a table takes a type reference on it; a
 *   frame whose count goes 0 → 1 is validated entry by entry (each entry taking its own
 *   references), and 1 → 0 releases them again. A writable leaf mapping takes a "writable"
 *   reference on its frame; a frame that is a page table cannot be mapped writable, and a
 *   frame mapped writable cannot become a page table.
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
import {
  PTE_P, PTE_W, WalkResult, entryAddress, entryBytes, isLeaf, reservedSet, topLevel, walk, type AccessKind, type PagingControls,
} from '../paging.ts';
import { TLB_D, TLB_G, TLB_NX, TLB_U, TLB_W } from '../tlb.ts';
import type { Machine, Vcpu } from '../machine.ts';
import type { MissOutcome, Mmu, MmuTable, Report } from '../mmu.ts';
import { auditXen } from './auditor.ts';
import { sameRef, type EntryRef } from './entryRef.ts';

const TWO32 = 4294967296;

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
  /** Page type of each guest frame: 0 none, n = page table of level n. */
  readonly type: Uint8Array;
  readonly typeCount: Int32Array;
  /** Writable leaf mappings of each frame from validated tables. */
  readonly writable: Int32Array;
  readonly pinned: Uint8Array;
  /** Frames that currently have a page type (for the auditor). */
  readonly typed = new Set<number>();
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
  /** Entries validated or released since the current hypercall began (charged to it). */
  private work = 0;
  private why = '';
  private readonly r = new WalkResult();

  private readonly opts: XenOptions;

  constructor(private readonly vm: Machine) {
    this.opts = vm.config.mmu.xenpv;
    this.frames = vm.mem.frames;
    this.type = new Uint8Array(this.frames);
    this.typeCount = new Int32Array(this.frames);
    this.writable = new Int32Array(this.frames);
    this.pinned = new Uint8Array(this.frames);
    this.cr3Root = new Int32Array(vm.config.vcpus).fill(-1);
    this.base = xenMachineBase(vm.vm);
    this.costs = xenCosts(vm.cost);
  }

  /** pfn → mfn (the domain's p2m). */
  mfn(pfn: number): number {
    return pfn + this.base;
  }

  isPageTable(frame: number): boolean {
    return frame < this.frames && (this.typeCount[frame] as number) > 0;
  }

  // ---- hypercalls ---------------------------------------------------------------------

  private begin(): number {
    const start = this.vm.emitter.t;
    this.vm.emitter.hold();
    this.vm.tick(this.costs.hypercallNs);
    this.stats.hypercalls++;
    this.work = 0;
    return start;
  }

  private end(start: number, name: string, handling: string, va?: number, gpa?: number, on?: { table: number; level: number }): void {
    const ns = this.work * this.costs.validateEntryNs;
    this.stats.validationNs += ns;
    this.vm.tick(ns);
    this.work = 0;
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
    const work = this.work;
    const start = this.begin();
    this.work = work;
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
    const tableLevel = this.type[frame] as number;
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
    this.vm.emitter.emit({ type: 'guest_os', action: 'xen-reject', pid, detail: `${name} at gpa 0x${gpa.toString(16)} refused: ${this.why}` });
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
    if (after && !this.getRef(after)) return false;
    if (before) this.putRef(before);
    return true;
  }

  /** The references a present, well-formed entry of a table of `level` makes Xen hold. */
  refOf(level: number, lo: number, hi: number): EntryRef | null {
    if (!(lo & PTE_P)) return null;
    const ctl = this.vm.ctl;
    const leaf = isLeaf(ctl, level, lo);
    if (reservedSet(ctl, level, lo, hi, leaf && level > 1)) return null; // never followed by the CPU
    const nonpae = ctl.mode === 'nonpae';
    if (!leaf) return { table: true, frame: Math.floor(entryAddress(lo, nonpae ? 0 : hi, 12) / 4096), frames: 1, level: level - 1, writable: false };
    let address: number;
    let frames = 1;
    if (level === 1) address = entryAddress(lo, nonpae ? 0 : hi, 12);
    else if (nonpae) {
      address = ((lo & 0xffc00000) >>> 0) + ((lo >>> 13) & 0xff) * TWO32; // PSE-36
      frames = 1024;
    } else {
      address = entryAddress(lo, hi, level === 2 ? 21 : 30);
      frames = level === 2 ? 512 : 262144;
    }
    return { table: false, frame: Math.floor(address / 4096), frames, level: 0, writable: (lo & PTE_W) !== 0 };
  }

  private getRef(ref: EntryRef): boolean {
    if (ref.table) return this.getType(ref.frame, ref.level);
    if (!ref.writable) return true;
    const last = Math.min(ref.frame + ref.frames, this.frames);
    for (let f = ref.frame; f < last; f++) {
      if (this.isPageTable(f)) {
        this.why = `frame ${hex(f)} is an L${this.type[f]} page table and cannot be mapped writable`;
        return false;
      }
    }
    for (let f = ref.frame; f < last; f++) this.writable[f] = (this.writable[f] as number) + 1;
    return true;
  }

  private putRef(ref: EntryRef): void {
    if (ref.table) return this.putType(ref.frame);
    if (!ref.writable) return;
    const last = Math.min(ref.frame + ref.frames, this.frames);
    for (let f = ref.frame; f < last; f++) this.writable[f] = (this.writable[f] as number) - 1;
  }

  /** Take a type reference making `frame` a page table of `level`, validating it on 0 → 1. */
  getType(frame: number, level: number): boolean {
    if (frame >= this.frames) return true; // beyond RAM: the domain's I/O frames, never page tables
    const count = this.typeCount[frame] as number;
    if (count > 0) {
      if (this.type[frame] === level) {
        this.typeCount[frame] = count + 1;
        return true;
      }
      this.why = `frame ${hex(frame)} is an L${this.type[frame]} page table, not L${level}`;
      return false;
    }
    if ((this.writable[frame] as number) > 0) {
      this.why = `frame ${hex(frame)} is mapped writable and cannot become a page table`;
      return false;
    }
    this.type[frame] = level;
    this.typeCount[frame] = 1;
    this.typed.add(frame);
    if (!this.validate(frame, level)) {
      this.type[frame] = 0;
      this.typeCount[frame] = 0;
      this.typed.delete(frame);
      return false;
    }
    this.flushStaleWritable(frame);
    this.reportTable(frame, level, true);
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

  /** Drop a type reference; on 1 → 0 the table releases every reference its entries hold. */
  putType(frame: number): void {
    if (frame >= this.frames) return;
    const count = (this.typeCount[frame] as number) - 1;
    this.typeCount[frame] = count;
    if (count > 0) return;
    const level = this.type[frame] as number;
    const n = this.entries(level);
    this.reportTable(frame, level, false);
    // the frame is ordinary memory again: its (now empty) validated table is gone
    this.vm.emitter.emit({ type: 'shadow_page', action: 'free', table: this.mfn(frame), level, gfn: frame });
    for (let i = 0; i < n; i++) {
      const [lo, hi] = this.vm.os.readEntry(frame * 4096 + i * entryBytes(this.vm.ctl.mode));
      const ref = this.refOf(level, lo, hi);
      if (ref) this.putRef(ref);
    }
    this.work += n;
    this.stats.releasedEntries += n;
    this.type[frame] = 0;
    this.typed.delete(frame);
  }

  entries(level: number): number {
    const mode = this.vm.ctl.mode;
    if (mode === 'nonpae') return 1024;
    return mode === 'pae' && level === 3 ? 4 : 512;
  }

  /** Check every entry of a table becoming typed; on a bad one, give back what was taken. */
  private validate(frame: number, level: number): boolean {
    const n = this.entries(level);
    const bytes = entryBytes(this.vm.ctl.mode);
    this.work += n;
    this.stats.validatedEntries += n;
    for (let i = 0; i < n; i++) {
      const [lo, hi] = this.vm.os.readEntry(frame * 4096 + i * bytes);
      const ref = this.refOf(level, lo, hi);
      if (!ref || this.getRef(ref)) continue;
      for (let j = 0; j < i; j++) {
        const [plo, phi] = this.vm.os.readEntry(frame * 4096 + j * bytes);
        const prev = this.refOf(level, plo, phi);
        if (prev) this.putRef(prev);
      }
      this.why = `entry ${i} of L${level} table ${hex(frame)}: ${this.why}`;
      return false;
    }
    return true;
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
    if (this.getType(root, topLevel(this.vm.ctl.mode))) {
      this.pinned[root] = 1;
      if (fresh) this.stats.fullValidations++;
      this.end(start, 'mmuext_op', 'pin', undefined, root * 4096, this.rootRef(root));
      return;
    }
    this.crash(start, `pin of table ${hex(root)} refused: ${this.why}`);
  }

  /** The process is gone (exit_mmap): unpin its tables so they become ordinary memory again. */
  addressSpaceReleased(p: Process): void {
    const root = this.rootOf(p);
    if (!this.pinned[root]) return;
    this.flush();
    const start = this.begin();
    this.stats.unpins++;
    this.pinned[root] = 0;
    this.putType(root);
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
    if (!this.getType(root, topLevel(this.vm.ctl.mode))) {
      this.crash(start, `new base pointer ${hex(root)} refused: ${this.why}`);
      return;
    }
    if (fresh) this.stats.fullValidations++;
    const old = this.cr3Root[cpu.id] as number;
    this.cr3Root[cpu.id] = root;
    if (old >= 0) this.putType(old);
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
    for (const f of [...this.typed].sort((a, b) => a - b)) {
      const level = this.type[f] as number;
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

function hex(n: number): string {
  return '0x' + n.toString(16);
}
