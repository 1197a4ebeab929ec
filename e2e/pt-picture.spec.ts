// The page-table picture (issue 17 §4): links between guest entries and the shadow entries
// derived from them, counted independently by replaying `mmu-lab export --format jsonl`; the
// entries the current event wrote are the ones drawn as changed; a TDP page walk drawn as its
// grid, each reference shaded as the exported page_walk's masks say; Xen PV's pinned tables
// badged as a replay of the exported pin/unpin exits says.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { expectAxeCleanInBothThemes } from './axe-check';
import { expect, exportEvents, root, test } from './fixtures';

interface Ev {
  type: string;
  level?: number;
  gpa?: string;
  table?: number;
  index?: number;
  new?: string;
  old?: string;
  action?: string;
  gfn?: string;
  role?: string;
  refs?: number;
  guestRefs?: number;
  handling?: string;
  reason?: string;
  memMask?: number;
  pscMask?: number;
  tlbMask?: number;
}

const popcount = (x: number) => x.toString(2).split('').filter((b) => b === '1').length;
/** The cells a mask marks, as the grid's `data-cell` (row,column): bit 5·row + column. */
const cellsOf = (mask: number) => Array.from({ length: 24 }, (_, b) => b).filter((b) => mask & (1 << b)).map((b) => `${Math.floor(b / 5)},${b % 5}`);

/**
 * Shadow entries with a guest source after event `at` (4-level paging, 8-byte entries): entry i
 * of a live shadow table that shadows guest frame gfn at level L, present, where guest entry
 * gfn·4096 + 8i was last written present by a level-L gpte_write.
 */
function derivedEntries(events: Ev[], at: number): { links: number; written: number } {
  const guest = new Map<bigint, number>(); // gpa → level, present entries only
  const tables = new Map<number, { gfn: bigint; level: number; role: string; zapped: boolean; entries: Set<number> }>();
  for (let i = 0; i <= at; i++) {
    const e = events[i]!;
    if (e.type === 'gpte_write') {
      if (BigInt(e.new!) === 0n) guest.delete(BigInt(e.gpa!));
      else guest.set(BigInt(e.gpa!), e.level!);
    } else if (e.type === 'shadow_page') {
      const t = tables.get(e.table!);
      if (e.action === 'alloc') tables.set(e.table!, { gfn: BigInt(e.gfn ?? '-1'), level: e.level!, role: e.role ?? '', zapped: false, entries: t?.entries ?? new Set() });
      else if (t && ['zap', 'recycle', 'free'].includes(e.action!)) {
        t.zapped = true;
        if (t.entries.size === 0) tables.delete(e.table!);
      }
    } else if (e.type === 'spte_write') {
      let t = tables.get(e.table!);
      if (!t) tables.set(e.table!, (t = { gfn: -1n, level: e.level!, role: '', zapped: false, entries: new Set() }));
      if (BigInt(e.new!) === 0n) {
        t.entries.delete(e.index!);
        if (t.zapped && t.entries.size === 0) tables.delete(e.table!);
      } else t.entries.add(e.index!);
    }
  }
  let links = 0;
  for (const t of tables.values()) {
    if (!t.role.startsWith('shadow') || t.gfn < 0n) continue;
    for (const i of t.entries) if (guest.get(t.gfn * 4096n + BigInt(i) * 8n) === t.level) links++;
  }
  const e = events[at]!;
  const written = e.type === 'gpte_write' || e.type === 'spte_write' ? 1 : 0;
  return { links, written };
}

/**
 * Under the TDP MMU: present guest entries (4-level, P set) whose target frame a present EPT leaf
 * maps after event `at`. EPT tables come from shadow_page alloc (their first gfn and level); a
 * leaf is level 1 or has bit 7 (large page); entry i of a level-L table covers 512^(L-1) frames.
 */
