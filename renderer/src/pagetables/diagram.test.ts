import { describe, expect, it } from 'vitest';
import { COL_W, LINK_GAP, layoutColumn, layoutEptLinks, layoutLinks, walkPath } from './diagram';
import type { Entry, Space } from './tree';

const e = (index: number, value: string, more: Partial<Entry> = {}): Entry => ({ index, value, flags: ['P'], target: { kind: 'page', addr: '0x5000' }, ...more });

const guest: Space = {
  kind: 'guest', paging: 'long4', roots: ['g:r'],
  tables: [
    { key: 'g:r', level: 2, entries: [e(0, '0x2001', { target: { kind: 'table', addr: '0x2000', table: 'g:pt' } })] },
    // entry 3 is mirrored by s:pt[3], which exists; entry 4 by s:pt[4], which does not
    { key: 'g:pt', level: 1, entries: [e(3, '0x5001', { mirrors: [{ table: 's:pt', index: 3 }] }), e(4, '0x6001', { mirrors: [{ table: 's:pt', index: 4 }], target: { kind: 'page', addr: '0x6000' } })] },
  ],
};
const shadow: Space = { kind: 'shadow', paging: 'long4', roots: ['s:pt'], tables: [{ key: 's:pt', level: 1, entries: [e(3, '0x9001')] }] };

describe('the page-table picture', () => {
  it('draws a child table under its parent, indented, with an edge to it', () => {
    const col = layoutColumn(guest, 0, 7);
    expect(col.tables.map((t) => t.key)).toEqual(['g:r', 'g:pt']);
    expect(col.tables[1]!.x).toBeGreaterThan(col.tables[0]!.x);
    expect(col.tables[1]!.y).toBeGreaterThan(col.tables[0]!.y + col.tables[0]!.h - 1);
    expect(col.edges).toHaveLength(1);
  });

  it('links a guest entry only to the shadow entries that exist', () => {
    const links = layoutLinks(layoutColumn(guest, 0, 7), layoutColumn(shadow, COL_W + LINK_GAP, 7));
    expect(links.map((l) => `${l.from}>${l.to}`)).toEqual(['g:pt:3>s:pt:3']);
  });

  it('marks what changed since the previous picture and draws what was cleared, once', () => {
    const before: Space = { ...shadow, tables: [{ key: 's:pt', level: 1, entries: [e(3, '0x8001'), e(9, '0x7001')] }] };
    const col = layoutColumn(shadow, 0, 7, before);
    const rows = col.tables[0]!.entries.map((d) => `${d.key}:${d.changed ? 'changed' : d.removed ? 'removed' : 'same'}`);
    expect(rows).toEqual(['s:pt:3:changed', 's:pt:9:removed']);
    // without a previous picture: what the current event wrote
    const now: Space = { ...shadow, tables: [{ key: 's:pt', level: 1, entries: [e(3, '0x9001', { lastEvent: 7 }), e(4, '0x1', { lastEvent: 2 })] }] };
    expect(layoutColumn(now, 0, 7).tables[0]!.entries.map((d) => d.changed)).toEqual([true, false]);
  });

  it('under EPT links a guest entry to the leaf whose guest-physical range holds its target', () => {
    const ept: Space = {
      kind: 'ept', paging: 'ept 4-level', roots: ['e:pt'],
      tables: [{ key: 'e:pt', level: 1, entries: [e(5, '0x10007', { va0: '0x5000', va1: '0x5fff' }), e(7, '0x11007', { va0: '0x7000', va1: '0x7fff' })] }],
    };
    const links = layoutEptLinks(layoutColumn(guest, 0, 7), layoutColumn(ept, COL_W + LINK_GAP, 7));
    // g:pt[3] → 0x5000 is mapped; g:pt[4] → 0x6000 is not; g:r[0] → table 0x2000 is not
    expect(links.map((l) => `${l.from}>${l.to}`)).toEqual(['g:pt:3>e:pt:5']);
  });

  it('Xen PV: a pinned table is marked, and a pin or unpin since the previous picture (or by the event) too', () => {
    const t = (key: string, role?: string) => ({ key, level: 4, ...(role ? { role } : {}), entries: [e(0, '0x1001')] });
    const xen = (tables: ReturnType<typeof t>[]): Space => ({ kind: 'xenpv', paging: 'long4', roots: tables.map((x) => x.key), tables });
    const before = xen([t('s0:1', 'pinned'), t('s0:2', 'pinned'), t('s0:3')]);
    const now = xen([t('s0:1', 'pinned'), t('s0:3', 'pinned'), t('s0:4')]); // 2 unpinned and gone, 3 pinned, 4 new and not pinned
    const col = layoutColumn(now, 0, 9, before);
    expect(col.tables.map((d) => [d.key, d.pinned, d.pinChange ?? '-'])).toEqual([['s0:1', true, '-'], ['s0:3', true, 'pinned'], ['s0:4', false, '-']]);
    expect(col.unpinnedGone).toBe(1);
    // no previous picture: only the table the current event unpins
    const one = layoutColumn(xen([t('s0:1', 'pinned'), t('s0:3')]), 0, 9, undefined, { table: 's0:3', pinned: false });
    expect(one.tables.map((d) => d.pinChange ?? '-')).toEqual(['-', 'unpinned']);
    // the badge says it, the title keeps to the page type
    expect(one.tables[0]!.title).toBe('PML4 · type L4 page table · mfn 0x1');
    // only Xen PV tables are pinned: a shadow role named so is not
    expect(layoutColumn({ ...xen([t('s0:1', 'pinned')]), kind: 'shadow' }, 0, 9).tables[0]!.pinned).toBe(false);
  });

  it('the path of a walk: the entry covering the address in each guest table', () => {
    const g: Space = {
      kind: 'guest', paging: 'long4', roots: ['g:r'],
      tables: [
        { key: 'g:r', level: 2, entries: [e(0, '0x2001', { va0: '0x0', va1: '0x1fffff', target: { kind: 'table', addr: '0x2000', table: 'g:pt' } }), e(1, '0x3001', { va0: '0x200000', va1: '0x3fffff' })] },
        { key: 'g:pt', level: 1, entries: [e(3, '0x5001', { va0: '0x3000', va1: '0x3fff' }), e(4, '0x6001', { va0: '0x4000', va1: '0x4fff' })] },
      ],
    };
    const col = layoutColumn(g, 0, 7);
    expect([...walkPath(col, '0x4123')]).toEqual(['g:r:0', 'g:pt:4']);
    expect([...walkPath(col, '0x200000')]).toEqual(['g:r:1']);
    expect(walkPath(col, undefined).size).toBe(0);
  });
});
