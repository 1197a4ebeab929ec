/**
 * mmu_notifier invalidation (issue 15 §4): the host reclaims or migrates the page behind a
 * guest frame; the MMU drops every spte mapping it and the guest's next access faults it back
 * in. By hand, for a script that maps one page, writes it, has the host invalidate it, then
 * reads and writes it again:
 * - shadow paging: the leaf spte (found by the rmap) goes; the read is a #PF exit that refills
 *   it from the guest pte (`fill-spte`), which is dirty, so the refilled spte is writable and
 *   the write needs no exit: 1 exit after the invalidation;
 * - TDP: the EPT leaf goes; the read is an EPT violation that maps the frame again (`map-gfn`),
 *   writable, so the write needs none: 1 exit; after a migration the new spte points at the
 *   page's new host frame.
 * The guest sees nothing: every access succeeds at the same guest-physical address.
 */
import { describe, expect, it } from 'vitest';
import type { MmuEvent } from '../events.ts';
import type { ScenarioInput, ScriptStep } from '../scenario.ts';
import { ofType, run } from '../test/helpers.ts';
import { HOST_GUEST_BASE_FRAME, frameOf } from './spte.ts';

const steps = (reason: 'reclaim' | 'migrate') => [
  { op: 'map', va: '0x400000', gpa: '0x200000', size: '4k', levels: {} },
  { op: 'access', va: '0x400000', access: 'write', cpl: 3 },
  { op: 'hostInvalidate', gpa: '0x200000', reason },
  { op: 'access', va: '0x400008', access: 'read', cpl: 3 },
  { op: 'access', va: '0x400010', access: 'write', cpl: 3 },
];

const scenario = (mmu: object, reason: 'reclaim' | 'migrate' = 'reclaim'): ScenarioInput => ({
  name: 't', seed: 1, hardware: { profile: 'ept-2012' },
  vms: [{ vcpus: 1, memoryMiB: 64, guest: { paging: 'long4', workload: { kind: 'script', steps: steps(reason) as unknown as ScriptStep[] } }, mmu }],
});

function afterInvalidation(events: MmuEvent[]): MmuEvent[] {
  const i = events.findIndex((e) => e.type === 'guest_os' && e.action === 'mmu-notifier');
  expect(i).toBeGreaterThan(0);
  return events.slice(i);
}

describe('mmu_notifier invalidation', () => {
  for (const [name, mmu, handling] of [['shadow (update)', { mode: 'shadow', shadow: { onGuestPteWrite: 'update' } }, 'fill-spte'], ['shadow (zap)', { mode: 'shadow' }, 'fill-spte'], ['TDP', { mode: 'tdp', tdp: { largePages: false } }, 'map-gfn']] as const) {
    it(`${name}: the spte goes, one ${handling} exit brings it back, the guest sees nothing`, () => {
      const { events } = run(scenario(mmu), { audit: true });
      const after = afterInvalidation(events);
      expect(ofType(after, 'vmexit').map((e) => e.handling)).toEqual([handling]);
      expect(ofType(after, 'tlb_flush').some((e) => e.reason === 'mmu-notifier')).toBe(true);
      expect(ofType(events, 'guest_access').map((e) => `${e.access} ${e.result} ${e.gpa}`)).toEqual(['write ok 2097152', 'read ok 2097160', 'write ok 2097168']);
      expect(ofType(events, 'audit_violation')).toEqual([]);
    });
  }

  it('TDP, migration: the refilled spte points at the page\'s new host frame', () => {
    const { events, vm } = run(scenario({ mode: 'tdp', tdp: { largePages: false } }, 'migrate'), { audit: true });
    const refill = ofType(afterInvalidation(events), 'spte_write').filter((e) => e.level === 1 && e.new !== 0n).at(-1);
    const lo = Number((refill?.new ?? 0n) & 0xffffffffn);
    const hi = Number((refill?.new ?? 0n) >> 32n);
    expect(frameOf(lo >>> 0, hi)).toBe(HOST_GUEST_BASE_FRAME + vm.mem.frames + 0x200);
    expect(ofType(events, 'audit_violation')).toEqual([]);
  });
});
