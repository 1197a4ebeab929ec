/**
 * Events as named fields: the kernel's own field names of a tracepoint (its `format` file),
 * as a decoded binary record carries them (trace.dat, a live capture; see records.ts) and as
 * libtraceevent prints them when it cannot run an event's print format:
 * `[FAILED TO PARSE] exception=14 has_error=1 error_code=6 reinjected=0` (perf and trace-cmd
 * on 6.x kernels). Both decode here into the same shapes as the text decoders of decode.ts,
 * so every source maps to the same events (mapping.ts).
 */
import type { Entry, Exit, FastPageFault, InjException, PageFault, SetSpte, SpteRequested, TdpSpteChanged } from './decode.ts';
import { vmxReasonName, svmReasonName } from '../../core/exitReasons.ts';

/** A field's value: integers as numbers below 2^53, else bigints; strings as text. */
export type FieldValue = number | bigint | string;
export type Fields = ReadonlyMap<string, FieldValue>;

const FAILED = '[FAILED TO PARSE]';
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A payload libtraceevent could not format: `[FAILED TO PARSE] name=value ...`. */
export function isFailedToParse(body: string): boolean {
  return body.charCodeAt(0) === 91 && body.startsWith(FAILED);
}

/** The fields of a `[FAILED TO PARSE]` payload, or undefined when the body is not one. */
export function failedToParseFields(body: string): Map<string, FieldValue> | undefined {
  if (!isFailedToParse(body)) return undefined;
  const out = new Map<string, FieldValue>();
  // `name=value` pairs separated by blanks; a value is a number or a word (strings and
  // arrays, which these events do not have, stay text)
  const re = /([A-Za-z_]\w*)=(\S*)/g;
  const rest = body.slice(FAILED.length);
  for (let m = re.exec(rest); m; m = re.exec(rest)) out.set(m[1]!, fieldNumber(m[2]!));
  return out;
}

/** A printed value as a number (decimal, `0x` hex, negative), a bigint past 2^53, or the text. */
export function fieldNumber(text: string): FieldValue {
  if (/^-?\d+$/.test(text)) {
    const n = Number(text);
    if (Number.isSafeInteger(n)) return n;
    const b = BigInt(text);
    return b < 0n ? b & 0xffffffffffffffffn : b;
  }
  if (/^0[xX][0-9a-fA-F]+$/.test(text)) {
    const b = BigInt(text);
    return b <= MAX_SAFE ? Number(b) : b;
  }
  return text;
}

/** A field as a number (a bigint past 2^53 keeps its low 48 bits: an address); undefined when absent or not a number. */
export function num(f: Fields, name: string): number | undefined {
  const v = f.get(name);
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return v <= MAX_SAFE ? Number(v) : Number(v & ((1n << 48n) - 1n));
  return undefined;
}

/** A field as a 64-bit bigint (an entry); undefined when absent or not a number. */
export function big(f: Fields, name: string): bigint | undefined {
  const v = f.get(name);
  if (typeof v === 'number') return BigInt.asUintN(64, BigInt(v));
  if (typeof v === 'bigint') return BigInt.asUintN(64, v);
  return undefined;
}

/** The fields as `name=value` text (a raw event's text). */
export function fieldsText(f: Fields): string {
  // fields that print themselves so (a trace.dat payload's: one string made at once)
  const own = (f as Fields & { fieldsText?: () => string }).fieldsText;
  if (own) return own.call(f);
  let text = '';
  let first = true;
  // forEach: no [name, value] pair per field (a raw event's text is built for every such event)
  f.forEach((v, k) => {
    text += (first ? '' : ' ') + k + '=' + (typeof v === 'bigint' ? '0x' + v.toString(16) : String(v));
    first = false;
  });
  return text;
}

// ------------------------------------------------------------------ kvm events

/** KVM's `isa` field of kvm_exit: 1 VMX, 2 SVM. */
const KVM_ISA_SVM = 2;

/** kvm_exit: `exit_reason` (+ `isa`) as the reason name the text would print. */
export function fieldsExit(f: Fields): Exit | undefined {
  const code = num(f, 'exit_reason');
  if (code === undefined) return undefined;
  const svm = num(f, 'isa') === KVM_ISA_SVM;
  // the VMX basic reason is the low 16 bits; bit 31 is FAILED_VMENTRY
  const reasonText = svm ? svmReasonName(code) : vmxReasonName(code & 0xffff) + (code & 0x80000000 ? ' FAILED_VMENTRY' : '');
  const e: Exit = { reasonText };
  const vcpu = num(f, 'vcpu_id');
  if (vcpu !== undefined) e.vcpu = vcpu;
  const rip = num(f, 'guest_rip');
  if (rip !== undefined) e.rip = rip;
  const i1 = num(f, 'info1');
  if (i1 !== undefined) e.info1 = i1;
  const i2 = num(f, 'info2');
  if (i2 !== undefined) e.info2 = i2;
  const ii = num(f, 'intr_info');
  if (ii !== undefined) e.intrInfo = ii;
  const ec = num(f, 'error_code');
  if (ec !== undefined) e.errorCode = ec;
  return e;
}

export function fieldsEntry(f: Fields): Entry | undefined {
  const vcpu = num(f, 'vcpu_id');
  if (vcpu === undefined) return undefined;
  const e: Entry = { vcpu };
  const rip = num(f, 'rip');
  if (rip !== undefined) e.rip = rip;
  if (num(f, 'immediate_exit')) e.immediateExit = true;
  return e;
}

