/**
 * Records → the engine's typed events (core/events.ts): the one mapping from a trace's
 * events to the lab's, whatever the records came from (trace text, or decoded binary
 * records; see records.ts). Exits are held open until their kvm_entry so that the events of
 * their handling follow them and the handling they show names the exit's.
 */
import type { MmuEvent } from '../../core/events.ts';
import type { SessionWriter } from '../writer.ts';
import {
  decodeCr,
  decodeInjException,
  decodePagetableWalk,
  decodeSetSpte,
  decodeShadowPage,
  decodeTdpSpteChanged,
} from './decode.ts';
import {
  failedToParseFields,
  fieldsCr,
  fieldsInjException,
  fieldsPagetableWalk,
  fieldsSetSpte,
  fieldsTdpSpteChanged,
  fieldsText,
} from './fields.ts';
import { ReasonCache, type Isa } from './reasons.ts';
import { DECODED, FIXED, SPURIOUS, type ImportRecord, type Ts } from './predecode.ts';
import { threadKey, type Layout } from './layout.ts';

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
  private readonly threadStates = new Map<string, { row: LaneState[]; lane: number }>();
  /** The same by pid (the key of every record with a pid): no key string per record. */
  private readonly pidStates = new Map<number, { row: LaneState[]; lane: number }>();
  private lastPid = -1;
  private lastState: { row: LaneState[]; lane: number } | undefined;
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
    this.lanes = layout.vms.map((vm) => Array.from({ length: vm.vcpus }, (_, vcpu) => ({ vm: vm.vm, vcpu, lastT: 0, buf: [] })));
  }

  private relNs(sec: number, ns: number): number {
    const v = Math.max(0, (sec - this.t0.sec) * 1e9 + (ns - this.t0.ns));
    return Math.min(Math.round(v), Number.MAX_SAFE_INTEGER);
  }

  private threadState(r: ImportRecord): { row: LaneState[]; lane: number } {
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
      // a thread the layout has not seen (a live capture's late thread) goes to the last lane
      const map = this.layout.byThread.get(key) ?? this.layout.byThread.get('overflow') ?? { vm: this.lanes.length - 1, lane: this.lanes[this.lanes.length - 1]!.length - 1 };
      st = { row: this.lanes[map.vm]!, lane: map.lane };
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
    // (NaN: the record has no vCPU id)
    if (vcpu < st.row.length) {
      st.lane = vcpu;
      return st.row[vcpu]!;
    }
    return st.row[st.lane]!;
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
        if (d && d.vector === 'PF') {
          this.handling(lane, 'inject-guest-pf', 7);
          this.put(lane, { t, vm: lane.vm, vcpu: lane.vcpu, type: 'guest_fault', va: lane.lastFaultVa ?? 0, errorCode: d.errorCode ?? 0 });
          return;
        }
        return this.rawEvent(lane, t, r);
      }
      case 'fast_page_fault': {
        const lane = this.lane(r, r.vcpu);
        const t = this.time(lane, r);
        if (r.flags & DECODED) {
          if (r.flags & SPURIOUS) this.handling(lane, 'spurious', 6);
          else if (r.flags & FIXED) this.handling(lane, 'fast-pf', 6);
        }
        return this.rawEvent(lane, t, r);
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
      case 'kvm_mmu_set_spte': {
        const d = f ? fieldsSetSpte(f) : decodeSetSpte(body);
        const lane = this.lane(r, NaN);
        const t = this.time(lane, r);
        if (!d) return this.rawEvent(lane, t, r);
        this.handling(lane, 'fill-spte', 4);
        this.put(lane, spteWrite(lane, t, d.level, d.gfn, 0n, d.spte));
        return;
      }
      case 'kvm_mmu_get_page':
      case 'kvm_mmu_prepare_zap_page':
      case 'kvm_mmu_zap_page':
      case 'kvm_mmu_sync_page':
      case 'kvm_mmu_unsync_page': {
        const d = decodeShadowPage(body);
        const lane = this.lane(r, NaN);
        const t = this.time(lane, r);
        const action =
          r.event === 'kvm_mmu_get_page' ? (d?.created === false ? undefined : 'alloc') : r.event === 'kvm_mmu_sync_page' ? 'sync' : r.event === 'kvm_mmu_unsync_page' ? 'unsync' : 'zap';
        if (!d || !action) return this.rawEvent(lane, t, r);
        if (action === 'zap') this.handling(lane, 'zap-shadow-page', 3);
        else if (action === 'alloc') this.handling(lane, 'fill-spte', 4);
        this.put(lane, {
          t,
          vm: lane.vm,
          vcpu: lane.vcpu,
          type: 'shadow_page',
          action,
          table: tableId(d.gfn, d.level),
          level: d.level,
          gfn: d.gfn,
          role: d.role,
          quadrant: d.quadrant,
        });
        return;
      }
      case 'kvm_mmu_pagetable_walk': {
        const d = f ? fieldsPagetableWalk(f) : decodePagetableWalk(body);
        const lane = this.lane(r, NaN);
        const t = this.time(lane, r);
        if (d) lane.lastFaultVa = d.addr;
        return this.rawEvent(lane, t, r);
      }
      case 'kvm_mmu_spte_requested': {
        const lane = this.lane(r, NaN);
        const t = this.time(lane, r);
        this.handling(lane, 'fill-spte', 4);
        return this.rawEvent(lane, t, r);
      }
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
        if (d && d.write && d.cr === 3) this.handling(lane, 'cr3-switch', 2);
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

  /** Close every exit still open (end of the file or a cancel). */
  finish(): void {
    for (const row of this.lanes)
      for (const lane of row)
        if (lane.exit) {
          this.unmatchedExits++;
          this.closeExit(lane, lane.lastT);
        }
  }
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
