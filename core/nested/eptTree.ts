/**
 * A 4-level EPT as real table pages (SDM Vol. 3C §28.3.2): each table is a page of 512
 * 64-bit entries, kept as 32-bit halves, named by the frame that holds it. Nested TDP has
 * three of them: EPT12 in L1's memory (written by the L1 hypervisor, core/nested/l1.ts),
 * EPT01 and EPT02 in host memory (written by L0, core/nested/nestedTdp.ts).
 *
 * Non-leaf entries grant R/W/X (the leaf decides); a leaf is a level-1 entry (4 KiB).
 */
import { EPT_RWX, frameOf, present, withFrame } from '../tdp/spte.ts';

export const EPT_LEVELS = 4;

/** Where a walk for one gfn went: the table and index at each level it read. */
export class TreeWalk {
  /** Frames of the tables read, root first. */
  readonly tables: number[] = [];
  readonly indexes: number[] = [];
  /** Rights of every level ANDed (0 when the walk stopped at a not-present entry). */
  rights = 0;
  /** The leaf's target frame, when the walk reached a present leaf. */
  frame = -1;
  /** Level of the first not-present entry (0: the walk reached a leaf). */
  missingLevel = 0;
}

/** Who records a tree's changes (L0's model turns them into `shadow_page` and `spte_write` events). */
export interface TreeObserver {
  /** A table page joined the tree. */
  table(frame: number, level: number, baseGfn: number): void;
  /** Entry `index` of table `frame` changed from `old` to (lo, hi). */
  wrote(frame: number, level: number, index: number, old: [number, number], lo: number, hi: number): void;
}

export class EptTree {
  readonly pages = new Map<number, Uint32Array>();
  /** Level and first gfn of each table, so an entry knows the range it maps. */
  readonly info = new Map<number, { level: number; baseGfn: number }>();

  constructor(
    readonly root: number,
    private readonly observer?: TreeObserver,
  ) {
    this.addTable(root, EPT_LEVELS, 0);
  }

  addTable(frame: number, level: number, baseGfn: number): void {
    this.pages.set(frame, new Uint32Array(1024));
    this.info.set(frame, { level, baseGfn });
    this.observer?.table(frame, level, baseGfn);
  }

  static index(gfn: number, level: number): number {
    return Math.floor(gfn / 512 ** (level - 1)) % 512;
  }

  entry(frame: number, index: number): [number, number] {
    const t = this.pages.get(frame);
    return t ? [t[2 * index] as number, t[2 * index + 1] as number] : [0, 0];
  }

  /** Write one entry. Returns the old value. */
  write(frame: number, index: number, lo: number, hi: number): [number, number] {
    const t = this.pages.get(frame);
    if (!t) throw new Error(`no EPT table at frame 0x${frame.toString(16)}`);
    const old: [number, number] = [t[2 * index] as number, t[2 * index + 1] as number];
    t[2 * index] = lo >>> 0;
    t[2 * index + 1] = hi >>> 0;
    if (this.observer && (old[0] !== lo >>> 0 || old[1] !== hi >>> 0)) this.observer.wrote(frame, this.info.get(frame)?.level ?? 0, index, old, lo >>> 0, hi >>> 0);
    return old;
  }

  /** The hardware walk for `gfn`: the leaf's frame and rights, or the level that is missing. */
  walk(gfn: number, out: TreeWalk = new TreeWalk()): TreeWalk {
    out.tables.length = 0;
    out.indexes.length = 0;
    out.rights = EPT_RWX;
    out.frame = -1;
    out.missingLevel = 0;
    let frame = this.root;
    for (let level = EPT_LEVELS; level >= 1; level--) {
      const i = EptTree.index(gfn, level);
      out.tables.push(frame);
      out.indexes.push(i);
      const [lo, hi] = this.entry(frame, i);
      if (!present(lo) || !this.pages.has(frame)) {
        out.rights = 0;
        out.missingLevel = level;
        return out;
      }
      out.rights &= lo & EPT_RWX;
      if (level === 1) {
        out.frame = frameOf(lo, hi);
        return out;
      }
      frame = frameOf(lo, hi);
    }
    return out;
  }

  /**
   * Map `gfn` → `target` with `rights`, creating the tables on the way with `alloc` (which
   * returns a fresh frame). For L0's own tables (EPT01, EPT02); L1 writes EPT12 store by store.
   * Returns the leaf table's frame and index.
   */
  map(gfn: number, target: number, rights: number, alloc: (level: number, baseGfn: number) => number): { frame: number; index: number; old: [number, number] } {
    let frame = this.root;
    for (let level = EPT_LEVELS; level > 1; level--) {
      const i = EptTree.index(gfn, level);
      const [lo, hi] = this.entry(frame, i);
      if (present(lo)) {
        frame = frameOf(lo, hi);
        continue;
      }
      const span = 512 ** (level - 1);
      const child = alloc(level - 1, gfn - (gfn % span));
      this.addTable(child, level - 1, gfn - (gfn % span));
      const [clo, chi] = withFrame(EPT_RWX, 0, child);
      this.write(frame, i, clo, chi);
      frame = child;
    }
    const index = EptTree.index(gfn, 1);
    const [lo, hi] = withFrame(rights, 0, target);
    const old = this.write(frame, index, lo, hi);
    return { frame, index, old };
  }

  /** Every present leaf: (gfn, lo, hi). */
  forEachLeaf(fn: (gfn: number, lo: number, hi: number) => void): void {
    const visit = (frame: number, level: number, base: number): void => {
      const t = this.pages.get(frame);
      if (!t) return;
      for (let i = 0; i < 512; i++) {
        const lo = t[2 * i] as number;
        if (!present(lo)) continue;
        const gfn = base + i * 512 ** (level - 1);
        if (level === 1) fn(gfn, lo, t[2 * i + 1] as number);
        else visit(frameOf(lo, t[2 * i + 1] as number), level - 1, gfn);
      }
    };
    visit(this.root, EPT_LEVELS, 0);
  }
}
