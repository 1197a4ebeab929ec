/**
 * Payload decoders for the kvm: and kvmmmu: events, every kernel era's text and the
 * libtraceevent plugin's replacements (see docs/import.md and the fixtures' README).
 * Each takes the text after `event:` and returns the fields it found, or undefined when the
 * text is not a form it knows (the importer then keeps the record as a raw event).
 */

import { roleText } from './role.ts';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const LOW48 = (1n << 48n) - 1n;

/**
 * A hex address as a JS number (the `addr` kind). Values at or above 2^53 (kernel virtual
 * addresses such as 0xffffffff81000000) keep their low 48 bits: the canonical linear address.
 */
export function hexAddr(hex: string): number {
  // the common case without substrings: at most 13 hex digits after the 0x and leading zeros
  const n = hex.length;
  let i = n >= 2 && hex.charCodeAt(0) === 48 && (hex.charCodeAt(1) | 32) === 120 ? 2 : 0;
  while (i < n - 1 && hex.charCodeAt(i) === 48) i++;
  if (i < n && n - i <= 13) {
    let v = 0;
    for (; i < n; i++) {
      const c = hex.charCodeAt(i);
      const l = c | 32; // a-f and A-F alike
      const d = c >= 48 && c <= 57 ? c - 48 : l >= 97 && l <= 102 ? l - 87 : -1;
      if (d < 0) return hexAddrText(hex);
      v = v * 16 + d;
    }
    return v;
  }
  return hexAddrText(hex);
}

function hexAddrText(hex: string): number {
  let h = hex;
  if (h.startsWith('0x') || h.startsWith('0X')) h = h.slice(2);
  if (h.length <= 13) return parseInt(h, 16) || 0;
  // zero-padded fields (`info1 0x0000000000000184`) fit a number without a BigInt
  let z = 0;
  while (z < h.length - 1 && h.charCodeAt(z) === 48) z++;
  if (h.length - z <= 13) return parseInt(h.slice(z), 16) || 0;
  const b = BigInt('0x' + h);
  return b <= MAX_SAFE ? Number(b) : Number(b & LOW48);
}

/** A hex 64-bit entry as a bigint (the `pte` kind). */
export function hexPte(hex: string): bigint {
  const h = hex.startsWith('0x') || hex.startsWith('0X') ? hex.slice(2) : hex;
  const b = BigInt('0x' + (h || '0'));
  return b & 0xffffffffffffffffn;
}

const hexNum = (h: string | undefined): number => (h === undefined ? 0 : hexAddr(h));

// ------------------------------------------------------------------ kvm_entry

export interface Entry {
  vcpu: number;
  rip?: number;
  immediateExit?: boolean;
}

const ENTRY = /^vcpu (\d+)(?:,? rip 0x([0-9a-fA-F]+))?/;

/** `vcpu 1` (≤5.9), `vcpu 0, rip 0x…` (5.10+), `… [immediate exit]` (6.9+), `vcpu 1 rip 0x…` (perf, vendor). */
export function decodeEntry(body: string): Entry | undefined {
  const m = ENTRY.exec(body);
  if (!m) return undefined;
  const e: Entry = { vcpu: Number(m[1]) };
  if (m[2] !== undefined) e.rip = hexAddr(m[2]);
  if (body.includes('[immediate exit]')) e.immediateExit = true;
  return e;
}

/**
 * What an import keeps of a kvm_entry: its vCPU, where `decodeEntry` would decode one (the
 * same `vcpu N` start), without the rip, which would cost a BigInt for a kernel address.
 */
export function decodeEntryVcpu(body: string): number | undefined {
  if (!body.startsWith('vcpu ')) return undefined;
  let k = 5;
  let v = 0;
  for (; k < body.length; k++) {
    const c = body.charCodeAt(k);
    if (c < 48 || c > 57) break;
    v = v * 10 + (c - 48);
  }
  if (k === 5) return undefined;
  return k - 5 > 15 ? Number(body.slice(5, k)) : v;
}

// ------------------------------------------------------------------ kvm_exit, kvm_nested_vmexit(_inject)

