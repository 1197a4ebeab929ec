import { spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { MmuEvent } from '../core/events.ts';
import { BUILTIN_SCENARIOS, findBuiltin } from '../core/builtins.ts';
import { runScenario } from '../core/engine.ts';
import { parseScenario } from '../core/scenario.ts';
import { appendKeyframes, keyframeChunk } from './annex.ts';
import { openSession } from './reader.ts';

const bin = fileURLToPath(new URL('../bin/mmu-lab.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mmulab-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return cliEnv({}, ...args);
}
function cliEnv(env: Record<string, string>, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: dir, maxBuffer: 1 << 28, env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Bad input: a non-zero exit and exactly one line on stderr, no stack trace. */
function expectOneLineError(r: { status: number | null; stderr: string }, pattern?: RegExp): void {
  expect(r.status).not.toBe(0);
  expect(r.status).not.toBeNull();
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\bat .*\.(ts|js):\d+/);
  if (pattern) expect(lines[0]).toMatch(pattern);
}

function engineEvents(name: string): MmuEvent[] {
  const parsed = parseScenario(findBuiltin(name)!.scenario);
  if (!parsed.ok) throw new Error(parsed.error);
  const out: MmuEvent[] = [];
  runScenario(parsed.value, (e) => out.push(e));
  return out;
}

describe('mmu-lab --help', () => {
  for (const cmd of ['', 'scenarios', 'record', 'info', 'export', 'verify', 'compare', 'import', 'lab']) {
    it(`${cmd || '(top level)'} --help`, () => {
      const r = cli(...(cmd ? [cmd] : []), '--help');
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`Usage: mmu-lab${cmd ? ' ' + cmd : ''}`);
      expect(r.stderr).toBe('');
    });
  }
});

describe('bad input gets one clear line', () => {
  it('malformed scenario files', () => {
    writeFileSync(join(dir, 'broken.json'), '{ "name": "x", ');
    writeFileSync(join(dir, 'broken.yaml'), 'name: [unclosed\n  vms: :\n');
    writeFileSync(join(dir, 'invalid.json'), JSON.stringify({ name: 'x', vms: [{ guest: { paging: 'bogus', workload: { kind: 'demand-paging' } } }] }));
    writeFileSync(join(dir, 'unknown-key.yaml'), 'name: x\ncolour: blue\nvms:\n  - guest:\n      workload: { kind: demand-paging }\n');
    expectOneLineError(cli('record', 'broken.json', '-o', 'x.mmulab'), /broken\.json: not valid JSON/);
    expectOneLineError(cli('record', 'broken.yaml', '-o', 'x.mmulab'), /broken\.yaml: not valid YAML/);
    expectOneLineError(cli('record', 'invalid.json', '-o', 'x.mmulab'), /invalid\.json: invalid scenario: vms\[0\]\.guest\.paging/);
    expectOneLineError(cli('record', 'unknown-key.yaml', '-o', 'x.mmulab'), /unknown key "colour"/);
  });

  it('missing files, unknown built-ins, bad options', () => {
    expectOneLineError(cli('record', 'nope.json', '-o', 'x.mmulab'), /nope\.json: no such file/);
    expectOneLineError(cli('record', 'no-such-builtin', '-o', 'x.mmulab'), /neither a scenario file nor a built-in/);
    // (record without -o writes into the sessions folder: electron/host/serveCmd.test.ts)
    expectOneLineError(cli('record', 'demand-zap', '-o', 'x.mmulab', '--max-events', '0'), /--max-events must be a positive integer/);
    expectOneLineError(cli('record', 'demand-zap', '-o', 'x.mmulab', '--seed', 'abc'), /--seed/);
    expectOneLineError(cli('info', 'missing.mmulab'), /no such file/);
    expectOneLineError(cli('info'), /missing required argument/);
    expectOneLineError(cli('frobnicate'), /unknown command/);
  });

  it('a file that is not a session', () => {
    writeFileSync(join(dir, 'notes.txt'), 'just some text\n');
    for (const cmd of [['info'], ['verify'], ['export', '-f', 'jsonl']]) {
      const r = cli(cmd[0]!, 'notes.txt', ...cmd.slice(1));
      expectOneLineError(r, /not an MMU Lab session/);
      expect(r.status).toBe(1);
    }
  });

  it('lab commands: an unknown lab and a bad answers file get one clear line', () => {
    expectOneLineError(cli('lab', 'run', 'no-such-lab'), /no lab "no-such-lab" \(see: mmu-lab lab list\)/);
    writeFileSync(join(dir, 'answers.yaml'), 'observe-zap: [1, 2]\n');
    expectOneLineError(cli('lab', 'run', '01-demand-fault', '--answers', 'answers.yaml'), /answers\.yaml: observe-zap: /);
  });
});

describe('record, info, export, verify, compare', () => {
  const session = join(dir, 'demand.mmulab');
  const rec = cli('record', 'demand-zap', '-o', session);
  const engine = engineEvents('demand-zap');
  const engineExits = engine.filter((e) => e.type === 'vmexit').length;

  it('scenarios lists every built-in', () => {
    const r = cli('scenarios');
    expect(r.status).toBe(0);
    for (const s of BUILTIN_SCENARIOS) expect(r.stdout).toContain(s.name);
  });

  it('records a built-in', () => {
    expect(rec.stderr).toBe('');
    expect(rec.status).toBe(0);
    expect(statSync(session).size).toBeGreaterThan(0);
  });

  it('the vmexit lines of the JSONL export are the exits info --json counts, and the engine emitted', () => {
    const info = cli('info', session, '--json');
    expect(info.status).toBe(0);
    const j = JSON.parse(info.stdout) as { exits: number; events: number; complete: boolean; diagnostics: unknown[] };
    const jsonl = cli('export', session, '--format', 'jsonl');
    expect(jsonl.status).toBe(0);
    const lines = jsonl.stdout.trimEnd().split('\n');
    const exitLines = lines.filter((l) => (JSON.parse(l) as { type: string }).type === 'vmexit').length;
    expect(exitLines).toBe(j.exits);
    expect(exitLines).toBe(engineExits);
    expect(lines.length).toBe(engine.length);
    expect(j.complete).toBe(true);
    expect(j.diagnostics).toEqual([]);
  });

  it('info prints a perf-kvm-stat-like table', () => {
    const r = cli('info', session);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/VM-EXIT\s+Samples\s+Samples%\s+Time%/);
    expect(r.stdout).toContain(`Total Samples:${engineExits},`);
  });

  it('export -o, csv tables per type, chrome trace', () => {
    const out = join(dir, 'out.jsonl');
    expect(cli('export', session, '-f', 'jsonl', '-o', out).status).toBe(0);
    expect(readFileSync(out, 'utf8').trimEnd().split('\n').length).toBe(engine.length);
    const csvDir = join(dir, 'csv');
    expect(cli('export', session, '-f', 'csv', '-o', csvDir).status).toBe(0);
    const byType = new Map<string, number>();
    for (const e of engine) byType.set(e.type, (byType.get(e.type) ?? 0) + 1);
    expect(readdirSync(csvDir).sort()).toEqual([...byType.keys()].map((t) => `${t}.csv`).sort());
    for (const [t, n] of byType) expect(readFileSync(join(csvDir, `${t}.csv`), 'utf8').trimEnd().split('\n').length).toBe(n + 1);
    const chrome = cli('export', session, '-f', 'chrome');
    expect(chrome.status).toBe(0);
    const trace = JSON.parse(chrome.stdout) as { traceEvents: { ph: string; cat?: string }[] };
    expect(trace.traceEvents.filter((e) => e.ph === 'X' && e.cat === 'vmexit').length).toBe(engineExits);
  });

  it('export html: one self-contained page with the charts; pdf printed by Chromium; clear errors', () => {
    const html = cli('export', session, '-f', 'html', '--title', 'Demand <zap>');
    expect(html.status).toBe(0);
    expect(html.stdout).toContain('<title>Demand &lt;zap&gt; — MMU Lab report</title>');
    expect(html.stdout.match(/<svg /g)).toHaveLength(2);
    expect(html.stdout).not.toMatch(/<script|src="http|href="http/);
    expect(html.stdout).toContain(`<td>Total</td><td>${engineExits}</td>`);
    const pdf = join(dir, 'report.pdf');
    const r = cli('export', session, '-f', 'pdf', '-o', pdf, '--title', 'Demand paging with zap');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(readFileSync(pdf).subarray(0, 5).toString()).toBe('%PDF-');
    const text = spawnSync('pdftotext', ['-layout', pdf, '-'], { encoding: 'utf8' }).stdout;
    expect(text).toContain('Demand paging with zap');
    expect(text).toMatch(/Figure 1\. Exits by reason/);
    expect(text).toMatch(/Figure 2\. Per-vCPU timeline/);
    expect(text).toContain('EXCEPTION_NMI');
    expectOneLineError(cli('export', session, '-f', 'pdf'), /needs -o/);
    expectOneLineError(cli('export', session, '-f', 'html', '--from', 'x'), /--from must be an event index/);
    expectOneLineError(cli('export', session, '-f', 'html', '--to', String(engine.length)), /past the session's last event/);
    expectOneLineError(cliEnv({ MMU_LAB_CHROMIUM: join(dir, 'no-chromium') }, 'export', session, '-f', 'pdf', '-o', join(dir, 'x.pdf')), /needs Chromium/);
  });

  it('verify: 0 when clean, 2 with data loss, 1 when unreadable', () => {
    const ok = cli('verify', session);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/OK/);
    expect(ok.stdout).toMatch(/keyframes: /);
    const cut = join(dir, 'cut.mmulab');
    copyFileSync(session, cut);
    truncateSync(cut, statSync(session).size - 100);
    const lost = cli('verify', cut);
    expect(lost.status).toBe(2);
    expect(lost.stdout).toMatch(/recording_incomplete/);
    // keyframes are checked against a replay: a wrong one is data loss
    const kf = join(dir, 'kf.mmulab');
    copyFileSync(session, kf);
    expect(appendKeyframes(kf, openSession(kf).session!, 100)).toBeGreaterThan(3);
    expect(cli('verify', kf).stdout).toMatch(/keyframes: \d+ checked against a replay of the events, all match/);
    const state = openSession(kf).session!.stateBefore(150);
    const [gpa, value] = [...state.vms[0]!.guest][0]!;
    state.vms[0]!.guest.set(gpa, value ^ 4n);
    appendFileSync(kf, keyframeChunk(state, 0, engine.length));
    const wrong = cli('verify', kf);
    expect(wrong.status).toBe(2);
    expect(wrong.stdout).toMatch(/keyframe_mismatch.*after 150 events\) differs from a replay/);
    const garbage = join(dir, 'garbage.mmulab');
    writeFileSync(garbage, readFileSync(session).subarray(0, 20));
    expect(cli('verify', garbage).status).toBe(1);
  });

  it('compare puts two sessions side by side', () => {
    const other = join(dir, 'update.mmulab');
    expect(cli('record', 'demand-update', '-o', other, '-q').status).toBe(0);
    const r = cli('compare', session, other, '--json');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as { metrics: { name: string; a: number; b: number }[] };
    const exits = j.metrics.find((m) => m.name === 'vmexits')!;
    expect(exits.a).toBe(engineExits);
    expect(exits.b).toBe(engineEvents('demand-update').filter((e) => e.type === 'vmexit').length);
    const text = cli('compare', session, other);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/vmexits/);
  });

  it('--seed is recorded in the header', () => {
    const seeded = join(dir, 'seeded.mmulab');
    expect(cli('record', 'demand-zap', '-o', seeded, '--seed', '99', '-q').status).toBe(0);
    expect((JSON.parse(cli('info', seeded, '--json').stdout) as { seed: number }).seed).toBe(99);
  });

  it('record --audit keeps the auditor\'s findings in the session (a race switched back on); without it there are none', () => {
    const types = (file: string) => (JSON.parse(cli('info', file, '--json').stdout) as { eventsByType: Record<string, number> }).eventsByType;
    const audited = join(dir, 'race-audited.mmulab');
    const plain = join(dir, 'race-plain.mmulab');
    expect(cli('record', 'race-fast-pf-lost-dirty', '--audit', '-o', audited, '-q').status).toBe(0);
    expect(cli('record', 'race-fast-pf-lost-dirty', '-o', plain, '-q').status).toBe(0);
    expect(types(audited).audit_violation).toBeGreaterThan(0);
    expect(types(plain).audit_violation ?? 0).toBe(0);
  });
});
