/**
 * Guest-visible correctness (issue 15 §2, §4): reference cases whose outcomes are worked out
 * from the Intel SDM (Vol. 3A ch. 4 paging, Vol. 2 MOV to CR3, Vol. 1 §3.3.7.1 canonical
 * addresses), each run in every MMU mode it applies to. The expected results are written
 * down from the SDM's rules (with the reasoning beside them), not taken from a run.
 *
 * Guest frames: the OS hands out frames from 0x100 up, so process 0 of a 4-level script has
 * its PML4 at 0x100000, PDPT 0x101000, PD 0x102000 and the pt of the first mapping at
 * 0x103000. A PAE process 0 has its PDPT at 0x100000 and four preallocated PDs at
 * 0x101000-0x104000 (as Linux PAE allocates them), so its first pt is 0x105000.
 */
import { describe, expect, it } from 'vitest';
import type { MmuEvent } from './events.ts';
import { parseScenario, type ScenarioInput, type ScriptStep } from './scenario.ts';
import { ofType, run, scenario, shadowOf, tdpOf } from './test/helpers.ts';

type MmuInput = ScenarioInput['vms'][number]['mmu'];
type Guest = Partial<ScenarioInput['vms'][number]['guest']>;
type StepInput = Extract<ScenarioInput['vms'][number]['guest']['workload'], { kind: 'script' }>['steps'][number];

const MODES: Record<string, MmuInput> = {
  'shadow zap': { mode: 'shadow', shadow: { onGuestPteWrite: 'zap' } },
  'shadow update': { mode: 'shadow', shadow: { onGuestPteWrite: 'update' } },
  'shadow unsync': { mode: 'shadow', shadow: { unsync: true } },
  tdp: { mode: 'tdp' },
  xenpv: { mode: 'xenpv' },
  nested: { mode: 'tdp', nested: { enabled: true } },
  'nested shadow-on-EPT': { mode: 'tdp', nested: { enabled: true, l1Mmu: 'shadow' } },
  'nested shadow-on-shadow': { mode: 'shadow', nested: { enabled: true, l1Mmu: 'shadow' } },
};
const ALL = Object.keys(MODES);
const user = ['P', 'W', 'U'] as const;

function script(steps: StepInput[], guest: Guest, mode: string): { events: MmuEvent[]; vm: ReturnType<typeof run>['vm'] } {
  const r = run(scenario({ kind: 'script', steps: steps as ScriptStep[] }, guest, MODES[mode]), { audit: true });
  expect(ofType(r.events, 'audit_violation'), mode).toEqual([]);
  expect(r.vm.stopReason, mode).toBe('done');
  return r;
}

/** Each scripted access as `result` (ok: `ok@gpa`; #PF: `pf:errorCode`; #GP: `gp`). */
function outcomes(events: MmuEvent[]): string[] {
  return ofType(events, 'guest_access').map((a) => (a.result === 'ok' ? `ok@0x${a.gpa?.toString(16)}` : a.result === 'gp' ? 'gp' : `pf:${a.errorCode}`));
}

/**
 * What the hypervisor did at each exit: the VM exits' handlings, and under nested shadow
 * paging L1's handling of the exits L0 reflected to it (`guest_os` `l1-handled`).
 */
function handlings(events: MmuEvent[]): string[] {
  return events.flatMap((e) => (e.type === 'vmexit' ? [e.handling] : e.type === 'guest_os' && e.action === 'l1-handled' ? [(e.detail ?? '').split(' ')[1] ?? ''] : []));
}

function parseError(input: ScenarioInput): string {
  const r = parseScenario(input);
  if (r.ok) throw new Error('expected a scenario error');
  return r.error;
}

