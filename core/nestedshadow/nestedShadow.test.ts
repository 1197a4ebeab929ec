/**
 * Nested shadow-on-EPT (core/nestedshadow/nestedShadow.ts): L1 runs L2 on shadow tables
 * (SPT12) in L1 memory; the CPU walks them through L0's EPT01. The expected exits are worked
 * out by hand from the rules, not read off a run:
 * - every exit L1's shadow MMU takes for L2 is two exits to L0: the exit itself, reflected
 *   into L1 (`reflect-to-l1`, with its own reason), and L1's VMRESUME (`nested-vmentry`);
 * - every L1 frame's first touch is an EPT01 violation L0 handles alone (`map-gfn`): L1
 *   clearing a new SPT12 page, L1 reading an L2 table it never read, L2 storing into a table
 *   frame it never stored into, the CPU reaching an L2 data frame for the first time.
 *
 * The demand-paging guest (one vCPU, 4-level) takes its frames lowest first from 1 MiB: its
 * PML4 (0x100; CR3), then on the first #PF a PDPT, a PD and a PT (0x101-0x103) and one data
 * frame per page (0x104 on), all N ≤ 508 pages under one PT. L1's shadow MMU with `update`
 * (the default), as plain shadow paging would handle the same guest:
 * - the CR3 load: `cr3-switch` (1); the SPT12 root's clear touches a new L1 frame (1 map-gfn);
 * - page 1: the walk of SPT12 misses → #PF; L1's walk reads the PML4 (first touch: 1 map-gfn),
 *   finds it empty → `inject-guest-pf`. L2's handler stores the PML4 entry: the PML4 is
 *   shadowed (the root), so it traps → `emulate-pte-write`; its stores into the new PDPT, PD
 *   and PT run natively, first touches each (3 map-gfn). The retry misses → `fill-spte`,
 *   which makes three SPT12 pages (3 map-gfn); the next retry reaches data frame 0x104 (1
 *   map-gfn). L1: 3 exits.
 * - each further page: `inject-guest-pf`, then the pte store into the shadowed PT traps and
 *   `update` writes the SPT12 leaf (`emulate-pte-write`), then the data frame's first touch
 *   (1 map-gfn). L1: 2 exits.
 * So L1 handles 1 + 3 + 2(N − 1) = 2N + 2 exits, L0 sees 2(2N + 2) of them, and map-gfn is
 * 4 SPT12 pages + 4 L2 tables + N data frames: 5N + 12 exits to L0 in all (nested TDP on the
 * same guest: 4(N + 4) + 3 = 4N + 19, core/nested/nestedTdp.test.ts).
 * With `zap` every further page is three L1 exits (inject, the zapping pte store, the fill),
 * 1 + 3N in all: 2(1 + 3N) + N + 8 = 7N + 10.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { MmuEvent } from '../events.ts';
import { parseScenario, type HardwareProfileName, type ScenarioInput, type ScriptStep } from '../scenario.ts';
import { ofType, run, scenario } from '../test/helpers.ts';
import { NestedShadow } from './nestedShadow.ts';
import { ShadowOnEpt } from './onEpt.ts';

type MmuInput = ScenarioInput['vms'][number]['mmu'];
type Workload = ScenarioInput['vms'][number]['guest']['workload'];

const nestedShadow = (shadow: NonNullable<MmuInput>['shadow'] = {}): MmuInput => ({ mode: 'tdp', nested: { enabled: true, l1Mmu: 'shadow' }, shadow });
const go = (workload: Workload, mmu: MmuInput, profile: HardwareProfileName = 'ept-2012') =>
  run({ ...scenario(workload, {}, mmu), hardware: { profile } }, { audit: true });
const exits = (events: MmuEvent[]) => ofType(events, 'vmexit');
const count = (events: MmuEvent[], reason: string, handling: string) => exits(events).filter((e) => e.reason === reason && e.handling === handling).length;
/** L1's handling of each exit L0 reflected to it, in order (`guest_os` `l1-handled`: "<reason> <handling> …"). */
const l1Handled = (events: MmuEvent[]) => ofType(events, 'guest_os').filter((e) => e.action === 'l1-handled').map((e) => (e.detail ?? '').split(' ').slice(0, 2).join(' '));

