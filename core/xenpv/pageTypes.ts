/**
 * Xen's page-type system (seed 003), the bookkeeping behind PV direct paging: every frame
 * has a type (none, or "page table of level n") and a type reference count. Linking a table
 * takes a type reference on it; a frame whose count goes 0 → 1 is validated entry by entry
 * (each entry taking its own references), and 1 → 0 releases them again. A writable leaf
 * mapping takes a "writable" reference on its frame; a frame that is a page table cannot be
 * mapped writable, and a frame mapped writable cannot become a page table.
 *
 * What a type change means beyond the counts (reporting the table, flushing TLBs) is the
 * hypervisor's (xenpv.ts), told through `TypeChanges`.
 */
import { PTE_P, PTE_W, entryAddress, entryBytes, isLeaf, reservedSet } from '../paging.ts';
import { hex, type Machine } from '../machine.ts';
import type { XenTypeView } from './auditor.ts';
import type { EntryRef } from './entryRef.ts';

const TWO32 = 4294967296;

/** What Xen does when a frame becomes a validated table, or stops being one. */
export interface TypeChanges {
  /** `frame` was just validated as a table of `level` (its entries hold their references). */
  typed(frame: number, level: number): void;
  /** `frame`'s last type reference is gone; its entries still hold theirs, released next. */
  released(frame: number, level: number): void;
}

/** The counters of the type system, kept in the hypervisor's stats. */
export interface TypeStats {
  validatedEntries: number;
  releasedEntries: number;
}

export class PageTypes implements Omit<XenTypeView, 'pinned' | 'cr3Root'> {
  readonly frames: number;
  /** Page type of each guest frame: 0 none, n = page table of level n. */
  readonly type: Uint8Array;
  readonly typeCount: Int32Array;
  /** Writable leaf mappings of each frame from validated tables. */
  readonly writable: Int32Array;
  /** Frames that currently have a page type (for the auditor). */
  readonly typed = new Set<number>();
  /** Entries validated or released since the hypervisor last reset it (charged to its hypercall). */
  work = 0;
  /** Why the last reference was refused, for the refusal's message. */
  why = '';

  constructor(
    private readonly vm: Machine,
    private readonly stats: TypeStats,
    private readonly changes: TypeChanges,
  ) {
    this.frames = vm.mem.frames;
    this.type = new Uint8Array(this.frames);
    this.typeCount = new Int32Array(this.frames);
    this.writable = new Int32Array(this.frames);
  }

  isPageTable(frame: number): boolean {
    return frame < this.frames && (this.typeCount[frame] as number) > 0;
  }

  /** Entries in a table of `level` under the guest's paging mode. */
  entries(level: number): number {
    const mode = this.vm.ctl.mode;
    if (mode === 'nonpae') return 1024;
    return mode === 'pae' && level === 3 ? 4 : 512;
  }

  /** The references a present, well-formed entry of a table of `level` makes Xen hold. */
  refOf(level: number, lo: number, hi: number): EntryRef | null {
    if (!(lo & PTE_P)) return null;
    const ctl = this.vm.ctl;
    const leaf = isLeaf(ctl, level, lo);
    if (reservedSet(ctl, level, lo, hi, leaf && level > 1)) return null; // never followed by the CPU
    const nonpae = ctl.mode === 'nonpae';
    if (!leaf) return { table: true, frame: Math.floor(entryAddress(lo, nonpae ? 0 : hi, 12) / 4096), frames: 1, level: level - 1, writable: false };
    let address: number;
    let frames = 1;
    if (level === 1) address = entryAddress(lo, nonpae ? 0 : hi, 12);
    else if (nonpae) {
      address = ((lo & 0xffc00000) >>> 0) + ((lo >>> 13) & 0xff) * TWO32; // PSE-36
      frames = 1024;
    } else {
      address = entryAddress(lo, hi, level === 2 ? 21 : 30);
      frames = level === 2 ? 512 : 262144;
    }
    return { table: false, frame: Math.floor(address / 4096), frames, level: 0, writable: (lo & PTE_W) !== 0 };
  }

  /** Take the references `ref` stands for; false (with `why`) when Xen refuses them. */
  getRef(ref: EntryRef): boolean {
    if (ref.table) return this.getType(ref.frame, ref.level);
    if (!ref.writable) return true;
    const last = Math.min(ref.frame + ref.frames, this.frames);
    for (let f = ref.frame; f < last; f++) {
      if (this.isPageTable(f)) {
        this.why = `frame ${hex(f)} is an L${this.type[f]} page table and cannot be mapped writable`;
        return false;
      }
    }
    for (let f = ref.frame; f < last; f++) this.writable[f] = (this.writable[f] as number) + 1;
    return true;
  }

  putRef(ref: EntryRef): void {
    if (ref.table) return this.putType(ref.frame);
    if (!ref.writable) return;
    const last = Math.min(ref.frame + ref.frames, this.frames);
    for (let f = ref.frame; f < last; f++) this.writable[f] = (this.writable[f] as number) - 1;
  }

  /** Take a type reference making `frame` a page table of `level`, validating it on 0 → 1. */
  getType(frame: number, level: number): boolean {
    if (frame >= this.frames) return true; // beyond RAM: the domain's I/O frames, never page tables
    const count = this.typeCount[frame] as number;
    if (count > 0) {
      if (this.type[frame] === level) {
        this.typeCount[frame] = count + 1;
        return true;
      }
      this.why = `frame ${hex(frame)} is an L${this.type[frame]} page table, not L${level}`;
      return false;
    }
    if ((this.writable[frame] as number) > 0) {
      this.why = `frame ${hex(frame)} is mapped writable and cannot become a page table`;
      return false;
    }
    this.type[frame] = level;
    this.typeCount[frame] = 1;
    this.typed.add(frame);
    if (!this.validate(frame, level)) {
      this.type[frame] = 0;
      this.typeCount[frame] = 0;
      this.typed.delete(frame);
      return false;
    }
    this.changes.typed(frame, level);
    return true;
  }

  /** Drop a type reference; on 1 → 0 the table releases every reference its entries hold. */
  putType(frame: number): void {
    if (frame >= this.frames) return;
    const count = (this.typeCount[frame] as number) - 1;
    this.typeCount[frame] = count;
    if (count > 0) return;
    const level = this.type[frame] as number;
    const n = this.entries(level);
    this.changes.released(frame, level);
    for (let i = 0; i < n; i++) {
      const [lo, hi] = this.vm.os.readEntry(frame * 4096 + i * entryBytes(this.vm.ctl.mode));
      const ref = this.refOf(level, lo, hi);
      if (ref) this.putRef(ref);
    }
    this.work += n;
    this.stats.releasedEntries += n;
    this.type[frame] = 0;
    this.typed.delete(frame);
  }

  /** Check every entry of a table becoming typed; on a bad one, give back what was taken. */
  private validate(frame: number, level: number): boolean {
    const n = this.entries(level);
    const bytes = entryBytes(this.vm.ctl.mode);
    this.work += n;
    this.stats.validatedEntries += n;
    for (let i = 0; i < n; i++) {
      const [lo, hi] = this.vm.os.readEntry(frame * 4096 + i * bytes);
      const ref = this.refOf(level, lo, hi);
      if (!ref || this.getRef(ref)) continue;
      for (let j = 0; j < i; j++) {
        const [plo, phi] = this.vm.os.readEntry(frame * 4096 + j * bytes);
        const prev = this.refOf(level, plo, phi);
        if (prev) this.putRef(prev);
      }
      this.why = `entry ${i} of L${level} table ${hex(frame)}: ${this.why}`;
      return false;
    }
    return true;
  }
}
