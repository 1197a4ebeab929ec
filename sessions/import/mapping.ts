/**
 * Records → the engine's typed events (core/events.ts): the one mapping from a trace's
 * events to the lab's, whatever the records came from (trace text, or decoded binary
 * records; see records.ts). Exits are held open until their kvm_entry so that the events of
 * their handling follow them and the handling they show names the exit's.
 */
import type { MmuEvent } from '../../core/events.ts';
import type { SessionWriter } from '../writer.ts';
import { decodeCr, decodeFastPageFault, decodeInjException, decodePagetableWalk, decodePagingElementHex, decodeSetSpte, decodeShadowPage, decodeTdpSpteChanged, decodeWalkerError } from './decode.ts';
import {
  failedToParseFields,
  fieldsCr,
  fieldsFastPageFault,
  fieldsGpa,
  fieldsInjException,
  fieldsPagetableWalk,
  fieldHex,
  num,
  fieldsSetSpte,
  fieldsShadowPage,
  fieldsTdpSpteChanged,
  fieldsText,
  fieldsWalkerError,
  type Fields,
} from './fields.ts';
import { ReasonCache, type Isa } from './reasons.ts';
import { DECODED, FIXED, SPURIOUS, type ImportRecord, type Ts } from './predecode.ts';
import { isHostThread, threadKey, type Layout } from './layout.ts';
import { bit4FromPlugin, bit4FromWord, decodeRoleWord, gpteBytes, type Bit4 } from './role.ts';
import { VmTables, type ShadowTable } from './shadowTables.ts';
import { GuestEntries, OpenWalk, walkEvents } from './walks.ts';

interface PendingExit {
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

interface LaneState {
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

interface ThreadState {
  row: LaneState[];
  lane: number;
  vm: number;
  /** A host kernel thread: moves to the host lane of the VM its events act on. */
  host: boolean;
}

/** A shadow page as an event names it (any of the three forms), its role words resolved. */
interface PageInfo {
  gfn?: number;
  level: number;
  quadrant: number;
  role: string;
  /** The role words used to match a page: without the entry size (learned late) and `invalid`. */
  match: string;
  root: number;
  created?: boolean;
}

const MAX_BUFFERED = 4096;
const MAX_RAW_TEXT = 4096;

const EXCEPTION_REASONS = new Set(['EXCEPTION_NMI', 'excp_pf', 'excp_gp', 'excp_db', 'excp_ud']);
const TDP_REASONS = new Set(['EPT_VIOLATION', 'EPT_MISCONFIG', 'npf']);
const REASON_HANDLING: Record<string, string> = {
  EXTERNAL_INTERRUPT: 'interrupt',
  intr: 'interrupt',
  nmi: 'interrupt',
  VMCALL: 'hypercall',
  vmmcall: 'hypercall',
  INVLPG: 'invlpg',
  invlpg: 'invlpg',
  EPT_MISCONFIG: 'mmio-emulate',
};

export class Importer {
  private readonly lanes: LaneState[][];
  private readonly reasons = new ReasonCache();
  /** Per thread: its VM's lanes and the lane its vCPU-less events go to. */
  private readonly threadStates = new Map<string, ThreadState>();
  /** The same by pid (the key of every record with a pid): no key string per record. */
  private readonly pidStates = new Map<number, ThreadState>();
  private lastPid = -1;
  private lastState: ThreadState | undefined;
  /** Per VM: its shadow pages, the guest entries its walks showed. */
  private readonly tables: VmTables[];
  private readonly guest: GuestEntries[];
  /** What bit 4 of a role word means in this trace (role.ts), once a page showed it. */
  private bit4: Bit4 | undefined;
  events = 0;
  exits = 0;
  raw = 0;
  clampedTimes = 0;
  lateTimes = 0;
  unmatchedExits = 0;

  constructor(
    private readonly writer: SessionWriter,
    private readonly layout: Layout,
    private readonly t0: Ts,
    private readonly isa: Isa | undefined,
  ) {
    this.lanes = layout.vms.map((vm) => Array.from({ length: vm.vcpus }, (_, vcpu) => ({ vm: vm.vm, vcpu, lastT: 0, buf: [], walk: new OpenWalk() })));
    this.tables = layout.vms.map(() => new VmTables());
    this.guest = layout.vms.map(() => new GuestEntries());
  }

