/**
 * The shadow MMU of KVM's 2007 patch series (seed 000), rebuilt from its description:
 * shadow tables (always 64-bit entries, PAE or 4-level) built from the guest's tables on
 * demand, guest page tables write-protected, emulated guest pte writes either zapping or
 * updating the shadow pte, quadrants for non-PAE guests, write-flood and misaligned-write
 * zapping, a bounded page cache with top-up and recycling (roots never freed), and
 * large-page shadow pages keyed by access.
 */
import { Emitter, pte64 } from '../emitter.ts';
import {
  PTE_A, PTE_D, PTE_HI_NX, PTE_P, PTE_PS, PTE_U, PTE_W,
  entryAddress, entryBytes, reservedSet, type PagingControls, type WalkResult,
} from '../paging.ts';

/** Host physical frames of guest memory sit above this frame (so hpa ≠ gpa in exports). */
export const HOST_GUEST_BASE_FRAME = 0x100000;
/** Host frames of shadow table pages. */
export const HOST_SHADOW_BASE_FRAME = 0x800000;
const TWO32 = 4294967296;
/** Pages the cache must have free before a fault is handled (KVM_MIN_FREE_MMU_PAGES). */
const MIN_FREE = 5;
/** Access bits of a role: writable, user, executable. */
export const ACC_W = 1;
export const ACC_U = 2;
export const ACC_X = 4;
export const ACC_ALL = 7;

export class ShadowPage {
  readonly sptes = new Uint32Array(1024);
  readonly children = new Int32Array(512).fill(-1);
  /** Parent links: parentId * 512 + index. */
  parents: number[] = [];
  roots = 0;
  /** Out of sync with its guest table (core/unsync.ts): the guest frame is not write-protected. */
  unsync = false;
  /** The cache key it was found under. */
  key = '';
  constructor(
    readonly id: number,
    readonly gfn: number,
    readonly level: number,
    readonly quadrant: number,
    readonly direct: boolean,
    readonly access: number,
    /** The MMU role bits beyond level/quadrant/direct/access it was made under (`roleBits`). */
    readonly role: RoleBits = DEFAULT_ROLE,
  ) {}
  get hostFrame(): number {
    return HOST_SHADOW_BASE_FRAME + this.id;
  }
}

/**
 * The role bits of mmu.rst that depend on the guest's controls: a shadow page is valid only
 * for the controls it was built under, so a page is looked up by them too (glevels, the
 * guest's paging mode, is fixed for a VM). CR4.PSE is keyed as well in 32-bit paging, where
 * it decides whether a PDE's PS bit maps a 4 MiB page or links a page table.
 */
export interface RoleBits {
  readonly cr0Wp: boolean;
  readonly smepAndNotWp: boolean;
  readonly smapAndNotWp: boolean;
  readonly nxe: boolean;
  readonly pse: boolean;
}
const DEFAULT_ROLE: RoleBits = { cr0Wp: true, smepAndNotWp: false, smapAndNotWp: false, nxe: true, pse: true };

export function roleBits(ctl: PagingControls): RoleBits {
  return { cr0Wp: ctl.wp, smepAndNotWp: ctl.smep && !ctl.wp, smapAndNotWp: ctl.smap && !ctl.wp, nxe: ctl.nxe, pse: ctl.mode !== 'nonpae' || ctl.pse };
}

/** The role bits that differ from a guest with WP, NXE (and PSE) on and no SMEP/SMAP-without-WP: what role names show. */
function roleSuffix(r: RoleBits): string {
  let out = '';
  if (!r.cr0Wp) out += ' !cr0_wp';
  if (r.smepAndNotWp) out += ' smep_andnot_wp';
  if (r.smapAndNotWp) out += ' smap_andnot_wp';
  if (!r.nxe) out += ' !nxe';
  if (!r.pse) out += ' !pse';
  return out;
}

