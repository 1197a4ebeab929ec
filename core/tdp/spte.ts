/**
 * EPT entry format as the TDP MMU writes it (Intel SDM Vol. 3C §28.3.2; KVM's spte.h for the
 * software bits). Entries are kept as two 32-bit halves, like guest entries, so the hot path
 * never touches bigint.
 *
 *   63  62 ... 59 58 57 | 51:12 host frame | 9 D | 8 A | 7 PS | 2 X | 1 W | 0 R
 *            disc MMU-W HOST-W
 *
 * - HOST-W (bit 57): the host lets this gfn be written (its page is private and writable).
 * - MMU-W (bit 58): the MMU lets it be written (nothing else, e.g. host write tracking, wants
 *   writes to fault). Seed 001: a write fault on an spte with both bits but no W may be fixed
 *   without mmu_lock by a compare-and-exchange that only sets W.
 * - disconnected (bit 59 alone): the value written into every entry of a page table that the
 *   TDP MMU has cut loose from its parent (seed 002), so no other thread maps anything there.
 * - W without R is an EPT misconfiguration (SDM §28.3.3.1): the engine uses it for MMIO sptes,
 *   so an MMIO access exits with EPT_MISCONFIG instead of walking the memslots again. An MMIO
 *   spte carries the memslot generation it was made in, in bits 11:3 (the low bits of KVM's
 *   MMIO generation, MMIO_SPTE_GEN_LOW; bits the CPU ignores in a misconfigured entry): the
 *   handler trusts it only while the generation is current (KVM's mmu.rst).
 */

export const EPT_R = 1 << 0;
export const EPT_W = 1 << 1;
export const EPT_X = 1 << 2;
export const EPT_PS = 1 << 7;
export const EPT_A = 1 << 8;
export const EPT_D = 1 << 9;
export const EPT_RWX = EPT_R | EPT_W | EPT_X;
export const HI_HOST_WRITABLE = 1 << 25;
export const HI_MMU_WRITABLE = 1 << 26;
export const HI_DISCONNECTED = 1 << 27;
/** An MMIO spte: W without R (misconfigured on purpose), with the gfn kept in the address bits. */
export const MMIO_LO = EPT_W;
/** Generations an MMIO spte can tell apart; when the counter wraps, every MMIO spte is zapped (as KVM does). */
export const MMIO_GENERATIONS = 512;
const MMIO_GEN_SHIFT = 3;

/** The MMIO spte made in memslot generation `generation`. */
export function mmioSpte(generation: number): number {
  return (MMIO_LO | ((generation % MMIO_GENERATIONS) << MMIO_GEN_SHIFT)) >>> 0;
}
/** Is this MMIO spte (low half) from memslot generation `generation`? */
export function mmioCurrent(lo: number, generation: number): boolean {
  return ((lo >>> MMIO_GEN_SHIFT) & (MMIO_GENERATIONS - 1)) === generation % MMIO_GENERATIONS;
}

const TWO32 = 4294967296;

/** Host frames of guest memory start here (the same base as the shadow MMU's, so exports read alike). */
export const HOST_GUEST_BASE_FRAME = 0x100000;
/** Host frames of EPT table pages. */
export const HOST_EPT_BASE_FRAME = 0xa00000;

export function present(lo: number): boolean {
  return (lo & EPT_R) !== 0;
}
export function isMmio(lo: number, hi: number): boolean {
  return (lo & EPT_RWX) === MMIO_LO && !(hi & HI_DISCONNECTED);
}
export function isDisconnected(lo: number, hi: number): boolean {
  return lo === 0 && hi === HI_DISCONNECTED;
}
export function writable(lo: number): boolean {
  return (lo & EPT_W) !== 0;
}
/** Seed 001's spte_can_be_writable: both software bits set, so a lockless fix may set W. */
export function canBeWritable(hi: number): boolean {
  return (hi & (HI_HOST_WRITABLE | HI_MMU_WRITABLE)) === (HI_HOST_WRITABLE | HI_MMU_WRITABLE);
}
export function frameOf(lo: number, hi: number): number {
  return Math.floor(lo / 4096) + (hi & 0xfffff) * 1048576;
}
export function withFrame(lo: number, hi: number, frame: number): [number, number] {
  const addr = frame * 4096;
  return [((lo & 0xfff) | (addr % TWO32)) >>> 0, ((hi & ~0xfffff) | Math.floor(addr / TWO32)) >>> 0];
}
