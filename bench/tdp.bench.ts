/**
 * TDP figures (seeds 001 and 002, and shadow vs TDP), each measured side by side in one run
 * on the simulated clock, so one repetition is enough (the engine is deterministic):
 * - seed 001: the dirty-logging benchmark with the fast page fault off and on, time saved
 *   beside the seed's +63.2% (532 ms → 196 ms);
 * - seed 002: lock wait with N = 1, 2, 4, 8 vCPUs faulting at once, TDP MMU vs legacy;
 * - shadow vs TDP on kbuild and context-switch: exits, walk references, simulated time.
 */
import { findBuiltin } from '../core/builtins.ts';
import { createVm } from '../core/engine.ts';
import type { EngineOptions } from '../core/engineApi.ts';
import type { MmuEvent } from '../core/events.ts';
import { parseScenario, type Scenario, type ScenarioInput } from '../core/scenario.ts';
import type { Benchmark } from './harness.ts';

function parsed(input: ScenarioInput): Scenario {
  const r = parseScenario(input);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

interface Run {
  events: MmuEvent[];
  endNs: number;
}

function runOnce(input: ScenarioInput, options: EngineOptions = {}): Run {
  const events: MmuEvent[] = [];
  const vm = createVm(parsed(input), 0, options);
  let endNs = 0;
  while (
    vm.step((e) => {
      events.push(e);
      const until = e.type === 'vmexit' || e.type === 'lock_wait' ? e.t + e.duration : e.t;
      if (until > endNs) endNs = until;
    })
  ) {
    /* run */
  }
  return { events, endNs };
}

const builtin = (name: string): ScenarioInput => {
  const b = findBuiltin(name);
  if (!b) throw new Error(`no built-in ${name}`);
  return b.scenario;
};

/** Simulated time of the logged passes of the dirty-log benchmark (logging on → off), ns. */
export function loggedNs(name: string, options: EngineOptions = {}): number {
  const logs = runOnce(builtin(name), options).events.filter((e) => e.type === 'dirty_log');
  const on = logs.find((e) => e.type === 'dirty_log' && e.action === 'enable');
  const off = logs.find((e) => e.type === 'dirty_log' && e.action === 'disable');
  if (!on || !off) throw new Error(`${name}: no dirty logging`);
  return off.t - on.t;
}

function faulting(vcpus: number, tdpMmu: boolean): ScenarioInput {
  return { name: 'seed002', seed: 1, hardware: { profile: 'ept-2012' }, vms: [{ vcpus, memoryMiB: 256, guest: { paging: 'long4', workload: { kind: 'demand-paging', pages: 64 } }, mmu: { mode: 'tdp', tdp: { tdpMmu, largePages: false } } }] };
}

export function lockWaitUs(vcpus: number, tdpMmu: boolean, options: EngineOptions = {}): number {
  const waits = runOnce(faulting(vcpus, tdpMmu), options).events.filter((e) => e.type === 'lock_wait');
  return waits.reduce((sum, e) => sum + (e.type === 'lock_wait' ? e.duration : 0), 0) / 1000;
}

/**
 * Seed 001 in its 2012 form: a legacy (exclusive) mmu_lock, N vCPUs each writing 128 pages for
 * 4 logged passes. Total mmu_lock wait inside the logged passes, fast page fault off or on:
 * what the lockless path avoids, as a function of N.
 */
export function dirtyLogLockWaitUs(vcpus: number, fastPageFault: boolean, tdpMmu = false, options: EngineOptions = {}): number {
  const input: ScenarioInput = { name: 'seed001-2012', seed: 1, hardware: { profile: 'ept-2012' }, vms: [{ vcpus, memoryMiB: 256, guest: { paging: 'long4', workload: { kind: 'dirty-log', pages: 128, iterations: 4 } }, mmu: { mode: 'tdp', tdp: { tdpMmu, fastPageFault, largePages: false } } }] };
  const { events } = runOnce(input, options);
  const on = events.find((e) => e.type === 'dirty_log' && e.action === 'enable')?.t ?? 0;
  const off = events.find((e) => e.type === 'dirty_log' && e.action === 'disable')?.t ?? Infinity;
  let wait = 0;
  for (const e of events) if (e.type === 'lock_wait' && e.t >= on && e.t <= off) wait += e.duration;
  return wait / 1000;
}

/** The three logging methods of `dirty-log-three-ways` (VM 0 write protection, 1 fast page fault, 2 PML): logged time in µs and exits of the logged passes. */
export function threeWays(vm: 0 | 1 | 2, options: EngineOptions = {}): { loggedUs: number; exits: number } {
  const input = builtin('dirty-log-three-ways');
  const one = { ...input, vms: [input.vms[vm]!] };
  const { events } = runOnce(one, options);
  const on = events.find((e) => e.type === 'dirty_log' && e.action === 'enable')?.t ?? NaN;
  const off = events.find((e) => e.type === 'dirty_log' && e.action === 'disable')?.t ?? NaN;
  const exits = events.filter((e) => e.type === 'vmexit' && e.t >= on && e.t <= off).length;
  return { loggedUs: (off - on) / 1000, exits };
}

/** Simulated time of a built-in in µs (the latest event). */
function timeUs(name: string, options: EngineOptions = {}): number {
  return runOnce(builtin(name), options).endNs / 1000;
}

const WORKLOADS = {
  kbuild: { kind: 'kbuild', processes: 40, pages: 24 },
  'context-switch': { kind: 'context-switch', processes: 4, pages: 16, iterations: 100 },
} as const;

const MMU = {
  shadow: { mode: 'shadow' },
  tdp: { mode: 'tdp' },
  'tdp-4k': { mode: 'tdp', tdp: { largePages: false } },
} as const;

/** Exits, walk references and simulated time of a workload under shadow paging or TDP (2 MiB or 4 KiB host pages) on the 2012 EPT part. */
export function compare(workload: keyof typeof WORKLOADS, mode: keyof typeof MMU, options: EngineOptions = {}): { exits: number; walkRefs: number; timeUs: number } {
  const r = runOnce({ name: 'compare', seed: 1, hardware: { profile: 'ept-2012' }, vms: [{ vcpus: 1, memoryMiB: 64, guest: { paging: 'long4', workload: WORKLOADS[workload] }, mmu: MMU[mode] }] }, options);
  let exits = 0;
  let walkRefs = 0;
  for (const e of r.events) {
    if (e.type === 'vmexit') exits++;
    else if (e.type === 'page_walk') walkRefs += e.refs;
  }
  return { exits, walkRefs, timeUs: r.endNs / 1000 };
}

export function tdpBenchmarks(): Benchmark[] {
  const once = { warmup: 0, repetitions: 1, group: 'seeds' };
  const out: Benchmark[] = [
    { ...once, name: 'seed001.dirty-log.fast-pf-off', figure: { name: 'dirty-log benchmark, fast page fault off: logged passes (seed: 532 ms)', unit: 'sim µs', better: 'lower' }, run: () => loggedNs('dirty-log-slow') / 1000 },
    { ...once, name: 'seed001.dirty-log.fast-pf-on', figure: { name: 'dirty-log benchmark, fast page fault on: logged passes (seed: 196 ms)', unit: 'sim µs', better: 'lower' }, run: () => loggedNs('dirty-log-fast') / 1000 },
    {
      ...once,
      name: 'seed001.dirty-log.fast-pf-saved',
      figure: { name: 'dirty-log time saved by the fast page fault (seed 001: 63.2%)', unit: '% saved', better: 'higher' },
      run: () => {
        const slow = loggedNs('dirty-log-slow');
        return (100 * (slow - loggedNs('dirty-log-fast'))) / slow;
      },
    },
  ];
  for (const n of [1, 2, 4, 8]) {
    out.push(
      { ...once, name: `seed002.lock-wait.tdp-mmu.n${n}`, figure: { name: `${n} vCPU(s) demand-faulting, TDP MMU: total mmu_lock wait`, unit: 'sim µs', better: 'lower' }, run: () => lockWaitUs(n, true) },
      { ...once, name: `seed002.lock-wait.legacy.n${n}`, figure: { name: `${n} vCPU(s) demand-faulting, legacy MMU: total mmu_lock wait`, unit: 'sim µs', better: 'lower' }, run: () => lockWaitUs(n, false) },
    );
  }
  for (const n of [1, 2, 4, 8]) {
    out.push(
      { ...once, name: `seed001-2012.lock-wait.fast-pf-off.n${n}`, figure: { name: `${n} vCPU(s) writing during dirty logging, legacy mmu_lock, fast page fault off: lock wait`, unit: 'sim µs', better: 'lower' }, run: () => dirtyLogLockWaitUs(n, false) },
      { ...once, name: `seed001-2012.lock-wait.fast-pf-on.n${n}`, figure: { name: `${n} vCPU(s) writing during dirty logging, legacy mmu_lock, fast page fault on: lock wait`, unit: 'sim µs', better: 'lower' }, run: () => dirtyLogLockWaitUs(n, true) },
      { ...once, name: `seed002.dirty-log-lock-wait.tdp-mmu.n${n}`, figure: { name: `${n} vCPU(s) writing during dirty logging, TDP MMU, fast page fault off: lock wait (exclusive holders: the fetches)`, unit: 'sim µs', better: 'lower' }, run: () => dirtyLogLockWaitUs(n, false, true) },
    );
  }
  for (const [vm, label] of [[0, 'write-protect'], [1, 'fast-pf'], [2, 'pml']] as const) {
    out.push(
      { ...once, name: `dirty-log-three-ways.${label}.logged`, figure: { name: `dirty logging by ${label} (256 pages, 4 passes): logged time`, unit: 'sim µs', better: 'lower' }, run: () => threeWays(vm).loggedUs },
      { ...once, name: `dirty-log-three-ways.${label}.exits`, figure: { name: `dirty logging by ${label}: exits in the logged passes`, unit: 'exits', better: 'lower' }, run: () => threeWays(vm).exits },
    );
  }
  for (const split of ['lazy', 'eager'] as const) out.push({ ...once, name: `huge-page-split.${split}.time`, figure: { name: `dirty logging on 2 MiB pages, ${split} split: simulated time`, unit: 'sim µs', better: 'lower' }, run: () => timeUs(`huge-page-split-${split}`) });
  for (const workload of ['kbuild', 'context-switch'] as const) {
    for (const mode of ['shadow', 'tdp', 'tdp-4k'] as const) {
      const tag = `tdp-vs-shadow.${workload}.${mode}`;
      out.push(
        { ...once, name: `${tag}.exits`, figure: { name: `${workload} on ept-2012, ${mode}: VM exits`, unit: 'exits', better: 'lower' }, run: () => compare(workload, mode).exits },
        { ...once, name: `${tag}.walk-refs`, figure: { name: `${workload} on ept-2012, ${mode}: page-walk memory references`, unit: 'refs', better: 'lower' }, run: () => compare(workload, mode).walkRefs },
        { ...once, name: `${tag}.time`, figure: { name: `${workload} on ept-2012, ${mode}: simulated time`, unit: 'sim µs', better: 'lower' }, run: () => compare(workload, mode).timeUs },
      );
    }
  }
  return out;
}