/** The guest's controls as a shadow page of this role saw them. */
export function controlsOf(ctl: PagingControls, sp: ShadowPage): PagingControls {
  return { ...ctl, wp: sp.role.cr0Wp, nxe: sp.role.nxe, pse: sp.role.pse, smep: ctl.smep && (sp.role.smepAndNotWp || sp.role.cr0Wp), smap: ctl.smap && (sp.role.smapAndNotWp || sp.role.cr0Wp) };
}

export interface ShadowOptions {
  onGuestPteWrite: 'zap' | 'update';
  cachePages: number;
  floodThreshold: number;
  largePageAccessKeyBug: boolean;
}

/** What the MMU needs from the engine: events, flushing every vCPU's TLB, charging time. */
export interface ShadowHost {
  readonly emitter: Emitter;
  flushAllTlbs(reason: string): void;
  chargeAlloc(): void;
  /** Does a memslot back this guest frame? A frame without one is MMIO and never gets a RAM spte. */
  hasMemslot(gfn: number): boolean;
  /**
   * The MMU stores into the table page held in `frame`: entry `index`, or the whole page when
   * it clears a new one (core/shadow/platform.ts: L1 memory when nested).
   */
  storeTable?(frame: number, index?: number): void;
  /**
   * Set when the tables are an L1 hypervisor's (core/tableRoles.ts, e.g. `spt12`): events name a
   * table by the frame that holds it and carry this role instead of the shadow role.
   */
  readonly tableRole?: string;
}

export class ShadowPageCache {
  readonly pages = new Map<number, ShadowPage>();
  private readonly byKey = new Map<string, number>();
  /** Non-direct shadow pages per guest frame: a frame with any is write-protected. */
  private readonly shadowsOf = new Map<number, number[]>();
  /** Reverse map: guest frame → leaf sptes mapping it (pageId * 512 + index). */
  private readonly rmap = new Map<number, number[]>();
  /** Creation order, oldest first: the recycling order (a Set keeps insertion order). */
  private readonly active = new Set<number>();
  private nextId = 1;
  private lastWriteGfn = -1;
  private writeCount = 0;
  readonly stats = { recycled: 0, zapped: 0, allocated: 0, floods: 0, misaligned: 0 };
  /** Guest frames whose shadow pages are out of sync (core/unsync.ts): not write-protected. */
  readonly unsyncGfns = new Set<number>();
  /** Called before a new shadow page is made for an out-of-sync frame (it must be synced first). */
  onNewPageOfUnsync: (gfn: number) => void = () => {};

  constructor(
    private readonly ctl: PagingControls,
    private readonly opts: ShadowOptions,
    private readonly host: ShadowHost,
  ) {}

  get used(): number {
    return this.pages.size;
  }
  isWriteProtected(gfn: number): boolean {
    return this.shadowsOf.has(gfn) && !this.unsyncGfns.has(gfn);
  }
  shadowsOfGfn(gfn: number): readonly number[] {
    return this.shadowsOf.get(gfn) ?? [];
  }
  rmapOf(gfn: number): readonly number[] {
    return this.rmap.get(gfn) ?? [];
  }

  /** Top level of the shadow tables: 4-level for long mode, else PAE (roots are level-2 pages). */
  get shadowTop(): number {
    return this.ctl.mode === 'long4' ? 4 : 2;
  }

  /** Index of `va` in a shadow table of `level` (64-bit entries, 512 per page). */
  static index(va: number, level: number): number {
    return Math.floor(va / 2 ** (12 + 9 * (level - 1))) & 511;
  }

  // ---- pages -------------------------------------------------------------------------

