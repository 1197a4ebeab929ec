/**
 * Guest paging exactly as the x86 architecture defines it (Intel SDM Vol. 3A, chapter 4):
 * guest physical memory holding real paging-structure pages in the three formats, and the
 * walk that translates a linear address, checks permissions across all levels, computes
 * the #PF error code and sets accessed/dirty bits.
 *
 * Entries are handled as two 32-bit halves (lo = bits 31:0, hi = bits 63:32) so the hot
 * path never touches bigint; non-PAE entries are 32 bits wide and have hi = 0.
 */
import type { PagingMode } from './scenario.ts';

export const PTE_P = 1 << 0;
export const PTE_W = 1 << 1;
export const PTE_U = 1 << 2;
export const PTE_A = 1 << 5;
export const PTE_D = 1 << 6;
export const PTE_PS = 1 << 7;
export const PTE_G = 1 << 8;
/** NX is bit 63: bit 31 of the high half. */
export const PTE_HI_NX = 0x80000000;
/**
 * MAXPHYADDR of the simulated CPU is 40 (a 2008+ Core part). Bits 51:40 of a PAE or
 * 4-level entry are reserved (SDM 4.4.2, 4.5.4); the scenario flag RSVD sets bit 51.
 */
export const PTE_HI_RSVD_FLAG = 1 << 19;
const HI_RSVD_LONG = 0x000fff00;
/** PAE paging reserves bits 62:MAXPHYADDR (SDM Table 4-11). */
const HI_RSVD_PAE = 0x7fffff00;
/** Non-PAE 4 MiB PDE with PSE-36 and MAXPHYADDR 40: bits 20:13 are address 39:32, bit 21 is reserved (SDM Table 4-4). */
export const NONPAE_4M_RSVD = 1 << 21;

/** #PF error code bits (SDM 4.7). */
export const PF_P = 1;
export const PF_W = 2;
export const PF_U = 4;
export const PF_RSVD = 8;
export const PF_ID = 16;

export const ACCESS_READ = 0;
export const ACCESS_WRITE = 1;
export const ACCESS_FETCH = 2;
export type AccessKind = 0 | 1 | 2;
export const ACCESS_NAMES = ['read', 'write', 'fetch'] as const;

export const PAGE_SIZE = 4096;
const TWO32 = 4294967296;

/** Control bits that change how a walk behaves. */
export interface PagingControls {
  mode: PagingMode;
  wp: boolean;
  pse: boolean;
  smep: boolean;
  smap: boolean;
  nxe: boolean;
}

/**
 * Guest physical memory. Only frames that hold paging structures have contents: data
 * pages are never read by the simulation. Table pages live in typed arrays, looked up by
 * frame number, so a walk allocates nothing.
 */
export class GuestMemory {
  readonly frames: number;
  private readonly slotOf: Int32Array;
  private readonly pages: Uint32Array[] = [];
  constructor(memoryMiB: number) {
    this.frames = memoryMiB * 256;
    this.slotOf = new Int32Array(this.frames).fill(-1);
  }
  inRange(gpa: number): boolean {
    return gpa >= 0 && gpa < this.frames * PAGE_SIZE;
  }
  /** The 32-bit word at a 4-byte aligned guest physical address (0 for data pages). */
  read32(gpa: number): number {
    const frame = Math.floor(gpa / PAGE_SIZE);
    if (frame >= this.frames) return 0;
    const slot = this.slotOf[frame] as number;
    if (slot < 0) return 0;
    return (this.pages[slot] as Uint32Array)[(gpa & 4095) >>> 2] as number;
  }
  write32(gpa: number, value: number): void {
    const frame = Math.floor(gpa / PAGE_SIZE);
    if (frame >= this.frames) return;
    let slot = this.slotOf[frame] as number;
    if (slot < 0) {
      slot = this.pages.length;
      this.pages.push(new Uint32Array(1024));
      this.slotOf[frame] = slot;
    }
    (this.pages[slot] as Uint32Array)[(gpa & 4095) >>> 2] = value >>> 0;
  }
  /** Does this frame hold anything (has it ever been written as a paging structure)? */
  hasContents(frame: number): boolean {
    return frame < this.frames && (this.slotOf[frame] as number) >= 0;
  }
  /** Zero a frame, as a guest OS does before using it as a page table. */
  clearFrame(frame: number): void {
    const slot = this.slotOf[frame] as number;
    if (slot >= 0) (this.pages[slot] as Uint32Array).fill(0);
  }
}

