/**
 * The diff of all page tables between two events: every entry written, added or removed, with
 * the address range it covers, found by reading the events in between (and backwards, in
 * doubling windows, for the removals' origins).
 */
import { toHex } from '../../core/events.ts';
import { entryBytes, topLevel } from '../../core/paging.ts';
import { HOST_GUEST_BASE_FRAME } from '../../core/shadow/pages.ts';
import { parseTableRole, tableOwner } from '../../core/tableRoles.ts';
import type { SessionReader } from '../reader.ts';
import { PageState, type ShadowTableState, type VmState } from '../state.ts';
import { eptFlags, guestFlags, hostFlags, layouts, type SpaceKind } from './layout.ts';
import { pageTablesView } from './pageTables.ts';
import { runSteps, runStepsYielding, type StepOptions, type Steps } from './steps.ts';
import { gKey, nKey, sKey } from './tableKeys.ts';

export interface ChangeView {
  vm: number;
  space: SpaceKind;
  table: string;
  level: number;
  index: number;
  va0?: string;
  va1?: string;
  change: 'added' | 'removed' | 'changed';
  old: string;
  new: string;
  oldFlags: string[];
  newFlags: string[];
  lastEvent: number;
}

export interface DiffView {
  from: number;
  to: number;
  total: number;
  changes: ChangeView[];
  truncated: boolean;
}

/**
 * Every entry whose value differs between just after event `from` and just after event `to`
 * (`from` may be -1: the empty state before the session). Both states come from the nearest
 * keyframe (plus the events up to the next one), so a long range costs about what a short one
 * does. An entry still present at `to` names the event that last wrote it from the state itself;
 * an entry gone by `to` is looked up by a backward search over the range's events, which stops
 * as soon as every removed entry is found.
 */
export function diffView(session: SessionReader, from: number, to: number, limit = 10_000): DiffView {
  return runSteps(diffSteps(session, from, to, limit));
}

/** `diffView` for a host that must keep answering: it yields to the event loop between its steps (at most every 50 000 events read). */
export function diffViewAsync(session: SessionReader, from: number, to: number, limit = 10_000, options: StepOptions = {}): Promise<DiffView> {
  return runStepsYielding(diffSteps(session, from, to, limit), options);
}

const DIFF_SLICE_EVENTS = 50_000;

/** The backward search reads windows that start at this many events and double up to the cap: each window costs a seek. */
const DIFF_WINDOW_FIRST = 4096;

const DIFF_WINDOW_MAX = 131_072;

/** Removed entries waiting for the event that removed them, by VM and then by gpa (guest) or table and index (host). */
interface PendingRemovals {
  guest: Map<number, Map<number, ChangeView>>;
  /** By VM, then by owner and table (`<owner>:<table>`: under nesting L1's and L0's tables have ids of their own), then index. */
  host: Map<number, Map<string, Map<number, ChangeView>>>;
  size: number;
}