describe('nested shadow-on-EPT: exits from the rules', () => {
  it('demand paging, update: N = 32 pages → 5·32 + 12 = 172 exits to L0', () => {
    const N = 32;
    const { events, vm } = go({ kind: 'demand-paging', pages: N }, nestedShadow());
    expect(vm.stopReason).toBe('done');
    expect(ofType(events, 'audit_violation')).toEqual([]);
    const l1 = 2 * N + 2;
    expect(count(events, 'EXCEPTION_NMI', 'reflect-to-l1') + count(events, 'CR_ACCESS', 'reflect-to-l1')).toBe(l1);
    expect(count(events, 'CR_ACCESS', 'reflect-to-l1')).toBe(1);
    expect(count(events, 'VMRESUME', 'nested-vmentry')).toBe(l1);
    expect(count(events, 'EPT_VIOLATION', 'map-gfn')).toBe(4 + 4 + N);
    expect(exits(events)).toHaveLength(5 * N + 12);
    // what L1 did: one CR3 switch, a #PF injected per page, a trapped pte store per page, one fill
    const did = l1Handled(events);
    expect(did.filter((h) => h === 'EXCEPTION_NMI inject-guest-pf')).toHaveLength(N);
    expect(did.filter((h) => h === 'EXCEPTION_NMI emulate-pte-write')).toHaveLength(N);
    expect(did.filter((h) => h === 'EXCEPTION_NMI fill-spte')).toHaveLength(1);
    expect(did.filter((h) => h === 'CR_ACCESS cr3-switch')).toHaveLength(1);
    // every #PF of L2 is L1's to inject: the guest saw all N
    expect(ofType(events, 'guest_fault')).toHaveLength(N);
    // in order, as the rules above give them: the CR3 load, page 1, page 2
    const reflect = (reason: string) => [`${reason} reflect-to-l1`];
    const resume = ['VMRESUME nested-vmentry'];
    const mapGfn = (n: number) => Array<string>(n).fill('EPT_VIOLATION map-gfn');
    const cr3 = [...reflect('CR_ACCESS'), ...mapGfn(1), ...resume]; // the SPT12 root is cleared
    const page1 = [
      ...reflect('EXCEPTION_NMI'), ...mapGfn(1), ...resume, // L1 reads the PML4, injects #PF
      ...reflect('EXCEPTION_NMI'), ...resume, // the PML4 store traps
      ...mapGfn(3), // the stores into the new PDPT, PD and PT
      ...reflect('EXCEPTION_NMI'), ...mapGfn(3), ...resume, // the fill makes three SPT12 pages
      ...mapGfn(1), // the CPU reaches data frame 0x104
    ];
    const page2 = [...reflect('EXCEPTION_NMI'), ...resume, ...reflect('EXCEPTION_NMI'), ...resume, ...mapGfn(1)];
    const seq = [...cr3, ...page1, ...page2];
    expect(exits(events).slice(0, seq.length).map((e) => `${e.reason} ${e.handling}`)).toEqual(seq);
  });

  it('demand paging, zap: N = 32 pages → 7·32 + 10 = 234 exits to L0', () => {
    const N = 32;
    const { events, vm } = go({ kind: 'demand-paging', pages: N }, nestedShadow({ onGuestPteWrite: 'zap' }));
    expect(vm.stopReason).toBe('done');
    expect(ofType(events, 'audit_violation')).toEqual([]);
    expect(count(events, 'VMRESUME', 'nested-vmentry')).toBe(1 + 3 * N);
    expect(count(events, 'EPT_VIOLATION', 'map-gfn')).toBe(N + 8);
    expect(exits(events)).toHaveLength(7 * N + 10);
  });

  it('each exit L1 handles is two exits to L0, whatever the workload: L1 sees exactly what plain shadow paging sees', () => {
    const workloads: Workload[] = [
      { kind: 'kbuild', processes: 4, pages: 12 },
      { kind: 'fork-cow', pages: 16, processes: 2 },
      { kind: 'context-switch', processes: 3, pages: 8, iterations: 6 },
    ];
    for (const w of workloads) {
      const plain = go(w, { mode: 'shadow' });
      const nested = go(w, nestedShadow());
      expect(ofType(nested.events, 'audit_violation'), w.kind).toEqual([]);
      const plainExits = exits(plain.events).map((e) => `${e.reason} ${e.handling}`);
      expect(l1Handled(nested.events), w.kind).toEqual(plainExits);
      const reflected = exits(nested.events).filter((e) => e.handling === 'reflect-to-l1').map((e) => e.reason);
      expect(reflected, w.kind).toEqual(exits(plain.events).map((e) => e.reason));
      expect(count(nested.events, 'VMRESUME', 'nested-vmentry'), w.kind).toBe(plainExits.length);
      // the rest are L0's own: the first touch of each L1 frame
      const own = exits(nested.events).filter((e) => e.handling !== 'reflect-to-l1' && e.reason !== 'VMRESUME');
      expect(own.every((e) => e.reason === 'EPT_VIOLATION' && e.handling === 'map-gfn'), w.kind).toBe(true);
      expect(new Set(own.map((e) => e.gpa)).size, w.kind).toBe(own.length);
      // and the guest did the same work
      expect(ofType(nested.events, 'guest_fault').length, w.kind).toBe(ofType(plain.events, 'guest_fault').length);
    }
  });
});

