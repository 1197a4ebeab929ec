/**
 * A vCPU's TLB: translations of 4 KiB linear pages (large pages are cached as fractured
 * 4 KiB pieces, which the architecture allows). Direct-mapped typed arrays: a lookup
 * allocates nothing. Rights cached are those of the translation in use (guest rights on
 * bare hardware and TDP, shadow-pte rights under shadow paging).
 */
export const TLB_W = 1;
export const TLB_U = 2;
export const TLB_NX = 4;
export const TLB_D = 8;
export const TLB_G = 16;

const SETS = 1024;

export class Tlb {
  private readonly tag = new Float64Array(SETS).fill(-1);
  private readonly frame = new Float64Array(SETS);
  private readonly bits = new Uint8Array(SETS);
  private readonly shift = new Uint8Array(SETS);

  /** Index of the entry for `va`, or -1 on a miss. */
  lookup(va: number): number {
    const vpn = Math.floor(va / 4096);
    const set = vpn & (SETS - 1);
    return this.tag[set] === vpn ? set : -1;
  }
  rights(entry: number): number {
    return this.bits[entry] as number;
  }
  /** Guest physical address of `va` through a hit entry. */
  gpa(entry: number, va: number): number {
    return (this.frame[entry] as number) + (va % 4096);
  }
  fill(va: number, gpaPage: number, bits: number, pageShift: number): void {
    const vpn = Math.floor(va / 4096);
    const set = vpn & (SETS - 1);
    this.tag[set] = vpn;
    this.frame[set] = gpaPage - (gpaPage % 4096);
    this.bits[set] = bits;
    this.shift[set] = pageShift;
  }
  drop(entry: number): void {
    this.tag[entry] = -1;
  }
  /** INVLPG: every cached piece of the page (of whatever size) containing `va`. */
  invlpg(va: number): void {
    const vpn = Math.floor(va / 4096);
    for (let i = 0; i < SETS; i++) {
      const tag = this.tag[i] as number;
      if (tag < 0) continue;
      const span = 2 ** ((this.shift[i] as number) - 12);
      if (Math.floor(tag / span) === Math.floor(vpn / span)) this.tag[i] = -1;
    }
  }
  /** Guest frames of every cached translation with `mask` rights (writable by default; TLB_D: write-capable now). For the auditors. */
  writableFrames(out: (frame: number, va: number) => void, mask = TLB_W): void {
    for (let i = 0; i < SETS; i++) {
      if ((this.tag[i] as number) >= 0 && (this.bits[i] as number) & mask) out((this.frame[i] as number) / 4096, (this.tag[i] as number) * 4096);
    }
  }

  /** MOV to CR3: drop every non-global entry (CR4.PGE is on). `all` drops globals too. */
  flush(all: boolean): void {
    for (let i = 0; i < SETS; i++) if (all || !((this.bits[i] as number) & TLB_G)) this.tag[i] = -1;
  }
}
