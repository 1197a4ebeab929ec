/**
 * `importAnyTrace` on trace.dat files: the real-6.18 samples give a session whose counts match
 * independent counts over their `trace-cmd report` twins (grep, not the importer), and damaged
 * files give one clear error or a session up to the damage that says where.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { MmuEvent } from '../../core/events.ts';
import { openSession } from '../reader.ts';
import { spteFills } from '../testing/zapClears.ts';
import { ImportError, importRecords } from '../import/index.ts';
import { importAnyTrace, traceDatSource } from './source.ts';
import { TraceDatReader } from './reader.ts';
import { REAL_618_DIR } from '../testing/realPaths.ts';

const DIR = REAL_618_DIR;
const tmp = mkdtempSync(join(tmpdir(), 'tracedat-import-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const hasTraceCmd = spawnSync('trace-cmd', ['--version']).status !== null;

function countLines(text: string, re: RegExp): number {
  let n = 0;
  for (const l of text.split('\n')) if (re.test(l)) n++;
  return n;
}

function events(path: string): MmuEvent[] {
  const o = openSession(path);
  if (!o.session) throw new Error(`session ${path} does not open: ${JSON.stringify(o.diagnostics)}`);
  return [...o.session.iterate()];
}

describe('mmu-lab import x.trace.dat', () => {
  for (const name of ['demand-cpl3', 'gpf-cpl0', 'cr3-cpl0']) {
    it(`${name}: every record imported; sptes, walks and guest #PFs as counted in the report text`, async () => {
      const report = readFileSync(join(DIR, `${name}.report.txt`), 'utf8');
      const out = join(tmp, `${name}.mmulab`);
      const r = await importAnyTrace(join(DIR, `${name}.trace.dat`), out);
      expect(r.ok, r.message).toBe(true);
      expect(r.complete).toBe(true);
      expect(r.flavour).toBe('trace.dat');
      expect(r.records).toBe(countLines(report, /^\s*\S.*-\d+\s+\[\d+\]\s+\d+\.\d+: \w+:/));
      const evs = events(out);
      const n = (type: string) => evs.filter((e) => e.type === type).length;
      expect(spteFills(evs)).toBe(countLines(report, / kvm_mmu_set_spte: /));
      expect(n('page_walk')).toBe(countLines(report, / kvm_mmu_pagetable_walk: /));
      // the report prints these as [FAILED TO PARSE] exception=14 ...: the guest's #PFs
      expect(n('guest_fault')).toBe(countLines(report, / kvm_inj_exception: .*exception=14\b/));
    });
  }

  it('decoded on a second thread, every sample gives the same session, byte for byte, as decoded in the importing thread', async () => {
    for (const name of ['demand-cpl3', 'gpf-cpl0', 'cr3-cpl0']) {
      const src = join(DIR, `${name}.trace.dat`);
      const inThread = join(tmp, `${name}.one.mmulab`);
      const threaded = join(tmp, `${name}.two.mmulab`);
      const a = await importAnyTrace(src, inThread, { parseWorker: false });
      const b = await importAnyTrace(src, threaded, { parseWorker: true });
      expect(b.message).toBe(a.message);
      expect(readFileSync(threaded).equals(readFileSync(inThread)), name).toBe(true);
    }
  }, 60_000);

  it('handed to the second thread after the first events read here (0, 1, 1000, 4096, 4097), the session is the same, byte for byte', async () => {
    const src = join(DIR, 'gpf-cpl0.trace.dat');
    const inThread = join(tmp, 'gpf-hand.one.mmulab');
    await importAnyTrace(src, inThread, { parseWorker: false });
    for (const ownEvents of [0, 1, 1000, 4096, 4097]) {
      const out = join(tmp, `gpf-hand.${ownEvents}.mmulab`);
      const r = await importRecords(await traceDatSource(src, { parseWorker: true, ownEvents }), out);
      expect(r.records).toBe(4179);
      expect(readFileSync(out).equals(readFileSync(inThread)), `after ${ownEvents}`).toBe(true);
    }
  }, 60_000);

  it('a version 7 file cut before its CPU table is one clear error', async () => {
    const src = join(DIR, 'demand-cpl3.trace.dat');
    const cut = join(tmp, 'cut.trace.dat');
    writeFileSync(cut, readFileSync(src).subarray(0, 1_135_000));
    const e = await importAnyTrace(cut, join(tmp, 'cut.mmulab')).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ImportError);
    expect((e as Error).message).toMatch(/^cut\.trace\.dat cannot be read as a trace\.dat: the file ends at byte 1135000, before its options section/);
  });

  it('damage in the first compressed chunk of every CPU: one ImportError saying so, nothing written', async () => {
    const src = join(DIR, 'demand-cpl3.trace.dat');
    const reader = await TraceDatReader.open(src);
    const cpus = reader.meta.cpus.filter((c) => c.size > 0);
    reader.close();
    const bad = Buffer.from(readFileSync(src));
    // past the chunk count and the chunk's sizes: inside its zstd frame
    for (const c of cpus) bad.fill(0xa5, c.offset + 4 + 8 + 4, c.offset + 4 + 8 + 40);
    const f = join(tmp, 'chunk.trace.dat');
    writeFileSync(f, bad);
    const out = join(tmp, 'chunk.mmulab');
    for (const parseWorker of [false, true]) {
      const e = await importAnyTrace(f, out, { parseWorker }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ImportError);
      expect((e as Error).message).toMatch(/^chunk\.trace\.dat: the trace\.dat is damaged: cpu \d+'s chunk at byte \d+ .*all of cpu \d+'s events are missing.*; nothing imported$/);
      expect(existsSync(out)).toBe(false);
    }
  });

  it('mmu-lab import of a cut trace.dat: one line on stderr, exit 1, nothing written', () => {
    const cut = join(tmp, 'cli-cut.trace.dat');
    writeFileSync(cut, readFileSync(join(DIR, 'demand-cpl3.trace.dat')).subarray(0, 600_000));
    const bin = new URL('../../bin/mmu-lab.js', import.meta.url).pathname;
    const r = spawnSync(process.execPath, [bin, 'import', cut, '-o', join(tmp, 'cli-cut.mmulab')], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^mmu-lab: cli-cut\.trace\.dat cannot be read as a trace\.dat: the file ends at byte 600000/)]);
    expect(existsSync(join(tmp, 'cli-cut.mmulab'))).toBe(false);
  }, 60_000);

  it.skipIf(!hasTraceCmd)('a version 6 file cut inside the CPU data imports up to the cut and says where', async () => {
    const v6 = join(tmp, 'gpf-v6.trace.dat');
    execFileSync('trace-cmd', ['convert', '-i', join(DIR, 'gpf-cpl0.trace.dat'), '--file-version', '6', '-o', v6], { stdio: 'ignore' });
    const reader = new TraceDatReader(v6);
    const cpu = reader.meta.cpus.find((c) => c.size > 0)!;
    reader.close();
    const cut = join(tmp, 'gpf-cut.trace.dat');
    writeFileSync(cut, readFileSync(v6).subarray(0, cpu.offset + Math.floor(cpu.size / 3)));
    const out = join(tmp, 'gpf-cut.mmulab');
    const r = await importAnyTrace(cut, out, { parseWorker: false });
    expect(r.ok).toBe(true);
    expect(r.complete).toBe(false);
    expect(r.message).toMatch(/the trace\.dat is damaged: the file ends at byte \d+, inside cpu 1's data .*cpu 1's events after [\d.]+ s are missing/);
    expect(r.records).toBeGreaterThan(100);
    expect(r.records).toBeLessThan(4179);
    const o = openSession(out);
    expect(o.session?.complete).toBe(false);
    // decoded on a second thread: the same records kept, the same words
    const t = await importAnyTrace(cut, join(tmp, 'gpf-cut2.mmulab'), { parseWorker: true });
    expect(t.message).toBe(r.message);
    expect(t.records).toBe(r.records);
    // handed over before the cut and after it: the damage is said the same
    for (const ownEvents of [100, r.records + 50]) {
      const h = await importRecords(await traceDatSource(cut, { parseWorker: true, ownEvents }), join(tmp, `gpf-cut-${ownEvents}.mmulab`));
      expect(h.message).toBe(r.message);
      expect(h.records).toBe(r.records);
    }
  });
});