describe('nested shadow-on-EPT: what goes through L0 to L1', () => {
  const user = ['P', 'W', 'U'] as const;
  const script = (steps: unknown[], mmu: MmuInput = nestedShadow()) => go({ kind: 'script', steps: steps as ScriptStep[] }, mmu);
  const between = (events: MmuEvent[], from: number, to: number) => {
    const access = events.flatMap((e, i) => (e.type === 'guest_access' ? [i] : []));
    return events.slice((access[from] as number) + 1, access[to]);
  };
  const outcomes = (events: MmuEvent[]) => ofType(events, 'guest_access').map((a) => (a.result === 'ok' ? `ok@0x${a.gpa?.toString(16)}` : `pf:${a.errorCode}`));

  it('a CR3 load of L2 is two exits to L0 (CR_ACCESS reflected, VMRESUME); under nested TDP none', () => {
    // process 0 and process 1 each map and read 0x400000; then 0 → 1 → 0: each switch finds
    // L1's SPT12 roots cached and the translations filled, so the reads after it exit nowhere
    const steps = [
      { op: 'map', va: '0x400000', gpa: '0x200000', levels: { pt: [...user] } },
      { op: 'access', va: '0x400000', access: 'read', cpl: 3 },
      { op: 'cr3', process: 1 },
      { op: 'map', va: '0x400000', gpa: '0x210000', levels: { pt: [...user] } },
      { op: 'access', va: '0x400000', access: 'read', cpl: 3 },
      { op: 'cr3', process: 0 },
      { op: 'access', va: '0x400000', access: 'read', cpl: 3 },
      { op: 'cr3', process: 1 },
      { op: 'access', va: '0x400000', access: 'read', cpl: 3 },
    ];
    const { events } = script(steps);
    expect(outcomes(events)).toEqual(['ok@0x200000', 'ok@0x210000', 'ok@0x200000', 'ok@0x210000']);
    for (const [from, to] of [[1, 2], [2, 3]]) {
      const slice = between(events, from as number, to as number);
      expect(exits(slice).map((e) => `${e.reason} ${e.handling}`)).toEqual(['CR_ACCESS reflect-to-l1', 'VMRESUME nested-vmentry']);
      expect(l1Handled(slice)).toEqual(['CR_ACCESS cr3-switch']);
    }
    const tdp = script(steps, { mode: 'tdp', nested: { enabled: true } });
    expect(exits(between(tdp.events, 1, 3))).toEqual([]);
  });

  it('a fault L2\'s own tables do not map is injected into L2 by L1: reflected #PF, inject, VMRESUME', () => {
    // 0x7fff0000 is under PDPT entry 1, not present: a user read, not present → error code 4
    const { events } = script([
      { op: 'map', va: '0x400000', gpa: '0x200000', levels: { pt: [...user] } },
      { op: 'access', va: '0x400000', access: 'read', cpl: 3 },
      { op: 'access', va: '0x7fff0000', access: 'read', cpl: 3 },
    ]);
    expect(outcomes(events)).toEqual(['ok@0x200000', 'pf:4']);
    const slice = between(events, 0, 1);
    expect(exits(slice).map((e) => `${e.reason} ${e.handling}`)).toEqual(['EXCEPTION_NMI reflect-to-l1', 'VMRESUME nested-vmentry']);
    expect(l1Handled(slice)).toEqual(['EXCEPTION_NMI inject-guest-pf']);
    expect(ofType(slice, 'guest_fault').map((f) => [f.va, f.errorCode])).toEqual([[0x7fff0000, 4]]);
  });

  it('INVLPG reaches L1 when L1 intercepts it (unsync shadow pages): INVLPG reflected, VMRESUME; otherwise it runs natively', () => {
    const steps = [
      { op: 'map', va: '0x400000', gpa: '0x200000', levels: { pt: [...user] } },
      { op: 'access', va: '0x400000', access: 'read', cpl: 3 },
      { op: 'invlpg', va: '0x400000' },
      { op: 'access', va: '0x400000', access: 'read', cpl: 3 },
    ];
    const unsync = script(steps, nestedShadow({ unsync: true }));
    expect(outcomes(unsync.events)).toEqual(['ok@0x200000', 'ok@0x200000']);
    expect(exits(between(unsync.events, 0, 1)).map((e) => `${e.reason} ${e.handling}`)).toEqual(['INVLPG reflect-to-l1', 'VMRESUME nested-vmentry']);
    expect(l1Handled(between(unsync.events, 0, 1))).toEqual(['INVLPG sync-shadow-pages']);
    const wp = script(steps);
    expect(exits(between(wp.events, 0, 1))).toEqual([]);
  });

  it('SPT12 is L1\'s shadow pages in L1 memory, beside L0\'s EPT01; each SPT12 page is mapped by EPT01', () => {
    const { vm } = go({ kind: 'demand-paging', pages: 4 }, nestedShadow());
    const n = vm.mmu;
    if (!(n instanceof NestedShadow)) throw new Error('not nested shadow');
    const roles = n.tables().map((t) => t.role.split(' ')[0]);
    expect(roles.filter((r) => r === 'spt12')).toHaveLength(4); // root, and the PDPT, PD and PT levels
    expect(roles.filter((r) => r === 'ept01').length).toBeGreaterThanOrEqual(4);
    // the auditor's L0 check fires when an SPT12 page is not behind EPT01
    const sp = [...n.l1.pages.pages.values()][0];
    if (!sp) throw new Error('no SPT12 page');
    if (!(n.l0 instanceof ShadowOnEpt)) throw new Error('not shadow-on-EPT');
    const w = n.l0.ept01.walk(sp.hostFrame);
    n.l0.ept01.write(w.tables[3] as number, w.indexes[3] as number, 0, 0);
    const found: string[] = [];
    n.audit((rule) => found.push(rule));
    expect(found).toEqual(['nested-shadow-ept01']);
  });

  it('on the AMD profile the exits carry the SVM names: excp_pf reflected, vmrun, npf', () => {
    const { events } = go({ kind: 'demand-paging', pages: 4 }, nestedShadow(), 'npt-amd');
    const reasons = new Set(exits(events).map((e) => e.reason));
    expect([...reasons].sort()).toEqual(['excp_pf', 'npf', 'vmrun', 'write_cr3']);
  });

  it('INVEPT every N misses is refused with L1 on shadow paging (there is no EPT12 to change), naming the field', () => {
    const r = parseScenario(scenario({ kind: 'demand-paging', pages: 1 }, {}, { mode: 'tdp', nested: { enabled: true, l1Mmu: 'shadow', inveptEvery: 10 } }));
    expect(r).toEqual({ ok: false, error: 'vms[0].mmu.nested.inveptEvery: INVEPT is L1 changing its EPT12 (l1Mmu: ept); an L1 on shadow paging has no EPT for L2' });
  });

  it('L0 runs L1 in a VMX guest: mmu.mode xenpv is refused, naming the field', () => {
    const r = parseScenario(scenario({ kind: 'demand-paging', pages: 1 }, {}, { mode: 'xenpv', nested: { enabled: true, l1Mmu: 'shadow' } }));
    expect(r).toEqual({ ok: false, error: 'vms[0].mmu.nested.l1Mmu: nested shadow paging needs mmu.mode tdp (shadow-on-EPT) or shadow (shadow-on-shadow): L0 runs L1 in a VMX guest' });
  });
});

