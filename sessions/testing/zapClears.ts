/**
 * For tests of imported sessions: the spte_writes that are a zap's clears (spte_writes of the
 * zapped table to 0 right after a shadow_page zap; KVM clears a zapped page's sptes), so the
 * rest can be checked against a count of kvm_mmu_set_spte records or KVM's pf_fixed counter.
 */
import type { MmuEvent } from '../../core/events.ts';

export function zapClears(events: Iterable<MmuEvent>): number {
  let n = 0;
  let zap: MmuEvent | undefined;
  for (const e of events) {
    if (e.type === 'shadow_page' && e.action === 'zap') zap = e;
    else if (zap?.type === 'shadow_page' && e.type === 'spte_write' && e.table === zap.table && e.new === 0n) n++;
    else zap = undefined;
  }
  return n;
}

/** spte_writes that set an spte (a fault's fill), not a zap's clears. */
export function spteFills(events: Iterable<MmuEvent>): number {
  const list = [...events];
  return list.filter((e) => e.type === 'spte_write').length - zapClears(list);
}
