import { describe, expect, it } from 'vitest';
import type { SessionEvent } from '../stores/session-store';
import { relatedEvents } from './event-filter';

// Lines of a real `mmu-lab export` (demand-zap, update mode spelled by hand for the spte).
const EVENTS: SessionEvent[] = [
  { t: 3225, vm: 0, vcpu: 0, type: 'vmexit', reason: 'EXCEPTION_NMI', handling: 'emulate-pte-write', duration: 1276, gpa: '0x100000' },
  { t: 3300, vm: 0, vcpu: 1, type: 'vmexit', reason: 'CR_ACCESS', handling: 'cr3-switch', duration: 900 },
  { t: 3642, vm: 0, vcpu: 0, type: 'gpte_write', level: 4, gpa: '0x100000', old: '0x0', new: '0x101027', cause: 'guest' },
  { t: 4501, vm: 0, vcpu: 0, type: 'gpte_write', level: 3, gpa: '0x101000', old: '0x0', new: '0x102027', cause: 'guest' },
  { t: 4600, vm: 0, vcpu: 0, type: 'spte_write', level: 4, table: 1, index: 0, old: '0x0', new: '0x800002027' },
  { t: 4927, vm: 0, vcpu: 0, type: 'vmexit', reason: 'EXCEPTION_NMI', handling: 'fill-spte', duration: 2984, va: '0x10000000', gpa: '0x104000' },
];

describe('related events', () => {
  it('relates an exit to the guest pte write that caused it and the sptes it produced, on its vCPU only', () => {
    const from = 100;
    const related = relatedEvents(EVENTS, from, from + 4); // asked about the spte write
    expect(related.map((r) => [r.index, r.role])).toEqual([
      [100, 'the exit'],
      [102, 'guest pte write that caused the exit'],
      [103, 'guest pte write'],
      [104, 'spte write it produced'],
    ]);
    expect(relatedEvents(EVENTS, from, from + 5).map((r) => r.index)).toEqual([105]);
  });
});