function eptTranslated(events: Ev[], at: number): number {
  const guest = new Map<bigint, bigint>();
  const tables = new Map<number, { gfn: bigint; level: number; entries: Map<number, bigint> }>();
  for (let i = 0; i <= at; i++) {
    const e = events[i]!;
    if (e.type === 'gpte_write') {
      if (BigInt(e.new!) === 0n) guest.delete(BigInt(e.gpa!));
      else guest.set(BigInt(e.gpa!), BigInt(e.new!));
    } else if (e.type === 'shadow_page' && e.action === 'alloc') tables.set(e.table!, { gfn: BigInt(e.gfn ?? '0'), level: e.level!, entries: tables.get(e.table!)?.entries ?? new Map() });
    else if (e.type === 'shadow_page' && e.action === 'free') tables.delete(e.table!);
    else if (e.type === 'spte_write') {
      const t = tables.get(e.table!);
      if (!t) continue;
      if (BigInt(e.new!) === 0n) t.entries.delete(e.index!);
      else t.entries.set(e.index!, BigInt(e.new!));
    }
  }
  const mapped: [bigint, bigint][] = [];
  for (const t of tables.values())
    for (const [i, v] of t.entries) {
      if ((v & 7n) === 0n || !(t.level === 1 || (v & 0x80n) !== 0n)) continue;
      const per = 512n ** BigInt(t.level - 1);
      mapped.push([t.gfn + BigInt(i) * per, t.gfn + BigInt(i) * per + per - 1n]);
    }
  let n = 0;
  for (const v of guest.values()) {
    if ((v & 1n) === 0n) continue;
    const frame = (v & 0x000ffffffffff000n) >> 12n;
    if (mapped.some(([a, b]) => frame >= a && frame <= b)) n++;
  }
  return n;
}

test('the picture links each shadow entry to the guest entry it derives from, and marks what the event wrote', async ({ lab, app, page }) => {
  const file = lab.record('demand-zap');
  const events = exportEvents<Ev>(file);
  // an spte write late enough that several sptes exist
  const at = events.findIndex((e, i) => i > events.length / 3 && e.type === 'spte_write' && BigInt(e.new!) !== 0n);
  expect(at).toBeGreaterThan(0);
  const want = derivedEntries(events, at);
  expect(want.links).toBeGreaterThan(1);

  await app.pageTablesAt(lab.url, 'demand-zap.mmulab', at);
  const diagram = page.getByTestId('pt-diagram');
  await expect(diagram.getByTestId('pt-link')).toHaveCount(want.links);
  await expect(page.getByTestId('pt-diagram-summary')).toContainText(`${want.links} links`);
  // the spte this event wrote is drawn as changed, and nothing else is
  const w = events[at]!;
  const changed = diagram.locator('g.entry.changed');
  await expect(changed).toHaveCount(want.written);
  await expect(changed.first()).toHaveAttribute('data-entry', `s0:${w.table}:${w.index}`);
  // every link ends on a drawn host entry and starts on a drawn guest entry
  for (const l of await diagram.getByTestId('pt-link').all()) {
    const to = (await l.getAttribute('data-to'))!;
    await expect(diagram.getByTestId('pt-diagram-host').locator(`g.entry[data-entry="${to}"]`)).toHaveCount(1);
  }
  // step on: the picture follows playback (the next event's writes, if any, become the changed ones)
  await page.getByRole('button', { name: 'Step forward one event' }).click();
  await expect(diagram.locator('g.entry.changed')).toHaveCount(derivedEntries(events, at + 1).written);

  const dir = join(root, 'artifacts', 'screenshots');
  mkdirSync(dir, { recursive: true });
  await diagram.screenshot({ path: join(dir, 'pagetable-picture.png') });
  await expectAxeCleanInBothThemes(page, '[data-testid="page-tables"]', 'the page-table picture');
  app.expectNoErrors();
});

