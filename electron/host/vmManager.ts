/**
 * The VM manager: runs each VM of a scenario in its own worker thread, feeds their event
 * batches to one recorder (a session file), and reports throttled progress.
 *
 * Failure model: a worker that throws or dies marks its VM failed with the message; the
 * other VMs go on; when every VM has ended the session is closed, incomplete if anything
 * failed or was stopped, so it still opens up to what was recorded.
 *
 * Limits (runLimits.ts): runs at once, worker heaps shared out of a memory budget, a watchdog
 * that stops runs before the host passes that budget, and a default event bound per VM.
 * Stop sends each worker a stop and terminates any still running after STOP_GRACE_MS; the
 * run counts as ended as soon as its session is closed; keyframes are appended after that,
 * and a host that shuts down cuts that pass short instead of waiting for it.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import type { Scenario } from '../../core/scenario.ts';
import type { MmuEvent } from '../../core/events.ts';
import type { RunStatus } from '../api/contract.ts';
import { ApiError } from '../api/contract.ts';
import type { FromWorker, ToWorker, VmWorkerData } from './workerProtocol.ts';
import { openRecorder, type Recorder } from './recorder.ts';
import { KeyframeJobs } from './keyframeJobs.ts';
import { completion, DEFAULT_MAX_EVENTS, type EventBound } from '../../sessions/record.ts';
import { fmtMb, MemoryWatchdog, runLimits, workerHeapMb, type RunLimits } from './runLimits.ts';
import { defaultWorkerLocation, spawnWorker, type WorkerLocation } from './vmWorkerSpawn.ts';

export { WORKER_HEAP_MB } from './runLimits.ts';

/** A worker that has not stopped this long after Stop (busy in a long step, or wedged) is terminated. */
export const STOP_GRACE_MS = 500;

export interface VmManagerOptions {
  sessionsDir: string;
  /** Called with every progress report (throttled) and on every state change. */
  onProgress?: (status: RunStatus) => void;
  /** Called when a run created or finished a session file. */
  onSessionsChanged?: () => void;
  worker?: WorkerLocation;
  /** Milliseconds between progress reports of one run (default 100, i.e. ~10/s). */
  progressIntervalMs?: number;
  producer?: string;
  /** Memory budget and runs at once (default: runLimits() from the environment and the machine). */
  limits?: Partial<RunLimits>;
  /** Watchdog sampling interval (ms). */
  watchdogIntervalMs?: number;
  /** Events per VM of a run started without `maxEvents` (default DEFAULT_MAX_EVENTS). */
  defaultMaxEvents?: number;
}

export interface StartOptions {
  /** Session file name (a validated id); generated from the scenario name when absent. */
  sessionId: string;
  /** Events per VM; absent: DEFAULT_MAX_EVENTS; null: no bound. */
  maxEvents?: number | null;
  /** How the caller lifts the default bound, for the message when a VM hits it. */
  liftBound?: string;
  /** Run the MMU auditor in each VM (labs check "no auditor violation"). */
  audit?: boolean;
  /** Start paced at this many simulated ns per wall second (default: flat out). */
  nsPerSecond?: number | null;
  /** Test-only fault injection, per VM index. */
  throwAfterEvents?: Record<number, number>;
  /** Test-only: the VM's worker spins without yielding after this many events (as a wedged step would). */
  wedgeAfterEvents?: Record<number, number>;
}

type VmState = 'running' | 'paused' | 'finished' | 'failed' | 'stopped';

/** What reaches the manager from a worker: its messages, or its death. */
type Delivered = FromWorker | { type: 'error'; message: string } | { type: 'exit'; code: number };

interface VmRun {
  vm: number;
  worker: Worker;
  state: VmState;
  ended: boolean;
  events: number;
  exits: number;
  simNs: number;
  lastSeq: number;
  message?: string;
  /** Why the VM's engine stopped, once it has (`done` when its workload ran to the end). */
  stopReason?: string;
  /** Number of the latest pause or step request sent to the worker. */
  pauseId: number;
  /** The worker answered that request: all it computed is recorded, nothing more comes. */
  quiet: boolean;
}

