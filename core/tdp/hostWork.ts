/**
 * The host's side of TDP that is not a fault: what a live host does to guest memory while
 * the guest runs, as host actions at their simulated time (mmuLock.ts `schedule`). The
 * dirty-log benchmark's fetch after every pass of vCPU 0, and the three things the seed's
 * review shows racing with the lockless fast page fault: unmapping a page (an mmu-notifier
 * invalidation), starting to write-track a page, and migrating a page. The read-modify-write
 * ones hold mmu_lock over a window between reading an spte and writing it back; only the
 * lockless path can slip into it. With `bugs.fastPf*` they do what the review found racy.
 */
import { EPT_A, EPT_W, HI_MMU_WRITABLE, canBeWritable, isMmio, present, writable } from './spte.ts';
import type { EptTable } from './eptTable.ts';
import type { TdpMmu } from './tdpMmu.ts';


export class HostWork {
  /** Next page each vCPU's dirty-log pass writes (the race demonstrations aim at it). */
  readonly cursor = new Map<number, number>();
  private readonly trackedByPass: number[] = [];

  /** Passes of the dirty-log benchmark the host has fetched the log for. */
  fetchedPasses = 0;
  /** The last pass each vCPU has finished (-1: none yet). */
  private readonly passOf = new Map<number, number>();

  constructor(private readonly mmu: TdpMmu) {}

  /**
   * vCPU `cpu` finished pass `pass` of the dirty-log benchmark (-1: faulting its memory in).
   * The last vCPU to get there starts the host's side (turning logging on, or the fetch); each vCPU waits for `fetchedPasses` to
   * pass its pass before writing again (dirtyLogWorkload.ts).
   */
  passDone(cpu: number, pass: number, pageOf: (va: number) => number | undefined): void {
    this.passOf.set(cpu, pass);
    const all = this.mmu.vm.cpus.every((c) => c.id === cpu || c.done || (this.passOf.get(c.id) ?? -1) >= pass);
    if (!all) return;
    if (pass < 0) this.mmu.schedule(this.mmu.vm.emitter.t, () => this.mmu.enableDirtyLog());
    else this.pass(pass, pageOf);
  }

  /**
   * The host starts write-tracking `gfn` (KVM's page tracking): MMU-writable goes, so no
   * lockless fix may make it writable again. A read-modify-write with a window: the spte is
   * read now, written back `hostRmwNs` (core/costs.ts) later. The flush decision is the seed's:
   * flush if the old spte was writable or could have been made writable locklessly; with
   * `bugs.fastPfMissedFlush` only "was writable" counts, from the value read at the start.
   */
  trackWrites(gfn: number, at = this.mmu.vm.emitter.t): void {
    const f = this.mmu.lookup(gfn);
    if (!f.leaf || !f.table || isMmio(f.lo, f.hi)) {
      this.mmu.tracked[gfn] = 1;
      return;
    }
    const t = f.table;
    const i = f.index;
    const readLo = f.lo;
    const readHi = f.hi;
    const flush = this.mmu.opts.bugs.missedFlush ? writable(readLo) : writable(readLo) || canBeWritable(readHi);
    const now = at;
    this.mmu.schedule(now + this.mmu.vm.cost.hostRmwNs, () => {
      this.mmu.tracked[gfn] = 1;
      if (this.mmu.opts.bugs.missedFlush) {
        // The racy version writes back what it computed from its first read.
        this.mmu.setSpte(t, i, readLo & ~EPT_W, readHi & ~HI_MMU_WRITABLE, [readLo, readHi]);
      } else {
        const lo = t.sptes[2 * i] as number;
        const hi = t.sptes[2 * i + 1] as number;
        if (present(lo)) this.mmu.setSpte(t, i, lo & ~EPT_W, hi & ~HI_MMU_WRITABLE);
      }
      if (flush) this.mmu.flush('write-track');
    }, now);
  }

  /** Stop tracking: the spte may be made writable again (by a fault). */
  untrack(gfn: number): void {
    this.mmu.tracked[gfn] = 0;
    const f = this.mmu.lookup(gfn);
    if (f.leaf && f.table && present(f.lo)) this.mmu.setSpte(f.table, f.index, f.lo, f.hi | HI_MMU_WRITABLE);
  }

  /**
   * The host unmaps `gfn` (an mmu-notifier invalidation: swap, migration): clear the spte and
   * hand its A/D bits to the host page. A read-modify-write with a window. The seed: an spte
   * that can be made writable locklessly is volatile, so the clear must be an atomic exchange
   * that sees the current D bit; with `bugs.fastPfLostDirty` an accessed read-only spte is
   * taken as stable and cleared with a plain store, tracking the bits read at the start.
   */
  zapGfn(gfn: number, at = this.mmu.vm.emitter.t): void {
    const f = this.mmu.lookup(gfn);
    if (!f.leaf || !f.table || isMmio(f.lo, f.hi) || f.level !== 1) return;
    const t = f.table;
    const i = f.index;
    const readLo = f.lo;
    const readHi = f.hi;
    const stable = this.mmu.opts.bugs.lostDirty ? readLo & EPT_A && !writable(readLo) : !canBeWritable(readHi) && !writable(readLo);
    const now = at;
    this.mmu.schedule(now + this.mmu.vm.cost.hostRmwNs, () => {
      if (stable) this.mmu.setSpte(t, i, 0, 0, [readLo, readHi]);
      else if (present(t.sptes[2 * i] as number)) this.mmu.setSpte(t, i, 0, 0); // xchg: the bits as they are now
      this.mmu.flush('zap');
    }, now);
  }

