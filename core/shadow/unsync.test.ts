/**
 * Unsync shadow pages (mmu.rst, seed 004): exit counts that follow from the mechanism, the
 * resync on invlpg and CR3, and the auditor's invariants on random guests with unsync on.
 * Guest-visible parity with the other modes on random scripts is in property.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { MmuEvent } from '../events.ts';
import type { PagingMode, ScriptStep } from '../scenario.ts';
import { ofType, run, scenario, shadowOf } from '../test/helpers.ts';

/** The upper-level entries as the first access left them (accessed), so a later `map` rewrites only the pte. */
function upperAccessed(paging: PagingMode): Extract<ScriptStep, { op: 'map' }>['levels'] {
  const a = ['P', 'W', 'U', 'A'] as ('P' | 'W' | 'U' | 'A')[];
  if (paging === 'long4') return { pml4: a, pdpt: a, pd: a };
  return paging === 'pae' ? { pdpt: ['P'], pd: a } : { pd: a };
}

const handlings = (events: MmuEvent[], h: string) => ofType(events, 'vmexit').filter((e) => e.handling === h).length;
const P = 1, W = 2, U = 4;

describe('unsync shadow pages', () => {
  // The kernel writes N more ptes of a pt that is already shadowed (0x400000 is in it),
  // reloads CR3 and uses K of the pages. Write-protected (flood detection off, update), each
  // pte store is an emulated write that also updates the spte: N exits, none for the K
  // accesses. Unsync, the first store marks the page out of sync and the other N-1 run
  // natively (1 exit); the CR3 write resyncs the page, and each of the K accesses faults
  // once to fill its spte (the resync only re-derives sptes that were present): 1 + K.
  const N = 40;
  const K = 5;
  const populate = (unsync: boolean, paging: PagingMode = 'long4') => {
    const steps: ScriptStep[] = [
      { op: 'map', va: 0x400000, gpa: 0x200000, size: '4k', levels: {} },
      { op: 'access', va: 0x400000, access: 'read', cpl: 3 },
      ...Array.from({ length: N }, (_, i): ScriptStep => ({ op: 'map', va: 0x401000 + i * 0x1000, gpa: 0x201000 + i * 0x1000, size: '4k', levels: { ...upperAccessed(paging), pt: ['P', 'W', 'U', 'A', 'D'] } })),
      { op: 'cr3', process: 0 },
      ...Array.from({ length: K }, (_, i): ScriptStep => ({ op: 'access', va: 0x401000 + i * 0x8000, access: 'write', cpl: 3 })),
    ];
    return run(scenario({ kind: 'script', steps }, { paging }, { mode: 'shadow', shadow: { unsync, floodThreshold: 10_000, onGuestPteWrite: 'update' } }), { audit: true });
  };

  for (const paging of ['long4', 'pae', 'nonpae'] as const) {
    it(`writing ${N} ptes and using ${K}: ${N} exits write-protected, 1 + ${K} out of sync (${paging})`, () => {
      const off = populate(false, paging);
      const on = populate(true, paging);
      const ptWrites = (events: MmuEvent[]) => ofType(events, 'vmexit').filter((e) => (e.handling === 'emulate-pte-write' || e.handling === 'unsync') && ofType(events, 'gpte_write').some((g) => g.gpa === e.gpa && g.level === 1)).length;
      expect(ptWrites(off.events)).toBe(N);
      expect(handlings(on.events, 'unsync')).toBe(1);
      expect(ptWrites(on.events)).toBe(1);
      // the whole run: the same exits before and after, N vs 1 + K in between
      expect(ofType(off.events, 'vmexit').length - ofType(on.events, 'vmexit').length).toBe(N - (1 + K));
      expect(handlings(on.events, 'fill-spte') - handlings(off.events, 'fill-spte')).toBe(K);
      // CR3 resyncs the page: it is write-protected again
      const pages = ofType(on.events, 'shadow_page');
      expect(pages.filter((p) => p.action === 'unsync')).toHaveLength(1);
      expect(pages.filter((p) => p.action === 'sync').length).toBeGreaterThanOrEqual(1);
      expect(shadowOf(on.vm)?.pages.unsyncGfns.size).toBe(0);
      // the guest sees the same thing
      expect(ofType(on.events, 'guest_access').map((a) => a.result)).toEqual(ofType(off.events, 'guest_access').map((a) => a.result));
      expect(ofType(on.events, 'audit_violation')).toEqual([]);
    });
  }

  it('invlpg exits and resyncs the stale spte: the reduced right then applies', () => {
    const script: ScriptStep[] = [
      { op: 'map', va: 0x400000, gpa: 0x200000, size: '4k', levels: {} },
      { op: 'access', va: 0x400000, access: 'write', cpl: 3 },
      { op: 'map', va: 0x400000, gpa: 0x200000, size: '4k', levels: { ...upperAccessed('long4'), pt: ['P', 'U', 'A', 'D'] } },
      { op: 'access', va: 0x400000, access: 'write', cpl: 3 }, // the stale translation may still allow it (SDM 4.10.4)
      { op: 'invlpg', va: 0x400000 },
      { op: 'access', va: 0x400000, access: 'write', cpl: 3 },
    ];
    const on = run(scenario({ kind: 'script', steps: script }, {}, { mode: 'shadow', shadow: { unsync: true } }), { audit: true });
    const tdp = run(scenario({ kind: 'script', steps: script }, {}, { mode: 'tdp' }));
    const outcome = (events: MmuEvent[]) => ofType(events, 'guest_access').map((a) => a.errorCode ?? a.result);
    expect(outcome(on.events)).toEqual(['ok', 'ok', P | W | U]);
    expect(outcome(tdp.events)).toEqual(outcome(on.events));
    expect(ofType(on.events, 'vmexit').filter((e) => e.reason === 'INVLPG').map((e) => e.handling)).toEqual(['sync-shadow-pages']);
    expect(ofType(on.events, 'audit_violation')).toEqual([]);
  });

  it('without unsync invlpg is not trapped', () => {
    const { events } = run(scenario({ kind: 'script', steps: [{ op: 'invlpg', va: 0x400000 }] }, {}, { mode: 'shadow' }));
    expect(ofType(events, 'vmexit').some((e) => e.reason === 'INVLPG')).toBe(false);
  });

  it('upper-level tables never go out of sync', () => {
    const { events } = run(scenario({ kind: 'script', steps: [
      { op: 'map', va: 0x400000, gpa: 0x200000, size: '4k', levels: {} },
      { op: 'access', va: 0x400000, access: 'read', cpl: 3 },
      { op: 'map', va: 0x40000000, gpa: 0x200000, size: '4k', levels: {} }, // writes the pml4 and pdpt (shadowed, upper levels)
    ] }, {}, { mode: 'shadow', shadow: { unsync: true, floodThreshold: 10_000 } }), { audit: true });
    const unsynced = ofType(events, 'shadow_page').filter((p) => p.action === 'unsync');
    expect(unsynced.every((p) => p.level === 1)).toBe(true);
    expect(handlings(events, 'emulate-pte-write')).toBeGreaterThanOrEqual(1);
  });
});

