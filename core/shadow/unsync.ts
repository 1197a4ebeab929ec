/**
 * Unsync shadow pages (KVM's mmu.rst, seed 004; `mmu.shadow.unsync`).
 *
 * Write-protecting every shadowed guest page table makes each guest pte store an exit.
 * For a leaf table that is the common case (the guest fills or rewrites many ptes of one
 * pt), so instead of write-protecting it the MMU lets its shadow pages go out of sync:
 * the first trapped store marks them `unsync` and drops the write protection, and later
 * stores run natively. The shadow ptes may then be stale, which the architecture allows
 * only until the guest flushes the translation, so the MMU resyncs:
 *
 * - on `invlpg` (which must now exit): the one spte of that address is re-derived from
 *   the guest pte;
 * - on a CR3 write: every unsync page is re-derived entry by entry and write-protected
 *   again (its writable mappings lose W).
 *
 * Only non-direct level-1 pages may go unsync, and only when every shadow page of the
 * guest frame is one (an upper-level table must stay write-protected). Making a new shadow
 * page for an unsync frame syncs it first.
 */
import { PTE_A, PTE_D, PTE_HI_NX, PTE_P, PTE_PS, PTE_U, PTE_W, entryBytes, reservedSet } from '../paging.ts';
import { ShadowPageCache, ShadowPage, frameOf, guestAccess } from './pages.ts';
import type { Machine } from '../machine.ts';

export class Unsync {
  readonly stats = { unsynced: 0, synced: 0, resyncedSptes: 0 };

  constructor(
    private readonly vm: Machine,
    private readonly mmu: ShadowPageCache,
  ) {
    mmu.onNewPageOfUnsync = (gfn) => this.syncGfn(gfn);
  }

  /** Every shadow page of the frame is a (non-direct) leaf page. */
  canUnsync(gfn: number): boolean {
    const ids = this.mmu.shadowsOfGfn(gfn);
    return ids.length > 0 && ids.every((id) => this.mmu.pages.get(id)?.level === 1);
  }

  /** A trapped store into a shadowed leaf table: let its shadow pages go out of sync instead of emulating. */
  tryUnsync(gfn: number): boolean {
    if (!this.canUnsync(gfn)) return false;
    for (const id of this.mmu.shadowsOfGfn(gfn)) {
      const sp = this.mmu.pages.get(id) as ShadowPage;
      sp.unsync = true;
      this.announce('unsync', sp);
    }
    this.mmu.unsyncGfns.add(gfn);
    this.stats.unsynced++;
    return true;
  }

  /** CR3 write: bring every out-of-sync page back in line and write-protect its frame again. */
  syncAll(): void {
    let flush = false;
    for (const gfn of [...this.mmu.unsyncGfns]) flush = this.syncGfn(gfn, false) || flush;
    if (flush) this.vm.flushAllTlbs('sync');
  }

  /** Resync the shadow pages of one frame; returns whether rights were reduced (a flush is due) unless it flushed itself. */
  syncGfn(gfn: number, flushNow = true): boolean {
    const mmu = this.mmu;
    let reduced = false;
    for (const id of [...mmu.shadowsOfGfn(gfn)]) {
      const sp = mmu.pages.get(id);
      if (!sp) continue;
      if (sp.parents.length === 0 && sp.roots === 0) {
        mmu.zapPage(sp); // unreachable: cheaper to drop than to resync
        continue;
      }
      for (let i = 0; i < 512; i++) reduced = this.resyncEntry(sp, i) || reduced;
      sp.unsync = false;
      this.announce('sync', sp);
    }
    mmu.unsyncGfns.delete(gfn);
    this.stats.synced++;
    // write-protect the frame again: no spte may map it writable
    reduced = mmu.writeProtectGfn(gfn) || reduced;
    if (reduced && flushNow) this.vm.flushAllTlbs('sync');
    return reduced;
  }

  /** invlpg: re-derive the spte of `va` if `sp`, the leaf shadow page of `va` in the current address space, is out of sync. */
  invlpg(sp: ShadowPage | null, va: number): void {
    if (sp?.unsync && this.resyncEntry(sp, ShadowPageCache.index(va, 1))) this.vm.flushAllTlbs('sync');
  }

  /** Re-derive one present spte from its guest pte (update it, or clear it if it cannot be). True if rights shrank. */
  private resyncEntry(sp: ShadowPage, i: number): boolean {
    const lo = sp.sptes[2 * i] as number;
    if (!(lo & PTE_P)) return false; // nothing cached: a fault will fill it from the guest pte
    const hi = sp.sptes[2 * i + 1] as number;
    const ctl = this.vm.ctl;
    const gi = ctl.mode === 'nonpae' ? sp.quadrant * 512 + i : i;
    const [glo, ghi] = this.vm.os.readEntry(sp.gfn * 4096 + gi * entryBytes(ctl.mode));
    const gfn = ctl.mode === 'nonpae' ? glo >>> 12 : frameOf(glo, ghi);
    // a pte to a frame with no memslot (MMIO) never gets a RAM spte: cleared, the next access faults into the emulator
    const usable = (glo & (PTE_P | PTE_A)) === (PTE_P | PTE_A) && !(glo & PTE_PS) && !reservedSet(ctl, 1, glo, ghi, false) && this.vm.mmio.hasMemslot(gfn);
    if (usable) {
      const [nlo, nhi] = this.mmu.leafSpte(gfn, sp.access & guestAccess(ctl, glo, ghi), (glo & PTE_D) !== 0);
      if (nlo === lo && nhi === hi) return false;
      this.stats.resyncedSptes++;
      this.mmu.setSpte(sp, i, nlo, nhi);
      return lessRights(lo, hi, nlo, nhi);
    }
    this.stats.resyncedSptes++;
    this.mmu.clearSpte(sp, i);
    return true;
  }

  private announce(action: 'unsync' | 'sync', sp: ShadowPage): void {
    this.mmu.pageEvent(action, sp);
  }
}

/** Any right an spte had that the new one lacks (frame, W, U, X). */
function lessRights(oldLo: number, oldHi: number, lo: number, hi: number): boolean {
  if (frameOf(oldLo, oldHi) !== frameOf(lo, hi)) return true;
  if ((oldLo & ~lo) & (PTE_W | PTE_U)) return true;
  return (hi & ~oldHi & PTE_HI_NX) !== 0;
}
