/**
 * Which VM and vCPU lane each thread of a trace goes to: the scan of the records (threads,
 * their vCPU ids, the first timestamp, the ISA) and the layout resolved from it (threads
 * grouped into VMs). The session header is written from the layout.
 */
import { CAPS } from '../format.ts';
import { ReasonCache, type Isa } from './reasons.ts';
import type { ImportRecord, Ts } from './predecode.ts';

export interface ImportedThread {
  pid: number;
  comm: string;
  tgid?: number;
  /** The vCPU lane its events go to when they carry no vCPU id. */
  vcpu: number;
  /** How that lane was chosen: a `vcpu N` field, the comm (`CPU 3/KVM`), a lane of its own, or the VM's host lane (a host kernel thread). */
  by: 'field' | 'comm' | 'thread' | 'host';
}

export interface ImportedVm {
  vm: number;
  /** What grouped its threads: `tgid:N`, `comm:<name with digits as #>`, or `pid:N`. */
  key: string;
  /** Lanes, the host lane included. */
  vcpus: number;
  /**
   * The lane of the host kernel threads' events that act on this VM (or that no VM claims, in
   * VM 0): the last lane. Absent when the trace has no host thread.
   */
  hostLane?: number;
  threads: ImportedThread[];
}

// ---------------------------------------------------------------------------------------------
// Pass 1: threads, vCPU ids, the first timestamp, the ISA.

interface ScanThread {
  key: string;
  pid: number;
  comm: string;
  tgid?: number;
  firstLine: number;
  ids: number[];
}

const MAX_ISA_VOTES = 4096;

const MAX_THREADS = 1 << 16;
const MAX_IDS_PER_THREAD = 64;

export class Scan {
  readonly threads = new Map<string, ScanThread>();
  /** The earliest timestamp so far (minSec is NaN before the first). */
  private minSec = NaN;
  private minNs = 0;
  /** Bumped whenever something the layout or the time origin depends on changes (see importTrace). */
  version = 0;
  vmxVotes = 0;
  /** kvm_exit records seen (a trace without any says so: outcome.ts NO_EXITS). */
  exitRecords = 0;
  /**
   * Every VM gets a host lane (resolveLayout): the trace has MMU events or a host thread. A
   * host thread that shows up late (the teardown's, at the end) then changes no layout, so a
   * one-pass import of such a trace holds.
   */
  hostLanes = false;
  svmVotes = 0;
  private readonly reasons = new ReasonCache();
  private lastPid = -1;
  private lastThread: ScanThread | undefined;
  /** Threads by pid (those keyed by pid whose comm is known): no key string per record. */
  private readonly byPid = new Map<number, ScanThread>();

  get t0(): Ts | undefined {
    return this.minSec === this.minSec ? { sec: this.minSec, ns: this.minNs } : undefined;
  }

  record(r: ImportRecord): void {
    const sec = r.sec;
    // (NaN: no timestamp; every comparison with it is false)
    if (sec < this.minSec || (sec === this.minSec && r.ns < this.minNs) || (this.minSec !== this.minSec && sec === sec)) {
      this.minSec = sec;
      this.minNs = r.ns;
      this.version++;
    }
    const th = r.pid >= 0 && r.pid === this.lastPid && this.lastThread!.comm !== '<...>' ? this.lastThread! : this.thread(r);
    const ev = r.event;
    if (!this.hostLanes && (ev.charCodeAt(4) === 109 /* kvm_mmu_, kvm_mmio */ ? ev.startsWith('kvm_mmu_') : ev === 'fast_page_fault' || ev === 'kvm_tdp_mmu_spte_changed')) {
      this.hostLanes = true;
      this.version++;
    }
    if (ev === 'kvm_entry' || ev === 'kvm_exit' || ev === 'fast_page_fault' || ev === 'kvm_page_fault') {
      const id = r.scanVcpu;
      if (id < CAPS.maxVcpusPerVm && th.ids.length < MAX_IDS_PER_THREAD && !th.ids.includes(id)) {
        th.ids.push(id);
        this.version++;
      }
      if (ev === 'kvm_exit') this.exitRecords++;
      // a few thousand exits tell the ISA; decoding every one would only cost time
      if (ev === 'kvm_exit' && this.vmxVotes + this.svmVotes < MAX_ISA_VOTES) {
        if (r.reason) {
          const isa = this.reasons.get(r.reason).isa;
          if (isa === 'vmx') this.vmxVotes++;
          else if (isa === 'svm') this.svmVotes++;
        }
      }
    }
  }