  /** Find or create the shadow page for a role; `parent` links it under a parent spte. */
  getPage(gfn: number, level: number, quadrant: number, direct: boolean, access: number): ShadowPage {
    const keyAccess = direct && this.opts.largePageAccessKeyBug ? 0 : access;
    const role = roleBits(this.ctl);
    const roleKey = `${+role.cr0Wp}${+role.smepAndNotWp}${+role.smapAndNotWp}${+role.nxe}${+role.pse}`;
    const key = `${gfn}:${level}:${quadrant}:${direct ? 1 : 0}:${keyAccess}:${roleKey}`;
    const found = this.byKey.get(key);
    if (found !== undefined) return this.pages.get(found) as ShadowPage;
    if (!direct && this.unsyncGfns.has(gfn)) this.onNewPageOfUnsync(gfn);
    const sp = new ShadowPage(this.nextId++, gfn, level, quadrant, direct, access, role);
    sp.key = key;
    this.pages.set(sp.id, sp);
    this.byKey.set(key, sp.id);
    this.active.add(sp.id);
    this.stats.allocated++;
    this.host.chargeAlloc();
    this.host.storeTable?.(sp.hostFrame); // the page is cleared
    this.pageEvent('alloc', sp);
    if (!direct) this.protect(sp);
    return sp;
  }

  /** Write-protect the guest frame a new shadow page shadows: drop W from every spte mapping it. */
  private protect(sp: ShadowPage): void {
    const list = this.shadowsOf.get(sp.gfn);
    if (list) {
      list.push(sp.id);
      return;
    }
    this.shadowsOf.set(sp.gfn, [sp.id]);
    if (this.writeProtectGfn(sp.gfn)) this.host.flushAllTlbs('write-protect');
  }

  /** Drop W from every spte that maps `gfn`; returns whether any had it (a TLB flush is due). */
  writeProtectGfn(gfn: number): boolean {
    let reduced = false;
    for (const ref of this.rmap.get(gfn) ?? []) {
      const page = this.pages.get(Math.floor(ref / 512)) as ShadowPage;
      const i = ref % 512;
      const lo = page.sptes[2 * i] as number;
      if (!(lo & PTE_W)) continue;
      this.setSpte(page, i, lo & ~PTE_W, page.sptes[2 * i + 1] as number);
      reduced = true;
    }
    return reduced;
  }

  /** Make sure a fault can be served without running out of pages (seed 000: top-up). */
  topUp(): void {
    while (this.opts.cachePages - this.pages.size < MIN_FREE && this.recycleOne()) {
      /* keep recycling */
    }
  }

  /** Recycle the oldest page that is not a root; roots go to the back of the list. */
  private recycleOne(): boolean {
    for (let tries = this.active.size; tries > 0; tries--) {
      const id = this.active.values().next().value as number;
      const sp = this.pages.get(id) as ShadowPage;
      if (sp.roots > 0) {
        this.active.delete(id); // roots are never recycled: to the back of the list
        this.active.add(id);
        continue;
      }
      this.stats.recycled++;
      this.pageEvent('recycle', sp);
      this.zapPage(sp, false);
      return true;
    }
    return false;
  }

  /**
   * Zap a shadow page: clear the parent sptes pointing at it, unlink its children, drop
   * its leaf sptes from the rmap; free it unless it is an in-use root.
   */
  zapPage(sp: ShadowPage, announce = true): void {
    if (announce) {
      this.stats.zapped++;
      this.pageEvent('zap', sp);
    }
    // Only a reachable page (linked or a root) can have translations cached in a TLB.
    const reachable = sp.parents.length > 0 || sp.roots > 0;
    for (const ref of sp.parents) {
      const parent = this.pages.get(Math.floor(ref / 512));
      if (!parent) continue;
      parent.children[ref % 512] = -1;
      this.setSpte(parent, ref % 512, 0, 0);
    }
    sp.parents = [];
    for (let i = 0; i < 512; i++) this.clearSpte(sp, i);
    if (sp.roots === 0) this.free(sp); // a root must stay valid for cr3 (seed 000): emptied, kept
    if (reachable) this.host.flushAllTlbs('zap');
  }