  private relNs(sec: number, ns: number): number {
    const v = Math.max(0, (sec - this.t0.sec) * 1e9 + (ns - this.t0.ns));
    return Math.min(Math.round(v), Number.MAX_SAFE_INTEGER);
  }

  private threadState(r: ImportRecord): ThreadState {
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

  /** The lane of a record: its own vCPU id when it has one (and the thread keeps it), else the thread's. */
  private lane(r: ImportRecord, vcpu: number): LaneState {
    const st = this.threadState(r);
    let lane: LaneState;
    // (NaN: the record has no vCPU id)
    if (vcpu < st.row.length && !st.host) {
      st.lane = vcpu;
      lane = st.row[vcpu]!;
    } else lane = st.row[st.lane]!;
    // a walk ends at the first record that is not one of its own; a requested spte at the first that does not set it
    if (lane.walk.open) this.closeWalk(lane);
    if (lane.requested && r.event !== 'kvm_mmu_set_spte') this.flushRequested(lane);
    return lane;
  }

  /** A host thread's lane in the VM `vm` (its events act on that VM); later events of the thread go there too. */
  private hostLane(r: ImportRecord, vm: number): LaneState {
    const st = this.threadState(r);
    const hl = this.layout.vms[vm]?.hostLane;
    if (st.host && vm !== st.vm && hl !== undefined) {
      st.vm = vm;
      st.row = this.lanes[vm]!;
      st.lane = hl;
    }
    return this.lane(r, NaN);
  }

  private time(lane: LaneState, r: ImportRecord): number {
    const has = r.sec === r.sec;
    let t = has ? this.relNs(r.sec, r.ns) : lane.lastT;
    if (t === Number.MAX_SAFE_INTEGER && has) this.lateTimes++;
    if (t < lane.lastT) {
      this.clampedTimes++;
      t = lane.lastT;
    }
    lane.lastT = t;
    return t;
  }

  private put(lane: LaneState, e: MmuEvent): void {
    if (lane.exit) {
      lane.buf.push(e);
      if (lane.buf.length >= MAX_BUFFERED) {
        this.unmatchedExits++;
        this.closeExit(lane, lane.lastT);
      }
      return;
    }
    this.writer.append(e);
    this.events++;
  }

  private closeExit(lane: LaneState, end: number): void {
    const x = lane.exit;
    if (!x) return;
    lane.exit = undefined;
    const e: MmuEvent = { t: x.t, vm: lane.vm, vcpu: lane.vcpu, type: 'vmexit', reason: x.reason, handling: x.handling, duration: Math.max(0, end - x.t) };
    if (x.va !== undefined) e.va = x.va;
    if (x.gpa !== undefined) e.gpa = x.gpa;
    this.writer.append(e);
    this.events++;
    for (const b of lane.buf) this.writer.append(b);
    this.events += lane.buf.length;
    lane.buf = [];
  }

  private handling(lane: LaneState, handling: string, rank: number): void {
    const x = lane.exit;
    if (x && rank > x.rank) {
      x.handling = handling;
      x.rank = rank;
    }
  }

  private rawEvent(lane: LaneState, t: number, r: ImportRecord): void {
    const name = r.system && r.system !== 'kvm' && r.system !== 'kvmmmu' ? `${r.system}:${r.event}` : r.event;
    const body = r.body === '' && r.fields ? fieldsText(r.fields) : r.body;
    const text = body.length > MAX_RAW_TEXT ? body.slice(0, MAX_RAW_TEXT) : body;
    this.raw++;
    this.put(lane, { t, vm: lane.vm, vcpu: lane.vcpu, type: 'raw', name, text });
  }

  private closeWalk(lane: LaneState): void {
    lane.walk.open = false;
    const out = WALK_OUT;
    const n = walkEvents(lane.walk, lane, this.guest[lane.vm]!, out);
    for (let i = 0; i < n; i++) {
      const e = out[i]!;
      if (e.type === 'raw') this.raw++;
      this.put(lane, e);
    }
  }

  private flushRequested(lane: LaneState): void {
    const q = lane.requested!;
    lane.requested = undefined;
    this.rawEvent(lane, q.t, q.r);
  }

  record(r: ImportRecord): void {
    const body = r.body;
    // named fields: a decoded binary record's, or a `[FAILED TO PARSE] name=value ...` payload's
    const f = r.fields ?? (body.charCodeAt(0) === 91 ? failedToParseFields(body) : undefined);
    switch (r.event) {
      case 'kvm_exit': {
        const lane = this.lane(r, r.vcpu);
        const t = this.time(lane, r);
        if (!r.reason) return this.rawEvent(lane, t, r);
        if (lane.exit) {
          this.unmatchedExits++;
          this.closeExit(lane, lane.buf.length ? lane.buf[lane.buf.length - 1]!.t : t);
        }
        const reason = this.reasons.get(r.reason, this.isa);
        const x: PendingExit = {
          t,
          reason: reason.name,
          handling: 'other',
          rank: 0,
          exception: EXCEPTION_REASONS.has(reason.name),
          tdp: TDP_REASONS.has(reason.name),
        };
        const h = REASON_HANDLING[reason.name];
        if (h) {
          x.handling = h;
          x.rank = 1;
        }
        if (reason.failed) {
          x.handling = 'failed-vmentry';
          x.rank = 9;
        }
        if (reason.name === 'npf' && r.a === r.a) x.gpa = r.a;
        if (reason.name === 'excp_pf' && r.a === r.a) x.va = r.a;
        lane.exit = x;
        this.exits++;
        return;
      }
      case 'kvm_entry': {
        const lane = this.lane(r, r.vcpu);
        const t = this.time(lane, r);
        if (r.vcpu !== r.vcpu) return this.rawEvent(lane, t, r);
        this.closeExit(lane, t);
        return;
      }
      // (a switch compares in order: the walk's events, most of a shadow-paging trace, come early)
      case 'kvm_mmu_paging_element':
      case 'kvm_mmu_set_accessed_bit':
      case 'kvm_mmu_set_dirty_bit':
      case 'kvm_mmu_walker_error':
        return this.walkPart(r, f);
      case 'kvm_mmu_pagetable_walk': {
        const d = f ? fieldsPagetableWalk(f) : decodePagetableWalk(body);
        const lane = this.lane(r, NaN);
        const t = this.time(lane, r);
        if (!d) return this.rawEvent(lane, t, r);
        lane.lastFaultVa = d.addr;
        lane.walk.start(t, d.addr, d.pferr);
        return;
      }
      case 'kvm_page_fault': {
        const lane = this.lane(r, r.vcpu);
        const t = this.time(lane, r);
        if (r.flags & DECODED) {
          const x = lane.exit;
          if (x && x.tdp) {
            x.gpa ??= r.a;
            this.handling(lane, 'map-gfn', 1);
          } else {
            lane.lastFaultVa = r.a;
            if (x) {
              x.va ??= r.a;
              this.handling(lane, 'map-gfn', 1);
            }
          }
        }
        return this.rawEvent(lane, t, r);
      }
      case 'kvm_inj_exception': {
        const d = f ? fieldsInjException(f) : decodeInjException(body);
        const lane = this.lane(r, NaN);
        const t = this.time(lane, r);
        // a #PF whose address the trace told (the walk that failed, the fault): never an invented one
        if (d && d.vector === 'PF' && lane.lastFaultVa !== undefined) {
          this.handling(lane, 'inject-guest-pf', 7);
          this.put(lane, { t, vm: lane.vm, vcpu: lane.vcpu, type: 'guest_fault', va: lane.lastFaultVa, errorCode: d.errorCode ?? 0 });
          return;
        }
        return this.rawEvent(lane, t, r);
      }
      case 'fast_page_fault': {
        const lane = this.lane(r, r.vcpu);
        const t = this.time(lane, r);
        const d = f ? fieldsFastPageFault(f) : decodeFastPageFault(body);
        if (r.flags & DECODED) {
          if (r.flags & SPURIOUS) this.handling(lane, 'spurious', 6);
          else if (r.flags & FIXED) this.handling(lane, 'fast-pf', 6);
        }
        if (!d) return this.rawEvent(lane, t, r);
        const result = d.spurious ? 'spurious' : d.fixed ? 'fixed' : 'retry';
        this.put(lane, { t, vm: lane.vm, vcpu: lane.vcpu, type: 'fast_page_fault', va: d.gva, errorCode: d.errorCode, old: d.old, new: d.new, result });
        return;
      }
      case 'kvm_tdp_mmu_spte_changed': {
        const d = f ? fieldsTdpSpteChanged(f) : decodeTdpSpteChanged(body);
        const lane = this.lane(r, NaN);
        const t = this.time(lane, r);
        if (!d) return this.rawEvent(lane, t, r);
        const zap = d.new === 0n || d.new === 0x5a0n;
        this.handling(lane, zap ? 'zap-shadow-page' : 'fill-spte', zap ? 3 : 4);
        this.put(lane, spteWrite(lane, t, d.level, d.gfn, d.old, d.new));
        return;
      }
      case 'kvm_mmu_set_spte':
        return this.setSpte(r, f);
      case 'kvm_mmu_spte_requested': {
        const lane = this.lane(r, NaN);
        const t = this.time(lane, r);
        this.handling(lane, 'fill-spte', 4);
        const gfn = f ? fieldNum(f, 'gfn') : /^gfn ([0-9a-fA-F]+) pfn [0-9a-fA-F]+ level (\d+)/.exec(body);
        const level = f ? fieldNum(f, 'level') : undefined;
        if (gfn === undefined || gfn === null) return this.rawEvent(lane, t, r);
        // folded into the spte_write of the kvm_mmu_set_spte that follows for the same gfn and level
        // (a copy: the caller may reuse the record object for the next one)
        const held = { ...r };
        lane.requested = typeof gfn === 'number' ? { r: held, t, gfn, level: level ?? 0 } : { r: held, t, gfn: parseInt(gfn[1]!, 16), level: Number(gfn[2]) };
        return;
      }
      case 'kvm_mmu_get_page':
      case 'kvm_mmu_prepare_zap_page':
      case 'kvm_mmu_zap_page':
      case 'kvm_mmu_sync_page':
      case 'kvm_mmu_unsync_page':
        return this.shadowPage(r, f);
      case 'kvm_mmio':
      case 'vcpu_match_mmio': {
        const lane = this.lane(r, NaN);
        const t = this.time(lane, r);
        this.handling(lane, 'mmio-emulate', 5);
        return this.rawEvent(lane, t, r);
      }
      case 'kvm_hypercall': {
        const lane = this.lane(r, NaN);
        const t = this.time(lane, r);
        this.handling(lane, 'hypercall', 5);
        return this.rawEvent(lane, t, r);
      }
      case 'kvm_cr': {
        const lane = this.lane(r, NaN);
        const t = this.time(lane, r);
        const d = f ? fieldsCr(f) : decodeCr(body);
        if (d && d.write && d.cr === 3) {
          this.handling(lane, 'cr3-switch', 2);
          // (PCID and the no-flush bit live in the low 12 bits and bit 63)
          lane.root = d.value - (d.value % 4096);
        }
        return this.rawEvent(lane, t, r);
      }
      case 'kvm_emulate_insn': {
        const lane = this.lane(r, NaN);
        const t = this.time(lane, r);
        this.handling(lane, 'emulate', 2);
        return this.rawEvent(lane, t, r);
      }
      case 'kvm_userspace_exit': {
        const lane = this.lane(r, NaN);
        const t = this.time(lane, r);
        this.handling(lane, 'userspace', 2);
        return this.rawEvent(lane, t, r);
      }
      default: {
        const lane = this.lane(r, NaN);
        const t = this.time(lane, r);
        return this.rawEvent(lane, t, r);
      }
    }
  }

  /** A paging element, an A/D bit or the walker's error: part of the walk open on the thread's lane, else raw. */
  private walkPart(r: ImportRecord, f: Fields | undefined): void {
    const st = this.threadState(r);
    const lane = st.row[st.lane]!;
    const w = lane.walk;
    if (w.open) {
      const t = this.time(lane, r);
      w.lastT = t;
      const body = r.body;
      if (r.event === 'kvm_mmu_paging_element') {
        // elements come before the bits; one after a bit starts no new walk: kept raw
        // (a walk reads at most 5 levels: more is not one walk, and memory stays bounded)
        if (f) {
          // (fieldsPagingElement's reads, without its object: this is most of a walk trace's records)
          const level = num(f, 'level');
          const hex = level === undefined ? undefined : fieldHex(f, 'pte');
          if (hex !== undefined && w.element(t, level!, hex)) return;
        } else {
          const d = decodePagingElementHex(body);
          if (d && w.element(t, d.level, d.hex)) return;
        }
      } else if (r.event === 'kvm_mmu_walker_error') {
        const d = f ? fieldsWalkerError(f) : decodeWalkerError(body);
        if (d) {
          this.closeWalk(lane);
          lane.lastFaultVa = w.va;
          this.put(lane, { t, vm: lane.vm, vcpu: lane.vcpu, type: 'walk_error', errorCode: d.pferr, va: w.va });
          return;
        }
      } else {
        const d = f ? fieldsGpa(f) : GPA.exec(body);
        const gpa = d === null || d === undefined ? undefined : 'gpa' in d ? d.gpa : parseInt(d[1]!, 16);
        if (gpa !== undefined && w.bit(t, gpa, r.event === 'kvm_mmu_set_dirty_bit')) return;
      }
    }
    const l = this.lane(r, NaN);
    const t = this.time(l, r);
    if (r.event === 'kvm_mmu_walker_error') {
      const d = f ? fieldsWalkerError(f) : decodeWalkerError(r.body);
      if (d) return this.put(l, { t, vm: l.vm, vcpu: l.vcpu, type: 'walk_error', errorCode: d.pferr });
    }
    return this.rawEvent(l, t, r);
  }

  private pageInfo(r: ImportRecord, f: Fields | undefined): PageInfo | undefined {
    if (f) {
      const d = fieldsShadowPage(f);
      if (!d) return undefined;
      this.bit4 ??= bit4FromWord(d.roleWord);
      const role = decodeRoleWord(d.roleWord, this.bit4);
      return { gfn: d.gfn, level: role.level, quadrant: role.quadrant, role: role.text, match: matchRole(role.text), root: d.root, ...(d.created === undefined ? {} : { created: d.created }) };
    }
    const d = decodeShadowPage(r.body);
    if (!d) return undefined;
    let role = d.role;
    if (d.pae !== undefined) {
      this.bit4 ??= bit4FromPlugin(d.level, d.direct, d.pae);
      const bytes = gpteBytes(d.pae, this.bit4);
      if (bytes) role = `${bytes}-byte ${role}`;
    }
    const p: PageInfo = { level: d.level, quadrant: d.quadrant, role, match: matchRole(role), root: d.root };
    if (d.gfn !== undefined) p.gfn = d.gfn;
    if (d.created !== undefined) p.created = d.created;
    return p;
  }

  private shadowPage(r: ImportRecord, f: Fields | undefined): void {
    const d = this.pageInfo(r, f);
    const action =
      r.event === 'kvm_mmu_get_page' ? (d?.created === false ? undefined : 'alloc') : r.event === 'kvm_mmu_sync_page' ? 'sync' : r.event === 'kvm_mmu_unsync_page' ? 'unsync' : 'zap';
    const st = this.threadState(r);
    // a host thread's page event lands on the VM that has the page
    let vm = st.vm;
    let known = d && action !== 'alloc' ? this.tables[vm]?.find(d.level, d.gfn, d.quadrant, d.match) : undefined;
    if (d && st.host && !known && action !== 'alloc')
      for (let i = 0; i < this.tables.length && !known; i++) {
        known = this.tables[i]!.find(d.level, d.gfn, d.quadrant, d.match);
        if (known) vm = i;
      }
    const lane = st.host ? this.hostLane(r, vm) : this.lane(r, NaN);
    const t = this.time(lane, r);
    const tables = this.tables[lane.vm]!;
    if (!d) return this.rawEvent(lane, t, r);
    if (!action) {
      // an existing page changes nothing: kept raw, but known from now on (its sptes follow)
      const page = tables.find(d.level, d.gfn, d.quadrant, d.match) ?? tables.create(d.level, d.gfn, d.quadrant, d.match);
      (lane.pendingSp ??= new Map()).set(d.level, page);
      return this.rawEvent(lane, t, r);
    }
    // a page the trace did not show created (before it began) is known from here on
    const page = action === 'alloc' ? tables.create(d.level, d.gfn, d.quadrant, d.match) : (known ?? tables.create(d.level, d.gfn, d.quadrant, d.match));
    if (action === 'zap') this.handling(lane, 'zap-shadow-page', 3);
    else if (action === 'alloc') {
      this.handling(lane, 'fill-spte', 4);
      (lane.pendingSp ??= new Map()).set(d.level, page);
    }
    const e: MmuEvent = { t, vm: lane.vm, vcpu: lane.vcpu, type: 'shadow_page', action, table: page.id, level: d.level, role: d.role, quadrant: d.quadrant };
    if (d.gfn !== undefined) e.gfn = d.gfn;
    this.put(lane, e);
    if (action === 'zap')
      // KVM clears every spte of a zapped page; a root still in use stays (invalid) until its last user lets go
      for (const [index, old] of tables.zap(page, d.root > 0)) this.put(lane, { t, vm: lane.vm, vcpu: lane.vcpu, type: 'spte_write', level: page.level, table: page.id, index, old, new: 0n });
  }

  private setSpte(r: ImportRecord, f: Fields | undefined): void {
    const d = f ? fieldsSetSpte(f) : decodeSetSpte(r.body);
    const lane = this.lane(r, NaN);
    const t = this.time(lane, r);
    const q = lane.requested;
    if (q) {
      lane.requested = undefined;
      if (!d || q.gfn !== d.gfn || q.level !== d.level) this.rawEvent(lane, q.t, q.r);
    }
    if (!d) return this.rawEvent(lane, t, r);
    this.handling(lane, 'fill-spte', 4);
    if (!d.sptep) return this.put(lane, spteWrite(lane, t, d.level, d.gfn, 0n, d.spte));
    // the spte's own address names its table and index (shadowTables.ts)
    const tables = this.tables[lane.vm]!;
    const pending = lane.pendingSp?.get(d.level);
    const table = tables.tableOfSpte(d.sptep, d.level, pending);
    if (table === pending) lane.pendingSp!.delete(d.level);
    const index = Math.floor((d.sptep % 4096) / 8);
    const old = tables.setEntry(table, index, d.spte);
    this.put(lane, { t, vm: lane.vm, vcpu: lane.vcpu, type: 'spte_write', level: d.level, table: table.id, index, old, new: d.spte });
  }

  /** Close every exit and walk still open (end of the file or a cancel). */
  finish(): void {
    for (const row of this.lanes)
      for (const lane of row) {
        if (lane.walk.open) this.closeWalk(lane);
        if (lane.requested) this.flushRequested(lane);
        if (lane.exit) {
          this.unmatchedExits++;
          this.closeExit(lane, lane.lastT);
        }
      }
  }
}

const GPA = /^gpa ([0-9a-fA-F]+)/;
/** A closed walk's events (closeWalk's scratch: at most the walk, 5 entries and 10 bits). */
const WALK_OUT: MmuEvent[] = [];

function fieldNum(f: Fields, name: string): number | undefined {
  const v = f.get(name);
  return typeof v === 'number' ? v : undefined;
}

/** The role words a page is matched by: without the entry size (a trace may tell it only later) and `invalid`. */
function matchRole(role: string): string {
  return role.replace(/^\d-byte /, '').replace(' invalid', '');
}

/**
 * The id the lab gives the table page holding a TDP/shadow entry of `level` for `gfn`: the
 * gfn range the table covers (gfn >> 9·level), low 32 bits. The same page gets the same id in
 * spte_write (entries) and shadow_page (its life).
 */
export function tableId(gfn: number, level: number): number {
  const l = Math.max(1, Math.min(level, 5));
  return Math.floor(gfn / 2 ** (9 * l)) % 2 ** 32;
}

function spteWrite(lane: LaneState, t: number, level: number, gfn: number, old: bigint, next: bigint): MmuEvent {
  const l = Math.max(1, Math.min(level, 5));
  return {
    t,
    vm: lane.vm,
    vcpu: lane.vcpu,
    type: 'spte_write',
    level,
    table: tableId(gfn, l),
    index: Math.floor(gfn / 2 ** (9 * (l - 1))) % 512,
    old,
    new: next,
  };
}
