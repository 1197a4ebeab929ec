/** What a present guest entry makes Xen hold: a type reference on a table, or (writable) leaf frames. */
export interface EntryRef {
  table: boolean;
  /** First frame (pfn) referenced. */
  frame: number;
  /** Frames a leaf covers (1, 512, 1024 or 2^18). */
  frames: number;
  /** Table level the linked frame must have, for a table reference. */
  level: number;
  writable: boolean;
}

export function sameRef(a: EntryRef | null, b: EntryRef | null): boolean {
  if (!a || !b) return a === b;
  return a.table === b.table && a.frame === b.frame && a.frames === b.frames && a.level === b.level && a.writable === b.writable;
}

