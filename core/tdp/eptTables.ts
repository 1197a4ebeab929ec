/**
 * The EPT tree and the one path every spte change takes (seed 002's handle_changed_pte):
 * write it (a cmpxchg under the TDP MMU), emit it, then do the bookkeeping the change
 * implies (accounting, dirty log, A/D handed to the host page, freeing); a table cut loose
 * from its parent has every entry marked disconnected and is freed, recursively.
 */
import { pte64 } from '../emitter.ts';
import { EptTable, Found } from './eptTable.ts';
import { EPT_D, EPT_PS, EPT_RWX, HI_DISCONNECTED, frameOf, isMmio, present, withFrame, writable } from './spte.ts';
import { EPT_LEVELS } from './walk2d.ts';
import { TdpPart } from './tdpPart.ts';

export class EptTables extends TdpPart {
  readonly tables = new Map<number, EptTable>();
  root: EptTable | null = null;
  private nextId = 1;
  /** Table pages freed without a grace period, reused at once (bugs.fastPfAba only). */
  private readonly reusable: EptTable[] = [];
  private readonly found = new Found();
  /** When each non-leaf entry was linked, and by which vCPU (-1: the host). */
  private readonly linkedAt = new Map<number, { t: number; by: number }>();

  /** Hardware-style walk of the EPT for `gfn`: the leaf, or the first non-present entry. */
  lookup(gfn: number): Found {
    const f = this.found;
    f.table = null;
    f.leaf = false;
    let t = this.root;
    while (t) {
      const i = Math.floor(gfn / 512 ** (t.level - 1)) % 512;
      const lo = t.sptes[2 * i] as number;
      const hi = t.sptes[2 * i + 1] as number;
      f.table = t;
      f.index = i;
      f.level = t.level;
      f.lo = lo;
      f.hi = hi;
      if (isMmio(lo, hi)) {
        f.leaf = true;
        return f;
      }
      if (!present(lo)) return f;
      if (t.level === 1 || lo & EPT_PS) {
        f.leaf = true;
        return f;
      }
      t = this.tables.get(t.children[i] as number) ?? null;
    }
    return f;
  }

  alloc(level: number, baseGfn: number): EptTable {
    const old = this.reusable.pop();
    const t = old ? old.reuse(level, baseGfn) : new EptTable(this.nextId++, level, baseGfn);
    this.tables.set(t.id, t);
    this.stats.tablesAllocated++;
    this.lock.charge(this.vm.cost.shadowAllocNs);
    this.vm.emitter.emit({ type: 'shadow_page', action: 'alloc', table: t.id, level, gfn: baseGfn, role: 'tdp' });
    return t;
  }

  /** Set the entry for `gfn` at `level`, creating the tables above it. */
  install(gfn: number, level: number, lo: number, hi: number, countLarge: boolean, racer?: { cpu: number; since: number }): void {
    if (!this.root) this.root = this.alloc(EPT_LEVELS, 0);
    let t = this.root;
    while (t.level > level) {
      const i = Math.floor(gfn / 512 ** (t.level - 1)) % 512;
      let child = this.tables.get(t.children[i] as number);
      if (!child || !present(t.sptes[2 * i] as number)) {
        const span = 512 ** (t.level - 1);
        child = this.alloc(t.level - 1, gfn - (gfn % span));
        const [clo, chi] = withFrame(EPT_RWX, 0, child.hostFrame);
        this.setSpte(t, i, clo, chi);
        t.children[i] = child.id;
        this.linkedAt.set(t.id * 512 + i, { t: this.vm.emitter.t, by: racer?.cpu ?? -1 });
      } else if (racer && this.opts.tdpMmu) this.lostRace(t, i, racer);
      t = child;
    }
    const i = Math.floor(gfn / 512 ** (level - 1)) % 512;
    this.setSpte(t, i, lo, hi);
    if (countLarge && level > 1) this.stats.largePages++;
  }

  /**
   * Under the TDP MMU two vCPUs can fault on the same missing entry at once, each under the
   * shared lock: both allocate a table and try to install it with a compare-and-exchange;
   * one loses, frees its table and carries on with the winner's (seed 002: atomic spte
   * changes instead of an exclusive lock). Seen here as an entry another vCPU linked after
   * this vCPU's fault began. Under the legacy MMU the second one waits and finds it linked.
   */
  private lostRace(t: EptTable, i: number, racer: { cpu: number; since: number }): void {
    const linked = this.linkedAt.get(t.id * 512 + i);
    if (!linked || linked.by === racer.cpu || linked.by < 0 || linked.t <= racer.since) return;
    this.stats.cmpxchgLost++;
    const span = 512 ** (t.level - 1);
    const base = t.baseGfn + i * span;
    const wasted = new EptTable(this.nextId++, t.level - 1, base);
    // The failed cmpxchg, then the walk is retried from the root to find the winner's table.
    this.lock.charge(this.vm.cost.shadowAllocNs + this.vm.cost.lockNs + EPT_LEVELS * this.vm.cost.walkRefNs);
    this.vm.emitter.emit({ type: 'shadow_page', action: 'alloc', table: wasted.id, level: wasted.level, gfn: base, role: 'tdp' });
    this.vm.emitter.emit({ type: 'shadow_page', action: 'free', table: wasted.id, level: wasted.level, gfn: base, role: 'tdp' });
  }

