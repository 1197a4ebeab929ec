/**
 * Shadow-on-shadow (mmu.rst, seed 004: nested "non-tdp: ngva->gpa->hpa (*) the guest
 * hypervisor will encode the ngva->gpa translation into its page tables if npt is not
 * present"): L0 has no EPT (`mmu.mode: shadow`), so it cannot hand the CPU SPT12 and a second
 * dimension. L2's CR3, to L0, is SPT12's root: L0 shadows SPT12 as it shadows any guest page
 * table, into SPT02 (L2 virtual → host frame: SPT12 ∘ L0's map of L1's memory), and the CPU
 * walks SPT02. The rules, from which every exit count follows:
 * - An L2 access SPT02 does not allow is a #PF exit to L0. L0 walks SPT12: if SPT12 allows it,
 *   L0 fills SPT02 itself (`EXCEPTION_NMI` `fill-spte`: every SPT12 entry on the way copied,
 *   each SPT12 page it reads shadowed); if not, it is L2's #PF as far as L0 can tell, and L1
 *   intercepts #PF: L0 reflects it (core/nestedshadow/nestedShadow.ts).
 * - L0 write-protects every SPT12 page it shadows, so L1's stores into them trap
 *   (`EXCEPTION_NMI` `emulate-pte-write`): L0 emulates the store and zaps the SPT02 entry
 *   derived from the entry written. Stores into SPT12 pages L0 has not shadowed (a page L1
 *   just made) run natively.
 * - L1's VMRESUME loads L2's CR3, an SPT12 root: the nested VM entry shadows it (the SPT02 root).
 * L1's own address space (L0's shadow of L1's page tables) is not modelled: L1's accesses to
 * its memory are taken as mapped.
 */
import { pte64 } from '../emitter.ts';
import type { Machine, Vcpu } from '../machine.ts';
import type { MmuTable, Report } from '../mmu.ts';
import { PTE_P } from '../paging.ts';
import { HOST_GUEST_BASE_FRAME, HOST_SHADOW_BASE_FRAME, ShadowPageCache, frameOf, type ShadowPage } from '../shadow/pages.ts';

/** Where L1's shadow MMU puts L2 frame n in L1 memory (its leaf sptes' base), and where L0 puts L1 frame f in host memory. */
const L2_IN_L1_FRAME = HOST_GUEST_BASE_FRAME;
const L1_IN_HOST_FRAME = HOST_GUEST_BASE_FRAME;
import type { ShadowMmu } from '../shadow/mmu.ts';
import type { L0ForShadowL1 } from './l0.ts';

/** One SPT02 page: L0's shadow of the SPT12 page held in L1 frame `spt12`. */
class Spt02Page {
  readonly sptes = new Uint32Array(1024);
  constructor(
    readonly id: number,
    readonly level: number,
    readonly spt12: number,
  ) {}
  get hostFrame(): number {
    return HOST_SHADOW_BASE_FRAME + this.id;
  }
}

/** An entry pointing at `frame` instead, its flags (and NX) kept. */
function retarget(lo: number, hi: number, frame: number): [number, number] {
  return [((lo & 0xfff) | ((frame * 4096) % 4294967296)) >>> 0, ((hi & ~0xfffff) | Math.floor(frame / 1048576)) >>> 0];
}

export class ShadowOnShadow implements L0ForShadowL1 {
  readonly kind = 'shadow-on-shadow';
  /** SPT02, by the L1 frame of the SPT12 page each page shadows (so: the SPT12 pages L0 write-protects). */
  readonly spt02 = new Map<number, Spt02Page>();
  private nextId = 1;
  readonly stats = { spt02Fills: 0, spt12TrappedWrites: 0, spt02Zapped: 0, spt02Pages: 0 };

  constructor(
    private readonly vm: Machine,
    private readonly l1: () => ShadowMmu,
  ) {}

  /** The SPT12 page held in L1 frame `frame`. */
  private spt12(frame: number): ShadowPage | undefined {
    return this.l1().pages.pages.get(frame - HOST_SHADOW_BASE_FRAME);
  }

  /** L0's SPT02 page for the SPT12 page at `frame`, made (and that page write-protected) if new. */
  private shadow(frame: number): Spt02Page {
    const found = this.spt02.get(frame);
    if (found) return found;
    const sp = this.spt12(frame);
    const page = new Spt02Page(this.nextId++, sp?.level ?? 1, frame);
    this.spt02.set(frame, page);
    this.stats.spt02Pages++;
    this.vm.tick(this.vm.cost.shadowAllocNs);
    this.vm.emitter.emit({ type: 'shadow_page', action: 'alloc', table: page.id, level: page.level, gfn: frame, role: 'spt02' });
    return page;
  }

  private write(page: Spt02Page, i: number, lo: number, hi: number): void {
    const oldLo = page.sptes[2 * i] as number;
    const oldHi = page.sptes[2 * i + 1] as number;
    if (oldLo === lo && oldHi === hi) return;
    page.sptes[2 * i] = lo;
    page.sptes[2 * i + 1] = hi;
    this.vm.emitter.emit({ type: 'spte_write', level: page.level, table: page.id, index: i, old: pte64(oldLo, oldHi), new: pte64(lo, hi), role: 'spt02' });
  }

