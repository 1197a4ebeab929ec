/**
 * `mmu-lab import` end to end through the real CLI: a fixture becomes a session that `info`,
 * `export --format jsonl|chrome` and `verify` treat like any other; `info` prints exits by
 * reason per vCPU and the unparsed lines by number, all checked against counts taken from the
 * trace text by the independent oracle.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { countText } from '../testing/traceTextCounts.ts';

const bin = fileURLToPath(new URL('../../bin/mmu-lab.js', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../import/fixtures/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mmulab-import-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: dir, maxBuffer: 1 << 28 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function expectOneLineError(r: { status: number | null; stderr: string }, pattern: RegExp): void {
  expect(r.status).toBe(1);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\bat .*\.(ts|js):\d+/);
}

const FASTPF = 'ftrace-kvm-fastpf-spurious-nested-2024.txt';

describe('mmu-lab import', () => {
  copyFileSync(join(FIXTURES, FASTPF), join(dir, FASTPF));
  const imp = cli('import', FASTPF, '--progress');
  const session = join(dir, FASTPF.replace(/\.txt$/, '.mmulab'));
  const text = readFileSync(join(FIXTURES, FASTPF.replace(/\.txt$/, '.clean.txt')), 'utf8');
  const counts = countText(text);

  it('writes <trace>.mmulab beside the trace by default, says what it did, shows progress when asked', () => {
    expect(imp.status, imp.stderr).toBe(0);
    expect(existsSync(session)).toBe(true);
    expect(imp.stdout).toMatch(new RegExp(`^imported .* ${counts.byEvent.kvm_exit} exits`));
    expect(imp.stdout).toMatch(/mmu-lab info .*\.mmulab/);
    expect(imp.stderr).toMatch(/^import: 100% importing/m);
  });

  it('info prints exits by reason per vCPU and the unparsed lines with their numbers', () => {
    const r = cli('info', session);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Imported from ftrace-kvm-fastpf-spurious-nested-2024\.txt \(ftrace, VMX/);
    const section = r.stdout.split('Exits by reason per vCPU\n')[1]!.split('\n\n')[0]!;
    const rows = section
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/));
    const perVcpu: Record<string, number> = {};
    for (const [, vcpu, reason, n] of rows) {
      expect(reason).toBe('EPT_VIOLATION');
      perVcpu[vcpu!] = Number(n);
    }
    expect(perVcpu).toEqual(counts.exitsPerVcpu);
    // sections 2 and 3 of the mail (a uniq -c histogram, debugfs counters) are not trace
    // records: every line of theirs is listed by number; the wrapped records before are not
    const listed = [...r.stdout.matchAll(/^ {2}line (\d+): /gm)].map((m) => Number(m[1]));
    const originalText = readFileSync(join(FIXTURES, FASTPF), 'utf8');
    const section2 = originalText.split('\n').findIndex((l) => l.startsWith('# section 2')) + 1;
    expect(listed).toEqual(countText(originalText).unparsed.filter((n) => n > section2));
    expect(listed.length).toBeGreaterThan(10);
  });

  it('info --json carries the import record and the per-vCPU reasons', () => {
    const j = JSON.parse(cli('info', session, '--json').stdout) as {
      exits: number;
      import: { flavour: string; skipped: number };
      exitsByVcpuReason: { vcpu: number; byReason: Record<string, number> }[];
    };
    expect(j.exits).toBe(counts.byEvent.kvm_exit);
    expect(j.import.flavour).toBe('ftrace');
    expect(Object.fromEntries(j.exitsByVcpuReason.map((v) => [String(v.vcpu), v.byReason.EPT_VIOLATION]))).toEqual(counts.exitsPerVcpu);
  });

  it('exports to JSONL and Chrome trace like any other session, and verifies', () => {
    const jsonl = cli('export', session, '--format', 'jsonl');
    expect(jsonl.status).toBe(0);
    const lines = jsonl.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; vcpu: number; reason?: string; name?: string });
    expect(lines.filter((l) => l.type === 'vmexit').length).toBe(counts.byEvent.kvm_exit);
    expect(lines.filter((l) => l.type === 'fast_page_fault').length).toBe(counts.byEvent.fast_page_fault);
    const chrome = cli('export', session, '--format', 'chrome');
    expect(chrome.status).toBe(0);
    const trace = JSON.parse(chrome.stdout) as { traceEvents: { ph: string; cat?: string; tid?: number; name?: string }[] };
    const slices = trace.traceEvents.filter((e) => e.ph === 'X' && e.cat === 'vmexit');
    expect(slices.length).toBe(counts.byEvent.kvm_exit);
    const perTid: Record<string, number> = {};
    for (const s of slices) perTid[String(s.tid)] = (perTid[String(s.tid)] ?? 0) + 1;
    expect(perTid).toEqual(counts.exitsPerVcpu);
    expect(cli('verify', session).status).toBe(0);
  });

  it('-o chooses the output; bad input gets one clear line and exit 1', () => {
    const out = join(dir, 'perf.mmulab');
    const r = cli('import', join(FIXTURES, 'perf-kvm-exit-perf-top-and-script-samples.txt'), '-o', out, '-q');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('');
    expect(existsSync(out)).toBe(true);
    expectOneLineError(cli('import', 'nope.txt'), /nope\.txt: no such file/);
    expectOneLineError(cli('import', join(FIXTURES, 'kvm-stat-samples.txt'), '-o', join(dir, 'k.mmulab')), /kvm_stat. output, not a trace/);
    writeFileSync(join(dir, 'blob.bin'), Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 256)));
    expectOneLineError(cli('import', 'blob.bin'), /not trace text \(binary data\)/);
    // an existing file that is not a session is never overwritten; a session is (a rerun)
    writeFileSync(join(dir, 'keep.txt'), 'my notes\n');
    expectOneLineError(cli('import', join(FIXTURES, FASTPF), '-o', 'keep.txt'), /keep\.txt exists and is not an MMU Lab session; not overwritten/);
    expect(readFileSync(join(dir, 'keep.txt'), 'utf8')).toBe('my notes\n');
    expect(cli('import', join(FIXTURES, 'perf-kvm-exit-perf-top-and-script-samples.txt'), '-o', out, '-q').status).toBe(0);
  });
});
