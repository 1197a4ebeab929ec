/**
 * Engine speed (issue 4): guest accesses that hit the TLB, and full guest page walks,
 * per second of wall time. Budgets: 10 M/s and 1 M/s.
 */
import { performance } from 'node:perf_hooks';
import { createVmInternal } from '../core/engine.ts';
import { ACCESS_READ, WalkResult, walk } from '../core/paging.ts';
import { parseScenario, type ScenarioInput } from '../core/scenario.ts';
import type { Benchmark } from './harness.ts';

const PAGES = 64;

function mappedVm() {
  const steps = Array.from({ length: PAGES }, (_, i) => ({ op: 'map' as const, va: 0x400000 + i * 4096, gpa: 0x200000 + i * 4096, levels: {} }));
  const input: ScenarioInput = { name: 'bench', vms: [{ guest: { paging: 'long4', workload: { kind: 'script', steps } }, mmu: { mode: 'tdp' } }] };
  const parsed = parseScenario(input);
  if (!parsed.ok) throw new Error(parsed.error);
  const vm = createVmInternal(parsed.value, 0);
  while (vm.step(() => {})) {
    /* map everything */
  }
  for (let i = 0; i < PAGES; i++) vm.access(0x400000 + i * 4096, ACCESS_READ, 3); // warm the TLB
  return vm;
}

function perSecond(n: number, body: () => void): number {
  const start = performance.now();
  body();
  return n / ((performance.now() - start) / 1000);
}

export function benchmarks(): Benchmark[] {
  return [
    {
      name: 'engine-tlb-hit-accesses',
      group: 'engine',
      figure: { name: 'guest accesses on TLB hits', unit: 'accesses/s', better: 'higher', budget: 10_000_000 },
      run: () => {
        const vm = mappedVm();
        const n = 5_000_000;
        return perSecond(n, () => {
          for (let i = 0; i < n; i++) vm.access(0x400000 + ((i & (PAGES - 1)) << 12), ACCESS_READ, 3);
        });
      },
    },
    {
      name: 'engine-full-walks',
      group: 'engine',
      figure: { name: 'full 4-level guest walks', unit: 'walks/s', better: 'higher', budget: 1_000_000 },
      run: () => {
        const vm = mappedVm();
        const cpu = vm.current;
        const r = new WalkResult();
        const n = 2_000_000;
        return perSecond(n, () => {
          for (let i = 0; i < n; i++) walk(vm.mem, vm.ctl, cpu.cr3, cpu.pdpte, 0x400000 + ((i & (PAGES - 1)) << 12), ACCESS_READ, 3, null, r);
        });
      },
    },
  ];
}