  private free(sp: ShadowPage): void {
    this.pages.delete(sp.id);
    this.byKey.delete(sp.key);
    this.active.delete(sp.id);
    if (sp.direct) return;
    const list = (this.shadowsOf.get(sp.gfn) ?? []).filter((id) => id !== sp.id);
    if (list.length) this.shadowsOf.set(sp.gfn, list);
    else {
      this.shadowsOf.delete(sp.gfn);
      this.unsyncGfns.delete(sp.gfn);
    }
  }

  // ---- sptes -------------------------------------------------------------------------

  /** Write one spte and report it. Keeps the rmap in step for leaf entries. */
  setSpte(sp: ShadowPage, i: number, lo: number, hi: number): void {
    const oldLo = sp.sptes[2 * i] as number;
    const oldHi = sp.sptes[2 * i + 1] as number;
    if (oldLo === lo >>> 0 && oldHi === hi >>> 0) return;
    const leaf = sp.level === 1;
    if (leaf && oldLo & PTE_P) this.rmapRemove(frameOf(oldLo, oldHi) - HOST_GUEST_BASE_FRAME, sp.id * 512 + i);
    this.host.storeTable?.(sp.hostFrame, i);
    sp.sptes[2 * i] = lo;
    sp.sptes[2 * i + 1] = hi;
    if (leaf && lo & PTE_P) this.rmapAdd(frameOf(lo, hi) - HOST_GUEST_BASE_FRAME, sp.id * 512 + i);
    const role = this.host.tableRole;
    if (role) this.host.emitter.emit({ type: 'spte_write', level: sp.level, table: sp.hostFrame, index: i, old: pte64(oldLo, oldHi), new: pte64(lo, hi), role });
    else this.host.emitter.emit({ type: 'spte_write', level: sp.level, table: sp.id, index: i, old: pte64(oldLo, oldHi), new: pte64(lo, hi) });
  }

  /** A `shadow_page` event for `sp`: by its id and shadow role, or, for an L1's tables, by its frame and table role. */
  pageEvent(action: 'alloc' | 'zap' | 'recycle' | 'unsync' | 'sync', sp: ShadowPage): void {
    const role = this.host.tableRole;
    this.host.emitter.emit({ type: 'shadow_page', action, table: role ? sp.hostFrame : sp.id, level: sp.level, gfn: sp.gfn, role: role ?? roleName(sp), quadrant: sp.quadrant });
  }

  /** Clear an spte, unlinking a child page (which stays cached, parentless). */
  clearSpte(sp: ShadowPage, i: number): void {
    const child = sp.children[i] as number;
    if (child >= 0) {
      const c = this.pages.get(child);
      if (c) c.parents = c.parents.filter((r) => r !== sp.id * 512 + i);
      sp.children[i] = -1;
    }
    if (sp.sptes[2 * i] as number) this.setSpte(sp, i, 0, 0);
  }

  link(parent: ShadowPage, i: number, child: ShadowPage): void {
    parent.children[i] = child.id;
    child.parents.push(parent.id * 512 + i);
    this.setSpte(parent, i, PTE_P | PTE_W | PTE_U | PTE_A | ((child.hostFrame * 4096) % TWO32), Math.floor(child.hostFrame / 1048576));
  }

  private rmapAdd(gfn: number, ref: number): void {
    const list = this.rmap.get(gfn);
    if (list) list.push(ref);
    else this.rmap.set(gfn, [ref]);
  }
  private rmapRemove(gfn: number, ref: number): void {
    const list = this.rmap.get(gfn);
    if (!list) return;
    const at = list.indexOf(ref);
    if (at >= 0) list.splice(at, 1);
    if (!list.length) this.rmap.delete(gfn);
  }

