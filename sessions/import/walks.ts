/**
 * KVM's software walk of the guest's page tables (shadow paging, emulation): a
 * kvm_mmu_pagetable_walk, its kvm_mmu_paging_elements (the entries read, top level first),
 * then the accessed and dirty bits it set (kvm_mmu_set_accessed_bit / set_dirty_bit: the
 * guest-physical address of each entry, top level first) or the error it ended in. It becomes
 * one `page_walk` with its entries, and the guest entries it shows as `gpte_write`s:
 * - cause `walk`: an entry whose value the walk read, where it differs from what the session
 *   knew (old = new on first sight: the value was written before the trace began, or by a
 *   write the trace does not show);
 * - cause `ad`: the A and D bits the walk set.
 * Where each entry is: the entry below the top lies in the table its parent points to; the top
 * one in the table CR3 points to, which the trace tells by the accessed bit the walk sets in
 * it (or by a kvm_cr write of CR3).
 */
import type { MmuEvent } from '../../core/events.ts';

export interface WalkElement {
  t: number;
  level: number;
  /** The entry as lower-case hex digits without leading zeros (as the kernel prints %llx): no BigInt per element. */
  hex: string;
}

export interface OpenWalk {
  t: number;
  va: number;
  errorCode: number;
  elements: WalkElement[];
  /** A and D bits set, in order: the entry's gpa, D or A, time. */
  bits: { t: number; gpa: number; dirty: boolean }[];
  lastT: number;
}

/** Guest entries a VM's walks have shown, by gpa, as hex (bounded). */
export class GuestEntries {
  private readonly known = new Map<number, string>();
  get(gpa: number): string | undefined {
    return this.known.get(gpa);
  }
  set(gpa: number, hex: string): void {
    if (this.known.size < MAX_KNOWN || this.known.has(gpa)) this.known.set(gpa, hex);
  }
}

const MAX_KNOWN = 1 << 21;
const ACCESSED = 0x20;
const DIRTY = 0x40;
const PS = 0x80;

/** The number the last `digits` hex digits of `hex` make (at most 13: below 2^53), read in place. */
function lowHex(hex: string, digits: number): number {
  let v = 0;
  for (let i = Math.max(0, hex.length - digits); i < hex.length; i++) {
    const c = hex.charCodeAt(i) | 32;
    v = v * 16 + (c <= 57 ? c - 48 : c - 87);
  }
  return v;
}

const big = (hex: string): bigint => BigInt('0x' + hex);

/** 2^(12+9(l-1)) and 2^(12+10(l-1)): the bytes an entry of level l maps. */
const SPAN9 = [0, 2 ** 12, 2 ** 21, 2 ** 30, 2 ** 39, 2 ** 48];
const SPAN10 = [0, 2 ** 12, 2 ** 22];

/** Index of `va` in the table of `level` and the entry size, for the paging mode whose walks start at `top` (one object, reused). */
function slot(va: number, level: number, top: number): { index: number; bytes: number } {
  const s = SLOT;
  if (top === 2) {
    s.index = Math.floor(va / (SPAN10[level] ?? 1)) % 1024;
    s.bytes = 4;
    return s;
  }
  // PAE's top level (3) has four entries; every other level of PAE and 4/5-level paging 512
  s.index = Math.floor(va / (SPAN9[level] ?? 1)) % (top === 3 && level === 3 ? 4 : 512);
  s.bytes = 8;
  return s;
}
const SLOT = { index: 0, bytes: 8 };
/** The gpas of a walk's entries (walkEvents' scratch: one array for every walk; a walk has at most 5). */
const GPAS: (number | undefined)[] = [undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined];

/** The table an entry points to: bits 12-51 (32-bit paging: 12-31). */
function tableBase(hex: string, top: number): number {
  const v = top === 2 ? lowHex(hex, 8) : lowHex(hex, 13);
  return v - (v % 4096);
}

/**
 * The events of a closed walk, in time order. `root` is the gpa of the top table when known
 * (a CR3 write); returns the root the walk showed, for the next walks.
 */
export function walkEvents(
  w: OpenWalk,
  head: { vm: number; vcpu: number },
  guest: GuestEntries,
  root: number | undefined,
  out: MmuEvent[],
): number | undefined {
  const els = w.elements;
  const top = els[0]?.level ?? 0;
  const walk: MmuEvent = { t: w.t, vm: head.vm, vcpu: head.vcpu, type: 'page_walk', refs: els.length, guestRefs: els.length, duration: Math.max(0, w.lastT - w.t), va: w.va, errorCode: w.errorCode };
  if (els.length) {
    let entries = '0x' + els[0]!.hex;
    for (let i = 1; i < els.length; i++) entries += ' 0x' + els[i]!.hex;
    walk.levels = top;
    walk.entries = entries;
  }
  out.push(walk);
  if (!els.length) return root;
  // The accessed bits name, top level first, the entries that lacked one: their gpas.
  const bits = w.bits;
  const gpas = GPAS;
  let n = 0; // gpas used (the array is kept, not cut: setting an array's length is a runtime call)
  let k = 0; // the next accessed (not dirty) bit
  let base = root;
  for (let i = 0; i < els.length; i++) {
    const e = els[i]!;
    const { index, bytes } = slot(w.va, e.level, top);
    let gpa = base === undefined ? undefined : base + index * bytes;
    const low = lowHex(e.hex, 2);
    if (!(low & ACCESSED)) {
      while (k < bits.length && bits[k]!.dirty) k++;
      if (k < bits.length) {
        const told = bits[k++]!.gpa;
        // the walk's own word wins over a root remembered from before (the guest may have switched CR3)
        if (gpa !== told) gpa = told;
        if (i === 0) root = told - index * bytes;
      }
    }
    gpas[n++] = gpa;
    const leaf = e.level === 1 || (e.level > 1 && (low & PS) !== 0);
    if (leaf) break;
    base = tableBase(e.hex, top);
  }
  // entries as read, then the bits set (both in record order, so times stay in order)
  for (let i = 0; i < n; i++) {
    const gpa = gpas[i];
    const e = els[i]!;
    if (gpa === undefined) continue;
    const was = guest.get(gpa);
    if (was !== e.hex) {
      const now = big(e.hex);
      out.push({ t: e.t, ...head, type: 'gpte_write', level: e.level, gpa, old: was === undefined ? now : big(was), new: now, cause: 'walk' });
      guest.set(gpa, e.hex);
    }
  }
  for (const b of w.bits) {
    const was = guest.get(b.gpa);
    if (was === undefined) {
      // a bit set in an entry this walk did not show (not seen before): kept as it was printed
      out.push({ t: b.t, ...head, type: 'raw', name: b.dirty ? 'kvm_mmu_set_dirty_bit' : 'kvm_mmu_set_accessed_bit', text: `gpa ${b.gpa.toString(16)}` });
      continue;
    }
    const old = big(was);
    const next = old | BigInt(b.dirty ? DIRTY | ACCESSED : ACCESSED);
    let at = -1;
    for (let i = 0; i < n && at < 0; i++) if (gpas[i] === b.gpa) at = i;
    const level = els[at]?.level ?? 0;
    out.push({ t: b.t, ...head, type: 'gpte_write', level, gpa: b.gpa, old, new: next, cause: 'ad' });
    guest.set(b.gpa, next.toString(16));
  }
  return root;
}
