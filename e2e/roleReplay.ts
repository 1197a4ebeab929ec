// Replay of an export's role-tagged table events (core/tableRoles.ts), shared by the nested
// page-table specs: per role, the tables its shadow_page allocs made and its present entries
// after the last event.

export interface Ev {
  type: string;
  level?: number;
  table?: number;
  index?: number;
  new?: string;
  action?: string;
  role?: string;
}

/** Per role: the tables its shadow_page allocs made, and its present entries after the last event. */
export function replayRoles(events: Ev[]): Map<string, { tables: Set<number>; entries: Map<string, { level: number; value: bigint }> }> {
  const out = new Map<string, { tables: Set<number>; entries: Map<string, { level: number; value: bigint }> }>();
  const of = (role: string) => {
    let r = out.get(role);
    if (!r) out.set(role, (r = { tables: new Set(), entries: new Map() }));
    return r;
  };
  for (const e of events) {
    if (!e.role) continue;
    if (e.type === 'shadow_page' && e.action === 'alloc') of(e.role).tables.add(e.table!);
    else if (e.type === 'spte_write') {
      const key = `${e.table}:${e.index}`;
      if (BigInt(e.new!) === 0n) of(e.role).entries.delete(key);
      else of(e.role).entries.set(key, { level: e.level!, value: BigInt(e.new!) });
    }
  }
  return out;
}
