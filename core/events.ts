/**
 * The one definition of the engine's event types.
 *
 * Every event type is declared here once, as data: its fields and each field's kind. The
 * TypeScript types, the session encoder/decoder, the JSONL/CSV exporters and the UI's
 * inspector are all derived from this table, so adding an event type or a field is a
 * one-line change here (and a documented, backward-compatible change to the format).
 *
 * Field kinds:
 * - `u32`   small unsigned integer (level, index, error code, cpl)
 * - `addr`  a guest/host address or frame number below 2^53, a JS number; exported as hex
 * - `pte`   a 64-bit paging-structure entry, a bigint (bit 63 is NX); exported as hex
 * - `ns`    a simulated duration in nanoseconds, a JS number
 * - `str`   a short string from a small vocabulary (dictionary-encoded in sessions)
 * - `text`  a free-form string (auditor details, raw imported trace lines)
 */

export type FieldKind = 'u32' | 'addr' | 'pte' | 'ns' | 'str' | 'text';

export interface FieldSpec {
  readonly name: string;
  readonly kind: FieldKind;
  /** Optional fields may be absent from an event; the encoding carries a presence mask. */
  readonly optional?: boolean;
}

const f = <N extends string, K extends FieldKind>(name: N, kind: K) => ({ name, kind }) as const;
const opt = <N extends string, K extends FieldKind>(name: N, kind: K) =>
  ({ name, kind, optional: true }) as const;

/**
 * The event table. Keys are the `type` of an event; the order of this table is the type id
 * in session files, so new types are appended, never inserted or reordered.
 */
export const EVENT_SCHEMAS = {
  /**
   * A VM exit and its handling; the vCPU is outside the guest from `t` to `t + duration`.
   * `table` and `level` name the page-table page the exit acted on where it acts on one as a
   * whole: a Xen PV `hypercall:mmuext_op` pin or unpin (MMUEXT_PIN_Ln_TABLE / MMUEXT_UNPIN_TABLE)
   * gives the machine frame of the table (the id its `spte_write`s carry) and its level.
   */
  vmexit: [f('reason', 'str'), f('handling', 'str'), f('duration', 'ns'), opt('va', 'addr'), opt('gpa', 'addr'), opt('table', 'u32'), opt('level', 'u32')],
  /** A #PF delivered to the guest (by the hypervisor's injection or directly under TDP). */
  guest_fault: [f('va', 'addr'), f('errorCode', 'u32')],
  /** One scripted guest access and its architectural outcome. */
  guest_access: [
    f('va', 'addr'),
    f('access', 'str'),
    f('cpl', 'u32'),
    f('result', 'str'),
    opt('errorCode', 'u32'),
    opt('gpa', 'addr'),
  ],
  /**
   * A change of a guest paging-structure entry: by the guest OS (`guest`), or A/D bits set by
   * a walk (`ad`); in an imported trace also `walk`: the value a page walk read, where it
   * differs from what the session knew (written before the trace began or by an untraced write).
   */
  gpte_write: [f('level', 'u32'), f('gpa', 'addr'), f('old', 'pte'), f('new', 'pte'), f('cause', 'str')],
  /**
   * A change of a shadow, EPT or Xen-validated entry. `table` is the id of the table page.
   * `role`, under nested virtualization only, names the structure the table belongs to
   * (`ept01`, `ept02`, `ept12`, …: core/tableRoles.ts); absent, it is the VM's one host structure.
   */
  spte_write: [f('level', 'u32'), f('table', 'u32'), f('index', 'u32'), f('old', 'pte'), f('new', 'pte'), opt('role', 'str')],
  /**
   * Life of a shadow/EPT table page: alloc, zap, recycle, unsync, sync. `gfn` is absent where an
   * imported trace does not tell it (the trace-cmd plugin's sync, unsync and zap lines).
   */
  shadow_page: [
    f('action', 'str'),
    f('table', 'u32'),
    f('level', 'u32'),
    opt('gfn', 'addr'),
    opt('role', 'str'),
    opt('quadrant', 'u32'),
  ],
  /** A TLB flush of one address or of a whole address space, and why. */
  tlb_flush: [f('scope', 'str'), f('reason', 'str'), opt('va', 'addr')],
  /** Time a vCPU spent waiting for a contended lock. */
  lock_wait: [f('lock', 'str'), f('duration', 'ns')],
  /** A guest-OS level happening worth a marker: process create/exit, fork, exec, switch. */
  guest_os: [f('action', 'str'), f('pid', 'u32'), opt('detail', 'text')],
  /** An MMU invariant the auditor found broken, with enough detail to debug it. */
  audit_violation: [f('rule', 'str'), f('detail', 'text')],
  /** An event kept verbatim from an imported trace that has no better mapping. */
  raw: [f('name', 'str'), f('text', 'text')],
  /**
   * A TLB miss walked by the hardware: `refs` memory references in all (under TDP the 2D
   * walk: guest paging-structure references plus EPT/NPT references; under shadow paging the
   * shadow-table references), `guestRefs` of them to guest paging structures under TDP.
   */
  page_walk: [
    f('refs', 'u32'),
    f('guestRefs', 'u32'),
    f('duration', 'ns'),
    opt('va', 'addr'),
    // an imported walk of KVM's software walker (kvm_mmu_pagetable_walk): the access's error
    // code bits, the level it started at and the entries it read, top level first (hex, blank-separated)
    opt('errorCode', 'u32'),
    opt('levels', 'u32'),
    opt('entries', 'text'),
    // a simulated 2D walk (core/tdp/walk2d.ts): each reference of its grid, bit 5·row + column
    // (rows: guest levels 4..1 then the final guest-physical address; columns: EPT levels 4..1
    // then the guest entry itself; the final row has no guest entry, so 24 bits): made as a
    // memory reference (`memMask`, popcount = `refs`), saved by a paging-structure cache
    // (`pscMask`: the EPT PDE cache or the guest PDE cache), or saved by the TLB of
    // guest-physical translations (`tlbMask`). A bit in none of them is no part of this walk.
    opt('memMask', 'u32'),
    opt('pscMask', 'u32'),
    opt('tlbMask', 'u32'),
  ],
  /** Dirty logging: `enable`, `fetch` (fetch and clear: `pages` dirty, `detail` their gfns), `disable`. */
  dirty_log: [f('action', 'str'), f('pages', 'u32'), opt('detail', 'text')],
  /** A guest page walk that failed (KVM's kvm_mmu_walker_error): the #PF error code it gives, and the address walked when known. */
  walk_error: [f('errorCode', 'u32'), opt('va', 'addr')],
  /**
   * KVM's lockless fast page fault (fast_page_fault): the faulting address, the spte before
   * and after, and the outcome: `fixed` (the spte was changed), `spurious` (already right),
   * `retry` (left to the slow path).
   */
  fast_page_fault: [f('va', 'addr'), f('errorCode', 'u32'), f('old', 'pte'), f('new', 'pte'), f('result', 'str')],
} as const satisfies Record<string, readonly FieldSpec[]>;

