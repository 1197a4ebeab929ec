import { describe, expect, it } from 'vitest';
import { causalChain } from './causal-chain';
import type { SessionEvent } from '../stores/session-store';

// A demand fault under shadow paging with zap (the seeds' three exits per fault), as a session
// records it, with another vCPU's events interleaved: access → #PF exit → guest fault → emulation
// exit → gpte write → walk → fill exit → spte write → retried access.
const E = (e: Record<string, string | number>) => ({ vm: 0, vcpu: 0, ...e }) as SessionEvent;
const events: SessionEvent[] = [
  E({ t: 1, type: 'page_walk', va: '0x10000000', refs: 4 }),
  E({ t: 2, type: 'spte_write', level: 1, table: 4, index: 0, old: '0x0', new: '0x100104067' }),
  E({ t: 3, type: 'page_walk', va: '0x10001000', refs: 4 }),
  E({ t: 4, type: 'vmexit', reason: 'EXCEPTION_NMI', handling: 'inject-guest-pf', va: '0x10001000' }),
  E({ t: 5, vcpu: 1, type: 'vmexit', reason: 'EXCEPTION_NMI', handling: 'inject-guest-pf', va: '0x20001000' }),
  E({ t: 6, type: 'guest_fault', va: '0x10001000', errorCode: 6 }),
  E({ t: 7, type: 'vmexit', reason: 'EXCEPTION_NMI', handling: 'emulate-pte-write', va: '0x10001000', gpa: '0x103008' }),
  E({ t: 8, type: 'gpte_write', level: 1, gpa: '0x103008', old: '0x0', new: '0x105067' }),
  E({ t: 9, type: 'page_walk', va: '0x10001000', refs: 4 }),
  E({ t: 10, type: 'vmexit', reason: 'EXCEPTION_NMI', handling: 'fill-spte', va: '0x10001000', gpa: '0x105000' }),
  E({ t: 11, type: 'spte_write', level: 1, table: 4, index: 1, old: '0x0', new: '0x100105067' }),
  E({ t: 12, type: 'page_walk', va: '0x10001000', refs: 1 }),
  E({ t: 13, type: 'page_walk', va: '0x10002000', refs: 4 }),
];

describe('causal chain', () => {
  it('from the spte write back to the access, and on to the retried access', () => {
    const chain = causalChain(events, 100, 110); // the spte write
    expect(chain.map((s) => s.index)).toEqual([102, 103, 105, 106, 107, 108, 109, 110, 111]);
    expect(chain.map((s) => s.role)).toEqual([
      'guest access (TLB miss: page walk)',
      '#PF exit: KVM injects the fault into the guest',
      'guest fault: the guest’s #PF handler runs',
      'emulation exit: the guest’s pte store traps',
      'gpte write: the guest writes its page-table entry',
      'page walk',
      '#PF exit: KVM fills the shadow pte',
      'spte write: KVM writes the shadow/EPT entry',
      'retried access',
    ]);
  });

  it('is the same chain from any of its steps, and stays on its own vCPU', () => {
    const a = causalChain(events, 100, 103).map((s) => s.index);
    expect(causalChain(events, 100, 107).map((s) => s.index)).toEqual(a);
    expect(a).not.toContain(104);
    expect(causalChain(events, 100, 104).map((s) => s.index)).toEqual([104]);
  });
});
