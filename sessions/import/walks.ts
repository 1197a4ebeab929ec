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
import type { EventOf, MmuEvent } from '../../core/events.ts';

/** A walk reads at most 5 levels (more is not one walk, and memory stays bounded); its bits at most two per level. */
export const MAX_WALK_LEVELS = 5;
const MAX_BITS = 2 * MAX_WALK_LEVELS;

/**
 * The walk open on a lane: one object per lane, reused for each of its walks, its elements
 * and bits in arrays of fixed size (a shadow-paging trace is mostly walks: no object per
 * element or bit, none per walk).
 */
export class OpenWalk {
  /** A walk is open: its elements and bits are still arriving. */
  open = false;
  t = 0;
  va = 0;
  errorCode = 0;
  lastT = 0;
  /** Elements read (the entries, top level first): time, level, and the entry as lower-case
   * hex digits without leading zeros (as the kernel prints %llx: no BigInt per element). */
  n = 0;
  readonly elT: number[] = new Array<number>(MAX_WALK_LEVELS).fill(0);
  readonly elLevel: number[] = new Array<number>(MAX_WALK_LEVELS).fill(0);
  readonly elHex: string[] = new Array<string>(MAX_WALK_LEVELS).fill('');
  /** A and D bits set, in order: time, the entry's gpa, D or A. */
  bits = 0;
  readonly bitT: number[] = new Array<number>(MAX_BITS).fill(0);
  readonly bitGpa: number[] = new Array<number>(MAX_BITS).fill(0);
  readonly bitDirty: boolean[] = new Array<boolean>(MAX_BITS).fill(false);
  /**
   * Per element slot, the fields object (a trace.dat's interned payload, shared by every event
   * with those bytes) that gave the level and hex now in that slot: the next walk's element
   * from the same object only takes its time (repeat). One more slot than elements, never set.
   */
  private readonly elSrc: (object | null)[] = new Array<object | null>(MAX_WALK_LEVELS + 1).fill(null);
  /**
   * The last two distinct walks' entries (a vCPU's instruction fetches and data accesses take
   * turns; most walks read the entries of one of them): `memo` the last one, then `older`.
   */
  memo = new WalkMemo();
  private older = new WalkMemo();
  /**
   * The page_walk of the lane's last closed walk (walkEvents): one object per lane, filled
   * again for each walk (a walk trace's most common event: no object per walk, none promoted).
   * Whoever keeps it past the next walk of the lane keeps a copy.
   */
  readonly event: EventOf<'page_walk'> = {
    t: 0,
    vm: 0,
    vcpu: 0,
    type: 'page_walk',
    refs: 0,
    guestRefs: 0,
    duration: 0,
    va: 0,
    errorCode: 0,
    levels: undefined,
    entries: undefined,
  };

  start(t: number, va: number, errorCode: number): void {
    this.open = true;
    this.t = t;
    this.va = va;
    this.errorCode = errorCode;
    this.lastT = t;
    this.n = 0;
    this.bits = 0;
  }

  /**
   * An element (entry read) whose level and hex came from `src` (null: made for this record
   * alone); false when the walk takes no more (one after a bit, or past 5 levels).
   */
  element(t: number, level: number, hex: string, src: object | null): boolean {
    const i = this.n;
    if (this.bits !== 0 || i >= MAX_WALK_LEVELS) return false;
    this.elT[i] = t;
    this.elLevel[i] = level;
    this.elHex[i] = hex;
    this.elSrc[i] = src;
    this.n = i + 1;
    return true;
  }

  /** The element of fields `src` when the slot it goes to already holds what `src` gave (element()); false: read it. */
  repeat(t: number, src: object): boolean {
    const i = this.n;
    if (this.elSrc[i] !== src || this.bits !== 0) return false;
    this.elT[i] = t;
    this.n = i + 1;
    return true;
  }

  /** An accessed or dirty bit set; false when the walk takes no more. */
  bit(t: number, gpa: number, dirty: boolean): boolean {
    const i = this.bits;
    if (i >= MAX_BITS) return false;
    this.bitT[i] = t;
    this.bitGpa[i] = gpa;
    this.bitDirty[i] = dirty;
    this.bits = i + 1;
    return true;
  }

