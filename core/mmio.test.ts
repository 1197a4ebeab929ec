/**
 * MMIO sptes with a generation number (mmu.rst, seed 004). Expected counts follow from the
 * mechanism: N accesses with the host changing memslots every K accesses take the slow
 * path once at the start and once after each change (ceil(N / K) times), the cached path
 * the rest; without MMIO sptes every access is slow.
 */
import { describe, expect, it } from 'vitest';
import type { MmuEvent } from './events.ts';
import type { ScriptStep } from './scenario.ts';
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
    // without the cache each access walks the guest tables once more — except the first
    // write (access 1): the spte was cached from a clean pte, so it grants no write and the
    // emulator walks the tables to set D, as the CPU's own walk does under EPT
    expect(off.vm.stats.guestWalk - on.vm.stats.guestWalk).toBe(38);
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
    expect(vm.deviceAccess(0x7f000008, 0, 0)).toBe(true);
    expect(handled(events).map((e) => [e.handling, e.gpa])).toEqual([['mmio-emulate', other + 8]]);
  });

  it('a Xen PV guest traps into Xen for each device access', () => {
    const { events } = run(scenario({ kind: 'mmio', iterations: 6, memslotEvery: 0 }, {}, { mode: 'xenpv' }), { audit: true });
    expect(handled(events).map((e) => e.reason)).toEqual(Array(6).fill('trap:general_protection'));
    expect(ofType(events, 'audit_violation')).toEqual([]);
  });

  it('under EPT every MMIO access is a TLB miss with its 2D walk: 24 references without caches (4 + 5 × 4)', () => {
    const { events } = run({ ...scenario({ kind: 'mmio', iterations: 5, memslotEvery: 0 }, {}, { mode: 'tdp', tdp: { walkCaches: false, largePages: false } }), hardware: { profile: 'ept-2012' } });
    // nothing is cached in the TLB for an emulated access, so each of the 5 walks the guest tables again
    const walks = ofType(events, 'page_walk').filter((w) => Math.floor((w.va ?? 0) / 4096) === 0x7f000);
    expect(walks.map((w) => w.refs)).toEqual(Array(5).fill(24));
    expect(walks.every((w) => w.guestRefs === 4)).toBe(true);
  });

  it('under EPT the MMIO spte carries the generation: after 512 changes (the bits wrap) it is zapped, not taken as current', () => {
    const { vm } = run({ ...scenario({ kind: 'mmio', iterations: 1, memslotEvery: 0 }, {}, { mode: 'tdp' }), hardware: { profile: 'ept-2012' } });
    const events: MmuEvent[] = [];
    vm.emitter.sink = (e) => events.push(e);
    for (let i = 0; i < 512; i++) vm.changeMemslots();
    expect(vm.deviceAccess(0x7f000000, 0, 0)).toBe(true);
    // generation 512 has the same low bits as 0, the spte's; the wrap zapped it, so this is a first access again
    expect(handled(events).map((e) => `${e.reason} ${e.handling}`)).toEqual(['EPT_VIOLATION mmio-emulate']);
  });

  it('shadow paging emulates a scripted access above RAM as MMIO, never maps it, and sets A/D like EPT does', () => {
    const MMIO = 64 << 20;
    const steps = [
      { op: 'map', va: 0x400000, gpa: MMIO, size: '4k', levels: {} },
      { op: 'access', va: 0x400000, access: 'read', cpl: 0 },
      { op: 'access', va: 0x400008, access: 'write', cpl: 0 },
      { op: 'access', va: 0x400010, access: 'read', cpl: 0 },
    ] as unknown as ScriptStep[];
    const ad = (mode: Mode) => {
      const { events } = run(scenario({ kind: 'script', steps }, {}, { mode }), { audit: true });
      expect(ofType(events, 'audit_violation')).toEqual([]);
      expect(ofType(events, 'guest_access').map((a) => [a.result, a.gpa])).toEqual([['ok', MMIO], ['ok', MMIO + 8], ['ok', MMIO + 0x10]]);
      return { events, ad: ofType(events, 'gpte_write').filter((e) => e.cause === 'ad').map((e) => [e.gpa, e.new]) };
    };
    const shadow = ad('shadow');
    expect(handled(shadow.events).map((e) => `${e.reason} ${e.handling}`)).toEqual(['EXCEPTION_NMI mmio-emulate', 'EXCEPTION_NMI mmio-cached', 'EXCEPTION_NMI mmio-cached']);
    expect(ofType(shadow.events, 'vmexit').some((e) => e.handling === 'fill-spte' && (e.gpa ?? 0) >= MMIO)).toBe(false);
    // the guest sees the same accessed/dirty bits set as under EPT (the write sets the pte's D)
    expect(shadow.ad).toEqual(ad('tdp').ad);
  });
});