describe('MOV to CR3 that takes #GP changes nothing (SDM 4.4.1; MOV to CR3: #GP(0) on a reserved PDPTE bit)', () => {
  // Process 0 maps 0x400000 and reads it (TLB filled). Its map of 0x40000000 sets RSVD
  // (bit 51) in PDPTE 1, and the OS reloads CR3 so the PDPTEs are read: #GP. CR3, the
  // PDPTE registers and the TLB keep their values: the read of 0x400000 is still a TLB hit
  // (no walk), and PDPTE register 1 still holds the valid entry the OS preallocated, so
  // 0x40000000 translates through the new pd/pt entries. Switching to process 1 and back to
  // 0 (a CR3 write that succeeds... then one that does not) leaves CR3 at process 1.
  const steps: StepInput[] = [
    { op: 'map', va: '0x400000', gpa: '0x200000', levels: { pt: [...user] } },
    { op: 'access', va: '0x400000', access: 'read', cpl: 3 },
    { op: 'map', va: '0x40000000', gpa: '0x300000', levels: { pdpt: ['P', 'RSVD'], pt: [...user] } },
    { op: 'access', va: '0x400000', access: 'read', cpl: 3 },
    { op: 'access', va: '0x40000000', access: 'read', cpl: 3 },
    { op: 'cr3', process: 1 },
    { op: 'map', va: '0x400000', gpa: '0x210000', levels: { pt: [...user] } },
    { op: 'cr3', process: 0 },
    { op: 'access', va: '0x400000', access: 'read', cpl: 3 },
  ];
  for (const mode of ALL) {
    it(mode, () => {
      const { events, vm } = script(steps, { paging: 'pae' }, mode);
      expect(outcomes(events)).toEqual(['ok@0x200000', 'ok@0x200000', 'ok@0x300000', 'ok@0x210000']);
      const gps = ofType(events, 'guest_os').filter((e) => e.action === 'gp');
      expect(gps.map((e) => e.pid)).toEqual([0, 0]); // the reload after the map, and the cr3 step back to process 0
      // between the refused CR3 load and the next access there is no walk: the TLB kept 0x400000
      const firstGp = events.indexOf(gps[0] as MmuEvent);
      const nextAccess = events.findIndex((e, i) => i > firstGp && e.type === 'guest_access');
      expect(events.slice(firstGp, nextAccess).filter((e) => e.type === 'page_walk')).toEqual([]);
      expect(vm.current.cr3).toBe(vm.os.procs.get(1)?.cr3);
    });
  }
});

describe('non-canonical addresses in 4-level paging are #GP, never #PF (SDM Vol. 1 3.3.7.1)', () => {
  // 2^47 is the first non-canonical address a script can name (bits 63:47 must be equal);
  // 2^47 - 1 is canonical and unmapped: #PF, not present, user read = error code 4. After
  // a #GP the script goes on. INVLPG of a non-canonical address is a NOP.
  const steps: StepInput[] = [
    { op: 'access', va: '0x800000000000', access: 'read', cpl: 3 },
    { op: 'access', va: '0x800000001000', access: 'write', cpl: 0 },
    { op: 'invlpg', va: '0x800000000000' },
    { op: 'access', va: '0x7fffffffffff', access: 'read', cpl: 3 },
    { op: 'map', va: '0x400000', gpa: '0x200000', levels: { pt: [...user] } },
    { op: 'access', va: '0x400000', access: 'read', cpl: 3 },
  ];
  for (const mode of ALL) {
    it(mode, () => {
      const { events } = script(steps, {}, mode);
      expect(outcomes(events)).toEqual(['gp', 'gp', 'pf:4', 'ok@0x200000']);
      // only the canonical one is a #PF
      expect(ofType(events, 'guest_fault').map((f) => f.va)).toEqual([2 ** 47 - 1]);
    });
  }
  it('no map can make one succeed: mapping a non-canonical address is a scenario error naming the step', () => {
    const err = parseError(scenario({ kind: 'script', steps: [{ op: 'access', va: 0, access: 'read' }, { op: 'map', va: '0x800000000000', gpa: '0x200000' }] }));
    expect(err).toMatch(/^vms\[0\]\.guest\.workload\.steps\[1\]\.va: 0x800000000000 is not canonical/);
  });
});

describe('32-bit paging: script addresses at or above 4 GiB are scenario errors naming the step', () => {
  it.each(['nonpae', 'pae'] as const)('%s', (paging) => {
    for (const [i, step] of [
      [1, { op: 'access', va: '0x100000000', access: 'read' }],
      [1, { op: 'map', va: '0x100000000', gpa: '0x200000' }],
      [1, { op: 'invlpg', va: '0x100001000' }],
    ] as Array<[number, StepInput]>) {
      const err = parseError(scenario({ kind: 'script', steps: [{ op: 'invlpg', va: 0 }, step] }, { paging }));
      expect(err).toMatch(new RegExp(`^vms\\[0\\]\\.guest\\.workload\\.steps\\[${i}\\]\\.va: 0x10000[01]000 is at or above 4 GiB`));
    }
    // the highest 32-bit address is fine
    expect(parseScenario(scenario({ kind: 'script', steps: [{ op: 'access', va: '0xfffff000', access: 'read' }] }, { paging })).ok).toBe(true);
  });
  it('a 4 KiB non-PAE pte holds a 32-bit frame address: a gpa at or above 4 GiB is an error', () => {
    expect(parseError(scenario({ kind: 'script', steps: [{ op: 'map', va: '0x400000', gpa: '0x100000000' }] }, { paging: 'nonpae' }))).toMatch(/^vms\[0\]\.guest\.workload\.steps\[0\]\.gpa: 0x100000000 does not fit in a non-PAE 4k entry/);
  });
});

