/**
 * The x86 rules for a guest access, case by case, from the Intel SDM Vol. 3A: §4.6
 * (access rights: U/S and R/W combined over all levels, CR0.WP, SMEP, SMAP, XD with
 * IA32_EFER.NXE), §4.7 (the #PF error code: P, W/R, U/S, RSVD, I/D — I/D only when SMEP
 * or PAE-type paging with NXE), §4.3-4.5 (entry formats: reserved bits, PS, XD reserved
 * without NXE, PDPTE valid bit) and §4.8 (A on every entry used, D on the leaf of a write;
 * KVM sets them only for an allowed access, seed 000).
 *
 * Every case runs under shadow paging (zap, update, unsync), TDP, nested TDP and Xen PV;
 * the guest-visible outcome must be the same in all of them and equal the expected one worked out from the manual.
 */
import { describe, expect, it } from 'vitest';
import type { ScenarioInput } from './scenario.ts';
import { ofType, run, scenario } from './test/helpers.ts';

type Flags = ('P' | 'W' | 'U' | 'A' | 'D' | 'G' | 'NX' | 'RSVD')[];
type Guest = Partial<ScenarioInput['vms'][number]['guest']>;
interface Case {
  name: string;
  guest?: Guest;
  size?: '4k' | '2m' | '4m' | '1g';
  levels: Partial<Record<'pml4' | 'pdpt' | 'pd' | 'pt', Flags>>;
  access: 'read' | 'write' | 'fetch';
  cpl: 0 | 3;
  /** Expected #PF error code, or undefined when the access succeeds. */
  fault?: number;
}

const P = 1, W = 2, U = 4, RSVD = 8, ID = 16;
const noNx: Guest = { efer: { nx: false } };
const smep: Guest = { cr4: { pse: true, smep: true, smap: false } };
const smap: Guest = { cr4: { pse: true, smep: false, smap: true } };
const wp0: Guest = { cr0: { wp: false } };
const nonpae: Guest = { paging: 'nonpae' };
const pae: Guest = { paging: 'pae' };

