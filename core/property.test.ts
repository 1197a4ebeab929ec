/**
 * Property tests: random scripted guests, run with the auditor on, under shadow paging
 * (zap and update, and with unsync pages), TDP, nested TDP, nested shadow paging (on EPT
 * and on shadow) and Xen PV. The auditor must find nothing, and the guest must not be able to tell the modes apart: the same access outcomes, the same guest page-table writes
 * (including the accessed/dirty bits the walks set). After each `map` the script reloads
 * CR3, so no case depends on how long a stale TLB entry lives (architecturally open).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { eventToJson, type MmuEvent } from './events.ts';
import type { PagingMode, PteFlag, ScenarioInput, ScriptStep } from './scenario.ts';
import { ofType, run, scenario } from './test/helpers.ts';

const VAS = [0x400000, 0x401000, 0x5ff000, 0x600000, 0x40000000, 0x40201000];
/** Guest-physical targets: RAM, and 0x4000000, the first frame above the 64 MiB of RAM (MMIO: emulated, never mapped, in every mode). */
const GPAS = [0x200000, 0x201000, 0x400000, 0x4000000];
const LEVELS: Record<PagingMode, Array<'pml4' | 'pdpt' | 'pd' | 'pt'>> = { nonpae: ['pd', 'pt'], pae: ['pdpt', 'pd', 'pt'], long4: ['pml4', 'pdpt', 'pd', 'pt'] };

/** Each flag with its own odds: mostly present, user and writable, so walks get deep and succeed. */
function flagsArb(mode: PagingMode): fc.Arbitrary<PteFlag[]> {
  const odds: Array<[PteFlag, number]> = [['P', 92], ['W', 75], ['U', 75], ['A', 50], ['D', 50]];
  if (mode !== 'nonpae') odds.push(['NX', 15], ['RSVD', 4]);
  return fc.tuple(...odds.map(() => fc.integer({ min: 0, max: 99 }))).map((rolls) => odds.filter(([, p], i) => (rolls[i] as number) < p).map(([f]) => f));
}

type Op = { kind: 'map'; va: number; gpa: number; levels: Partial<Record<string, PteFlag[]>>; then: 'read' | 'write' | 'fetch'; cpl: 0 | 3; large: boolean } | { kind: 'access'; va: number; access: 'read' | 'write' | 'fetch'; cpl: 0 | 3 } | { kind: 'invlpg'; va: number } | { kind: 'switch'; process: number } | { kind: 'fork' } | { kind: 'exit' };

function opArb(mode: PagingMode): fc.Arbitrary<Op> {
  const levels = fc.record(Object.fromEntries(LEVELS[mode].map((l) => [l, flagsArb(mode)])), { requiredKeys: [] });
  return fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('map' as const), va: fc.constantFrom(...VAS), gpa: fc.constantFrom(...GPAS), levels, then: fc.constantFrom('read' as const, 'write' as const, 'fetch' as const), cpl: fc.constantFrom(0 as const, 3 as const), large: fc.boolean() }) },
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('access' as const), va: fc.constantFrom(...VAS).chain((v) => fc.nat(4095).map((o) => v + o)), access: fc.constantFrom('read' as const, 'write' as const, 'fetch' as const), cpl: fc.constantFrom(0 as const, 3 as const) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('invlpg' as const), va: fc.constantFrom(...VAS) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('switch' as const), process: fc.constantFrom(0, 1, 2) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('fork' as const, 'exit' as const) }) },
  );
}

function toSteps(ops: Op[], paging: PagingMode): ScriptStep[] {
  let current = 0;
  const steps: ScriptStep[] = [];
  for (const op of ops) {
    if (op.kind === 'map') {
      // a large page where the va is aligned for one: 4 MiB in non-PAE, else 2 MiB
      const large = op.large && (op.va === 0x400000 || op.va === 0x40000000);
      const size = large ? (paging === 'nonpae' ? '4m' : '2m') : '4k';
      steps.push({ op: 'map', va: op.va, gpa: large ? 0x400000 : op.gpa, size, levels: op.levels });
      steps.push({ op: 'cr3', process: current });
      steps.push({ op: 'access', va: op.va + 8, access: op.then, cpl: op.cpl });
    } else if (op.kind === 'access') steps.push({ op: 'access', va: op.va, access: op.access, cpl: op.cpl });
    else if (op.kind === 'invlpg') steps.push({ op: 'invlpg', va: op.va });
    else if (op.kind === 'fork' || op.kind === 'exit') {
      // after exit the script runs in an unknown process: name one, so maps go where we think
      steps.push({ op: op.kind }, { op: 'cr3', process: current });
    } else {
      current = op.process;
      steps.push({ op: 'cr3', process: current });
    }
  }
  return steps;
}

