/**
 * Records → the engine's typed events (core/events.ts): the one mapping from a trace's
 * events to the lab's, whatever the records came from (trace text, or decoded binary
 * records; see records.ts). Exits are held open until their kvm_entry so that the events of
 * their handling follow them and the handling they show names the exit's.
 */
import type { EventOf, MmuEvent } from '../../core/events.ts';
import type { SessionWriter } from '../writer.ts';
import { decodeCr, decodeFastPageFault, decodeInjException, decodePagetableWalk, decodePagingElementHex, decodeSetSpte, decodeTdpSpteChanged, decodeWalkerError } from './decode.ts';
import {
  failedToParseFields,
  fieldsCr,
  fieldsFastPageFault,
  fieldsGpa,
  fieldsInjException,
  fieldHex,
  num,
  fieldsSetSpte,
  fieldsTdpSpteChanged,
  fieldsText,
  fieldsWalkerError,
  type Fields,
} from './fields.ts';
import { EXCEPTION_REASONS, REASON_HANDLING, ReasonCache, TDP_REASONS, type Isa } from './reasons.ts';
import { DECODED, FIXED, SPURIOUS, type ImportRecord, type Ts } from './predecode.ts';
import type { Layout } from './layout.ts';
import { ThreadLanes, type LaneState, type PendingExit } from './lanes.ts';
import { PageRoles, spteWrite } from './shadowEvents.ts';
import { VmTables } from './shadowTables.ts';
import { GuestEntries, walkEvents } from './walks.ts';

export { tableId } from './shadowEvents.ts';

const MAX_BUFFERED = 4096;
const MAX_RAW_TEXT = 4096;

// What the mapping does with a record, by its event name (record's dispatch: one small switch
// on a number, each kind's work in a method of its own).
const OTHER = 0;
const EXIT = 1;
const ENTRY = 2;
/** A walk's parts: an element, the walker's error, an accessed bit, a dirty bit. */
const ELEMENT = 3;
const WALK = 4;
const PAGE_FAULT = 5;
const INJ_EXCEPTION = 6;
const FAST_PAGE_FAULT = 7;
const TDP_SPTE = 8;
const SET_SPTE = 9;
const SPTE_REQUESTED = 10;
const SHADOW_PAGE = 11;
const CR = 12;
/** Kept raw, the exit's handling marked (MARKS). */
const MARKED = 13;
const WALKER_ERROR = 14;
const ACCESSED_BIT = 15;
const DIRTY_BIT = 16;

const KINDS = new Map<string, number>([
  ['kvm_exit', EXIT],
  ['kvm_entry', ENTRY],
  ['kvm_mmu_paging_element', ELEMENT],
  ['kvm_mmu_set_accessed_bit', ACCESSED_BIT],
  ['kvm_mmu_set_dirty_bit', DIRTY_BIT],
  ['kvm_mmu_walker_error', WALKER_ERROR],
  ['kvm_mmu_pagetable_walk', WALK],
  ['kvm_page_fault', PAGE_FAULT],
  ['kvm_inj_exception', INJ_EXCEPTION],
  ['fast_page_fault', FAST_PAGE_FAULT],
  ['kvm_tdp_mmu_spte_changed', TDP_SPTE],
  ['kvm_mmu_set_spte', SET_SPTE],
  ['kvm_mmu_spte_requested', SPTE_REQUESTED],
  ['kvm_mmu_get_page', SHADOW_PAGE],
  ['kvm_mmu_prepare_zap_page', SHADOW_PAGE],
  ['kvm_mmu_zap_page', SHADOW_PAGE],
  ['kvm_mmu_sync_page', SHADOW_PAGE],
  ['kvm_mmu_unsync_page', SHADOW_PAGE],
  ['kvm_cr', CR],
  ['kvm_mmio', MARKED],
  ['vcpu_match_mmio', MARKED],
  ['kvm_hypercall', MARKED],
  ['kvm_emulate_insn', MARKED],
  ['kvm_userspace_exit', MARKED],
]);

/** The names of KINDS as the literals above (internalized strings). */
const KINDS_NAMES = new Map([...KINDS.keys()].map((k) => [k, k]));

/** The handling (and its rank) that a kept-raw event shows of the exit it is part of. */
const MARKS = new Map<string, { handling: string; rank: number }>([
  ['kvm_mmio', { handling: 'mmio-emulate', rank: 5 }],
  ['vcpu_match_mmio', { handling: 'mmio-emulate', rank: 5 }],
  ['kvm_hypercall', { handling: 'hypercall', rank: 5 }],
  ['kvm_emulate_insn', { handling: 'emulate', rank: 2 }],
  ['kvm_userspace_exit', { handling: 'userspace', rank: 2 }],
]);

