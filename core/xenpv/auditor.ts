/**
 * The Xen PV auditor (`audit: true`): Xen's page-type bookkeeping recounted from scratch —
 * type counts (entries of typed tables, pins, CR3s), writable counts, and no page table
 * mapped writable in a table or a TLB.
 */
import { hex, type Machine } from '../machine.ts';
import type { Report } from '../mmu.ts';
import { entryBytes } from '../paging.ts';
import type { EntryRef } from './entryRef.ts';

/** What the auditor reads of Xen's state (xenpv.ts). */
export interface XenTypeView {
  readonly frames: number;
  readonly type: Uint8Array;
  readonly typeCount: Int32Array;
  readonly writable: Int32Array;
  readonly pinned: Uint8Array;
  readonly typed: ReadonlySet<number>;
  readonly cr3Root: Int32Array;
  entries(level: number): number;
  refOf(level: number, lo: number, hi: number): EntryRef | null;
  isPageTable(frame: number): boolean;
}

/**
 * Recount every reference from scratch and compare: type counts (entries of typed tables,
 * pins, CR3s), writable counts, no page table mapped writable (in a table or a TLB).
 */
export function auditXen(vm: Machine, x: XenTypeView, report: Report): void {
  const expType = new Map<number, number>();
  const expWritable = new Map<number, number>();
  const bump = (m: Map<number, number>, f: number) => m.set(f, (m.get(f) ?? 0) + 1);
  const bytes = entryBytes(vm.ctl.mode);
  for (const f of x.typed) {
    const level = x.type[f] as number;
    for (let i = 0, n = x.entries(level); i < n; i++) {
      const [lo, hi] = vm.os.readEntry(f * 4096 + i * bytes);
      const ref = x.refOf(level, lo, hi);
      if (!ref || ref.frame >= x.frames) continue;
      if (ref.table) {
        bump(expType, ref.frame);
        if (x.type[ref.frame] !== ref.level) report('xen-type', `entry ${i} of L${level} table ${hex(f)} links ${hex(ref.frame)} as L${ref.level}, its type is L${x.type[ref.frame]}`);
      } else if (ref.writable) {
        for (let g = ref.frame; g < Math.min(ref.frame + ref.frames, x.frames); g++) bump(expWritable, g);
      }
    }
    if (x.pinned[f]) bump(expType, f);
  }
  for (const root of x.cr3Root) if (root >= 0 && root < x.frames) bump(expType, root);
  for (const f of x.typed) {
    if ((x.typeCount[f] as number) !== (expType.get(f) ?? 0)) report('xen-type-count', `frame ${hex(f)} has type count ${x.typeCount[f]}, its references say ${expType.get(f) ?? 0}`);
    if (expWritable.has(f)) report('writable-page-table', `L${x.type[f]} page table ${hex(f)} is mapped writable ${expWritable.get(f)} times`);
  }
  for (const [f, n] of expType) if (!x.typed.has(f)) report('xen-type-count', `frame ${hex(f)} is referenced ${n} times as a table but has no type`);
  let total = 0;
  for (const [f, n] of expWritable) {
    total += n;
    if (x.writable[f] !== n) report('xen-writable-count', `frame ${hex(f)} has writable count ${x.writable[f]}, its mappings say ${n}`);
  }
  let counted = 0;
  for (let f = 0; f < x.frames; f++) counted += x.writable[f] as number;
  if (counted !== total) report('xen-writable-count', `writable counts sum to ${counted}, the mappings to ${total}`);
  for (const c of vm.cpus) {
    c.tlb.writableFrames((gfn, va) => {
      if (x.isPageTable(gfn)) report('stale-tlb', `vCPU ${c.id} TLB maps va ${hex(va)} writable onto page table ${hex(gfn)}`);
    });
  }
}
