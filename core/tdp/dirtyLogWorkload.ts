/**
 * The dirty-logging benchmark of the fast page fault series (seed 001): the guest keeps
 * writing its memory while the host repeatedly fetches and clears the dirty log. The memory
 * is faulted in first; logging then starts. Passes are in lock step, as in KVM's
 * dirty_log_perf_test: once every vCPU has finished pass i the host fetches the log
 * (`HostWork.pass` in hostWork.ts), and no vCPU starts pass i + 1 before that fetch, so every
 * vCPU takes a logged write fault on every page of every pass. Only the logged passes are
 * what the seed timed; they lie between the `dirty_log` events `enable` and `disable`.
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
  // The last vCPU to finish faulting its memory in has the host turn logging on.
  host?.passDone(cpu.id, -1, () => undefined);
  // Every vCPU waits (polling a flag) until the host has turned logging on.
  while (tdp && !tdp.logging && !vm.stopped) {
    vm.tick(WAIT_NS);
    yield;
  }
  const pageOf = (va: number) => proc.pages.get(Math.floor(va / 4096));
  for (let it = 0; it < w.iterations && !vm.stopped; it++) {
    // Pass `it` starts at page `it`, so the page the host aims at after a pass (the first one
    // the next pass writes, `cursor`) is a different page each time.
    for (let i = 0; i < w.pages; i++) {
      const page = (it + i) % w.pages;
      vm.touch(start + page * 4096, ACCESS_WRITE);
      host?.cursor.set(cpu.id, start + (i + 1 < w.pages ? (page + 1) % w.pages : (it + 1) % w.pages) * 4096);
      if (i % PAGES_PER_STEP === PAGES_PER_STEP - 1) yield;
    }
    vm.emitter.emit({ type: 'guest_os', action: 'dirty-log', pid: proc.pid, detail: `pass ${it}` });
    if (host) {
      host.passDone(cpu.id, it, pageOf);
      // Wait (polling) for the host's fetch of this pass before writing again.
      while (host.fetchedPasses <= it && !vm.stopped) {
        vm.tick(WAIT_NS);
        yield;
      }
    }
    yield;
  }
  if (cpu.id === 0 && tdp) tdp.schedule(vm.emitter.t, () => tdp.disableDirtyLog());
}
