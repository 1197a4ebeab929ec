/**
 * The TDP MMU (seed 002): faults under mmu_lock held shared with atomic spte changes, so
 * vCPUs faulting at the same time never wait for each other, while the legacy MMU
 * (mmu.tdp.tdpMmu: false) serializes them on mmu_lock; and disconnected page tables,
 * whose every entry is marked before the table is freed, recursively.
 */
import { describe, expect, it } from 'vitest';
import { findBuiltin } from '../builtins.ts';
import type { MmuEvent } from '../events.ts';
import type { ScenarioInput } from '../scenario.ts';
import { auditTdp } from './auditor.ts';
import { ofType, run, tdpOf } from '../test/helpers.ts';

const DISCONNECTED = 1n << 59n;

function faulting(vcpus: number, tdpMmu: boolean): ScenarioInput {
  return { name: 't', seed: 1, hardware: { profile: 'ept-2012' }, vms: [{ vcpus, memoryMiB: 256, guest: { paging: 'long4', workload: { kind: 'demand-paging', pages: 64 } }, mmu: { mode: 'tdp', tdp: { tdpMmu, largePages: false } } }] };
}
const lockWait = (events: MmuEvent[]) => ofType(events, 'lock_wait').reduce((sum, e) => sum + e.duration, 0);

describe('N vCPUs faulting at once', () => {
  it('TDP MMU: no lock wait for N = 1, 2, 4, 8; legacy: none alone, then growing with N', () => {
    const tdp = [1, 2, 4, 8].map((n) => lockWait(run(faulting(n, true)).events));
    const legacy = [1, 2, 4, 8].map((n) => lockWait(run(faulting(n, false)).events));
    expect(tdp).toEqual([0, 0, 0, 0]);
    expect(legacy[0]).toBe(0);
    for (let i = 1; i < 4; i++) expect(legacy[i] as number).toBeGreaterThan(legacy[i - 1] as number);
  });

  it('under the TDP MMU eight vCPUs finish about when one does; the legacy MMU makes them queue', () => {
    const end = (n: number, tdpMmu: boolean) => run(faulting(n, tdpMmu)).vm.now();
    expect(end(8, true) / end(1, true)).toBeLessThan(1.05);
    expect(end(8, false) / end(1, false)).toBeGreaterThan(1.5);
  });

  it('the legacy MMU\'s waits are on the vCPU timelines, inside EPT violation exits', () => {
    const { events } = run(findBuiltin('tdp-legacy-mmu-lock')?.scenario as ScenarioInput);
    const waits = ofType(events, 'lock_wait');
    expect(new Set(waits.map((w) => w.vcpu)).size).toBeGreaterThan(4);
    expect(waits.every((w) => w.lock === 'mmu_lock')).toBe(true);
  });
});

describe('atomic spte changes under the shared lock', () => {
  it('vCPUs racing to link the same table: the loser frees its own, unused; the legacy MMU never races', () => {
    const tdp = run(faulting(8, true), { audit: true });
    const legacy = run(faulting(8, false), { audit: true });
    const lost = tdpOf(tdp.vm)?.stats.cmpxchgLost ?? 0;
    expect(lost).toBeGreaterThan(0);
    expect(tdpOf(legacy.vm)?.stats.cmpxchgLost).toBe(0);
    // each lost race: a table allocated and freed at once, no entry ever written in it
    const pages = ofType(tdp.events, 'shadow_page');
    const written = new Set(ofType(tdp.events, 'spte_write').map((e) => e.table));
    const wasted = pages.filter((p, i) => p.action === 'alloc' && pages[i + 1]?.action === 'free' && pages[i + 1]?.table === p.table);
    expect(wasted).toHaveLength(lost);
    expect(wasted.every((p) => !written.has(p.table))).toBe(true);
    expect(ofType(tdp.events, 'audit_violation')).toEqual([]);
  });
});

describe('disconnected page tables', () => {
  /** Check that each freed table had all its live entries marked disconnected before being freed. */
  function checkTeardown(events: MmuEvent[]): number {
    const live = new Map<number, Set<number>>();
    let freed = 0;
    for (const e of events) {
      if (e.type === 'shadow_page' && e.role === 'tdp' && e.action === 'alloc') live.set(e.table, new Set());
      if (e.type === 'spte_write' && live.has(e.table)) {
        const set = live.get(e.table) as Set<number>;
        if (e.new === DISCONNECTED) set.delete(e.index);
        else if (e.new !== 0n) set.add(e.index);
        else set.delete(e.index);
      }
      if (e.type === 'shadow_page' && e.role === 'tdp' && e.action === 'free') {
        expect(live.get(e.table)?.size, `table ${e.table} freed with live entries`).toBe(0);
        live.delete(e.table);
        freed++;
      }
    }
    return freed;
  }

  it('zapping the root frees every table below it, recursively, each entry marked first', () => {
    const { events, vm } = run(faulting(1, true));
    const tdp = tdpOf(vm);
    if (!tdp) throw new Error('no TDP MMU');
    const allocated = ofType(events, 'shadow_page').filter((e) => e.action === 'alloc').length;
    tdp.zapAll();
    const freed = checkTeardown(events);
    expect(freed).toBe(allocated - 1); // all but the root
    expect(tdp.tables.size).toBe(1);
    const before = events.length;
    auditTdp(vm, tdp);
    expect(ofType(events.slice(before), 'audit_violation')).toEqual([]);
  });

  it('ending dirty logging swaps 4 KiB tables for 2 MiB pages: the tables are disconnected and freed', () => {
    const { events, vm } = run(findBuiltin('dirty-log-fast')?.scenario as ScenarioInput, { audit: true });
    expect(checkTeardown(events)).toBeGreaterThan(0);
    expect(tdpOf(vm)?.stats.tablesFreed).toBe(checkTeardown(events));
    expect(ofType(events, 'audit_violation')).toEqual([]);
  });
});
