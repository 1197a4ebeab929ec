/**
 * The message pipe between the VM manager and one VM worker (STYLE habit 4).
 *
 * Parent → worker: the scenario arrives as `workerData`; control messages below.
 * Worker → parent: event batches with increasing `seq`; the parent acknowledges each batch
 * after the recorder took it, and the worker keeps at most `MAX_IN_FLIGHT` batches unacknowledged,
 * so a fast engine can never outrun the recorder's memory.
 *
 * Pausing: the worker answers `pause` (and each completed `step`) with `paused` once it has
 * posted everything it computed; messages of a port arrive in order, so when the host has taken
 * in `paused`, every batch of that VM is recorded and no more come until `resume` or `step`.
 * Each answer names the request it answers, so the host can tell a stale one (the worker was
 * resumed and paused again since) from the answer to its latest pause.
 */
import type { MmuEvent } from '../../core/events.ts';
import type { Scenario } from '../../core/scenario.ts';

export interface VmWorkerData {
  scenario: Scenario;
  vmIndex: number;
  maxEvents?: number;
  audit?: boolean;
  /** Initial pacing (simulated ns per wall second); null or absent runs flat out. */
  nsPerSecond?: number | null;
  /** Test-only fault injection: throw inside the worker after this many events. */
  throwAfterEvents?: number;
  /** Test-only: spin without yielding after this many events (a step that never returns). */
  wedgeAfterEvents?: number;
}

export type ToWorker =
  | { type: 'ack'; seq: number }
  /** `id` numbers the host's pause and step requests; `paused` answers the latest one. */
  | { type: 'pause'; id: number }
  | { type: 'resume' }
  | { type: 'stop' }
  /** While paused: run one engine step ('event') or until the next vmexit/guest fault ('exit'). */
  | { type: 'step'; until: 'event' | 'exit'; id: number }
  /** Simulated ns per wall-clock second; null runs flat out. */
  | { type: 'speed'; nsPerSecond: number | null };

export type FromWorker =
  | { type: 'batch'; seq: number; events: MmuEvent[]; simNs: number }
  | { type: 'done'; seq: number; stopReason: string; simNs: number }
  | { type: 'stopped'; seq: number; simNs: number }
  /** Paused with nothing more in flight, answering request `id`: `events` is every event this VM has posted. */
  | { type: 'paused'; seq: number; simNs: number; id: number; events: number };

/**
 * Small batches, few in flight: Node deserializes every queued message of a port in one go on
 * the host's thread, so these two bound how long the host can be busy at once. Measured on
 * 2 cores, 4 VMs flat out: 4096×4 gave p99 event-loop lag 83 ms; 512×2 gives ~21 ms, with
 * higher throughput (~280k events/s recorded).
 */
export const MAX_IN_FLIGHT = 2;
export const BATCH_EVENTS = 512;
/** Longest a worker computes before it posts what it has and looks at its messages. */
export const BATCH_MS = 10;
/** `stepExit` gives up after this many engine steps without an exit (and stays paused). */
export const MAX_STEPS_TO_EXIT = 1_000_000;