export interface Exit {
  vcpu?: number;
  /** The reason text as printed (normalize it with reasons.ts). */
  reasonText: string;
  rip?: number;
  info1?: number;
  info2?: number;
  intrInfo?: number;
  errorCode?: number;
}

const EXIT_NEW =
  /^vcpu (\d+) reason (.+?) rip 0x([0-9a-fA-F]+) info1 0x([0-9a-fA-F]+) info2 0x([0-9a-fA-F]+) intr_info 0x([0-9a-fA-F]+) error_code 0x([0-9a-fA-F]+)/;
const EXIT_OLD = /^(?:vcpu (\d+),? )?reason (.+?) rip 0x([0-9a-fA-F]+)(?: info ([0-9a-fA-F]+) ([0-9a-fA-F]+))?/;
const EXIT_REASON_ONLY = /^(?:vcpu (\d+),? )?reason:? (.+?)(?= ext_inf1:| info1 | info | rip |$)/;
const RIP_FIRST = /^rip:? (?:0x)?([0-9a-fA-F]+) reason:? (.+?)(?= ext_inf1:| info1 | info | int_info |$)/;

function kv(body: string, key: string): string | undefined {
  const i = body.indexOf(key);
  if (i < 0) return undefined;
  const m = /^:? (?:0x)?([0-9a-fA-F]+)/.exec(body.slice(i + key.length));
  return m ? m[1] : undefined;
}

/**
 * `kvm_exit` of every era (`brief`: only vcpu, reasonText and info2 are sure to be filled): `reason X rip 0x… [info A B]` (≤5.6 and the plugin),
 * `vcpu N reason X rip 0x… info A B` (5.7–5.11), `vcpu N reason X rip 0x… info1 0x… info2 0x…
 * intr_info 0x… error_code 0x…` (5.12+). Also the nested exits: the kvm_exit class text, the old
 * kernel text `rip: 0x… reason: X ext_inf1: …` and the plugin's `rip … reason X info1 … int_info …`.
 */
export function decodeExit(body: string, brief = false): Exit | undefined {
  const e = decodeExitForms(body, brief);
  // A reason is a short name (`EPT_VIOLATION`, `PF excp`, `UNKNOWN (77)`, `... FAILED_VMENTRY`);
  // anything else is not an exit we understand, and stays a raw event.
  return e && REASON_TEXT.test(e.reasonText) ? e : undefined;
}

const REASON_TEXT = /^[\w()\- ]{1,64}$/;

// EXIT_NEW capturing only what a brief decode keeps (fewer substrings per exit)
const EXIT_NEW_BRIEF = /^vcpu (\d+) reason (.+?) rip 0x[0-9a-fA-F]+ info1 0x[0-9a-fA-F]+ info2 0x([0-9a-fA-F]+) intr_info 0x[0-9a-fA-F]+ error_code 0x[0-9a-fA-F]+/;

function decodeExitForms(body: string, brief: boolean): Exit | undefined {
  // brief: the vCPU, the reason and info2 only (what an import keeps), the common case's cost
  if (brief) {
    const b = EXIT_NEW_BRIEF.exec(body);
    if (b) return { vcpu: Number(b[1]), reasonText: b[2]!, info2: hexAddr(b[3]!) };
  }
  let m = brief ? null : EXIT_NEW.exec(body);
  if (m)
    return {
      vcpu: Number(m[1]),
      reasonText: m[2]!,
      rip: hexAddr(m[3]!),
      info1: hexAddr(m[4]!),
      info2: hexAddr(m[5]!),
      intrInfo: hexAddr(m[6]!),
      errorCode: hexAddr(m[7]!),
    };
  m = EXIT_OLD.exec(body);
  if (m) {
    const e: Exit = { reasonText: m[2]!, rip: hexAddr(m[3]!) };
    if (m[1] !== undefined) e.vcpu = Number(m[1]);
    if (m[4] !== undefined) {
      e.info1 = hexAddr(m[4]);
      e.info2 = hexAddr(m[5]!);
    } else fillInfo(e, body);
    return e;
  }
  m = RIP_FIRST.exec(body);
  if (m) {
    const e: Exit = { reasonText: m[2]!, rip: hexAddr(m[1]!) };
    fillInfo(e, body);
    return e;
  }
  m = EXIT_REASON_ONLY.exec(body);
  if (m) {
    const e: Exit = { reasonText: m[2]! };
    if (m[1] !== undefined) e.vcpu = Number(m[1]);
    fillInfo(e, body);
    return e;
  }
  return undefined;
}

