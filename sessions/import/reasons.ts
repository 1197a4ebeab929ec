/**
 * Exit reason names as traces print them → the names the lab uses (core/exitReasons.ts).
 *
 * A trace prints a reason as a VMX name (`EPT_VIOLATION`, lower case on ~2.6.3x kernels), an
 * SVM kernel name (`npf`, `PF excp`, `interrupt`), a libtraceevent plugin name (`EXIT_NPF`),
 * a number, `UNKNOWN (n)` (the plugin), and maybe ` FAILED_VMENTRY` appended. VMX exits keep
 * their VMX name; SVM exits get the SVM name of core/exitReasons.ts (`npf`, `excp_pf`, `intr`,
 * `ioio`, `vmmcall`, ...); an SVM exit is never mapped onto a VMX name.
 */
import { SVM_EXIT_REASONS, VMX_EXIT_REASONS, svmReasonName, vmxReasonName } from '../../core/exitReasons.ts';

export type Isa = 'vmx' | 'svm';

export interface Reason {
  /** The lab's name of the reason. */
  name: string;
  /** The ISA the name belongs to, when the text says so; undefined when it fits both. */
  isa?: Isa;
  /** `FAILED_VMENTRY` was set. */
  failed: boolean;
}

const has = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/** Kernel SVM names (`svm_exit_reasons`) whose lab name differs. */
const SVM_KERNEL_ALIASES: Record<string, string> = {
  interrupt: 'intr',
  io: 'ioio',
  hypercall: 'vmmcall',
  invalid_guest_state: 'err',
};

/** Old names that perf and old kernels print for VMX reasons. */
const VMX_ALIASES: Record<string, string> = { PENDING_INTERRUPT: 'INTERRUPT_WINDOW' };

/** Lower-case names that are both an old-kernel VMX name and an SVM name (`hlt`, `cpuid`, ...). */
function ambiguousLower(lower: string): boolean {
  return has(VMX_EXIT_REASONS, lower.toUpperCase()) && has(SVM_EXIT_REASONS, lower);
}

function byNumber(code: number, isa: Isa | undefined): Reason {
  return isa === 'svm' ? { name: svmReasonName(code), isa: 'svm', failed: false } : { name: vmxReasonName(code), isa: 'vmx', failed: false };
}

/**
 * Normalize the reason text of a `kvm_exit` (or nested exit). `hint` is the ISA the file is
 * known to use (from other exits); it decides numbers and names that fit both ISAs.
 */
export function normalizeReason(text: string, hint?: Isa): Reason {
  let s = text.trim();
  let failed = false;
  if (s.endsWith('FAILED_VMENTRY')) {
    failed = true;
    s = s.slice(0, -'FAILED_VMENTRY'.length).trim();
  }
  const r = normalizeName(s, hint);
  r.failed = failed;
  if (failed && !r.isa) r.isa = 'vmx';
  return r;
}

function normalizeName(s: string, hint?: Isa): Reason {
  if (s === '') return { name: 'UNKNOWN', failed: false };
  const unknown = /^UNKNOWN \((\d+)\)$/.exec(s);
  if (unknown) return byNumber(Number(unknown[1]), hint);
  if (/^(?:0x[0-9a-fA-F]+|\d+)$/.test(s)) return byNumber(Number(s), hint);
  if (has(VMX_EXIT_REASONS, s)) return { name: s, isa: 'vmx', failed: false };
  if (has(VMX_ALIASES, s)) return { name: VMX_ALIASES[s]!, isa: 'vmx', failed: false };
  const plugin = /^(?:SVM_)?EXIT_(\w+)$/.exec(s);
  if (plugin) {
    const lower = plugin[1]!.toLowerCase();
    return { name: lower === 'err' ? 'err' : lower, isa: 'svm', failed: false };
  }
  const excp = /^(\w\w) excp$/.exec(s);
  if (excp) return { name: `excp_${excp[1]!.toLowerCase()}`, isa: 'svm', failed: false };
  if (s === s.toLowerCase()) {
    const upper = s.toUpperCase();
    if (ambiguousLower(s)) {
      return hint === 'vmx' ? { name: upper, failed: false } : { name: s, failed: false };
    }
    if (has(VMX_EXIT_REASONS, upper)) return { name: upper, isa: 'vmx', failed: false };
    if (has(SVM_KERNEL_ALIASES, s)) return { name: SVM_KERNEL_ALIASES[s]!, isa: 'svm', failed: false };
    return { name: s, isa: /^[a-z0-9_]+$/.test(s) ? 'svm' : undefined, failed: false };
  }
  // An upper-case name the table does not have yet (TDCALL, MSR_READ_IMM, ...): keep it.
  return { name: s, isa: /^[A-Z0-9_]+$/.test(s) ? 'vmx' : undefined, failed: false };
}

/** A small cache in front of `normalizeReason`: a trace uses a handful of distinct texts. */
export class ReasonCache {
  /** One map per hint (none, vmx, svm), so a lookup builds no key string. */
  private readonly maps = { none: new Map<string, Reason>(), vmx: new Map<string, Reason>(), svm: new Map<string, Reason>() };
  get(text: string, hint?: Isa): Reason {
    const map = this.maps[hint ?? 'none'];
    let r = map.get(text);
    if (!r) {
      r = normalizeReason(text, hint);
      if (map.size < 4096) map.set(text, r);
    }
    return r;
  }
}

/** Exits for a guest exception (#PF intercepted): a page fault's address is a guest VA. */
export const EXCEPTION_REASONS = new Set(['EXCEPTION_NMI', 'excp_pf', 'excp_gp', 'excp_db', 'excp_ud']);
/** TDP faults: a page fault's address is a GPA. */
export const TDP_REASONS = new Set(['EPT_VIOLATION', 'EPT_MISCONFIG', 'npf']);
/** The handling an exit's reason alone tells (what its events show ranks higher). */
export const REASON_HANDLING: Record<string, string> = {
  EXTERNAL_INTERRUPT: 'interrupt',
  intr: 'interrupt',
  nmi: 'interrupt',
  VMCALL: 'hypercall',
  vmmcall: 'hypercall',
  INVLPG: 'invlpg',
  invlpg: 'invlpg',
  EPT_MISCONFIG: 'mmio-emulate',
};
