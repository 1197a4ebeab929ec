/** Test helpers: run a scenario input and collect its events. */
import { createVmInternal } from '../engine.ts';
import type { MmuEvent, EventOf, EventType } from '../events.ts';
import { parseScenario, type ScenarioInput, type Scenario } from '../scenario.ts';
import type { Vm } from '../vm.ts';
import { NestedTdp } from '../nested/nestedTdp.ts';
import { ShadowMmu } from '../shadow/mmu.ts';
import { XenPv } from '../xenpv/xenpv.ts';

export function parse(input: ScenarioInput): Scenario {
  const r = parseScenario(input);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

export function run(input: ScenarioInput, options: { audit?: boolean; maxEvents?: number } = {}): { events: MmuEvent[]; vm: Vm } {
  const events: MmuEvent[] = [];
  const vm = createVmInternal(parse(input), 0, { maxEvents: 500_000, ...options });
  while (vm.step((e) => events.push(e))) {
    /* run */
  }
  return { events, vm };
}

export function ofType<T extends EventType>(events: MmuEvent[], type: T): EventOf<T>[] {
  return events.filter((e) => e.type === type) as unknown as EventOf<T>[];
}

type Workload = ScenarioInput['vms'][number]['guest']['workload'];
type Guest = Partial<ScenarioInput['vms'][number]['guest']>;
type Mmu = ScenarioInput['vms'][number]['mmu'];

export function scenario(workload: Workload, guest: Guest = {}, mmu: Mmu = {}, extra: Partial<ScenarioInput['vms'][number]> = {}): ScenarioInput {
  return { name: 't', seed: 7, hardware: { profile: 'vtx-2007' }, vms: [{ vcpus: 1, memoryMiB: 64, guest: { paging: 'long4', ...guest, workload }, mmu, ...extra }] };
}

/** The design behind a VM's `Mmu`, for tests that look inside it (null if the VM runs another). */
export function shadowOf(vm: Vm): ShadowMmu | null {
  return vm.mmu instanceof ShadowMmu ? vm.mmu : null;
}
export function xenOf(vm: Vm): XenPv | null {
  return vm.mmu instanceof XenPv ? vm.mmu : null;
}
export function nestedOf(vm: Vm): NestedTdp | null {
  return vm.mmu instanceof NestedTdp ? vm.mmu : null;
}
export { tdpOf } from '../tdp/mmu.ts';
