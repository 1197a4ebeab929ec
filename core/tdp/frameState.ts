/**
 * What the host knows about each guest frame under TDP: the host page backing it, whether
 * the host write-tracks it, whether the guest may have written it (the auditor's truth) and
 * whether that dirtiness reached the host page, and the dirty log's bitmap and the vCPUs'
 * page-modification logs. The tables' bookkeeping (eptTables.ts), the fault path and the
 * dirty-log operations all update it, so it sits below them.
 */
import type { Machine } from '../machine.ts';
import type { MmuLock } from './mmuLock.ts';
import { HOST_GUEST_BASE_FRAME } from './spte.ts';

export class FrameState {
  /** Dirty logging: on, and the bitmap the next fetch returns. */
  logging = false;
  readonly dirty: Uint8Array;
  /** Frames the guest may have written through a write-capable translation (the auditor's truth). */
  readonly written: Uint8Array;
  /** The same frames as a set, so the auditor visits only them. */
  readonly writtenSet = new Set<number>();
  /** Frames whose dirtiness reached the host page (kvm_set_pfn_dirty). */
  readonly hostDirty: Uint8Array;
  /** Frames the host write-tracks (writes are emulated, never mapped writable). */
  readonly tracked: Uint8Array;
  /** Host frames of guest frames the host has moved (page migration); the rest sit at base + gfn. */
  private readonly moved = new Map<number, number>();
  /** Each vCPU's page-modification log (the gfns of the 4 KiB pages whose D bit it set). */
  private readonly pml = new Map<number, number[]>();

  constructor(
    private readonly vm: Machine,
    private readonly lock: MmuLock,
    private readonly largePages: boolean,
  ) {
    const frames = vm.mem.frames;
    this.dirty = new Uint8Array(frames);
    this.written = new Uint8Array(frames);
    this.hostDirty = new Uint8Array(frames);
    this.tracked = new Uint8Array(frames);
  }

  /** How many guest frames RAM has (frames at or above it are MMIO). */
  get count(): number {
    return this.vm.mem.frames;
  }

  /** The host frame backing guest frame `gfn`. */
  pfn(gfn: number): number {
    return this.moved.get(gfn) ?? HOST_GUEST_BASE_FRAME + gfn;
  }
  setPfn(gfn: number, pfn: number): void {
    if (pfn === HOST_GUEST_BASE_FRAME + gfn) this.moved.delete(gfn);
    else this.moved.set(gfn, pfn);
  }

  /** May the 2 MiB region holding `gfn` be mapped by one leaf? */
  largeAllowed(gfn: number): boolean {
    if (!this.largePages || this.logging) return false;
    const base = gfn - (gfn % 512);
    if (base + 512 > this.count) return false;
    // a 2 MiB leaf needs the region's host frames contiguous and nothing tracked
    for (let g = base; g < base + 512; g++) if (this.tracked[g] || this.moved.has(g)) return false;
    return true;
  }

  markDirty(gfn: number): void {
    if (this.logging && gfn < this.count) this.dirty[gfn] = 1;
  }

  /** The host writes guest memory itself (e.g. the steal-time record): mark_page_dirty, no spte change. */
  hostWrite(gfn: number): void {
    this.markDirty(gfn);
    this.hostDirty[gfn] = 1;
  }

  pmlLog(cpu: number): number[] {
    let log = this.pml.get(cpu);
    if (!log) this.pml.set(cpu, (log = []));
    return log;
  }

  /** Is `gfn` dirty by the log's account: in the bitmap, or in a vCPU's PML log not yet drained? */
  loggedDirty(gfn: number): boolean {
    if (this.dirty[gfn]) return true;
    for (const log of this.pml.values()) if (log.includes(gfn)) return true;
    return false;
  }

  /** KVM's vmx_flush_pml_buffer: every logged gfn into the dirty bitmap (one bitmap write each, charged unless the caller does). Returns how many. */
  drainPml(cpu: number, charge = true): number {
    const log = this.pmlLog(cpu);
    const n = log.length;
    for (const gfn of log) this.markDirty(gfn);
    if (charge) this.lock.charge(n * this.vm.cost.lockNs);
    log.length = 0;
    return n;
  }
}
