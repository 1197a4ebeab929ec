/**
 * kvm_mmu_zap_all_fast on the MMIO generation's wrap (mmu.rst, "Fast invalidation of MMIO
 * sptes": an MMIO spte holds only the generation's low bits, here 9 as KVM's
 * MMIO_SPTE_GEN_LOW, so after 512 memslot changes an old MMIO spte could look current; all
 * pages are zapped then), and the exclusive mmu_lock hold it takes.
 *
 * Hand count: the `mmio` workload's guest maps its device page with one 4-level walk
 * (PML4 → PDPT → PD → PT, four guest table frames). With 4 KiB host pages each frame the 2D
 * walk reads needs its own EPT entry, so once everything is zapped the next device access
 * takes 4 EPT violations (`map-gfn`) before its MMIO exit; before the wrap none.
 */
import { describe, expect, it } from 'vitest';
import { ofType, run, scenario } from '../test/helpers.ts';
import { HARDWARE } from '../costs.ts';
import { tdpOf } from './mmu.ts';

const input = (iterations: number, memslotEvery: number) => ({
  ...scenario({ kind: 'mmio', iterations, memslotEvery }, {}, { mode: 'tdp', tdp: { largePages: false } }),
  hardware: { profile: 'ept-2012' as const },
});

describe('kvm_mmu_zap_all_fast on the MMIO generation wrap', () => {
  it('511 memslot changes zap nothing; the 512th zaps every spte and the guest tables fault back in (4 map-gfn)', () => {
    // memslot changes happen before accesses 1, 2, …: 511 changes with 512 accesses, 512 with 513
    const before = run(input(512, 1), { audit: true });
    expect(tdpOf(before.vm)?.stats.zapAllFast).toBe(0);
    const after = run(input(514, 1), { audit: true });
    expect(tdpOf(after.vm)?.stats.zapAllFast).toBe(1);
    const flush = after.events.findIndex((e) => e.type === 'tlb_flush' && e.reason === 'zap-all-fast');
    expect(flush).toBeGreaterThan(0);
    const afterZap = ofType(after.events.slice(flush), 'vmexit');
    const maps = (list: typeof afterZap) => list.filter((e) => e.handling === 'map-gfn').length;
    expect(maps(afterZap)).toBe(4);
    // the root was thrown away: a new one is allocated
    expect(after.events.slice(flush).some((e) => e.type === 'shadow_page' && e.action === 'alloc' && e.level === 4)).toBe(true);
    expect(ofType(after.events, 'audit_violation')).toEqual([]);
  });

  /*
   * The lock wait, worked out from the model's rules (core/tdp/mmuLock.ts `exclusively`, `acquire`):
   * - Two vCPUs, each with its own process: PML4, PDPT, PD and PT each, guest frames 0x100-0x107,
   *   each mapped in EPT at the 2D walk's first touch; the device page is gfn 0x4000 (64 MiB of
   *   RAM), an MMIO spte in a PT of its own under PD[0x4000 >> 9 = 32]. The EPT then holds
   *   root[0], PDPT[0], PD[0], PD[32], PT[0x100..0x107] and the MMIO spte: W = 13 sptes, and the
   *   zap writes every one (the root entry cleared, the tree below it disconnected).
   * - The zap holds mmu_lock exclusively from its TLB flush for lockNs + W·(walkRefNs + lockNs).
   * - vCPU 0 made the memslot change, so it is vCPU 0's next device access that meets the empty
   *   EPT: its walk's first reference is an EPT violation starting at the flush, which asks for
   *   the lock exitEntryNs later and waits for the rest of the hold.
   * - vCPU 1 only ever takes the cached MMIO path (its spte kept current by vCPU 0's refills),
   *   so it finishes its accesses long before vCPU 0, whose every access pays the slow path,
   *   reaches the 512th change: it is never there to wait.
   */
  it('2 vCPUs: the one wait is the faulting vCPU\'s, for the rest of the hold (lockNs + 13·(walkRefNs + lockNs) − exitEntryNs)', () => {
    const two = { ...input(514, 1), vms: [{ ...input(514, 1).vms[0]!, vcpus: 2 }] };
    const { events } = run(two);
    const c = HARDWARE['ept-2012'];
    const W = 13;
    const hold = c.lockNs + W * (c.walkRefNs + c.lockNs);
    const flush = events.find((e) => e.type === 'tlb_flush' && e.reason === 'zap-all-fast')!;
    expect(flush.vcpu).toBe(0);
    // the zap wrote the W sptes hand-counted above, all on vCPU 0 between its memslot change and the flush
    const at = events.indexOf(flush);
    let change = at;
    while (change > 0 && !(events[change]!.type === 'guest_os' && (events[change] as { action?: string }).action === 'memslot-change')) change--;
    expect(events.slice(change, at).filter((e) => e.type === 'spte_write')).toHaveLength(W);
    // vCPU 1 was done before the zap began
    expect(events.filter((e) => e.vcpu === 1).every((e) => e.t < flush.t)).toBe(true);
    expect(ofType(events, 'lock_wait').map((e) => [e.vcpu, e.t, e.duration])).toEqual([[0, flush.t + c.exitEntryNs, hold - c.exitEntryNs]]);
    // on ept-2012: 18 + 13 · (4 + 18) = 304 ns of hold, 157 ns of it waited
    expect([hold, hold - c.exitEntryNs]).toEqual([304, 157]);
  });
});

describe('kvm_mmu_zap_all_fast under shadow paging', () => {
  const shadow = (iterations: number) => ({ ...scenario({ kind: 'mmio' as const, iterations, memslotEvery: 1 }, {}, { mode: 'shadow' as const }), hardware: { profile: 'ept-2012' as const } });
  it('the 512th memslot change (the MMIO spte generation bits wrap) zaps every shadow page once; 511 zap none', () => {
    const before = run(shadow(512), { audit: true });
    expect(before.vm.counters().vm.zapAllFast).toBe(0);
    const after = run(shadow(514), { audit: true });
    expect(after.vm.counters().vm.zapAllFast).toBe(1);
    const flush = after.events.findIndex((e) => e.type === 'tlb_flush' && e.reason === 'zap-all-fast');
    expect(flush).toBeGreaterThan(0);
    // The only shadow page is the root CR3 loaded: an MMIO access builds no shadow path (the
    // handler emulates from the guest walk and keeps its MMIO spte beside the tables). The
    // zap empties the root (kept: it is in use) and drops the MMIO sptes, so the next device
    // access takes the slow path (a guest walk and the emulator) again.
    const zaps = after.events.slice(0, flush).filter((e) => e.type === 'shadow_page' && e.action === 'zap');
    expect(zaps).toHaveLength(1);
    const next = after.events.slice(flush).find((e) => e.type === 'vmexit');
    expect(next?.type === 'vmexit' && next.handling).toBe('mmio-emulate');
    expect(ofType(after.events, 'audit_violation')).toEqual([]);
  });
});
