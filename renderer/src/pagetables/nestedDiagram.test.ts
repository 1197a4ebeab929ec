import { describe, expect, it } from 'vitest';
import { COL_W, GAP, HEAD, LINK_GAP, ROW, STACK_GAP, layoutColumn, layoutDerivedLinks, layoutStack } from './diagram';
import type { Entry, Space } from './tree';

const e = (index: number, more: Partial<Entry> = {}): Entry => ({ index, value: '0x7', flags: ['R', 'W', 'X'], target: { kind: 'page', addr: '0x5000' }, ...more });
const space = (role: string, entries: Entry[]): Space => ({ kind: 'ept', paging: 'ept 4-level', role, title: role.toUpperCase(), roots: [`s0:${role}:1`], tables: [{ key: `s0:${role}:1`, level: 1, entries }] });

// EPT02 leaf 256 derived from EPT12[256] and EPT01[260]; leaf 257 names an EPT01 entry that is not drawn
const ept02 = space('ept02', [e(256, { derivedFrom: [{ table: 's0:ept12:1', index: 256 }, { table: 's0:ept01:1', index: 260 }] }), e(257, { derivedFrom: [{ table: 's0:ept12:1', index: 257 }, { table: 's0:ept01:1', index: 999 }] })]);
const ept12 = space('ept12', [e(256), e(257)]);
const ept01 = space('ept01', [e(260), e(261), e(262)]);

describe('the nested picture', () => {
  it('stacks EPT12 above EPT01 in one column, each titled where it starts', () => {
    const col = layoutStack([ept12, ept01], 2 * (COL_W + LINK_GAP), 0);
    const h12 = HEAD + 2 * ROW;
    expect(col.sections.map((s) => [s.title, s.y])).toEqual([['EPT12 · ept 4-level', 0], ['EPT01 · ept 4-level', h12 + GAP + STACK_GAP]]);
    expect(col.tables.map((t) => [t.key, t.y])).toEqual([['s0:ept12:1', 0], ['s0:ept01:1', h12 + GAP + STACK_GAP]]);
    // entries moved with their table
    expect(col.tables[1]!.entries[0]!.y).toBe(h12 + GAP + STACK_GAP + HEAD);
  });

  it('links each EPT02 entry to the drawn EPT12 and EPT01 entries it was derived from', () => {
    const links = layoutDerivedLinks(layoutColumn(ept02, COL_W + LINK_GAP, 0), layoutStack([ept12, ept01], 2 * (COL_W + LINK_GAP), 0));
    expect(links.map((l) => `${l.from}>${l.to}`)).toEqual(['s0:ept02:1:256>s0:ept12:1:256', 's0:ept02:1:256>s0:ept01:1:260', 's0:ept02:1:257>s0:ept12:1:257']);
    expect(links.every((l) => l.kind === 'derived' && l.x1 === 2 * (COL_W + LINK_GAP))).toBe(true);
  });
});