describe('no memslot means MMIO, under every policy', () => {
  // The guest remaps a page it used onto the first frame above RAM (64 MiB: no memslot).
  // Whatever the MMU does with the emulated pte write, the next access must reach the
  // device emulator (an MMIO exit), and no spte may map the frame.
  const steps: StepInput[] = [
    { op: 'map', va: '0x400000', gpa: '0x200000', levels: { pt: ['P', 'W', 'U', 'A', 'D'] } },
    { op: 'access', va: '0x400000', access: 'write', cpl: 3 },
    { op: 'map', va: '0x400000', gpa: '0x4000000', levels: { pt: ['P', 'W', 'U', 'A', 'D'] } },
    { op: 'invlpg', va: '0x400000' },
    { op: 'access', va: '0x400000', access: 'read', cpl: 3 },
    { op: 'access', va: '0x400008', access: 'write', cpl: 3 },
  ];
  for (const mode of ALL.filter((m) => m !== 'xenpv')) {
    it(mode, () => {
      const { events } = script(steps, {}, mode);
      expect(outcomes(events)).toEqual(['ok@0x200000', 'ok@0x4000000', 'ok@0x4000008']);
      // between the remapping pte write and the access that reached 0x4000000: the MMIO exit
      const remap = events.findIndex((e) => e.type === 'gpte_write' && e.cause === 'guest' && e.new === 0x4000067n);
      const access = events.findIndex((e) => e.type === 'guest_access' && e.gpa === 0x4000000);
      expect(remap).toBeGreaterThan(0);
      expect(handlings(events.slice(remap, access))).toContain('mmio-emulate');
    });
  }
  it('the auditor catches an spte that maps a frame with no memslot', () => {
    const { vm } = script(steps.slice(0, 2), {}, 'shadow update');
    const shadow = shadowOf(vm);
    const leaf = [...(shadow?.pages.pages.values() ?? [])].find((p) => p.level === 1);
    if (!shadow || !leaf) throw new Error('no shadow pt');
    const [lo, hi] = shadow.pages.leafSpte(vm.mem.frames, 7, true); // a RAM spte for gfn = first frame above RAM
    shadow.pages.setSpte(leaf, 5, lo, hi);
    const found: string[] = [];
    shadow.audit((rule) => found.push(rule));
    expect(found).toContain('mmio-mapped');
  });
});

describe('the TDP auditor catches an EPT leaf that maps a frame with no memslot', () => {
  it('tdp', () => {
    const steps: StepInput[] = [
      { op: 'map', va: '0x400000', gpa: '0x200000', levels: { pt: [...user] } },
      { op: 'access', va: '0x400000', access: 'read', cpl: 3 },
      { op: 'map', va: '0x401000', gpa: '0x4000000', levels: { pt: [...user] } },
      { op: 'access', va: '0x401000', access: 'read', cpl: 3 }, // an MMIO spte for gfn 0x4000
    ];
    const { vm, events } = run(scenario({ kind: 'script', steps: steps as ScriptStep[] }, {}, { mode: 'tdp', tdp: { largePages: false } }), { audit: true });
    expect(ofType(events, 'audit_violation')).toEqual([]);
    const tdp = tdpOf(vm);
    const tables = [...(tdp?.tables.values() ?? [])].filter((t) => t.level === 1);
    const mmioTable = tables.find((t) => t.baseGfn >= vm.mem.frames);
    const ram = tables.find((t) => t.baseGfn < vm.mem.frames);
    const ramLeaf = ram ? [...Array(512).keys()].find((i) => ram.sptes[2 * i]) : undefined;
    if (!tdp || !mmioTable || !ram || ramLeaf === undefined) throw new Error('setup');
    tdp.setSpte(mmioTable, 1, ram.sptes[2 * ramLeaf] as number, ram.sptes[2 * ramLeaf + 1] as number); // a RAM leaf for gfn 0x4001
    const found: string[] = [];
    vm.mmu.audit((rule) => found.push(rule));
    expect(found).toContain('mmio-mapped');
  });
});