/** Physical address held in an entry (bits 51:12), given the page size shift of the mapping. */
export function entryAddress(lo: number, hi: number, shift: number): number {
  const mask = shift === 12 ? 0xfffff000 : shift === 21 ? 0xffe00000 : shift === 22 ? 0xffc00000 : 0xc0000000;
  return ((lo & mask) >>> 0) + (hi & 0xfffff) * TWO32;
}

/** Address of a non-PAE 4 MiB page: bits 31:22 from the entry, 39:32 from bits 20:13 (PSE-36). */
function nonpae4mAddress(lo: number): number {
  return ((lo & 0xffc00000) >>> 0) + ((lo >>> 13) & 0xff) * TWO32;
}

/** Index of `va` in the table of a level (1 = pt … 4 = pml4), for a paging mode. Bit ops on the 32-bit halves: no division on the walk. */
export function tableIndex(mode: PagingMode, va: number, level: number): number {
  const lo = va >>> 0; // ToUint32 keeps bits 31:0 even for a 48-bit va
  if (mode === 'nonpae') return level === 2 ? lo >>> 22 : (lo >>> 12) & 1023;
  if (level <= 2) return (lo >>> (12 + 9 * (level - 1))) & 511;
  if (mode === 'pae') return lo >>> 30;
  const hi = (va - lo) / 4294967296;
  return level === 3 ? ((lo >>> 30) | (hi << 2)) & 511 : (hi >>> 7) & 511;
}

/**
 * 4-level paging translates 48-bit linear addresses: bits 63:47 must all equal (canonical
 * form), or the access is #GP, never #PF, whatever the page tables say (SDM Vol. 1 3.3.7.1).
 * Addresses here are non-negative, so a canonical one is below 2^47. 32-bit paging has no
 * such rule (a scenario keeps its addresses below 4 GiB).
 */
export function canonical(mode: PagingMode, va: number): boolean {
  return mode !== 'long4' || va < 2 ** 47;
}

export function entryBytes(mode: PagingMode): number {
  return mode === 'nonpae' ? 4 : 8;
}

export function topLevel(mode: PagingMode): number {
  return mode === 'long4' ? 4 : mode === 'pae' ? 3 : 2;
}

/** Outcome of one walk; reused across walks so the walk allocates nothing. */
export class WalkResult {
  ok = false;
  errorCode = 0;
  gpa = 0;
  /** log2 of the page size of the final translation (12, 21, 22 or 30). */
  pageShift = 12;
  /** Combined rights over all levels. */
  writable = false;
  user = false;
  nx = false;
  /** Dirty bit of the leaf after the walk. */
  dirty = false;
  global = false;
  /** Memory references the walk made. */
  refs = 0;
  /** Entries visited, top first: gpa, level and value (after A/D updates). */
  count = 0;
  readonly entryGpa = new Float64Array(5);
  readonly entryLevel = new Int8Array(5);
  readonly entryLo = new Uint32Array(5);
  readonly entryHi = new Uint32Array(5);
}

/** Called when a walk sets an accessed or dirty bit: the entry at `gpa` changed. */
export type AdHook = (level: number, gpa: number, oldLo: number, oldHi: number, newLo: number, newHi: number) => void;

/** Is a present entry's reserved bit set, for this level and format (SDM 4.3-4.5 tables)? */
export function reservedSet(ctl: PagingControls, level: number, lo: number, hi: number, large: boolean): boolean {
  if (ctl.mode === 'nonpae') return level === 2 && large && (lo & NONPAE_4M_RSVD) !== 0;
  if (hi & (ctl.mode === 'long4' ? HI_RSVD_LONG : HI_RSVD_PAE)) return true;
  if (!ctl.nxe && hi & PTE_HI_NX) return true; // XD is reserved when EFER.NXE = 0
  if (level === 4) return (lo & PTE_PS) !== 0;
  if (!large) return false;
  return level === 3 ? (lo & 0x3fffe000) !== 0 : level === 2 && (lo & 0x001fe000) !== 0;
}