test('a TDP page walk is drawn as its 2D grid, each reference made, cached or saved by the TLB as the event says', async ({ lab, app, page }) => {
  const file = lab.record('tdp-mmu-parallel');
  const events = exportEvents<Ev>(file);
  // a walk late in the run that shows all three: references made, cached by the paging-structure caches, saved by the TLB
  const at = events.findIndex((e, i) => i > events.length / 2 && e.type === 'page_walk' && !!e.memMask && !!e.pscMask && !!e.tlbMask);
  expect(at).toBeGreaterThanOrEqual(0);
  const w = events[at]!;
  // the masks agree with the counts (popcount of the made cells = refs)
  expect(popcount(w.memMask!)).toBe(w.refs);

  await app.pageTablesAt(lab.url, 'tdp-mmu-parallel.mmulab', at);
  const grid = page.getByTestId('walk-grid');
  await expect(grid.getByTestId('walk-refs')).toHaveText(String(w.refs));
  await expect(grid.getByTestId('walk-guest-refs')).toHaveText(String(w.guestRefs));
  await expect(grid.getByTestId('walk-ept-refs')).toHaveText(String(w.refs! - w.guestRefs!));
  // 4-level guest on 4-level EPT: 24 references without caches (Bhargava et al.)
  await expect(grid).toContainText('of 24 references');
  await expect(grid.getByTestId('walk-saved')).toHaveText(String(24 - w.refs!));
  // every reference drawn as the masks say, and the totals beside it
  for (const [cls, mask] of [['made', w.memMask!], ['psc', w.pscMask!], ['tlb', w.tlbMask!]] as const) {
    await expect(grid.locator(`td.cell.${cls}[data-testid="walk-cell"]`)).toHaveCount(popcount(mask));
    for (const cell of cellsOf(mask)) await expect(grid.locator(`td[data-cell="${cell}"]`)).toHaveClass(new RegExp(`\\b${cls}\\b`));
  }
  await expect(grid.getByTestId('walk-psc')).toHaveText(String(popcount(w.pscMask!)));
  await expect(grid.getByTestId('walk-tlb')).toHaveText(String(popcount(w.tlbMask!)));
  // the guest entries read (the last column's made cells) are the walk's guest references
  await expect(grid.locator('td.cell.made[data-cell$=",4"]')).toHaveCount(w.guestRefs!);
  // memory references numbered in walk order: row by row, the EPT translation then the entry
  const order = cellsOf(w.memMask!).sort((a, b) => { const [ra, ca] = a.split(',').map(Number); const [rb, cb] = b.split(',').map(Number); return ra! - rb! || ca! - cb!; });
  for (const [i, cell] of order.entries()) await expect(grid.locator(`td[data-cell="${cell}"]`)).toHaveText(`read ${i + 1}`);
  // playback animates the walk: each reference lights up after the one before it
  const delays = await Promise.all(order.map((cell) => grid.locator(`td[data-cell="${cell}"]`).evaluate((el) => [getComputedStyle(el).animationName, parseFloat(getComputedStyle(el).animationDelay)] as const)));
  expect(delays.every(([name]) => name.includes('walk-ref'))).toBe(true);
  for (let i = 1; i < delays.length; i++) expect(delays[i]![1]).toBeGreaterThan(delays[i - 1]![1]);
  // the guest entries the walk went through (read, or skipped thanks to the PDE cache: a bit in the
  // guest-entry column of either mask) are drawn as this walk's path in the guest tables
  const any = w.memMask! | w.pscMask! | w.tlbMask!;
  const guestLevels = [0, 1, 2, 3].filter((row) => any & (1 << (row * 5 + 4))).length;
  await expect(page.getByTestId('pt-diagram-guest').locator('g.entry.on-walk')).toHaveCount(guestLevels);
  await expect(page.getByTestId('pt-legend-walk')).toContainText(`read by this walk (${guestLevels} guest entries`);
  // the legend names every shade
  for (const text of ['memory reference', 'paging-structure cache', 'guest-physical translations']) await expect(grid.getByRole('list', { name: 'Legend of the walk grid' })).toContainText(text);
  // the second dimension: each guest entry linked to the EPT leaf translating what it points to
  const translated = eptTranslated(events, at);
  expect(translated).toBeGreaterThan(0);
  await expect(page.getByTestId('pt-diagram').getByTestId('pt-link')).toHaveCount(translated);
  await page.getByTestId('page-tables').screenshot({ path: join(root, 'artifacts', 'screenshots', 'pagetable-walk-grid.png') });
  await expectAxeCleanInBothThemes(page, '[data-testid="page-tables"]', 'the 2D walk grid');
  app.expectNoErrors();
});

/**
 * Xen PV tables after event `at`, replaying the export by the documented state rules: a table
 * is a machine frame Xen wrote entries of (spte_write) or one a pin names (vmexit
 * hypercall:mmuext_op pin/unpin, `table` = the root's mfn, `level`); pinned from its pin to its
 * unpin, and an unpinned table with no entries is gone.
 */
