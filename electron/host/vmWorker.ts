/**
 * One simulated VM in its own worker thread. Runs the engine in slices of at most
 * `BATCH_MS`, posts each slice's events as one batch, and yields to its message queue
 * between slices so pause/resume/step/speed/stop and acknowledgements get through.
 *
 * An exception escapes on purpose: the worker dies and the parent's 'error' handler marks
 * this VM failed with the message, while the other VMs go on.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createVm } from '../../core/engine.ts';
import type { MmuEvent } from '../../core/events.ts';
import {
  BATCH_EVENTS,
  BATCH_MS,
  MAX_IN_FLIGHT,
  MAX_STEPS_TO_EXIT,
  type FromWorker,
  type ToWorker,
  type VmWorkerData,
} from './workerProtocol.ts';

const port = parentPort;
if (!port) throw new Error('vmWorker must run as a worker thread');

const data = workerData as VmWorkerData;
const vm = createVm(data.scenario, data.vmIndex, { maxEvents: data.maxEvents, audit: data.audit });

let seq = 0;
let acked = 0;
let paused = false;
let ended = false;
let scheduled = false;
let total = 0;
let simNs = 0;
/** The latest pause or step request, which the next `paused` answers. */
let pauseId = 0;
/** A pending single step while paused. */
let stepping: 'event' | 'exit' | undefined;
/** Pacing: simulated ns per wall second (undefined = flat out), anchored at (paceWall, paceSim). */
let speed: number | undefined = data.nsPerSecond ?? undefined;
let paceWall = performance.now();
let paceSim = 0;

function post(message: FromWorker): void {
  port!.postMessage(message);
}

/** Tell the host we are paused and have posted everything (see workerProtocol.ts). */
function acknowledgePause(): void {
  post({ type: 'paused', seq: ++seq, simNs, id: pauseId, events: total });
}

function schedule(delayMs = 0): void {
  if (scheduled || ended || (paused && !stepping)) return;
  scheduled = true;
  if (delayMs > 0) setTimeout(pump, delayMs);
  else setImmediate(pump);
}

/** The VM's clock, finite (an engine with no runnable vCPU may report Infinity). */
function nowNs(): number {
  const t = vm.now();
  return Number.isFinite(t) ? t : simNs;
}

function repace(): void {
  paceWall = performance.now();
  paceSim = nowNs();
}

function pump(): void {
  scheduled = false;
  if (ended || (paused && !stepping)) return;
  if (seq - acked >= MAX_IN_FLIGHT) return; // an ack will schedule us again
  const events: MmuEvent[] = [];
  const sink = (event: MmuEvent): void => {
    events.push(event);
  };
  let more = true;
  const stepped = stepping !== undefined;
  if (stepping) {
    const until = stepping;
    stepping = undefined;
    for (let steps = 0; steps < (until === 'event' ? 1 : MAX_STEPS_TO_EXIT); steps++) {
      const before = events.length;
      more = vm.step(sink);
      if (!more) break;
      if (until === 'exit' && events.slice(before).some((e) => e.type === 'vmexit' || e.type === 'guest_fault')) break;
    }
  } else {
    let budget = Infinity;
    if (speed !== undefined) {
      budget = paceSim + ((performance.now() - paceWall) / 1000) * speed;
      if (nowNs() >= budget) return schedule(10);
    }
    const started = performance.now();
    let steps = 0;
    while (events.length < BATCH_EVENTS && nowNs() < budget) {
      more = vm.step(sink);
      if (!more) break;
      if (++steps % 64 === 0 && performance.now() - started > BATCH_MS) break;
    }
  }
  total += events.length;
  if (data.throwAfterEvents !== undefined && total >= data.throwAfterEvents) {
    throw new Error(`injected failure in VM ${data.vmIndex} after ${total} events`);
  }
  if (data.wedgeAfterEvents !== undefined && total >= data.wedgeAfterEvents) {
    post({ type: 'batch', seq: ++seq, events, simNs });
    for (;;); // never yields: only Worker.terminate ends this thread
  }
  const last = events[events.length - 1];
  simNs = Math.max(simNs, last ? last.t : 0, vm.finished ? 0 : nowNs());
  if (events.length > 0) post({ type: 'batch', seq: ++seq, events, simNs });
  if (!more || vm.finished) {
    ended = true;
    post({ type: 'done', seq: ++seq, stopReason: vm.stopReason, simNs });
    port!.close();
    return;
  }
  if (stepped) acknowledgePause();
  schedule(speed !== undefined && nowNs() >= paceSim + ((performance.now() - paceWall) / 1000) * speed ? 10 : 0);
}

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'ack':
      acked = Math.max(acked, message.seq);
      schedule();
      break;
    case 'pause':
      if (ended) return;
      paused = true;
      pauseId = message.id;
      // A step still to run acknowledges once it has run.
      if (!stepping) acknowledgePause();
      break;
    case 'resume':
      paused = false;
      repace();
      schedule();
      break;
    case 'step':
      paused = true;
      pauseId = message.id;
      stepping = message.until;
      schedule();
      break;
    case 'speed':
      speed = message.nsPerSecond ?? undefined;
      repace();
      schedule();
      break;
    case 'stop':
      if (ended) return;
      ended = true;
      post({ type: 'stopped', seq: ++seq, simNs });
      port!.close();
      break;
  }
});

schedule();