interface Run {
  runId: string;
  sessionId: string;
  startedMs: number;
  paused: boolean;
  stopping: boolean;
  vms: VmRun[];
  recorder: Recorder;
  finished: Promise<void>;
  resolveFinished: () => void;
  closed: boolean;
  closeError?: string;
  lastProgressMs: number;
  progressTimer?: NodeJS.Timeout;
  speed: number | null;
  /** Wall-clock time the run ended (its elapsed time stops there). */
  endedMs?: number;
  /** Worker messages waiting for the recorder, processed a slice at a time. */
  queue: Array<{ v: VmRun; message: Delivered }>;
  draining: boolean;
  /** Heap handed to each of its workers (MB), held from the budget until the run ends. */
  heapMb: number;
  bound?: EventBound;
  /** Why the run was stopped when not by the user (the memory watchdog). */
  stopMessage?: string;
  /** Callers of `whenPaused`, called once every VM is quiet or ended. */
  quietWaiters: Array<() => void>;
}

export class VmManager {
  private readonly runs = new Map<string, Run>();
  private readonly worker: WorkerLocation;
  private readonly intervalMs: number;
  readonly limits: RunLimits;
  private readonly watchdog: MemoryWatchdog;
  /** Keyframe passes of closed sessions still running (cut short, and resumed, across shutdowns). */
  private readonly keyframes: KeyframeJobs;

  constructor(private readonly options: VmManagerOptions) {
    this.worker = options.worker ?? defaultWorkerLocation();
    this.intervalMs = options.progressIntervalMs ?? 100;
    this.limits = runLimits(options.limits);
    this.watchdog = new MemoryWatchdog(this.limits.memoryBudgetBytes, (rss, budget) => this.overBudget(rss, budget), options.watchdogIntervalMs);
    this.keyframes = new KeyframeJobs(options.sessionsDir);
    this.keyframes.resumePending();
  }

  private liveRuns(): Run[] {
    return [...this.runs.values()].filter((r) => !r.closed);
  }

  /** Runs being started (between the limit check and their registration): they count as live. */
  private readonly starting = new Set<{ heapMb: number; vms: number }>();

  /** The host is near its memory budget: stop every live run, keeping what each recorded. */
  private overBudget(rss: number, budget: number): void {
    for (const run of this.liveRuns()) {
      if (run.stopping) continue;
      run.stopMessage = `stopped by the memory watchdog: the host reached ${fmtMb(rss)} of its ${fmtMb(budget)} budget; what was recorded is kept`;
      this.stopRun(run);
      this.options.onProgress?.(this.statusOf(run));
    }
  }

  /** Start a run; returns at once. The session file exists when this returns. */
  async start(scenario: Scenario, start: StartOptions): Promise<RunStatus> {
    const held = [...this.liveRuns().map((r) => ({ heapMb: r.heapMb, vms: r.vms.length })), ...this.starting];
    const heapMb = workerHeapMb(this.limits, scenario.vms.length, held.length, held.reduce((n, r) => n + r.heapMb * r.vms, 0));
    // Two starts at once (two API calls) must not both see the room the first one takes.
    const reservation = { heapMb, vms: scenario.vms.length };
    this.starting.add(reservation);
    try {
      return await this.startReserved(scenario, start, heapMb);
    } finally {
      this.starting.delete(reservation);
    }
  }

  private async startReserved(scenario: Scenario, start: StartOptions, heapMb: number): Promise<RunStatus> {
    const maxEvents = start.maxEvents === undefined ? (this.options.defaultMaxEvents ?? DEFAULT_MAX_EVENTS) : start.maxEvents;
    const path = join(this.options.sessionsDir, start.sessionId);
    const recorder = await openRecorder(path, scenario, this.options.producer ?? 'mmu-lab');
    let resolveFinished!: () => void;
    const finished = new Promise<void>((resolve) => (resolveFinished = resolve));
    const run: Run = {
      runId: `run-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`,
      sessionId: start.sessionId,
      startedMs: Date.now(),
      paused: false,
      stopping: false,
      vms: [],
      recorder,
      finished,
      resolveFinished,
      closed: false,
      lastProgressMs: 0,
      speed: start.nsPerSecond ?? null,
      queue: [],
      draining: false,
      quietWaiters: [],
      heapMb,
      ...(maxEvents !== null
        ? { bound: { maxEvents, isDefault: start.maxEvents === undefined, lift: start.liftBound ?? 'start the run with maxEvents: null' } }
        : {}),
    };
    try {
      this.spawnVms(run, scenario, { ...start, maxEvents: maxEvents ?? undefined });
    } catch (error) {
      // Could not start a worker at all (a missing bundle, no threads left): undo and say so.
      await Promise.all(run.vms.map((v) => v.worker.terminate().catch(() => 0)));
      try {
        recorder.close(false, 'the run could not start');
      } catch {
        // nothing was recorded; the start error below says why
      }
      throw new ApiError('failed', `could not start the VM workers: ${error instanceof Error ? error.message : String(error)}`);
    }
    this.runs.set(run.runId, run);
    this.watchdog.watch(() => this.liveRuns().length > 0);
    this.options.onSessionsChanged?.();
    const status = this.status(run.runId);
    this.options.onProgress?.(status);
    return status;
  }