describe('PAE guests run every built-in workload: the same work as 4-level paging', () => {
  const workloads: Array<ScenarioInput['vms'][number]['guest']['workload']> = [
    { kind: 'demand-paging', pages: 24 },
    { kind: 'fork-cow', pages: 12, processes: 2 },
    { kind: 'kbuild', processes: 3, pages: 12 },
    { kind: 'context-switch', processes: 3, pages: 8, iterations: 12 },
    { kind: 'mmio', iterations: 12 },
    { kind: 'dirty-log', pages: 32, iterations: 2 },
  ];
  for (const mode of ['shadow update', 'shadow zap', 'tdp', 'xenpv', 'nested', 'nested shadow-on-EPT', 'nested shadow-on-shadow']) {
    it(mode, () => {
      for (const w of workloads) {
        const view = (paging: 'pae' | 'long4') => {
          const { events, vm } = run(scenario(w, { paging }, MODES[mode]), { audit: true });
          expect(ofType(events, 'audit_violation'), `${w.kind} ${paging}`).toEqual([]);
          expect(vm.stopReason).toBe('done');
          const c = vm.counters().vm;
          // user ptes the OS wrote (level 1), the #PFs it handled, and the TLB hits of the accesses
          return { ptes: ofType(events, 'gpte_write').filter((e) => e.cause === 'guest' && e.level === 1 && (e.new & 1n) === 1n).length, pfs: ofType(events, 'guest_fault').length, tlbHit: c.tlbHit ?? 0 };
        };
        const pae = view('pae');
        const long4 = view('long4');
        // the guest's work is the same: the same ptes written, the same #PFs handled
        expect({ ptes: pae.ptes, pfs: pae.pfs }, `${w.kind} under ${mode}`).toEqual({ ptes: long4.ptes, pfs: long4.pfs });
        if (w.kind === 'mmio') continue; // device accesses are never cached in the TLB under TDP
        expect(pae.ptes, w.kind).toBeGreaterThan(0);
        if (w.kind !== 'dirty-log' || mode.startsWith('shadow')) expect(pae.tlbHit, w.kind).toBeGreaterThan(0); // under TDP every logged write faults
        // The TLB sees the same accesses. Under shadow paging which shadow pages get zapped
        // (and so which TLB entries are flushed) depends on the guest's table layout: PAE's
        // four page directories are shadow roots (L1's, under nested shadow paging). Elsewhere
        // the hits are the same.
        if (mode.startsWith('shadow') || mode.startsWith('nested shadow')) expect(Math.abs(pae.tlbHit - long4.tlbHit), w.kind).toBeLessThanOrEqual(long4.tlbHit * 0.02);
        else expect(pae.tlbHit, w.kind).toBe(long4.tlbHit);
      }
    });
  }
});

describe('CR0.WP = 0 with SMEP: NX only when a user page became a supervisor page (mmu.rst)', () => {
  // WP = 0: a supervisor write to a read-only page is allowed (SDM 4.6.1). The page stays
  // as the guest says: a supervisor page may then be executed by the kernel (SMEP concerns
  // user pages only); a user page may not (SMEP: #PF, P | I/D = 17).
  const guest: Guest = { cr0: { wp: false }, cr4: { pse: true, smep: true, smap: false } };
  const run2 = (pt: string[], mode: string) => script([
    { op: 'map', va: '0x400000', gpa: '0x200000', levels: { pt: pt as never } },
    { op: 'access', va: '0x400000', access: 'write', cpl: 0 },
    { op: 'access', va: '0x400000', access: 'fetch', cpl: 0 },
  ], guest, mode);
  for (const mode of ALL) {
    it(mode, () => {
      expect(outcomes(run2(['P'], mode).events)).toEqual(['ok@0x200000', 'ok@0x200000']);
      expect(outcomes(run2(['P', 'U'], mode).events)).toEqual(['ok@0x200000', 'pf:17']);
    });
  }
  it('shadow: the supervisor page keeps its execute right, so the kernel fetch needs no fault', () => {
    const { events } = run2(['P'], 'shadow update');
    const write = events.findIndex((e) => e.type === 'guest_access');
    expect(ofType(events.slice(write + 1), 'vmexit')).toEqual([]);
  });
});

