/**
 * Shadow paging vs TDP on the same part (ept-2012), the shape published measurements report
 * (VMware's EPT evaluation, 2009; Bhargava et al., ASPLOS 2008): TDP removes the exits of
 * shadow paging (guest faults, pte writes, CR3 loads) and wins on MMU-heavy workloads, while
 * each TLB miss costs more references (the 2D walk), most of which caches and large pages absorb.
 */
import { describe, expect, it } from 'vitest';
import type { MmuEvent } from '../events.ts';
import type { ScenarioInput } from '../scenario.ts';
import { ofType, run } from '../test/helpers.ts';

type Workload = ScenarioInput['vms'][number]['guest']['workload'];
const KBUILD: Workload = { kind: 'kbuild', processes: 12, pages: 16 };
const SWITCH: Workload = { kind: 'context-switch', processes: 4, pages: 16, iterations: 50 };

function measure(workload: Workload, mmu: ScenarioInput['vms'][number]['mmu']) {
  const { events, vm } = run({ name: 't', seed: 1, hardware: { profile: 'ept-2012' }, vms: [{ vcpus: 1, memoryMiB: 64, guest: { paging: 'long4', workload }, mmu }] });
  const walks = ofType(events as MmuEvent[], 'page_walk');
  return { exits: ofType(events, 'vmexit').length, refs: walks.reduce((s, w) => s + w.refs, 0), misses: walks.length, time: vm.now() };
}

describe('shadow vs TDP', () => {
  for (const [name, workload] of [['kbuild', KBUILD], ['context-switch', SWITCH]] as const) {
    it(`${name}: TDP takes a small fraction of shadow's exits and less time`, () => {
      const shadow = measure(workload, { mode: 'shadow' });
      const tdp = measure(workload, { mode: 'tdp' });
      expect(tdp.exits * 20).toBeLessThan(shadow.exits);
      expect(tdp.time).toBeLessThan(shadow.time);
    });
  }
  it('with 4 KiB host pages a TLB miss costs more references under TDP than under shadow paging', () => {
    const shadow = measure(SWITCH, { mode: 'shadow' });
    const tdp = measure(SWITCH, { mode: 'tdp', tdp: { largePages: false } });
    expect(tdp.refs / tdp.misses).toBeGreaterThan(shadow.refs / shadow.misses);
  });
});