  /** What SPT02's entry `i` of `page` must be, from SPT12's (0 if SPT12's is not present or its child is not shadowed). */
  private derived(page: Spt02Page, i: number): [number, number] {
    const sp = this.spt12(page.spt12);
    const lo = (sp?.sptes[2 * i] as number | undefined) ?? 0;
    const hi = (sp?.sptes[2 * i + 1] as number | undefined) ?? 0;
    if (!(lo & PTE_P)) return [0, 0];
    const target = frameOf(lo, hi);
    if (page.level === 1) return retarget(lo, hi, L1_IN_HOST_FRAME + target); // L1 frame → host frame (L0's memslot)
    const child = this.spt02.get(target);
    return child ? retarget(lo, hi, child.hostFrame) : [0, 0];
  }

  vmentry(cpu: Vcpu): void {
    for (const root of this.l1().rootsOf(cpu)) this.shadow(root.hostFrame);
  }

  /**
   * The CPU walks SPT02 (one dimension). Where SPT12 allows the access but SPT02 lacks an
   * entry on the way, the #PF exits to L0, which fills SPT02 from SPT12 (retry). Where SPT12
   * does not allow it, neither does SPT02 (it only copies SPT12): the caller's #PF path has L0
   * reflect it to L1.
   */
  hardwareWalk(_cpu: Vcpu, va: number, frames: readonly number[], refs: number, leaf: number): boolean {
    const vm = this.vm;
    vm.emitter.emit({ type: 'page_walk', refs, guestRefs: 0, duration: refs * vm.cost.walkRefNs, va });
    vm.tick(refs * vm.cost.walkRefNs);
    if (leaf < 0) return true;
    const missing = frames.some((f) => {
      const page = this.spt02.get(f);
      return !page || !((page.sptes[2 * ShadowPageCache.index(va, page.level)] as number) & PTE_P);
    });
    if (!missing) return true;
    const start = vm.beginExit();
    vm.lock(vm.cost.shadowFaultNs);
    vm.tick(frames.length * vm.cost.walkRefNs + vm.cost.shadowFaultNs); // L0 walks SPT12 in L1 memory
    // bottom-up, so each link points at a page that exists
    for (let k = frames.length - 1; k >= 0; k--) {
      const page = this.shadow(frames[k] as number);
      const i = ShadowPageCache.index(va, page.level);
      const [lo, hi] = this.derived(page, i);
      this.write(page, i, lo, hi);
    }
    this.stats.spt02Fills++;
    vm.endExit(start, 'EXCEPTION_NMI', 'fill-spte', va);
    return false;
  }

  /** L1 stores into an SPT12 page: trapped and emulated if L0 shadows it, the derived SPT02 entry zapped. */
  storeTable(frame: number, index?: number): void {
    const page = index === undefined ? undefined : this.spt02.get(frame);
    if (!page || index === undefined) return;
    const vm = this.vm;
    const start = vm.beginExit();
    vm.lock(vm.cost.emulateNs);
    vm.tick(vm.cost.emulateNs);
    this.stats.spt12TrappedWrites++;
    if (page.sptes[2 * index] || page.sptes[2 * index + 1]) {
      this.write(page, index, 0, 0);
      this.stats.spt02Zapped++;
      vm.flushAllTlbs('pte-write');
    }
    vm.endExit(start, 'EXCEPTION_NMI', 'emulate-pte-write', undefined, frame * 4096 + index * 8);
  }

  readGuestTables(): void {
    /* L1 reads its own memory: L0's shadow of L1's address space is not modelled */
  }
  l2Store(): void {
    /* L2's stores reach L1 memory through SPT02 like its other accesses */
  }

  /** The host reclaims the page behind L2 frame `gfn`: every SPT02 leaf mapping its host frame goes. */
  hostInvalidate(gfn: number): void {
    const host = L1_IN_HOST_FRAME + L2_IN_L1_FRAME + gfn;
    let cleared = false;
    for (const page of this.spt02.values()) {
      if (page.level !== 1) continue;
      for (let i = 0; i < 512; i++) {
        const lo = page.sptes[2 * i] as number;
        if (lo & PTE_P && frameOf(lo, page.sptes[2 * i + 1] as number) === host) {
          this.write(page, i, 0, 0);
          cleared = true;
        }
      }
    }
    if (cleared) this.vm.flushAllTlbs('mmu-notifier');
  }

  /** SPT02, by L0's shadow page ids; pages whose SPT12 page L1 has freed are left out (unreachable). */
  tables(): MmuTable[] {
    const out: MmuTable[] = [];
    for (const page of this.spt02.values()) {
      if (!this.spt12(page.spt12)) continue;
      const entries: Array<[number, bigint]> = [];
      for (let i = 0; i < 512; i++) if (page.sptes[2 * i] || page.sptes[2 * i + 1]) entries.push([i, pte64(page.sptes[2 * i] as number, page.sptes[2 * i + 1] as number)]);
      out.push({ id: page.id, level: page.level, role: 'spt02', gfn: page.spt12, entries });
    }
    return out;
  }

  /** Every present SPT02 entry is SPT12's entry, pointed where L0 maps its target (`nested-spt02`). */
  audit(report: Report): void {
    for (const page of this.spt02.values()) {
      if (!this.spt12(page.spt12)) continue;
      for (let i = 0; i < 512; i++) {
        const lo = page.sptes[2 * i] as number;
        const hi = page.sptes[2 * i + 1] as number;
        if (!lo && !hi) continue;
        const [wlo, whi] = this.derived(page, i);
        if (lo !== wlo || hi !== whi) report('nested-spt02', `SPT02 page ${page.id}[${i}] is 0x${pte64(lo, hi).toString(16)}, but SPT12 at L1 frame 0x${page.spt12.toString(16)} gives 0x${pte64(wlo, whi).toString(16)}`);
      }
    }
  }

  counters(): Record<string, number> {
    return { ...this.stats };
  }
}