  thread(r: ImportRecord): ScanThread {
    if (r.pid >= 0) {
      let th = this.byPid.get(r.pid);
      if (!th || th.comm === '<...>') {
        th = this.lookup(r);
        if (th.key !== 'overflow') this.byPid.set(r.pid, th);
      }
      this.lastPid = r.pid;
      this.lastThread = th;
      return th;
    }
    return this.lookup(r);
  }

  private lookup(r: ImportRecord): ScanThread {
    const key = threadKey(r);
    let th = this.threads.get(key);
    if (!th) {
      if (this.threads.size >= MAX_THREADS) return this.threads.get('overflow') ?? this.add('overflow', { ...r, pid: -2, comm: '(more threads)' });
      th = this.add(key, r);
    } else if (th.comm === '<...>' && r.comm && r.comm !== '<...>') {
      th.comm = r.comm;
      this.version++;
    }
    return th;
  }

  private add(key: string, r: ImportRecord): ScanThread {
    const th: ScanThread = { key, pid: r.pid, comm: r.comm, firstLine: r.lineNo, ids: [] };
    if (r.tgid !== undefined) th.tgid = r.tgid;
    this.threads.set(key, th);
    // a host thread goes to a host lane the layout already has (see hostLanes)
    if (!(this.hostLanes && isHostThread(r.comm))) this.version++;
    if (isHostThread(r.comm)) this.hostLanes = true;
    return th;
  }

  get isa(): Isa | undefined {
    if (this.svmVotes > this.vmxVotes) return 'svm';
    if (this.vmxVotes > 0) return 'vmx';
    return undefined;
  }
}

export function threadKey(r: ImportRecord): string {
  return r.pid >= 0 ? String(r.pid) : 'comm:' + r.comm;
}

/** The vCPU id a thread name carries: QEMU's `CPU 3/KVM`, Firecracker's `fc_vcpu 1`, `VCPU-0`. */
export function vcpuFromComm(comm: string): number | undefined {
  const m = /^CPU (\d+)\/KVM$/.exec(comm) ?? /vcpu[\s_-]?(\d+)$/i.exec(comm);
  if (!m) return undefined;
  const n = Number(m[1]);
  return n < CAPS.maxVcpusPerVm ? n : undefined;
}

export interface ThreadMap {
  vm: number;
  lane: number;
  vcpus: number;
  /** A host kernel thread: its events go to the host lane of the VM they act on. */
  host?: boolean;
}

/**
 * Host kernel threads that emit kvm events but are no vCPU: KVM's NX huge page recovery
 * (`kvm-nx-lpage-recovery`, shown as `kvm-nx-lpage-re`; it also runs the VM's teardown zaps),
 * DAMON's `kdamond.N` (kvm_age_hva), workqueues, the PIT, and the like.
 */
const HOST_COMM = /^(?:kvm-nx-lpage-re|kvm-pit\/|kvm-irqfd|kdamond|kworker\/|ksoftirqd\/|kthreadd$|khugepaged$|kcompactd|kswapd|migration\/|rcu_|irq\/|cpuhp\/|swapper|<idle>$)/;

export function isHostThread(comm: string): boolean {
  return HOST_COMM.test(comm);
}

export interface Layout {
  vms: ImportedVm[];
  byThread: Map<string, ThreadMap>;
}

