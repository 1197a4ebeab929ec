/**
 * Workloads: what each vCPU's guest does, as a generator that yields after each guest
 * operation (so the scheduler can run the vCPU with the earliest clock next).
 */
import { ACCESS_FETCH, ACCESS_READ, ACCESS_WRITE, type AccessKind } from './paging.ts';
import type { Process } from './guestOs.ts';
import { value64Of, type ScriptStep, type Workload } from './scenario.ts';
import type { Vcpu, Vm } from './vm.ts';
import { dirtyLogProgram } from './tdp/dirtyLogWorkload.ts';

const USER_BASE = 0x10000000;
const ACCESS_OF: Record<'read' | 'write' | 'fetch', AccessKind> = { read: ACCESS_READ, write: ACCESS_WRITE, fetch: ACCESS_FETCH };

export function programFor(workload: Workload): (vm: Vm, cpu: Vcpu) => Iterator<void> {
  switch (workload.kind) {
    case 'demand-paging':
      return (vm, cpu) => demandPaging(vm, cpu, workload.pages);
    case 'fork-cow':
      return (vm, cpu) => forkCow(vm, cpu, workload.pages, workload.processes);
    case 'kbuild':
      return (vm, cpu) => kbuild(vm, cpu, workload.processes * workload.iterations, workload.pages);
    case 'context-switch':
      return (vm, cpu) => contextSwitch(vm, cpu, workload.processes, workload.pages, workload.iterations);
    case 'dirty-log':
      return (vm, cpu) => dirtyLogProgram(vm, cpu, workload, USER_BASE, (regions) => sharedProcess(vm, regions));
    case 'mmio':
      return (vm, cpu) => mmio(vm, cpu, workload.iterations, workload.memslotEvery);
    case 'script':
      return (vm, cpu) => script(vm, cpu, workload.steps);
  }
}

/** Threads of one process share an address space; created by whichever vCPU runs first. */
function sharedProcess(vm: Vm, regions: Array<[number, number]>): Process {
  const existing = vm.os.procs.get(1);
  if (existing) {
    existing.regions.push(...regions);
    return existing;
  }
  return vm.newProcess(regions);
}

function* demandPaging(vm: Vm, cpu: Vcpu, pages: number): Generator<void> {
  const base = USER_BASE + cpu.id * pages * 4096;
  vm.switchTo(sharedProcess(vm, [[base, base + pages * 4096]]));
  yield;
  for (let i = 0; i < pages; i++) {
    if (!vm.touch(base + i * 4096, ACCESS_WRITE)) return;
    for (let k = 0; k < 8; k++) vm.touch(base + i * 4096 + k * 64, k & 1 ? ACCESS_WRITE : ACCESS_READ);
    yield;
  }
}

/** Touch every page of a region: writes, then reads (which hit the TLB). */
function* touchAll(vm: Vm, base: number, pages: number, acc: AccessKind): Generator<void> {
  for (let i = 0; i < pages; i++) {
    if (!vm.touch(base + i * 4096, acc)) return;
    vm.touch(base + i * 4096 + 128, ACCESS_READ);
    yield;
  }
}

function* forkCow(vm: Vm, cpu: Vcpu, pages: number, processes: number): Generator<void> {
  const base = USER_BASE + cpu.id * 0x1000000;
  const parent = vm.newProcess([[base, base + pages * 4096]]);
  vm.switchTo(parent);
  yield* touchAll(vm, base, pages, ACCESS_WRITE);
  for (let n = 0; n < processes && !vm.stopped; n++) {
    const child = vm.fork(parent);
    yield;
    vm.switchTo(child);
    yield* touchAll(vm, base, pages, ACCESS_WRITE); // every write breaks COW
    vm.exitProcess(child, parent);
    yield* touchAll(vm, base, pages, ACCESS_WRITE); // the parent's own COW breaks
  }
}

/**
 * kbuild-like: a shell forks a short-lived process per compile; the child dirties a few
 * inherited pages (COW), execs (a fresh address space), demand-faults its working set,
 * re-reads it, and exits.
 */
function* kbuild(vm: Vm, cpu: Vcpu, processes: number, pages: number): Generator<void> {
  const base = USER_BASE + cpu.id * 0x1000000;
  const shellPages = Math.max(4, pages >> 1);
  const shell = vm.newProcess([[base, base + shellPages * 4096]]);
  vm.switchTo(shell);
  yield* touchAll(vm, base, shellPages, ACCESS_WRITE);
  for (let n = 0; n < processes && !vm.stopped; n++) {
    const child = vm.fork(shell);
    vm.switchTo(child);
    for (let i = 0; i < 2; i++) vm.touch(base + i * 4096, ACCESS_WRITE);
    yield;
    const image = vm.newProcess([[base, base + pages * 4096]]); // exec: a new address space
    vm.exitProcess(child, image);
    for (let i = 0; i < pages; i++) {
      const write = vm.rng.below(3) === 0;
      if (!vm.touch(base + i * 4096, write ? ACCESS_WRITE : ACCESS_READ)) break;
      for (let k = 0; k < 16; k++) vm.touch(base + vm.rng.below(i + 1) * 4096, ACCESS_READ);
      vm.tick(vm.cost.compilePerPageNs); // measured kbuild profile (core/costs.ts KBUILD_PROFILE)
      yield;
    }
    vm.exitProcess(image, shell);
    yield;
  }
}

