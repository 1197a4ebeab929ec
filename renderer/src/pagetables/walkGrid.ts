/**
 * The cells of a 2D walk's grid as the walk grid draws them: from a simulated walk's masks
 * (exact, each reference made, cached or saved by the TLB), or from an imported walk's totals
 * (the guest rows it skipped are exact; its EPT cells are only known as a count).
 */
import { EPT_LEVELS, FINAL_ROW, GUEST_COL, WALK_COLS, cellBit, guestRow } from '../api/contract';

export type CellState = 'made' | 'psc' | 'tlb' | 'register' | 'none' | 'unknown';
export interface Cell {
  col: number;
  state: CellState;
  /** A memory reference: its place in the walk's order (1-based). */
  n?: number;
}
export interface GridRow {
  name: string;
  /** The mask row (guestRow of its level, or the final row). */
  row: number;
  cells: Cell[];
}

export interface WalkInput {
  refs: number;
  guestRefs: number;
  guestLevels: number;
  pae: boolean;
  masks?: { mem: number; psc: number; tlb: number } | undefined;
}

/** Rows top to bottom (the walk's order), each with its EPT cells then its guest entry (none in the final row). */
export function walkCells(w: WalkInput): { rows: GridRow[]; exact: boolean } {
  const levels = Math.min(Math.max(w.guestLevels, 1), 4);
  const names: { name: string; row: number; level?: number }[] = [];
  for (let level = levels; level >= 1; level--) names.push({ name: `guest L${level}`, row: guestRow(level), level });
  names.push({ name: 'final gPA', row: FINAL_ROW });
  const m = w.masks;
  let n = 0;
  if (m) {
    const rows = names.map(({ name, row, level }) => {
      const cells: Cell[] = [];
      for (let col = 0; col < (row === FINAL_ROW ? EPT_LEVELS : WALK_COLS); col++) {
        const bit = cellBit(row, col);
        if (m.mem & bit) cells.push({ col, state: 'made', n: ++n });
        else if (m.psc & bit) cells.push({ col, state: 'psc' });
        else if (m.tlb & bit) cells.push({ col, state: 'tlb' });
        else cells.push({ col, state: w.pae && level === 3 && col === GUEST_COL ? 'register' : 'none' });
      }
      return { name, row, cells };
    });
    return { rows, exact: true };
  }
  // totals only: PAE's PDPTEs come from registers; the guest rows above the ones read were saved
  const first = w.pae ? 1 : 0;
  const skipped = Math.max(0, levels - first - w.guestRefs);
  const rows = names.map(({ name, row }, i) => {
    const final = row === FINAL_ROW;
    const register = !final && i < first;
    const saved = !final && !register && i < first + skipped;
    const ept: CellState = register || saved ? (register ? 'none' : 'psc') : 'unknown';
    const cells: Cell[] = Array.from({ length: EPT_LEVELS }, (_, col) => ({ col, state: ept }));
    if (!final) cells.push({ col: GUEST_COL, state: register ? 'register' : saved ? 'psc' : 'made' });
    return { name, row, cells };
  });
  return { rows, exact: false };
}
