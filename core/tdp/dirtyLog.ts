/**
 * Dirty logging (seed 001, and PML): turning it on write-protects every leaf (or, with PML,
 * clears its D bit) and drops or splits 2 MiB leaves; KVM_GET_DIRTY_LOG fetches and clears
 * the bitmap and protects the pages it names again; turning it off rebuilds large pages.
 * Each runs as host work holding mmu_lock for write (mmuLock.ts `exclusively`).
 */
import type { EptTable } from './eptTable.ts';
import type { EptTables } from './eptTables.ts';
import { EPT_D, EPT_PS, EPT_RWX, EPT_W, HI_MMU_WRITABLE, canBeWritable, frameOf, isMmio, present, withFrame, writable } from './spte.ts';
import { TdpPart, type TdpShared } from './tdpPart.ts';

export class DirtyLog extends TdpPart {
  constructor(
    shared: TdpShared,
    private readonly ept: EptTables,
  ) {
    super(shared);
  }

  /** Start dirty logging: write-protect every leaf (large ones are dropped, to be refaulted as 4 KiB). */
  enable(): void {
    if (this.frames.logging) return;
    this.lock.exclusively(() => this.enableLocked());
  }

  private enableLocked(): void {
    this.frames.logging = true;
    this.frames.dirty.fill(0);
    const large: Array<[EptTable, number]> = [];
    const small: Array<[EptTable, number]> = [];
    this.ept.forEachLeaf((t, i) => (t.level > 1 ? large : small).push([t, i]));
    // A 2 MiB leaf cannot log 4 KiB pages: split it now (eager) or drop it to be refaulted page by page (lazy).
    for (const [t, i] of large) {
      if (this.opts.eagerSplit) small.push(...this.split(t, i));
      else this.ept.setSpte(t, i, 0, 0);
    }
    for (const [t, i] of small) this.startLogging(t, i);
    this.vm.emitter.emit({ type: 'dirty_log', action: 'enable', pages: 0 });
    this.ept.flush('dirty-log');
  }

  /** Start logging one 4 KiB leaf: clear W (write protection) or, with PML, D (the next write logs it). */
  private startLogging(t: EptTable, i: number): void {
    const lo = t.sptes[2 * i] as number;
    const hi = t.sptes[2 * i + 1] as number;
    if (this.opts.pml) {
      if (lo & EPT_D) this.ept.setSpte(t, i, lo & ~EPT_D, hi);
    } else if (writable(lo)) this.ept.setSpte(t, i, lo & ~EPT_W, hi);
  }

  /**
   * Eager page splitting: replace the 2 MiB leaf at entry `i` of `t` by a 4 KiB table holding
   * the same 512 frames with the same rights, built before it is linked (so no vCPU sees it
   * half-made), then link it in place of the leaf. Returns the new leaves.
   */
  private split(t: EptTable, i: number): Array<[EptTable, number]> {
    const lo = t.sptes[2 * i] as number;
    const hi = t.sptes[2 * i + 1] as number;
    const base = t.baseGfn + i * 512;
    const child = this.ept.alloc(1, base);
    const first = frameOf(lo, hi);
    for (let k = 0; k < 512; k++) {
      const [clo, chi] = withFrame(lo & ~EPT_PS, hi, first + k);
      child.sptes[2 * k] = clo;
      child.sptes[2 * k + 1] = chi;
      this.lock.countSpteWrite();
    }
    const [plo, phi] = withFrame(EPT_RWX, 0, child.hostFrame);
    this.ept.setSpte(t, i, plo, phi);
    t.children[i] = child.id;
    this.stats.hugePagesSplit++;
    const out: Array<[EptTable, number]> = [];
    for (let k = 0; k < 512; k++) out.push([child, k]);
    return out;
  }

  /**
   * KVM_GET_DIRTY_LOG: take the bitmap (fetch and clear), write-protect every page in it,
   * flush once if any spte lost W. The pages named are then taken as copied (clean). With `bugs.fastPfFlushOverwrite` the flush flag is
   * assigned per page instead of accumulated (seed 001 review: "This clears previous flush
   * value when looping"), so only the last page decides.
   */
  fetch(): number[] {
    let pages: number[] = [];
    this.lock.exclusively(() => {
      pages = this.fetchLocked();
    });
    return pages;
  }