describe('nested shadow-on-EPT: the host reclaims a page of L2', () => {
  it('L0 drops its EPT01 leaf; SPT12 stays; L2\'s next access is one EPT01 violation (map-gfn), the guest sees nothing', () => {
    const { events } = go({ kind: 'script', steps: [
      { op: 'map', va: '0x400000', gpa: '0x200000', levels: { pt: ['P', 'W', 'U'] } },
      { op: 'access', va: '0x400000', access: 'read', cpl: 3 },
      { op: 'hostInvalidate', gpa: '0x200000' },
      { op: 'access', va: '0x400000', access: 'read', cpl: 3 },
    ] as unknown as ScriptStep[] }, nestedShadow());
    const access = events.flatMap((e, i) => (e.type === 'guest_access' ? [i] : []));
    const slice = events.slice((access[0] as number) + 1, access[1]);
    expect(ofType(events, 'guest_access').map((a) => a.gpa)).toEqual([0x200000, 0x200000]);
    // L1 frame of L2's frame 0x200 is 0x100000 + 0x200
    expect(exits(slice).map((e) => [e.reason, e.handling, e.gpa])).toEqual([['EPT_VIOLATION', 'map-gfn', (0x100000 + 0x200) * 4096]]);
    // EPT01's leaf for L1 frame 0x100200 (host frame 0x100000 + 0x100200, rwx) cleared, then set again; SPT12 untouched
    const leaf = (BigInt(0x100000 + 0x100200) << 12n) | 7n;
    expect(ofType(events.slice(access[0] as number), 'spte_write').map((e) => [e.role, e.old, e.new])).toEqual([['ept01', leaf, 0n], ['ept01', 0n, leaf]]);
  });
});