const CASES: Case[] = [
  { name: 'all levels user-writable: user read ok', levels: {}, access: 'read', cpl: 3 },
  { name: 'all levels user-writable: user write ok', levels: {}, access: 'write', cpl: 3 },
  { name: 'pml4e not present: user read', levels: { pml4: [] }, access: 'read', cpl: 3, fault: U },
  { name: 'pdpte not present: supervisor write', levels: { pdpt: ['W', 'U'] }, access: 'write', cpl: 0, fault: W },
  { name: 'pde not present: user fetch (NXE → I/D)', levels: { pd: [] }, access: 'fetch', cpl: 3, fault: U | ID },
  { name: 'pte not present: user fetch without NXE or SMEP (no I/D)', guest: noNx, levels: { pt: [] }, access: 'fetch', cpl: 3, fault: U },
  { name: 'pte not present: user fetch, NXE off but SMEP on (I/D)', guest: { ...noNx, ...smep }, levels: { pt: [] }, access: 'fetch', cpl: 3, fault: U | ID },
  { name: 'read-only pte: user write', levels: { pt: ['P', 'U'] }, access: 'write', cpl: 3, fault: P | W | U },
  { name: 'read-only pde over writable pte: user write (rights combine)', levels: { pd: ['P', 'U'] }, access: 'write', cpl: 3, fault: P | W | U },
  { name: 'read-only pml4e: user write', levels: { pml4: ['P', 'U'] }, access: 'write', cpl: 3, fault: P | W | U },
  { name: 'read-only pte: user read ok', levels: { pt: ['P', 'U'] }, access: 'read', cpl: 3 },
  { name: 'read-only pte: supervisor write, CR0.WP=1', levels: { pt: ['P', 'U'] }, access: 'write', cpl: 0, fault: P | W },
  { name: 'read-only pte: supervisor write, CR0.WP=0 ok', guest: wp0, levels: { pt: ['P', 'U'] }, access: 'write', cpl: 0 },
  { name: 'read-only supervisor pte: supervisor write, CR0.WP=0 ok', guest: wp0, levels: { pt: ['P'] }, access: 'write', cpl: 0 },
  { name: 'read-only pte: user write, CR0.WP=0 still faults', guest: wp0, levels: { pt: ['P', 'U'] }, access: 'write', cpl: 3, fault: P | W | U },
  { name: 'supervisor pte: user read', levels: { pt: ['P', 'W'] }, access: 'read', cpl: 3, fault: P | U },
  { name: 'supervisor pml4e: user read', levels: { pml4: ['P', 'W'] }, access: 'read', cpl: 3, fault: P | U },
  { name: 'supervisor pte: supervisor write ok', levels: { pt: ['P', 'W'] }, access: 'write', cpl: 0 },
  { name: 'NX pte: user fetch', levels: { pt: ['P', 'W', 'U', 'NX'] }, access: 'fetch', cpl: 3, fault: P | U | ID },
  { name: 'NX pde: user fetch (XD combines)', levels: { pd: ['P', 'W', 'U', 'NX'] }, access: 'fetch', cpl: 3, fault: P | U | ID },
  { name: 'NX pte: supervisor fetch', levels: { pt: ['P', 'W', 'NX'] }, access: 'fetch', cpl: 0, fault: P | ID },
  { name: 'NX pte: user read ok', levels: { pt: ['P', 'W', 'U', 'NX'] }, access: 'read', cpl: 3 },
  { name: 'XD set with NXE off is a reserved bit', guest: noNx, levels: { pt: ['P', 'W', 'U', 'NX'] }, access: 'read', cpl: 3, fault: P | U | RSVD },
  { name: 'user fetch ok without NX', levels: {}, access: 'fetch', cpl: 3 },
  { name: 'SMEP: supervisor fetch from a user page', guest: smep, levels: {}, access: 'fetch', cpl: 0, fault: P | ID },
  { name: 'no SMEP: supervisor fetch from a user page ok', levels: {}, access: 'fetch', cpl: 0 },
  { name: 'SMEP: supervisor fetch from a supervisor page ok', guest: smep, levels: { pt: ['P', 'W'] }, access: 'fetch', cpl: 0 },
  { name: 'SMAP: supervisor read of a user page', guest: smap, levels: {}, access: 'read', cpl: 0, fault: P },
  { name: 'SMAP: supervisor write to a user page', guest: smap, levels: {}, access: 'write', cpl: 0, fault: P | W },
  { name: 'SMAP: supervisor fetch is SMEP business, ok', guest: smap, levels: {}, access: 'fetch', cpl: 0 },
  { name: 'SMAP: a supervisor page read ok', guest: smap, levels: { pml4: ['P', 'W'] }, access: 'read', cpl: 0 },
  { name: 'no SMAP: supervisor write to a user page ok', levels: {}, access: 'write', cpl: 0 },
  { name: 'reserved bit in the pte', levels: { pt: ['P', 'W', 'U', 'RSVD'] }, access: 'read', cpl: 3, fault: P | U | RSVD },
  { name: 'reserved bit in the pml4e: supervisor write', levels: { pml4: ['P', 'W', 'U', 'RSVD'] }, access: 'write', cpl: 0, fault: P | W | RSVD },
  { name: 'reserved bit beats a permission fault', levels: { pml4: ['P', 'RSVD'], pt: ['P'] }, access: 'write', cpl: 3, fault: P | W | U | RSVD },
  { name: 'not-present beats a reserved bit lower down', levels: { pd: [], pt: ['P', 'RSVD'] }, access: 'read', cpl: 3, fault: U },
  { name: '2 MiB page: user write ok', size: '2m', levels: {}, access: 'write', cpl: 3 },
  { name: '2 MiB page read-only: user write', size: '2m', levels: { pd: ['P', 'U'] }, access: 'write', cpl: 3, fault: P | W | U },
  { name: '2 MiB page with a reserved bit', size: '2m', levels: { pd: ['P', 'W', 'U', 'RSVD'] }, access: 'read', cpl: 3, fault: P | U | RSVD },
  { name: '1 GiB page: user read ok', size: '1g', levels: {}, access: 'read', cpl: 3 },
  { name: '1 GiB page supervisor: user read', size: '1g', levels: { pdpt: ['P', 'W'] }, access: 'read', cpl: 3, fault: P | U },
  { name: 'non-PAE 4 KiB: user write ok', guest: nonpae, levels: {}, access: 'write', cpl: 3 },
  { name: 'non-PAE read-only pde: user write', guest: nonpae, levels: { pd: ['P', 'U'] }, access: 'write', cpl: 3, fault: P | W | U },
  { name: 'non-PAE: fetch fault has no I/D without SMEP', guest: nonpae, levels: { pt: [] }, access: 'fetch', cpl: 3, fault: U },
  { name: 'non-PAE: fetch fault has I/D with SMEP', guest: { ...nonpae, ...smep }, levels: { pt: [] }, access: 'fetch', cpl: 3, fault: U | ID },
  { name: 'non-PAE 4 MiB page: user read ok', guest: nonpae, size: '4m', levels: {}, access: 'read', cpl: 3 },
  { name: 'non-PAE 4 MiB page with bit 21 set', guest: nonpae, size: '4m', levels: { pd: ['P', 'W', 'U', 'RSVD'] }, access: 'read', cpl: 3, fault: P | U | RSVD },
  { name: 'non-PAE 4 MiB supervisor page: user read', guest: nonpae, size: '4m', levels: { pd: ['P', 'W'] }, access: 'read', cpl: 3, fault: P | U },
  { name: 'PAE: user write ok', guest: pae, levels: {}, access: 'write', cpl: 3 },
  { name: 'PAE: invalid PDPTE is not followed', guest: pae, levels: { pdpt: [] }, access: 'read', cpl: 3, fault: U },
  // The OS reloads CR3 after changing a PDPTE; with a reserved bit the MOV to CR3 takes #GP and
  // loads nothing (SDM 4.4.1), so the PDPTE register keeps the valid entry the OS preallocated
  // (pointing at the same page directory): the walk goes on through it.
  { name: 'PAE: reserved bit in a PDPTE: CR3 reload #GP, the old PDPTE register still used', guest: pae, levels: { pdpt: ['P', 'RSVD'] }, access: 'read', cpl: 3 },
  { name: 'PAE: NX pte, user fetch', guest: pae, levels: { pt: ['P', 'W', 'U', 'NX'] }, access: 'fetch', cpl: 3, fault: P | U | ID },
  { name: 'PAE: 2 MiB read-only page, supervisor write with WP', guest: pae, size: '2m', levels: { pd: ['P', 'U'] }, access: 'write', cpl: 0, fault: P | W },
];