  /**
   * The one place an spte changes (seed 002's handle_changed_pte): write it (a cmpxchg under
   * the TDP MMU), emit it, then do the bookkeeping the change implies.
   */
  setSpte(t: EptTable, i: number, lo: number, hi: number, bookkeepingOld?: [number, number], logDirty = true): void {
    const oldLo = t.sptes[2 * i] as number;
    const oldHi = t.sptes[2 * i + 1] as number;
    t.sptes[2 * i] = lo >>> 0;
    t.sptes[2 * i + 1] = hi >>> 0;
    this.lock.countSpteWrite();
    if (this.opts.tdpMmu) this.lock.charge(this.vm.cost.lockNs); // atomic compare-and-exchange
    this.vm.emitter.emit({ type: 'spte_write', level: t.level, table: t.id, index: i, old: pte64(oldLo, oldHi), new: pte64(lo, hi) });
    const [bLo, bHi] = bookkeepingOld ?? [oldLo, oldHi];
    this.changed(t, i, bLo, bHi, lo >>> 0, hi >>> 0, logDirty);
  }

  private changed(t: EptTable, i: number, oldLo: number, oldHi: number, lo: number, hi: number, logDirty = true): void {
    const level = t.level;
    const gfn = t.baseGfn + i * 512 ** (level - 1);
    const wasPresent = present(oldLo);
    const isPresent = present(lo);
    const wasLeaf = wasPresent && (level === 1 || (oldLo & EPT_PS) !== 0);
    const isLeaf = isPresent && (level === 1 || (lo & EPT_PS) !== 0);
    const moved = frameOf(oldLo, oldHi) !== frameOf(lo, hi);
    const frames = this.frames;
    // A/D: a dirty leaf that goes away (or loses D) hands its dirtiness to the host page.
    if (wasLeaf && oldLo & EPT_D && (!isPresent || moved || !(lo & EPT_D))) {
      const n = level === 1 ? 1 : 512;
      for (let g = gfn; g < gfn + n && g < frames.count; g++) frames.hostDirty[g] = 1;
    }
    // Dirty log: a leaf that becomes writable is logged (the only way to regain W).
    if (logDirty && frames.logging && !this.opts.pml && isLeaf && level === 1 && writable(lo) && (!wasLeaf || !writable(oldLo) || moved)) frames.markDirty(gfn);
    if (wasLeaf && level > 1 && !(isLeaf && !moved)) this.stats.largePages--;
    // A table cut loose: every entry marked disconnected, bookkeeping for each, then freed.
    if (wasPresent && !wasLeaf && (!isPresent || moved)) {
      const child = this.tables.get(t.children[i] as number);
      t.children[i] = -1;
      if (child) this.disconnect(child);
    }
  }

  private disconnect(t: EptTable): void {
    for (let i = 0; i < 512; i++) {
      const lo = t.sptes[2 * i] as number;
      const hi = t.sptes[2 * i + 1] as number;
      if (!lo && !hi) continue;
      t.sptes[2 * i] = 0;
      t.sptes[2 * i + 1] = HI_DISCONNECTED;
      this.lock.countSpteWrite();
      this.stats.disconnectedSptes++;
      this.vm.emitter.emit({ type: 'spte_write', level: t.level, table: t.id, index: i, old: pte64(lo, hi), new: pte64(0, HI_DISCONNECTED) });
      this.changed(t, i, lo, hi, 0, HI_DISCONNECTED);
    }
    this.tables.delete(t.id);
    this.stats.tablesFreed++;
    // The TDP MMU frees a disconnected table only after every lockless walker is done with it
    // (RCU), so its page is never reused under one; with bugs.fastPfAba it is reused at once.
    if (this.opts.bugs.aba) this.reusable.push(t);
    this.vm.emitter.emit({ type: 'shadow_page', action: 'free', table: t.id, level: t.level, gfn: t.baseGfn, role: 'tdp' });
  }

  /** Every present 4 KiB-or-larger leaf, in gfn order. */
  forEachLeaf(fn: (t: EptTable, i: number, gfn: number) => void): void {
    const visit = (t: EptTable): void => {
      for (let i = 0; i < 512; i++) {
        const lo = t.sptes[2 * i] as number;
        if (!present(lo)) continue;
        if (t.level === 1 || lo & EPT_PS) fn(t, i, t.baseGfn + i * 512 ** (t.level - 1));
        else {
          const c = this.tables.get(t.children[i] as number);
          if (c) visit(c);
        }
      }
    };
    if (this.root) visit(this.root);
  }

  /** INVEPT on every vCPU: combined and guest-physical mappings go. Host actions do not tick. */
  flush(reason: string): void {
    for (const c of this.vm.cpus) c.walkCaches.flushEpt();
    for (const c of this.vm.cpus) c.tlb.flush(true);
    this.vm.emitter.emit({ type: 'tlb_flush', scope: 'all', reason });
  }
}
