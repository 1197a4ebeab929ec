/**
 * Nested TDP (mmu.rst, seed 004): an L2 guest on L1's EPT12, shadowed by L0 as EPT02. The
 * expected exits are worked out by hand from the rules (core/nested/nestedTdp.ts), not read
 * off a run:
 *
 * The demand-paging guest (one vCPU, 4-level) takes its frames lowest first from 1 MiB
 * (frame 0x100): its PML4, PDPT, PD and PT, then one data frame per page (a second PT after
 * 512 pages). F frames touched in all, lying in R 2 MiB regions of L2 guest-physical memory
 * (512 frames each), all under one EPT12 PDPT and PD entry.
 * - Every frame's first touch: EPT02 misses, EPT12 does not map it → reflect (1), L1 stores
 *   the EPT12 entries, VMRESUME (1), L2 retries and L0 fills EPT02 (1): 3 exits, plus the
 *   trapped stores of L1.
 * - L1's stores: EPT12's root is shadowed from the start (L0 loaded EPT02 from it). The first
 *   frame needs a PDPT, a PD and a PT: three new pages, each a first touch of an L1 frame (3
 *   `map-gfn`); the store linking the PDPT into the shadowed root traps (1), the stores into
 *   the new pages do not (L0 has not shadowed them yet). The fill then shadows all four.
 *   Each further frame of a region already mapped: the leaf store into a shadowed PT traps
 *   (1). The first frame of a new region: a new PT (1 `map-gfn`), its link into the shadowed
 *   PD traps (1), the leaf store into the new PT does not.
 * So exits = 4 F + 2 + R (the PDPT and PD pages, and one PT per region), and the trapped
 * EPT12 writes are exactly F.
 */
import { describe, expect, it } from 'vitest';
import type { MmuEvent } from '../events.ts';
import { parseScenario } from '../scenario.ts';
import { EPT_R, EPT_RWX } from '../tdp/spte.ts';
import { nestedOf, ofType, run, scenario } from '../test/helpers.ts';
import { ept12Leaf } from './nestedTdp.ts';

const nested = (pages: number, inveptEvery = 0) =>
  run({ ...scenario({ kind: 'demand-paging', pages }, {}, { mode: 'tdp', nested: { enabled: true, inveptEvery } }), hardware: { profile: 'ept-2012' } }, { audit: true });

const count = (events: MmuEvent[], reason: string, handling: string) => ofType(events, 'vmexit').filter((e) => e.reason === reason && e.handling === handling).length;