const VA: Record<string, number> = { '4k': 0x400000, '2m': 0x40000000, '4m': 0x800000, '1g': 0x40000000 };
const GPA: Record<string, number> = { '4k': 0x200000, '2m': 0x1000000, '4m': 0x1000000, '1g': 0x40000000 };
const OFFSET = 0x123;

function scriptFor(c: Case, mmu: ScenarioInput['vms'][number]['mmu']): ScenarioInput {
  const size = c.size ?? '4k';
  return scenario(
    { kind: 'script', steps: [{ op: 'map', va: VA[size] as number, gpa: GPA[size] as number, size, levels: c.levels }, { op: 'access', va: (VA[size] as number) + OFFSET, access: c.access, cpl: c.cpl }] },
    c.guest ?? {},
    mmu,
  );
}

const MODES = [
  ['shadow zap', { mode: 'shadow', shadow: { onGuestPteWrite: 'zap' } }],
  ['shadow update', { mode: 'shadow', shadow: { onGuestPteWrite: 'update' } }],
  ['tdp', { mode: 'tdp' }],
  ['xenpv', { mode: 'xenpv' }],
  ['nested tdp', { mode: 'tdp', nested: { enabled: true } }],
  ['shadow unsync', { mode: 'shadow', shadow: { unsync: true } }],
] as const;

describe('guest paging follows the SDM', () => {
  for (const c of CASES) {
    for (const [label, mmu] of MODES) {
      it(`${c.name} [${label}]`, () => {
        const { events } = run(scriptFor(c, mmu), { audit: true });
        const [acc] = ofType(events, 'guest_access');
        expect(acc).toBeDefined();
        expect(ofType(events, 'audit_violation')).toEqual([]);
        const ad = ofType(events, 'gpte_write').filter((e) => e.cause === 'ad');
        if (c.fault === undefined) {
          expect(acc?.result).toBe('ok');
          expect(acc?.gpa).toBe((GPA[c.size ?? '4k'] as number) + OFFSET);
          // A on every entry used (PAE PDPTEs have none); D only on the leaf, only on a write
          const levels = { nonpae: 2, pae: 2, long4: 4 }[c.guest?.paging ?? 'long4'] - ({ '4k': 0, '2m': 1, '4m': 1, '1g': 2 }[c.size ?? '4k']);
          expect(ad.length).toBe(levels);
          expect(ad.every((e) => (e.new & 0x20n) !== 0n)).toBe(true);
          const leaf = ad[ad.length - 1];
          expect(((leaf?.new ?? 0n) & 0x40n) !== 0n).toBe(c.access === 'write');
        } else {
          expect(acc?.result).toBe('fault');
          expect(acc?.errorCode).toBe(c.fault);
          expect(ad).toEqual([]); // no accessed bit for a faulting access
          expect(ofType(events, 'guest_fault').map((f) => f.errorCode)).toEqual([c.fault]);
        }
      });
    }
  }
});