const guestArb = fc.constantFrom<PagingMode>('nonpae', 'pae', 'long4').chain((paging) =>
  fc.record({
    paging: fc.constant(paging),
    wp: fc.boolean(),
    smep: fc.boolean(),
    smap: fc.boolean(),
    nx: fc.boolean(),
    ops: fc.array(opArb(paging), { minLength: 1, maxLength: 30 }),
  }),
);

/** What the guest can observe: its accesses and its own page-table contents over time. */
function guestView(events: MmuEvent[]): string[] {
  return [...ofType(events, 'guest_access'), ...ofType(events, 'gpte_write')].map((e) => {
    const { t: _t, vcpu: _v, vm: _vm, ...rest } = eventToJson(e);
    return JSON.stringify(rest);
  }).sort();
}

describe('random guests: auditor clean, modes indistinguishable', () => {
  it('holds for random scripts on every paging mode', () => {
    fc.assert(
      fc.property(guestArb, (g) => {
        const guest = { paging: g.paging, cr0: { wp: g.wp }, cr4: { pse: true, smep: g.smep, smap: g.smap }, efer: { nx: g.nx } };
        const workload = { kind: 'script' as const, steps: toSteps(g.ops, g.paging) } as ScenarioInput['vms'][number]['guest']['workload'];
        const views = (['zap', 'update', 'tdp', 'xenpv', 'unsync', 'nested', 'nested-shadow', 'nested-shadow-shadow'] as const).map((m) => {
          const mmu = m === 'tdp' || m === 'xenpv' ? { mode: m } : m === 'unsync' ? { mode: 'shadow' as const, shadow: { unsync: true } } : m === 'nested' ? { mode: 'tdp' as const, nested: { enabled: true } } : m === 'nested-shadow' ? { mode: 'tdp' as const, nested: { enabled: true, l1Mmu: 'shadow' as const } } : m === 'nested-shadow-shadow' ? { mode: 'shadow' as const, nested: { enabled: true, l1Mmu: 'shadow' as const } } : { mode: 'shadow' as const, shadow: { onGuestPteWrite: m } };
          const { events, vm } = run(scenario(workload, guest, mmu), { audit: true });
          expect(vm.stopReason).toBe('done');
          expect(ofType(events, 'audit_violation')).toEqual([]);
          return guestView(events);
        });
        expect(views[0]).toEqual(views[2]);
        expect(views[1]).toEqual(views[2]);
        expect(views[3]).toEqual(views[2]);
        expect(views[4]).toEqual(views[2]);
        expect(views[5]).toEqual(views[2]);
        expect(views[6]).toEqual(views[2]);
        expect(views[7]).toEqual(views[2]);
      }),
      { numRuns: 150, seed: 4242 },
    );
  });
});

describe('random workloads: the auditor finds nothing', () => {
  it('holds for the built-in workload kinds with random parameters, paging modes and vCPU counts', () => {
    const workloadArb = fc.oneof(
      fc.record({ kind: fc.constant('demand-paging' as const), pages: fc.integer({ min: 1, max: 40 }) }),
      fc.record({ kind: fc.constant('fork-cow' as const), pages: fc.integer({ min: 1, max: 24 }), processes: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ kind: fc.constant('kbuild' as const), pages: fc.integer({ min: 1, max: 16 }), processes: fc.integer({ min: 1, max: 4 }) }),
      fc.record({ kind: fc.constant('context-switch' as const), pages: fc.integer({ min: 1, max: 8 }), processes: fc.integer({ min: 1, max: 4 }), iterations: fc.integer({ min: 1, max: 12 }) }),
    );
    fc.assert(
      fc.property(workloadArb, fc.constantFrom<PagingMode>('nonpae', 'pae', 'long4'), fc.integer({ min: 1, max: 3 }), fc.constantFrom('zap' as const, 'update' as const), fc.integer({ min: 8, max: 64 }), fc.integer({ min: 1, max: 5 }), (workload, paging, vcpus, onGuestPteWrite, cachePages, floodThreshold) => {
        const { events, vm } = run(scenario(workload, { paging }, { mode: 'shadow', shadow: { onGuestPteWrite, cachePages, floodThreshold } }, { vcpus }), { audit: true });
        expect(vm.stopReason).toBe('done');
        expect(ofType(events, 'audit_violation')).toEqual([]);
      }),
      { numRuns: 40, seed: 99 },
    );
  });
});
