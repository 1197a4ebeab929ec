/**
 * The seeds' comparisons as simulated figures: each runs two built-in scenarios that differ
 * in one MMU option and reports the simulated-time difference beside the figure the seed
 * measured on real hardware. Deterministic, so one repetition is enough.
 */
import { createVm, runScenario } from '../core/engine.ts';
import { findBuiltin } from '../core/builtins.ts';
import { parseScenario } from '../core/scenario.ts';
import type { MmuEvent } from '../core/events.ts';
import type { EngineOptions } from '../core/engineApi.ts';
import type { Benchmark } from './harness.ts';
import { tdpBenchmarks } from './tdp.bench.ts';

/** Simulated end time of a built-in scenario, in ns: the latest event of any vCPU. */
export function simulatedEndNs(name: string, options: EngineOptions = {}): number {
  const builtin = findBuiltin(name);
  if (!builtin) throw new Error(`no built-in scenario ${name}`);
  const parsed = parseScenario(builtin.scenario);
  if (!parsed.ok) throw new Error(parsed.error);
  let end = 0;
  runScenario(parsed.value, (e: MmuEvent) => {
    const until = e.type === 'vmexit' || e.type === 'lock_wait' ? e.t + e.duration : e.t;
    if (until > end) end = until;
  }, options);
  return end;
}

/** How much less time `after` takes than `before`, in percent of `before`. */
export function savedPercent(before: string, after: string, options: EngineOptions = {}): number {
  const a = simulatedEndNs(before, options);
  const b = simulatedEndNs(after, options);
  return (100 * (a - b)) / a;
}

/**
 * Xen PV counters of the `xenpv-fork-cow` built-in (fork-cow, 64 pages, 4 forks) with
 * pinning and batching set as given: hypercalls, pte-update hypercalls (mmu_update,
 * update_va_mapping, multicall) and the simulated time Xen spent validating entries.
 */
export function xenForkCow(pinning: boolean, batching: boolean, options: EngineOptions = {}): { hypercalls: number; pteHypercalls: number; validationUs: number; validatedEntries: number } {
  const builtin = findBuiltin('xenpv-fork-cow');
  if (!builtin) throw new Error('no built-in xenpv-fork-cow');
  const parsed = parseScenario(builtin.scenario);
  if (!parsed.ok) throw new Error(parsed.error);
  const vm0 = parsed.value.vms[0];
  if (!vm0) throw new Error('xenpv-fork-cow has no VM');
  const scenario = { ...parsed.value, vms: [{ ...vm0, mmu: { ...vm0.mmu, xenpv: { ...vm0.mmu.xenpv, pinning, batching } } }] };
  const vm = createVm(scenario, 0, options);
  let pteHypercalls = 0;
  while (vm.step((e) => {
    if (e.type === 'vmexit' && /^hypercall:(mmu_update|update_va_mapping|multicall)$/.test(e.reason)) pteHypercalls++;
  })) { /* run */ }
  const c = vm.counters?.().vm ?? {};
  return { hypercalls: c.hypercalls ?? NaN, pteHypercalls, validationUs: (c.validationNs ?? NaN) / 1000, validatedEntries: c.validatedEntries ?? NaN };
}

const XEN_VARIANTS = [
  ['naive', false, false],
  ['pinned', true, false],
  ['batched', false, true],
  ['pinned+batched', true, true],
] as const;

function xenBenchmarks(): Benchmark[] {
  const out: Benchmark[] = [];
  for (const [label, pinning, batching] of XEN_VARIANTS) {
    const once = { warmup: 0, repetitions: 1, group: 'seeds' };
    out.push(
      { ...once, name: `seed003.xenpv-fork-cow.hypercalls.${label}`, figure: { name: `fork-cow on Xen PV, ${label}: hypercalls`, unit: 'hypercalls', better: 'lower' }, run: () => xenForkCow(pinning, batching).hypercalls },
      { ...once, name: `seed003.xenpv-fork-cow.pte-hypercalls.${label}`, figure: { name: `fork-cow on Xen PV, ${label}: pte-update hypercalls (batch 32)`, unit: 'hypercalls', better: 'lower' }, run: () => xenForkCow(pinning, batching).pteHypercalls },
      { ...once, name: `seed003.xenpv-fork-cow.validation.${label}`, figure: { name: `fork-cow on Xen PV, ${label}: validation time`, unit: 'sim µs', better: 'lower' }, run: () => xenForkCow(pinning, batching).validationUs },
    );
  }
  return out;
}

