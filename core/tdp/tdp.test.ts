/**
 * TDP (EPT/NPT) as mmu.rst and the SDM describe it: the guest owns its page tables, so a
 * guest #PF never exits; EPT violations happen on the first touch of a guest frame (or of a
 * 2 MiB region with large host pages); an access to a frame no memslot backs is MMIO and
 * repeats exit as EPT misconfigurations; a TLB miss pays the 2D walk, g·(h+1)+h references
 * without caches (Bhargava et al., ASPLOS 2008). Expected counts are worked out by hand
 * from the frames the guest OS allocates (lowest first from frame 256: the pml4 at 256,
 * then the pdpt, pd and pt a first `map` creates at 257, 258, 259).
 */
import { describe, expect, it } from 'vitest';
import type { MmuEvent } from '../events.ts';
import type { ScenarioInput, ScriptStep } from '../scenario.ts';
import { ofType, run, tdpOf } from '../test/helpers.ts';

type Tdp = { largePages?: boolean; walkCaches?: boolean; fastPageFault?: boolean };
type Paging = 'nonpae' | 'pae' | 'long4';

function tdpScript(steps: readonly object[], tdp: Tdp = {}, paging: Paging = 'long4', profile: 'ept-2012' | 'npt-amd' = 'ept-2012'): ScenarioInput {
  return { name: 't', seed: 1, hardware: { profile }, vms: [{ vcpus: 1, memoryMiB: 64, guest: { paging, workload: { kind: 'script', steps: steps as unknown as ScriptStep[] } }, mmu: { mode: 'tdp', tdp } }] };
}

const MAP_A = { op: 'map', va: '0x400000', gpa: '0x200000', size: '4k', levels: {} } as const;
const MAP_B = { op: 'map', va: '0x401000', gpa: '0x201000', size: '4k', levels: {} } as const;
const read = (va: string) => ({ op: 'access', va, access: 'read', cpl: 3 }) as const;
const write = (va: string) => ({ op: 'access', va, access: 'write', cpl: 3 }) as const;

/** The events from the n-th scripted access (0-based) back to the previous one. */
function aroundAccess(events: MmuEvent[], n: number): MmuEvent[] {
  const idx = events.map((e, i) => (e.type === 'guest_access' ? i : -1)).filter((i) => i >= 0);
  return events.slice(n === 0 ? 0 : (idx[n - 1] as number) + 1, (idx[n] as number) + 1);
}
const walksIn = (events: MmuEvent[]) => ofType(events, 'page_walk').map((w) => w.refs);

describe('EPT violations: first touch only', () => {
  it('one per guest frame touched (4 table frames + 1 data frame), then none', () => {
    const { events } = run(tdpScript([MAP_A, read('0x400010'), write('0x400020'), read('0x400030')], { largePages: false }));
    const exits = ofType(events, 'vmexit');
    expect(exits.map((e) => e.reason)).toEqual(Array(5).fill('EPT_VIOLATION'));
    expect(exits.map((e) => (e.gpa as number) / 4096)).toEqual([256, 257, 258, 259, 512]);
    expect(ofType(events, 'guest_access').every((a) => a.result === 'ok')).toBe(true);
  });

  it('with large host pages, one per 2 MiB region: frames 256-259 share region 0, 512 is region 1', () => {
    const { events, vm } = run(tdpScript([MAP_A, read('0x400010'), write('0x400020')], { largePages: true }));
    expect(ofType(events, 'vmexit').map((e) => e.reason)).toEqual(['EPT_VIOLATION', 'EPT_VIOLATION']);
    expect(tdpOf(vm)?.stats.largePages).toBe(2);
  });

  it('a guest #PF is delivered without any exit', () => {
    const { events } = run(tdpScript([MAP_A, read('0x400000'), read('0x401000'), write('0x7000000')], { largePages: false }));
    for (const n of [1, 2]) {
      const slice = aroundAccess(events, n);
      expect(ofType(slice, 'vmexit')).toEqual([]);
      expect(ofType(slice, 'guest_fault')).toHaveLength(1);
    }
    expect(ofType(events, 'guest_access').map((a) => a.errorCode)).toEqual([undefined, 4, 6]); // U; W|U (SDM 4.7)
  });

  it('NPT names the exit npf on the AMD profile', () => {
    const { events } = run(tdpScript([MAP_A, read('0x400000')], { largePages: false }, 'long4', 'npt-amd'));
    expect(new Set(ofType(events, 'vmexit').map((e) => e.reason))).toEqual(new Set(['npf']));
  });
});

