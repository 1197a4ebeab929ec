/**
 * Walk references in the session reader's counters: the sum of the `page_walk` events' `refs`
 * over a range, in all and per vCPU, must equal the same sum counted from the JSONL export's
 * page_walk lines — with whole chunks taken from the index, partly covered chunks decoded,
 * and a file whose index is unusable (older writers had no `walkRefs` in it).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exportJsonl } from './export.ts';
import { openSession, type SessionReader } from './reader.ts';
import { recordScenario } from './record.ts';
import { builtinScenario } from './testing/recordBuiltin.ts';
import { countersView } from './views.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmulab-walkrefs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function record(name: string, file: string): string {
  const path = join(dir, file);
  recordScenario(builtinScenario(name), path, { chunkEvents: 300 });
  return path;
}
function open(path: string): SessionReader {
  const { session } = openSession(path);
  if (!session) throw new Error('no session');
  return session;
}

/** Sum of refs per "vm/vcpu" over the exported page_walk lines with t0 <= t <= t1. */
function fromExport(s: SessionReader, t0: number, t1: number): Map<string, number> {
  let text = '';
  exportJsonl(s, (x) => (text += x));
  const sums = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    const e = JSON.parse(line) as { type: string; t: number; vm: number; vcpu: number; refs?: number };
    if (e.type !== 'page_walk' || e.t < t0 || e.t > t1) continue;
    const k = `${e.vm}/${e.vcpu}`;
    sums.set(k, (sums.get(k) ?? 0) + (e.refs as number));
  }
  return sums;
}

function check(s: SessionReader, t0: number, t1: number): void {
  const want = fromExport(s, t0, t1);
  const total = [...want.values()].reduce((a, b) => a + b, 0);
  expect(total).toBeGreaterThan(0);
  const c = s.counters(t0, t1);
  expect(c.walkRefs).toBe(total);
  expect(new Map(c.vcpus.filter((v) => v.walkRefs > 0).map((v) => [`${v.vm}/${v.vcpu}`, v.walkRefs]))).toEqual(want);
  const view = countersView(s, t0, t1);
  expect(view.walkRefs).toBe(total);
  expect(new Map(view.byVcpu.filter((v) => v.walkRefs > 0).map((v) => [`${v.vm}/${v.vcpu}`, v.walkRefs]))).toEqual(want);
}

describe('walk references in the counters', () => {
  const path = record('tdp-mmu-parallel', 'tdp.mmulab');

  it('equal the sum of refs over the exported page_walk lines, whole session and a range cutting chunks', () => {
    const s = open(path);
    expect(s.lanes.length).toBe(8);
    check(s, 0, Number.MAX_SAFE_INTEGER);
    const span = s.endNs - s.startNs;
    check(s, s.startNs + span * 0.3, s.startNs + span * 0.6);
  });

  it('are the same when the index cannot be used (decoded from the chunks instead)', () => {
    const bytes = new Uint8Array(readFileSync(path));
    const at = Buffer.from(bytes).lastIndexOf('INDX');
    expect(at).toBeGreaterThan(0);
    bytes[at + 12] = (bytes[at + 12] as number) ^ 0xff; // the deflated index no longer inflates to the same JSON
    const broken = join(dir, 'no-index.mmulab');
    writeFileSync(broken, bytes);
    const s = open(broken);
    check(s, 0, Number.MAX_SAFE_INTEGER);
    expect(s.counters().walkRefs).toBe(open(path).counters().walkRefs);
  });
});