  private spawnVms(run: Run, scenario: Scenario, start: StartOptions & { maxEvents?: number }): void {
    scenario.vms.forEach((_, vmIndex) => {
      const data: VmWorkerData = {
        scenario,
        vmIndex,
        nsPerSecond: run.speed,
        maxEvents: start.maxEvents,
        audit: start.audit,
        throwAfterEvents: start.throwAfterEvents?.[vmIndex],
        wedgeAfterEvents: start.wedgeAfterEvents?.[vmIndex],
      };
      const worker = spawnWorker(this.worker, data, `mmulab-vm${vmIndex}`, run.heapMb);
      const vmRun: VmRun = { vm: vmIndex, worker, state: 'running', ended: false, events: 0, exits: 0, simNs: 0, lastSeq: 0, pauseId: 0, quiet: false };
      run.vms.push(vmRun);
      worker.on('message', (message: FromWorker) => this.enqueue(run, vmRun, message));
      // Errors and exits go through the same queue as batches, so everything the worker
      // posted before it died is recorded first.
      worker.on('error', (error: unknown) => {
        this.enqueue(run, vmRun, { type: 'error', message: error instanceof Error ? error.message : String(error) });
      });
      worker.on('exit', (code) => this.enqueue(run, vmRun, { type: 'exit', code }));
    });
  }

  status(runId: string): RunStatus {
    const run = this.runs.get(runId);
    if (!run) throw new ApiError('not-found', `no run with id "${runId}"`);
    return this.statusOf(run);
  }

  list(): RunStatus[] {
    return [...this.runs.values()].map((run) => this.statusOf(run));
  }

  control(runId: string, action: 'pause' | 'resume' | 'stop' | 'step' | 'stepExit'): RunStatus {
    const run = this.runs.get(runId);
    if (!run) throw new ApiError('not-found', `no run with id "${runId}"`);
    const live = run.vms.filter((v) => !v.ended);
    if ((action === 'step' || action === 'stepExit') && !run.stopping) {
      run.paused = true;
      for (const v of live) {
        v.state = 'paused';
        v.quiet = false;
        this.send(v, { type: 'step', until: action === 'step' ? 'event' : 'exit', id: ++v.pauseId });
      }
    } else if (action === 'pause' && !run.stopping) {
      run.paused = true;
      for (const v of live) {
        v.state = 'paused';
        v.quiet = false;
        this.send(v, { type: 'pause', id: ++v.pauseId });
      }
    } else if (action === 'resume' && !run.stopping) {
      run.paused = false;
      for (const v of live) {
        v.state = 'running';
        v.quiet = false;
        this.send(v, { type: 'resume' });
      }
    } else if (action === 'stop') {
      this.stopRun(run);
    }
    const status = this.statusOf(run);
    this.options.onProgress?.(status);
    return status;
  }

  /** Pace every VM of a run at `nsPerSecond` simulated ns per wall second, or flat out (null). */
  setSpeed(runId: string, nsPerSecond: number | null): RunStatus {
    const run = this.runs.get(runId);
    if (!run) throw new ApiError('not-found', `no run with id "${runId}"`);
    run.speed = nsPerSecond;
    for (const v of run.vms) if (!v.ended) this.send(v, { type: 'speed', nsPerSecond });
    const status = this.statusOf(run);
    this.options.onProgress?.(status);
    return status;
  }

  /**
   * Resolves once a paused (or stepped) run has gone quiet: every live VM's worker acknowledged
   * the pause after its last step, so everything it computed is recorded and its count no
   * longer moves until `resume` or `step`. Also resolves when the run ends.
   */
  whenPaused(runId: string): Promise<RunStatus> {
    const run = this.runs.get(runId);
    if (!run) throw new ApiError('not-found', `no run with id "${runId}"`);
    return new Promise((resolve) => {
      run.quietWaiters.push(() => resolve(this.statusOf(run)));
      this.settleQuiet(run);
    });
  }