/** Is this entry a leaf (maps a page) rather than a reference to the next table? */
export function isLeaf(ctl: PagingControls, level: number, lo: number): boolean {
  if (level === 1) return true;
  if (!(lo & PTE_PS)) return false;
  if (level === 2) return ctl.mode !== 'nonpae' || ctl.pse; // PS is ignored without CR4.PSE in 32-bit paging
  return level === 3 && ctl.mode === 'long4';
}

/** SDM 4.6.1 access rights, with EFLAGS.AC = 0 and every access explicit. */
export function accessDenied(ctl: PagingControls, access: AccessKind, cpl: number, w: boolean, u: boolean, nx: boolean): boolean {
  if (cpl === 3) {
    if (!u) return true;
    return access === ACCESS_WRITE ? !w : access === ACCESS_FETCH && nx;
  }
  if (access === ACCESS_FETCH) return (u && ctl.smep) || nx;
  if (u && ctl.smap) return true;
  return access === ACCESS_WRITE && ctl.wp && !w;
}

/** Error code bits that depend only on the access (SDM 4.7): W/R, U/S and I/D. */
export function accessErrorBits(ctl: PagingControls, access: AccessKind, cpl: number): number {
  let code = 0;
  if (access === ACCESS_WRITE) code |= PF_W;
  if (cpl === 3) code |= PF_U;
  if (access === ACCESS_FETCH && (ctl.smep || (ctl.mode !== 'nonpae' && ctl.nxe))) code |= PF_ID;
  return code;
}

function leafShift(ctl: PagingControls, level: number): number {
  if (level === 1) return 12;
  if (level === 3) return 30;
  return ctl.mode === 'nonpae' ? 22 : 21;
}

/*
 * Linear-address splits (SDM Figures 4-2, 4-5, 4-8):
 *
 *   non-PAE   31    22 21    12 11      0        4 KiB; a PS pde maps 21:0 (4 MiB)
 *            | pd     | pt     | offset |
 *   PAE       31 30 29   21 20   12 11      0    4 KiB; a PS pde maps 20:0 (2 MiB)
 *            |pdpt| pd     | pt     | offset |
 *   4-level   47   39 38   30 29   21 20   12 11      0
 *            | pml4 | pdpt  | pd    | pt    | offset |   PS pdpte → 1 GiB, PS pde → 2 MiB
 *
 * Entry bits used (64-bit formats; non-PAE has bits 31:0 only):
 *   63 XD | 51:40 reserved (MAXPHYADDR 40) | 39:12 address | 8 G | 7 PS | 6 D | 5 A | 2 U/S | 1 R/W | 0 P
 */

/**
 * Walk the guest tables for `va`. With `setAd`, sets accessed bits on every entry used and
 * the dirty bit of the leaf on a write — only when the access is allowed (seed 000). Without
 * it, this is a probe with no side effects. PAE PDPTEs come from the registers loaded at
 * CR3 load (`pdpte`, 4 lo/hi pairs), never from memory (SDM 4.4.1).
 */
