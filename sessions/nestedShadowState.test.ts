/**
 * Nested shadow paging in a session (core/nestedshadow/): SPT12 (L1's shadow pages, in L1
 * memory, role `spt12`), and L0's EPT01 (shadow-on-EPT) or SPT02 (shadow-on-shadow), rebuilt
 * from the recorded events and drawn as one tree per structure, checked against counts worked
 * out by hand.
 *
 * The guest: demand paging of 2 pages on a 4-level L2 guest: L2 frames 0x100 (PML4), 0x101-0x103
 * (PDPT, PD, PT), 0x104-0x105 (data). L1's shadow MMU gives its pages ids from 1 in the order
 * it makes them, each held in L1 frame 0x800000 + id: the root (1), then the PDPT, PD and PT
 * levels (2-4); L2 frame n is L1 frame 0x100000 + n.
 * - SPT12: 4 tables; root[0] → PDPT → PD → PT, and the PT's 2 leaves: 5 entries.
 * - EPT01 (shadow-on-EPT) maps the L1 frames L1 or L2 touched: 0x800001-0x800004 (PML4[0],
 *   PDPT[0x800001 >> 18 = 32], PD[(0x800001 >> 9) & 511 = 0], PT[1..4]) and 0x100100-0x100105
 *   (PML4[0], PDPT[4], PD[0], PT[0x100..0x105]): 1 + 1 + 2 + 2 = 6 tables, 1 + 2 + 2 + 10 = 15
 *   entries.
 * - SPT02 (shadow-on-shadow) has SPT12's shape: 4 tables, 5 entries, each leaf derived from the
 *   SPT12 leaf of the same address.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseScenario, type ScenarioInput } from '../core/scenario.ts';
import { scenario } from '../core/test/helpers.ts';
import { recordScenario } from './record.ts';
import { openSession } from './reader.ts';
import { pageTablesView } from './views.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmulab-nestedshadow-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function view(mode: 'tdp' | 'shadow') {
  const input: ScenarioInput = { ...scenario({ kind: 'demand-paging', pages: 2 }, {}, { mode, nested: { enabled: true, l1Mmu: 'shadow' } }), hardware: { profile: mode === 'tdp' ? 'ept-2012' : 'vtx-2007' } };
  const parsed = parseScenario(input);
  if (!parsed.ok) throw new Error(parsed.error);
  const path = join(dir, `${mode}.mmulab`);
  recordScenario(parsed.value, path, { keyframeEvents: 16 });
  const { session, diagnostics } = openSession(path);
  if (!session) throw new Error(JSON.stringify(diagnostics));
  const state = session.stateBefore(session.eventCount);
  return pageTablesView(session, state, session.eventCount - 1).vms[0]!;
}

const entryCount = (sp: { tables: { entries: unknown[] }[] }) => sp.tables.reduce((n, t) => n + t.entries.length, 0);

describe('nested shadow paging in a session: one tree per structure', () => {
  it('shadow-on-EPT: SPT12 (L1 memory, by L1 frame) and EPT01, each a tree from its one root, with the counts worked out by hand', () => {
    const v = view('tdp');
    const spaces = [v.host!, ...(v.nested ?? [])];
    expect(spaces.map((sp) => sp.role)).toEqual(['spt12', 'ept01']);
    expect(spaces.map((sp) => sp.roots.length)).toEqual([1, 1]);
    expect(v.host!.roots).toEqual([`s0:spt12:${0x800001}`]);
    expect(spaces.map((sp) => sp.tables.length)).toEqual([4, 6]);
    expect(spaces.map(entryCount)).toEqual([5, 15]);
    for (const sp of spaces) for (const t of sp.tables) for (const e of t.entries) expect(e.va0, `${t.key}[${e.index}]`).toBeDefined();
  });

  it('shadow-on-shadow: SPT02 (the CPU\'s) and SPT12, the same shape; each SPT02 leaf derived from the SPT12 leaf of its address', () => {
    const v = view('shadow');
    const spaces = [v.host!, ...(v.nested ?? [])];
    expect(spaces.map((sp) => sp.role)).toEqual(['spt02', 'spt12']);
    expect(spaces.map((sp) => sp.roots.length)).toEqual([1, 1]);
    expect(spaces.map((sp) => sp.tables.length)).toEqual([4, 4]);
    expect(spaces.map(entryCount)).toEqual([5, 5]);
    for (const sp of spaces) for (const t of sp.tables) for (const e of t.entries) expect(e.va0, `${t.key}[${e.index}]`).toBeDefined();
    const pt02 = v.host!.tables.find((t) => t.level === 1)!;
    const pt12 = v.nested![0]!.tables.find((t) => t.level === 1)!;
    expect(pt02.entries.map((e) => e.derivedFrom)).toEqual(pt12.entries.map((e) => [{ table: pt12.key, index: e.index }]));
  });
});
