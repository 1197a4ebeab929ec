/**
 * The L1 hypervisor of nested TDP, as much of it as L0 can see: it keeps EPT12 (L2
 * guest-physical → L1 guest-physical) as real 4-level tables in its own memory and changes
 * them with ordinary stores, each of which goes through EPT01 like any L1 access (so L0 may
 * fault it in, or trap it because it write-protects the page: core/nested/nestedTdp.ts).
 *
 * - An EPT violation L0 reflects to it: map the L2 frame read/write/execute at L1 frame
 *   `L1_BASE_FRAME + ngfn`. Missing tables are allocated from L1's own page allocator,
 *   zeroed, and linked top-down (parent entry first, then into the new child), as KVM's TDP
 *   MMU does in L1; a new table is not shadowed by L0 yet, so stores into it do not trap.
 * - A change of an existing mapping (here: taking execute away, `revokeExec`) is followed by
 *   INVEPT, since the CPU may cache the old translation (SDM §28.4.3.1); adding a mapping
 *   needs none (not-present entries are never cached).
 */
import { EPT_RWX, EPT_X, withFrame } from '../tdp/spte.ts';
import { EPT_LEVELS, EptTree, type TreeObserver } from './eptTree.ts';

/** L1 places L2's memory at this L1 guest frame (so ngfn ≠ L1 gfn in the events). */
export const L1_BASE_FRAME = 0x40000;
/** L1's allocator hands out its EPT12 table pages from here (L1 guest frames). */
export const L1_TABLE_FRAME = 0x1000;

/** What an L1 store does to L1 memory, as L0 handles it. */
export interface L1Memory {
  /** L1 zeroes a fresh page (its first touch may be an EPT01 violation). */
  zero(frame: number): void;
  /** L1 stores one EPT12 entry (trapped and emulated by L0 if L0 write-protects the page). */
  storeEntry(frame: number, index: number, lo: number, hi: number): void;
}

export class L1Hypervisor {
  readonly ept12: EptTree;
  private nextFrame = L1_TABLE_FRAME;
  /** L2 frames in the order L1 mapped them, with whether X is still granted. */
  private readonly mapped: number[] = [];
  private revoked = 0;

  constructor(
    private readonly mem: L1Memory,
    /** Records EPT12's tables and entries (the session's `ept12` role). */
    observer?: TreeObserver,
  ) {
    // L1 sets up EPT12's root before it first runs L2 (VMCS12's EPT pointer).
    this.ept12 = new EptTree(this.nextFrame++, observer);
  }

  get root(): number {
    return this.ept12.root;
  }

  /** L1's handler for an EPT violation of L2 at `ngfn` that EPT12 does not allow: map it rwx. */
  handleViolation(ngfn: number): void {
    const w = this.ept12.walk(ngfn);
    let frame = w.tables[w.tables.length - 1] as number;
    if (w.missingLevel > 1) {
      for (let level = w.missingLevel; level > 1; level--) {
        const span = 512 ** (level - 1);
        const child = this.nextFrame++;
        this.mem.zero(child);
        this.ept12.addTable(child, level - 1, ngfn - (ngfn % span));
        const [lo, hi] = withFrame(EPT_RWX, 0, child);
        this.mem.storeEntry(frame, EptTree.index(ngfn, level), lo, hi);
        frame = child;
      }
    }
    const [lo, hi] = withFrame(EPT_RWX, 0, L1_BASE_FRAME + ngfn);
    this.mem.storeEntry(frame, EptTree.index(ngfn, 1), lo, hi);
    this.mapped.push(ngfn);
  }

  /**
   * L1 changes EPT12: it takes execute away from the oldest mapping that still has it (say,
   * L1 enforcing W^X on L2's data). Returns the L2 frame, or null if there is none. The
   * caller (L0's model of L1's timeline) then has L1 issue INVEPT.
   */
  revokeExec(): number | null {
    while (this.revoked < this.mapped.length) {
      const ngfn = this.mapped[this.revoked++] as number;
      const w = this.ept12.walk(ngfn);
      if (w.frame < 0 || !(w.rights & EPT_X)) continue;
      const frame = w.tables[EPT_LEVELS - 1] as number;
      const index = w.indexes[EPT_LEVELS - 1] as number;
      const [lo, hi] = this.ept12.entry(frame, index);
      this.mem.storeEntry(frame, index, lo & ~EPT_X, hi);
      return ngfn;
    }
    return null;
  }
}
