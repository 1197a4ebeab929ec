/**
 * The causal chain an event belongs to, both ways, on its own vCPU: everything that happened
 * for one guest access, from the access (its TLB-miss walk) through the exits KVM took for it,
 * the guest's fault handler and its pte write, KVM's spte write, to the retried access. Events
 * are tied to the access by its virtual address (`va`): exits, faults and walks carry it; a guest
 * pte write belongs to the emulation exit whose `gpa` it writes, an spte write or shadow-page
 * event to the exit it follows. The chain ends where the vCPU moves on to another address.
 */
import type { SessionEvent } from '../stores/session-store';

export interface ChainStep {
  index: number;
  event: SessionEvent;
  /** What this step is in the chain, in words. */
  role: string;
}

const HANDLING_ROLE: Record<string, string> = {
  'inject-guest-pf': '#PF exit: KVM injects the fault into the guest',
  'emulate-pte-write': 'emulation exit: the guest’s pte store traps',
  'fill-spte': '#PF exit: KVM fills the shadow pte',
  'map-gfn': 'EPT violation: KVM maps the frame',
  'fix-spte': '#PF exit: KVM fixes the spte',
};

function roleOf(e: SessionEvent, first: boolean, last: boolean): string {
  switch (e.type) {
    case 'page_walk':
      return first ? 'guest access (TLB miss: page walk)' : last ? 'retried access' : 'page walk';
    case 'vmexit':
      return HANDLING_ROLE[String(e.handling)] ?? `${String(e.reason)} exit (${String(e.handling)})`;
    case 'guest_fault':
      return 'guest fault: the guest’s #PF handler runs';
    case 'gpte_write':
      return 'gpte write: the guest writes its page-table entry';
    case 'spte_write':
      return 'spte write: KVM writes the shadow/EPT entry';
    case 'shadow_page':
      return `shadow page ${String(e.action ?? '')}`.trim();
    case 'tlb_flush':
      return 'TLB flush';
    default:
      return String(e.type);
  }
}

/**
 * The chain around event `index`, given the events `events` (`events[i]` is event `from + i`),
 * which should reach a few hundred events each side. Empty when the event is not part of an
 * address's story (a guest_os event, say).
 */
export function causalChain(events: readonly SessionEvent[], from: number, index: number): ChainStep[] {
  const at = index - from;
  const self = events[at];
  if (!self) return [];
  const lane = (e: SessionEvent) => e.vm === self.vm && e.vcpu === self.vcpu;
  // The lane's events, in order, with their own index into `events`.
  const mine: number[] = [];
  for (let i = 0; i < events.length; i++) if (lane(events[i]!)) mine.push(i);
  const pos = mine.indexOf(at);
  if (pos < 0) return [];

  // The address each lane event is about: its own `va`, or (for events without one) the va of
  // the exit it follows; a gpte write takes the va of the emulation exit writing its gpa.
  const vaOf: (string | undefined)[] = new Array(mine.length);
  let lastVa: string | undefined;
  let lastExit: SessionEvent | undefined;
  for (let k = 0; k < mine.length; k++) {
    const e = events[mine[k]!]!;
    if (typeof e.va === 'string') {
      vaOf[k] = e.va;
      lastVa = e.va;
      if (e.type === 'vmexit') lastExit = e;
    } else if (e.type === 'gpte_write') vaOf[k] = lastExit && lastExit.gpa === e.gpa ? (lastExit.va as string | undefined) : lastVa;
    else if (e.type === 'spte_write' || e.type === 'shadow_page' || e.type === 'tlb_flush') vaOf[k] = lastVa;
    else vaOf[k] = undefined;
  }
  const va = vaOf[pos];
  if (va === undefined) return [];
  let lo = pos;
  while (lo > 0 && vaOf[lo - 1] === va) lo--;
  let hi = pos;
  while (hi < mine.length - 1 && vaOf[hi + 1] === va) hi++;
  const out: ChainStep[] = [];
  for (let k = lo; k <= hi; k++) {
    const i = mine[k]!;
    out.push({ index: from + i, event: events[i]!, role: roleOf(events[i]!, k === lo, k === hi && k > lo) });
  }
  return out;
}
