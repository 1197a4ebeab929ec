/**
 * Each seed-000 mechanism, shown by its effect on a built-in scenario or a small script.
 */
import { describe, expect, it } from 'vitest';
import { BUILTIN_SCENARIOS, findBuiltin } from './builtins.ts';
import { eventToJson } from './events.ts';
import { createVmInternal, runScenario } from './engine.ts';
import { ofType, parse, run, scenario, shadowOf } from './test/helpers.ts';

function builtin(name: string) {
  const b = findBuiltin(name);
  if (!b) throw new Error(`no built-in ${name}`);
  return b.scenario;
}

describe('built-in scenarios', () => {
  it('all parse and run to completion with the auditor finding nothing (bug scenarios aside)', () => {
    for (const b of BUILTIN_SCENARIOS) {
      const { vm, events } = run(b.scenario, { audit: true });
      const violations = ofType(events, 'audit_violation').filter((v) => v.rule !== 'endless-fault-loop');
      // race-* built-ins switch a seed-001 race back on: the auditor must catch it (core/tdp/races.test.ts)
      if (b.name.startsWith('race-')) expect(violations.length, b.name).toBeGreaterThan(0);
      else expect(violations, b.name).toEqual([]);
      expect(vm.stopReason, b.name).toBe(b.name.includes('bug') ? 'endless-fault-loop' : 'done');
    }
  });

  it('per vCPU, event times never go backwards', () => {
    const { events } = run(builtin('multi-vcpu'));
    const last = new Map<number, number>();
    for (const e of events) {
      expect(e.t).toBeGreaterThanOrEqual(last.get(e.vcpu) ?? 0);
      last.set(e.vcpu, e.t);
    }
  });
});

describe('determinism', () => {
  it('the same scenario and seed give the same export, byte for byte', () => {
    for (const name of ['kbuild-update', 'multi-vcpu', 'script-basic']) {
      const text = () => {
        const lines: string[] = [];
        runScenario(parse(builtin(name)), (e) => lines.push(JSON.stringify(eventToJson(e))));
        return lines.join('\n');
      };
      expect(text()).toBe(text());
    }
  });

  it('a different seed changes a randomized workload', () => {
    const at = (seed: number) => {
      const lines: string[] = [];
      runScenario(parse({ ...builtin('kbuild-update'), seed }), (e) => lines.push(JSON.stringify(eventToJson(e))));
      return lines.join('\n');
    };
    expect(at(1)).not.toBe(at(2));
  });
});

describe('write-flood detection (fork)', () => {
  it('zaps the flooded page table so fork writes stop trapping', () => {
    const emulated = (floodThreshold: number) => {
      const { events } = run(scenario({ kind: 'fork-cow', pages: 64, processes: 1 }, {}, { mode: 'shadow', shadow: { floodThreshold } }));
      return { exits: ofType(events, 'vmexit').filter((e) => e.handling === 'emulate-pte-write').length, zaps: ofType(events, 'shadow_page').filter((e) => e.action === 'zap').length };
    };
    const flooded = emulated(3);
    const never = emulated(10_000);
    expect(flooded.zaps).toBeGreaterThan(0);
    // the 64 write-protecting pte writes of fork trap only until the third one
    expect(never.exits - flooded.exits).toBeGreaterThanOrEqual(64 - 3);
  });

  it('a misaligned write zaps the shadow page', () => {
    const vm = createVmInternal(parse(scenario({ kind: 'demand-paging', pages: 4 })), 0);
    while (vm.step(() => {})) { /* run */ }
    const mmu = shadowOf(vm)?.pages;
    if (!mmu) throw new Error('shadow expected');
    const pt = [...mmu.pages.values()].find((p) => p.level === 1);
    if (!pt) throw new Error('no shadow pt');
    const before = mmu.stats.misaligned;
    mmu.onGuestWrite(pt.gfn * 4096 + 4, 8, 0, 0); // straddles two 8-byte entries
    expect(mmu.stats.misaligned).toBe(before + 1);
    expect(mmu.pages.has(pt.id)).toBe(false);
  });
});

describe('shadow page cache', () => {
  it('recycles oldest pages under a small cache and never a root', () => {
    const v = createVmInternal(parse(builtin('cache-recycle')), 0, { audit: true });
    let rootRecycled = false;
    let recycles = 0;
    let violations = 0;
    while (v.step((e) => {
      if (e.type === 'audit_violation') violations++;
      if (e.type !== 'shadow_page' || e.action !== 'recycle') return;
      recycles++;
      if (v.cpus.some((c) => shadowOf(v)?.rootsOf(c).some((r) => r.id === e.table))) rootRecycled = true;
    })) { /* run */ }
    expect(v.stopReason).toBe('done');
    expect(recycles).toBeGreaterThan(0);
    expect(rootRecycled).toBe(false);
    expect(violations).toBe(0);
    expect(shadowOf(v)?.pages.used ?? 0).toBeLessThanOrEqual(16);
  });
});

