/**
 * A parsed record as the import logic reads it: the record's columns with its timestamp read
 * into numbers and the payload fields the scan and the importer need of the hot events
 * (kvm_exit, kvm_entry, kvm_page_fault, fast_page_fault) already decoded. `predecode` is the one
 * place that reads them: the reading thread calls it before it packs a batch (recordBatch.ts),
 * the importing thread when it parses lines itself, so both give the same session.
 * The payload text travels only where it is still needed: a raw event's text, or the
 * decoders the importing thread still runs (the rarer kvmmmu events).
 */
import { decodeEntryVcpu, decodeExit, decodeFastPageFaultBrief, decodePageFaultBrief } from './decode.ts';
import type { TraceRecord } from './lines.ts';
import type { Fields } from './fields.ts';

export interface ImportRecord {
  lineNo: number;
  comm: string;
  /** -1 when the text has none. */
  pid: number;
  tgid: number | undefined;
  /** The timestamp's seconds and nanoseconds (as parseTs reads them); sec is NaN when the record has no timestamp. */
  sec: number;
  ns: number;
  system: string | undefined;
  event: string;
  /** The payload; '' where it is decoded here and not kept (a decoded kvm_exit or kvm_entry). */
  body: string;
  /** `vcpu N` at the start of the payload as the scan reads it (vcpuField), for kvm_entry, kvm_exit and the page faults; NaN otherwise. */
  scanVcpu: number;
  /** The decoded vCPU of kvm_exit, kvm_entry and the page faults; NaN when the payload has none. */
  vcpu: number;
  /** kvm_exit: the reason text; '' when the payload is not an exit form (a raw event). */
  reason: string;
  /** kvm_exit: info2; kvm_page_fault: the address; NaN when none. */
  a: number;
  /**
   * DECODED when the hot event's payload decoded (kvm_page_fault, fast_page_fault; kvm_exit and
   * kvm_entry say it by `reason` and `vcpu`), plus SPURIOUS and FIXED of a fast_page_fault;
   * PENDING (alone) while a page fault's payload is still to be decoded (decodeFaults).
   */
  flags: number;
  /**
   * The event's named fields, for records decoded from binary data (records.ts); the text's
   * `[FAILED TO PARSE]` payloads are read into fields where they are mapped (mapping.ts).
   */
  fields?: Fields;
}

export const DECODED = 1;
export const SPURIOUS = 2;
export const FIXED = 4;
export const PENDING = 8;

// ---------------------------------------------------------------------------------------------
// Timestamps: seconds text → seconds and nanoseconds.

export interface Ts {
  sec: number;
  ns: number;
}

export function parseTs(ts: string): Ts {
  const dot = ts.indexOf('.');
  if (dot < 0) return { sec: Number(ts) || 0, ns: 0 };
  const frac = ts.slice(dot + 1);
  const ns = frac.length === 6 ? Number(frac) * 1000 : frac.length === 9 ? Number(frac) : Number((frac + '000000000').slice(0, 9));
  return { sec: Number(ts.slice(0, dot)) || 0, ns: ns || 0 };
}

/**
 * Reads timestamp texts into `sec` and `ns` as `parseTs` does, without allocating: two numbers
 * per record instead of an object and two substrings. Texts other than digits.digits with at
 * most 15 digits of seconds go through parseTs.
 */
export class TsReader {
  sec = 0;
  ns = 0;
  read(ts: string): void {
    const n = ts.length;
    let sec = 0;
    let k = 0;
    for (; k < n; k++) {
      const c = ts.charCodeAt(k);
      if (c < 48 || c > 57) break;
      sec = sec * 10 + (c - 48);
    }
    if (k === 0 || k > 15 || k === n || ts.charCodeAt(k) !== 46) return this.slow(ts);
    let ns = 0;
    let digits = 0;
    for (let j = k + 1; j < n; j++) {
      const c = ts.charCodeAt(j);
      if (c < 48 || c > 57) return this.slow(ts);
      // parseTs keeps the first 9 digits of the fraction
      if (digits < 9) {
        ns = ns * 10 + (c - 48);
        digits++;
      }
    }
    if (digits === 0) return this.slow(ts);
    for (; digits < 9; digits++) ns *= 10;
    this.sec = sec;
    this.ns = ns;
  }
  private slow(ts: string): void {
    const t = parseTs(ts);
    this.sec = t.sec;
    this.ns = t.ns;
  }
}

