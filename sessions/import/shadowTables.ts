/**
 * The shadow pages of one VM as a trace shows them, so that its events name the same table:
 * a set_spte names its entry by the host address of the spte (`at 22e8fa080`: page and
 * index), a get_page / zap / sync / unsync names its page by guest frame, level and role. A
 * page created by get_page is the table of the first spte of its level set on that vCPU after
 * it (KVM fills the leaf it just linked); a page seen only through its sptes gets a table of
 * its own. Tables get ids in order of first sight.
 *
 * KVM's zap clears every spte of the page (unlinking its children), which the trace does not
 * list one by one: `zap` returns the entries known in the table so the mapping clears them.
 */

export interface ShadowTable {
  id: number;
  level: number;
  /** Guest frame the page shadows (or maps, direct); undefined when no event told it. */
  gfn?: number;
  quadrant: number;
  /** The role words without `invalid` (roleCore); '' when unknown. */
  role: string;
  /** The page's key (gfn, level, quadrant, role) when its gfn is known. */
  key?: string;
  /** The host page its sptes live in, once an spte was seen. */
  page?: number;
  /** Known entries: index → spte. */
  entries: Map<number, bigint>;
  /** Order of creation, to find the newest of several candidates. */
  seq: number;
}

/** Ids from 2^31 on: apart from the gfn-range ids of the TDP MMU's tables (mapping.ts tableId). */
const FIRST_ID = 0x80000000;
/** Entries remembered per VM (beyond it a zap clears only what it still knows). */
const MAX_ENTRIES = 1 << 21;

export function pageKey(gfn: number, level: number, quadrant: number, role: string): string {
  return `${gfn}:${level}:${quadrant}:${role}`;
}

export class VmTables {
  private next = FIRST_ID;
  private seq = 0;
  private entryCount = 0;
  private readonly live = new Map<number, ShadowTable>();
  private readonly byKey = new Map<string, ShadowTable>();
  private readonly byPage = new Map<number, ShadowTable>();

  /** A page get_page created (or one a zap names that the trace never showed created). */
  create(level: number, gfn: number | undefined, quadrant: number, role: string): ShadowTable {
    const t: ShadowTable = { id: this.next++ >>> 0, level, quadrant, role, entries: new Map(), seq: this.seq++ };
    if (gfn !== undefined) {
      t.gfn = gfn;
      t.key = pageKey(gfn, level, quadrant, role);
      const old = this.byKey.get(t.key);
      if (old) this.drop(old);
      this.byKey.set(t.key, t);
    }
    this.live.set(t.id, t);
    return t;
  }

  /** The live page a get_page / zap / sync names: by its key, or (no gfn) the newest of that level, quadrant and role. */
  find(level: number, gfn: number | undefined, quadrant: number, role: string): ShadowTable | undefined {
    if (gfn !== undefined) return this.byKey.get(pageKey(gfn, level, quadrant, role));
    let best: ShadowTable | undefined;
    for (const t of this.live.values())
      if (t.level === level && t.quadrant === quadrant && t.role === role && t.key !== undefined && (!best || t.seq > best.seq)) best = t;
    return best;
  }

  /** The table of an spte at host address `sptep` of `level`; `pending` is a created page waiting for its first spte. */
  tableOfSpte(sptep: number, level: number, pending: ShadowTable | undefined): ShadowTable {
    const page = Math.floor(sptep / 4096);
    let t = this.byPage.get(page);
    if (!t) {
      if (pending && pending.page === undefined && pending.level === level && this.live.get(pending.id) === pending) t = pending;
      else {
        t = { id: this.next++ >>> 0, level, quadrant: 0, role: '', entries: new Map(), seq: this.seq++ };
        this.live.set(t.id, t);
      }
      t.page = page;
      this.byPage.set(page, t);
    }
    return t;
  }

  /** Records an spte's new value; returns the value it replaces (0 when not known). */
  setEntry(t: ShadowTable, index: number, value: bigint): bigint {
    const old = t.entries.get(index);
    if (value === 0n) {
      if (old !== undefined) {
        t.entries.delete(index);
        this.entryCount--;
      }
    } else if (old !== undefined || this.entryCount < MAX_ENTRIES) {
      if (old === undefined) this.entryCount++;
      t.entries.set(index, value);
    }
    return old ?? 0n;
  }

  /**
   * A zap: returns the entries the page held (now cleared). A root still in use (root count
   * above 0) stays, invalid, until its last user lets go (a second zap); any other page goes.
   */
  zap(t: ShadowTable, stays: boolean): [number, bigint][] {
    const cleared = [...t.entries];
    this.entryCount -= t.entries.size;
    t.entries.clear();
    if (!stays) this.drop(t);
    return cleared;
  }

  has(t: ShadowTable): boolean {
    return this.live.get(t.id) === t;
  }

  private drop(t: ShadowTable): void {
    this.entryCount -= t.entries.size;
    t.entries.clear();
    this.live.delete(t.id);
    if (t.key !== undefined && this.byKey.get(t.key) === t) this.byKey.delete(t.key);
    if (t.page !== undefined && this.byPage.get(t.page) === t) this.byPage.delete(t.page);
  }
}
