/**
 * What L0 does alike for every nested design that keeps its trees as EptTrees (nested TDP,
 * nestedTdp.ts; shadow-on-EPT, core/nestedshadow/onEpt.ts): record a tree's tables and entry
 * changes as events (holding those of what L0 set up before the first step), list a tree's
 * tables as the events name them, and map an L1 frame EPT01 lacks when L1 touches it.
 */
import { pte64, type Emitter } from '../emitter.ts';
import type { Machine } from '../machine.ts';
import type { MmuTable } from '../mmu.ts';
import { EPT_RWX, HOST_EPT_BASE_FRAME, HOST_GUEST_BASE_FRAME, present } from '../tdp/spte.ts';
import type { EptTree, TreeObserver } from './eptTree.ts';

type EventBody = Parameters<Emitter['emit']>[0];

/** L0's tables are named as the TDP MMU names its EPT tables: host frame − HOST_EPT_BASE_FRAME (core/tableRoles.ts). */
export const hostTableId = (frame: number): number => frame - HOST_EPT_BASE_FRAME;

/**
 * Events of what was built before the scenario's first step (L1's boot, L0's EPT01 root), when
 * no sink listens yet: held until `release` at the first step, then emitted as they come.
 */
export class BootEvents {
  private pending: EventBody[] | null = [];

  constructor(private readonly vm: Machine) {}

  emit(body: EventBody): void {
    if (this.pending) this.pending.push(body);
    else this.vm.emitter.emit(body);
  }

  release(): void {
    const boot = this.pending;
    if (!boot) return;
    this.pending = null;
    for (const body of boot) this.vm.emitter.emit(body);
  }
}

/** The session's record of one tree: its tables (`shadow_page` alloc) and entry changes (`spte_write`), with their role. */
export function treeRecorder(events: BootEvents, role: string, id: (frame: number) => number): TreeObserver {
  return {
    table: (frame, level, baseGfn) => events.emit({ type: 'shadow_page', action: 'alloc', table: id(frame), level, gfn: baseGfn, role }),
    wrote: (frame, level, index, old, lo, hi) => events.emit({ type: 'spte_write', level, table: id(frame), index, old: pte64(old[0], old[1]), new: pte64(lo, hi), role }),
  };
}

/** Appends every table of `tree` with its present entries to `out`, named as `treeRecorder` names them. */
export function addTreeTables(out: MmuTable[], tree: EptTree, role: string, id: (frame: number) => number): void {
  for (const [frame, t] of tree.pages) {
    const info = tree.info.get(frame);
    const entries: Array<[number, bigint]> = [];
    for (let i = 0; i < 512; i++) if (present(t[2 * i] as number)) entries.push([i, pte64(t[2 * i] as number, t[2 * i + 1] as number)]);
    out.push({ id: id(frame), level: info?.level ?? 0, role, gfn: info?.baseGfn ?? 0, entries });
  }
}

/**
 * L1 touched its frame `frame`, which EPT01 does not map: an EPT violation L0 handles alone
 * (`map-gfn`, charged as a shadow fault), mapping the frame at its host frame.
 */
export function mapL1Frame(vm: Machine, ept01: EptTree, frame: number, va: number | undefined, allocHost: () => number, stats: { l1Ept01Faults: number }): void {
  const start = vm.beginExit();
  vm.lock(vm.cost.shadowFaultNs);
  vm.tick(vm.cost.shadowFaultNs);
  ept01.map(frame, HOST_GUEST_BASE_FRAME + frame, EPT_RWX, allocHost);
  stats.l1Ept01Faults++;
  vm.endExit(start, 'EPT_VIOLATION', 'map-gfn', va, frame * 4096);
}
