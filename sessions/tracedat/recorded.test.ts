/**
 * trace.dat recorded here, now, with the harness guest (sessions/testing/recordTraceDat.ts):
 * every record against `trace-cmd report` of the same file, and the imported session's spte fills
 * against KVM's own pf_fixed counter. Skips, saying why, without root, KVM, tracefs, gcc or trace-cmd.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSession } from '../reader.ts';
import { holdRealKvm } from '../testing/realKvm.ts';
import { missing, recordTraceDat } from '../testing/recordTraceDat.ts';
import { spteFills } from '../testing/zapClears.ts';
import { importAnyTrace } from './source.ts';
import { TraceDatReader } from './reader.ts';

const why = missing();
if (why) console.log(`recorded trace.dat tests skipped: ${why}`);
const dir = mkdtempSync(join(tmpdir(), 'mmu-recorded-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(why !== undefined)('a trace.dat recorded on this host', () => {
  // one file at a time runs guests on this host's KVM (holdRealKvm: a whole-host recording
  // would count another file's guest)
  let release: (() => void) | undefined;
  beforeAll(async () => void (release = await holdRealKvm()), 600_000);
  afterAll(() => release?.());
  it('decodes as trace-cmd report reads it, and imports with one spte fill per pf_fixed', async () => {
    const dat = join(dir, 'demand.trace.dat');
    const stdout = await recordTraceDat(dir, dat, ['demand', '64', '2'], { GUEST_CPL3: '1', KVM_STATS: '1' });
    const pfFixed = Number(/vcpu0\.pf_fixed = (\d+)/.exec(stdout)?.[1]);
    expect(pfFixed).toBeGreaterThanOrEqual(64);

    const report = execFileSync('trace-cmd', ['report', '-i', dat], { encoding: 'utf8', maxBuffer: 1 << 28 });
    const lines = report.split('\n').flatMap((l) => {
      const m = /^\s*(?:\S+:\s+)?(.*?)-(\d+)\s+\[(\d+)\]\s+(\d+)\.(\d{6}):\s+(\w+):/.exec(l);
      return m ? [`${m[2]} ${Number(m[3])} ${Number(m[4]) * 1e6 + Number(m[5])} ${m[6]}`] : [];
    });
    const reader = await TraceDatReader.open(dat);
    const decoded: string[] = [];
    for (let r = reader.next(); r; r = reader.next()) decoded.push(`${r.pid} ${r.cpu} ${Math.floor((r.ts + 500) / 1000)} ${r.format?.name}`);
    reader.close();
    expect(reader.damage).toEqual([]);
    expect(decoded.length).toBeGreaterThan(500);
    expect(decoded).toEqual(lines);

    const out = join(dir, 'demand.mmulab');
    const result = await importAnyTrace(dat, out);
    expect(result.ok, result.message).toBe(true);
    expect(spteFills(openSession(out).session!.iterate())).toBe(pfFixed);
  }, 60_000);
});
