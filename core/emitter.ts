/**
 * Stamps events with the current vCPU's clock and hands them on. Events raised while a
 * vCPU is inside a VM exit are held until the exit ends, so the `vmexit` event (whose
 * duration is only known then) comes first and times stay non-decreasing per vCPU.
 */
import type { EventSink, MmuEvent } from './events.ts';

type Body = Record<string, unknown> & { type: MmuEvent['type'] };

export class Emitter {
  sink: EventSink = () => {};
  vm = 0;
  vcpu = 0;
  /** Clock of the current vCPU, ns. */
  t = 0;
  count = 0;
  private held: MmuEvent[] = [];
  private holding = false;

  emit(body: Body): void {
    const event = { t: this.t, vm: this.vm, vcpu: this.vcpu, ...body } as unknown as MmuEvent;
    if (this.holding) this.held.push(event);
    else this.deliver(event);
  }
  /** Start holding events (a VM exit began). */
  hold(): void {
    this.holding = true;
  }
  /** Emit `first` (the vmexit) stamped at `t`, then everything held. */
  release(first: Body, t: number): void {
    this.holding = false;
    this.deliver({ t, vm: this.vm, vcpu: this.vcpu, ...first } as unknown as MmuEvent);
    const held = this.held;
    this.held = [];
    for (const e of held) this.deliver(e);
  }
  private deliver(e: MmuEvent): void {
    this.count++;
    this.sink(e);
  }
}

/** A 64-bit entry from its halves, as events carry it. */
export function pte64(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}
