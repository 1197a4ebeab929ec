/**
 * Where an imported record's events go: the lanes of the session (one per vCPU of each VM,
 * plus a VM's host lane) and the thread → lane map the layout gives (layout.ts), with what a
 * lane holds open while its records arrive (an exit until its kvm_entry, a guest walk, a
 * requested spte).
 */
import type { MmuEvent } from '../../core/events.ts';
import type { ImportRecord } from './predecode.ts';
import { isHostThread, threadKey, type Layout } from './layout.ts';
import type { ShadowTable } from './shadowTables.ts';
import { OpenWalk } from './walks.ts';

export interface PendingExit {
  t: number;
  reason: string;
  handling: string;
  rank: number;
  va?: number;
  gpa?: number;
  /** The exit is for a guest exception (#PF intercepted): a page fault's address is a guest VA. */
  exception: boolean;
  /** The exit is a TDP fault: a page fault's address is a GPA. */
  tdp: boolean;
}

export interface LaneState {
  vm: number;
  vcpu: number;
  lastT: number;
  exit?: PendingExit;
  buf: MmuEvent[];
  lastFaultVa?: number;
  /** The lane's guest page walk, open while its elements and A/D bits are still arriving (walks.ts). */
  walk: OpenWalk;
  /** The guest's top page table (gpa), as the last walk or CR3 write showed it. */
  root?: number;
  /** Pages get_page created on this vCPU, by level, waiting for their first spte (shadowTables.ts). */
  pendingSp?: Map<number, ShadowTable>;
  /** A kvm_mmu_spte_requested whose kvm_mmu_set_spte has not come yet. */
  requested?: { r: ImportRecord; t: number; gfn: number; level: number };
}

export interface ThreadState {
  row: LaneState[];
  lane: number;
  vm: number;
  /** A host kernel thread: moves to the host lane of the VM its events act on. */
  host: boolean;
}

/** The lanes of a layout, and each thread's place among them. */
export class ThreadLanes {
  readonly lanes: LaneState[][];
  /** Per thread: its VM's lanes and the lane its vCPU-less events go to. */
  private readonly threadStates = new Map<string, ThreadState>();
  /** The same by pid (the key of every record with a pid): no key string per record. */
  private readonly pidStates = new Map<number, ThreadState>();
  /** The last record's pid (>= 0; -2: none yet) and its thread: the importer reads them before it calls threadState. */
  lastPid = -2;
  lastState: ThreadState | undefined;

  constructor(private readonly layout: Layout) {
    this.lanes = layout.vms.map((vm) => Array.from({ length: vm.vcpus }, (_, vcpu) => ({ vm: vm.vm, vcpu, lastT: 0, buf: [], walk: new OpenWalk() })));
  }

  threadState(r: ImportRecord): ThreadState {
    if (r.pid >= 0) {
      if (r.pid === this.lastPid) return this.lastState!;
      const st = this.pidStates.get(r.pid);
      if (st) {
        this.lastPid = r.pid;
        this.lastState = st;
        return st;
      }
    }
    const key = threadKey(r);
    let st = this.threadStates.get(key);
    if (!st) {
      // a thread the layout has not seen: a late host thread goes to VM 0's host lane, any
      // other (a live capture's late thread) to the last lane
      const last = this.lanes.length - 1;
      const hl = this.layout.vms[0]?.hostLane;
      const map =
        this.layout.byThread.get(key) ??
        this.layout.byThread.get('overflow') ??
        (hl !== undefined && isHostThread(r.comm) ? { vm: 0, lane: hl, host: true } : { vm: last, lane: this.lanes[last]!.length - 1, host: false });
      st = { row: this.lanes[map.vm]!, lane: map.lane, vm: map.vm, host: map.host === true };
      this.threadStates.set(key, st);
    }
    if (r.pid >= 0) {
      this.lastPid = r.pid;
      this.lastState = st;
      this.pidStates.set(r.pid, st);
    }
    return st;
  }

  /** A host thread acts on VM `vm`: its events (these and later ones) go to that VM's host lane. */
  moveHost(st: ThreadState, vm: number): void {
    const hl = this.layout.vms[vm]?.hostLane;
    if (st.host && vm !== st.vm && hl !== undefined) {
      st.vm = vm;
      st.row = this.lanes[vm]!;
      st.lane = hl;
    }
  }
}
