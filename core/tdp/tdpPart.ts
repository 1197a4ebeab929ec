/**
 * What every part of one TDP MMU shares (tdpMmu.ts wires them): the VM, its switches, its
 * counters, mmu_lock with the host's clock, and what the host knows of each guest frame.
 * One base class, so each part gets them the same way and tdpMmu.ts builds them once.
 */
import type { Machine } from '../machine.ts';
import type { FrameState } from './frameState.ts';
import type { MmuLock } from './mmuLock.ts';
import type { TdpOptions } from './tdpOptions.ts';
import type { TdpStats } from './tdpStats.ts';

export interface TdpShared {
  readonly vm: Machine;
  readonly opts: TdpOptions;
  readonly stats: TdpStats;
  readonly lock: MmuLock;
  readonly frames: FrameState;
}

export abstract class TdpPart {
  protected readonly vm: Machine;
  protected readonly opts: TdpOptions;
  protected readonly stats: TdpStats;
  protected readonly lock: MmuLock;
  protected readonly frames: FrameState;

  constructor(shared: TdpShared) {
    this.vm = shared.vm;
    this.opts = shared.opts;
    this.stats = shared.stats;
    this.lock = shared.lock;
    this.frames = shared.frames;
  }
}
