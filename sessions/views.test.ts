import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SessionReader } from './reader.ts';
import { recordBuiltin } from './testing/recordBuiltin.ts';
import { compareView, countersView, countersViewAsync, diffView, diffViewAsync, pageTablesView, sessionTotals, type PageTablesView } from './views.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmulab-views-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const recorded = (name: string, keyframeEvents?: number): SessionReader => recordBuiltin(join(dir, `${name}.mmulab`), name, keyframeEvents ? { keyframeEvents, chunkEvents: 200 } : {});
/** The events as the JSONL export shows them: the independent view the checks below count from. */
const jsonl = (s: SessionReader) => [...s.iterate()].map((e) => s.toJson(e));

function guestLeaf(view: PageTablesView, va: string) {
  for (const t of view.vms[0]!.guest.tables) for (const e of t.entries) if (e.va0 === va && e.target.kind === 'page') return { table: t, entry: e };
  return undefined;
}

describe('page tables at an event', () => {
  it('script-basic: the guest leaf entries carry the mapped frame and the SDM flags after the accesses', () => {
    const s = recorded('script-basic');
    const view = pageTablesView(s, s.stateAfter(s.eventCount - 1), s.eventCount - 1);
    expect(view.vms[0]!.guest.roots).toHaveLength(1);
    const a = guestLeaf(view, '0x400000')!;
    expect(a.table.level).toBe(1);
    expect(a.entry.target.addr).toBe('0x200000');
    // mapped P W U; the user read sets A, the user write sets D (SDM 4.8)
    expect(a.entry.flags).toEqual(['P', 'RW', 'US', 'A', 'D', ...(a.entry.flags.includes('NX') ? ['NX'] : [])]);
    expect(a.entry.va1).toBe('0x400fff');
    const b = guestLeaf(view, '0x401000')!;
    // mapped P U: the user write faults (no A from it), the supervisor read is allowed and sets A, never D
    expect(b.entry.flags.filter((f) => f !== 'NX')).toEqual(['P', 'US', 'A']);
    // the guest entry of 0x400000 is mirrored by a shadow pte that maps the frame's host copy
    expect(a.entry.mirrors?.length).toBeGreaterThan(0);
    const host = view.vms[0]!.host!;
    const m = a.entry.mirrors![0]!;
    const spte = host.tables.find((t) => t.key === m.table)!.entries.find((e) => e.index === m.index)!;
    expect(spte.target).toEqual({ kind: 'page', addr: '0x' + ((0x100000 + 0x200) * 4096).toString(16) });
    expect(spte.va0).toBe('0x400000');
    expect(spte.flags).toContain('RW'); // the guest pte is dirty and writable, the frame not a page table
  });

  it('nonpae-quadrants: a guest pte in the upper half of a 4 MiB pt is mirrored by the quadrant-1 shadow pt', () => {
    const s = recorded('nonpae-quadrants');
    // just after the read of 0x600000 (the 5th step): find the index of that guest_access
    const events = jsonl(s);
    const at = events.findIndex((e) => e.type === 'guest_access' && e.va === '0x600000');
    const view = pageTablesView(s, s.stateAfter(at), at);
    expect(view.vms[0]!.guest.paging).toBe('nonpae');
    const leaf = guestLeaf(view, '0x600000')!;
    expect(leaf.entry.index).toBe(512); // (0x600000 >> 12) & 1023
    expect(leaf.entry.target.addr).toBe('0x201000');
    const m = leaf.entry.mirrors!;
    expect(m).toHaveLength(1);
    const table = view.vms[0]!.host!.tables.find((t) => t.key === m[0]!.table)!;
    expect(table.quadrant).toBe(1);
    expect(m[0]!.index).toBe(0);
    expect(table.entries.find((e) => e.index === 0)!.va0).toBe('0x600000');
  });
});

describe('host tables other than shadow pages', () => {
  it('tdp-mmu-parallel: the EPT tree maps every guest frame a vmexit mapped, at its host copy, readable, writable, executable', () => {
    const s = recorded('tdp-mmu-parallel');
    const events = jsonl(s);
    const mapped = new Set(events.filter((e) => e.type === 'vmexit' && e.handling === 'map-gfn').map((e) => Number(e.gpa) / 4096));
    const view = pageTablesView(s, s.stateAfter(s.eventCount - 1), s.eventCount - 1, { maxTables: 100_000 });
    const ept = view.vms[0]!.host!;
    expect(ept.kind).toBe('ept');
    expect(ept.roots).toHaveLength(1);
    const leaves = new Map<number, { target: { addr?: string }; flags: string[] }>();
    for (const t of ept.tables) if (t.level === 1) for (const e of t.entries) if (e.va0 !== undefined) leaves.set(Number(e.va0) / 4096, e);
    expect(mapped.size).toBeGreaterThan(60);
    for (const gfn of mapped) {
      const leaf = leaves.get(gfn)!;
      expect(leaf, `gfn ${gfn}`).toBeDefined();
      expect(leaf.target.addr).toBe('0x' + ((0x100000 + gfn) * 4096).toString(16));
      expect(leaf.flags).toEqual(expect.arrayContaining(['R', 'W', 'X']));
    }
  });

  it('xenpv-fork-cow: the validated tables form a tree from the pinned roots down to the guest frames', () => {
    const s = recorded('xenpv-fork-cow');
    const view = pageTablesView(s, s.stateAfter(s.eventCount - 1), s.eventCount - 1, { maxTables: 100_000 });
    const xen = view.vms[0]!.host!;
    expect(xen.kind).toBe('xenpv');
    expect(xen.tables.length).toBeGreaterThan(0);
    const keys = new Set(xen.tables.map((t) => t.key));
    // every table link points at a table of the view, one level down
    let links = 0;
    for (const t of xen.tables)
      for (const e of t.entries)
        if (e.target.kind === 'table' && e.target.table) {
          links++;
          expect(keys.has(e.target.table)).toBe(true);
          expect(xen.tables.find((x) => x.key === e.target.table)!.level).toBe(t.level - 1);
        }
    expect(links).toBeGreaterThan(2);
    expect(xen.roots.length).toBeGreaterThan(0);
  });
});