describe('nested TDP: exits from the rules', () => {
  it('32 pages: F = 36 frames in one region → 4·36 + 2 + 1 = 147 exits', () => {
    const PAGES = 32;
    const F = PAGES + 4; // data pages and the 4 tables
    const { events, vm } = nested(PAGES);
    expect(vm.stopReason).toBe('done');
    expect(count(events, 'EPT_VIOLATION', 'reflect-to-l1')).toBe(F);
    expect(count(events, 'VMRESUME', 'nested-vmentry')).toBe(F);
    expect(count(events, 'EPT_VIOLATION', 'shadow-ept-fill')).toBe(F);
    expect(count(events, 'EPT_VIOLATION', 'emulate-ept-write')).toBe(F);
    expect(count(events, 'EPT_VIOLATION', 'map-gfn')).toBe(3);
    expect(ofType(events, 'vmexit')).toHaveLength(4 * F + 2 + 1);
    // L2 takes its demand faults itself: no #PF or CR3 exits
    expect(ofType(events, 'guest_fault')).toHaveLength(PAGES);
    expect(ofType(events, 'vmexit').some((e) => e.reason === 'EXCEPTION_NMI' || e.reason === 'CR_ACCESS')).toBe(false);
    // the first frame: reflect, L1 makes three EPT12 tables (each page's first touch faults in
    // EPT01; the link into the shadowed root traps), VMRESUME, fill
    expect(ofType(events, 'vmexit').slice(0, 7).map((e) => e.handling)).toEqual(['reflect-to-l1', 'map-gfn', 'emulate-ept-write', 'map-gfn', 'map-gfn', 'nested-vmentry', 'shadow-ept-fill']);
    // a later frame: reflect, the trapped leaf store, VMRESUME, fill
    expect(ofType(events, 'vmexit').slice(7, 11).map((e) => e.handling)).toEqual(['reflect-to-l1', 'emulate-ept-write', 'nested-vmentry', 'shadow-ept-fill']);
    expect(ofType(events, 'audit_violation')).toEqual([]);
  });

  it('600 pages: F = 605 frames (two PTs) in R = 2 regions → 4·605 + 2 + 2 exits, F trapped EPT12 writes', () => {
    const PAGES = 600;
    const F = PAGES + 5;
    const { events, vm } = nested(PAGES);
    expect(vm.stopReason).toBe('done');
    expect(count(events, 'EPT_VIOLATION', 'emulate-ept-write')).toBe(F);
    expect(count(events, 'EPT_VIOLATION', 'map-gfn')).toBe(2 + 2);
    expect(ofType(events, 'vmexit')).toHaveLength(4 * F + 2 + 2);
  });

  it('EPT12 is real tables in L1 memory: root, PDPT, PD, PT, each entry pointing at the next; EPT02 points where EPT01 maps EPT12\'s target', () => {
    const { vm } = nested(4);
    const n = nestedOf(vm);
    if (!n) throw new Error('no nested TDP');
    const roles = n.tables().map((t) => t.role);
    expect(roles.filter((r) => r === 'ept12')).toHaveLength(4);
    expect(roles.filter((r) => r === 'ept02')).toHaveLength(4);
    expect(roles.filter((r) => r === 'ept01').length).toBeGreaterThanOrEqual(4);
    // the first data frame of L2 (frame 0x104) is mapped rwx by L1 at L1 frame 0x40000 + 0x104
    const leaf = ept12Leaf(n, 0x104);
    expect(leaf).not.toBeNull();
    expect((leaf?.lo ?? 0) & EPT_RWX).toBe(EPT_RWX);
    expect(Math.floor((leaf?.lo ?? 0) / 4096)).toBe(0x40000 + 0x104);
  });

  it('INVEPT follows each change L1 makes to EPT12: the change traps and zaps only its EPT02 entry; EPT02 is otherwise kept', () => {
    const { events, vm } = nested(32, 10);
    const invept = count(events, 'INVEPT', 'sync-shadow-ept');
    expect(invept).toBeGreaterThan(0);
    const n = nestedOf(vm);
    expect(n?.stats.ept02Zapped).toBe(invept); // each change (X taken away) zaps one EPT02 entry
    // EPT12 still maps every frame once: no more reflections than without INVEPT
    expect(count(events, 'EPT_VIOLATION', 'reflect-to-l1')).toBe(36);
    // each change is one more trapped store
    expect(count(events, 'EPT_VIOLATION', 'emulate-ept-write')).toBe(36 + invept);
    // only a zapped frame touched again needs a new fill: at most one per INVEPT
    const fills = count(events, 'EPT_VIOLATION', 'shadow-ept-fill');
    expect(fills).toBeGreaterThanOrEqual(36);
    expect(fills).toBeLessThanOrEqual(36 + invept);
    expect(ofType(events, 'audit_violation')).toEqual([]);
  });

  it('needs mmu.mode tdp', () => {
    const r = parseScenario(scenario({ kind: 'demand-paging', pages: 1 }, {}, { mode: 'shadow', nested: { enabled: true } }));
    expect(r).toEqual({ ok: false, error: 'vms[0].mmu.nested.enabled: nested TDP needs mmu.mode tdp (L1 runs L2 on its EPT)' });
  });

  it('on the AMD profile the exits carry the SVM names: npf for the nested page faults, vmrun for L1 resuming L2', () => {
    const { events } = run({ ...scenario({ kind: 'demand-paging', pages: 4 }, {}, { mode: 'tdp', nested: { enabled: true } }), hardware: { profile: 'npt-amd' } }, { audit: true });
    const reasons = ofType(events, 'vmexit').map((e) => e.reason);
    // 4 pages and their 4 tables: 8 frames, each reflect, EPT12 write, VMRUN, fill; plus 3 EPT01 faults of L1
    expect(reasons.filter((r) => r === 'vmrun')).toHaveLength(8);
    expect(reasons.filter((r) => r === 'npf')).toHaveLength(3 * 8 + 3);
    expect(ofType(events, 'audit_violation')).toEqual([]);
  });

  it('the auditor catches an EPT02 entry that grants more than EPT12 allows', () => {
    const { events, vm } = nested(4);
    expect(ofType(events, 'audit_violation')).toEqual([]);
    const n = nestedOf(vm);
    if (!n) throw new Error('no nested TDP');
    // L1 makes the EPT12 entry of L2's first data frame read-only with a store L0 never saw
    // (the write protection of EPT12 is what normally forbids this): EPT02 is stale.
    const leaf = ept12Leaf(n, 0x104);
    if (!leaf) throw new Error('frame 0x104 not mapped');
    n.l1.ept12.write(leaf.frame, leaf.index, (leaf.lo & ~EPT_RWX) | EPT_R, leaf.hi);
    const found: Array<[string, string]> = [];
    n.audit((rule, detail) => found.push([rule, detail]));
    expect(found).toEqual([['nested-ept02', 'EPT02 gives L2 frame 0x104 rwx, but EPT12 allows r-- and EPT01 rwx (L1 frame 0x40104)']]);
  });
});
