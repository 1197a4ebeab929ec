/**
 * The table-role convention of nested virtualization: which structure a host-side table (an
 * `spte_write`'s or `shadow_page`'s `table`) belongs to, and whose memory holds it.
 *
 * A role is `<kind><owner><guest>`, as the nested-virtualization literature names them (the
 * Turtles paper's EPT12, EPT01, EPT02): `kind` is the structure (`ept`, `npt`: a second-level
 * translation; `spt`: shadow page tables), `guest` the level of the guest whose addresses it
 * translates, `owner` the level of the hypervisor that builds it; the table pages live in the
 * owner's memory, and the translation gives the owner's addresses. So:
 * - `ept01`: L0's EPT for L1's memory (L1 gpa → host), in host memory;
 * - `ept02`: L0's shadow of EPT12 ∘ EPT01 (L2 gpa → host), the EPT the CPU uses for L2;
 * - `ept12`: L1's EPT for L2 (L2 gpa → L1 gpa), in L1's memory, written by L1's stores;
 * - `spt12`: L1's shadow page tables for L2 (L2 va → L1 gpa) when L1 uses shadow paging;
 *   `spt02` L0's shadow of them, and so on.
 * Table ids are per owner: a table of owner 0 is named as plain sessions name host tables
 * (shadow page id, EPT table `frame − 0xa00000`); a table of owner 1 or above by the guest
 * frame that holds it in its owner's memory. So (owner, table) is unique in a VM, (role, table)
 * too, and `table` alone is not. Tables without a role of this form (every plain shadow, TDP or
 * Xen PV session) are the single host structure they always were: owner 0.
 */

export interface TableRole {
  /** `ept`, `npt`, `spt`, … */
  kind: string;
  /** Level of the guest whose addresses the structure translates (2 for L2). */
  from: number;
  /** Level of the hypervisor that builds it: whose addresses it gives and whose memory holds it (0 = the host, L0). */
  owner: number;
}

const ROLE = /^([a-z]+)(\d)(\d)$/;

/** The parts of a nested role, or undefined for any other role string (a plain shadow/TDP role, or none). */
export function parseTableRole(role: string | undefined): TableRole | undefined {
  const m = role === undefined ? null : ROLE.exec(role);
  if (!m) return undefined;
  const owner = Number(m[2]);
  const from = Number(m[3]);
  return owner < from ? { kind: m[1] as string, from, owner } : undefined;
}

/** Whose memory holds a table of this role: 0 (L0, the host) unless the role says otherwise. */
export function tableOwner(role: string | undefined): number {
  return parseTableRole(role)?.owner ?? 0;
}

/** A reader's words for a role: "EPT12 · L1's EPT for L2 (L2 gpa → L1 gpa), in L1 memory". */
export function describeTableRole(role: string): string {
  const r = parseTableRole(role);
  if (!r) return role;
  const name = `${r.kind.toUpperCase()}${r.owner}${r.from}`;
  const what = r.kind === 'spt' ? `shadow page tables for L${r.from} (L${r.from} va → L${r.owner} gpa)` : `${r.kind.toUpperCase()} for L${r.from} (L${r.from} gpa → ${r.owner === 0 ? 'host' : `L${r.owner} gpa`})`;
  return `${name} · L${r.owner}'s ${what}, in ${r.owner === 0 ? 'host' : `L${r.owner}`} memory`;
}