  /**
   * The leaf spte for a guest translation: the guest's rights, intersected with the role's
   * access, writable only once the guest pte is dirty and only if the target frame is not
   * a write-protected guest page table.
   */
  leafSpte(gfn: number, access: number, dirty: boolean): [number, number] {
    let lo = PTE_P | PTE_A | ((((HOST_GUEST_BASE_FRAME + gfn) * 4096) % TWO32) >>> 0);
    // The host always has EFER.NX, so an spte may be NX even when the guest has no NX.
    const hi = Math.floor((HOST_GUEST_BASE_FRAME + gfn) / 1048576) | (access & ACC_X ? 0 : PTE_HI_NX);
    if (access & ACC_U) lo |= PTE_U;
    if (access & ACC_W && dirty && !this.isWriteProtected(gfn)) lo |= PTE_W | PTE_D;
    return [lo >>> 0, hi];
  }

  // ---- emulated guest pte writes -----------------------------------------------------

  /**
   * The guest wrote `bytes` bytes at `gpa` inside a write-protected page table (the write
   * was trapped and emulated). Zap or update the shadow entries it affects, per seed 000.
   * `newLo/newHi` is the whole guest entry after the write.
   */
  onGuestWrite(gpa: number, bytes: number, newLo: number, newHi: number): void {
    const gfn = Math.floor(gpa / 4096);
    const flooded = this.countWrite(gfn);
    const gBytes = entryBytes(this.ctl.mode);
    const offset = gpa % 4096;
    // KVM's detect_write_misaligned: a store across two entries or of fewer than 4 bytes,
    // except a 1-byte store to an entry's first byte (Linux's clear_bit on a pte's flags).
    const oneByteAtStart = bytes === 1 && offset % gBytes === 0;
    const misaligned = !oneByteAtStart && (bytes < 4 || Math.floor(offset / gBytes) !== Math.floor((offset + bytes - 1) / gBytes));
    let flush = false;
    for (const id of [...this.shadowsOfGfn(gfn)]) {
      const sp = this.pages.get(id) as ShadowPage;
      if (misaligned || flooded) {
        if (misaligned) this.stats.misaligned++;
        else this.stats.floods++;
        this.zapPage(sp);
        continue;
      }
      flush = this.writeEntries(sp, Math.floor(offset / gBytes), newLo, newHi) || flush;
    }
    if (flush) this.host.flushAllTlbs('pte-write');
  }

  /**
   * The hypervisor's own walk set the dirty bit of a guest entry in a shadowed table: bring
   * the shadow entries in line (no flood counting, it is not a guest store). For a large
   * page this unlinks the read-only direct page so the next fill links a writable one.
   */
  syncDirty(gpa: number, newLo: number, newHi: number): void {
    const gfn = Math.floor(gpa / 4096);
    const gi = Math.floor((gpa % 4096) / entryBytes(this.ctl.mode));
    let flush = false;
    for (const id of [...this.shadowsOfGfn(gfn)]) flush = this.writeEntries(this.pages.get(id) as ShadowPage, gi, newLo, newHi) || flush;
    if (flush) this.host.flushAllTlbs('pte-write');
  }

  /** Write-flood detection: the same guest table written again and again without a fault through it. */
  private countWrite(gfn: number): boolean {
    if (gfn === this.lastWriteGfn) this.writeCount++;
    else {
      this.lastWriteGfn = gfn;
      this.writeCount = 1;
    }
    return this.writeCount >= this.opts.floodThreshold;
  }

  /** A shadow fault (not an emulated write) resets flood detection: the table is in use. */
  noteFault(): void {
    this.lastWriteGfn = -1;
    this.writeCount = 0;
  }