function fillInfo(e: Exit, body: string): void {
  const i1 = kv(body, 'info1') ?? kv(body, 'ext_inf1');
  const i2 = kv(body, 'info2') ?? kv(body, 'ext_inf2');
  const ii = kv(body, 'intr_info') ?? kv(body, 'int_info ') ?? kv(body, 'ext_int:');
  const ec = kv(body, 'error_code') ?? kv(body, 'int_info_err') ?? kv(body, 'ext_int_err');
  if (i1 !== undefined) e.info1 = hexNum(i1);
  if (i2 !== undefined) e.info2 = hexNum(i2);
  if (ii !== undefined) e.intrInfo = hexNum(ii);
  if (ec !== undefined) e.errorCode = hexNum(ec);
}

// ------------------------------------------------------------------ kvm_page_fault

export interface PageFault {
  vcpu?: number;
  rip?: number;
  address: number;
  errorCode: number;
}

const PAGE_FAULT = /^(?:vcpu (\d+) rip 0x([0-9a-fA-F]+) )?address (?:0x)?([0-9a-fA-F]+) error_code (?:0x)?([0-9a-fA-F]+)/;

/** `address %lx error_code %x` (≤6.0) and `vcpu %u rip 0x%lx address 0x%016llx error_code 0x%llx` (6.1+). */
export function decodePageFault(body: string): PageFault | undefined {
  const m = PAGE_FAULT.exec(body);
  if (!m) return undefined;
  const f: PageFault = { address: hexAddr(m[3]!), errorCode: hexAddr(m[4]!) };
  if (m[1] !== undefined) {
    f.vcpu = Number(m[1]);
    f.rip = hexAddr(m[2]!);
  }
  return f;
}

/** What an import keeps of a page fault (its text stays as a raw event): the vCPU and the address, of the same forms as `decodePageFault`. */
export function decodePageFaultBrief(body: string): { vcpu?: number; address: number } | undefined {
  const m = PAGE_FAULT.exec(body);
  if (!m) return undefined;
  return m[1] !== undefined ? { vcpu: Number(m[1]), address: hexAddr(m[3]!) } : { address: hexAddr(m[3]!) };
}

// ------------------------------------------------------------------ I/O, MSRs, hypercalls, exceptions

export interface Mmio {
  kind: string;
  len: number;
  gpa: number;
  val: number;
}
const MMIO = /^mmio (\S+) len (\d+) gpa 0x([0-9a-fA-F]+) val 0x([0-9a-fA-F]+)/;
export function decodeMmio(body: string): Mmio | undefined {
  const m = MMIO.exec(body);
  return m ? { kind: m[1]!, len: Number(m[2]), gpa: hexAddr(m[3]!), val: hexAddr(m[4]!) } : undefined;
}

export interface Pio {
  write: boolean;
  port: number;
  size: number;
  count: number;
  val?: number;
}
const PIO = /^pio_(read|write) at 0x([0-9a-fA-F]+) size (\d+) count (\d+)(?: val 0x([0-9a-fA-F]+))?/;
/** `pio_read at 0x… size 2 count 1` (old: no val) and `… val 0x… [more]`. */
export function decodePio(body: string): Pio | undefined {
  const m = PIO.exec(body);
  if (!m) return undefined;
  const p: Pio = { write: m[1] === 'write', port: parseInt(m[2]!, 16), size: Number(m[3]), count: Number(m[4]) };
  if (m[5] !== undefined) p.val = hexAddr(m[5]);
  return p;
}

