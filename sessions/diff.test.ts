/**
 * sessions.diff from keyframes at both ends: every change (old, new, kind and the event that last
 * wrote it, removals included) against an independent per-entry replay of the JSONL export, for
 * shadow (4-level, non-PAE, PAE), Xen PV and TDP sessions, at seeded random ranges.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SessionReader } from './reader.ts';
import { recordBuiltin } from './testing/recordBuiltin.ts';
import { diffView, diffViewAsync, type ChangeView } from './views.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmulab-diff-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// keyframes every 64 events: both ends of almost every range come from a keyframe plus a short replay
const recorded = (name: string): SessionReader => recordBuiltin(join(dir, `${name}.mmulab`), name, { keyframeEvents: 64, chunkEvents: 50, maxEvents: 6000 });

interface Expected {
  old: string;
  new: string;
  last: number;
}

/**
 * The independent answer: each entry's value is the `new` of its last write (guest by gpa, host
 * by table and index; a TDP frame is mapped by its map-gfn exit), read straight from the export.
 */
function expectedChanges(events: Record<string, string | number>[], from: number, to: number): Map<string, Expected> {
  const value = new Map<string, string>();
  const last = new Map<string, number>();
  const at = (i: number) => {
    const e = events[i]!;
    if (e.type === 'gpte_write') return { key: `guest ${e.vm} ${Number(e.gpa)}`, v: String(e.new) };
    if (e.type === 'spte_write') return { key: `host ${e.vm} ${e.table} ${e.index}`, v: String(e.new) };
    if (e.type === 'vmexit' && e.handling === 'map-gfn' && e.gpa !== undefined) return { key: `ept ${e.vm} ${Math.floor(Number(e.gpa) / 4096)}`, v: 'mapped' };
    return undefined;
  };
  for (let i = 0; i <= from; i++) {
    const w = at(i);
    if (w) value.set(w.key, w.v);
  }
  const before = new Map(value);
  for (let i = Math.max(0, from + 1); i <= to; i++) {
    const w = at(i);
    if (!w) continue;
    value.set(w.key, w.v);
    last.set(w.key, i);
  }
  const out = new Map<string, Expected>();
  for (const [key, v] of value) {
    const o = before.get(key) ?? '0x0';
    if (o !== v) out.set(key, { old: o, new: v, last: last.get(key)! });
  }
  return out;
}

function keyOf(c: ChangeView, bytes: number): string {
  if (c.space === 'guest') return `guest ${c.vm} ${Number(c.table.split(':')[1]) + c.index * bytes}`;
  if (c.table.endsWith(':mapped')) return `ept ${c.vm} ${c.index}`;
  return `host ${c.vm} ${c.table.split(':')[1]} ${c.index}`;
}

describe('page-table diff from keyframes at both ends', () => {
  const cases: [string, number][] = [
    ['kbuild-zap', 8],
    ['cache-recycle', 8],
    ['nonpae-quadrants', 4],
    ['pae-invalid-pdpte', 8],
    ['xenpv-fork-cow', 8],
    ['tdp-demand', 8],
    ['tdp-mmu-parallel', 8],
  ];
  let removed = 0;
  for (const [name, bytes] of cases)
    it(`${name}: equals a per-entry replay of the export at random ranges`, async () => {
      const s = recorded(name);
      // the short scripts (non-PAE, PAE) have no keyframe inside: their diffs replay from the start
      if (s.eventCount > 1000) expect(s.keyframes.length).toBeGreaterThan(10);
      const events = [...s.iterate()].map((e) => s.toJson(e));
      let x = 0x5eed;
      const rand = (n: number) => ((x = (x * 1103515245 + 12345) & 0x7fffffff) % n);
      const ranges: [number, number][] = [
        [-1, events.length - 1],
        [0, events.length - 1],
        [Math.floor(events.length / 2), events.length - 1],
      ];
      for (let k = 0; k < 5; k++) {
        const a = rand(events.length);
        const b = rand(events.length);
        ranges.push([Math.min(a, b), Math.max(a, b)]);
      }
      for (const [from, to] of ranges) {
        const want = expectedChanges(events, from, to);
        const d = diffView(s, from, to, 1_000_000);
        expect(d.total, `${name} ${from}..${to}`).toBe(want.size);
        expect(d.truncated).toBe(false);
        for (const c of d.changes) {
          const w = want.get(keyOf(c, bytes));
          expect(w, `${name} ${from}..${to}: ${c.table}[${c.index}]`).toBeDefined();
          if (c.table.endsWith(':mapped')) expect([c.change, c.lastEvent]).toEqual(['added', w!.last]);
          else expect([c.old, c.new, c.lastEvent, c.change]).toEqual([w!.old, w!.new, w!.last, w!.old === '0x0' ? 'added' : w!.new === '0x0' ? 'removed' : 'changed']);
          if (c.change === 'removed') removed++;
        }
        // listed by the event that last changed them
        for (let i = 1; i < d.changes.length; i++) expect(d.changes[i]!.lastEvent).toBeGreaterThanOrEqual(d.changes[i - 1]!.lastEvent);
      }
      const [from, to] = ranges[3]!;
      expect(await diffViewAsync(s, from, to, 1_000_000)).toEqual(diffView(s, from, to, 1_000_000));
    });
  it('covered removed entries (found by the backward search)', () => {
    expect(removed).toBeGreaterThan(10);
  });
});
