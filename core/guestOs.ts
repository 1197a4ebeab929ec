/**
 * A small guest OS: processes with their own page tables in guest memory, a frame
 * allocator, and the page-table edits its #PF handler, fork, exec and exit make. All
 * page-table writes go through `PteWriter`, which is where a hypervisor may trap them.
 */
import {
  GuestMemory, PTE_A, PTE_D, PTE_G, PTE_HI_NX, PTE_HI_RSVD_FLAG, PTE_P, PTE_PS, PTE_U, PTE_W, NONPAE_4M_RSVD,
  entryBytes, tableIndex, topLevel, type PagingControls,
} from './paging.ts';
import type { LevelName, PageSize, PteFlag } from './scenario.ts';

/** Writes one guest paging-structure entry (the engine traps it under shadow paging). */
export type PteWriter = (gpa: number, level: number, lo: number, hi: number) => void;

export class Process {
  /** User pages the OS knows about: virtual page number → frame. */
  readonly pages = new Map<number, number>();
  /** Pages shared copy-on-write after a fork. */
  readonly cow = new Set<number>();
  /** Demand-paged regions [start, end) in bytes. */
  regions: Array<[number, number]> = [];
  readonly tables: number[] = [];
  constructor(
    readonly pid: number,
    readonly cr3: number,
  ) {}
  inRegion(va: number): boolean {
    return this.regions.some(([s, e]) => va >= s && va < e);
  }
}

const LEVEL_OF: Record<LevelName, number> = { pml4: 4, pdpt: 3, pd: 2, pt: 1 };
const SIZE_LEVEL: Record<PageSize, number> = { '4k': 1, '2m': 2, '4m': 2, '1g': 3 };
const PAGE_BYTES: Record<PageSize, number> = { '4k': 4096, '2m': 2 ** 21, '4m': 2 ** 22, '1g': 2 ** 30 };

export class GuestOs {
  readonly procs = new Map<number, Process>();
  private readonly free: number[] = [];
  readonly refs: Int32Array;
  /** Called when a frame is handed out and zeroed (a hypervisor may be write-protecting it). */
  onZero: (frame: number) => void = () => {};

  constructor(
    readonly mem: GuestMemory,
    readonly ctl: PagingControls,
    private readonly write: PteWriter,
  ) {
    this.refs = new Int32Array(mem.frames);
    // Frames 0-255 (the first MiB) are the kernel's; hand out the rest lowest first.
    for (let f = mem.frames - 1; f >= 256; f--) this.free.push(f);
  }

  allocFrame(): number {
    const f = this.free.pop();
    if (f === undefined) throw new Error('guest out of memory: raise memoryMiB');
    this.refs[f] = 1;
    this.onZero(f);
    this.mem.clearFrame(f);
    return f;
  }
  releaseFrame(f: number): void {
    const left = --(this.refs as Int32Array)[f]!;
    if (left <= 0) {
      this.refs[f] = 0;
      this.free.push(f);
    }
  }

  /** A zeroed page-table frame. */
  private allocTable(p: Process): number {
    const f = this.allocFrame();
    p.tables.push(f);
    return f;
  }

  createProcess(pid: number): Process {
    const top = this.allocFrame();
    const proc = new Process(pid, top * 4096);
    proc.tables.push(top);
    this.procs.set(pid, proc);
    if (this.ctl.mode === 'pae') {
      // As Linux PAE does (pgd_alloc → preallocate_pmds), a new PDPT gets its four page
      // directories at once, so no PDPTE changes while it is in CR3: the CPU reads PDPTEs
      // only when CR3 is loaded (SDM 4.4.1), and a later PDPTE store would go unseen.
      for (let i = 0; i < 4; i++) {
        const pd = this.allocTable(proc) * 4096;
        this.write(top * 4096 + 8 * i, 3, (pd % 4294967296) | PTE_P, Math.floor(pd / 4294967296));
      }
    }
    return proc;
  }

  /** Guest physical address of the entry for `va` at `level`, given its table. */
  entryGpa(table: number, va: number, level: number): number {
    return table + tableIndex(this.ctl.mode, va, level) * entryBytes(this.ctl.mode);
  }

  readEntry(gpa: number): [number, number] {
    return [this.mem.read32(gpa), entryBytes(this.ctl.mode) === 8 ? this.mem.read32(gpa + 4) : 0];
  }

  /**
   * Map `va` → `gpa` with page `size`, writing each level's entry with the flags given for
   * it (DESIGN.md `map` step). Returns true if a PAE PDPTE changed (the OS reloads CR3).
   */
  map(p: Process, va: number, gpa: number, size: PageSize, levels: Partial<Record<LevelName, PteFlag[]>>): boolean {
    const leafLevel = SIZE_LEVEL[size];
    let table = p.cr3 - (p.cr3 % 4096);
    let pdpteChanged = false;
    for (let level = topLevel(this.ctl.mode); level >= leafLevel; level--) {
      const at = this.entryGpa(table, va, level);
      const flags = levels[levelName(level)] ?? ['P', 'W', 'U'];
      const [oldLo, oldHi] = this.readEntry(at);
      const leaf = level === leafLevel;
      const next = leaf ? gpa - (gpa % PAGE_BYTES[size]) : this.nextTable(p, oldLo, oldHi);
      const [lo, hi] = this.encode(flags, next, level, leaf && level > 1);
      if (lo !== oldLo || hi !== oldHi) {
        this.write(at, level, lo, hi);
        if (this.ctl.mode === 'pae' && level === 3) pdpteChanged = true;
      }
      // the OS knows which table it linked (the entry's reserved bits are not part of its address)
      table = next;
    }
    return pdpteChanged;
  }

