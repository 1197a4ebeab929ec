/**
 * The engine's entry points: a VmRunner per VM, and a helper that runs a whole scenario.
 * Deterministic: the same scenario and seed give the same events, byte for byte.
 */
import type { EngineOptions, VmRunner } from './engineApi.ts';
import type { EventSink } from './events.ts';
import type { Scenario } from './scenario.ts';
import { Vm } from './vm.ts';
import { programFor } from './workloads.ts';

export type { EngineOptions, VmRunner } from './engineApi.ts';

/** A runner for VM `vmIndex` of a parsed scenario. */
export function createVm(scenario: Scenario, vmIndex: number, options: EngineOptions = {}): VmRunner {
  return createVmInternal(scenario, vmIndex, options);
}

/** The same, with the concrete type (for tests and the auditor inside core/). */
export function createVmInternal(scenario: Scenario, vmIndex: number, options: EngineOptions = {}): Vm {
  const vm = new Vm(scenario, vmIndex, options);
  const config = scenario.vms[vmIndex];
  if (!config) throw new Error(`scenario has no vms[${vmIndex}]`);
  vm.setPrograms(programFor(config.guest.workload));
  return vm;
}

/** Run every VM of a scenario to completion, VM 0 first. */
export function runScenario(scenario: Scenario, sink: EventSink, options: EngineOptions = {}): void {
  for (let i = 0; i < scenario.vms.length; i++) {
    const vm = createVm(scenario, i, options);
    while (vm.step(sink)) {
      /* run to completion */
    }
  }
}
