/**
 * Page tables of a session at one event, and the entries that changed between two events.
 *
 * Pure: zod and core's pure definitions only.
 */
import { z } from 'zod';
import { type CallTable, eventIndex, hex, queryId, sessionId } from './common.ts';

/** The 2D walk's grid (which bit of a page_walk mask is which reference). */
export { EPT_LEVELS, FINAL_ROW, GUEST_COL, WALK_COLS, cellBit, guestRow } from '../../../core/tdp/walkGrid.ts';
/** Lookups by address among a page-table tree's leaves (the picture's EPT links). */
export { findRange, sortRanges } from '../../../core/ranges.ts';

/** Where a paging-structure entry points: a lower-level table, a page, or nothing (not present). */
export const entryTarget = z.object({
  kind: z.enum(['table', 'page', 'none']),
  /** Guest-physical (guest tables) or host-physical / table id (shadow, EPT) address of the target. */
  addr: hex.optional(),
  /** For `table`: the `key` of the table it points to when that table is known. */
  table: z.string().optional(),
});

/** A reference to one entry of a shadow/EPT table (a link from a guest entry to the sptes mirroring it). */
export const sptRef = z.object({ table: z.string(), index: z.number() });

export const pageTableEntryView = z.object({
  index: z.number(),
  /**
   * The first and last virtual (guest tables, shadow) or guest-physical (EPT) address this entry
   * covers; absent for a table no root reaches (e.g. a table being built or torn down).
   */
  va0: hex.optional(),
  va1: hex.optional(),
  value: hex,
  /** Decoded flags as the SDM names them (P, RW, US, PWT, PCD, A, D, PS, G, NX, RSVD...). */
  flags: z.array(z.string()),
  target: entryTarget,
  /** Guest entries only: the shadow entries that mirror this one. */
  mirrors: z.array(sptRef).optional(),
  /** Nested, entries of L0's composite (EPT02) only: the EPT12 and EPT01 entries it was built from. */
  derivedFrom: z.array(sptRef).optional(),
  /** Index of the event that last wrote this entry, when the session recorded it. */
  lastEvent: z.number().optional(),
});

/**
 * One page-table page. The tree is given flat: an entry whose target is a table names it by
 * `key`; `roots` of each space list the top-level tables.
 */
export const pageTableView = z.object({
  /** Stable within a session: `g<vm>:<gpa>` for guest tables, `s<vm>:<table id>` for shadow/EPT tables. */
  key: z.string(),
  level: z.number(),
  /** Guest tables: the table's guest-physical address. Shadow/EPT: the guest frame it shadows or maps. */
  gpa: hex.optional(),
  gfn: hex.optional(),
  role: z.string().optional(),
  quadrant: z.number().optional(),
  entries: z.array(pageTableEntryView),
});

export const pageTableSpace = z.object({
  kind: z.enum(['guest', 'shadow', 'ept', 'xenpv']),
  paging: z.string(),
  roots: z.array(z.string()),
  tables: z.array(pageTableView),
  /** Nested: the structure (core/tableRoles.ts: `ept02`, `ept12`, `ept01`, …) and its words. */
  role: z.string().optional(),
  title: z.string().optional(),
});

export const pageTablesResult = z.object({
  at: z.number(),
  t: z.number(),
  /** `host`: the structure the CPU uses (nested: EPT02); `nested`: a nested VM's other structures (EPT12, EPT01), one tree each. */
  vms: z.array(z.object({ vm: z.number(), guest: pageTableSpace, host: pageTableSpace.optional(), nested: z.array(pageTableSpace).optional(), tlb: z.record(z.string(), z.number()).optional() })),
  /** True when more tables existed than the result carries (see `maxTables`). */
  truncated: z.boolean(),
});

export const pageTableChange = z.object({
  vm: z.number(),
  space: z.enum(['guest', 'shadow', 'ept', 'xenpv']),
  table: z.string(),
  level: z.number(),
  index: z.number(),
  va0: hex.optional(),
  va1: hex.optional(),
  change: z.enum(['added', 'removed', 'changed']),
  old: hex,
  new: hex,
  oldFlags: z.array(z.string()),
  newFlags: z.array(z.string()),
  /** Index of the event that last changed this entry before `to` ("why did this change"). */
  lastEvent: z.number(),
});

export const diffResult = z.object({
  from: z.number(),
  to: z.number(),
  total: z.number(),
  changes: z.array(pageTableChange),
  truncated: z.boolean(),
});

export type PageTablesResult = z.output<typeof pageTablesResult>;
export type DiffResult = z.output<typeof diffResult>;

export const PAGE_TABLE_CALLS = {
  /** Every guest and shadow/EPT page table of each VM just after event `at`, rebuilt from the nearest keyframe. */
  'sessions.pageTables': {
    params: z.strictObject({
      id: sessionId,
      at: eventIndex,
      vm: z.number().int().min(0).optional(),
      maxTables: z.number().int().min(1).max(100_000).optional(),
    }),
    result: pageTablesResult,
  },
  /** Entries added, removed and changed between just after event `from` and just after event `to`. */
  'sessions.diff': {
    params: z.strictObject({ id: sessionId, from: eventIndex, to: eventIndex, limit: z.number().int().min(1).max(100_000).optional(), queryId: queryId.optional() }),
    result: diffResult,
  },
} as const satisfies CallTable;