  /** The table an existing entry points at, or a fresh one. */
  private nextTable(p: Process, lo: number, hi: number): number {
    if (lo & PTE_P && !(lo & PTE_PS)) return tableAt(lo, hi);
    if (lo & PTE_P && this.ctl.mode === 'nonpae' && !this.ctl.pse) return tableAt(lo, hi);
    return this.allocTable(p) * 4096;
  }

  /** Entry bits for a flag list (PS implied by a large leaf; PAE PDPTEs take only P and RSVD). */
  encode(flags: readonly PteFlag[], address: number, level: number, large: boolean): [number, number] {
    const pdpte = this.ctl.mode === 'pae' && level === 3;
    let lo = (address % 4294967296) >>> 0;
    let hi = Math.floor(address / 4294967296);
    if (this.ctl.mode === 'nonpae' && large) {
      lo = (lo & 0xffc00000) | ((hi & 0xff) << 13);
      hi = 0;
    }
    for (const flag of flags) {
      if (pdpte && flag !== 'P' && flag !== 'RSVD') continue;
      if (flag === 'P') lo |= PTE_P;
      else if (flag === 'W') lo |= PTE_W;
      else if (flag === 'U') lo |= PTE_U;
      else if (flag === 'A') lo |= PTE_A;
      else if (flag === 'D') lo |= PTE_D;
      else if (flag === 'G') lo |= PTE_G;
      else if (flag === 'NX' && this.ctl.mode !== 'nonpae') hi |= PTE_HI_NX;
      else if (flag === 'RSVD') [lo, hi] = this.setReserved(lo, hi, large);
    }
    if (large) lo |= PTE_PS;
    return [lo >>> 0, hi >>> 0];
  }

  private setReserved(lo: number, hi: number, large: boolean): [number, number] {
    if (this.ctl.mode !== 'nonpae') return [lo, hi | PTE_HI_RSVD_FLAG];
    // 32-bit paging has reserved bits only in a 4 MiB PDE (the schema rejects the rest).
    return [large ? lo | NONPAE_4M_RSVD : lo, hi];
  }

  /** Make sure the tables down to the pt exist for `va`; returns the pte's gpa. */
  ensurePte(p: Process, va: number): number {
    let table = p.cr3 - (p.cr3 % 4096);
    for (let level = topLevel(this.ctl.mode); level > 1; level--) {
      const at = this.entryGpa(table, va, level);
      const [lo, hi] = this.readEntry(at);
      if (lo & PTE_P) {
        table = tableAt(lo, hi);
        continue;
      }
      const t = this.allocTable(p) * 4096;
      const flags = this.ctl.mode === 'pae' && level === 3 ? PTE_P : PTE_P | PTE_W | PTE_U | PTE_A;
      this.write(at, level, (t % 4294967296) | flags, Math.floor(t / 4294967296));
      table = t;
    }
    return this.entryGpa(table, va, 1);
  }

  /** A user pte for a frame, as Linux writes it on a fault: present, young, dirty on a write. */
  userPte(frame: number, writable: boolean, dirty: boolean): [number, number] {
    let lo = PTE_P | PTE_U | PTE_A | ((frame * 4096) % 4294967296);
    if (writable) lo |= PTE_W;
    if (dirty) lo |= PTE_D;
    return [lo >>> 0, Math.floor(frame / 1048576)];
  }

  /** The pte gpa for `va` if its tables exist (no allocation), else -1. */
  findPte(p: Process, va: number): number {
    let table = p.cr3 - (p.cr3 % 4096);
    for (let level = topLevel(this.ctl.mode); level > 1; level--) {
      const [lo, hi] = this.readEntry(this.entryGpa(table, va, level));
      if (!(lo & PTE_P) || lo & PTE_PS) return -1;
      table = tableAt(lo, hi);
    }
    return this.entryGpa(table, va, 1);
  }

  /** Free every frame a process owns (its tables last). */
  destroy(p: Process): void {
    for (const frame of p.pages.values()) this.releaseFrame(frame);
    for (const t of p.tables) this.releaseFrame(t);
    p.pages.clear();
    if (this.procs.get(p.pid) === p) this.procs.delete(p.pid);
  }
}

function levelName(level: number): LevelName {
  return (Object.keys(LEVEL_OF) as LevelName[]).find((k) => LEVEL_OF[k] === level) as LevelName;
}

/** The table an entry links, as the OS reads it: address bits 39:12 (MAXPHYADDR 40; reserved bits are not address). */
function tableAt(lo: number, hi: number): number {
  return ((lo & 0xfffff000) >>> 0) + (hi & 0xff) * 4294967296;
}
