/**
 * Three ways to log dirty pages (seed 001 and Intel's PML, SDM Vol. 3C §28.3.5-6), side by
 * side in one scenario (three VMs, the same guest), and huge-page splitting when logging
 * starts (eager vs lazy). Hand counts for the dirty-log benchmark: each vCPU writes P pages
 * per pass for I passes after logging starts; the host fetches the log between passes.
 * - write protection: every page's first write in every pass faults: P·I EPT violations, the
 *   locked path (`fill-spte`);
 * - fast page fault: the same P·I faults, fixed locklessly (`fast-pf`);
 * - PML: sptes keep W; a write sets D and appends the page to the vCPU's 512-entry log, an
 *   exit only when the log is full: ⌊(P·I + leftovers) / 512⌋ `PML_FULL` exits at most, and
 *   no write faults. With P = 128 and I = 4: 512 logged writes, but each fetch drains the log
 *   first, so a log never holds more than 128 entries: no PML_FULL exit at all; with P = 1024,
 *   I = 2: 2 per pass (1024 / 512), 4 in all.
 * - PML's fetch kicks every vCPU (an IPI, kvm_flush_pml_buffers): one `EXTERNAL_INTERRUPT`
 *   `pml-kick` exit per vCPU per fetch, I per vCPU in all, each draining what its log holds:
 *   P pages (P = 128: exitEntryNs + 128 · lockNs), or none when the log just emptied itself
 *   through PML_FULL exits (P = 1024 = 2 · 512: exitEntryNs alone).
 */
import { describe, expect, it } from 'vitest';
import type { MmuEvent } from '../events.ts';
import type { ScenarioInput } from '../scenario.ts';
import { HARDWARE } from '../costs.ts';
import { ofType, run } from '../test/helpers.ts';
import { tdpOf } from './mmu.ts';

const bench = (pages: number, iterations: number, tdp: Record<string, boolean>, vcpus = 1): ScenarioInput => ({
  name: 'three-ways', seed: 1, hardware: { profile: 'ept-2012' },
  vms: [{ vcpus, memoryMiB: 64, guest: { paging: 'long4', workload: { kind: 'dirty-log', pages, iterations } }, mmu: { mode: 'tdp', tdp: { largePages: false, ...tdp } } }],
});

/** Exits of the logged passes (logging on → off), by handling. */
function loggedExits(events: MmuEvent[]): Record<string, number> {
  const on = events.findIndex((e) => e.type === 'dirty_log' && e.action === 'enable');
  const off = events.findIndex((e) => e.type === 'dirty_log' && e.action === 'disable');
  const out: Record<string, number> = {};
  for (const e of events.slice(on, off)) if (e.type === 'vmexit') out[e.handling] = (out[e.handling] ?? 0) + 1;
  return out;
}

/** Pages named by each fetch of the log. */
const fetched = (events: MmuEvent[]) => ofType(events, 'dirty_log').filter((e) => e.action === 'fetch').map((e) => e.pages);