function xenTables(events: Ev[], at: number): { levels: Map<number, number>; pinned: Set<number>; links: number } {
  const levels = new Map<number, number>();
  const entries = new Map<number, Set<number>>();
  const pinned = new Set<number>();
  const guest = new Set<bigint>(); // gpas of present guest entries
  for (let i = 0; i <= at; i++) {
    const e = events[i]!;
    if (e.type === 'gpte_write') {
      if (BigInt(e.new!) === 0n) guest.delete(BigInt(e.gpa!));
      else guest.add(BigInt(e.gpa!));
    } else if (e.type === 'spte_write') {
      if (!levels.has(e.table!)) levels.set(e.table!, e.level!);
      const set = entries.get(e.table!) ?? new Set<number>();
      entries.set(e.table!, set);
      if (BigInt(e.new!) === 0n) set.delete(e.index!);
      else set.add(e.index!);
    } else if (e.type === 'shadow_page' && e.action === 'free') {
      // Xen released the frame (its entries were cleared just before): no longer a validated table
      if (!entries.get(e.table!)?.size && !pinned.has(e.table!)) {
        levels.delete(e.table!);
        entries.delete(e.table!);
      }
    } else if (e.type === 'vmexit' && e.reason === 'hypercall:mmuext_op' && e.table !== undefined && (e.handling === 'pin' || e.handling === 'unpin')) {
      if (e.handling === 'pin') {
        pinned.add(e.table);
        if (!levels.has(e.table)) levels.set(e.table, e.level!);
      } else {
        pinned.delete(e.table);
        if (!entries.get(e.table)?.size) {
          levels.delete(e.table);
          entries.delete(e.table);
        }
      }
    }
  }
  // each validated entry is the guest's own entry in machine form: the link joins the entry at
  // gpa (mfn − 0x400000)·4096 + 8·index (VM 0's p2m, docs/engine.md) to the Xen entry
  let links = 0;
  for (const [t, set] of entries) for (const i of set) if (levels.has(t) && guest.has(BigInt(t - 0x400000) * 4096n + BigInt(i) * 8n)) links++;
  return { levels, pinned, links };
}

/** Present entries of Xen table `table` after event `at` (spte_writes, in machine form). */
function entriesOf(events: Ev[], at: number, table: number): number {
  const set = new Set<number>();
  for (let i = 0; i <= at; i++) {
    const e = events[i]!;
    if (e.type !== 'spte_write' || e.table !== table) continue;
    if (BigInt(e.new!) === 0n) set.delete(e.index!);
    else set.add(e.index!);
  }
  return set.size;
}

test('Xen PV: the picture names each validated frame by its Xen page type and badges the pinned ones', async ({ lab, app, page }) => {
  const file = lab.record('xenpv-fork-cow');
  const events = exportEvents<Ev>(file);
  // a point where a forked child is still pinned: right after the second pin
  const pins = events.map((e, i) => (e.type === 'vmexit' && e.handling === 'pin' ? i : -1)).filter((i) => i >= 0);
  expect(pins.length).toBeGreaterThan(2);
  const at = pins[1]!;
  const { levels, pinned, links } = xenTables(events, at);
  expect(links).toBeGreaterThan(0);
  expect(levels.size).toBeGreaterThan(1);
  expect(pinned.size).toBe(2); // process 0 (activate_mm) and the first child (dup_mmap), seed 003

  await app.pageTablesAt(lab.url, 'xenpv-fork-cow.mmulab', at);
  const host = page.getByTestId('pt-diagram-host');
  await expect(host.locator('g.table')).toHaveCount(levels.size);
  for (const level of new Set(levels.values())) {
    const want = [...levels.values()].filter((l) => l === level).length;
    await expect(host.locator('g.table > text.title', { hasText: `type L${level} page table` })).toHaveCount(want);
  }
  // each guest entry linked to its machine-form twin
  await expect(page.getByTestId('pt-diagram').getByTestId('pt-link')).toHaveCount(links);
  // the pinned tables, and only they, are framed and badged
  await expect(host.locator('g.table.pinned')).toHaveCount(pinned.size);
  for (const t of pinned) await expect(host.locator(`g.table.pinned[data-table="s0:${t}"]`).getByTestId('pt-pin-badge')).toHaveText('pinned');
  // the event is the pin: its table is the one drawn as just pinned
  await expect(host.locator('g.table[data-pin="pinned"]')).toHaveAttribute('data-table', `s0:${events[at]!.table}`);
  // and pulses once (playback animates the pin)
  expect(await host.locator('g.table[data-pin="pinned"] > rect.box').evaluate((el) => getComputedStyle(el).animationName)).toContain('pin-pulse');
  // the picture scrolls to the table just pinned (drawn last: it has no entry Xen wrote yet)
  const region = page.getByTestId('pt-scroll');
  await expect.poll(async () => {
    const r = (await region.boundingBox())!;
    const b = (await host.locator('g.table[data-pin="pinned"]').boundingBox())!;
    return b.y >= r.y && b.y + 14 <= r.y + r.height;
  }).toBe(true);
  await expect(page.getByTestId('pt-diagram-summary')).toContainText(`${pinned.size} pinned tables, 1 pinned and 0 unpinned by event #${at}`);
  await expect(page.getByTestId('pt-legend-pinned')).toContainText('pinned: Xen keeps the tree validated');
  // the child's tables were filled by fork's copy before dup_mmap pinned them (seed 003): Xen validates
  // them in place, and the entries it validated follow the pin (spte_writes from 0): after them the
  // pinned root is drawn with the entries it had
  const mfn = events[at]!.table!;
  let end = at;
  while (events[end + 1]?.type === 'spte_write' || events[end + 1]?.type === 'shadow_page') end++;
  expect(entriesOf(events, end, mfn)).toBeGreaterThan(0);
  await page.getByRole('tab', { name: 'Events' }).click();
  await app.gotoEvent(end);
  await page.getByRole('tab', { name: 'Page tables' }).click();
  await page.getByRole('radio', { name: 'Picture' }).check();
  await expect(host.locator(`g.table[data-table="s0:${mfn}"] g.entry`)).toHaveCount(entriesOf(events, end, mfn));
  await expect(host.locator('g.table')).toHaveCount(xenTables(events, end).levels.size);
  await expectAxeCleanInBothThemes(page, '[data-testid="page-tables"]', 'the Xen PV picture with pinned tables');
  app.expectNoErrors();
});