  /**
   * The entries read, top level first, as `0x…` words separated by blanks (the page_walk's
   * `entries`); `memo` is then the walk of these entries (one of the last two, or a new one).
   */
  entries(): string {
    let m = this.memo;
    if (m.holds(this)) return m.entries;
    m = this.older;
    this.older = this.memo;
    this.memo = m;
    if (m.holds(this)) return m.entries;
    const n = this.n;
    const hexes = this.elHex;
    let text = '0x' + hexes[0]!;
    for (let i = 1; i < n; i++) text += ' 0x' + hexes[i]!;
    m.set(this, text);
    return text;
  }
}

/**
 * One walk's entries (levels and hex) and their text, and what walkEvents found of them: when
 * `known`, a walk without A/D bits read them at page `page` of the VA, the lane's root being
 * `root`, and left the VM's guest entries at version `ver` holding every one of them. A walk
 * of the same entries at the same page and root, the guest entries still at that version,
 * finds the same gpas and nothing new: no gpte_write.
 */
class WalkMemo {
  n = 0;
  readonly level: number[] = new Array<number>(MAX_WALK_LEVELS).fill(0);
  readonly hex: string[] = new Array<string>(MAX_WALK_LEVELS).fill('');
  entries = '';
  known = false;
  page = 0;
  root: number | undefined = undefined;
  ver = 0;

  /** `w`'s entries are these. */
  holds(w: OpenWalk): boolean {
    const n = w.n;
    if (n !== this.n) return false;
    const hex = this.hex;
    const level = this.level;
    const wHex = w.elHex;
    const wLevel = w.elLevel;
    for (let i = 0; i < n; i++) if (wHex[i] !== hex[i] || wLevel[i] !== level[i]) return false;
    return true;
  }

  /** Now `w`'s entries, as `text`; nothing known of them yet. */
  set(w: OpenWalk, text: string): void {
    const n = w.n;
    for (let i = 0; i < n; i++) {
      this.hex[i] = w.elHex[i]!;
      this.level[i] = w.elLevel[i]!;
    }
    this.n = n;
    this.entries = text;
    this.known = false;
  }
}

/** Where a walk's events go: its lane, and the lane's guest root (the gpa of the top table, when known). */
export interface WalkLane {
  vm: number;
  vcpu: number;
  root?: number;
}