describe('write protection vs fast page fault vs PML', () => {
  const P = 128;
  const I = 4;
  it(`P = ${P}, I = ${I}: ${P * I} write faults (locked), ${P * I} (fast), none with PML (${I} kicks); every fetch names the same pages`, () => {
    const wp = run(bench(P, I, {}), { audit: true });
    const fast = run(bench(P, I, { fastPageFault: true }), { audit: true });
    const pml = run(bench(P, I, { pml: true }), { audit: true });
    expect(loggedExits(wp.events)).toEqual({ 'fill-spte': P * I });
    expect(loggedExits(fast.events)).toEqual({ 'fast-pf': P * I });
    expect(loggedExits(pml.events)).toEqual({ 'pml-kick': I });
    const c = HARDWARE['ept-2012'];
    const kicks = ofType(pml.events, 'vmexit').filter((e) => e.handling === 'pml-kick');
    expect(kicks.map((e) => [e.reason, e.duration])).toEqual(Array(I).fill(['EXTERNAL_INTERRUPT', c.exitEntryNs + P * c.lockNs]));
    // each fetch: the P pages written plus the steal-time page the host writes
    for (const r of [wp, fast, pml]) {
      expect(fetched(r.events)).toEqual(Array(I).fill(P + 1));
      expect(ofType(r.events, 'audit_violation')).toEqual([]);
    }
    expect(tdpOf(pml.vm)?.stats.pmlEntries).toBe(P * I);
    // the time: PML takes no exits, so it is the fastest of the three
    const logged = (ev: MmuEvent[]) => {
      const l = ofType(ev, 'dirty_log');
      return (l.find((e) => e.action === 'disable')?.t ?? 0) - (l.find((e) => e.action === 'enable')?.t ?? 0);
    };
    expect(logged(pml.events)).toBeLessThan(logged(fast.events));
    expect(logged(fast.events)).toBeLessThan(logged(wp.events));
  });

  it('PML with 1024 pages per pass: the 512-entry log fills twice per pass (4 PML_FULL exits in 2 passes)', () => {
    const { events } = run(bench(1024, 2, { pml: true }), { audit: true });
    expect(loggedExits(events)).toEqual({ 'pml-flush': 4, 'pml-kick': 2 });
    // the logs emptied themselves through PML_FULL: each kick drains nothing
    expect(ofType(events, 'vmexit').filter((e) => e.handling === 'pml-kick').map((e) => e.duration)).toEqual([HARDWARE['ept-2012'].exitEntryNs, HARDWARE['ept-2012'].exitEntryNs]);
    expect(ofType(events, 'vmexit').filter((e) => e.reason === 'PML_FULL')).toHaveLength(4);
    expect(fetched(events)).toEqual([1025, 1025]);
    expect(ofType(events, 'audit_violation')).toEqual([]);
  });

  it('2 vCPUs: each fetch kicks both, each kick on its own vCPU draining the P pages that vCPU wrote', () => {
    const { events, vm } = run(bench(P, I, { pml: true }, 2), { audit: true });
    const c = HARDWARE['ept-2012'];
    const kicks = ofType(events, 'vmexit').filter((e) => e.handling === 'pml-kick');
    expect([0, 1].map((v) => kicks.filter((e) => e.vcpu === v).length)).toEqual([I, I]);
    expect(kicks.every((e) => e.duration === c.exitEntryNs + P * c.lockNs)).toBe(true);
    expect(tdpOf(vm)?.stats.pmlKicks).toBe(2 * I);
    // the kicks come one IPI apart, vCPU 0's first; and every lane stays in time order (a kick is an exit on the kicked vCPU's own timeline)
    const fetches = ofType(events, 'dirty_log').filter((e) => e.action === 'fetch');
    fetches.forEach((f, k) => {
      const mine = kicks.slice(2 * k, 2 * k + 2);
      expect(mine.map((e) => e.vcpu)).toEqual([0, 1]);
      expect(mine.every((e, v) => e.t >= f.t + (v + 1) * c.ipiSendNs)).toBe(true);
    });
    for (const v of [0, 1]) {
      const ts = events.filter((e) => e.vcpu === v).map((e) => e.t);
      expect(ts.every((t, i) => i === 0 || t >= ts[i - 1]!)).toBe(true);
    }
    // each fetch names both vCPUs' pages and the steal-time page
    expect(fetched(events)).toEqual(Array(I).fill(2 * P + 1));
    expect(ofType(events, 'audit_violation')).toEqual([]);
  });
});

describe('huge pages when dirty logging starts: lazy (drop) vs eager (split)', () => {
  // The guest's 512 data pages sit at frames 0x104… (after its own tables), so they span two
  // 2 MiB regions (frames 0-511 and 512-1023): with large pages two 2 MiB leaves map them.
  const big = (eagerSplit: boolean): ScenarioInput => ({
    name: 'split', seed: 1, hardware: { profile: 'ept-2012' },
    vms: [{ vcpus: 1, memoryMiB: 64, guest: { paging: 'long4', workload: { kind: 'dirty-log', pages: 512, iterations: 2 } }, mmu: { mode: 'tdp', tdp: { largePages: true, fastPageFault: true, eagerSplit } } }],
  });
  it('lazy: the 2 MiB leaves go; the first logged pass refaults each page as 4 KiB (map-gfn), later passes take fast-pf', () => {
    const { events, vm } = run(big(false), { audit: true });
    const exits = loggedExits(events);
    // every data page and each guest table frame the walks read is refaulted in pass 0
    expect(exits['map-gfn']).toBeGreaterThanOrEqual(512);
    expect(exits['fast-pf']).toBe(512); // pass 1: each page's write fault, fixed locklessly
    expect(tdpOf(vm)?.stats.hugePagesSplit).toBe(0);
    expect(ofType(events, 'audit_violation')).toEqual([]);
  });
  it('eager: the 2 MiB leaves are split when logging starts (512 sptes each, inside the enable); no map-gfn, 512 fast-pf per pass', () => {
    const { events, vm } = run(big(true), { audit: true });
    const exits = loggedExits(events);
    expect(exits['map-gfn']).toBeUndefined();
    expect(exits['fast-pf']).toBe(2 * 512);
    const split = tdpOf(vm)?.stats.hugePagesSplit ?? 0;
    expect(split).toBeGreaterThanOrEqual(2);
    expect(ofType(events, 'audit_violation')).toEqual([]);
  });
});