export function fieldsPageFault(f: Fields): PageFault | undefined {
  const address = num(f, 'fault_address');
  if (address === undefined) return undefined;
  const p: PageFault = { address, errorCode: num(f, 'error_code') ?? 0 };
  const vcpu = num(f, 'vcpu_id');
  if (vcpu !== undefined) p.vcpu = vcpu;
  const rip = num(f, 'guest_rip');
  if (rip !== undefined) p.rip = rip;
  return p;
}

/** The vector names of kvm_inj_exception's print format (`#PF`). */
const VECTORS: Record<number, string> = { 0: 'DE', 1: 'DB', 3: 'BP', 4: 'OF', 5: 'BR', 6: 'UD', 7: 'NM', 8: 'DF', 10: 'TS', 11: 'NP', 12: 'SS', 13: 'GP', 14: 'PF', 16: 'MF', 17: 'AC', 18: 'MC' };

export function fieldsInjException(f: Fields): InjException | undefined {
  const vector = num(f, 'exception');
  if (vector === undefined) return undefined;
  const e: InjException = { vector: VECTORS[vector] ?? String(vector), reinjected: !!num(f, 'reinjected') };
  if (num(f, 'has_error')) e.errorCode = num(f, 'error_code') ?? 0;
  return e;
}

export function fieldsCr(f: Fields): { write: boolean; cr: number; value: number } | undefined {
  const cr = num(f, 'cr');
  const value = num(f, 'val');
  if (cr === undefined || value === undefined) return undefined;
  return { write: !!num(f, 'rw'), cr, value };
}

// ------------------------------------------------------------------ kvmmmu events

export function fieldsFastPageFault(f: Fields): FastPageFault | undefined {
  const vcpu = num(f, 'vcpu_id');
  const gva = num(f, 'cr2_or_gpa');
  const ret = num(f, 'ret');
  if (vcpu === undefined || gva === undefined || ret === undefined) return undefined;
  const old = big(f, 'old_spte') ?? 0n;
  const next = big(f, 'new_spte') ?? 0n;
  // the print format's `spurious` is ret == RET_PF_SPURIOUS, `fixed` is the spte changed
  // (is_spurious_spte(old, new)); RET_PF_SPURIOUS's value moved between eras, the sptes did not
  const fixed = old !== next;
  return { vcpu, gva, errorCode: num(f, 'error_code') ?? 0, old, new: next, spurious: !fixed && ret !== 0, fixed };
}

export function fieldsSetSpte(f: Fields): SetSpte | undefined {
  const gfn = num(f, 'gfn');
  const spte = big(f, 'spte');
  const level = num(f, 'level');
  if (gfn === undefined || spte === undefined || level === undefined) return undefined;
  const u = num(f, 'u');
  const access = `${num(f, 'r') ? 'r' : '-'}${spte & 2n ? 'w' : '-'}${num(f, 'x') ? 'x' : '-'}${u === -1 || u === 255 ? '' : u ? 'u' : '-'}`;
  return { gfn, spte, access, level, sptep: num(f, 'sptep') ?? 0 };
}

export function fieldsSpteRequested(f: Fields): SpteRequested | undefined {
  const gfn = num(f, 'gfn');
  const pfn = num(f, 'pfn');
  const level = num(f, 'level');
  return gfn === undefined || pfn === undefined || level === undefined ? undefined : { gfn, pfn, level };
}

export function fieldsTdpSpteChanged(f: Fields): TdpSpteChanged | undefined {
  const gfn = num(f, 'gfn');
  const level = num(f, 'level');
  const old = big(f, 'old_spte');
  const next = big(f, 'new_spte');
  if (gfn === undefined || level === undefined || old === undefined || next === undefined) return undefined;
  return { asId: num(f, 'as_id') ?? 0, gfn, level, old, new: next };
}

/** A 64-bit field as lower-case hex digits (as %llx prints it), no BigInt below 2^53; undefined when absent or not a number. */
export function fieldHex(f: Fields, name: string): string | undefined {
  // fields that keep it (a trace.dat payload shared by many events: made once)
  const own = (f as Fields & { fieldHex?: (name: string) => string | undefined }).fieldHex;
  return own ? own.call(f, name) : hexOf(f.get(name));
}

/** A field's value as fieldHex prints it. */
export function hexOf(v: FieldValue | undefined): string | undefined {
  // a number is exact below 2^53; past it, or negative (a signed field), as the 64-bit word
  if (typeof v === 'number') return v >= 0 ? v.toString(16) : BigInt.asUintN(64, BigInt(v)).toString(16);
  if (typeof v === 'bigint') return BigInt.asUintN(64, v).toString(16);
  return undefined;
}

export function fieldsGpa(f: Fields): { gpa: number } | undefined {
  const gpa = num(f, 'gpa');
  return gpa === undefined ? undefined : { gpa };
}

export function fieldsWalkerError(f: Fields): { pferr: number } | undefined {
  const pferr = num(f, 'pferr');
  return pferr === undefined ? undefined : { pferr };
}

/** A shadow page's fields (get_page, prepare_zap_page, sync_page, unsync_page): the role as its numeric word. */
export function fieldsShadowPage(f: Fields): { gfn: number; roleWord: number; root: number; unsync: boolean; created?: boolean } | undefined {
  const gfn = num(f, 'gfn');
  const roleWord = num(f, 'role');
  if (gfn === undefined || roleWord === undefined) return undefined;
  const created = num(f, 'created');
  return { gfn, roleWord, root: num(f, 'root_count') ?? 0, unsync: !!num(f, 'unsync'), ...(created === undefined ? {} : { created: created !== 0 }) };
}
