/**
 * The seeds' comparisons as simulated figures: each runs two built-in scenarios that differ
 * in one MMU option and reports the simulated-time difference beside the figure the seed
 * measured on real hardware. Deterministic, so one repetition is enough.
 */
import { runScenario } from '../core/engine.ts';
import { findBuiltin } from '../core/builtins.ts';
import { parseScenario } from '../core/scenario.ts';
import type { MmuEvent } from '../core/events.ts';
import type { Benchmark } from './harness.ts';

/** Simulated end time of a built-in scenario, in ns: the latest event of any vCPU. */
export function simulatedEndNs(name: string): number {
  const builtin = findBuiltin(name);
  if (!builtin) throw new Error(`no built-in scenario ${name}`);
  const parsed = parseScenario(builtin.scenario);
  if (!parsed.ok) throw new Error(parsed.error);
  let end = 0;
  runScenario(parsed.value, (e: MmuEvent) => {
    const until = e.type === 'vmexit' || e.type === 'lock_wait' ? e.t + e.duration : e.t;
    if (until > end) end = until;
  });
  return end;
}

/** How much less time `after` takes than `before`, in percent of `before`. */
function savedPercent(before: string, after: string): number {
  const a = simulatedEndNs(before);
  const b = simulatedEndNs(after);
  return (100 * (a - b)) / a;
}

export function benchmarks(): Benchmark[] {
  return [
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
