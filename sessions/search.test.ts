/**
 * The host's event search against answers found another way: the lines of the session's JSONL
 * export that contain the text (a plain substring of the printed line), the index's per-type
 * counts, and the raw events of a real imported trace by name. A count cut short and resumed, or
 * run twice at once, comes to the same total; Next/Prev from any event agree with the list of
 * matching lines, whether the scan has been done or not.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exportJsonl } from './export.ts';
import { importTrace } from './import/index.ts';
import { openSession, type SessionReader } from './reader.ts';
import { MatchScan, filterKey, isEmptyFilter, jsonMatcher, pageOf, type EventFilter } from './search.ts';
import { recordBuiltin } from './testing/recordBuiltin.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmulab-search-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function jsonl(s: SessionReader): string[] {
  let text = '';
  exportJsonl(s, (t) => (text += t));
  return text.split('\n').filter(Boolean);
}

function runAll(scan: MatchScan): void {
  for (const _ of scan.count());
}

function find(scan: MatchScan, from: number, dir: 1 | -1): number | null {
  const g = scan.find(from, dir);
  let r = g.next();
  while (!r.done) r = g.next();
  return r.value;
}

const session = recordBuiltin(join(dir, 'kbuild-zap.mmulab'), 'kbuild-zap', { chunkEvents: 64 });
const lines = jsonl(session);
/** Indexes of the export lines containing `text`, ignoring case. */
const linesWith = (text: string) => lines.flatMap((l, i) => (l.toLowerCase().includes(text.toLowerCase()) ? [i] : []));

describe('event search', () => {
  it('counts what the export and the index count', () => {
    const byText = new MatchScan(session, { text: 'FILL' });
    runAll(byText);
    expect(byText.total).toBe(linesWith('fill').length);
    expect(byText.total).toBeGreaterThan(0);
    expect(byText.matches).toEqual(linesWith('fill'));

    const exits = new MatchScan(session, { type: 'vmexit' });
    runAll(exits);
    expect(exits.total).toBe(session.summary().eventsByType.vmexit);

    // "n" of "n / N": matches at or before each event.
    const want = linesWith('fill');
    for (const at of [-1, 0, 5, 1000, lines.length - 1]) expect(byText.upTo(at)).toBe(want.filter((i) => i <= at).length);
  });

  it('resumes a count cut short, and two counts at once share the work', () => {
    const straight = linesWith('0x1');
    const scan = new MatchScan(session, { text: '0x1' }, 1000);
    const first = scan.count();
    for (let k = 0; k < 2; k++) expect(first.next().done).toBe(false);
    first.return(undefined); // a Cancel
    expect(scan.scanned).toBeGreaterThan(0);
    expect(scan.done).toBe(false);
    // Two counts interleaved, step by step, until both end.
    const a = scan.count();
    const b = scan.count();
    let ra = a.next();
    let rb = b.next();
    while (!ra.done || !rb.done) {
      if (!ra.done) ra = a.next();
      if (!rb.done) rb = b.next();
    }
    expect(scan.total).toBe(straight.length);
    expect(scan.matches).toEqual(straight);
  });

  it('finds the next and previous match from any event, before, during and after the count', () => {
    const want = linesWith('spte_write');
    const next = (from: number) => want.find((i) => i > from) ?? null;
    const prev = (from: number) => [...want].reverse().find((i) => i < from) ?? null;
    const froms = [-1, 0, 17, 500, Math.floor(lines.length / 2), lines.length - 2, lines.length - 1];
    const fresh = () => new MatchScan(session, { text: 'spte_write' }, 1000);
    for (const from of froms) {
      expect(find(fresh(), from, 1), `next after ${from}, nothing counted`).toBe(next(from));
      expect(find(fresh(), from, -1), `previous before ${from}, nothing counted`).toBe(prev(from));
    }
    const half = fresh();
    const g = half.count();
    for (let k = 0; k < 3; k++) g.next();
    for (const from of froms) {
      expect(find(half, from, 1), `next after ${from}, partly counted`).toBe(next(from));
      expect(find(half, from, -1), `previous before ${from}, partly counted`).toBe(prev(from));
    }
    const done = fresh();
    runAll(done);
    for (const from of froms) {
      expect(done.known(from, 1)).toBe(next(from));
      expect(done.known(from, -1)).toBe(prev(from));
    }
  });

  it('never matches what the timeline hides: types, and raw events by their name', async () => {
    const out = join(dir, 'dirty-ring.mmulab');
    await importTrace(join(import.meta.dirname, 'import/fixtures/tracecmd-kvm-dirty-ring-2019.txt'), out);
    const { session: imported } = openSession(out);
    const rows = jsonl(imported!).map((l) => JSON.parse(l) as Record<string, string | number>);
    const raw = rows.filter((e) => e.type === 'raw');
    const names = [...new Set(raw.map((e) => String(e.name)))];
    expect(names.length).toBeGreaterThan(1);
    const hide = `raw:${names[0]}`;
    const scan = new MatchScan(imported!, { type: 'raw', hidden: [hide] });
    runAll(scan);
    expect(scan.total).toBe(raw.filter((e) => e.name !== names[0]).length);
    const noExits = new MatchScan(imported!, { text: 'kvm', hidden: ['vmexit'] });
    runAll(noExits);
    expect(noExits.total).toBe(rows.filter((e) => e.type !== 'vmexit' && JSON.stringify(e).toLowerCase().includes('kvm')).length);
    expect(filterKey({ type: 'raw', name: names[0] })).toBe(hide);
    expect(filterKey({ type: 'vmexit' })).toBe('vmexit');
  });

  it('matches by type, reason, handling (substring) and address page; hiding alone searches nothing', () => {
    const f = (x: EventFilter) => jsonMatcher(x);
    const exit = { t: 4927, vm: 0, vcpu: 0, type: 'vmexit', reason: 'EXCEPTION_NMI', handling: 'fill-spte', duration: 2984, va: '0x10000000', gpa: '0x104000' };
    expect(f({ reason: 'EXCEPTION_NMI', handling: 'FILL' })(exit)).toBe(true);
    expect(f({ address: '0x104abc' })(exit)).toBe(true);
    expect(f({ address: '268435456' })(exit)).toBe(true); // 0x10000000 in decimal
    expect(f({ address: 'nope' })(exit)).toBe(false);
    expect(f({ type: 'vmexit', hidden: ['vmexit'] })(exit)).toBe(false);
    expect(pageOf('0x1fff')).toBe(1n);
    expect(isEmptyFilter({ hidden: ['vmexit'] })).toBe(true);
    expect(isEmptyFilter({ text: ' x ' })).toBe(false);
  });
});
