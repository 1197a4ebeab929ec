/**
 * The dirty-logging benchmark of the fast page fault series (seed 001): the guest keeps
 * writing its memory while the host repeatedly fetches and clears the dirty log. The memory
 * is faulted in first; logging then starts, and after each pass of vCPU 0 the host fetches
 * the log (`HostWork.pass` in hostWork.ts). Only the logged passes are what the seed timed; they lie
 * between the `dirty_log` events `enable` and `disable`.
 */
import type { Process } from '../guestOs.ts';
import { ACCESS_WRITE } from '../paging.ts';
import type { Vcpu, Vm } from '../vm.ts';
import { hostWorkOf, tdpOf } from './mmu.ts';

export interface DirtyLogParams {
  pages: number;
  iterations: number;
  shared: boolean;
}

/** Yield every this many page writes, so vCPUs interleave finely and host work runs on time. */
const PAGES_PER_STEP = 8;
/** A vCPU polling for the start of logging checks this often. */
const WAIT_NS = 200;

export function* dirtyLogProgram(vm: Vm, cpu: Vcpu, w: DirtyLogParams, base: number, process: (regions: Array<[number, number]>) => Process): Generator<void> {
  const start = base + (w.shared ? 0 : cpu.id * w.pages * 4096);
  const proc = process([[start, start + w.pages * 4096]]);
  vm.switchTo(proc);
  for (let i = 0; i < w.pages && !vm.stopped; i++) {
    vm.touch(start + i * 4096, ACCESS_WRITE);
    if (i % PAGES_PER_STEP === PAGES_PER_STEP - 1) yield;
  }
  yield;
  const tdp = tdpOf(vm);
  const host = hostWorkOf(vm);
  if (cpu.id === 0 && tdp) tdp.schedule(vm.emitter.t, () => tdp.enableDirtyLog());
  // Every vCPU waits (polling a flag) until the host has turned logging on.
  while (tdp && !tdp.logging && !vm.stopped) {
    vm.tick(WAIT_NS);
    yield;
  }
  const pageOf = (va: number) => proc.pages.get(Math.floor(va / 4096));
  for (let it = 0; it < w.iterations && !vm.stopped; it++) {
    for (let i = 0; i < w.pages; i++) {
      vm.touch(start + i * 4096, ACCESS_WRITE);
      host?.cursor.set(cpu.id, start + ((i + 1) % w.pages) * 4096);
      if (i % PAGES_PER_STEP === PAGES_PER_STEP - 1) yield;
    }
    vm.emitter.emit({ type: 'guest_os', action: 'dirty-log', pid: proc.pid, detail: `pass ${it}` });
    if (cpu.id === 0) host?.pass(it, pageOf);
    yield;
  }
  if (cpu.id === 0 && tdp) tdp.schedule(vm.emitter.t, () => tdp.disableDirtyLog());
}
