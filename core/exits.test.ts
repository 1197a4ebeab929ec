/**
 * Seed 000's figure: a guest demand fault or COW fault on a 4-level guest costs exactly
 * three vmexits when the shadow MMU zaps the shadow pte on an emulated guest pte write
 * (fault → inject, pte write → emulate, re-fault → fill) and two when it updates it.
 */
import { describe, expect, it } from 'vitest';
import type { MmuEvent } from './events.ts';
import { ofType, run, scenario } from './test/helpers.ts';

/**
 * Exits spent on each guest fault: from the exit that injected it up to (not including)
 * the next injecting exit. Only faults whose page table was already shadowed count (the
 * seed's steady state); the first fault of a fresh page table also has to create it.
 */
function exitsPerFault(events: MmuEvent[]): number[] {
  const counts: number[] = [];
  let current = -1;
  for (const e of events) {
    if (e.type !== 'vmexit') continue;
    if (e.handling === 'inject-guest-pf') {
      if (current >= 0) counts.push(current);
      current = 0;
    }
    if (e.handling === 'cr3-switch') {
      if (current >= 0) counts.push(current);
      current = -1;
      continue;
    }
    if (current >= 0) current++;
  }
  if (current >= 0) counts.push(current);
  return counts;
}

describe('exits per guest fault (seed 000)', () => {
  for (const [mode, expected] of [['zap', 3], ['update', 2]] as const) {
    it(`demand fault costs ${expected} exits with ${mode}`, () => {
      const { events } = run(scenario({ kind: 'demand-paging', pages: 40 }, {}, { mode: 'shadow', shadow: { onGuestPteWrite: mode } }));
      const faults = exitsPerFault(events);
      expect(faults).toHaveLength(40);
      // the first fault also allocates the page table (one more trapped write: the pde)
      expect(faults.slice(1).every((n) => n === expected)).toBe(true);
      expect(ofType(events, 'guest_fault').every((f) => f.errorCode === 0b110)).toBe(true); // user write, not present
    });

    it(`COW fault costs ${expected} exits with ${mode}`, () => {
      const { events } = run(scenario({ kind: 'fork-cow', pages: 16, processes: 1 }, {}, { mode: 'shadow', shadow: { onGuestPteWrite: mode, floodThreshold: 1000 } }));
      // COW faults: user write to a present read-only page, error code P|W|U = 7
      const cowStart = events.findIndex((e) => e.type === 'guest_fault' && e.errorCode === 7);
      expect(cowStart).toBeGreaterThan(0);
      const faults = exitsPerFault(events.slice(events.findIndex((e, i) => i > 0 && e.type === 'vmexit' && e.handling === 'inject-guest-pf' && events[i + 1]?.type === 'guest_fault' && (events[i + 1] as { errorCode: number }).errorCode === 7)));
      const cow = faults.filter((_, i) => i > 0);
      expect(cow.length).toBeGreaterThan(10);
      expect(cow.every((n) => n === expected)).toBe(true);
    });
  }

  it('update beats zap on kbuild on the 2007 profile', () => {
    const time = (mode: 'zap' | 'update') => {
      const { vm } = run(scenario({ kind: 'kbuild', processes: 10, pages: 16 }, {}, { mode: 'shadow', shadow: { onGuestPteWrite: mode } }));
      return vm.now();
    };
    expect(time('update')).toBeLessThan(time('zap'));
  });

  it('TDP takes no exit on a guest #PF, one EPT violation per first-touched frame', () => {
    const { events } = run({ ...scenario({ kind: 'demand-paging', pages: 16 }, {}, { mode: 'tdp' }), hardware: { profile: 'ept-2012' } });
    const exits = ofType(events, 'vmexit');
    expect(exits.every((e) => e.reason === 'EPT_VIOLATION')).toBe(true);
    expect(ofType(events, 'guest_fault')).toHaveLength(16);
  });
});

describe('exits per fault, read from the JSONL export', () => {
  it('every exit of a demand fault names the faulting va', async () => {
    const { eventToJson } = await import('./events.ts');
    for (const [mode, expected] of [['zap', 3], ['update', 2]] as const) {
      const { events } = run(scenario({ kind: 'demand-paging', pages: 8 }, {}, { mode: 'shadow', shadow: { onGuestPteWrite: mode } }));
      const lines = events.map((e) => JSON.stringify(eventToJson(e))).map((l) => JSON.parse(l) as Record<string, string | number>);
      const byVa = new Map<string, number>();
      for (const l of lines) if (l.type === 'vmexit' && l.va !== undefined) byVa.set(String(l.va), (byVa.get(String(l.va)) ?? 0) + 1);
      // pages 2..8 of the region (the first also builds its page table)
      for (let i = 1; i < 8; i++) expect(byVa.get('0x' + (0x10000000 + i * 4096).toString(16)), `${mode} page ${i}`).toBe(expected);
    }
  });
});

describe('kbuild: zap vs update on the 2007 profile', () => {
  /*
   * The share update saves is not asserted: it depends on the measured compile work per page
   * (core/costs.ts KBUILD_PROFILE) and lands away from the seed's ~10% (docs/engine.md). What
   * the mechanism fixes is that update changes only the hypervisor's work: the guest does the
   * same accesses, so the whole difference in time is the difference in time spent in exits and in the walks
   * of the TLB misses that lead into them,
   * and the exits update removes are the re-faults (`fill-spte`) that zap's cleared spte caused.
   */
  it('update removes only hypervisor time: the time saved is the exit and walk time saved, the exits saved are fills', async () => {
    const { findBuiltin } = await import('./builtins.ts');
    const measure = (name: string) => {
      const { events, vm } = run(findBuiltin(name)?.scenario ?? scenario({ kind: 'script', steps: [] }));
      const exits = ofType(events, 'vmexit');
      const by = (h: string) => exits.filter((e) => e.handling === h).length;
      const walks = ofType(events, 'page_walk').reduce((s, e) => s + e.duration, 0);
      return { end: vm.now(), inExits: exits.reduce((s, e) => s + e.duration, 0) + walks, fills: by('fill-spte'), exits: exits.length, injects: by('inject-guest-pf'), emulates: by('emulate-pte-write'), guestFaults: ofType(events, 'guest_fault').length };
    };
    const zap = measure('kbuild-zap');
    const update = measure('kbuild-update');
    expect(update.end).toBeLessThan(zap.end);
    expect(Math.abs((zap.end - update.end) - (zap.inExits - update.inExits))).toBeLessThan(0.01 * (zap.end - update.end));
    expect(update.guestFaults).toBe(zap.guestFaults);
    expect(update.injects).toBe(zap.injects);
    // Each guest fault saves at most its one re-fault; with no re-fault through the table between
    // the fork's stores, write-flood detection may also stop emulating sooner (never later).
    expect(zap.fills - update.fills).toBeGreaterThan(0.9 * zap.injects);
    expect(zap.fills - update.fills).toBeLessThanOrEqual(zap.injects);
    expect(update.emulates).toBeLessThanOrEqual(zap.emulates);
    expect(zap.exits - update.exits).toBe(zap.fills - update.fills + (zap.emulates - update.emulates));
  });

  it('an AMD profile names exits as KVM prints them for SVM', () => {
    const { events, vm } = run({ ...scenario({ kind: 'demand-paging', pages: 4 }), hardware: { profile: 'npt-amd' } });
    expect(new Set(ofType(events, 'vmexit').map((e) => e.reason))).toEqual(new Set(['excp_pf', 'write_cr3']));
    expect(vm.exitStats()[0]?.excp_pf).toBeGreaterThan(0);
  });
});
