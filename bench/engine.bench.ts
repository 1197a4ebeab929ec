/**
 * Engine speed: guest accesses that hit the TLB, full guest walks, and exits on a
 * fault-heavy workload. Baselines are bare typed-array loops doing the same number of
 * loads: the practical limit of this machine for the same memory traffic.
 */
import { createVmInternal } from '../core/engine.ts';
import { findBuiltin } from '../core/builtins.ts';
import { parseScenario, type Scenario, type ScenarioInput } from '../core/scenario.ts';
import { ACCESS_READ, WalkResult, walk } from '../core/paging.ts';
import type { MmuEvent } from '../core/events.ts';
import type { Benchmark } from './harness.ts';

const PAGES = 256;
const BASE = 0x10000000;

function mustParse(input: ScenarioInput): Scenario {
  const parsed = parseScenario(input);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
}

/** A long4 guest with PAGES mapped user pages, each touched once so the TLB holds them. */
function warmVm() {
  const steps: NonNullable<Extract<ScenarioInput['vms'][number]['guest']['workload'], { kind: 'script' }>['steps']> = [];
  for (let i = 0; i < PAGES; i++) {
    const va = BASE + i * 4096;
    steps.push({ op: 'map', va, gpa: 0x400000 + i * 4096, size: '4k', levels: { pt: ['P', 'W', 'U', 'A', 'D'] } });
    steps.push({ op: 'access', va, access: 'read', cpl: 3 });
  }
  const scenario = mustParse({ name: 'bench', vms: [{ guest: { paging: 'long4', workload: { kind: 'script', steps } }, mmu: { mode: 'tdp' } }] });
  const vm = createVmInternal(scenario, 0);
  const sink = () => {};
  while (vm.step(sink)) {
    /* set up */
  }
  return vm;
}

const ACCESSES = 5_000_000;

function accessesPerSecond(): number {
  const vm = warmVm();
  const started = performance.now();
  let ok = 0;
  for (let i = 0; i < ACCESSES; i++) if (vm.access(BASE + ((i & (PAGES - 1)) << 12) + (i & 0xff8), ACCESS_READ, 3)) ok++;
  const seconds = (performance.now() - started) / 1000;
  if (ok !== ACCESSES) throw new Error(`only ${ok} of ${ACCESSES} accesses hit`);
  return ACCESSES / seconds;
}

const WALKS = 1_000_000;

function walksPerSecond(): number {
  const vm = warmVm();
  const cpu = vm.cpus[0]!;
  const r = new WalkResult();
  const started = performance.now();
  let ok = 0;
  for (let i = 0; i < WALKS; i++) if (walk(vm.mem, vm.ctl, cpu.cr3, cpu.pdpte, BASE + ((i & (PAGES - 1)) << 12), ACCESS_READ, 3, null, r)) ok++;
  const seconds = (performance.now() - started) / 1000;
  if (ok !== WALKS) throw new Error(`only ${ok} of ${WALKS} walks succeeded`);
  return WALKS / seconds;
}

/** The same loads as `loadsPerUnit` per access, from a typed array: what the machine can do. */
function bareLoads(units: number, loadsPerUnit: number): number {
  const memory = new Uint32Array(1 << 20);
  for (let i = 0; i < memory.length; i++) memory[i] = (i * 2654435761) >>> 12;
  const started = performance.now();
  let x = 0;
  let sum = 0;
  for (let i = 0; i < units; i++) {
    for (let l = 0; l < loadsPerUnit; l++) {
      x = memory[(x + i) & 0xfffff]!;
      sum += x;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  if (sum === -1) console.log(sum);
  return units / seconds;
}

function exitsPerSecond(): number {
  const builtin = findBuiltin('demand-zap');
  if (!builtin) throw new Error('no built-in demand-zap');
  const input = structuredClone(builtin.scenario);
  const workload = input.vms[0]!.guest.workload;
  if (workload.kind === 'demand-paging') workload.pages = 20_000;
  const scenario = mustParse({ ...input, vms: [{ ...input.vms[0]!, memoryMiB: 512 }] });
  let exits = 0;
  const sink = (e: MmuEvent) => {
    if (e.type === 'vmexit') exits++;
  };
  const vm = createVmInternal(scenario, 0);
  const started = performance.now();
  while (vm.step(sink)) {
    /* run */
  }
  return exits / ((performance.now() - started) / 1000);
}

export function benchmarks(): Benchmark[] {
  return [
    {
      name: 'engine.tlb-hit-accesses',
      group: 'engine',
      figure: { name: 'guest accesses on TLB hits', unit: 'accesses/s', better: 'higher', budget: 10_000_000 },
      run: accessesPerSecond,
      baseline: { name: 'bare 1-load loop', run: () => bareLoads(ACCESSES, 1) },
    },
    {
      name: 'engine.guest-walks',
      group: 'engine',
      figure: { name: 'full 4-level guest walks', unit: 'walks/s', better: 'higher', budget: 1_000_000 },
      run: walksPerSecond,
      baseline: { name: 'bare 4-load loop', run: () => bareLoads(WALKS, 4) },
    },
    {
      name: 'engine.fault-heavy-exits',
      group: 'engine',
      figure: { name: 'vmexits simulated on demand-zap', unit: 'exits/s', better: 'higher' },
      run: exitsPerSecond,
      repetitions: 3,
    },
  ];
}