  /** Apply one guest entry write to the shadow entries of one shadow page. True if rights shrank. */
  private writeEntries(sp: ShadowPage, gi: number, newLo: number, newHi: number): boolean {
    let first = gi;
    let n = 1;
    if (this.ctl.mode === 'nonpae') {
      // Non-PAE: a guest pt page is two shadow pts (quadrant = which half); a guest pd page
      // is four shadow pds (quadrant = which GiB), each guest pde covering two shadow pdes.
      const perShadow = sp.level === 1 ? 512 : 256;
      if (Math.floor(gi / perShadow) !== sp.quadrant) return false;
      first = sp.level === 1 ? gi % 512 : (gi % 256) * 2;
      n = sp.level === 1 ? 1 : 2;
    }
    let reduced = false;
    for (let i = first; i < first + n; i++) {
      const wasPresent = ((sp.sptes[2 * i] as number) & PTE_P) !== 0;
      // update only a pte to RAM: a frame with no memslot is MMIO, left to fault into the emulator
      const ctl = controlsOf(this.ctl, sp);
      if (sp.level === 1 && this.opts.onGuestPteWrite === 'update' && canUpdate(newLo) && !reservedSet(ctl, 1, newLo, newHi, false) && this.host.hasMemslot(entryFrame(ctl, newLo, newHi))) {
        const [lo, hi] = this.leafSpte(entryFrame(ctl, newLo, newHi), sp.access & guestAccess(ctl, newLo, newHi), (newLo & PTE_D) !== 0);
        reduced = reduced || (wasPresent && lessRights(sp.sptes[2 * i] as number, sp.sptes[2 * i + 1] as number, lo, hi));
        this.setSpte(sp, i, lo, hi);
      } else {
        this.clearSpte(sp, i);
        reduced = reduced || wasPresent;
      }
    }
    return reduced;
  }
}

/** Update only a present, accessed guest pte (an un-accessed one must fault to set A). */
function canUpdate(lo: number): boolean {
  return (lo & (PTE_P | PTE_A)) === (PTE_P | PTE_A) && !(lo & PTE_PS);
}

function lessRights(oldLo: number, oldHi: number, lo: number, hi: number): boolean {
  if (frameOf(oldLo, oldHi) !== frameOf(lo, hi)) return true;
  if (oldLo & PTE_W && !(lo & PTE_W)) return true;
  if (oldLo & PTE_U && !(lo & PTE_U)) return true;
  return !(oldHi & PTE_HI_NX) && (hi & PTE_HI_NX) !== 0;
}

export function frameOf(lo: number, hi: number): number {
  return Math.floor(entryAddress(lo, hi, 12) / 4096);
}

/** Guest frame a 4 KiB guest pte maps. */
function entryFrame(ctl: PagingControls, lo: number, hi: number): number {
  return ctl.mode === 'nonpae' ? lo >>> 12 : frameOf(lo, hi);
}

/** The access bits one guest entry grants. */
export function guestAccess(ctl: PagingControls, lo: number, hi: number): number {
  let acc = ACC_X;
  if (lo & PTE_W) acc |= ACC_W;
  if (lo & PTE_U) acc |= ACC_U;
  if (ctl.mode !== 'nonpae' && ctl.nxe && hi & PTE_HI_NX) acc &= ~ACC_X;
  return acc;
}

/** Combined access of a walk's entries above the leaf (what a shadow page's role records). */
export function upperAccess(ctl: PagingControls, r: WalkResult, uptoExclusive: number): number {
  let acc = ACC_ALL;
  const first = ctl.mode === 'pae' ? 1 : 0; // PAE PDPTEs carry no rights
  for (let i = first; i < uptoExclusive; i++) acc &= guestAccess(ctl, r.entryLo[i] as number, r.entryHi[i] as number);
  return acc;
}

export function roleName(sp: ShadowPage): string {
  const acc = `${sp.access & ACC_W ? 'w' : '-'}${sp.access & ACC_U ? 'u' : '-'}${sp.access & ACC_X ? 'x' : '-'}`;
  return `${sp.direct ? 'direct' : 'shadow'} l${sp.level} ${acc}${sp.roots > 0 ? ' root' : ''}${sp.unsync ? ' unsync' : ''}${roleSuffix(sp.role)}`;
}
