/**
 * Xen PV pinning as a session shows it: the pin and unpin hypercalls name the table (its machine
 * frame and level), and the page-table state at an event marks the pinned tables. The expected
 * sets are worked out by hand from seed 003's rules, not read off the engine:
 * - `activate_mm` pins an address space when it is first loaded into CR3 (xen_activate_mm);
 * - `dup_mmap` pins a forked child's tables (xen_dup_mmap);
 * - `exit_mmap` unpins them (xen_exit_mmap → xen_pgd_unpin);
 * - the pin's argument is the mfn of the top-level table (`MMUEXT_PIN_L4_TABLE` under 4-level paging).
 * Frames: the guest OS hands out page-table frames lowest first from 0x100 (frames below 1 MiB are
 * the kernel's), so process 0's pml4 is 0x100, the map's pdpt/pd/pt 0x101-0x103 and the forked
 * child's pml4 0x104; the lab's p2m puts pfn p of VM 0 at mfn 0x400000 + p.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, run, scenario } from '../core/test/helpers.ts';
import type { ScenarioInput } from '../core/scenario.ts';
import { recordScenario } from './record.ts';
import { openSession } from './reader.ts';
import { pageTablesView } from './views.ts';
import { createVm } from '../core/engine.ts';
import type { Vm } from '../core/vm.ts';
import { PageState } from './state.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmulab-pinned-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const STEPS = [
  { op: 'map', va: 0x400000, gpa: 0x200000, levels: {} },
  { op: 'fork' },
  { op: 'cr3', process: 1 },
  { op: 'exit' },
  { op: 'cr3', process: 2 },
];
const input = (steps: readonly unknown[], pinning = true): ScenarioInput =>
  scenario({ kind: 'script', steps: steps as never }, {}, { mode: 'xenpv', xenpv: { pinning, batching: false } });
const MFN = (pfn: number) => 0x400000 + pfn;
const P0 = MFN(0x100);
const P1 = MFN(0x104);

/** Record the first `k` steps and return the tables marked pinned after the last event, by table id. */
function pinnedAfter(k: number, pinning = true, keyframeEvents?: number): number[] {
  const path = join(dir, `pin-${k}-${pinning}-${keyframeEvents ?? 0}.mmulab`);
  recordScenario(parse(input(STEPS.slice(0, k), pinning)), path, keyframeEvents ? { keyframeEvents, chunkEvents: 8 } : {});
  const { session } = openSession(path);
  if (!session) throw new Error('the session does not open');
  if (keyframeEvents) expect(session.keyframes.length).toBeGreaterThan(0);
  const last = session.eventCount - 1;
  const view = pageTablesView(session, session.stateAfter(last), last);
  const host = view.vms[0]!.host!;
  expect(host.kind).toBe('xenpv');
  return host.tables.filter((t) => t.role === 'pinned').map((t) => Number(t.key.split(':')[1])).sort((a, b) => a - b);
}

describe('Xen PV pinning in the session state', () => {
  it('pin and unpin hypercalls name the root table by machine frame and level', () => {
    const { events } = run(input(STEPS));
    const pins = events.flatMap((e) => (e.type === 'vmexit' && e.reason === 'hypercall:mmuext_op' && (e.handling === 'pin' || e.handling === 'unpin') ? [[e.handling, e.table, e.level, e.gpa]] : []));
    // activate_mm of process 0, dup_mmap of the child, exit_mmap of the child, activate_mm of process 2
    expect(pins.slice(0, 3)).toEqual([
      ['pin', P0, 4, 0x100000],
      ['pin', P1, 4, 0x104000],
      ['unpin', P1, 4, 0x104000],
    ]);
    expect(pins).toHaveLength(4);
    expect(pins[3]![0]).toBe('pin');
  });

  it('after each step, the pinned tables are the address spaces the seed pins and has not unpinned', () => {
    // process 2's pml4 is whichever frame the allocator hands out after the child's were freed: ask the guest OS
    const p2 = run(input(STEPS)).vm.os.procs.get(2);
    if (!p2) throw new Error('process 2 was not created');
    const P2 = MFN(p2.cr3 / 4096);
    expect(pinnedAfter(1)).toEqual([P0]); // process 0 loaded into CR3: activate_mm pins it
    expect(pinnedAfter(2)).toEqual([P0, P1]); // fork: dup_mmap pins the child
    expect(pinnedAfter(3)).toEqual([P0, P1]); // switching to the pinned child pins nothing new
    expect(pinnedAfter(4)).toEqual([P0]); // the child exits: exit_mmap unpins it
    expect(pinnedAfter(5)).toEqual([P0, P2].sort((a, b) => a - b)); // a new address space is pinned when first loaded
  });

  it('keyframes carry the pinned tables (a state rebuilt from one agrees with a replay from the start)', () => {
    expect(pinnedAfter(5, true, 4)).toEqual(pinnedAfter(5));
    expect(pinnedAfter(4, true, 4)).toEqual([P0]);
  });

  it('each guest entry Xen validated is linked to its machine-form entry (same index, in the table at the frame\'s mfn)', () => {
    const path = join(dir, 'mirrors.mmulab');
    recordScenario(parse(input(STEPS.slice(0, 1))), path);
    const { session } = openSession(path);
    const last = session!.eventCount - 1;
    const view = pageTablesView(session!, session!.stateAfter(last), last).vms[0]!;
    // the pte of 0x400000: entry 0 of the pt at 0x103000, mapping pfn 0x200 (P W U)
    const pt = view.guest.tables.find((t) => t.gpa === '0x103000')!;
    expect(pt.entries[0]!.mirrors).toEqual([{ table: `s0:${MFN(0x103)}`, index: 0 }]);
    const xenPte = view.host!.tables.find((t) => t.key === `s0:${MFN(0x103)}`)!.entries.find((e) => e.index === 0)!;
    expect(BigInt(xenPte.value)).toBe((BigInt(MFN(0x200)) << 12n) | 7n);
    // every guest entry of the mapping's four tables has its machine twin
    const mirrored = view.guest.tables.flatMap((t) => t.entries.filter((e) => e.mirrors?.length));
    expect(mirrored.map((e) => e.mirrors![0]!.table).sort()).toEqual([0x100, 0x101, 0x102, 0x103].map((f) => `s0:${MFN(f)}`).sort());
  });

  it('at every step of a fork-heavy run the session\'s Xen tables are exactly the frames Xen has typed, with their entries', () => {
    // Xen's own bookkeeping (its type counts, Mmu.tables()) against the replayed events: a child
    // filled by fork before dup_mmap pinned it, and a tree released at exit, show as they are
    for (const pinning of [true, false]) {
      const vm = createVm(parse(scenario({ kind: 'fork-cow', pages: 12, processes: 3 }, {}, { mode: 'xenpv', xenpv: { pinning, batching: true, batchSize: 5 } })), 0, {}) as Vm;
      const state = new PageState(1);
      let i = 0;
      let steps = 0;
      while (vm.step((e) => state.apply(e, i++))) {
        steps++;
        const typed = vm.mmu.tables();
        const live = new Map(PageState.liveTables(state.vms[0]!));
        expect([...live.keys()].sort((a, b) => a - b), `step ${steps}`).toEqual(typed.map((t) => t.id).sort((a, b) => a - b));
        for (const t of typed) expect([...live.get(t.id)!.entries].sort((a, b) => a[0] - b[0]), `step ${steps} table ${t.id}`).toEqual(t.entries);
      }
      expect(steps).toBeGreaterThan(10);
    }
  });

  it('without pinning nothing is marked pinned', () => {
    expect(pinnedAfter(5, false)).toEqual([]);
  });
});