  private settleQuiet(run: Run): void {
    const quiet = run.closed || (run.paused && run.vms.every((v) => v.ended || v.quiet));
    if (!quiet) return;
    for (const waiter of run.quietWaiters.splice(0)) waiter();
  }

  /** Resolves when the run has ended and its session is closed. */
  async waitForEnd(runId: string): Promise<RunStatus> {
    const run = this.runs.get(runId);
    if (!run) throw new ApiError('not-found', `no run with id "${runId}"`);
    await run.finished;
    return this.statusOf(run);
  }

  /** Test hook: kill one VM's worker the hard way, as a crash would. */
  async killWorker(runId: string, vm: number): Promise<void> {
    const v = this.runs.get(runId)?.vms[vm];
    if (v) await v.worker.terminate();
  }

  /**
   * Stop every run and close every session (app quit): finishes the last chunk of each, and
   * cuts short the keyframe passes still running (each keeps the keyframes it made).
   */
  async close(): Promise<void> {
    const runs = [...this.runs.values()];
    for (const run of runs) this.stopRun(run);
    await Promise.all(runs.map((r) => r.finished));
    this.watchdog.stop();
    await this.keyframes.close();
  }

  /**
   * Finish the keyframes of a session whose pass was cut short (the host was shut down during
   * it), in the background; `close` cuts this one short too. A no-op while one is under way.
   */
  resumeKeyframes(path: string): Promise<number> {
    return this.keyframes.resume(path);
  }

  /** Resolves when the keyframes of a run's session are written (at once when there is no pass under way). */
  async keyframesWritten(runId: string): Promise<number> {
    return this.keyframes.settled(runId);
  }

  private stopRun(run: Run): void {
    if (run.stopping) return;
    run.stopping = true;
    for (const v of run.vms) {
      if (v.ended) continue;
      // A worker still starting (nothing posted yet) has nothing to lose: no grace to wait out.
      if (v.lastSeq === 0) {
        void v.worker.terminate();
        continue;
      }
      this.send(v, { type: 'stop' });
      // A worker busy in a long step, or wedged, gets terminated; what arrived is kept.
      const timer = setTimeout(() => {
        if (!v.ended) void v.worker.terminate();
      }, STOP_GRACE_MS);
      timer.unref();
    }
  }

  private send(v: VmRun, message: ToWorker): void {
    try {
      v.worker.postMessage(message);
    } catch {
      // the worker is gone; its 'exit' handler ends the VM
    }
  }

  /**
   * Worker messages are recorded in slices of at most ~8 ms, yielding to the event loop in
   * between: Node delivers a port's queued messages in one go, and recording is synchronous
   * work, so without this a flat-out run would starve the API and its timers.
   */
  private enqueue(run: Run, v: VmRun, message: Delivered): void {
    run.queue.push({ v, message });
    if (!run.draining) {
      run.draining = true;
      setImmediate(() => this.drain(run));
    }
  }

  private drain(run: Run): void {
    const started = performance.now();
    while (run.queue.length > 0 && performance.now() - started < 8) {
      const { v, message } = run.queue.shift()!;
      this.onWorkerMessage(run, v, message);
    }
    if (run.queue.length > 0) setImmediate(() => this.drain(run));
    else run.draining = false;
  }

  private onWorkerMessage(run: Run, v: VmRun, message: Delivered): void {
    if (v.ended) return; // sticky: nothing counts after a VM ended
    if (message.type === 'error') return this.endVm(run, v, 'failed', `VM ${v.vm} failed: ${message.message}`);
    if (message.type === 'exit') {
      if (run.stopping) return this.endVm(run, v, 'stopped');
      return this.endVm(run, v, 'failed', `VM ${v.vm}'s worker exited unexpectedly (exit code ${message.code})`);
    }
    if (message.seq !== v.lastSeq + 1) {
      this.endVm(run, v, 'failed', `VM ${v.vm}: protocol error (batch ${message.seq} after ${v.lastSeq})`);
      void v.worker.terminate();
      return;
    }
    v.lastSeq = message.seq;
    v.simNs = Math.max(v.simNs, message.simNs);
    if (message.type === 'batch') {
      this.record(run, v, message.events);
      this.send(v, { type: 'ack', seq: message.seq });
      this.progress(run);
    } else if (message.type === 'done') {
      v.stopReason = message.stopReason;
      const own = completion(
        run.vms.map((x) => (x === v ? message.stopReason : 'done')),
        run.bound,
      );
      this.endVm(run, v, 'finished', own.message);
    } else if (message.type === 'stopped') {
      this.endVm(run, v, 'stopped');
    } else if (message.type === 'paused') {
      if (!run.stopping && message.events !== v.events) {
        this.endVm(run, v, 'failed', `VM ${v.vm}: protocol error (paused after ${message.events} events, ${v.events} recorded)`);
        void v.worker.terminate();
        return;
      }
      this.send(v, { type: 'ack', seq: message.seq });
      // An answer to an earlier request is stale: the worker was resumed (and maybe paused) since.
      if (run.paused && message.id === v.pauseId) v.quiet = true;
      this.settleQuiet(run);
    }
  }