export interface Msr {
  write: boolean;
  msr: number;
  value: bigint;
  gp: boolean;
}
const MSR = /^msr_(read|write) ([0-9a-fA-F]+) = 0x([0-9a-fA-F]+)( \(#GP\))?/;
export function decodeMsr(body: string): Msr | undefined {
  const m = MSR.exec(body);
  return m ? { write: m[1] === 'write', msr: parseInt(m[2]!, 16), value: hexPte(m[3]!), gp: !!m[4] } : undefined;
}

export interface Hypercall {
  nr: number;
  args: number[];
}
const HYPERCALL = /^nr 0x([0-9a-fA-F]+) a0 0x([0-9a-fA-F]+) a1 0x([0-9a-fA-F]+) a2 0x([0-9a-fA-F]+) a3 0x([0-9a-fA-F]+)/;
export function decodeHypercall(body: string): Hypercall | undefined {
  const m = HYPERCALL.exec(body);
  return m ? { nr: hexAddr(m[1]!), args: [m[2]!, m[3]!, m[4]!, m[5]!].map(hexAddr) } : undefined;
}

export interface InjException {
  vector: string;
  errorCode?: number;
  reinjected: boolean;
}
const INJ = /^#(\w+)(?: \(0x([0-9a-fA-F]+)\))?/;
/** `#PF (0x3)` (old and new), `#DB`, `#DB [reinjected]`. */
export function decodeInjException(body: string): InjException | undefined {
  const m = INJ.exec(body);
  if (!m) return undefined;
  const e: InjException = { vector: m[1]!, reinjected: body.includes('[reinjected]') };
  if (m[2] !== undefined) e.errorCode = parseInt(m[2], 16);
  return e;
}

export interface Cr {
  write: boolean;
  cr: number;
  value: number;
}
const CR = /^cr_(read|write) ([0-9a-fA-F]+) = 0x([0-9a-fA-F]+)/;
export function decodeCr(body: string): Cr | undefined {
  const m = CR.exec(body);
  return m ? { write: m[1] === 'write', cr: parseInt(m[2]!, 16), value: hexAddr(m[3]!) } : undefined;
}

export interface NestedVmenter {
  rip: number;
  vmcb: number;
  nestedRip: number;
  npt?: boolean;
}
/** `kvm_nested_vmrun` (old) / `kvm_nested_vmenter` (new): `rip: 0x… vmcb|vmcs: 0x… nrip|nested_rip: 0x… … npt: on`. */
export function decodeNestedVmenter(body: string): NestedVmenter | undefined {
  const rip = kv(body, 'rip');
  const vmcb = kv(body, 'vmcb') ?? kv(body, 'vmcs');
  const nrip = kv(body, 'nested_rip') ?? kv(body, 'nrip');
  if (rip === undefined || vmcb === undefined) return undefined;
  const r: NestedVmenter = { rip: hexAddr(rip), vmcb: hexAddr(vmcb), nestedRip: hexNum(nrip) };
  const npt = /(?:npt|nested_ept|nested_npt)[:=] ?(on|off|[ny]|[01])\b/.exec(body);
  if (npt) r.npt = npt[1] === 'on' || npt[1] === 'y' || npt[1] === '1';
  return r;
}

// ------------------------------------------------------------------ kvmmmu

/** PFERR flags as `__print_flags` prints them (`P|W`, `F`, ``) → the error code bits. */
export function pferrFlags(s: string): number {
  let v = 0;
  for (const f of s.split('|')) {
    if (f === 'P') v |= 1;
    else if (f === 'W') v |= 2;
    else if (f === 'U') v |= 4;
    else if (f === 'RSVD') v |= 8;
    else if (f === 'F') v |= 16;
  }
  return v;
}

export interface FastPageFault {
  vcpu: number;
  gva: number;
  errorCode: number;
  old: bigint;
  new: bigint;
  spurious: boolean;
  fixed: boolean;
}
const FAST_PF = /^vcpu (\d+) gva (?:0x)?([0-9a-fA-F]+) error_code ?(\S*) sptep (?:0x)?\S+ old (?:0x)?([0-9a-fA-F]+) new (?:0x)?([0-9a-fA-F]+) spurious (\d+) fixed (\d+)/;
const FAST_PF_BRIEF = /^vcpu (\d+) .* spurious (\d+) fixed (\d+)/;
/** What an import keeps of a fast_page_fault (its text stays as a raw event): the vCPU and the outcome. */
export function decodeFastPageFaultBrief(body: string): { vcpu: number; spurious: boolean; fixed: boolean } | undefined {
  const m = FAST_PF_BRIEF.exec(body);
  return m ? { vcpu: Number(m[1]), spurious: m[2] !== '0', fixed: m[3] !== '0' } : undefined;
}

export function decodeFastPageFault(body: string): FastPageFault | undefined {
  const m = FAST_PF.exec(body);
  if (!m) return undefined;
  const ec = /^(?:0x)?[0-9a-fA-F]+$/.test(m[3]!) && !/^[PWUF]$/.test(m[3]!) ? parseInt(m[3]!, 16) : pferrFlags(m[3]!);
  return { vcpu: Number(m[1]), gva: hexAddr(m[2]!), errorCode: ec, old: hexPte(m[4]!), new: hexPte(m[5]!), spurious: m[6] !== '0', fixed: m[7] !== '0' };
}

export interface SetSpte {
  gfn: number;
  spte: bigint;
  access: string;
  level: number;
  sptep: number;
}
const SET_SPTE = /^gfn ([0-9a-fA-F]+) spte ([0-9a-fA-F]+) \(([-rwxu]{4})\) level (\d+) at ([0-9a-fA-F]+)/;
export function decodeSetSpte(body: string): SetSpte | undefined {
  const m = SET_SPTE.exec(body);
  return m ? { gfn: hexAddr(m[1]!), spte: hexPte(m[2]!), access: m[3]!, level: Number(m[4]), sptep: hexAddr(m[5]!) } : undefined;
}

export interface SpteRequested {
  gfn: number;
  pfn: number;
  level: number;
}
const SPTE_REQ = /^gfn ([0-9a-fA-F]+) pfn ([0-9a-fA-F]+) level (\d+)/;
export function decodeSpteRequested(body: string): SpteRequested | undefined {
  const m = SPTE_REQ.exec(body);
  return m ? { gfn: hexAddr(m[1]!), pfn: hexAddr(m[2]!), level: Number(m[3]) } : undefined;
}

export interface TdpSpteChanged {
  asId: number;
  gfn: number;
  level: number;
  old: bigint;
  new: bigint;
}
const TDP_CHANGED = /^as id (\d+) gfn ([0-9a-fA-F]+) level (\d+) old_spte ([0-9a-fA-F]+) new_spte ([0-9a-fA-F]+)/;
export function decodeTdpSpteChanged(body: string): TdpSpteChanged | undefined {
  const m = TDP_CHANGED.exec(body);
  return m ? { asId: Number(m[1]), gfn: hexAddr(m[2]!), level: Number(m[3]), old: hexPte(m[4]!), new: hexPte(m[5]!) } : undefined;
}

export interface ShadowPageInfo {
  /** Absent where the text does not print it (the plugin's sync, unsync and zap lines). */
  gfn?: number;
  level: number;
  quadrant: number;
  direct: boolean;
  /** The role words (role.ts roleText); for the plugin's text without the entry size, which `pae` gives. */
  role: string;
  /** The plugin's text: bit 4 of the role word as it prints it (`pae`/`!pae`); its meaning depends on the era (role.ts). */
  pae?: boolean;
  root: number;
  unsync: boolean;
  /** `new` / `existing` (kvm_mmu_get_page only). */
  created?: boolean;
}
const SP_KERNEL =
  /^sp gen \d+ gfn ([0-9a-fA-F]+) l(\d+) (\d)-byte q(\d+)( direct)? (\S+)( invalid)? (!?)nxe (!?)ad root (\d+) (sync|unsync)\W*(?: (new|existing))?/;
const SP_PLUGIN =
  /^(?:(new|existing) )?(?:sp )?(?:gfn ([0-9a-fA-F]+) )?(\d+) q(\d+)( direct)? (\S+)( invalid)? (!?)pae (!?)nxe (!?)wp((?: smep| smap| smm)*) root (\d+) (sync|unsync)/;

/** The shadow-page printer of kvm_mmu_get_page / sync / unsync / prepare_zap: kernel text and plugin text. */
export function decodeShadowPage(body: string): ShadowPageInfo | undefined {
  let m = SP_KERNEL.exec(body);
  if (m) {
    const p: ShadowPageInfo = {
      gfn: hexAddr(m[1]!),
      level: Number(m[2]),
      quadrant: Number(m[4]),
      direct: !!m[5],
      role: roleText({ bytes: m[3] === '4' ? 4 : 8, direct: !!m[5], access: m[6]!, invalid: !!m[7], nxe: !m[8], ad: !m[9] }),
      root: Number(m[10]),
      unsync: m[11] === 'unsync',
    };
    if (m[12]) p.created = m[12] === 'new';
    return p;
  }
  m = SP_PLUGIN.exec(body);
  if (m) {
    const extras = m[11] ?? '';
    const p: ShadowPageInfo = {
      level: Number(m[3]),
      quadrant: Number(m[4]),
      direct: !!m[5],
      role: roleText({
        direct: !!m[5],
        access: m[6]!,
        invalid: !!m[7],
        nxe: !m[9],
        wp: !m[10],
        smep: extras.includes('smep'),
        smap: extras.includes('smap'),
        smm: extras.includes('smm'),
      }),
      pae: !m[8],
      root: Number(m[12]),
      unsync: m[13] === 'unsync',
    };
    if (m[2] !== undefined) p.gfn = hexAddr(m[2]);
    if (m[1]) p.created = m[1] === 'new';
    return p;
  }
  return undefined;
}

export interface PagetableWalk {
  addr: number;
  pferr: number;
}
const WALK = /^addr ([0-9a-fA-F]+) pferr ([0-9a-fA-F]+)/;
export function decodePagetableWalk(body: string): PagetableWalk | undefined {
  const m = WALK.exec(body);
  return m ? { addr: hexAddr(m[1]!), pferr: parseInt(m[2]!, 16) } : undefined;
}

const WALKER_ERROR = /^pferr ([0-9a-fA-F]+)/;
export function decodeWalkerError(body: string): { pferr: number } | undefined {
  const m = WALKER_ERROR.exec(body);
  return m ? { pferr: parseInt(m[1]!, 16) } : undefined;
}

const PAGING_ELEMENT = /^pte ([0-9a-fA-F]+) level (\d+)/;

/**
 * `pte HEX level N` read by hand (the most frequent kvmmmu record): the entry as lower-case hex
 * without leading zeros, where PAGING_ELEMENT would match.
 */
export function decodePagingElementHex(body: string): { hex: string; level: number } | undefined {
  if (!body.startsWith('pte ')) return undefined;
  let k = 4;
  const n = body.length;
  let c = body.charCodeAt(k);
  let lower = true;
  while (k < n && ((c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70))) {
    if (c >= 65 && c <= 70) lower = false;
    c = body.charCodeAt(++k);
  }
  if (k === 4 || !body.startsWith(' level ', k)) return undefined;
  let j = k + 7;
  let level = 0;
  for (c = body.charCodeAt(j); c >= 48 && c <= 57 && j < n; c = body.charCodeAt(++j)) level = level * 10 + (c - 48);
  if (j === k + 7) return undefined;
  let z = 4;
  while (z < k - 1 && body.charCodeAt(z) === 48) z++;
  const hex = body.slice(z, k);
  return { hex: lower ? hex : hex.toLowerCase(), level };
}
export function decodePagingElement(body: string): { pte: bigint; level: number } | undefined {
  const m = PAGING_ELEMENT.exec(body);
  return m ? { pte: hexPte(m[1]!), level: Number(m[2]) } : undefined;
}
