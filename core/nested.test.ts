/**
 * Nested TDP (mmu.rst, seed 004): an L2 guest on L1's EPT, shadowed by L0. The expected
 * exits follow from the mechanism: four exits to L0 for the first touch of each L2 frame
 * (reflect, L1's EPT12 write, L1's VMRESUME, the EPT02 fill), none for L2's own #PF or
 * CR3 loads. Guest-visible parity with the other modes is in paging.test.ts and
 * property.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { MmuEvent } from './events.ts';
import { parseScenario } from './scenario.ts';
import { EPT_R, EPT_RWX } from './tdp/spte.ts';
import { nestedOf, ofType, run, scenario } from './test/helpers.ts';

const nested = (pages: number, inveptEvery = 0) =>
  run({ ...scenario({ kind: 'demand-paging', pages }, {}, { mode: 'tdp', nested: { enabled: true, inveptEvery } }), hardware: { profile: 'ept-2012' } }, { audit: true });

const count = (events: MmuEvent[], reason: string, handling: string) => ofType(events, 'vmexit').filter((e) => e.reason === reason && e.handling === handling).length;

describe('nested TDP', () => {
  it('each L2 frame first touched costs four exits to L0; L2 #PFs and CR3 loads none', () => {
    const PAGES = 32;
    // frames L2 touches: its 32 data pages and its 4 tables (pml4, pdpt, pd, one pt for 32 pages)
    const frames = PAGES + 4;
    const { events, vm } = nested(PAGES);
    expect(vm.stopReason).toBe('done');
    expect(count(events, 'EPT_VIOLATION', 'reflect-to-l1')).toBe(frames);
    expect(count(events, 'EPT_VIOLATION', 'emulate-ept-write')).toBe(frames);
    expect(count(events, 'VMRESUME', 'nested-vmentry')).toBe(frames);
    expect(count(events, 'EPT_VIOLATION', 'shadow-ept-fill')).toBe(frames);
    expect(ofType(events, 'vmexit')).toHaveLength(4 * frames);
    // L2 takes its demand faults itself
    expect(ofType(events, 'guest_fault')).toHaveLength(PAGES);
    expect(ofType(events, 'vmexit').some((e) => e.reason === 'EXCEPTION_NMI' || e.reason === 'CR_ACCESS')).toBe(false);
    // the order for one frame: reflect, L1's EPT12 write, VMRESUME, fill
    expect(ofType(events, 'vmexit').slice(0, 4).map((e) => e.handling)).toEqual(['reflect-to-l1', 'emulate-ept-write', 'nested-vmentry', 'shadow-ept-fill']);
  });

  it('after L1 invalidates EPT02 (INVEPT) a known frame needs only the fill', () => {
    const { events } = nested(32, 10);
    const invept = count(events, 'INVEPT', 'sync-shadow-ept');
    expect(invept).toBeGreaterThan(0);
    expect(count(events, 'EPT_VIOLATION', 'reflect-to-l1')).toBe(36); // EPT12 is kept: L1 maps each frame once
    expect(count(events, 'EPT_VIOLATION', 'shadow-ept-fill')).toBeGreaterThan(36);
  });

  it('needs mmu.mode tdp', () => {
    const r = parseScenario(scenario({ kind: 'demand-paging', pages: 1 }, {}, { mode: 'shadow', nested: { enabled: true } }));
    expect(r).toEqual({ ok: false, error: 'vms[0].mmu.nested.enabled: nested TDP needs mmu.mode tdp (L1 runs L2 on its EPT)' });
  });

  it('on the AMD profile the exits carry the SVM names: npf for the nested page faults, vmrun for L1 resuming L2', () => {
    const { events } = run({ ...scenario({ kind: 'demand-paging', pages: 4 }, {}, { mode: 'tdp', nested: { enabled: true } }), hardware: { profile: 'npt-amd' } }, { audit: true });
    const reasons = ofType(events, 'vmexit').map((e) => e.reason);
    // 4 pages and their 4 tables: 8 frames, each reflect, EPT12 write, VMRUN, fill
    expect(reasons.slice(0, 4)).toEqual(['npf', 'npf', 'vmrun', 'npf']);
    expect(reasons.filter((r) => r === 'vmrun')).toHaveLength(8);
    expect(reasons.filter((r) => r === 'npf')).toHaveLength(24);
    expect(ofType(events, 'audit_violation')).toEqual([]);
  });

  it('the auditor catches an EPT02 entry that grants more than EPT12 allows', () => {
    const { events, vm } = nested(4);
    expect(ofType(events, 'audit_violation')).toEqual([]);
    const n = nestedOf(vm);
    if (!n) throw new Error('no nested TDP');
    // L2's first data frame: EPT02 maps it rwx. L1 now makes its EPT12 entry read-only with a
    // store L0 never saw (the write protection of EPT12 is what normally forbids this): EPT02 is stale.
    const frame = n.ept12.findIndex((r, i) => r === EPT_RWX && i > 256 + 4);
    expect(frame).toBeGreaterThan(0);
    n.ept12[frame] = EPT_R;
    const found: Array<[string, string]> = [];
    n.audit((rule, detail) => found.push([rule, detail]));
    expect(found).toEqual([['nested-ept02', `EPT02 gives L2 frame 0x${frame.toString(16)} rwx, but EPT12 allows r-- and EPT01 rwx (L1 frame 0x${(0x40000 + frame).toString(16)})`]]);
  });
});