/**
 * What the mapping knows of an event name: its kind, the name as one flat string that every
 * raw event of it shares, and the handling a MARKED one shows (MARKS: '' and 0 for others).
 */
interface EventName {
  kind: number;
  name: string;
  handling: string;
  rank: number;
}
/** Event names looked at before the map (a walk trace's records take turns among three or four). */
const RECENT_NAMES = 4;
/** Event names remembered (a trace has a few dozen; more are looked up each time). */
const MAX_NAMES = 4096;

export class Importer {
  private readonly threads: ThreadLanes;
  private readonly reasons = new ReasonCache();
  /** Per VM: its shadow pages, the guest entries its walks showed. */
  private readonly tables: VmTables[];
  private readonly guest: GuestEntries[];
  private readonly roles = new PageRoles();
  /**
   * Event names seen, and the last record's: a trace.dat's records of one event share the
   * name's string; a text's are cut from each line, and a raw event's name is then the one
   * string kept here (the encoder compares it with the last one it wrote: one pointer, not the text).
   */
  private readonly names = new Map<string, EventName>();
  private lastEvent = '';
  private lastName: EventName = { kind: OTHER, name: '', handling: '', rank: 0 };
  /** The last few event names and what they are (a ring): compared before the map is asked. */
  private readonly recentEvents: string[] = new Array<string>(RECENT_NAMES).fill('');
  private readonly recentNames: EventName[] = new Array<EventName>(RECENT_NAMES).fill(this.lastName);
  private recentNext = 0;
  /** The raw event rawEvent writes when no exit holds it (the writer keeps nothing of it). */
  private readonly rawScratch: EventOf<'raw'> = { t: 0, vm: 0, vcpu: 0, type: 'raw', name: '', text: '' };
  events = 0;
  exits = 0;
  raw = 0;
  clampedTimes = 0;
  lateTimes = 0;
  unmatchedExits = 0;

  constructor(
    private readonly writer: SessionWriter,
    layout: Layout,
    private readonly t0: Ts,
    private readonly isa: Isa | undefined,
  ) {
    this.threads = new ThreadLanes(layout);
    this.tables = layout.vms.map(() => new VmTables());
    this.guest = layout.vms.map(() => new GuestEntries());
  }

