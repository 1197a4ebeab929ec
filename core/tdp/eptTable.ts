/**
 * One EPT table page and the result of looking a guest frame up in the tree: the data the
 * tables (eptTables.ts), the fault path, the host's work (hostWork.ts) and the auditor share.
 */
import { HOST_EPT_BASE_FRAME } from './spte.ts';

export class EptTable {
  /** 512 entries as (lo, hi) 32-bit halves: 64-bit sptes without bigint on the hot path. */
  readonly sptes = new Uint32Array(1024);
  readonly children = new Int32Array(512).fill(-1);
  constructor(
    readonly id: number,
    readonly level: number,
    /** First guest frame the table maps. */
    readonly baseGfn: number,
  ) {}
  /** The same page, reused for another range (only with bugs.fastPfAba: no grace period). */
  reuse(level: number, baseGfn: number): EptTable {
    return new EptTable(this.id, level, baseGfn);
  }
  get hostFrame(): number {
    return HOST_EPT_BASE_FRAME + this.id;
  }
}

/** Where a lookup stopped: the entry for a gfn at the deepest level reached. */
export class Found {
  table: EptTable | null = null;
  index = 0;
  level = 0;
  lo = 0;
  hi = 0;
  leaf = false;
}