describe('MMIO: a frame no memslot backs', () => {
  const MAP_MMIO = { op: 'map', va: '0x400000', gpa: '0x4000000', size: '4k', levels: {} } as const; // 64 MiB: the first frame above RAM
  it('the first access is an EPT violation, the repeats EPT misconfigurations served from the MMIO spte; all are emulated', () => {
    const { events } = run(tdpScript([MAP_MMIO, read('0x400000'), write('0x400004'), read('0x400008')], { largePages: false }));
    const mmio = ofType(events, 'vmexit').filter((e) => e.handling.startsWith('mmio'));
    expect(mmio.map((e) => `${e.reason} ${e.handling}`)).toEqual(['EPT_VIOLATION mmio-emulate', 'EPT_MISCONFIG mmio-cached', 'EPT_MISCONFIG mmio-cached']);
    expect(ofType(events, 'guest_access').map((a) => a.gpa)).toEqual([0x4000000, 0x4000004, 0x4000008]);
  });
  it('on NPT both are npf', () => {
    const { events } = run(tdpScript([MAP_MMIO, read('0x400000'), read('0x400004')], { largePages: false }, 'long4', 'npt-amd'));
    expect(new Set(ofType(events, 'vmexit').map((e) => e.reason))).toEqual(new Set(['npf']));
  });
});

describe('the 2D walk on a TLB miss', () => {
  it('24 references for 4-level on 4-level without caches: 4 guest entries + 5 EPT walks of 4', () => {
    const { events } = run(tdpScript([MAP_A, read('0x400000')], { largePages: false, walkCaches: false }));
    expect(walksIn(aroundAccess(events, 0))).toEqual([24]);
    expect(ofType(aroundAccess(events, 0), 'page_walk')[0]?.guestRefs).toBe(4);
  });
  it('a walk that faults at the pte: 4 guest entries, each translated (4 × 4), no final gpa: 20', () => {
    const { events } = run(tdpScript([MAP_A, read('0x401000')], { largePages: false, walkCaches: false }));
    expect(walksIn(aroundAccess(events, 0))).toEqual([20]);
  });
  it('PAE and non-PAE guests: 2 guest entries (PDPTEs are registers) + 3 × 4 = 14', () => {
    for (const paging of ['pae', 'nonpae'] as const) {
      const { events } = run(tdpScript([MAP_A, read('0x400000')], { largePages: false, walkCaches: false }, paging));
      expect(walksIn(aroundAccess(events, 0)), paging).toEqual([14]);
    }
  });
  it('2 MiB EPT pages shorten each EPT walk to 3: 4 + 5 × 3 = 19', () => {
    const { events } = run(tdpScript([MAP_A, read('0x400000')], { largePages: true, walkCaches: false }));
    expect(walksIn(aroundAccess(events, 0))).toEqual([19]);
  });
  it('paging-structure caches: cold 15, then 2 for the next page of the same guest pt', () => {
    // cold: 4 guest refs; EPT: pml4 frame 4 (all cold), pdpt/pd/pt 1 each (EPT PDE cached), data 4 (new 2 MiB region) = 15
    // warm: guest PDE cache hit → the pte only (1); its pt frame in the guest-physical TLB (0); data: EPT PDE cached (1) = 2
    const { events } = run(tdpScript([MAP_A, MAP_B, read('0x400000'), read('0x401000')], { largePages: false }));
    expect(walksIn(aroundAccess(events, 0))).toEqual([15]);
    expect(walksIn(aroundAccess(events, 1))).toEqual([2]);
  });
  it('charges each reference at the profile\'s walk latency', () => {
    const { events, vm } = run(tdpScript([MAP_A, read('0x400000')], { largePages: false, walkCaches: false }));
    const w = ofType(events, 'page_walk')[0];
    expect(w?.duration).toBe(24 * vm.cost.walkRefNs);
  });
});