describe('unsync: random workloads keep the auditor quiet', () => {
  it('holds for the built-in workload kinds with random parameters, paging modes, vCPUs and policies', () => {
    const workloadArb = fc.oneof(
      fc.record({ kind: fc.constant('demand-paging' as const), pages: fc.integer({ min: 1, max: 40 }) }),
      fc.record({ kind: fc.constant('fork-cow' as const), pages: fc.integer({ min: 1, max: 24 }), processes: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ kind: fc.constant('kbuild' as const), pages: fc.integer({ min: 1, max: 12 }), processes: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ kind: fc.constant('context-switch' as const), pages: fc.integer({ min: 1, max: 8 }), processes: fc.integer({ min: 1, max: 4 }), iterations: fc.integer({ min: 1, max: 10 }) }),
    );
    fc.assert(
      fc.property(workloadArb, fc.constantFrom<PagingMode>('nonpae', 'pae', 'long4'), fc.integer({ min: 1, max: 3 }), fc.constantFrom('zap' as const, 'update' as const), fc.integer({ min: 8, max: 64 }), fc.integer({ min: 1, max: 5 }), (workload, paging, vcpus, onGuestPteWrite, cachePages, floodThreshold) => {
        const { events, vm } = run(scenario(workload, { paging }, { mode: 'shadow', shadow: { unsync: true, onGuestPteWrite, cachePages, floodThreshold } }, { vcpus }), { audit: true });
        expect(vm.stopReason).toBe('done');
        expect(ofType(events, 'audit_violation')).toEqual([]);
      }),
      { numRuns: 30, seed: 404 },
    );
  });
});