/**
 * Shadow-on-shadow (core/nestedshadow/onShadow.ts): L0 without EPT (`mmu.mode: shadow`) shadows
 * SPT12 into SPT02, write-protects the SPT12 pages it shadows, and the CPU walks SPT02. The same
 * demand-paging guest, worked out from those rules (L1 handles the same exits as above, each
 * two exits to L0; L1's accesses to its own memory are taken as mapped, so no first touches):
 * - the CR3 load: reflected, VMRESUME (2); the nested entry shadows the SPT12 root.
 * - page 1: inject (2); the trapped PML4 store (2: under `update` L1 clears SPT12 root[0],
 *   which is 0 already: no store); the fill (2) stores the link into the SPT12 root, which
 *   L0 shadows: trapped (1), and into the three new SPT12 pages (not shadowed: native); the
 *   retry finds SPT12 complete and SPT02 empty: L0 fills SPT02 (1) and shadows those three
 *   pages. 8 exits.
 * - each further page: inject (2); the trapped pte store (2), whose `update` writes the SPT12
 *   leaf into a page L0 shadows: trapped (1); the retry: L0 fills the SPT02 leaf (1). 6 exits.
 * So 2 + 8 + 6(N − 1) = 6N + 4. With `zap` a further page is inject (2), the zapping pte
 * store (2, nothing to clear), L1's fill (2) with its trapped leaf store (1), L0's fill (1):
 * 8, and page 1 the same 8: 8N + 2.
 */