export type EventType = keyof typeof EVENT_SCHEMAS;
export const EVENT_TYPES = Object.keys(EVENT_SCHEMAS) as EventType[];

interface KindToTs {
  u32: number;
  addr: number;
  pte: bigint;
  ns: number;
  str: string;
  text: string;
}

type FieldsOf<S extends readonly FieldSpec[]> = {
  [F in S[number] as F extends { optional: true } ? never : F['name']]: KindToTs[F['kind']];
} & {
  [F in S[number] as F extends { optional: true } ? F['name'] : never]?: KindToTs[F['kind']];
};

/** Fields every event has: simulated time in ns, VM index, vCPU index within that VM. */
export interface EventHeader {
  t: number;
  vm: number;
  vcpu: number;
}

export type EventOf<T extends EventType> = EventHeader & { type: T } & FieldsOf<(typeof EVENT_SCHEMAS)[T]>;

/** Any engine event: a discriminated union on `type`. */
export type MmuEvent = { [T in EventType]: EventOf<T> }[EventType];

export type EventSink = (event: MmuEvent) => void;

export function isEventType(name: string): name is EventType {
  return Object.prototype.hasOwnProperty.call(EVENT_SCHEMAS, name);
}

/** Hex text of an address or entry as the exports print it: `0x` and lower-case digits. */
export function toHex(value: number | bigint): string {
  return '0x' + value.toString(16);
}

/**
 * The JSON shape of an event (the JSONL export contract): addresses and entries as hex
 * strings, everything else as is, fields in table order.
 */
export function eventToJson(event: MmuEvent): Record<string, string | number> {
  const out: Record<string, string | number> = { t: event.t, vm: event.vm, vcpu: event.vcpu, type: event.type };
  const record = event as unknown as Record<string, number | bigint | string | undefined>;
  for (const field of EVENT_SCHEMAS[event.type]) {
    const value = record[field.name];
    if (value === undefined) continue;
    out[field.name] = field.kind === 'addr' || field.kind === 'pte' ? toHex(value as number | bigint) : (value as number | string);
  }
  return out;
}
