/**
 * The page-table diff says what each changed entry covers (the diff's Covers column): checked
 * against the export's own account of demand faults, where the `fill-spte` exit for a virtual
 * address is followed by the leaf spte write that maps it: that entry covers exactly that 4 KiB page.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { recordBuiltin } from './testing/recordBuiltin.ts';
import { diffView } from './views.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmulab-covers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('diff entries carry the address range they cover, as the exits name it', () => {
  const session = recordBuiltin(join(dir, 'demand-zap.mmulab'), 'demand-zap', { maxEvents: 400 });
  const events = session.events(0, session.eventCount).events;
  const to = session.eventCount - 1;
  const diff = diffView(session, 0, to, 100_000);
  const page = (va: string) => [va, `0x${(BigInt(va) + 0xfffn).toString(16)}`];
  let checked = 0;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.type !== 'vmexit' || typeof e.va !== 'string') continue;
    // the leaf spte the fill wrote (the tables above it may be written first)
    const after = events.slice(i + 1);
    const end = after.findIndex((x) => x.vcpu === e.vcpu && x.type === 'vmexit');
    const next = (end < 0 ? after : after.slice(0, end)).find((x) => x.vcpu === e.vcpu && x.type === 'spte_write' && x.level === 1);
    if (!next) continue;
    const wanted = e.handling === 'fill-spte' && next.type === 'spte_write' ? { space: 'shadow', table: `s${e.vm}:${next.table}`, index: next.index } : undefined;
    if (!wanted) continue;
    const change = diff.changes.find((c) => c.space === wanted.space && c.table === wanted.table && c.index === wanted.index);
    if (!change || change.lastEvent !== events.indexOf(next)) continue; // rewritten later: its range is the later one's
    expect([change.va0, change.va1]).toEqual(page(e.va));
    checked++;
  }
  expect(checked).toBeGreaterThan(5);
  // every change of an entry a root reaches says what it covers
  const covered = diff.changes.filter((c) => c.va0 !== undefined).length;
  expect(covered).toBeGreaterThan(diff.changes.length * 0.9);
});