describe('run-time CR0.WP, CR4.SMEP and EFER.NXE changes (setControls): a new MMU role', () => {
  for (const mode of ALL) {
    it(`${mode}: WP 1 → 0 → 1 on a read-only user page`, () => {
      // supervisor write to a read-only page: WP = 1 #PF (P | W = 3); WP = 0 allowed; WP = 1 again #PF
      const { events } = script([
        { op: 'map', va: '0x400000', gpa: '0x200000', levels: { pt: ['P', 'U'] } },
        { op: 'access', va: '0x400000', access: 'write', cpl: 0 },
        { op: 'setControls', cr0: { wp: false } },
        { op: 'access', va: '0x400000', access: 'write', cpl: 0 },
        { op: 'setControls', cr0: { wp: true } },
        { op: 'access', va: '0x400000', access: 'write', cpl: 0 },
      ], {}, mode);
      expect(outcomes(events)).toEqual(['pf:3', 'ok@0x200000', 'pf:3']);
    });
    it(`${mode}: EFER.NXE off makes a pte's XD bit reserved; SMEP on stops a kernel fetch of a user page`, () => {
      const { events } = script([
        { op: 'map', va: '0x400000', gpa: '0x200000', levels: { pt: ['P', 'U', 'NX'] } },
        { op: 'map', va: '0x401000', gpa: '0x201000', levels: { pt: ['P', 'U'] } },
        { op: 'access', va: '0x400000', access: 'fetch', cpl: 3 }, // NX: P | U | I/D = 21
        { op: 'access', va: '0x401000', access: 'fetch', cpl: 0 }, // no SMEP: ok
        { op: 'setControls', efer: { nx: false } },
        { op: 'access', va: '0x400000', access: 'fetch', cpl: 3 }, // XD reserved: P | RSVD | U = 13 (I/D reserved without NXE and SMEP)
        { op: 'setControls', efer: { nx: true }, cr4: { smep: true } },
        { op: 'access', va: '0x401000', access: 'fetch', cpl: 0 }, // SMEP: P | I/D = 17
        { op: 'access', va: '0x401000', access: 'read', cpl: 3 },
      ], {}, mode);
      expect(outcomes(events)).toEqual(['pf:21', 'ok@0x201000', 'pf:13', 'pf:17', 'ok@0x201000']);
    });
  }
  it('shadow: pages are keyed by the role bits; a change back finds the old role\'s root again', () => {
    const { events } = script([
      { op: 'map', va: '0x400000', gpa: '0x200000', levels: { pt: ['P', 'U'] } },
      { op: 'access', va: '0x400000', access: 'read', cpl: 0 },
      { op: 'setControls', cr0: { wp: false }, cr4: { smep: true } },
      { op: 'access', va: '0x400000', access: 'read', cpl: 0 },
      { op: 'setControls', cr0: { wp: true }, cr4: { smep: false } },
      { op: 'access', va: '0x400000', access: 'read', cpl: 0 },
    ], {}, 'shadow update');
    const roots = ofType(events, 'shadow_page').filter((e) => e.action === 'alloc' && e.level === 4);
    // the default role, then WP = 0 (cr0_wp = 0), then WP = 0 with SMEP (smep_andnot_wp): three roles, and back to the first
    expect(roots.map((r) => r.role?.replace(' root', ''))).toEqual(['shadow l4 wux', 'shadow l4 wux !cr0_wp', 'shadow l4 wux !cr0_wp smep_andnot_wp']);
    const roleExits = ofType(events, 'vmexit').filter((e) => e.handling === 'mmu-role-change');
    expect(roleExits.map((e) => e.reason)).toEqual(['CR_ACCESS', 'CR_ACCESS', 'CR_ACCESS', 'CR_ACCESS']);
  });
});