function* diffSteps(session: SessionReader, from: number, to: number, limit: number): Steps<DiffView> {
  if (to < from) [from, to] = [to, from];
  const lay = layouts(session);
  const before = from < 0 ? new PageState(session.header.vms) : session.stateAfter(from);
  yield 0.05;
  const after = to < 0 ? new PageState(session.header.vms) : session.stateAfter(to);
  yield 0.1;
  const all: ChangeView[] = [];
  const pending: PendingRemovals = { guest: new Map(), host: new Map(), size: 0 };
  const kind = (o: bigint, n: bigint): ChangeView['change'] => (o === 0n ? 'added' : n === 0n ? 'removed' : 'changed');
  const vmCount = Math.max(before.vms.length, after.vms.length);
  for (let vm = 0; vm < vmCount; vm++) {
    const b = before.vms[vm];
    const a = after.vms[vm];
    const { ctl, host } = lay[vm] ?? lay[0]!;
    for (const gpa of new Set([...(b?.guest.keys() ?? []), ...(a?.guest.keys() ?? [])])) {
      const o = b?.guest.get(gpa) ?? 0n;
      const n = a?.guest.get(gpa) ?? 0n;
      if (o === n) continue;
      const level = a?.guestLevel.get(gpa) ?? b?.guestLevel.get(gpa) ?? 0;
      const pdpt = ctl.mode === 'pae' && level === topLevel(ctl.mode);
      const base = pdpt ? gpa - (gpa % 32) : gpa - (gpa % 4096);
      const c: ChangeView = {
        vm,
        space: 'guest',
        table: gKey(vm, base),
        level,
        index: (gpa - base) / entryBytes(ctl.mode),
        change: kind(o, n),
        old: toHex(o),
        new: toHex(n),
        oldFlags: o ? guestFlags(ctl, level, o) : [],
        newFlags: n ? guestFlags(ctl, level, n) : [],
        lastEvent: n ? (a?.guestLast.get(gpa) ?? -1) : -1,
      };
      all.push(c);
      if (!n) {
        let m = pending.guest.get(vm);
        if (!m) pending.guest.set(vm, (m = new Map()));
        m.set(gpa, c);
        pending.size++;
      }
    }
    // the plain TDP model's mapped frames: only ever added
    for (const [gfn, last] of a?.ept ?? []) {
      if (b?.ept.has(gfn)) continue;
      const n = (BigInt(HOST_GUEST_BASE_FRAME + gfn) << 12n) | 7n;
      all.push({ vm, space: 'ept', table: `e${vm}:mapped`, level: 1, index: gfn, va0: toHex(gfn * 4096), va1: toHex(gfn * 4096 + 4095), change: 'added', old: '0x0', new: toHex(n), oldFlags: [], newFlags: ['R', 'W', 'X'], lastEvent: last });
    }
    for (const owner of [0, 1]) for (const id of new Set([...(b ? ownerTables(b, owner).keys() : []), ...(a ? ownerTables(a, owner).keys() : [])])) {
      const tb = b && ownerTables(b, owner).get(id);
      const ta = a && ownerTables(a, owner).get(id);
      const level = ta?.level ?? tb?.level ?? 1;
      const role = ta?.role ?? tb?.role ?? '';
      const nestedRole = parseTableRole(role);
      const flags = host === 'ept' || (nestedRole && nestedRole.kind !== 'spt') ? eptFlags : hostFlags;
      for (const index of new Set([...(tb?.entries.keys() ?? []), ...(ta?.entries.keys() ?? [])])) {
        const o = tb?.entries.get(index) ?? 0n;
        const n = ta?.entries.get(index) ?? 0n;
        if (o === n) continue;
        const c: ChangeView = {
          vm,
          space: nestedRole ? (nestedRole.kind === 'spt' ? 'shadow' : 'ept') : host,
          table: nestedRole ? nKey(vm, role, id) : sKey(vm, id),
          level,
          index,
          change: kind(o, n),
          old: toHex(o),
          new: toHex(n),
          oldFlags: o ? flags(level, o) : [],
          newFlags: n ? flags(level, n) : [],
          lastEvent: n ? (ta?.last.get(index) ?? -1) : -1,
        };
        all.push(c);
        if (!n) {
          let byTable = pending.host.get(vm);
          if (!byTable) pending.host.set(vm, (byTable = new Map()));
          let m = byTable.get(`${owner}:${id}`);
          if (!m) byTable.set(`${owner}:${id}`, (m = new Map()));
          m.set(index, c);
          pending.size++;
        }
      }
    }
  }
  yield* findRemovals(session, pending, Math.max(0, from + 1), Math.min(to + 1, session.eventCount), 0.1, 0.9);
  // What each entry covers (virtual or guest-physical range), from its place in the tree: after
  // the change for an added or changed entry, before it for a removed one.
  yield 0.9;
  const coversAfter = coverage(session, after);
  const coversBefore = all.some((c) => c.change === 'removed') ? coverage(session, before) : undefined;
  for (const c of all) {
    if (c.va0 !== undefined) continue;
    const range = (c.change === 'removed' ? coversBefore : coversAfter)?.get(`${c.table}:${c.index}`);
    if (range) [c.va0, c.va1] = range;
  }
  all.sort((a, b) => a.lastEvent - b.lastEvent || a.table.localeCompare(b.table) || a.index - b.index);
  return { from, to, total: all.length, changes: all.slice(0, limit), truncated: all.length > limit };
}

/** L0's tables (owner 0, and every table of a plain VM) or L1's. */
const ownerTables = (v: VmState, owner: number): Map<number, ShadowTableState> => (owner === 0 ? v.shadow : v.l1);

/** Table key and index → the first and last address the entry covers, for every entry a root reaches. */
function coverage(session: SessionReader, state: PageState): Map<string, [string, string]> {
  const out = new Map<string, [string, string]>();
  for (const v of pageTablesView(session, state, -1, { maxTables: 100_000 }).vms)
    for (const space of [v.guest, v.host, ...(v.nested ?? [])])
      for (const t of space?.tables ?? []) for (const e of t.entries) if (e.va0 !== undefined && e.va1 !== undefined) out.set(`${t.key}:${e.index}`, [e.va0, e.va1]);
  return out;
}

/**
 * The event that removed each pending entry: the last write to it in [lo, hi), read backwards a
 * window at a time, stopping once every entry is found (keyframes keep no history of removed entries).
 */
function* findRemovals(session: SessionReader, pending: PendingRemovals, lo: number, hi: number, p0: number, p1: number): Steps<void> {
  let slice = 0;
  let window = DIFF_WINDOW_FIRST;
  const top = hi;
  while (pending.size > 0 && hi > lo) {
    if (slice >= DIFF_SLICE_EVENTS) {
      slice = 0;
      // the part of the range searched so far (the search may stop early: everything found)
      yield p0 + ((p1 - p0) * (top - hi)) / Math.max(1, top - lo);
    }
    const start = Math.max(lo, hi - window);
    window = Math.min(2 * window, DIFF_WINDOW_MAX);
    const batch = session.rawEvents(start, hi - start);
    if (!batch.length) break;
    slice += batch.length;
    for (let k = batch.length - 1; k >= 0 && pending.size > 0; k--) {
      const e = batch[k]!;
      let m: Map<number, ChangeView> | undefined;
      let key: number;
      if (e.type === 'gpte_write') {
        m = pending.guest.get(e.vm);
        key = e.gpa;
      } else if (e.type === 'spte_write') {
        m = pending.host.get(e.vm)?.get(`${tableOwner(e.role)}:${e.table}`);
        key = e.index;
      } else continue;
      const c = m?.get(key);
      if (!c) continue;
      c.lastEvent = start + k;
      m!.delete(key);
      pending.size--;
    }
    hi = start;
  }
}
