/**
 * The TDP auditor: the invariants of DESIGN.md for EPT/NPT, checked after each engine step
 * when EngineOptions.audit is on. Each broken one is an `audit_violation` event.
 *
 * - stale-tlb: no vCPU keeps a write-capable translation of a frame whose spte is not
 *   writable (a write-protected spte must have been flushed from every TLB; seed 001's
 *   "missed TLB flush" and "*flush overwrite" break this);
 * - dirty-bitmap: while dirty logging is on, every writable 4 KiB spte and every
 *   write-capable TLB entry is for a frame in the dirty bitmap (every write lands in it);
 *   with PML, sptes stay writable and the log is kept by D bits: every 4 KiB spte with D
 *   and every write-capable TLB entry is for a frame in the bitmap or a vCPU's PML log;
 * - lost-dirty: a frame the guest may have written is dirty in its spte or in the host page
 *   (A/D bits are never lost, seed 001's second race);
 * - tables: every present non-leaf spte links a live table one level down, no connected
 *   table holds a disconnected marker, and no table outlives its parent link (seed 002);
 * - mmio-mapped: no leaf spte maps a frame no memslot backs (only MMIO sptes cover those).
 */
import { TLB_D } from '../tlb.ts';
import type { Machine } from '../machine.ts';
import type { Report } from '../mmu.ts';
import { EPT_D, EPT_PS, isDisconnected, isMmio, present, writable } from './spte.ts';
import type { EptTable } from './eptTable.ts';
import type { TdpMmu } from './tdpMmu.ts';

export function auditTdp(vm: Machine, tdp: TdpMmu, report: Report = (rule, detail) => vm.emitter.emit({ type: 'audit_violation', rule, detail })): void {
  const frames = vm.mem.frames;
  for (const cpu of vm.cpus) {
    cpu.tlb.writableFrames((gfn, va) => {
      if (gfn >= frames) return;
      const f = tdp.lookup(gfn);
      if (!f.leaf || !writable(f.lo)) report('stale-tlb', `vCPU ${cpu.id} TLB can still write va 0x${va.toString(16)} (gfn 0x${gfn.toString(16)}) but its spte is not writable`);
      else if (tdp.logging && !tdp.loggedDirty(gfn)) report('dirty-bitmap', `vCPU ${cpu.id} can write gfn 0x${gfn.toString(16)} during dirty logging but it is not in the dirty bitmap`);
    }, TLB_D);
  }
  for (const gfn of tdp.writtenSet) {
    if (tdp.hostDirty[gfn]) continue;
    const f = tdp.lookup(gfn);
    if (!f.leaf || !(f.lo & EPT_D)) report('lost-dirty', `gfn 0x${gfn.toString(16)} was written by the guest, but neither its spte nor the host page is dirty`);
  }
  checkTables(tdp, report);
}

function checkTables(tdp: TdpMmu, report: (rule: string, detail: string) => void): void {
  const seen = new Set<number>();
  const visit = (t: EptTable): void => {
    seen.add(t.id);
    for (let i = 0; i < 512; i++) {
      const lo = t.sptes[2 * i] as number;
      const hi = t.sptes[2 * i + 1] as number;
      if (isDisconnected(lo, hi)) report('tables', `connected table ${t.id} holds a disconnected entry at ${i}`);
      if (present(lo) && !isMmio(lo, hi) && (t.level === 1 || lo & EPT_PS)) {
        const gfn = t.baseGfn + i * 512 ** (t.level - 1);
        if (gfn >= tdp.frames) report('mmio-mapped', `spte ${t.id}[${i}] maps gfn 0x${gfn.toString(16)}, which no memslot backs (MMIO must be emulated, never mapped)`);
      }
      if (!present(lo) || isMmio(lo, hi) || t.level === 1 || lo & EPT_PS) continue;
      const child = tdp.tables.get(t.children[i] as number);
      if (!child) report('tables', `spte ${t.id}[${i}] links a table that does not exist`);
      else if (child.level !== t.level - 1) report('tables', `table ${child.id} at level ${child.level} linked from level ${t.level}`);
      else visit(child);
    }
  };
  if (tdp.root) visit(tdp.root);
  for (const id of tdp.tables.keys()) if (!seen.has(id)) report('tables', `table ${id} is allocated but no longer linked (leaked)`);
  if (tdp.logging) {
    for (const t of tdp.tables.values()) {
      if (t.level !== 1) continue;
      for (let i = 0; i < 512; i++) {
        const lo = t.sptes[2 * i] as number;
        const gfn = t.baseGfn + i;
        if (gfn >= tdp.dirty.length || !present(lo)) continue;
        if (tdp.opts.pml) {
          if (lo & EPT_D && !tdp.loggedDirty(gfn)) report('dirty-bitmap', `spte ${t.id}[${i}] is dirty during dirty logging (PML) but gfn 0x${gfn.toString(16)} is neither in the bitmap nor in a PML log`);
        } else if (writable(lo) && !tdp.dirty[gfn]) report('dirty-bitmap', `spte ${t.id}[${i}] is writable during dirty logging but gfn 0x${gfn.toString(16)} is not in the dirty bitmap`);
      }
    }
  }
}