function* contextSwitch(vm: Vm, cpu: Vcpu, processes: number, pages: number, iterations: number): Generator<void> {
  const base = USER_BASE + cpu.id * 0x1000000;
  const procs: Process[] = [];
  for (let n = 0; n < processes; n++) {
    const p = vm.newProcess([[base, base + pages * 4096]]);
    procs.push(p);
    vm.switchTo(p);
    yield* touchAll(vm, base, pages, ACCESS_WRITE);
  }
  for (let it = 0; it < iterations && !vm.stopped; it++) {
    vm.switchTo(procs[it % processes] as Process);
    for (let i = 0; i < pages; i++) vm.touch(base + i * 4096, ACCESS_READ);
    yield;
  }
}

/**
 * A driver polling an emulated device: the kernel maps the device's register page (the
 * first frame above RAM, where no memslot is) and reads and writes its registers; the host
 * changes its memslots every `memslotEvery` accesses (core/mmio.ts).
 */
function* mmio(vm: Vm, cpu: Vcpu, iterations: number, memslotEvery: number): Generator<void> {
  const p = vm.newProcess([]);
  vm.switchTo(p);
  const va = 0x7f000000;
  if (vm.os.map(p, va, vm.mem.frames * 4096, '4k', { pt: ['P', 'W'] })) vm.switchTo(p); // PAE: PDPTEs load on a CR3 write
  yield;
  for (let it = 0; it < iterations && !vm.stopped; it++) {
    if (cpu.id === 0 && memslotEvery > 0 && it > 0 && it % memslotEvery === 0) vm.changeMemslots();
    vm.deviceAccess(va + (it % 64) * 4, it & 1 ? ACCESS_WRITE : ACCESS_READ, 0);
    yield;
  }
}

/** The scripted guest of DESIGN.md: runs on vCPU 0; a #PF is recorded and the script goes on. */
function* script(vm: Vm, cpu: Vcpu, steps: readonly ScriptStep[]): Generator<void> {
  if (cpu.id !== 0) return;
  const procs = new Map<number, Process>();
  const processFor = (n: number): Process => {
    let p = procs.get(n);
    if (!p) {
      p = vm.os.createProcess(n);
      procs.set(n, p);
      vm.emitter.emit({ type: 'guest_os', action: 'create', pid: n });
    }
    return p;
  };
  vm.switchTo(processFor(0));
  yield;
  for (const step of steps) {
    if (vm.stopped) return;
    runStep(vm, cpu, step, procs, processFor);
    yield;
  }
}

function runStep(vm: Vm, cpu: Vcpu, step: ScriptStep, procs: Map<number, Process>, processFor: (n: number) => Process): void {
  const p = cpu.proc as Process;
  switch (step.op) {
    case 'map':
      if (vm.os.map(p, step.va, step.gpa, step.size, step.levels)) vm.switchTo(p); // PDPTEs load on a CR3 write
      return;
    case 'access': {
      const ok = vm.access(step.va, ACCESS_OF[step.access], step.cpl);
      const body = { type: 'guest_access' as const, va: step.va, access: step.access, cpl: step.cpl, result: ok ? 'ok' : vm.gp ? 'gp' : 'fault' };
      // a #GP (non-canonical address) has error code 0, a #PF its error code
      vm.emitter.emit(ok ? { ...body, gpa: vm.lastGpa } : { ...body, errorCode: vm.faultCode });
      return;
    }
    case 'invlpg':
      vm.invlpg(step.va);
      return;
    case 'cr3':
      vm.switchTo(processFor(step.process));
      return;
    case 'fork': {
      const child = vm.fork(p);
      procs.set(child.pid, child);
      return;
    }
    case 'exit': {
      procs.delete(p.pid);
      const next = [...procs.keys()].sort((a, b) => a - b)[0];
      vm.exitProcess(p, processFor(next ?? 0));
      return;
    }
    case 'setControls':
      vm.setControls({ wp: step.cr0?.wp, pse: step.cr4?.pse, smep: step.cr4?.smep, smap: step.cr4?.smap, nxe: step.efer?.nx });
      return;
    case 'pteWrite':
      vm.pteWrite(step.gpa, step.bytes, value64Of(step.value), step.level);
      return;
    case 'hostInvalidate': {
      const gfn = Math.floor(step.gpa / 4096);
      vm.emitter.emit({ type: 'guest_os', action: 'mmu-notifier', pid: p.pid, detail: `${step.reason} gfn 0x${gfn.toString(16)}` });
      vm.mmu.hostInvalidate?.(gfn, step.reason === 'migrate');
      return;
    }
    case 'dirtyLog':
      // Under TDP the host fetches and clears the log (the first fetch turns logging on).
      if (!vm.mmu.dirtyLog?.()) vm.emitter.emit({ type: 'guest_os', action: 'dirty-log', pid: p.pid, detail: 'fetch and clear' });
      return;
  }
}
