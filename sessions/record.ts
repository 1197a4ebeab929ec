/**
 * Record a scenario in this process: run every VM's engine and stream its events through the
 * session writer. Used by the CLI and by tests; the desktop host runs VMs in workers instead,
 * and the file is the same either way (the format stores per-vCPU lanes, and the reader
 * merges them in canonical order).
 */
import type { EventSink } from '../core/events.ts';
import type { Scenario } from '../core/scenario.ts';
import { createVm } from '../core/engine.ts';
import { SessionWriter, PRODUCER, type WriterOptions } from './writer.ts';
import { appendKeyframes } from './annex.ts';
import { openSession } from './reader.ts';
import { fmtInt } from './format.ts';

export interface RecordOptions extends WriterOptions {
  /** Overrides the scenario's seed. */
  seed?: number;
  /** Stop each VM after this many events. */
  maxEvents?: number;
  /** The bound `maxEvents` is (when it is the default), so a VM that hits it says how to lift it. */
  bound?: EventBound;
  /** Run the MMU auditor. */
  audit?: boolean;
  producer?: string;
  /** Called every `progressEvery` events with the running count, the VM being recorded and its own count. */
  onProgress?: (events: number, at: { vm: number; vmEvents: number }) => void;
  progressEvery?: number;
  /** Canonical events between keyframes (default KEYFRAME_EVENTS). */
  keyframeEvents?: number;
}

/** Append keyframes to a just-closed recording (the file's events are all there by now). */
export function addKeyframes(path: string, every?: number): number {
  const { session } = openSession(path);
  return session ? appendKeyframes(path, session, every) : 0;
}

/**
 * Events per VM a recording stops at unless the caller lifts the bound (`mmu-lab record
 * --no-limit`, `maxEvents: null` in `runs.start`): a scenario that never ends still ends, with
 * a message that says so. Every built-in scenario ends far below it.
 */
export const DEFAULT_MAX_EVENTS = 5_000_000;

/** The event bound a recording ran under, so a VM that hit it gets a message that names it. */
export interface EventBound {
  maxEvents: number;
  /** The default bound (not one the user chose). */
  isDefault: boolean;
  /** How to lift it, in the words of the caller's front door. */
  lift: string;
}

/**
 * Whether a recording is complete, from why each VM's engine stopped: only a guest that ran its
 * workload to the end (`done`) makes a complete session; a fault loop, a crashed guest or an
 * event cap leaves it incomplete with the reason. One rule for the CLI and the desktop host.
 */
export function completion(stopReasons: readonly string[], bound?: EventBound): { complete: boolean; message?: string } {
  const why = (r: string, i: number): string => {
    if (r !== 'max-events' || !bound) return `VM ${i} stopped: ${r}`;
    const n = fmtInt(bound.maxEvents);
    return bound.isDefault ? `VM ${i} stopped at the default bound of ${n} events (${bound.lift} to record it all)` : `VM ${i} stopped at its bound of ${n} events`;
  };
  const stopped = stopReasons.map((r, i) => (r === 'done' ? '' : why(r, i))).filter(Boolean);
  return stopped.length ? { complete: false, message: stopped.join('; ') } : { complete: true };
}

export interface RecordResult {
  path: string;
  events: number;
  exits: number;
  complete: boolean;
  /** Why each VM stopped. */
  stopReasons: string[];
  message?: string;
}

export function recordScenario(scenario: Scenario, outPath: string, options: RecordOptions = {}): RecordResult {
  const sc: Scenario = options.seed === undefined ? scenario : { ...scenario, seed: options.seed };
  // written under a temporary name, renamed when complete: a finished name is a finished file
  const writer = SessionWriter.create(outPath, { scenario: sc, producer: options.producer ?? PRODUCER }, { atomic: true, ...options });
  let events = 0;
  let exits = 0;
  const every = options.progressEvery ?? 100_000;
  let vmIndex = 0;
  let vmStart = 0;
  const sink: EventSink = (e) => {
    writer.append(e);
    events++;
    if (e.type === 'vmexit') exits++;
    if (options.onProgress && events % every === 0) options.onProgress(events, { vm: vmIndex, vmEvents: events - vmStart });
  };
  const stopReasons: string[] = [];
  const maxEvents = options.maxEvents ?? options.bound?.maxEvents;
  try {
    sc.vms.forEach((_, i) => {
      vmIndex = i;
      vmStart = events;
      const engineOptions = {
        ...(maxEvents !== undefined ? { maxEvents } : {}),
        ...(options.audit !== undefined ? { audit: options.audit } : {}),
      };
      const vm = createVm(sc, i, engineOptions);
      while (vm.step(sink));
      stopReasons.push(vm.stopReason);
    });
  } catch (e) {
    const message = `the engine failed: ${(e as Error)?.message ?? String(e)}`;
    writer.close({ complete: false, message });
    throw e;
  }
  const { complete, message } = completion(stopReasons, options.bound);
  writer.close({ complete, ...(message ? { message } : {}) });
  addKeyframes(outPath, options.keyframeEvents);
  return { path: outPath, events, exits, complete, stopReasons, ...(message ? { message } : {}) };
}