/** `vcpu N` at the start of a payload (kvm_entry, kvm_exit, page faults), or NaN: what the scan counts as the thread's vCPU id. */
export function vcpuField(body: string): number {
  if (!body.startsWith('vcpu ')) return NaN;
  let v = 0;
  let k = 5;
  for (; k < body.length && k < 12; k++) {
    const c = body.charCodeAt(k);
    if (c < 48 || c > 57) break;
    v = v * 10 + (c - 48);
  }
  return k > 5 ? v : NaN;
}

/** The import's view of a record (see ImportRecord), a new object. `tsr` is the caller's reader. */
export function predecode(r: TraceRecord, tsr: TsReader): ImportRecord {
  const out: ImportRecord = { lineNo: 0, comm: '', pid: 0, tgid: undefined, sec: 0, ns: 0, system: undefined, event: '', body: '', scanVcpu: 0, vcpu: 0, reason: '', a: 0, flags: 0 };
  predecodeInto(r, tsr, out);
  return out;
}

/** predecode into `out` (the reading thread packs it at once: no object per record). */
export function predecodeInto(r: TraceRecord, tsr: TsReader, out: ImportRecord, faults = true): void {
  let sec = NaN;
  let ns = 0;
  if (r.ts) {
    tsr.read(r.ts);
    sec = tsr.sec;
    ns = tsr.ns;
  }
  const ev = r.event;
  let body = r.body;
  let scanVcpu = NaN;
  let vcpu = NaN;
  let reason = '';
  let a = NaN;
  let flags = 0;
  switch (ev) {
    case 'kvm_exit': {
      scanVcpu = vcpuField(body);
      const d = decodeExit(body, true);
      if (d) {
        reason = d.reasonText;
        if (d.vcpu !== undefined) vcpu = d.vcpu;
        if (d.info2 !== undefined) a = d.info2;
        body = '';
      }
      break;
    }
    case 'kvm_entry': {
      scanVcpu = vcpuField(body);
      const v = decodeEntryVcpu(body);
      if (v !== undefined) {
        vcpu = v;
        body = '';
      }
      break;
    }
    case 'kvm_page_fault':
    case 'fast_page_fault':
      flags = PENDING;
      break;
  }
  out.lineNo = r.lineNo;
  out.comm = r.comm;
  out.pid = r.pid;
  out.tgid = r.tgid;
  out.sec = sec;
  out.ns = ns;
  out.system = r.system;
  out.event = ev;
  out.body = body;
  out.scanVcpu = scanVcpu;
  out.vcpu = vcpu;
  out.reason = reason;
  out.a = a;
  out.flags = flags;
  if (faults && flags === PENDING) decodeFaults(out);
}

/**
 * The page faults' part of predecode (kvm_page_fault, fast_page_fault: flags PENDING), from
 * the record's payload, which an import keeps anyway as the raw event's text. The reading
 * thread leaves it to the importing thread, so the two threads' shares of the work stay even.
 */
export function decodeFaults(r: ImportRecord): void {
  const body = r.body;
  r.flags = 0;
  r.scanVcpu = vcpuField(body);
  if (r.event === 'kvm_page_fault') {
    const d = decodePageFaultBrief(body);
    if (d) {
      r.flags = DECODED;
      r.a = d.address;
      if (d.vcpu !== undefined) r.vcpu = d.vcpu;
    }
  } else {
    const d = decodeFastPageFaultBrief(body);
    if (d) {
      r.flags = DECODED | (d.spurious ? SPURIOUS : 0) | (d.fixed ? FIXED : 0);
      r.vcpu = d.vcpu;
    }
  }
}

/** A decoded vCPU id, or NaN where the payload had none (as the ImportRecord fields hold it). */
export function vcpuNone(v: number | undefined): number {
  return v === undefined ? NaN : v;
}