describe('non-PAE guest on PAE shadow tables', () => {
  it('uses quadrants: a guest pt is two shadow pts, a guest pd four', () => {
    const { events } = run(builtin('nonpae-quadrants'), { audit: true });
    const pages = ofType(events, 'shadow_page').filter((e) => e.action === 'alloc');
    const roots = pages.filter((p) => p.level === 2);
    expect(roots.map((r) => r.quadrant).sort()).toEqual([0, 1, 2, 3]);
    // 0x400000 and 0x600000 share one guest pt (4 MiB) but lie in its two halves
    const pts = pages.filter((p) => p.level === 1);
    const byGfn = new Map<number, number[]>();
    for (const p of pts) byGfn.set(p.gfn!, [...(byGfn.get(p.gfn!) ?? []), p.quadrant ?? -1]);
    expect([...byGfn.values()].some((q) => q.includes(0) && q.includes(1))).toBe(true);
  });

  it('a guest pde write touches both shadow pdes', () => {
    const steps = [
      { op: 'map', va: 0x400000, gpa: 0x200000, levels: {} },
      { op: 'map', va: 0x600000, gpa: 0x201000, levels: {} },
      { op: 'access', va: 0x400000, access: 'read', cpl: 3 },
      { op: 'access', va: 0x600000, access: 'read', cpl: 3 },
      { op: 'map', va: 0x400000, gpa: 0x200000, levels: { pd: ['P', 'U'] } },
    ] as const;
    const { events } = run(scenario({ kind: 'script', steps: steps as never }, { paging: 'nonpae' }), { audit: true });
    const pdeWrite = events.reduce((last, e, i) => (e.type === 'gpte_write' && e.level === 2 ? i : last), -1);
    const next = events.findIndex((e, i) => i > pdeWrite && e.type === 'gpte_write');
    const cleared = events.slice(pdeWrite, next).filter((e) => e.type === 'spte_write' && e.level === 2 && e.new === 0n);
    expect(cleared.map((e) => (e as { index: number }).index).sort()).toEqual([2, 3]); // guest pde 1 → shadow pdes 2 and 3
  });
});

describe('large-page shadow pages keyed by access', () => {
  it('with the bug switched on, the endless fault loop is detected', () => {
    const { vm, events } = run(builtin('large-page-loop-bug'));
    expect(vm.stopReason).toBe('endless-fault-loop');
    expect(ofType(events, 'audit_violation').map((v) => v.rule)).toEqual(['endless-fault-loop']);
  });
  it('with the fix, the same guest runs and the write succeeds', () => {
    const { vm, events } = run(builtin('large-page-access'), { audit: true });
    expect(vm.stopReason).toBe('done');
    expect(ofType(events, 'guest_access').map((a) => a.result)).toEqual(['ok', 'ok']);
    const direct = ofType(events, 'shadow_page').filter((p) => p.action === 'alloc' && p.role?.startsWith('direct'));
    expect(new Set(direct.map((d) => d.role)).size).toBe(2); // same frames, two access keys
  });
});

describe('TLB flush on permission reduction', () => {
  it('flushes when a writable shadow pte loses W, and the write then faults', () => {
    const { events } = run(builtin('tlb-flush-on-reduce'), { audit: true });
    const reduce = events.findIndex((e) => e.type === 'gpte_write' && e.cause === 'guest' && (e.old & 2n) !== 0n && (e.new & 2n) === 0n && e.level === 1);
    expect(reduce).toBeGreaterThan(0);
    expect(events.slice(reduce).some((e) => e.type === 'tlb_flush')).toBe(true);
    expect(ofType(events, 'guest_access').map((a) => a.result)).toEqual(['ok', 'fault']);
  });
});

describe('PAE PDPTE valid bit', () => {
  it('an invalid PDPTE is never followed: no shadow page for its table, the access faults', () => {
    const { events, vm } = run(builtin('pae-invalid-pdpte'), { audit: true });
    expect(ofType(events, 'guest_access').map((a) => a.result)).toEqual(['ok', 'fault']);
    // a not-present PDPTE: #PF with P = 0, a user read (SDM 4.7): error code U = 4
    expect(ofType(events, 'guest_access')[1]?.errorCode).toBe(4);
    // the OS preallocates four page directories (as Linux PAE does); after PDPTE 1 is made
    // invalid and CR3 reloaded, only the three valid PDPTEs have shadow roots
    const cpu = vm.cpus[0];
    if (!cpu) throw new Error('no vCPU');
    expect(shadowOf(vm)?.rootsOf(cpu).length).toBe(3);
    expect(ofType(events, 'audit_violation')).toEqual([]);
  });
});

describe('invlpg and CR3 under shadow paging', () => {
  it('invlpg is not trapped; CR3 loads are', () => {
    const { events } = run(scenario({ kind: 'script', steps: [{ op: 'invlpg', va: 0x400000 }, { op: 'cr3', process: 1 }] }));
    const exits = ofType(events, 'vmexit');
    expect(exits.some((e) => e.reason === 'INVLPG')).toBe(false);
    expect(exits.filter((e) => e.reason === 'CR_ACCESS')).toHaveLength(2);
  });
});

describe('multi-vCPU', () => {
  it('faults on several vCPUs contend on the mmu_lock', () => {
    const { events } = run(builtin('multi-vcpu'));
    const waits = ofType(events, 'lock_wait');
    expect(waits.length).toBeGreaterThan(0);
    expect(new Set(ofType(events, 'vmexit').map((e) => e.vcpu)).size).toBe(4);
  });
});

describe('counters', () => {
  it('count TLB hits and misses, guest walks and shadow pages', () => {
    const { vm } = run(builtin('demand-update'));
    const c = vm.counters();
    // every demand-paging page is touched 9 times; the first touch misses and faults
    expect(c.vm.tlbHit).toBeGreaterThan(c.vm.tlbMiss ?? 0);
    expect(c.vm.guestWalk).toBeGreaterThanOrEqual(64);
    expect(c.vm.allocated).toBe(c.vm.shadowPagesInUse);
    expect(c.exitsPerVcpu).toHaveLength(1);
  });
});
