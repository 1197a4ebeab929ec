/**
 * Nested TDP in a session: EPT12, EPT01 and EPT02 rebuilt from the recorded events, checked
 * against entry counts worked out by hand from the rules of core/nested/nestedTdp.ts.
 *
 * The guest: demand paging of 2 pages on a 4-level L2 guest. L2 takes its frames from 0x100:
 * PML4, PDPT, PD, PT, then the 2 data pages: F = 6 L2 frames 0x100..0x105, all under index 0
 * of every EPT level above the PT. L1 maps L2 frame n at L1 frame 0x40000 + n; its EPT12 tables
 * are L1 frames 0x1000 (the root, from boot), 0x1001 (PDPT), 0x1002 (PD), 0x1003 (PT).
 * - EPT12: 4 tables; root[0], PDPT[0], PD[0], and PT[0x100..0x105] → L1 frame 0x40100 + k,
 *   rwx: 3 + F = 9 entries, written by 9 stores (one each; nothing changes them later).
 * - EPT02 mirrors EPT12's shape: 4 tables, 3 + F = 9 entries, the leaf of L2 frame n pointing
 *   at host frame 0x100000 + 0x40000 + n (EPT01's target for L1 frame 0x40000 + n), rwx.
 * - EPT01 maps the L1 frames L1 touched or L0 composed: 0x1000..0x1003 (PML4[0] → PDPT[0] →
 *   PD[0x1000 >> 9 = 8] → PT[0..3]) and 0x40100..0x40105 (PML4[0] → PDPT[0x40100 >> 18 = 1] →
 *   PD[(0x40100 >> 9) & 511 = 0] → PT[0x100..0x105]): 1 + 1 + 2 + 2 = 6 tables and
 *   1 + 2 + 1 + 1 + 4 + 6 = 15 entries. The 4 EPT12 pages are shadowed, so their EPT01 entries
 *   lack W (r-x); the other 6 are rwx. Writes: 5 links + 10 leaves + 4 W clears = 19.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseScenario } from '../core/scenario.ts';
import { scenario } from '../core/test/helpers.ts';
import { exportJsonl } from './export.ts';
import { recordScenario } from './record.ts';
import { openSession } from './reader.ts';
import { PageState, type ShadowTableState } from './state.ts';
import { diffView, pageTablesView } from './views.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmulab-nested-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const F = 6;
const L2 = Array.from({ length: F }, (_, k) => 0x100 + k);
const pte = (frame: number, rights: number) => (BigInt(frame) << 12n) | BigInt(rights);

function record() {
  const parsed = parseScenario({ ...scenario({ kind: 'demand-paging', pages: 2 }, {}, { mode: 'tdp', nested: { enabled: true } }), hardware: { profile: 'ept-2012' } });
  if (!parsed.ok) throw new Error(parsed.error);
  const path = join(dir, 'nested2.mmulab');
  recordScenario(parsed.value, path, { keyframeEvents: 16 });
  const { session, diagnostics } = openSession(path);
  if (!session) throw new Error(JSON.stringify(diagnostics));
  return session;
}

const byRole = (tables: Map<number, ShadowTableState>, role: string) => [...tables].filter(([, t]) => t.role === role);
const entries = (tables: [number, ShadowTableState][]) => tables.reduce((n, [, t]) => n + t.entries.size, 0);
const at = (tables: [number, ShadowTableState][], level: number) => tables.filter(([, t]) => t.level === level).map(([, t]) => t);

describe('nested TDP session: the three EPTs from the events', () => {
  const session = record();
  const state = session.stateBefore(session.eventCount);
  const v = state.vms[0]!;

  it('EPT12 (L1 memory): 4 tables by L1 frame, 9 entries, the leaves pointing at L1 frame 0x40000 + n', () => {
    const ept12 = byRole(v.l1, 'ept12');
    expect(ept12.map(([id]) => id).sort()).toEqual([0x1000, 0x1001, 0x1002, 0x1003]);
    expect(entries(ept12)).toBe(3 + F);
    expect([...v.l1.get(0x1000)!.entries]).toEqual([[0, pte(0x1001, 7)]]);
    expect([...v.l1.get(0x1001)!.entries]).toEqual([[0, pte(0x1002, 7)]]);
    expect([...v.l1.get(0x1002)!.entries]).toEqual([[0, pte(0x1003, 7)]]);
    expect([...v.l1.get(0x1003)!.entries].sort((a, b) => a[0] - b[0])).toEqual(L2.map((n) => [n, pte(0x40000 + n, 7)]));
    // nothing of L1's is among L0's tables
    expect(byRole(v.shadow, 'ept12')).toEqual([]);
  });

  it('EPT02: EPT12\'s shape, 4 tables and 9 entries, each leaf at EPT01\'s host frame for EPT12\'s target', () => {
    const ept02 = byRole(v.shadow, 'ept02');
    expect(ept02).toHaveLength(4);
    expect([4, 3, 2, 1].map((l) => at(ept02, l).length)).toEqual([1, 1, 1, 1]);
    expect(entries(ept02)).toBe(3 + F);
    const pt = at(ept02, 1)[0]!;
    expect([...pt.entries].sort((a, b) => a[0] - b[0])).toEqual(L2.map((n) => [n, pte(0x100000 + 0x40000 + n, 7)]));
  });

  it('EPT01: 6 tables, 15 entries; the 4 shadowed EPT12 pages without W, the rest rwx', () => {
    const ept01 = byRole(v.shadow, 'ept01');
    expect([4, 3, 2, 1].map((l) => at(ept01, l).length)).toEqual([1, 1, 2, 2]);
    expect(entries(ept01)).toBe(15);
    expect([...at(ept01, 3)[0]!.entries.keys()].sort()).toEqual([0, 1]);
    expect(at(ept01, 2).map((t) => [...t.entries.keys()]).sort()).toEqual([[0], [8]]);
    const leaves = new Map<number, bigint>();
    for (const t of at(ept01, 1)) for (const [i, value] of t.entries) leaves.set(t.gfn + i, value);
    expect(leaves).toEqual(new Map([...[0x1000, 0x1001, 0x1002, 0x1003].map((f) => [f, pte(0x100000 + f, 5)] as const), ...L2.map((n) => [0x40000 + n, pte(0x100000 + 0x40000 + n, 7)] as const)]));
  });

  it('the JSONL export carries each write with its role: 9 EPT12, 9 EPT02, 19 EPT01 writes', () => {
    let text = '';
    exportJsonl(session, (s) => {
      text += s;
    });
    const writes = text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { type: string; role?: string })
      .filter((e) => e.type === 'spte_write');
    const count = (role: string) => writes.filter((e) => e.role === role).length;
    expect([count('ept12'), count('ept02'), count('ept01')]).toEqual([3 + F, 3 + F, 19]);
    expect(writes.filter((e) => e.role === undefined)).toEqual([]);
  });

  it('keyframes hold L1\'s tables too: every keyframe equals a replay, and the state decodes to the same bytes', () => {
    expect(session.keyframes.length).toBeGreaterThan(2);
    expect(session.verifyKeyframes()).toEqual({ checked: session.keyframes.length, problems: [] });
    expect(Buffer.from(PageState.decode(state.encode()).encode()).equals(Buffer.from(state.encode()))).toBe(true);
  });

  it('the page-table view: EPT02 as the host tree, EPT12 and EPT01 beside it, each one tree under one root', () => {
    const view = pageTablesView(session, state, session.eventCount - 1).vms[0]!;
    const spaces = [view.host!, ...(view.nested ?? [])];
    expect(spaces.map((sp) => sp.role)).toEqual(['ept02', 'ept12', 'ept01']);
    expect(spaces.map((sp) => sp.roots.length)).toEqual([1, 1, 1]);
    expect(spaces.map((sp) => sp.tables.length)).toEqual([4, 4, 6]);
    expect(view.nested![0]!.roots).toEqual(['s0:ept12:4096']);
    // every table of a space is reached from its root: each entry covers an address range
    for (const sp of spaces) for (const t of sp.tables) for (const e of t.entries) expect(e.va0, `${t.key}[${e.index}]`).toBeDefined();
  });

  it('each EPT02 leaf links to the EPT12 leaf of the same L2 frame and the EPT01 leaf of L1 frame 0x40000 + n', () => {
    const view = pageTablesView(session, state, session.eventCount - 1).vms[0]!;
    const pt02 = view.host!.tables.find((t) => t.level === 1)!;
    const ept01 = view.nested![1]!;
    const pt01 = ept01.tables.find((t) => t.level === 1 && t.entries.some((e) => e.index === 0x100))!;
    expect(pt02.entries.map((e) => [e.index, e.derivedFrom])).toEqual(L2.map((n) => [n, [{ table: 's0:ept12:4099', index: n }, { table: pt01.key, index: (0x40000 + n) % 512 }]]));
    // the upper levels are L0's own links: derived from nothing
    expect(view.host!.tables.filter((t) => t.level > 1).flatMap((t) => t.entries.map((e) => e.derivedFrom))).toEqual([undefined, undefined, undefined]);
  });

  it('the diff over the whole session lists every entry of the three EPTs as added, L1\'s under its own keys', () => {
    const d = diffView(session, -1, session.eventCount - 1);
    const host = d.changes.filter((c) => c.space === 'ept');
    expect(host.filter((c) => c.table.startsWith('s0:ept12:')).length).toBe(3 + F);
    expect(host.filter((c) => c.table.startsWith('s0:ept02:')).length).toBe(3 + F);
    expect(host.filter((c) => c.table.startsWith('s0:ept01:')).length).toBe(15);
    expect(host.every((c) => c.change === 'added' && c.va0 !== undefined)).toBe(true);
  });

  it('with INVEPT: each change L1 makes (X taken away) shows in the session as one EPT12 store and one EPT02 entry cleared; every EPT02 leaf left grants what EPT12 ∘ EPT01 allow', () => {
    const parsed = parseScenario({ ...scenario({ kind: 'demand-paging', pages: 32 }, {}, { mode: 'tdp', nested: { enabled: true, inveptEvery: 10 } }), hardware: { profile: 'ept-2012' } });
    if (!parsed.ok) throw new Error(parsed.error);
    const path = join(dir, 'nested-invept.mmulab');
    recordScenario(parsed.value, path);
    const { session: s } = openSession(path);
    if (!s) throw new Error('no session');
    const ev = [...s.iterate()];
    const invept = ev.filter((e) => e.type === 'vmexit' && e.reason === 'INVEPT').length;
    expect(invept).toBeGreaterThan(0);
    const w = (role: string) => ev.filter((e) => e.type === 'spte_write' && e.role === role);
    // L1's stores: 3 links and 32 + 4 leaves, then one per change; L0 clears one EPT02 leaf per change
    expect(w('ept12')).toHaveLength(3 + 36 + invept);
    expect(w('ept02').filter((e) => e.type === 'spte_write' && e.new === 0n)).toHaveLength(invept);
    const end = pageTablesView(s, s.stateBefore(s.eventCount), s.eventCount - 1).vms[0]!;
    const [ept12, ept01] = end.nested!;
    const byKey = new Map([...ept12!.tables, ...ept01!.tables].flatMap((t) => t.entries.map((e) => [`${t.key}:${e.index}`, e] as const)));
    const rights = (v: string) => Number(BigInt(v) & 7n);
    const leaves = end.host!.tables.filter((t) => t.level === 1).flatMap((t) => t.entries);
    expect(leaves).toHaveLength(36 - invept + (ev.filter((e) => e.type === 'vmexit' && e.handling === 'shadow-ept-fill').length - 36));
    for (const e of leaves) {
      const [from12, from01] = (e.derivedFrom ?? []).map((r) => byKey.get(`${r.table}:${r.index}`)!);
      expect(rights(e.value)).toBe(rights(from12!.value) & rights(from01!.value));
    }
    // the EPT12 leaves without X: one per change
    expect(ept12!.tables.filter((t) => t.level === 1).flatMap((t) => t.entries).filter((e) => !(rights(e.value) & 4))).toHaveLength(invept);
  });
});