  private fetchLocked(): number[] {
    const frames = this.frames;
    // PML: the vCPUs are kicked and flush their logs into the bitmap first.
    const kicks = this.opts.pml ? this.kickToFlushPml() : undefined;
    const pages: number[] = [];
    for (let g = 0; g < frames.count; g++) if (frames.dirty[g]) pages.push(g);
    frames.dirty.fill(0);
    let flush = false;
    for (const gfn of pages) {
      const needs = this.writeProtect(gfn, false);
      flush = this.opts.bugs.flushOverwrite ? needs : flush || needs;
      // The caller copies what the log names (live migration sends the page): from here on
      // only new writes make it dirty again, on the host side as in the log.
      frames.hostDirty[gfn] = 0;
      frames.written[gfn] = 0;
      frames.writtenSet.delete(gfn);
    }
    this.stats.dirtyLogFetches++;
    this.stats.dirtyPagesFetched += pages.length;
    const shown = pages.slice(0, 64).map((g) => '0x' + g.toString(16)).join(',');
    this.vm.emitter.emit({ type: 'dirty_log', action: 'fetch', pages: pages.length, detail: pages.length > 64 ? shown + ',…' : shown });
    if (flush) this.ept.flush('dirty-log');
    kicks?.();
    return pages;
  }

  /**
   * PML at a fetch of the log (KVM's kvm_flush_pml_buffers): a vCPU's log holds pages not in the
   * bitmap yet, and it is drained at the start of every exit of that vCPU, so the host kicks
   * each running vCPU out of the guest with an IPI, one after another (`ipiSendNs` each, inside
   * the host's exclusive hold), and each takes an `EXTERNAL_INTERRUPT` exit on its own timeline
   * (`pml-kick`) that drains its log. The logs go into the bitmap now, before the fetch reads
   * it; the returned function records the kicks once the fetch's own events are out (the host's
   * work is stamped on vCPU 0's lane, whose kick comes after it).
   */
  private kickToFlushPml(): () => void {
    const vm = this.vm;
    const kicked = vm.cpus.filter((c) => !c.done).map((c) => [c, this.frames.drainPml(c.id, false)] as const);
    return () => {
      const t = vm.emitter.t;
      for (const [c, drained] of kicked) {
        this.lock.holdExtraNs += vm.cost.ipiSendNs;
        vm.onVcpu(c, t + this.lock.holdExtraNs, () => {
          const start = vm.beginExit();
          this.stats.pmlKicks++;
          vm.tick(drained * vm.cost.lockNs); // the drain: one bitmap write per logged page
          vm.endExit(start, 'EXTERNAL_INTERRUPT', 'pml-kick');
        });
      }
    };
  }

  /**
   * Clear W (and MMU-writable with `ptProtect`) on the spte of `gfn`. Returns whether a TLB
   * flush is needed: the spte was writable, or could have been made writable locklessly.
   */
  private writeProtect(gfn: number, ptProtect: boolean): boolean {
    const f = this.ept.lookup(gfn);
    if (!f.leaf || isMmio(f.lo, f.hi) || !f.table) return false;
    if (this.opts.pml && !ptProtect) {
      // PML: clear D (handing it to the host page); the next write sets it and logs again.
      if (!(f.lo & EPT_D)) return false;
      this.ept.setSpte(f.table, f.index, f.lo & ~EPT_D, f.hi);
      return true;
    }
    if (!writable(f.lo) && !(ptProtect && canBeWritable(f.hi))) return false;
    const hi = ptProtect ? f.hi & ~HI_MMU_WRITABLE : f.hi;
    // D goes with W: the bookkeeping hands it to the host page, and the next write sets it again.
    this.ept.setSpte(f.table, f.index, f.lo & ~(EPT_W | EPT_D), hi);
    return true;
  }

  /** Stop dirty logging and rebuild large pages: zap each table that a 2 MiB leaf can replace. */
  disable(): void {
    if (!this.frames.logging) return;
    this.lock.exclusively(() => this.disableLocked());
  }

  private disableLocked(): void {
    this.frames.logging = false;
    let zapped = false;
    const visit = (t: EptTable): void => {
      for (let i = 0; i < 512; i++) {
        const lo = t.sptes[2 * i] as number;
        if (!present(lo) || lo & EPT_PS) continue;
        const c = this.ept.tables.get(t.children[i] as number);
        if (!c) continue;
        if (t.level === 2 && this.frames.largeAllowed(t.baseGfn + i * 512)) {
          this.ept.setSpte(t, i, 0, 0);
          zapped = true;
        } else if (t.level > 2) visit(c);
      }
    };
    if (this.ept.root && this.opts.largePages) visit(this.ept.root);
    this.vm.emitter.emit({ type: 'dirty_log', action: 'disable', pages: 0 });
    if (zapped) this.ept.flush('zap');
  }
}
