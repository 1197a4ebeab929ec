/**
 * MMIO sptes with a generation number (mmu.rst, seed 004). Expected counts follow from the
 * mechanism: N accesses with the host changing memslots every K accesses take the slow
 * path once at the start and once after each change (ceil(N / K) times), the cached path
 * the rest; without MMIO sptes every access is slow.
 */
import { describe, expect, it } from 'vitest';
import type { MmuEvent } from './events.ts';
import { ofType, run, scenario } from './test/helpers.ts';

type Mode = 'shadow' | 'tdp';
const mmio = (mode: Mode, iterations: number, memslotEvery: number, mmioSptes = true, paging: 'long4' | 'pae' | 'nonpae' = 'long4') =>
  run({ ...scenario({ kind: 'mmio', iterations, memslotEvery }, { paging }, { mode, mmioSptes }), hardware: { profile: mode === 'tdp' ? 'ept-2012' : 'vtx-2007' } }, { audit: true });

const handled = (events: MmuEvent[]) => ofType(events, 'vmexit').filter((e) => e.handling.startsWith('mmio'));

describe('MMIO sptes', () => {
  for (const paging of ['long4', 'pae', 'nonpae'] as const) {
    it(`repeated MMIO access takes no slow walk (shadow, ${paging})`, () => {
      const { events, vm } = mmio('shadow', 40, 0, true, paging);
      const exits = handled(events);
      expect(exits.map((e) => e.handling)).toEqual(['mmio-emulate', ...Array(39).fill('mmio-cached')]);
      expect(vm.mmio.stats).toMatchObject({ mmioSlow: 1, mmioCached: 39 });
      expect(ofType(events, 'audit_violation')).toEqual([]);
      // the register page is the first frame above RAM (64 MiB): every emulated access names it
      expect(exits.every((e) => Math.floor((e.gpa ?? 0) / 4096) === (64 << 20) / 4096)).toBe(true);
    });
  }

  it('a cached access costs less than a slow one and walks no guest table', () => {
    const on = mmio('shadow', 40, 0, true);
    const off = mmio('shadow', 40, 0, false);
    expect(handled(off.events).map((e) => e.handling)).toEqual(Array(40).fill('mmio-emulate'));
    // without the cache each access walks the guest tables once more
    expect(off.vm.stats.guestWalk - on.vm.stats.guestWalk).toBe(39);
    const [slow] = handled(on.events);
    const cached = handled(on.events)[1];
    expect(cached?.duration).toBeLessThan(slow?.duration ?? 0);
  });

  it('a memslot change bumps the generation and the next access is slow again', () => {
    const { events, vm } = mmio('shadow', 40, 10);
    const exits = handled(events);
    const slowAt = exits.flatMap((e, i) => (e.handling === 'mmio-emulate' ? [i] : []));
    expect(slowAt).toEqual([0, 10, 20, 30]);
    expect(vm.mmio.generation).toBe(3);
    expect(vm.mmio.stats.mmioStale).toBe(3);
    expect(ofType(events, 'guest_os').filter((e) => e.action === 'memslot-change')).toHaveLength(3);
  });

  it('under EPT: one EPT violation, then EPT misconfigurations; a stale one is handled slowly', () => {
    const { events } = mmio('tdp', 12, 5);
    expect(handled(events).map((e) => `${e.reason} ${e.handling}`)).toEqual([
      'EPT_VIOLATION mmio-emulate',
      ...Array(4).fill('EPT_MISCONFIG mmio-cached'),
      'EPT_MISCONFIG mmio-emulate',
      ...Array(4).fill('EPT_MISCONFIG mmio-cached'),
      'EPT_MISCONFIG mmio-emulate',
      'EPT_MISCONFIG mmio-cached',
    ]);
    expect(ofType(events, 'guest_fault')).toEqual([]);
  });

  it('a guest remapping the register page is not served from the old MMIO spte', () => {
    const { vm } = mmio('shadow', 4, 0);
    const p = vm.current.proc;
    if (!p) throw new Error('no process');
    const other = (64 << 20) + 0x5000;
    vm.os.map(p, 0x7f000000, other, '4k', { pt: ['P', 'W'] });
    const events: MmuEvent[] = [];
    vm.emitter.sink = (e) => events.push(e);
    expect(vm.mmio.access(0x7f000008, 0, 0)).toBe(true);
    expect(handled(events).map((e) => [e.handling, e.gpa])).toEqual([['mmio-emulate', other + 8]]);
  });

  it('a Xen PV guest traps into Xen for each device access', () => {
    const { events } = run(scenario({ kind: 'mmio', iterations: 6, memslotEvery: 0 }, {}, { mode: 'xenpv' }), { audit: true });
    expect(handled(events).map((e) => e.reason)).toEqual(Array(6).fill('trap:general_protection'));
    expect(ofType(events, 'audit_violation')).toEqual([]);
  });
});