export function walk(
  mem: GuestMemory,
  ctl: PagingControls,
  cr3: number,
  pdpte: Uint32Array,
  va: number,
  access: AccessKind,
  cpl: number,
  setAd: AdHook | null,
  r: WalkResult,
): boolean {
  r.count = 0;
  r.refs = 0;
  r.ok = false;
  const bytes = entryBytes(ctl.mode);
  let level = topLevel(ctl.mode);
  let table = cr3 - (cr3 % 4096);
  let w = true;
  let u = true;
  let nx = false;
  if (ctl.mode === 'pae') {
    const i = tableIndex('pae', va, 3);
    const lo = pdpte[2 * i] as number;
    record(r, 3, cr3 - (cr3 % 32) + 8 * i, lo, pdpte[2 * i + 1] as number);
    if (!(lo & PTE_P)) return fault(r, ctl, access, cpl, 0);
    table = entryAddress(lo, pdpte[2 * i + 1] as number, 12);
    level = 2;
  }
  for (;;) {
    const gpa = table + tableIndex(ctl.mode, va, level) * bytes;
    const lo = mem.read32(gpa);
    const hi = bytes === 8 ? mem.read32(gpa + 4) : 0;
    r.refs++;
    record(r, level, gpa, lo, hi);
    if (!(lo & PTE_P)) return fault(r, ctl, access, cpl, 0);
    const leaf = isLeaf(ctl, level, lo);
    if (reservedSet(ctl, level, lo, hi, leaf && level > 1)) return fault(r, ctl, access, cpl, PF_P | PF_RSVD);
    w = w && (lo & PTE_W) !== 0;
    u = u && (lo & PTE_U) !== 0;
    if (bytes === 8 && ctl.nxe && hi & PTE_HI_NX) nx = true;
    if (leaf) {
      r.pageShift = leafShift(ctl, level);
      const base = ctl.mode === 'nonpae' && level === 2 ? nonpae4mAddress(lo) : entryAddress(lo, hi, r.pageShift);
      r.gpa = base + (va % 2 ** r.pageShift);
      r.global = (lo & PTE_G) !== 0;
      break;
    }
    table = entryAddress(lo, hi, 12);
    level--;
  }
  r.writable = w;
  r.user = u;
  r.nx = nx;
  if (accessDenied(ctl, access, cpl, w, u, nx)) return fault(r, ctl, access, cpl, PF_P);
  if (setAd) setAccessedDirty(mem, ctl, r, access === ACCESS_WRITE, setAd);
  r.dirty = ((r.entryLo[r.count - 1] as number) & PTE_D) !== 0;
  r.ok = true;
  return true;
}

function record(r: WalkResult, level: number, gpa: number, lo: number, hi: number): void {
  const n = r.count++;
  r.entryGpa[n] = gpa;
  r.entryLevel[n] = level;
  r.entryLo[n] = lo;
  r.entryHi[n] = hi;
}

function fault(r: WalkResult, ctl: PagingControls, access: AccessKind, cpl: number, bits: number): false {
  r.errorCode = bits | accessErrorBits(ctl, access, cpl);
  r.ok = false;
  return false;
}

/** Set A on every entry of the walk (PAE PDPTEs have no A bit) and D on the leaf of a write. */
function setAccessedDirty(mem: GuestMemory, ctl: PagingControls, r: WalkResult, write: boolean, hook: AdHook): void {
  const first = ctl.mode === 'pae' ? 1 : 0;
  for (let i = first; i < r.count; i++) {
    const old = r.entryLo[i] as number;
    let next = old | PTE_A;
    if (write && i === r.count - 1) next |= PTE_D;
    if (next === old) continue;
    const gpa = r.entryGpa[i] as number;
    mem.write32(gpa, next);
    r.entryLo[i] = next;
    hook(r.entryLevel[i] as number, gpa, old, r.entryHi[i] as number, next, r.entryHi[i] as number);
  }
}

/**
 * Load the PAE PDPTE registers from the PDPT at `cr3` (SDM 4.4.1). Returns the index of a
 * present PDPTE with a reserved bit set (the MOV to CR3 then takes #GP and loads nothing),
 * or -1. Reserved in a PDPTE: bits 2:1, 8:5 and 63:MAXPHYADDR.
 */
export function loadPdptes(mem: GuestMemory, cr3: number, out: Uint32Array): number {
  const base = cr3 - (cr3 % 32);
  for (let i = 0; i < 4; i++) {
    const lo = mem.read32(base + 8 * i);
    const hi = mem.read32(base + 8 * i + 4);
    if (lo & PTE_P && (lo & 0x1e6 || hi & 0xffffff00)) return i;
  }
  for (let i = 0; i < 8; i++) out[i] = mem.read32(base + 4 * i);
  return -1;
}
