/**
 * What a VM's tables look like, read from the scenario in the session's header: the guest's
 * paging format and the host side (shadow, EPT, Xen PV), and how to read an entry of each:
 * its flags as the SDM names them, the address it holds, the table it links, the bytes it covers.
 * Shared by the page-table view and the diff.
 */
import { entryBytes, type PagingControls, PTE_HI_NX, reservedSet } from '../../core/paging.ts';
import type { PagingMode } from '../../core/scenario.ts';
import { HOST_SHADOW_BASE_FRAME } from '../../core/shadow/pages.ts';
import { HOST_EPT_BASE_FRAME } from '../../core/tdp/spte.ts';
import type { SessionReader } from '../reader.ts';

export type SpaceKind = 'guest' | 'shadow' | 'ept' | 'xenpv';

interface VmLayout {
  ctl: PagingControls;
  /** The host side: shadow tables, EPT/NPT (a set of mapped frames in this engine), or Xen-validated tables. */
  host: 'shadow' | 'ept' | 'xenpv';
}

/** Paging mode and MMU mode of each VM, from the scenario stored in the header (defaults for imported traces). */
export function layouts(session: SessionReader): VmLayout[] {
  const sc = session.header.scenario as { vms?: unknown[] } | null;
  const vms = Array.isArray(sc?.vms) ? sc.vms : [];
  return Array.from({ length: session.header.vms }, (_, i) => {
    const vm = (vms[i] ?? {}) as { guest?: Record<string, unknown>; mmu?: { mode?: unknown } };
    const g = vm.guest ?? {};
    const mode: PagingMode = g.paging === 'nonpae' || g.paging === 'pae' ? g.paging : 'long4';
    const bit = (o: unknown, k: string, d: boolean) => (o && typeof o === 'object' && typeof (o as Record<string, unknown>)[k] === 'boolean' ? ((o as Record<string, boolean>)[k] as boolean) : d);
    const ctl: PagingControls = {
      mode,
      wp: bit(g.cr0, 'wp', true),
      pse: bit(g.cr4, 'pse', true),
      smep: bit(g.cr4, 'smep', false),
      smap: bit(g.cr4, 'smap', false),
      nxe: bit(g.efer, 'nx', true),
    };
    const m = vm.mmu?.mode;
    return { ctl, host: m === 'tdp' ? 'ept' : m === 'xenpv' ? 'xenpv' : 'shadow' };
  });
}

export const lo32 = (v: bigint) => Number(v & 0xffffffffn);

const hi32 = (v: bigint) => Number((v >> 32n) & 0xffffffffn);

/** Is this guest entry a leaf (maps a page) rather than a reference to the next table (SDM 4.3-4.5)? */
export function guestLeaf(ctl: PagingControls, level: number, v: bigint): boolean {
  if (level === 1) return true;
  if (!(lo32(v) & 0x80)) return false;
  if (level === 2) return ctl.mode !== 'nonpae' || ctl.pse;
  return level === 3 && ctl.mode === 'long4';
}

/** Flags as the SDM names them, for a guest entry of `level` in `ctl`'s format. */
export function guestFlags(ctl: PagingControls, level: number, v: bigint): string[] {
  const lo = lo32(v);
  const out: string[] = [];
  const pdpte = ctl.mode === 'pae' && level === 3;
  if (lo & 1) out.push('P');
  if (!pdpte && lo & 2) out.push('RW');
  if (!pdpte && lo & 4) out.push('US');
  if (lo & 8) out.push('PWT');
  if (lo & 16) out.push('PCD');
  if (pdpte) return lo & 1 && reservedSet(ctl, level, lo, hi32(v), false) ? [...out, 'RSVD'] : out;
  if (lo & 32) out.push('A');
  const leaf = guestLeaf(ctl, level, v);
  if (leaf && lo & 64) out.push('D');
  if (level > 1 && lo & 0x80) out.push('PS');
  else if (level === 1 && lo & 0x80) out.push('PAT');
  if (leaf && lo & 0x100) out.push('G');
  if (entryBytes(ctl.mode) === 8 && hi32(v) & PTE_HI_NX) out.push('NX');
  if (lo & 1 && reservedSet(ctl, level, lo, hi32(v), leaf && level > 1)) out.push('RSVD');
  return out;
}

/** Flags of a shadow/EPT entry (always the 64-bit format the host runs the guest with). */
export function hostFlags(level: number, v: bigint): string[] {
  const lo = lo32(v);
  const out: string[] = [];
  if (lo & 1) out.push('P');
  if (lo & 2) out.push('RW');
  if (lo & 4) out.push('US');
  if (lo & 32) out.push('A');
  if (lo & 64) out.push('D');
  if (level > 1 && lo & 0x80) out.push('PS');
  if (lo & 0x100) out.push('G');
  if (hi32(v) & PTE_HI_NX) out.push('NX');
  return out;
}

/** Flags of an EPT entry (SDM Vol. 3C §28.3.2; the software bits of core/tdp/spte.ts). */
export function eptFlags(level: number, v: bigint): string[] {
  const lo = lo32(v);
  const hi = hi32(v);
  const out: string[] = [];
  if (lo & 1) out.push('R');
  if (lo & 2) out.push('W');
  if (lo & 4) out.push('X');
  if (level > 1 && lo & 0x80) out.push('PS');
  if (lo & 0x100) out.push('A');
  if (lo & 0x200) out.push('D');
  if (hi & (1 << 25)) out.push('HOST-W');
  if (hi & (1 << 26)) out.push('MMU-W');
  if (hi & (1 << 27) && (lo & 7) === 0) out.push('DISCONNECTED');
  if ((lo & 7) === 2) out.push('MMIO');
  return out;
}

/**
 * The host table an entry points to, by id: shadow pages sit at host frames from 0x800000, TDP
 * MMU (EPT) pages from 0xa00000 (core/shadow/pages.ts, core/tdp/spte.ts); a Xen-validated table is
 * named by its machine frame, which is what its parent entry holds.
 */
export function hostChild(host: VmLayout['host'], value: bigint, level: number): number | undefined {
  const lo = lo32(value);
  if (level === 1 || lo & 0x80) return undefined;
  if (host === 'ept' ? (lo & 7) === 0 : (lo & 1) === 0) return undefined;
  const frame = Number(entryAddr(undefined, value) >> 12n);
  if (host === 'xenpv') return frame;
  const base = host === 'ept' ? HOST_EPT_BASE_FRAME : HOST_SHADOW_BASE_FRAME;
  return frame >= base ? frame - base : undefined;
}

/** Address bits of an entry: 4 KiB-aligned table or page address (large pages keep their low bits clear). */
export function entryAddr(ctl: PagingControls | undefined, v: bigint): bigint {
  if (ctl && ctl.mode === 'nonpae') return v & 0xfffff000n;
  return v & 0x000ffffffffff000n;
}

/** Bytes one entry of `level` covers. */
export function span(mode: PagingMode | 'host', level: number): bigint {
  if (mode === 'nonpae') return level === 1 ? 4096n : 4n << 20n;
  return 4096n << BigInt(9 * (level - 1));
}

export function canonical(va: bigint, mode: PagingMode | 'host'): bigint {
  return (mode === 'long4' || mode === 'host') && va & (1n << 47n) ? va | 0xffff000000000000n : va;
}
