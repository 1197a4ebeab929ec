/**
 * The engine's public surface, as the host, the CLI and tests use it. The implementation
 * lives behind `createVm`; nothing outside core/ reaches into engine internals.
 */
import type { CostKey } from './costs.ts';
import type { EventSink } from './events.ts';

export interface EngineOptions {
  /** Run the MMU auditor (invariant checks) as the engine runs. Off by default: it is slow. */
  audit?: boolean;
  /** Stop after this many events (a safety net for runaway workloads such as the endless fault loop). */
  maxEvents?: number;
  /** Multiply cost constants (core/costs.ts) by these factors: the sensitivity study of `npm run bench -- seeds`. */
  costScale?: Partial<Record<CostKey, number>>;
}

/** One simulated VM: its guest, its vCPUs and its MMU. Deterministic for a scenario and seed. */
export interface VmRunner {
  readonly vm: number;
  readonly vcpus: number;
  /**
   * Run the next guest operation of the vCPU with the earliest clock, sending the events it
   * causes to `sink`. Returns false once every vCPU's workload has finished (or a limit hit).
   */
  step(sink: EventSink): boolean;
  /** True once `step` has returned false. */
  readonly finished: boolean;
  /** Why the VM stopped: `done` when the workload finished, else the limit that stopped it. */
  readonly stopReason: 'running' | 'done' | 'max-events' | 'endless-fault-loop' | 'guest-crashed';
  /** Simulated time of the earliest runnable vCPU, in ns. */
  now(): number;
  /**
   * Named counters of the run so far (TLB hits and misses, guest walks, shadow pages
   * allocated/zapped/recycled, write floods, …) and exits by reason per vCPU. Optional:
   * runners that do not keep them may leave it out.
   */
  counters?(): { vm: Record<string, number>; exitsPerVcpu: Array<Record<string, number>> };
}
