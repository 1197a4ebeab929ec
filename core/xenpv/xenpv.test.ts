/**
 * Xen PV direct paging (seed 003): validation, pinning and batching, with the expected
 * counts worked out from the mechanism (tables × entries, pte updates ÷ batch size), not
 * read off the engine. Guest-visible parity with shadow paging and TDP is in
 * paging.test.ts (the SDM table) and property.test.ts (random scripts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findBuiltin } from '../builtins.ts';
import type { MmuEvent } from '../events.ts';
import type { PagingMode, ScenarioInput } from '../scenario.ts';
import { ofType, run, scenario, xenOf } from '../test/helpers.ts';

type Xen = { pinning: boolean; batching: boolean; batchSize?: number };
const forkCow = (pages: number, processes: number, xenpv: Xen, paging: PagingMode = 'long4', audit = true) =>
  run(scenario({ kind: 'fork-cow', pages, processes }, { paging }, { mode: 'xenpv', xenpv }), { audit });

function exits(events: MmuEvent[], reason: string, handling?: string): number {
  return ofType(events, 'vmexit').filter((e) => e.reason === reason && (handling === undefined || e.handling === handling)).length;
}

const U = 4, W = 2, P = 1;

describe('Xen PV validation', () => {
  it('refuses a writable mapping of a page table and allows a read-only one', () => {
    const b = findBuiltin('xenpv-reject');
    if (!b) throw new Error('no xenpv-reject');
    const { events, vm } = run(b.scenario, { audit: true });
    expect(vm.stopReason).toBe('done');
    const rejects = ofType(events, 'guest_os').filter((e) => e.action === 'xen-reject');
    expect(rejects).toHaveLength(1);
    expect(rejects[0]?.detail).toMatch(/page table and cannot be mapped writable/);
    expect(exits(events, 'hypercall:mmu_update', 'reject-update')).toBe(1);
    // the refused pte never reached memory: the write finds it not present (SDM 4.7: U|W)
    expect(ofType(events, 'guest_access').map((a) => a.errorCode ?? a.result)).toEqual([U | W, 'ok']);
    expect(ofType(events, 'audit_violation')).toEqual([]);
  });

  it('the same script under shadow paging is accepted (shadow paging needs no such rule)', () => {
    const b = findBuiltin('xenpv-reject');
    if (!b) throw new Error('no xenpv-reject');
    const vm0 = b.scenario.vms[0];
    if (!vm0) throw new Error('no vm');
    const { events } = run({ ...b.scenario, vms: [{ ...vm0, mmu: { mode: 'shadow' } }] }, { audit: true });
    expect(ofType(events, 'guest_access').map((a) => a.result)).toEqual(['ok', 'ok']);
  });

  it('refuses to make a frame that is mapped writable into a page table', () => {
    // tables: 0x100000 pml4, 0x101000 pdpt, 0x102000 pd, 0x103000 pt; the next table frame is 0x104000
    const steps = [
      { op: 'map', va: 0x400000, gpa: 0x104000, levels: {} },
      { op: 'map', va: 0x40000000, gpa: 0x200000, levels: {} },
      { op: 'access', va: 0x40000000, access: 'read', cpl: 3 },
    ] as const;
    const { events } = run(scenario({ kind: 'script', steps: steps as never }, {}, { mode: 'xenpv' }), { audit: true });
    const rejects = ofType(events, 'guest_os').filter((e) => e.action === 'xen-reject');
    expect(rejects.map((r) => r.detail)).toEqual([expect.stringMatching(/0x104 is mapped writable and cannot become a page table/)]);
    // the pdpte linking 0x104000 was refused, so the walk stops at the pdpt: not present
    expect(ofType(events, 'guest_access').map((a) => a.errorCode)).toEqual([U]);
  });

  it('entries Xen writes hold machine frames (pfn → mfn), the guest reads back pfns', () => {
    const { events, vm } = run(scenario({ kind: 'script', steps: [{ op: 'map', va: 0x400000, gpa: 0x200000, levels: {} }] }, {}, { mode: 'xenpv' }));
    const xen = xenOf(vm);
    if (!xen) throw new Error('xenpv expected');
    const leaf = ofType(events, 'spte_write').find((e) => e.level === 1);
    const guest = ofType(events, 'gpte_write').find((e) => e.level === 1);
    expect(guest?.new).toBe(0x200000n | 7n);
    expect(leaf?.new).toBe((BigInt(xen.mfn(0x200)) << 12n) | 7n);
    expect(leaf?.table).toBe(xen.mfn(0x103));
  });

  it('every guest #PF is one trap into Xen, bounced to the guest', () => {
    const { events } = forkCow(16, 2, { pinning: true, batching: true });
    expect(exits(events, 'trap:page_fault', 'inject-guest-pf')).toBe(ofType(events, 'guest_fault').length);
    expect(ofType(events, 'vmexit').some((e) => e.reason === 'EXCEPTION_NMI')).toBe(false);
  });
});

describe('Xen PV: a bad entry in a table that is not in use is caught when it is validated', () => {
  it('without pinning, loading a tree that maps its own pt writable is refused and the guest crashes', () => {
    const { vm, events } = run(scenario({ kind: 'script', steps: [
      { op: 'map', va: 0x400000, gpa: 0x200000, levels: {} }, // process 0: tables 0x100000-0x103000
      { op: 'cr3', process: 1 }, // process 0's tree is no longer in use: released, ordinary memory
    ] }, {}, { mode: 'xenpv', xenpv: { pinning: false, batching: false } }), { audit: true });
    const p0 = vm.os.procs.get(0);
    const xen = xenOf(vm);
    if (!p0 || !xen) throw new Error('setup');
    expect(xen.isPageTable(0x103)).toBe(false);
    // the kernel writes process 0's (unvalidated) pt with plain stores: a writable mapping of that pt itself
    vm.os.map(p0, 0x401000, 0x103000, '4k', {});
    const more: MmuEvent[] = [];
    vm.emitter.sink = (e) => more.push(e);
    vm.switchTo(p0);
    expect(vm.stopReason).toBe('guest-crashed');
    expect(ofType(more, 'guest_os').map((e) => e.detail)).toEqual([expect.stringMatching(/new base pointer 0x100 refused: .*0x103 is an L1 page table and cannot be mapped writable/)]);
    expect(ofType(events, 'audit_violation')).toEqual([]);
    // the refused validation gave back every reference it had taken
    expect([0x100, 0x101, 0x102, 0x103].map((f) => xen.typeCount[f])).toEqual([0, 0, 0, 0]);
    expect(xen.writable[0x200]).toBe(0);
  });
});

describe('Xen PV batching: hypercalls divided by the batch size', () => {
  // fork write-protects the parent's P dirty ptes inside lazy MMU mode: P mmu_update
  // requests per fork; the child's tables are not pinned yet, so its entries are plain stores.
  const PAGES = 64;
  const FORKS = 3;
  const off = forkCow(PAGES, FORKS, { pinning: true, batching: false }, 'long4', false);
  for (const batchSize of [1, 8, 32, 64, 100]) {
    it(`batch size ${batchSize}: ${FORKS} forks × ceil(${PAGES}/${batchSize}) multicalls`, () => {
      const on = forkCow(PAGES, FORKS, { pinning: true, batching: true, batchSize }, 'long4', batchSize === 8);
      const perFork = Math.ceil(PAGES / batchSize);
      expect(exits(on.events, 'hypercall:multicall')).toBe(FORKS * perFork);
      expect(exits(off.events, 'hypercall:multicall')).toBe(0);
      const hypercalls = (events: MmuEvent[]) => ofType(events, 'vmexit').filter((e) => e.reason.startsWith('hypercall:')).length;
      expect(hypercalls(off.events) - hypercalls(on.events)).toBe(FORKS * (PAGES - perFork));
      // the same updates reach the tables either way
      expect(ofType(on.events, 'spte_write').length).toBe(ofType(off.events, 'spte_write').length);
      expect(ofType(on.events, 'audit_violation')).toEqual([]); // audited for batch size 8
    });
  }
});

describe('Xen PV pinning: no revalidation on CR3 loads', () => {
  // long4, fewer than 512 pages in one region: a process has 4 tables (pml4, pdpt, pd, pt)
  // of 512 entries. The parent starts with an empty pml4 (512 entries validated) and links
  // 3 fresh tables while demand-faulting (3 × 512). Pinned, each child is validated once
  // (its pin after fork: 4 × 512). Unpinned, every switch to the child and back to the
  // parent validates the whole tree again (2 × 4 × 512 per fork).
  const FORKS = 3;
  it('validated entries follow from the tables validated', () => {
    const pinned = forkCow(32, FORKS, { pinning: true, batching: false });
    const unpinned = forkCow(32, FORKS, { pinning: false, batching: false });
    expect(xenOf(pinned.vm)?.stats.validatedEntries).toBe(2048 + FORKS * 2048);
    expect(xenOf(unpinned.vm)?.stats.validatedEntries).toBe(2048 + FORKS * 4096);
    expect(exits(pinned.events, 'hypercall:mmuext_op', 'pin')).toBe(1 + FORKS);
    expect(exits(pinned.events, 'hypercall:mmuext_op', 'unpin')).toBe(FORKS);
    expect(exits(unpinned.events, 'hypercall:mmuext_op', 'pin')).toBe(0);
    // full validations: pinned, one per process; unpinned, the first load and two per fork
    expect(xenOf(pinned.vm)?.stats.fullValidations).toBe(1 + FORKS);
    expect(xenOf(unpinned.vm)?.stats.fullValidations).toBe(1 + 2 * FORKS);
  });

  it('the guest sees the same faults and page-table contents whatever the options', () => {
    const view = (events: MmuEvent[]) => JSON.stringify([...ofType(events, 'guest_fault'), ...ofType(events, 'gpte_write')].map(({ t: _t, ...rest }) => rest), (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v));
    const base = view(forkCow(24, 2, { pinning: true, batching: true }).events);
    expect(view(forkCow(24, 2, { pinning: false, batching: false }).events)).toBe(base);
    expect(view(forkCow(24, 2, { pinning: false, batching: true, batchSize: 5 }).events)).toBe(base);
    const shadow = run(scenario({ kind: 'fork-cow', pages: 24, processes: 2 }, {}, { mode: 'shadow' })).events;
    expect(view(shadow)).toBe(base);
  });
});

describe('Xen PV: random workloads keep the reference counts right', () => {
  it('the auditor (recounting every type and writable reference) finds nothing', () => {
    const workloadArb = fc.oneof(
      fc.record({ kind: fc.constant('demand-paging' as const), pages: fc.integer({ min: 1, max: 40 }) }),
      fc.record({ kind: fc.constant('fork-cow' as const), pages: fc.integer({ min: 1, max: 24 }), processes: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ kind: fc.constant('kbuild' as const), pages: fc.integer({ min: 1, max: 12 }), processes: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ kind: fc.constant('context-switch' as const), pages: fc.integer({ min: 1, max: 8 }), processes: fc.integer({ min: 1, max: 3 }), iterations: fc.integer({ min: 1, max: 8 }) }),
    );
    fc.assert(
      fc.property(workloadArb, fc.constantFrom<PagingMode>('nonpae', 'pae', 'long4'), fc.integer({ min: 1, max: 3 }), fc.boolean(), fc.boolean(), fc.integer({ min: 1, max: 40 }), (workload, paging, vcpus, pinning, batching, batchSize) => {
        const input: ScenarioInput = scenario(workload, { paging }, { mode: 'xenpv', xenpv: { pinning, batching, batchSize } }, { vcpus });
        const { events, vm } = run(input, { audit: true });
        expect(vm.stopReason).toBe('done');
        expect(ofType(events, 'audit_violation')).toEqual([]);
        expect(ofType(events, 'guest_os').filter((e) => e.action === 'xen-reject')).toEqual([]);
      }),
      { numRuns: 30, seed: 303 },
    );
  });
});

describe('Xen PV error codes', () => {
  it('a user write to a read-only page traps with P|W|U', () => {
    const { events } = run(scenario({ kind: 'script', steps: [{ op: 'map', va: 0x400000, gpa: 0x200000, levels: { pt: ['P', 'U'] } }, { op: 'access', va: 0x400000, access: 'write', cpl: 3 }] }, {}, { mode: 'xenpv' }));
    expect(ofType(events, 'guest_fault').map((f) => f.errorCode)).toEqual([P | W | U]);
    expect(exits(events, 'trap:page_fault')).toBe(1);
  });
});
