/**
 * The grid of a two-dimensional page walk, the one definition shared by the engine (which
 * records each reference's fate in the `page_walk` masks) and the UI (which draws them).
 * Rows: the guest entries of levels 4..1, then the final guest-physical address; columns: the
 * EPT entries of levels 4..1 that translate the row's guest-physical address, then the guest
 * entry itself (absent from the final row): 4·5 + 4 = 24 references for a 4-level guest on
 * 4-level EPT (Bhargava et al., ASPLOS 2008). A 2-level or 3-level guest leaves the top rows empty.
 */

/** EPT levels of the host tables (4-level EPT/NPT). */
export const EPT_LEVELS = 4;
export const WALK_ROWS = 5;
export const WALK_COLS = EPT_LEVELS + 1;
export const FINAL_ROW = WALK_ROWS - 1;
export const GUEST_COL = EPT_LEVELS;

/** The row of the guest entry of `level` (1 = pt). */
export function guestRow(level: number): number {
  return WALK_ROWS - 1 - level;
}

/** The bit of one reference: bit 5·row + col (`col` 0..3 is the EPT entry of level 4 − col). */
export function cellBit(row: number, col: number): number {
  return 1 << (row * WALK_COLS + col);
}