/** Group threads into VMs (by tgid, else by comm, splitting where two threads claim one vCPU id). */
export function resolveLayout(scan: Scan): Layout {
  const groups = new Map<string, ScanThread[]>();
  const hosts: ScanThread[] = [];
  for (const th of scan.threads.values()) {
    if (isHostThread(th.comm)) {
      hosts.push(th);
      continue;
    }
    const g =
      th.tgid !== undefined ? `tgid:${th.tgid}` : !th.comm || th.comm === '<...>' ? `pid:${th.pid}` : `comm:${th.comm.replace(/\d+/g, '#')}`;
    let list = groups.get(g);
    if (!list) groups.set(g, (list = []));
    list.push(th);
  }
  interface Instance {
    key: string;
    ids: Set<number>;
    threads: { th: ScanThread; ids: number[]; by: 'field' | 'comm' | 'thread' }[];
    firstLine: number;
  }
  const instances: Instance[] = [];
  for (const [key, list] of groups) {
    list.sort((a, b) => a.pid - b.pid);
    let cur: Instance | undefined;
    for (const th of list) {
      let ids = th.ids;
      let by: 'field' | 'comm' | 'thread' = 'field';
      if (ids.length === 0) {
        const c = vcpuFromComm(th.comm);
        ids = c === undefined ? [] : [c];
        by = c === undefined ? 'thread' : 'comm';
      }
      if (!cur || ids.some((id) => cur!.ids.has(id))) {
        cur = { key, ids: new Set(), threads: [], firstLine: th.firstLine };
        instances.push(cur);
      }
      for (const id of ids) cur.ids.add(id);
      cur.threads.push({ th, ids, by });
      cur.firstLine = Math.min(cur.firstLine, th.firstLine);
    }
  }
  instances.sort((a, b) => a.firstLine - b.firstLine);
  const vms: ImportedVm[] = [];
  const byThread = new Map<string, ThreadMap>();
  for (const inst of instances) {
    const vmIndex = Math.min(vms.length, CAPS.maxVms - 1);
    let vm = vms[vmIndex];
    if (!vm) {
      vm = { vm: vmIndex, key: inst.key, vcpus: 0, threads: [] };
      vms.push(vm);
    }
    let next = Math.max(vm.vcpus, inst.ids.size ? Math.max(...inst.ids) + 1 : 0);
    const maps: [ScanThread, number, 'field' | 'comm' | 'thread'][] = [];
    for (const { th, ids, by } of inst.threads) {
      let lane = ids[0];
      if (lane === undefined) lane = next < CAPS.maxVcpusPerVm ? next++ : CAPS.maxVcpusPerVm - 1;
      maps.push([th, lane, by]);
    }
    vm.vcpus = Math.max(1, next);
    for (const [th, lane, by] of maps) {
      const t: ImportedThread = { pid: th.pid, comm: th.comm, vcpu: lane, by };
      if (th.tgid !== undefined) t.tgid = th.tgid;
      if (vm.threads.length < 256) vm.threads.push(t);
      byThread.set(th.key, { vm: vm.vm, lane, vcpus: 0 });
    }
  }
  if (hosts.length || scan.hostLanes) addHostLanes(vms, byThread, hosts);
  for (const m of byThread.values()) m.vcpus = vms[m.vm]!.vcpus;
  return { vms, byThread };
}

/** A host lane in every VM (a VM of its own when the trace has no vCPU thread); each host thread starts in VM 0's or its process's VM. */
function addHostLanes(vms: ImportedVm[], byThread: Map<string, ThreadMap>, hosts: ScanThread[]): void {
  if (!vms.length) vms.push({ vm: 0, key: 'host', vcpus: 0, threads: [] });
  for (const vm of vms) {
    vm.hostLane = Math.min(vm.vcpus, CAPS.maxVcpusPerVm - 1);
    vm.vcpus = vm.hostLane + 1;
  }
  hosts.sort((a, b) => a.firstLine - b.firstLine);
  for (const th of hosts) {
    const vm = (th.tgid !== undefined && vms.find((v) => v.key === `tgid:${th.tgid}`)) || vms[0]!;
    const t: ImportedThread = { pid: th.pid, comm: th.comm, vcpu: vm.hostLane!, by: 'host' };
    if (th.tgid !== undefined) t.tgid = th.tgid;
    if (vm.threads.length < 256) vm.threads.push(t);
    byThread.set(th.key, { vm: vm.vm, lane: vm.hostLane!, vcpus: 0, host: true });
  }
}

/**
 * The layout the header of a one-pass import lists: the whole scan's (with the threads that
 * came late to lanes the speculative layout had, the host threads), where it has the same lanes.
 */
export function finalLayout(scan: Scan, speculative: Layout): Layout {
  const whole = resolveLayout(scan);
  const same = whole.vms.length === speculative.vms.length && whole.vms.every((v, i) => v.vcpus === speculative.vms[i]!.vcpus);
  return same ? { vms: whole.vms, byThread: speculative.byThread } : speculative;
}