/** VM exits of a built-in scenario, optionally with its first VM's `mmu` changed. */
export function builtinExits(name: string, mmu: Record<string, unknown> = {}, options: EngineOptions = {}): number {
  const builtin = findBuiltin(name);
  if (!builtin) throw new Error(`no built-in scenario ${name}`);
  const vm0 = builtin.scenario.vms[0];
  if (!vm0) throw new Error(`${name} has no VM`);
  const parsed = parseScenario({ ...builtin.scenario, vms: [{ ...vm0, mmu: { ...vm0.mmu, ...mmu } }] });
  if (!parsed.ok) throw new Error(parsed.error);
  let exits = 0;
  runScenario(parsed.value, (e: MmuEvent) => {
    if (e.type === 'vmexit') exits++;
  }, options);
  return exits;
}

/** The rest of mmu.rst (seed 004): each mechanism's exits beside the same run without it. */
function mmuRstBenchmarks(): Benchmark[] {
  const once = { warmup: 0, repetitions: 1, group: 'seeds' };
  return [
    { ...once, name: 'seed004.mmio-sptes.slow-accesses', figure: { name: 'mmio-generation: MMIO accesses on the slow path (cached sptes vs none)', unit: 'slow exits', better: 'lower' }, run: () => slowMmio(true), baseline: { name: 'no MMIO sptes', run: () => slowMmio(false) } },
    { ...once, name: 'seed004.unsync.kbuild-zap-exits', figure: { name: 'kbuild (zap) exits with unsync shadow pages', unit: 'exits', better: 'lower' }, run: () => builtinExits('kbuild-zap', { shadow: { onGuestPteWrite: 'zap', unsync: true } }), baseline: { name: 'write-protected', run: () => builtinExits('kbuild-zap') } },
    { ...once, name: 'seed004.unsync.populate-exits', figure: { name: 'writing 32 ptes, using 4: exits with unsync', unit: 'exits', better: 'lower' }, run: () => builtinExits('unsync-populate'), baseline: { name: 'write-protected', run: () => builtinExits('populate-wp') } },
    { ...once, name: 'seed004.nested-tdp.demand-exits', figure: { name: 'demand faults of an L2 guest on L1\'s EPT: exits to L0', unit: 'exits', better: 'lower' }, run: () => builtinExits('nested-tdp'), baseline: { name: 'plain TDP, 4 KiB host pages', run: () => builtinExits('nested-tdp', { nested: { enabled: false }, tdp: { largePages: false } }) } },
    { ...once, name: 'seed004.nested-shadow.demand-exits', figure: { name: 'the same demand faults with L1 on shadow paging (shadow-on-EPT): exits to L0', unit: 'exits', better: 'lower' }, run: () => builtinExits('nested-shadow'), baseline: { name: 'L1 on EPT (nested TDP)', run: () => builtinExits('nested-tdp') } },
    { ...once, name: 'seed004.nested-shadow-on-shadow.demand-exits', figure: { name: 'the same demand faults on an L0 without EPT (shadow-on-shadow): exits to L0', unit: 'exits', better: 'lower' }, run: () => builtinExits('nested-shadow-on-shadow'), baseline: { name: 'shadow-on-EPT', run: () => builtinExits('nested-shadow') } },
    { ...once, name: 'seed004.nested-shadow.kbuild-exits', figure: { name: 'nested-shadow-vs-tdp kbuild: exits to L0 with L1 on shadow paging', unit: 'exits', better: 'lower' }, run: () => builtinExits('nested-shadow-vs-tdp'), baseline: { name: 'L1 on EPT (nested TDP)', run: () => builtinExits('nested-shadow-vs-tdp', { nested: { enabled: true, l1Mmu: 'ept' } }) } },
  ];
}

/** MMIO accesses of `mmio-generation` that took the slow path (a guest walk), with or without MMIO sptes. */
function slowMmio(mmioSptes: boolean): number {
  const builtin = findBuiltin('mmio-generation');
  const vm0 = builtin?.scenario.vms[0];
  if (!builtin || !vm0) throw new Error('no built-in mmio-generation');
  const parsed = parseScenario({ ...builtin.scenario, vms: [{ ...vm0, mmu: { ...vm0.mmu, mmioSptes } }] });
  if (!parsed.ok) throw new Error(parsed.error);
  let slow = 0;
  runScenario(parsed.value, (e: MmuEvent) => {
    if (e.type === 'vmexit' && e.handling === 'mmio-emulate') slow++;
  });
  return slow;
}

export function benchmarks(): Benchmark[] {
  return [
    ...xenBenchmarks(),
    ...mmuRstBenchmarks(),
    ...tdpBenchmarks(),
    {
      name: 'seed000.kbuild-update-vs-zap',
      group: 'seeds',
      figure: { name: 'kbuild simulated time saved by update (seed 000: about 10%)', unit: '% saved', better: 'higher' },
      run: () => savedPercent('kbuild-zap', 'kbuild-update'),
      warmup: 0,
      repetitions: 1,
    },
  ];
}