  /** The lane of a record: its own vCPU id when it has one (and the thread keeps it), else the thread's. */
  private lane(r: ImportRecord, vcpu: number): LaneState {
    const th = this.threads;
    const st = r.pid === th.lastPid ? th.lastState! : th.threadState(r);
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

  private time(lane: LaneState, r: ImportRecord): number {
    const sec = r.sec;
    const has = sec === sec;
    // ns since t0, at least 0, at most 2^53 - 1
    let t = has ? Math.min(Math.round(Math.max(0, (sec - this.t0.sec) * 1e9 + (r.ns - this.t0.ns))), Number.MAX_SAFE_INTEGER) : lane.lastT;
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
    const name = r.system && r.system !== 'kvm' && r.system !== 'kvmmmu' ? `${r.system}:${r.event}` : r.event === this.lastEvent ? this.lastName.name : r.event;
    const body = r.body === '' && r.fields ? fieldsText(r.fields) : r.body;
    const text = body.length > MAX_RAW_TEXT ? body.slice(0, MAX_RAW_TEXT) : body;
    this.raw++;
    if (lane.exit) return this.put(lane, { t, vm: lane.vm, vcpu: lane.vcpu, type: 'raw', name, text });
    // (written at once: one object serves every raw event that no exit holds)
    const e = this.rawScratch;
    e.t = t;
    e.vm = lane.vm;
    e.vcpu = lane.vcpu;
    e.name = name;
    e.text = text;
    this.writer.append(e);
    this.events++;
  }

  private closeWalk(lane: LaneState): void {
    lane.walk.open = false;
    const out = WALK_OUT;
    const n = walkEvents(lane.walk, lane, this.guest[lane.vm]!, out);
    // (the page_walk, out[0], is the lane's one object, filled again by its next walk: an exit
    // holding its events keeps a copy)
    if (lane.exit) out[0] = { ...out[0]! };
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
    const event = r.event;
    if (event !== this.lastEvent) {
      this.lastEvent = event;
      this.lastName = this.recentName(event);
    }
    const kind = this.lastName.kind;
    const body = r.body;
    // named fields: a decoded binary record's, or a `[FAILED TO PARSE] name=value ...` payload's
    const f = r.fields ?? (body.charCodeAt(0) === 91 ? failedToParseFields(body) : undefined);
    switch (kind) {
      case ELEMENT:
      case ACCESSED_BIT:
      case DIRTY_BIT:
      case WALKER_ERROR:
        return this.walkPart(r, f, kind);
      case WALK:
        return this.walkStart(r, f);
      case MARKED:
        return this.marked(r);
      case EXIT:
        return this.exit(r);
      case ENTRY:
        return this.entry(r);
      case PAGE_FAULT:
        return this.pageFault(r);
      case FAST_PAGE_FAULT:
        return this.fastPageFault(r, f);
      case TDP_SPTE:
        return this.tdpSpteChanged(r, f);
      case SET_SPTE:
        return this.setSpte(r, f);
      default:
        return this.rare(r, f, kind);
    }
  }

  /**
   * The kinds a trace has few of, and the events kept raw: one call from record() for all of
   * them, so that it has V8's type feedback as soon as one of them came (a kvm_inj_exception
   * every few hundred records of a walk trace). A call of its own per kind, first made after
   * V8 optimized record() (a kvm_pio 65 k records in), would throw that code away.
   */
  private rare(r: ImportRecord, f: Fields | undefined, kind: number): void {
    switch (kind) {
      case INJ_EXCEPTION:
        return this.injException(r, f);
      case SPTE_REQUESTED:
        return this.spteRequested(r, f);
      case SHADOW_PAGE:
        return this.shadowPage(r, f);
      case CR:
        return this.cr(r, f);
      default: {
        const lane = this.lane(r, NaN);
        return this.rawEvent(lane, this.time(lane, r), r);
      }
    }
  }

  /** What `event` is: from the last few names (a trace.dat's records of one event share its string: mostly one compare), else the map. */
  private recentName(event: string): EventName {
    const recent = this.recentEvents;
    for (let i = 0; i < RECENT_NAMES; i++) if (recent[i] === event) return this.recentNames[i]!;
    const e = this.names.get(event) ?? this.eventName(event);
    const k = this.recentNext;
    this.recentNext = (k + 1) % RECENT_NAMES;
    recent[k] = event;
    this.recentNames[k] = e;
    return e;
  }

  private eventName(event: string): EventName {
    const kind = KINDS.get(event) ?? OTHER;
    const mark = MARKS.get(event);
    // (a copy: the record's name may be a slice of a whole line, which the session need not keep)
    const e: EventName = {
      kind,
      name: kind === OTHER ? (JSON.parse(JSON.stringify(event)) as string) : KINDS_NAMES.get(event)!,
      handling: mark ? mark.handling : '',
      rank: mark ? mark.rank : 0,
    };
    if (this.names.size < MAX_NAMES) this.names.set(event, e);
    return e;
  }

  private exit(r: ImportRecord): void {
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
  }

  private entry(r: ImportRecord): void {
    const lane = this.lane(r, r.vcpu);
    const t = this.time(lane, r);
    if (r.vcpu !== r.vcpu) return this.rawEvent(lane, t, r);
    this.closeExit(lane, t);
  }

  /** A kept-raw event that tells the handling of the exit it is part of. */
  private marked(r: ImportRecord): void {
    const lane = this.lane(r, NaN);
    const t = this.time(lane, r);
    // (record() has just set lastName to this record's)
    const m = this.lastName;
    this.handling(lane, m.handling, m.rank);
    return this.rawEvent(lane, t, r);
  }

  private walkStart(r: ImportRecord, f: Fields | undefined): void {
    let addr: number | undefined;
    let pferr: number | undefined;
    if (f) {
      // (the walk's two fields read here: no object per walk)
      addr = num(f, 'addr');
      pferr = num(f, 'pferr');
    } else {
      const d = decodePagetableWalk(r.body);
      if (d) {
        addr = d.addr;
        pferr = d.pferr;
      }
    }
    const lane = this.lane(r, NaN);
    const t = this.time(lane, r);
    if (addr === undefined || pferr === undefined) return this.rawEvent(lane, t, r);
    lane.lastFaultVa = addr;
    lane.walk.start(t, addr, pferr);
  }

  private pageFault(r: ImportRecord): void {
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

  private injException(r: ImportRecord, f: Fields | undefined): void {
    const d = f ? fieldsInjException(f) : decodeInjException(r.body);
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

  private fastPageFault(r: ImportRecord, f: Fields | undefined): void {
    const lane = this.lane(r, r.vcpu);
    const t = this.time(lane, r);
    const d = f ? fieldsFastPageFault(f) : decodeFastPageFault(r.body);
    if (r.flags & DECODED) {
      if (r.flags & SPURIOUS) this.handling(lane, 'spurious', 6);
      else if (r.flags & FIXED) this.handling(lane, 'fast-pf', 6);
    }
    if (!d) return this.rawEvent(lane, t, r);
    const result = d.spurious ? 'spurious' : d.fixed ? 'fixed' : 'retry';
    this.put(lane, { t, vm: lane.vm, vcpu: lane.vcpu, type: 'fast_page_fault', va: d.gva, errorCode: d.errorCode, old: d.old, new: d.new, result });
  }

  private tdpSpteChanged(r: ImportRecord, f: Fields | undefined): void {
    const d = f ? fieldsTdpSpteChanged(f) : decodeTdpSpteChanged(r.body);
    const lane = this.lane(r, NaN);
    const t = this.time(lane, r);
    if (!d) return this.rawEvent(lane, t, r);
    const zap = d.new === 0n || d.new === 0x5a0n;
    this.handling(lane, zap ? 'zap-shadow-page' : 'fill-spte', zap ? 3 : 4);
    this.put(lane, spteWrite(lane, t, d.level, d.gfn, d.old, d.new));
  }

  private spteRequested(r: ImportRecord, f: Fields | undefined): void {
    const body = r.body;
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
  }

  private cr(r: ImportRecord, f: Fields | undefined): void {
    const lane = this.lane(r, NaN);
    const t = this.time(lane, r);
    const d = f ? fieldsCr(f) : decodeCr(r.body);
    if (d && d.write && d.cr === 3) {
      this.handling(lane, 'cr3-switch', 2);
      // (PCID and the no-flush bit live in the low 12 bits and bit 63)
      lane.root = d.value - (d.value % 4096);
    }
    return this.rawEvent(lane, t, r);
  }

  /** A paging element, an A/D bit or the walker's error: part of the walk open on the thread's lane, else raw. */
  private walkPart(r: ImportRecord, f: Fields | undefined, kind: number): void {
    const th = this.threads;
    const st = r.pid === th.lastPid ? th.lastState! : th.threadState(r);
    const lane = st.row[st.lane]!;
    const w = lane.walk;
    if (w.open) {
      const t = this.time(lane, r);
      w.lastT = t;
      const body = r.body;
      if (kind === ELEMENT) {
        // elements come before the bits; one after a bit starts no new walk: kept raw
        // (a walk reads at most 5 levels: more is not one walk, and memory stays bounded)
        if (f) {
          // fields that gave this slot's element before (a trace.dat's interned payload): read already
          if (w.repeat(t, f)) return;
          // (the element's level and entry read here, no object: this is most of a walk trace's records)
          const level = num(f, 'level');
          const hex = level === undefined ? undefined : fieldHex(f, 'pte');
          if (hex !== undefined && w.element(t, level!, hex, f)) return;
        } else {
          const d = decodePagingElementHex(body);
          if (d && w.element(t, d.level, d.hex, null)) return;
        }
      } else if (kind === WALKER_ERROR) {
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
        if (gpa !== undefined && w.bit(t, gpa, kind === DIRTY_BIT)) return;
      }
    }
    const l = this.lane(r, NaN);
    const t = this.time(l, r);
    if (kind === WALKER_ERROR) {
      const d = f ? fieldsWalkerError(f) : decodeWalkerError(r.body);
      if (d) return this.put(l, { t, vm: l.vm, vcpu: l.vcpu, type: 'walk_error', errorCode: d.pferr });
    }
    return this.rawEvent(l, t, r);
  }

  private shadowPage(r: ImportRecord, f: Fields | undefined): void {
    const d = this.roles.info(r, f);
    const action =
      r.event === 'kvm_mmu_get_page' ? (d?.created === false ? undefined : 'alloc') : r.event === 'kvm_mmu_sync_page' ? 'sync' : r.event === 'kvm_mmu_unsync_page' ? 'unsync' : 'zap';
    const st = this.threads.threadState(r);
    // a host thread's page event lands on the VM that has the page
    let vm = st.vm;
    let known = d && action !== 'alloc' ? this.tables[vm]?.find(d.level, d.gfn, d.quadrant, d.match) : undefined;
    if (d && st.host && !known && action !== 'alloc')
      for (let i = 0; i < this.tables.length && !known; i++) {
        known = this.tables[i]!.find(d.level, d.gfn, d.quadrant, d.match);
        if (known) vm = i;
      }
    if (st.host) this.threads.moveHost(st, vm);
    const lane = this.lane(r, NaN);
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
    for (const row of this.threads.lanes)
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
