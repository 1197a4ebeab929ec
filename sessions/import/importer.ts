/**
 * Real KVM trace text → a session (`.mmulab`). Streaming with constant memory. The session
 * header (VMs and vCPUs) needs the threads, their vCPU ids, the first timestamp and the ISA
 * (the scan); usually the first records show them all, so the import starts on what they show
 * and checks every later record against it in the same pass; when a record contradicts it,
 * the file is read a second time with what the scan of the whole file found (importTrace).
 * See docs/import.md for the mapping.
 */
import { open, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { unlinkSync } from 'node:fs';
import type { MmuEvent } from '../../core/events.ts';
import { CAPS } from '../format.ts';
import { SessionWriter, type SessionHeaderInput } from '../writer.ts';
import { detectFlavour, type Detection } from './detect.ts';
import { LineAssembler, type AssemblerStats, type Flavour, type SkippedLine, type TraceRecord } from './lines.ts';
import {
  decodeCr,
  decodeInjException,
  decodePagetableWalk,
  decodeSetSpte,
  decodeShadowPage,
  decodeTdpSpteChanged,
} from './decode.ts';
import { ReasonCache, type Isa } from './reasons.ts';
import { DECODED, FIXED, SPURIOUS, TsReader, predecode, type ImportRecord, type Ts } from './predecode.ts';
import { startParseWorker, parseWorkerLocation, type ParseWorker } from './recordBatch.ts';
import { ImportError, readLines } from './readLines.ts';

export const IMPORTER = 'mmu-lab trace import 1';

export interface ImportProgress {
  phase: 'scan' | 'import';
  bytes: number;
  totalBytes: number;
  lines: number;
  /** 0..1: the bytes read of the one pass; when a second pass is needed, the first counts for a quarter (the bar steps back once). */
  fraction: number;
}

export interface ImportOptions {
  onProgress?: (p: ImportProgress) => void;
  signal?: AbortSignal;
  /** Bytes read at a time (default 1 MiB). */
  chunkBytes?: number;
  /** Unparseable lines listed in the session (default 100; all are counted). */
  maxSkippedListed?: number;
  /**
   * Records read before the session is started on the layout they show (default 16,384;
   * see importTrace). 0 never speculates: the file is read twice (scan, then import).
   */
  speculateAfter?: number;
  /**
   * Read and parse the file in a worker thread while this thread imports (default: for files
   * of PARSE_WORKER_MIN_BYTES and more, when the worker's file is found). false: in-thread;
   * true: the worker whenever it is found.
   */
  parseWorker?: boolean;
}

/** Below this size the worker's start (tens of ms under tsx) costs more than it saves. */
const PARSE_WORKER_MIN_BYTES = 4 << 20;

function useParseWorker(option: boolean | undefined, totalBytes: number): ReturnType<typeof parseWorkerLocation> {
  if (option === false || (option === undefined && totalBytes < PARSE_WORKER_MIN_BYTES)) return undefined;
  return parseWorkerLocation();
}

export interface ImportedThread {
  pid: number;
  comm: string;
  tgid?: number;
  /** The vCPU lane its events go to when they carry no vCPU id. */
  vcpu: number;
  /** How that lane was chosen: a `vcpu N` field, the comm (`CPU 3/KVM`), or a lane of its own. */
  by: 'field' | 'comm' | 'thread';
}

export interface ImportedVm {
  vm: number;
  /** What grouped its threads: `tgid:N`, `comm:<name with digits as #>`, or `pid:N`. */
  key: string;
  vcpus: number;
  threads: ImportedThread[];
}

export interface ImportResult {
  /** A session was written to the output path. */
  ok: boolean;
  /** The session holds the whole trace (false when cancelled or nothing was written). */
  complete: boolean;
  cancelled: boolean;
  /** One line saying what happened, fit for a CLI or a toast. */
  message: string;
  flavour: Flavour;
  evidence: string[];
  isa?: Isa;
  lines: number;
  records: number;
  events: number;
  exits: number;
  raw: number;
  /** Unparseable lines: counted, and the first ones listed with their numbers. */
  skipped: number;
  skippedLines: SkippedLine[];
  ignored: number;
  rejoined: number;
  /** Records whose timestamp went backwards on their vCPU (clamped). */
  clampedTimes: number;
  /** Records more than 2^53 ns (about 104 days) after the first timestamp: kept at that time. */
  lateTimes: number;
  /** Exits closed without their kvm_entry (another exit, a cut, or the end of the file). */
  unmatchedExits: number;
  vms: ImportedVm[];
  seconds: number;
  bytes: number;
}

export { ImportError } from './readLines.ts';

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

class Scan {
  readonly threads = new Map<string, ScanThread>();
  /** The earliest timestamp so far (minSec is NaN before the first). */
  private minSec = NaN;
  private minNs = 0;
  /** Bumped whenever something the layout or the time origin depends on changes (see importTrace). */
  version = 0;
  vmxVotes = 0;
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
    if (ev === 'kvm_entry' || ev === 'kvm_exit' || ev === 'fast_page_fault' || ev === 'kvm_page_fault') {
      const id = r.scanVcpu;
      if (id < CAPS.maxVcpusPerVm && th.ids.length < MAX_IDS_PER_THREAD && !th.ids.includes(id)) {
        th.ids.push(id);
        this.version++;
      }
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
    this.version++;
    return th;
  }

  get isa(): Isa | undefined {
    if (this.svmVotes > this.vmxVotes) return 'svm';
    if (this.vmxVotes > 0) return 'vmx';
    return undefined;
  }
}

function threadKey(r: ImportRecord): string {
  return r.pid >= 0 ? String(r.pid) : 'comm:' + r.comm;
}

/** The vCPU id a thread name carries: QEMU's `CPU 3/KVM`, Firecracker's `fc_vcpu 1`, `VCPU-0`. */
export function vcpuFromComm(comm: string): number | undefined {
  const m = /^CPU (\d+)\/KVM$/.exec(comm) ?? /vcpu[\s_-]?(\d+)$/i.exec(comm);
  if (!m) return undefined;
  const n = Number(m[1]);
  return n < CAPS.maxVcpusPerVm ? n : undefined;
}

interface ThreadMap {
  vm: number;
  lane: number;
  vcpus: number;
}

interface Layout {
  vms: ImportedVm[];
  byThread: Map<string, ThreadMap>;
}

/** Group threads into VMs (by tgid, else by comm, splitting where two threads claim one vCPU id). */
function resolveLayout(scan: Scan): Layout {
  const groups = new Map<string, ScanThread[]>();
  for (const th of scan.threads.values()) {
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
  for (const m of byThread.values()) m.vcpus = vms[m.vm]!.vcpus;
  return { vms, byThread };
}

// ---------------------------------------------------------------------------------------------
// Pass 2: records → events.

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

class Importer {
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
      const map = this.layout.byThread.get(key) ?? this.layout.byThread.get('overflow')!;
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
    const text = r.body.length > MAX_RAW_TEXT ? r.body.slice(0, MAX_RAW_TEXT) : r.body;
    this.raw++;
    this.put(lane, { t, vm: lane.vm, vcpu: lane.vcpu, type: 'raw', name, text });
  }

  record(r: ImportRecord): void {
    const body = r.body;
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
        const d = decodeInjException(body);
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
        const d = decodeTdpSpteChanged(body);
        const lane = this.lane(r, NaN);
        const t = this.time(lane, r);
        if (!d) return this.rawEvent(lane, t, r);
        const zap = d.new === 0n || d.new === 0x5a0n;
        this.handling(lane, zap ? 'zap-shadow-page' : 'fill-spte', zap ? 3 : 4);
        this.put(lane, spteWrite(lane, t, d.level, d.gfn, d.old, d.new));
        return;
      }
      case 'kvm_mmu_set_spte': {
        const d = decodeSetSpte(body);
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
        const d = decodePagetableWalk(body);
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
        const d = decodeCr(body);
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

// ---------------------------------------------------------------------------------------------

function noRecordsMessage(file: string, det: Detection, st: AssemblerStats, skippedLines: SkippedLine[], sample: string): string {
  if (det.binary === 'trace.dat') return `${file} is a binary trace-cmd capture (trace.dat): run \`trace-cmd report ${file} > trace.txt\` and import the text`;
  if (det.binary === 'perf.data') return `${file} is a binary perf capture (perf.data): run \`perf script -i ${file} > trace.txt\` and import the text`;
  if (det.binary) return `${file} is not trace text (binary data); nothing imported`;
  let what = '';
  if (/Analyze events for all VMs/.test(sample)) what = ' (it is a `perf kvm stat` summary table, not a trace)';
  else if (/kvm statistics/.test(sample)) what = ' (it is `kvm_stat` output, not a trace)';
  const first = skippedLines[0];
  const eg = first ? `; line ${first.line} is not a trace record: "${first.text.slice(0, 60)}"` : '';
  return `no trace records found in ${file}${what}: ${st.lines} lines, ${st.skipped} not understood${eg}`;
}

/**
 * Import a trace text file (raw ftrace, `trace-cmd report` or `perf script`, detected from the
 * content) into a new session at `outPath`. Resolves with what was imported; rejects only
 * with an `ImportError` when the input cannot be read or the output cannot be written. When
 * the text holds no trace record at all, nothing is written and `ok` is false. Cancelling via
 * `signal` leaves a readable session marked incomplete.
 */
export async function importTrace(inputPath: string, outPath: string, options: ImportOptions = {}): Promise<ImportResult> {
  const started = performance.now();
  const file = basename(inputPath);
  const chunkBytes = Math.max(4096, options.chunkBytes ?? 1 << 20);
  let totalBytes = 0;
  try {
    totalBytes = (await stat(inputPath)).size;
  } catch (e) {
    throw new ImportError(`cannot read ${inputPath} (${(e as { code?: string }).code ?? String(e)})`);
  }

  // Detect from the head of the file.
  let head: Buffer;
  {
    let fh;
    try {
      fh = await open(inputPath, 'r');
      const b = Buffer.alloc(Math.min(65536, totalBytes));
      const { bytesRead } = await fh.read(b, 0, b.length, 0);
      head = b.subarray(0, bytesRead);
    } catch (e) {
      throw new ImportError(`cannot read ${inputPath} (${(e as { code?: string }).code ?? String(e)})`);
    } finally {
      await fh?.close();
    }
  }
  const det = detectFlavour(head);
  const progress = (phase: 'scan' | 'import', bytes: number, lines: number, fraction: number) =>
    options.onProgress?.({ phase, bytes, totalBytes, lines, fraction: totalBytes === 0 ? 1 : fraction });

  // One pass, speculating on the layout: the threads, vCPU ids, first timestamp and ISA of the
  // first records are, in most traces, those of the whole file. The first SPECULATE_AFTER
  // records are held back and scanned; the session is then started with the layout they give,
  // and every later record is both scanned and imported. When the scan of a later record
  // changes what the layout or the time origin depend on (a new thread, a new vCPU id, an
  // earlier timestamp; `Scan.version`), or the ISA comes out different, the speculative
  // session is dropped and the file is read a second time with what the scan found: the two
  // passes of before, so the result never depends on the speculation. The header, written
  // first, gets its line counts at the end (`rewriteHeader`, into room left for them).
  const scan = new Scan();
  const maxListed = options.maxSkippedListed ?? 100;
  let spec: { writer: SessionWriter; imp: Importer; layout: Layout; version: number; isa: Isa | undefined } | undefined;
  let held: ImportRecord[] | undefined = [];
  const speculateAfter = Math.max(0, options.speculateAfter ?? SPECULATE_AFTER);
  // not speculating: the first pass only scans
  let diverged = speculateAfter === 0;
  const startSpeculation = () => {
    const layout = resolveLayout(scan);
    const writer = createWriter(outPath, sessionInput(file, det, totalBytes, scan, layout, asm1.stats, asm1.skippedLines, undefined), SPEC_HEADER_ROOM);
    const imp = new Importer(writer, layout, scan.t0 ?? { sec: 0, ns: 0 }, scan.isa);
    spec = { writer, imp, layout, version: scan.version, isa: scan.isa };
    for (const r of held!) imp.record(r);
    held = undefined;
  };
  const onRecord = (r: ImportRecord) => {
    scan.record(r);
    if (diverged) return;
    if (held) {
      held.push(r);
      if (held.length >= speculateAfter) startSpeculation();
    } else if (scan.version !== spec!.version) diverged = true;
    else spec!.imp.record(r);
  };
  // lines parsed in this thread are decoded here; the reading thread sends them decoded
  const tsr = new TsReader();
  const asm1 = new LineAssembler((r: TraceRecord) => onRecord(predecode(r, tsr)), maxListed);
  asm1.perfFirst = det.flavour === 'perf';
  const base = (): Omit<ImportResult, 'ok' | 'complete' | 'cancelled' | 'message'> => ({
    flavour: det.flavour,
    evidence: det.evidence,
    ...(scan.isa ? { isa: scan.isa } : {}),
    lines: asm1.stats.lines,
    records: asm1.stats.records,
    events: 0,
    exits: 0,
    raw: 0,
    skipped: asm1.stats.skipped,
    skippedLines: asm1.skippedLines,
    ignored: asm1.stats.ignored,
    rejoined: asm1.stats.rejoined,
    clampedTimes: 0,
    lateTimes: 0,
    unmatchedExits: 0,
    vms: [],
    seconds: (performance.now() - started) / 1000,
    bytes: totalBytes,
  });
  let scanned = { lines: 0, bytes: 0, aborted: false };
  if (!det.binary) {
    let worker: ParseWorker | undefined;
    try {
      const onChunk = (bytes: number, lines: number) =>
        diverged ? progress('scan', bytes, lines, (0.25 * bytes) / totalBytes) : progress('import', bytes, lines, bytes / totalBytes);
      // Read and parse in a second thread where it is worth it: this thread parses the first
      // chunks itself while that thread starts, then hands the assembler's state over at a
      // chunk boundary; the records come back in order with the stats and listed lines of
      // every chunk, so what follows is the same as in-thread.
      const location = useParseWorker(options.parseWorker, totalBytes);
      worker = location ? startParseWorker(location, { path: inputPath, chunkBytes, perfFirst: asm1.perfFirst, signal: options.signal }) : undefined;
      let handOver = false;
      // parseWorker: true waits for the thread and hands over after the first chunk (the same
      // place every time: what the tests pin)
      const forced = worker !== undefined && options.parseWorker === true && (await worker.started());
      let checks = 0;
      const until = worker
        ? ({
            get aborted() {
              if (options.signal?.aborted) return true;
              handOver = forced ? ++checks > 1 : worker!.ready();
              return handOver;
            },
          } as AbortSignal)
        : options.signal;
      scanned = await readLines(inputPath, (line, n) => asm1.push(line, n), { chunkBytes, signal: until, onChunk });
      if (worker && handOver) {
        const listed = asm1.skippedLines;
        scanned = await worker.run(
          scanned.lines,
          asm1.handOver(),
          maxListed - listed.length,
          // startSpeculation reads the stats at this record
          held && !diverged ? speculateAfter : 0,
          onRecord,
          (stats, skipped) => {
            Object.assign(asm1.stats, stats);
            listed.push(...skipped);
          },
          onChunk,
          (message) => new ImportError(message),
        );
      } else asm1.end();
    } catch (e) {
      const sp = spec;
      if (!sp || e instanceof ImportError || diverged) {
        sp?.writer.close({ complete: false, message: 'import failed' });
        throw e;
      }
      // failing while importing (a read error): keep what was imported, as the second pass does
      sp.imp.finish();
      const message = `import failed: ${(e as Error).message}; kept ${importSummary(sp.imp, asm1.stats, file, det.flavour, asm1.stats.records)}`;
      sp.writer.rewriteHeader(sessionInput(file, det, totalBytes, scan, sp.layout, asm1.stats, asm1.skippedLines, undefined));
      closeWriter(sp.writer, outPath, false, message);
      return finalResult(base(), sp.imp, sp.layout, false, false, message, started);
    } finally {
      worker?.stop();
    }
  }
  if (asm1.stats.records === 0) {
    if (scanned.aborted) return { ...base(), ok: false, complete: false, cancelled: true, message: `import of ${file} cancelled before any record was found; nothing written` };
    return { ...base(), ok: false, complete: false, cancelled: false, message: noRecordsMessage(file, det, asm1.stats, asm1.skippedLines, head.toString('utf8')) };
  }
  if (held && !diverged) startSpeculation();
  const sp = spec;

  if (sp && (scanned.aborted || (!diverged && scan.isa === sp.isa))) {
    // The speculation held (or the import was cancelled: keep what was imported, a consistent
    // session of the records before the cut).
    const cancelledAt = scanned.aborted ? scanned.lines : undefined;
    const input = sessionInput(file, det, totalBytes, scan, sp.layout, asm1.stats, asm1.skippedLines, cancelledAt);
    if (sp.writer.rewriteHeader(input) || scanned.aborted) {
      const imp = sp.imp;
      imp.finish();
      const cancelled = scanned.aborted;
      const summary = importSummary(imp, asm1.stats, file, det.flavour, asm1.stats.records);
      const message = cancelled ? `import cancelled at line ${scanned.lines} of ${await countLines(inputPath)}; kept ${summary}` : `imported ${summary}`;
      closeWriter(sp.writer, outPath, !cancelled, message);
      return finalResult(base(), imp, sp.layout, !cancelled, cancelled, message, started);
    }
  }
  // The speculation failed (or was not made): drop that session; import with what the scan found.
  sp?.writer.close({ complete: false, message: 'superseded' });
  if (scanned.aborted)
    return { ...base(), ok: false, complete: false, cancelled: true, message: `import of ${file} cancelled at line ${scanned.lines} while scanning; nothing written` };
  const layout = resolveLayout(scan);
  const writer = createWriter(outPath, sessionInput(file, det, totalBytes, scan, layout, asm1.stats, asm1.skippedLines, undefined), 0);
  const imp = new Importer(writer, layout, scan.t0 ?? { sec: 0, ns: 0 }, scan.isa);
  const asm2 = new LineAssembler((r) => imp.record(predecode(r, tsr)), 0);
  asm2.perfFirst = asm1.perfFirst;
  let imported = { lines: 0, bytes: 0, aborted: false };
  let failure: string | undefined;
  try {
    imported = await readLines(inputPath, (line, n) => asm2.push(line, n), {
      chunkBytes,
      signal: options.signal,
      onChunk: (bytes, lines) => progress('import', bytes, lines, 0.25 + (0.75 * bytes) / totalBytes),
      stopAtLine: scanned.lines,
    });
    asm2.end();
  } catch (e) {
    failure = e instanceof ImportError ? e.message : `import failed: ${(e as Error).message}`;
  }
  imp.finish();
  const cancelled = imported.aborted;
  const complete = !cancelled && !failure;
  const summary = importSummary(imp, asm1.stats, file, det.flavour, asm2.stats.records);
  const message = failure
    ? `${failure}; kept ${summary}`
    : cancelled
      ? `import cancelled at line ${imported.lines} of ${asm1.stats.lines}; kept ${summary}`
      : `imported ${summary}`;
  closeWriter(writer, outPath, complete, message);
  return finalResult(base(), imp, layout, complete, cancelled, message, started);
}

/** Records read before the session is started with the layout they give (see importTrace). */
const SPECULATE_AFTER = 16384;
/** Room in the speculative header for the line counts and the skipped lines learned later. */
const SPEC_HEADER_ROOM = 64 << 10;

function sessionInput(
  file: string,
  det: Detection,
  totalBytes: number,
  scan: Scan,
  layout: Layout,
  stats: AssemblerStats,
  skippedLines: SkippedLine[],
  cancelledAtLine: number | undefined,
): SessionHeaderInput {
  const scenario = {
    name: `import: ${file}`,
    source: {
      kind: 'trace',
      importer: IMPORTER,
      file,
      bytes: totalBytes,
      flavour: det.flavour,
      evidence: det.evidence,
      isa: scan.isa ?? null,
      firstTimestamp: scan.t0 ? `${scan.t0.sec}.${String(scan.t0.ns).padStart(9, '0')}` : null,
      lines: stats.lines,
      records: stats.records,
      skipped: stats.skipped,
      skippedLines,
      ignored: stats.ignored,
      rejoined: stats.rejoined,
      ...(cancelledAtLine !== undefined ? { cancelledAtLine } : {}),
      vms: layout.vms,
    },
  };
  return { scenario, vcpus: layout.vms.map((v) => v.vcpus), seed: 0, features: { imported: det.flavour } };
}

function createWriter(outPath: string, input: SessionHeaderInput, headerRoom: number): SessionWriter {
  try {
    return SessionWriter.create(outPath, input, { headerRoom });
  } catch (e) {
    throw new ImportError(`cannot write ${outPath} (${(e as { code?: string; message?: string }).code ?? (e as Error).message})`);
  }
}

function closeWriter(writer: SessionWriter, outPath: string, complete: boolean, message: string): void {
  try {
    writer.close({ complete, ...(complete ? {} : { message }) });
  } catch (e) {
    try {
      unlinkSync(outPath);
    } catch {
      /* nothing to remove */
    }
    throw new ImportError(`cannot write ${outPath} (${(e as Error).message})`);
  }
}

function importSummary(imp: Importer, st: AssemblerStats, file: string, flavour: Flavour, records: number): string {
  return (
    `${imp.events} events from ${records} records of ${file} (${flavour}): ${imp.exits} exits, ${imp.raw} raw` +
    (st.skipped ? `, ${st.skipped} lines skipped` : '') +
    (imp.clampedTimes ? `, ${imp.clampedTimes} timestamps clamped` : '') +
    (imp.lateTimes ? `, ${imp.lateTimes} timestamps more than 104 days after the first kept at that limit` : '') +
    (imp.unmatchedExits ? `, ${imp.unmatchedExits} exits without kvm_entry` : '')
  );
}

function finalResult(
  base: Omit<ImportResult, 'ok' | 'complete' | 'cancelled' | 'message'>,
  imp: Importer,
  layout: Layout,
  complete: boolean,
  cancelled: boolean,
  message: string,
  started: number,
): ImportResult {
  return {
    ...base,
    ok: true,
    complete,
    cancelled,
    message,
    events: imp.events,
    exits: imp.exits,
    raw: imp.raw,
    clampedTimes: imp.clampedTimes,
    lateTimes: imp.lateTimes,
    unmatchedExits: imp.unmatchedExits,
    vms: layout.vms,
    seconds: (performance.now() - started) / 1000,
  };
}

/** Lines of a file as readLines counts them (for the message of a cancelled import). */
async function countLines(path: string): Promise<number> {
  let fh;
  try {
    fh = await open(path, 'r');
    const buf = Buffer.allocUnsafe(1 << 20);
    let lines = 0;
    let last = 10;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      for (let i = buf.indexOf(10); i >= 0 && i < bytesRead; i = buf.indexOf(10, i + 1)) lines++;
      last = buf[bytesRead - 1]!;
    }
    return lines + (last === 10 ? 0 : 1);
  } catch {
    return 0;
  } finally {
    await fh?.close();
  }
}

