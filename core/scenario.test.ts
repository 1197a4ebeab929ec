/** Malformed scenarios are rejected with one clear message naming the offending key. */
import { describe, expect, it } from 'vitest';
import { parseScenario } from './scenario.ts';

const good = {
  name: 'x',
  vms: [{ guest: { workload: { kind: 'script', steps: [] } } }],
};

function errorOf(input: unknown): string {
  const r = parseScenario(input);
  if (r.ok) throw new Error('expected a rejection');
  return r.error;
}

describe('scenario validation', () => {
  it('accepts a minimal scenario and fills the defaults', () => {
    const r = parseScenario(good);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const vm = r.value.vms[0];
    expect(r.value.hardware.profile).toBe('vtx-2007');
    expect(vm?.guest.paging).toBe('long4');
    expect(vm?.mmu.shadow.onGuestPteWrite).toBe('update');
  });

  it('names an unknown key', () => {
    expect(errorOf({ ...good, vms: [{ ...good.vms[0], mmu: { shadow: { onGuestPteWrit: 'zap' } } }] })).toContain('vms[0].mmu.shadow.onGuestPteWrit');
  });

  it('names a key of the wrong type', () => {
    expect(errorOf({ ...good, seed: 'one' })).toMatch(/^seed:/);
    expect(errorOf({ ...good, vms: [{ ...good.vms[0], vcpus: 'two' }] })).toMatch(/^vms\[0\]\.vcpus:/);
  });

  it('names an impossible value', () => {
    expect(errorOf({ ...good, vms: [{ guest: { paging: 'nonpae', workload: { kind: 'script', steps: [{ op: 'map', va: 0, gpa: 0, size: '1g' }] } } }] })).toMatch(/^vms\[0\]\.guest\.workload\.steps\[0\]\.size: a 1g page does not exist in non-PAE/);
    expect(errorOf({ ...good, vms: [{ guest: { paging: 'nonpae', cr4: { pse: false }, workload: { kind: 'script', steps: [{ op: 'map', va: 0, gpa: 0, size: '4m' }] } } }] })).toContain('cr4.pse');
    expect(errorOf({ ...good, vms: [{ guest: { paging: 'nonpae', workload: { kind: 'script', steps: [{ op: 'map', va: 0, gpa: 0, levels: { pt: ['P', 'NX'] } }] } } }] })).toMatch(/levels\.pt: NX does not exist/);
    expect(errorOf({ ...good, vms: [{ guest: { paging: 'pae', workload: { kind: 'script', steps: [{ op: 'map', va: 0, gpa: 0, levels: { pml4: ['P'] } }] } } }] })).toMatch(/levels\.pml4: pae paging has no "pml4" level/);
    expect(errorOf({ ...good, hardware: { profile: 'vtx-1999' } })).toMatch(/^hardware\.profile:/);
    expect(errorOf({ ...good, vms: [{ ...good.vms[0], mmu: { shadow: { cachePages: 2 } } }] })).toMatch(/^vms\[0\]\.mmu\.shadow\.cachePages:/);
  });

  it('names a bad script step', () => {
    expect(errorOf({ ...good, vms: [{ guest: { workload: { kind: 'script', steps: [{ op: 'access', va: '0xzz', access: 'read' }] } } }] })).toMatch(/^vms\[0\]\.guest\.workload\.steps\[0\]\.va:/);
    expect(errorOf({ ...good, vms: [{ guest: { workload: { kind: 'script', steps: [{ op: 'jump' }] } } }] })).toMatch(/steps\[0\]/);
  });
});
