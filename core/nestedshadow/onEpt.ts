/**
 * Shadow-on-EPT (Ben-Yehuda et al., "The Turtles Project", OSDI 2010, §3.3): L0 maps L1's
 * memory with EPT01 (L1 physical → host) and enters L2 with CR3 = SPT12's root and EPT01 as
 * its EPT, because VMCS12 names no EPT. The CPU walks SPT12 and translates every table it
 * reads, and the final address, through EPT01 (a 2D walk, charged as TDP's with the same
 * paging-structure caches). L0 keeps no table for L2 and does not shadow SPT12: L1's stores
 * into it run natively. An L1 frame EPT01 does not map yet is an EPT violation L0 handles
 * alone (`EPT_VIOLATION` `map-gfn`): L1 clearing a new SPT12 page or reading L2's tables, L2
 * storing into its page tables, the CPU reaching an L2 data frame.
 */
import type { Machine, Vcpu } from '../machine.ts';
import type { MmuTable, Report } from '../mmu.ts';
import type { WalkResult } from '../paging.ts';
import { EPT_LEVELS, EptTree } from '../nested/eptTree.ts';
import { BootEvents, addTreeTables, hostTableId, mapL1Frame, treeRecorder } from '../nested/l0Trees.ts';
import { HOST_GUEST_BASE_FRAME as L2_IN_L1_FRAME } from '../shadow/pages.ts';
import type { ShadowMmu } from '../shadow/mmu.ts';
import { HOST_EPT_BASE_FRAME } from '../tdp/spte.ts';
import type { L0ForShadowL1 } from './l0.ts';

export class ShadowOnEpt implements L0ForShadowL1 {
  readonly kind = 'shadow-on-ept';
  /** L0's EPT for L1's memory (L1 physical → host frame). */
  readonly ept01: EptTree;
  private nextHostTable = HOST_EPT_BASE_FRAME;
  readonly stats = { l1Ept01Faults: 0, walkRefs: 0 };
  /** Events of L0's setup (EPT01's root), emitted at the first step when a sink listens. */
  private readonly boot: BootEvents;

  constructor(
    private readonly vm: Machine,
    private readonly l1: () => ShadowMmu,
    /** `mmu.tdp.walkCaches`: the paging-structure caches of the 2D walk. */
    private readonly walkCaches: boolean,
  ) {
    this.boot = new BootEvents(vm);
    this.ept01 = new EptTree(this.nextHostTable++, treeRecorder(this.boot, 'ept01', hostTableId));
  }

  runDue(): void {
    this.boot.release();
  }

  /** L1 (or L2, in L1's memory) touches L1 frame `frame`: an EPT violation handled by L0 if EPT01 lacks it. */
  private touch(frame: number, va?: number): void {
    if (this.maps(frame)) return;
    mapL1Frame(this.vm, this.ept01, frame, va, () => this.allocHost(), this.stats);
  }

  maps(frame: number): boolean {
    return this.ept01.walk(frame).frame >= 0;
  }

  private allocHost(): number {
    this.vm.tick(this.vm.cost.shadowAllocNs);
    return this.nextHostTable++;
  }

  storeTable(frame: number): void {
    this.touch(frame);
  }

  readGuestTables(r: WalkResult): void {
    for (let i = 0; i < r.count; i++) this.touch(L2_IN_L1_FRAME + Math.floor((r.entryGpa[i] as number) / 4096));
  }

  l2Store(gfn: number, va?: number): void {
    this.touch(L2_IN_L1_FRAME + gfn, va);
  }

  vmentry(): void {
    /* the CPU takes SPT12's root from VMCS12 as L2's CR3: nothing for L0 to build */
  }

  /**
   * The CPU's walk of SPT12 through EPT01: each SPT12 table read is an L1 frame, and so is the
   * frame the access reaches. A frame EPT01 lacks is an EPT violation (retry). Charged as TDP
   * charges its 2D walk: one reference per SPT12 entry read plus the EPT01 references the
   * paging-structure caches do not save.
   */
  hardwareWalk(cpu: Vcpu, va: number, frames: readonly number[], refs: number, leaf: number): boolean {
    for (const f of frames) {
      if (!this.maps(f)) {
        this.touch(f, va);
        return false;
      }
    }
    if (leaf >= 0 && !this.maps(leaf)) {
      this.touch(leaf, va);
      return false;
    }
    const caches = cpu.walkCaches;
    const eptRefs = (frame: number): number => (this.walkCaches ? caches.eptRefs(frame, 1) : EPT_LEVELS);
    let total = refs;
    for (let k = frames.length - refs; k < frames.length; k++) total += eptRefs(frames[k] as number);
    if (leaf >= 0) total += eptRefs(leaf);
    this.stats.walkRefs += total;
    const vm = this.vm;
    const duration = total * vm.cost.walkRefNs;
    vm.emitter.emit({ type: 'page_walk', refs: total, guestRefs: refs, duration, va });
    vm.tick(duration);
    return true;
  }

  /**
   * The host reclaims the page behind L2 frame `gfn`: L0's mmu_notifier drops the EPT01 leaf of
   * the L1 frame that holds it (SPT12, L1's, is untouched), and L2's next access faults it back
   * in (`map-gfn`).
   */
  hostInvalidate(gfn: number): void {
    const w = this.ept01.walk(L2_IN_L1_FRAME + gfn);
    if (w.frame < 0) return;
    this.ept01.write(w.tables[EPT_LEVELS - 1] as number, w.indexes[EPT_LEVELS - 1] as number, 0, 0);
    for (const c of this.vm.cpus) {
      c.tlb.flush(true);
      c.walkCaches.flushEpt();
    }
    this.vm.emitter.emit({ type: 'tlb_flush', scope: 'all', reason: 'mmu-notifier' });
  }

  /** EPT01's tables, named as the events name them. */
  tables(): MmuTable[] {
    const out: MmuTable[] = [];
    addTreeTables(out, this.ept01, 'ept01', hostTableId);
    return out;
  }

  /** Every SPT12 page L1 holds is mapped by EPT01, since L1 wrote it through EPT01 (`nested-shadow-ept01`). */
  audit(report: Report): void {
    for (const sp of this.l1().pages.pages.values()) {
      if (!this.maps(sp.hostFrame)) report('nested-shadow-ept01', `SPT12 page at L1 frame 0x${sp.hostFrame.toString(16)} is not mapped by EPT01`);
    }
  }

  counters(): Record<string, number> {
    return { ...this.stats };
  }
}