describe('nested shadow-on-shadow: L0 shadows SPT12 into SPT02', () => {
  const onShadow = (shadow: NonNullable<MmuInput>['shadow'] = {}): MmuInput => ({ mode: 'shadow', nested: { enabled: true, l1Mmu: 'shadow' }, shadow });

  it('demand paging, update: N = 32 pages → 6·32 + 4 = 196 exits to L0, in the order the rules give', () => {
    const N = 32;
    const { events, vm } = go({ kind: 'demand-paging', pages: N }, onShadow(), 'vtx-2007');
    expect(vm.stopReason).toBe('done');
    expect(ofType(events, 'audit_violation')).toEqual([]);
    expect(count(events, 'VMRESUME', 'nested-vmentry')).toBe(2 * N + 2);
    expect(count(events, 'EXCEPTION_NMI', 'emulate-pte-write')).toBe(N); // L1's SPT12 stores L0 trapped
    expect(count(events, 'EXCEPTION_NMI', 'fill-spte')).toBe(N); // L0's SPT02 fills
    expect(exits(events)).toHaveLength(6 * N + 4);
    const seq = [
      'CR_ACCESS reflect-to-l1', 'VMRESUME nested-vmentry',
      'EXCEPTION_NMI reflect-to-l1', 'VMRESUME nested-vmentry', // inject
      'EXCEPTION_NMI reflect-to-l1', 'VMRESUME nested-vmentry', // the PML4 store
      'EXCEPTION_NMI reflect-to-l1', 'EXCEPTION_NMI emulate-pte-write', 'VMRESUME nested-vmentry', // L1's fill, its store into the SPT12 root
      'EXCEPTION_NMI fill-spte', // L0's SPT02 fill
      'EXCEPTION_NMI reflect-to-l1', 'VMRESUME nested-vmentry', // page 2: inject
      'EXCEPTION_NMI reflect-to-l1', 'EXCEPTION_NMI emulate-pte-write', 'VMRESUME nested-vmentry', // the pte store, L1's update of the SPT12 leaf
      'EXCEPTION_NMI fill-spte',
    ];
    expect(exits(events).slice(0, seq.length).map((e) => `${e.reason} ${e.handling}`)).toEqual(seq);
  });

  it('demand paging, zap: N = 32 pages → 8·32 + 2 = 258 exits to L0', () => {
    const N = 32;
    const { events } = go({ kind: 'demand-paging', pages: N }, onShadow({ onGuestPteWrite: 'zap' }), 'vtx-2007');
    expect(ofType(events, 'audit_violation')).toEqual([]);
    expect(count(events, 'VMRESUME', 'nested-vmentry')).toBe(3 * N + 1);
    expect(exits(events)).toHaveLength(8 * N + 2);
  });

  it('L1 sees exactly what plain shadow paging sees; L0\'s own exits are its SPT02 fills and L1\'s trapped SPT12 stores', () => {
    for (const w of [{ kind: 'kbuild', processes: 4, pages: 12 }, { kind: 'fork-cow', pages: 16, processes: 2 }] as Workload[]) {
      const plain = go(w, { mode: 'shadow' }, 'vtx-2007');
      const nested = go(w, onShadow(), 'vtx-2007');
      expect(ofType(nested.events, 'audit_violation'), w.kind).toEqual([]);
      expect(l1Handled(nested.events), w.kind).toEqual(exits(plain.events).map((e) => `${e.reason} ${e.handling}`));
      const own = exits(nested.events).filter((e) => e.handling !== 'reflect-to-l1' && e.reason !== 'VMRESUME');
      expect(new Set(own.map((e) => `${e.reason} ${e.handling}`)), w.kind).toEqual(new Set(['EXCEPTION_NMI fill-spte', 'EXCEPTION_NMI emulate-pte-write']));
    }
  });

  it('SPT02 has SPT12\'s shape: 4 pages, the same entries present, leaves pointing at the host frame of the L1 frame', () => {
    const { vm } = go({ kind: 'demand-paging', pages: 4 }, onShadow(), 'vtx-2007');
    const n = vm.mmu;
    if (!(n instanceof NestedShadow)) throw new Error('not nested shadow');
    const tables = n.tables();
    const spt12 = tables.filter((t) => t.role === 'spt12');
    const spt02 = tables.filter((t) => t.role === 'spt02');
    expect(spt12).toHaveLength(4);
    expect(spt02).toHaveLength(4);
    const shape = (ts: typeof tables) => ts.map((t) => [t.level, t.entries.map(([i]) => i)]).sort();
    expect(shape(spt02)).toEqual(shape(spt12));
    // L2's first data frame 0x104 is L1 frame 0x100104, host frame 0x100000 + 0x100104
    const leaf = spt02.find((t) => t.level === 1)?.entries.find(([i]) => i === 0);
    expect(Number(((leaf?.[1] ?? 0n) >> 12n) & 0xffffffffn)).toBe(0x100000 + 0x100104);
    // the auditor: an SPT12 entry changed behind L0's back (no trap) leaves SPT02 stale
    const sp = [...n.l1.pages.pages.values()].find((p) => p.level === 1);
    if (!sp) throw new Error('no SPT12 pt');
    sp.sptes[0] = (sp.sptes[0] as number) & ~2; // W cleared
    const found: string[] = [];
    n.audit((rule) => found.push(rule));
    expect(found).toContain('nested-spt02');
  });
});