/** Guest entries a VM's walks have shown, by gpa, as hex (bounded). */
export class GuestEntries {
  private readonly known = new Map<number, string>();
  /** Counts the sets: a walk memo made at the same version still holds (WalkMemo.ver). */
  version = 0;
  get(gpa: number): string | undefined {
    return this.known.get(gpa);
  }
  /** Remembers the entry at `gpa`; false when it is not (the bound reached). */
  set(gpa: number, hex: string): boolean {
    this.version++;
    if (this.known.size >= MAX_KNOWN && !this.known.has(gpa)) return false;
    this.known.set(gpa, hex);
    return true;
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
 * The events of a closed walk, in time order, into `out` from index 0; returns how many. The
 * page_walk (out[0]) is the walk's `event`, filled again by the lane's next walk. `lane.root`
 * is the gpa of the top table when known (a CR3 write); it is set to the root the walk showed,
 * for the next walks. (In parts: most walks make only their page_walk, and the rarer entry
 * changes and A/D bits, compiled apart, neither enlarge nor deoptimize the common path.)
 */
export function walkEvents(w: OpenWalk, lane: WalkLane, guest: GuestEntries, out: MmuEvent[]): number {
  const nEl = w.n;
  const e = w.event;
  e.t = w.t;
  e.vm = lane.vm;
  e.vcpu = lane.vcpu;
  e.refs = nEl;
  e.guestRefs = nEl;
  e.duration = Math.max(0, w.lastT - w.t);
  e.va = w.va;
  e.errorCode = w.errorCode;
  e.levels = nEl ? w.elLevel[0]! : undefined;
  e.entries = nEl ? w.entries() : undefined;
  out[0] = e;
  if (!nEl) return 1;
  // the entries a walk before read at this page and root, nothing set since: nothing new (WalkMemo)
  const m = w.memo;
  if (m.known && w.bits === 0 && m.page === Math.floor(w.va / 4096) && m.root === lane.root && m.ver === guest.version) return 1;
  return entryWrites(w, lane, guest, out);
}

/**
 * The gpte_writes of a walk after its page_walk (out[0]), in time order; returns the count of
 * events. (One function, not inlined into walkEvents, whose common path then compiles small.)
 *
 * The gpas of the entries, top level first, up to the leaf: the accessed bits name, top level
 * first, the entries that lacked one; an entry below the top lies in the table its parent
 * points to.
 */
function entryWrites(w: OpenWalk, lane: WalkLane, guest: GuestEntries, out: MmuEvent[]): number {
  const nEl = w.n;
  const hexes = w.elHex;
  const levels = w.elLevel;
  const top = levels[0]!;
  const nBits = w.bits;
  const gpas = GPAS;
  const root0 = lane.root;
  let root = root0;
  let n = 0; // gpas used (the array is kept, not cut: setting an array's length is a runtime call)
  let k = 0; // the next accessed (not dirty) bit
  let base = root;
  let told0 = false; // a bit told the top entry's gpa
  for (let i = 0; i < nEl; i++) {
    const level = levels[i]!;
    const hex = hexes[i]!;
    const { index, bytes } = slot(w.va, level, top);
    let gpa = base === undefined ? undefined : base + index * bytes;
    const low = lowHex(hex, 2);
    if (!(low & ACCESSED) && nBits !== 0) {
      while (k < nBits && w.bitDirty[k]) k++;
      if (k < nBits) {
        const told = w.bitGpa[k++]!;
        // the walk's own word wins over a root remembered from before (the guest may have switched CR3)
        if (gpa !== told) gpa = told;
        if (i === 0) told0 = true;
      }
    }
    if (i === 0 && gpa !== undefined) {
      // the root a bit told (the subtraction is made on every walk that knows its top entry's
      // gpa, not only on the rarer ones with a bit: code V8 optimized without its type
      // feedback would be thrown away at the first such walk)
      const toldRoot = gpa - index * bytes;
      if (told0) root = toldRoot;
    }
    gpas[n++] = gpa;
    const leaf = level === 1 || (level > 1 && (low & PS) !== 0);
    if (leaf) break;
    base = tableBase(hex, top);
  }
  lane.root = root;
  // entries as read, then the bits set (both in record order, so times stay in order)
  let count = 1;
  let kept = true;
  for (let i = 0; i < n; i++) {
    const gpa = gpas[i];
    if (gpa === undefined) continue;
    const hex = hexes[i]!;
    const was = guest.get(gpa);
    if (was !== hex) {
      out[count++] = entryWrite(w, lane, i, gpa, was);
      if (!guest.set(gpa, hex)) kept = false;
    }
  }
  const m = w.memo;
  if (nBits) {
    m.known = false;
    return bitWrites(w, lane, guest, n, out, count);
  }
  // (without bits the walk leaves the root as it was)
  m.known = kept;
  m.page = Math.floor(w.va / 4096);
  m.root = root0;
  m.ver = guest.version;
  return count;
}

/** Element `i`, at `gpa`, read a value other than the one known (`was`; undefined: first sight). */
function entryWrite(w: OpenWalk, lane: WalkLane, i: number, gpa: number, was: string | undefined): MmuEvent {
  const now = big(w.elHex[i]!);
  return { t: w.elT[i]!, vm: lane.vm, vcpu: lane.vcpu, type: 'gpte_write', level: w.elLevel[i]!, gpa, old: was === undefined ? now : big(was), new: now, cause: 'walk' };
}

/** The A and D bits the walk set, after its `count` events so far; returns the new count. */
function bitWrites(w: OpenWalk, lane: WalkLane, guest: GuestEntries, n: number, out: MmuEvent[], count: number): number {
  const { vm, vcpu } = lane;
  const gpas = GPAS;
  for (let b = 0; b < w.bits; b++) {
    const gpa = w.bitGpa[b]!;
    const dirty = w.bitDirty[b]!;
    const was = guest.get(gpa);
    if (was === undefined) {
      // a bit set in an entry this walk did not show (not seen before): kept as it was printed
      out[count++] = { t: w.bitT[b]!, vm, vcpu, type: 'raw', name: dirty ? 'kvm_mmu_set_dirty_bit' : 'kvm_mmu_set_accessed_bit', text: `gpa ${gpa.toString(16)}` };
      continue;
    }
    const old = big(was);
    const next = old | (dirty ? DIRTY_BITS : ACCESSED_BIT);
    let at = -1;
    for (let i = 0; i < n && at < 0; i++) if (gpas[i] === gpa) at = i;
    const level = at < 0 ? 0 : w.elLevel[at]!;
    out[count++] = { t: w.bitT[b]!, vm, vcpu, type: 'gpte_write', level, gpa, old, new: next, cause: 'ad' };
    guest.set(gpa, next.toString(16));
  }
  return count;
}

const ACCESSED_BIT = BigInt(ACCESSED);
const DIRTY_BITS = BigInt(DIRTY | ACCESSED);