describe('diff between two events', () => {
  it('matches the gpte_write and spte_write events in between, each with the event that last changed it', async () => {
    const s = recorded('kbuild-zap', 500);
    const events = jsonl(s);
    const from = Math.floor(events.length / 3);
    const to = Math.floor((2 * events.length) / 3);
    // independent: the first old and the last new value of every entry written in (from, to]
    const g = new Map<string, { old: string; new: string; last: number }>();
    const sp = new Map<string, { old: string; new: string; last: number }>();
    for (let i = from + 1; i <= to; i++) {
      const e = events[i]!;
      const key = e.type === 'gpte_write' ? String(e.gpa) : e.type === 'spte_write' ? `${e.table}:${e.index}` : undefined;
      if (!key) continue;
      const m = e.type === 'gpte_write' ? g : sp;
      const seen = m.get(key);
      m.set(key, { old: seen ? seen.old : String(e.old), new: String(e.new), last: i });
    }
    const expectG = [...g].filter(([, v]) => v.old !== v.new);
    const expectS = [...sp].filter(([, v]) => v.old !== v.new);
    const d = diffView(s, from, to, 1_000_000);
    expect(d.truncated).toBe(false);
    expect(await diffViewAsync(s, from, to, 1_000_000)).toEqual(d);
    const guest = d.changes.filter((c) => c.space === 'guest');
    const shadow = d.changes.filter((c) => c.space === 'shadow');
    expect(guest.length).toBe(expectG.length);
    expect(shadow.length).toBe(expectS.length);
    expect(guest.length).toBeGreaterThan(10);
    for (const c of guest) {
      const gpa = Number(c.table.split(':')[1]) + c.index * 8;
      const want = g.get(String('0x' + gpa.toString(16)))!;
      expect(c.new).toBe(want.new);
      expect(c.old).toBe(want.old);
      expect(c.lastEvent).toBe(want.last);
      expect(c.change).toBe(want.old === '0x0' ? 'added' : want.new === '0x0' ? 'removed' : 'changed');
    }
    for (const c of shadow) {
      const want = sp.get(`${c.table.split(':')[1]}:${c.index}`)!;
      expect([c.old, c.new, c.lastEvent]).toEqual([want.old, want.new, want.last]);
    }
  });
});

describe('counters over a range', () => {
  it('equal a count of the exported vmexit lines, by reason, handling and vCPU', async () => {
    const s = recorded('multi-vcpu');
    const events = jsonl(s);
    const t0 = s.startNs + (s.endNs - s.startNs) * 0.2;
    const t1 = s.startNs + (s.endNs - s.startNs) * 0.7;
    const byReason = new Map<string, number[]>();
    const byHandling = new Map<string, number>();
    const byVcpu = new Map<string, number>();
    for (const e of events) {
      if (e.type !== 'vmexit' || (e.t as number) < t0 || (e.t as number) > t1) continue;
      byReason.set(String(e.reason), [...(byReason.get(String(e.reason)) ?? []), e.duration as number]);
      byHandling.set(String(e.handling), (byHandling.get(String(e.handling)) ?? 0) + 1);
      byVcpu.set(`${e.vm}/${e.vcpu}`, (byVcpu.get(`${e.vm}/${e.vcpu}`) ?? 0) + 1);
    }
    const c = countersView(s, t0, t1);
    expect(c.byReason.length).toBe(byReason.size);
    for (const r of c.byReason) {
      const d = byReason.get(r.key)!;
      expect([r.count, r.totalNs, r.minNs, r.maxNs]).toEqual([d.length, d.reduce((a, b) => a + b, 0), Math.min(...d), Math.max(...d)]);
    }
    expect(Object.fromEntries(c.byHandling.map((h) => [h.key, h.count]))).toEqual(Object.fromEntries(byHandling));
    expect(c.byVcpu.filter((v) => v.exits > 0).map((v) => [`${v.vm}/${v.vcpu}`, v.exits]).sort()).toEqual([...byVcpu].sort());
    expect(c.byVcpu.length).toBe(4);
    // every event in the range, in all and per vCPU
    const inRange = events.filter((e) => (e.t as number) >= t0 && (e.t as number) <= t1);
    expect(c.events).toBe(inRange.length);
    for (const v of c.byVcpu) expect(v.events).toBe(inRange.filter((e) => e.vm === v.vm && e.vcpu === v.vcpu).length);
    // the host's variant (yields between chunks) answers the same
    expect(await countersViewAsync(s, t0, t1)).toEqual(c);
  });
});