  /**
   * The host side of the dirty-log benchmark once every vCPU finished a pass: update the steal-time
   * record (a host write to the last guest frame, logged like any write), then fetch and
   * clear the log. With more vCPUs the host also does what a live host does meanwhile, aimed
   * at the page vCPU 1 writes next so the lockless window is actually hit: it unmaps that
   * page (an mmu-notifier invalidation), or starts write-tracking it (until the next pass), or
   * migrates it while vCPU 1's next lockless fix is between its read and its exchange.
   */
  pass(pass: number, pageOf: (va: number) => number | undefined): void {
    const t = this.mmu.vm.emitter.t;
    this.mmu.schedule(t, () => {
      for (const g of this.trackedByPass.splice(0)) this.untrack(g);
      this.mmu.hostWrite(this.mmu.frames - 1);
      this.mmu.fetchDirtyLog();
      // The vCPUs resume once the fetch (an exclusive hold of mmu_lock) is over.
      this.mmu.schedule(Math.max(t, this.mmu.exclusiveEnd), () => {
        this.fetchedPasses = pass + 1;
      });
      const va = this.cursor.get(1);
      const gfn = va === undefined ? undefined : pageOf(va);
      const other = this.mmu.vm.cpus[1];
      if (gfn === undefined || !other || other.done) return;
      // The host reads the spte just as vCPU 1 resumes (host threads are not in step with vCPUs).
      const at = Math.max(t, other.clock, this.mmu.exclusiveEnd);
      if (pass % 3 === 0) this.zapGfn(gfn, at);
      else if (pass % 3 === 1) {
        this.trackWrites(gfn, at);
        this.trackedByPass.push(gfn);
      } else if (this.mmu.opts.fastPageFault) this.mmu.locklessWindow = (g) => this.swapPages(g);
    });
  }

  /**
   * Page migration in the middle of a lockless fix of `gfn` (seed 001's ABA, in TDP terms):
   * the host invalidates the 2 MiB range holding `gfn` (its 4 KiB table is disconnected and
   * freed), gives `gfn`'s host page to a frame at the same index of an unmapped range and
   * installs that frame's new mapping read-only (mmu-notifier change_pte). If the freed table
   * page is reused at once (bugs.fastPfAba) the new entry sits where the old one was and
   * holds the very value the lockless walk read: the exchange succeeds on the wrong frame.
   */
  private swapPages(gfn: number): void {
    const index = gfn % 512;
    let other = -1;
    for (let base = gfn - index + 512; base + 512 <= this.mmu.frames - 512; base += 512) {
      const f = this.mmu.lookup(base);
      if (!f.leaf && f.level >= 2 && !this.mappedInRegion(base)) {
        other = base + index;
        break;
      }
    }
    if (other < 0) return;
    const pd = this.mmu.lookup(gfn);
    if (!pd.leaf || pd.level !== 1) return;
    const oldLo = pd.lo;
    const oldHi = pd.hi;
    const parent = this.parentOf(gfn);
    if (!parent) return;
    this.mmu.setSpte(parent.table, parent.index, 0, 0); // disconnects and frees the 4 KiB table
    const mine = this.mmu.pfn(gfn);
    this.mmu.setPfn(gfn, this.mmu.pfn(other));
    this.mmu.setPfn(other, mine);
    this.mmu.hostDirty[other] = this.mmu.hostDirty[gfn] as number;
    // change_pte: the moved page keeps its spte bits (read-only, A/D as they were), now for `other`
    this.mmu.install(other, 1, oldLo & ~EPT_W, oldHi, false);
    this.mmu.flush('migrate');
  }

  /** Is anything of this 2 MiB region mapped? */
  private mappedInRegion(base: number): boolean {
    for (let g = base; g < base + 512; g++) if (this.mmu.lookup(g).leaf) return true;
    return false;
  }

  /** The level-2 entry above `gfn`'s 4 KiB spte. */
  private parentOf(gfn: number): { table: EptTable; index: number } | null {
    let t = this.mmu.root;
    while (t && t.level > 2) t = this.mmu.tables.get(t.children[Math.floor(gfn / 512 ** (t.level - 1)) % 512] as number) ?? null;
    return t ? { table: t, index: Math.floor(gfn / 512) % 512 } : null;
  }
}
