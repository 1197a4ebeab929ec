/**
 * What the UI, the CLI and the reports ask of a session, computed from the reader: the page
 * tables of every VM at an event as a tree, the diff of all page tables between two events,
 * `perf kvm stat`-like counters over a time range, and two sessions side by side.
 *
 * The result shapes are the API contract's (electron/api/contract.ts), declared here as plain
 * interfaces so sessions/ stays free of the host; the host checks them against the schemas.
 *
 * Each view is a module of its own under sessions/views/; this file only gathers what they
 * export, so the host, the CLI, the reports and the tests import them from one place.
 */
export { eptFlags, guestFlags, hostFlags, layouts, type SpaceKind } from './views/layout.ts';
export { pageTablesView, type EntryView, type PageTablesView, type SpaceView, type TableView } from './views/pageTables.ts';
export { runStepsYielding, ViewCancelled, type StepOptions, type Steps } from './views/steps.ts';
export { diffView, diffViewAsync, type ChangeView, type DiffView } from './views/diff.ts';
export { countersView, countersViewAsync, type CountersView, type ExitStat } from './views/counters.ts';
export { sessionTotals, type SessionTotals, type TimeRange } from './views/totals.ts';
export { compareView, ratio, type CompareCell, type CompareSide, type CompareView } from './views/compare.ts';