describe('guest TLB semantics', () => {
  const steps = (extra: object[]): ScenarioInput =>
    scenario({ kind: 'script', steps: [{ op: 'map', va: 0x400000, gpa: 0x200000, levels: {} }, { op: 'access', va: 0x400000, access: 'read', cpl: 3 }, ...(extra as never[])] }, {}, { mode: 'tdp' });

  it('a stale translation is used until invlpg, then the new pte applies', () => {
    const { events } = run(steps([
      { op: 'map', va: 0x400000, gpa: 0x200000, levels: { pt: ['P', 'W'] } },
      { op: 'access', va: 0x400000, access: 'read', cpl: 3 },
      { op: 'invlpg', va: 0x400000 },
      { op: 'access', va: 0x400000, access: 'read', cpl: 3 },
    ]));
    expect(ofType(events, 'guest_access').map((a) => a.result)).toEqual(['ok', 'ok', 'fault']);
  });

  it('a CR3 reload drops non-global entries but keeps global ones', () => {
    const reload = (flags: Flags) =>
      run(scenario({ kind: 'script', steps: [
        { op: 'map', va: 0x400000, gpa: 0x200000, levels: { pt: flags } },
        { op: 'access', va: 0x400000, access: 'read', cpl: 3 },
        { op: 'map', va: 0x400000, gpa: 0x200000, levels: { pt: [] } },
        { op: 'cr3', process: 0 },
        { op: 'access', va: 0x400000, access: 'read', cpl: 3 },
      ] }, {}, { mode: 'tdp' })).events;
    expect(ofType(reload(['P', 'W', 'U']), 'guest_access').map((a) => a.result)).toEqual(['ok', 'fault']);
    expect(ofType(reload(['P', 'W', 'U', 'G']), 'guest_access').map((a) => a.result)).toEqual(['ok', 'ok']);
  });
});

describe('linear-address split (SDM Figures 4-2, 4-5, 4-8)', () => {
  it('splits a 48-bit address into 9-bit indices for 4-level paging', async () => {
    const { tableIndex } = await import('./paging.ts');
    const va = 0x7fffc0201000; // pml4 255, pdpt 511, pd 1, pt 1
    expect([4, 3, 2, 1].map((l) => tableIndex('long4', va, l))).toEqual([255, 511, 1, 1]);
    expect([4, 3, 2, 1].map((l) => tableIndex('long4', 0x0000_0080_4020_3000, l))).toEqual([1, 1, 1, 3]);
  });
  it('splits 32-bit addresses for PAE (2+9+9) and non-PAE (10+10)', async () => {
    const { tableIndex } = await import('./paging.ts');
    expect([3, 2, 1].map((l) => tableIndex('pae', 0xc0601000, l))).toEqual([3, 3, 1]);
    expect([2, 1].map((l) => tableIndex('nonpae', 0xc0601000, l))).toEqual([0x301, 0x201]);
  });
});

describe('probe walk', () => {
  it('translates without setting A/D bits and without faulting side effects', async () => {
    const { WalkResult, ACCESS_WRITE } = await import('./paging.ts');
    const { vm, events } = run(scenario({ kind: 'script', steps: [{ op: 'map', va: 0x400000, gpa: 0x200000, levels: {} }] }));
    const before = events.length;
    const r = new WalkResult();
    expect(vm.probe(0x400abc, ACCESS_WRITE, 3, r)).toBe(true);
    expect(r.gpa).toBe(0x200abc);
    // no entry of the walk has A or D set: the probe left guest memory alone
    for (let i = 0; i < r.count; i++) expect((r.entryLo[i] as number) & 0x60).toBe(0);
    expect(vm.probe(0x800000, ACCESS_WRITE, 3, r)).toBe(false);
    expect(r.errorCode).toBe(0b110);
    expect(vm.probe(0x400abc, ACCESS_WRITE, 3, r) && ((r.entryLo[r.count - 1] as number) & 0x60) === 0).toBe(true);
    expect(events.length).toBe(before);
  });
});

describe('CR0.WP = 0 with SMEP (the shadow MMU must not let the kernel execute a user page)', () => {
  for (const [label, mmu] of MODES) {
    it(`supervisor write then supervisor fetch of a read-only user page [${label}]`, () => {
      const { events } = run(scenario({ kind: 'script', steps: [
        { op: 'map', va: 0x400000, gpa: 0x200000, levels: { pt: ['P', 'U'] } },
        { op: 'access', va: 0x400000, access: 'write', cpl: 0 },
        { op: 'access', va: 0x400000, access: 'fetch', cpl: 0 },
        { op: 'access', va: 0x400000, access: 'read', cpl: 3 },
        { op: 'access', va: 0x400000, access: 'fetch', cpl: 0 },
      ] }, { cr0: { wp: false }, cr4: { pse: true, smep: true, smap: false } }, mmu), { audit: true });
      // SDM 4.6.1: WP=0 lets supervisor writes through; SMEP forbids supervisor fetches from user pages
      expect(ofType(events, 'guest_access').map((a) => a.errorCode ?? a.result)).toEqual(['ok', P | ID, 'ok', P | ID]);
      expect(ofType(events, 'audit_violation')).toEqual([]);
    });
  }
});