describe('partial and misaligned guest pte writes (pteWrite)', () => {
  // Process 0's pt is at 0x103000 and the pte of 0x400000 is its entry 0.
  const setup: StepInput[] = [
    { op: 'map', va: '0x400000', gpa: '0x200000', levels: { pt: [...user] } },
    { op: 'access', va: '0x400000', access: 'read', cpl: 3 },
  ];
  const after: StepInput[] = [{ op: 'invlpg', va: '0x400000' }, { op: 'access', va: '0x400000', access: 'fetch', cpl: 3 }];
  for (const mode of ALL) {
    it(`${mode}: a 4-byte store to the high half of the pte sets XD; the fetch faults (P | U | I/D = 21)`, () => {
      const { events } = script([...setup, { op: 'pteWrite', gpa: '0x103004', bytes: 4, value: '0x80000000' }, ...after], {}, mode);
      expect(outcomes(events)).toEqual(['ok@0x200000', 'pf:21']);
    });
    it(`${mode}: a 1-byte store clearing P: not present (U = 4)`, () => {
      const { events } = script([...setup, { op: 'pteWrite', gpa: '0x103000', bytes: 1, value: 0 }, { op: 'invlpg', va: '0x400000' }, { op: 'access', va: '0x400000', access: 'read', cpl: 3 }], {}, mode);
      expect(outcomes(events)).toEqual(['ok@0x200000', 'pf:4']);
    });
  }
  for (const mode of ALL.filter((m) => m !== 'xenpv')) {
    it(`${mode}: an 8-byte store across two ptes sets XD in the first; the fetch faults`, () => {
      const { events } = script([...setup, { op: 'pteWrite', gpa: '0x103004', bytes: 8, value: '0x80000000' }, ...after], {}, mode);
      expect(outcomes(events)).toEqual(['ok@0x200000', 'pf:21']);
    });
  }
  it('shadow: the misaligned store zaps the shadow pt (seed 000); the aligned ones do not', () => {
    const mis = script([...setup, { op: 'pteWrite', gpa: '0x103004', bytes: 8, value: '0x80000000' }], {}, 'shadow update');
    expect(shadowOf(mis.vm)?.pages.stats.misaligned).toBe(1);
    expect(ofType(mis.events, 'shadow_page').filter((e) => e.action === 'zap' && e.gfn === 0x103)).toHaveLength(1);
    for (const [gpa, bytes] of [['0x103004', 4], ['0x103000', 1]] as const) {
      const ok = script([...setup, { op: 'pteWrite', gpa, bytes, value: 0 }], {}, 'shadow update');
      expect(shadowOf(ok.vm)?.pages.stats.misaligned).toBe(0);
    }
  });
  it('Xen PV: write emulation refuses a store that is not naturally aligned inside one entry; the pte is unchanged', () => {
    const { events } = script([...setup, { op: 'pteWrite', gpa: '0x103004', bytes: 8, value: '0x80000000' }, ...after], {}, 'xenpv');
    expect(outcomes(events)).toEqual(['ok@0x200000', 'ok@0x200000']);
    expect(ofType(events, 'guest_os').filter((e) => e.action === 'xen-reject')).toHaveLength(1);
  });
  it('a value that does not fit, or a store across a page, is a scenario error naming the field', () => {
    expect(parseError(scenario({ kind: 'script', steps: [{ op: 'pteWrite', gpa: '0x103000', bytes: 2, value: '0x10000' }] }))).toMatch(/^vms\[0\]\.guest\.workload\.steps\[0\]\.value: 0x10000 does not fit in 2 bytes/);
    expect(parseError(scenario({ kind: 'script', steps: [{ op: 'pteWrite', gpa: '0x103ffc', bytes: 8, value: 0 }] }))).toMatch(/^vms\[0\]\.guest\.workload\.steps\[0\]\.gpa: .*crosses a page boundary/);
  });
});

describe('the built-ins of these cases', () => {
  it('wp-role-change: #PF (P | W = 3), allowed, #PF again', async () => {
    const { findBuiltin } = await import('./builtins.ts');
    const { events } = run(findBuiltin('wp-role-change')?.scenario as ScenarioInput, { audit: true });
    expect(outcomes(events)).toEqual(['pf:3', 'ok@0x200000', 'pf:3']);
  });
  it('pte-partial-writes: XD from the half-pte store (P | U | I/D = 21), then not present (U = 4), the neighbour intact', async () => {
    const { findBuiltin } = await import('./builtins.ts');
    const { events, vm } = run(findBuiltin('pte-partial-writes')?.scenario as ScenarioInput, { audit: true });
    expect(outcomes(events)).toEqual(['ok@0x200000', 'ok@0x201000', 'pf:21', 'pf:4', 'ok@0x200000']);
    expect(shadowOf(vm)?.pages.stats.misaligned).toBe(1);
  });
});
