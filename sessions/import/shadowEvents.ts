/**
 * Shadow pages as a trace's events name them (kvm_mmu_get_page, prepare_zap_page, sync_page,
 * unsync_page: a role as the kernel's words, the plugin's words or the numeric role word), and
 * the table ids and indexes the lab's `shadow_page` and `spte_write` events give them.
 */
import type { MmuEvent } from '../../core/events.ts';
import { decodeShadowPage } from './decode.ts';
import { fieldsShadowPage, type Fields } from './fields.ts';
import type { ImportRecord } from './predecode.ts';
import { bit4FromPlugin, bit4FromWord, decodeRoleWord, gpteBytes, type Bit4 } from './role.ts';

/** A shadow page as an event names it (any of the three forms), its role words resolved. */
export interface PageInfo {
  gfn?: number;
  level: number;
  quadrant: number;
  role: string;
  /** The role words used to match a page: without the entry size (learned late) and `invalid`. */
  match: string;
  root: number;
  created?: boolean;
}

/** Reads the shadow pages events name, learning from the first what bit 4 of a role word means in this trace (role.ts). */
export class PageRoles {
  private bit4: Bit4 | undefined;

  info(r: ImportRecord, f: Fields | undefined): PageInfo | undefined {
    if (f) {
      const d = fieldsShadowPage(f);
      if (!d) return undefined;
      this.bit4 ??= bit4FromWord(d.roleWord);
      const role = decodeRoleWord(d.roleWord, this.bit4);
      return { gfn: d.gfn, level: role.level, quadrant: role.quadrant, role: role.text, match: matchRole(role.text), root: d.root, ...(d.created === undefined ? {} : { created: d.created }) };
    }
    const d = decodeShadowPage(r.body);
    if (!d) return undefined;
    let role = d.role;
    if (d.pae !== undefined) {
      this.bit4 ??= bit4FromPlugin(d.level, d.direct, d.pae);
      const bytes = gpteBytes(d.pae, this.bit4);
      if (bytes) role = `${bytes}-byte ${role}`;
    }
    const p: PageInfo = { level: d.level, quadrant: d.quadrant, role, match: matchRole(role), root: d.root };
    if (d.gfn !== undefined) p.gfn = d.gfn;
    if (d.created !== undefined) p.created = d.created;
    return p;
  }
}

/** The role words a page is matched by: without the entry size (a trace may tell it only later) and `invalid`. */
function matchRole(role: string): string {
  return role.replace(/^\d-byte /, '').replace(' invalid', '');
}

/**
 * The id the lab gives the table page holding a TDP/shadow entry of `level` for `gfn`: the
 * gfn range the table covers (gfn >> 9·level), low 32 bits. The same page gets the same id in
 * spte_write (entries) and shadow_page (its life).
 */
export function tableId(gfn: number, level: number): number {
  const l = Math.max(1, Math.min(level, 5));
  return Math.floor(gfn / 2 ** (9 * l)) % 2 ** 32;
}

/** An spte write named by gfn and level (the TDP MMU's, or a set_spte without the spte's address). */
export function spteWrite(lane: { vm: number; vcpu: number }, t: number, level: number, gfn: number, old: bigint, next: bigint): MmuEvent {
  const l = Math.max(1, Math.min(level, 5));
  return {
    t,
    vm: lane.vm,
    vcpu: lane.vcpu,
    type: 'spte_write',
    level,
    table: tableId(gfn, l),
    index: Math.floor(gfn / 2 ** (9 * (l - 1))) % 512,
    old,
    new: next,
  };
}