describe('counters per vCPU by handling', () => {
  /** Each vCPU's vmexits by handling, counted from the session's events one by one: `vm/vcpu` → handling → durations. */
  function handlingsPerVcpu(s: SessionReader, t0: number, t1: number): Map<string, Map<string, number[]>> {
    const out = new Map<string, Map<string, number[]>>();
    for (const e of s.iterate()) {
      if (e.type !== 'vmexit' || e.t < t0 || e.t > t1) continue;
      const lane = out.get(`${e.vm}/${e.vcpu}`) ?? new Map<string, number[]>();
      lane.set(e.handling, [...(lane.get(e.handling) ?? []), e.duration]);
      out.set(`${e.vm}/${e.vcpu}`, lane);
    }
    return out;
  }
  const rowsOf = (stats: { key: string; count: number; totalNs: number; minNs: number; avgNs: number; maxNs: number }[]) =>
    new Map(stats.map((r) => [r.key, [r.count, r.totalNs, r.minNs, r.avgNs, r.maxNs]]));
  const expected = (byHandling: Map<string, number[]> | undefined) =>
    new Map([...(byHandling ?? [])].map(([h, d]) => [h, [d.length, d.reduce((a, b) => a + b, 0), Math.min(...d), d.reduce((a, b) => a + b, 0) / d.length, Math.max(...d)]]));

  // multi-vcpu: four vCPUs, only vCPU 0 fills the spte of the shared page table; dirty-log-shared:
  // two vCPUs with uneven counts of each handling.
  for (const name of ['multi-vcpu', 'dirty-log-shared']) {
    it(`${name}: each vCPU's rows (count, total, min, avg, max) equal its vmexit events, whole run and a sub-range`, async () => {
      const s = recorded(name);
      const ranges: [number, number][] = [
        [s.startNs, s.endNs],
        [s.startNs + (s.endNs - s.startNs) * 0.3, s.startNs + (s.endNs - s.startNs) * 0.6],
      ];
      for (const [t0, t1] of ranges) {
        const want = handlingsPerVcpu(s, t0, t1);
        expect(want.size).toBeGreaterThan(1);
        const c = countersView(s, t0, t1);
        expect(c.byVcpu.length).toBe(s.lanes.length);
        for (const v of c.byVcpu) {
          const mine = want.get(`${v.vm}/${v.vcpu}`);
          expect(rowsOf(v.byHandling)).toEqual(expected(mine));
          // a vCPU's handlings and reasons count the same exits
          expect(v.byHandling.reduce((n, r) => n + r.count, 0)).toBe(v.exits);
          expect(v.byHandling.reduce((n, r) => n + r.totalNs, 0)).toBe(v.exitNs);
        }
        // the host's variant (yields between chunks) answers the same
        expect(await countersViewAsync(s, t0, t1)).toEqual(c);
      }
    });
  }
});

describe('compare', () => {
  it('puts zap and update side by side: update needs fewer exits (seed 000)', () => {
    const zap = recorded('cow-zap');
    const upd = recorded('cow-update');
    const c = compareView(zap, upd, { a: 'zap', b: 'update' });
    const exits = c.totals.find((t) => t.key === 'exits')!;
    expect(exits.a).toBe(zap.summary().vcpus.reduce((n, v) => n + v.exits, 0));
    expect(exits.b).toBeLessThan(exits.a);
    expect(exits.ratio).toBeCloseTo(exits.b / exits.a, 10);
    expect(c.a.faults).toBe(jsonl(zap).filter((e) => e.type === 'guest_fault').length);
  });
});

describe('session totals (info, compare, report and sessions.compare)', () => {
  it('equal a count of the exported lines', () => {
    for (const name of ['multi-vcpu', 'tdp-demand']) {
      const s = recorded(name);
      const events = jsonl(s);
      const exits = events.filter((e) => e.type === 'vmexit');
      const t = sessionTotals(s);
      expect(t.events).toBe(events.length);
      expect(t.exits).toBe(exits.length);
      expect(t.exitNs).toBe(exits.reduce((n, e) => n + (e.duration as number), 0));
      expect(t.faults).toBe(events.filter((e) => e.type === 'guest_fault').length);
      expect(t.simNs).toBe(Math.max(...events.map((e) => (e.t as number) + (typeof e.duration === 'number' ? e.duration : 0))) - Math.min(...events.map((e) => e.t as number)));
      expect(t.exits).toBeGreaterThan(0);
    }
  });
});