test('Xen PV: playing forward over an unpin, the picture says the table was unpinned', async ({ lab, app, page }) => {
  const file = lab.record('xenpv-fork-cow');
  const events = exportEvents<Ev>(file);
  const k = events.findIndex((e) => e.type === 'vmexit' && e.handling === 'unpin');
  expect(k).toBeGreaterThan(0);
  const before = xenTables(events, k - 1);
  const after = xenTables(events, k);
  expect(before.pinned.size - after.pinned.size).toBe(1);
  const table = events[k]!.table!;
  await app.pageTablesAt(lab.url, 'xenpv-fork-cow.mmulab', k - 1);
  const host = page.getByTestId('pt-diagram-host');
  await expect(host.locator('g.table.pinned')).toHaveCount(before.pinned.size);
  await page.getByRole('button', { name: 'Step forward one event' }).click();
  await expect(host.locator('g.table.pinned')).toHaveCount(after.pinned.size);
  await expect(page.getByTestId('pt-diagram-summary')).toContainText(`${after.pinned.size} pinned table${after.pinned.size === 1 ? '' : 's'}, 0 pinned and 1 unpinned since the picture at event #${k - 1}`);
  // still drawn (it has entries): badged unpinned, once; gone (empty): not drawn at all
  if (after.levels.has(table)) await expect(host.locator(`g.table[data-table="s0:${table}"][data-pin="unpinned"]`).getByTestId('pt-pin-badge')).toHaveText('unpinned');
  else await expect(host.locator(`g.table[data-table="s0:${table}"]`)).toHaveCount(0);
  app.expectNoErrors();
});

test('playing forward, a cleared shadow entry is drawn struck through, once', async ({ lab, app, page }) => {
  // cow-zap: the fork's write-protect zaps sptes (spte_write to 0)
  const file = lab.record('cow-zap');
  const events = exportEvents<Ev>(file);
  const k = events.findIndex((e, i) => i > 0 && e.type === 'spte_write' && BigInt(e.new!) === 0n && BigInt(e.old ?? '0') !== 0n);
  expect(k).toBeGreaterThan(0);
  await app.pageTablesAt(lab.url, 'cow-zap.mmulab', k - 1);
  const diagram = page.getByTestId('pt-diagram');
  await expect(page.getByTestId('pt-diagram-summary')).toContainText(`by event #${k - 1}`);
  await page.getByRole('button', { name: 'Step forward one event' }).click();
  const removed = diagram.locator('g.entry.removed');
  await expect(removed).toHaveCount(1);
  await expect(removed).toHaveAttribute('data-entry', `s0:${events[k]!.table}:${events[k]!.index}`);
  await expect(diagram.locator('g.entry.changed')).toHaveCount(0);
  await expect(page.getByTestId('pt-diagram-summary')).toContainText(`0 entries written and 1 cleared since the picture at event #${k - 1}`);
  app.expectNoErrors();
});