  private record(run: Run, v: VmRun, events: MmuEvent[]): void {
    if (run.closed) return;
    let exits = 0;
    try {
      for (const event of events) {
        run.recorder.append(event);
        if (event.type === 'vmexit') exits++;
      }
    } catch (error) {
      // The recorder failing (disk full, ...) fails the whole run.
      run.closeError = `recording failed: ${error instanceof Error ? error.message : String(error)}`;
      this.stopRun(run);
      return;
    }
    v.events += events.length;
    v.exits += exits;
  }

  private endVm(run: Run, v: VmRun, state: VmState, message?: string): void {
    if (v.ended) return;
    v.ended = true;
    v.state = state;
    if (message) v.message = message;
    if (run.vms.every((x) => x.ended)) this.finish(run);
    else {
      this.settleQuiet(run);
      this.progress(run, true);
    }
  }

  private finish(run: Run): void {
    if (run.progressTimer) clearTimeout(run.progressTimer);
    const failed = run.vms.filter((v) => v.state === 'failed');
    const engines = completion(
      run.vms.map((v) => v.stopReason ?? 'done'),
      run.bound,
    );
    const complete = failed.length === 0 && !run.stopping && !run.closeError && engines.complete;
    const message =
      run.closeError ??
      (failed.length ? failed.map((v) => v.message).join('; ') : run.stopping ? (run.stopMessage ?? 'stopped by the user') : engines.message);
    try {
      run.recorder.close(complete, message);
    } catch (error) {
      run.closeError ??= `closing the session failed: ${error instanceof Error ? error.message : String(error)}`;
    }
    run.closed = true;
    run.endedMs = Date.now();
    this.options.onProgress?.(this.statusOf(run));
    this.options.onSessionsChanged?.();
    if (!run.closeError) void this.keyframes.start(run.runId, join(this.options.sessionsDir, run.sessionId));
    this.settleQuiet(run);
    run.resolveFinished();
  }

  /** Throttled progress: at most one report per interval, and a trailing one. */
  private progress(run: Run, force = false): void {
    const now = Date.now();
    if (force || now - run.lastProgressMs >= this.intervalMs) {
      if (run.progressTimer) clearTimeout(run.progressTimer);
      run.progressTimer = undefined;
      run.lastProgressMs = now;
      this.options.onProgress?.(this.statusOf(run));
    } else if (!run.progressTimer) {
      run.progressTimer = setTimeout(() => {
        run.progressTimer = undefined;
        if (!run.closed) this.progress(run, true);
      }, this.intervalMs - (now - run.lastProgressMs));
      run.progressTimer.unref();
    }
  }

  private statusOf(run: Run): RunStatus {
    let state: RunStatus['state'];
    if (run.closed) {
      if (run.closeError || run.vms.some((v) => v.state === 'failed')) state = 'failed';
      else if (run.stopping) state = 'stopped';
      else state = 'finished';
    } else state = run.paused ? 'paused' : 'running';
    const messages = [run.closeError, run.stopMessage, ...run.vms.map((v) => v.message)].filter((m): m is string => !!m);
    return {
      runId: run.runId,
      sessionId: run.sessionId,
      state,
      events: run.vms.reduce((a, v) => a + v.events, 0),
      exits: run.vms.reduce((a, v) => a + v.exits, 0),
      simNs: run.vms.reduce((a, v) => Math.max(a, v.simNs), 0),
      ...(messages.length ? { message: messages.join('; ') } : {}),
      vms: run.vms.map((v) => ({
        vm: v.vm,
        state: v.state,
        events: v.events,
        exits: v.exits,
        simNs: v.simNs,
        ...(v.message ? { message: v.message } : {}),
      })),
      elapsedMs: (run.endedMs ?? Date.now()) - run.startedMs,
      speed: run.speed,
    };
  }
}