describe('nested shadow paging: random workloads, the auditor finds nothing', () => {
  it('holds for both L0s, every paging mode, 1-3 vCPUs, zap/update, unsync and a small shadow page cache (recycling)', () => {
    const workloadArb = fc.oneof(
      fc.record({ kind: fc.constant('kbuild' as const), pages: fc.integer({ min: 1, max: 12 }), processes: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ kind: fc.constant('fork-cow' as const), pages: fc.integer({ min: 1, max: 16 }), processes: fc.integer({ min: 1, max: 2 }) }),
      fc.record({ kind: fc.constant('context-switch' as const), pages: fc.integer({ min: 1, max: 6 }), processes: fc.integer({ min: 1, max: 3 }), iterations: fc.integer({ min: 1, max: 6 }) }),
      fc.record({ kind: fc.constant('mmio' as const), iterations: fc.integer({ min: 1, max: 12 }) }),
    );
    fc.assert(
      fc.property(workloadArb, fc.constantFrom('tdp' as const, 'shadow' as const), fc.constantFrom('nonpae' as const, 'pae' as const, 'long4' as const), fc.integer({ min: 1, max: 3 }), fc.constantFrom('zap' as const, 'update' as const), fc.boolean(), fc.integer({ min: 8, max: 64 }), (workload, mode, paging, vcpus, onGuestPteWrite, unsync, cachePages) => {
        const { events, vm } = run(scenario(workload, { paging }, { mode, nested: { enabled: true, l1Mmu: 'shadow' }, shadow: { onGuestPteWrite, unsync, cachePages } }, { vcpus }), { audit: true });
        expect(vm.stopReason).toBe('done');
        expect(ofType(events, 'audit_violation')).toEqual([]);
      }),
      { numRuns: 30, seed: 1515 },
    );
  });
});
