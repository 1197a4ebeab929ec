import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { bundledLabsDir, findLab, listLabDirs, loadAnswers, loadLab, referenceAnswers } from './load.ts';
import { parse as parseYaml } from 'yaml';
import type { MmuEvent } from '../../core/events.ts';
import { gradeRecorded, openLabSessions, recordLab, runLab } from './run.ts';

const tmp = mkdtempSync(join(tmpdir(), 'mmulab-labs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const bin = fileURLToPath(new URL('../../bin/mmu-lab.js', import.meta.url));
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: tmp });

const LABS = listLabDirs(bundledLabsDir());
/**
 * Labs written against engine features still landing (docs/labs.md, "Status"): each is loaded
 * and validated here, and run once its engine support is in. Remove a name when its lab passes.
 */
const WAITING_FOR_ENGINE = new Set<string>([]);

/** A copy of a bundled lab in a temporary folder, to break on purpose. */
function copyLab(name: string): string {
  const dir = join(tmp, `${name}-copy-${Math.random().toString(36).slice(2, 8)}`);
  cpSync(join(bundledLabsDir(), name), dir, { recursive: true });
  return dir;
}

describe('bundled labs', () => {
  it('include labs 1-5 and 10 of the issue', () => {
    for (const n of ['01-', '02-', '03-', '04-', '05-', '06-', '07-', '08-', '09-', '10-']) expect(LABS.some((l) => l.startsWith(n)), n).toBe(true);
  });

  for (const name of LABS.filter((n) => WAITING_FOR_ENGINE.has(n)))
    it(`${name} loads and validates (its run waits for the engine)`, () => {
      expect(findLab(name).checks.length).toBeGreaterThan(0);
      expect(Object.keys(referenceAnswers(findLab(name))).length).toBeGreaterThan(0);
    });

  for (const name of LABS.filter((n) => !WAITING_FOR_ENGINE.has(n)))
    it(`${name} passes with its reference answers`, async () => {
      const lab = findLab(name);
      const r = await runLab(lab, join(tmp, name), referenceAnswers(lab));
      expect(r.failures).toEqual([]);
      expect(r.passed).toBe(true);
      // predict -> observe -> explain: every lab asks all three
      for (const phase of ['predict', 'observe', 'explain']) expect(lab.file.questions.some((q) => q.phase === phase), phase).toBe(true);
      // a wrong answer to every graded question fails, naming each
      const wrong = Object.fromEntries(lab.file.questions.map((q) => [q.id, q.type === 'number' ? q.answer + 1000 : q.type === 'choice' ? q.choices.find((c) => c.id !== q.answer)!.id : 'no idea']));
      const bad = gradeRecorded(lab, join(tmp, name), wrong);
      expect(bad.passed).toBe(false);
      for (const q of lab.file.questions.filter((x) => x.graded)) expect(bad.failures.join('\n')).toContain(`question "${q.id}"`);
    });
});

describe('lab 10 against the trace text itself', () => {
  it('counts what a grep of the trace counts', async () => {
    const lab = findLab('10-real-trace-storm');
    const text = readFileSync(join(lab.dir, 'trace.txt'), 'utf8');
    const exitLines = text.split('\n').filter((l) => !l.startsWith('#') && / kvm_exit: /.test(l));
    const vcpus = new Set(exitLines.map((l) => / vcpu (\d+) /.exec(l)![1]));
    const answers = referenceAnswers(lab);
    expect(answers['observe-exits']).toBe(exitLines.length);
    expect(answers['observe-vcpus']).toBe(vcpus.size);
    expect(exitLines.every((l) => l.includes('reason EPT_VIOLATION'))).toBe(true);
  });
});

describe('lab 3: unsync pages against the scenario text itself', () => {
  type Step = { op: string; va?: string };
  /** N = pte stores into the pt after it is shadowed (by the first access); K = pages used after the CR3 load. */
  function countNK(lab: ReturnType<typeof findLab>, file: string) {
    const doc = parseYaml(readFileSync(join(lab.dir, file), 'utf8')) as { vms: { guest: { workload: { steps: Step[] } } }[] };
    const steps = doc.vms[0]!.guest.workload.steps;
    const firstAccess = steps.findIndex((x) => x.op === 'access');
    const cr3 = steps.findIndex((x) => x.op === 'cr3');
    const stores = steps.slice(firstAccess + 1, cr3).filter((x) => x.op === 'map');
    return { N: stores.length, K: steps.slice(cr3 + 1).filter((x) => x.op === 'access').length, stores };
  }
  /** Page-fault exits after the setup (the first guest access), by a plain loop. */
  function afterSetup(events: readonly MmuEvent[]) {
    const start = events.findIndex((e) => e.type === 'guest_access');
    return events.slice(start).filter((e): e is Extract<MmuEvent, { type: 'vmexit' }> => e.type === 'vmexit' && e.reason === 'EXCEPTION_NMI');
  }

  it('N pte stores cost N exits write-protected and 1 + K out of sync; the lab checks say so', async () => {
    const lab = findLab('03-fork-write-flood');
    const wp = countNK(lab, 'populate-wp.yaml');
    const un = countNK(lab, 'populate-unsync.yaml');
    expect([wp.N, wp.K]).toEqual([un.N, un.K]);
    expect(wp.N).toBeGreaterThan(1 + wp.K);
    const dir = join(tmp, 'lab3-nk');
    const r = await runLab(lab, dir, undefined);
    const { sessions } = openLabSessions(lab, dir);
    const wpExits = afterSetup(sessions.get('wp')!.events);
    const unExits = afterSetup(sessions.get('unsync')!.events);
    // write-protected: one emulated write per store, at the pte of each store's va (SDM: pt index = va bits 20:12, 8-byte entries)
    expect(wpExits.length).toBe(wp.N);
    expect(wpExits.every((e) => e.handling === 'emulate-pte-write')).toBe(true);
    expect(wpExits.map((e) => Number(BigInt(e.gpa!) & 0xfffn))).toEqual(wp.stores.map((x) => ((Number(x.va) >>> 12) & 511) * 8));
    // out of sync: the first store, then one fill per page used
    expect(unExits.length).toBe(1 + un.K);
    expect(unExits.map((e) => e.handling)).toEqual(['unsync', ...Array(un.K).fill('fill-spte')]);
    // the lab's own checks of the mechanism pass on these sessions
    const ids = ['wp-one-exit-per-store', 'unsync-first-store-only', 'unsync-resynced', 'unsync-one-fill-per-page-used', 'n-versus-1-plus-k', 'fork-unsync-trade'];
    for (const id of ids) expect(r.checks.find((c) => c.id === id)?.passed, id).toBe(true);
  });

  it('fails naming the unsync checks when unsync is switched off in the unsync scenario', async () => {
    const dir = copyLab('03-fork-write-flood');
    const f = join(dir, 'populate-unsync.yaml');
    writeFileSync(f, readFileSync(f, 'utf8').replace('unsync: true', 'unsync: false'));
    const lab = loadLab(dir);
    const r = await runLab(lab, join(tmp, 'lab3-broken'), referenceAnswers(lab));
    expect(r.passed).toBe(false);
    // both sessions now emulate every store: no unsync, no resync, no extra fills, N exits each
    expect(r.checks.filter((c) => !c.passed).map((c) => c.id)).toEqual(['wp-one-exit-per-store', 'unsync-first-store-only', 'unsync-resynced', 'unsync-one-fill-per-page-used', 'n-versus-1-plus-k']);
    expect(r.failures[0]).toMatch(/^check "wp-one-exit-per-store" failed: unsync off: each of the N = 32 pte stores/);
  });
});

describe('lab 14: the nested shadow checks count the mechanism', () => {
  it('fail naming the shadow-on-EPT checks when L1 gets an EPT in their scenario (nested TDP: no reflected #PF, 4 exits per frame)', async () => {
    const dir = copyLab('14-nested-shadow');
    const f = join(dir, 'onept.yaml');
    writeFileSync(f, readFileSync(f, 'utf8').replace('l1Mmu: shadow', 'l1Mmu: ept'));
    const lab = loadLab(dir);
    const r = await runLab(lab, join(tmp, 'lab14-broken'), referenceAnswers(lab));
    expect(r.passed).toBe(false);
    // nested TDP reflects 36 EPT violations (not 66 exits), maps 3 EPT12 pages in EPT01, takes 147 exits, and L2's #PFs never exit
    expect(r.checks.filter((c) => !c.passed).map((c) => c.id)).toEqual(['two-per-l1-exit', 'first-touches', 'total-on-ept', 'l1-injects', 'answered-total']);
  });
});

describe('lab 7: the race check reads the exact auditor rule', () => {
  async function raceCaught(replace: [string, string]) {
    const dir = copyLab('07-dirty-log-fast-pf');
    writeFileSync(join(dir, 'race.yaml'), readFileSync(join(dir, 'race.yaml'), 'utf8').replace(...replace));
    const lab = loadLab(dir);
    const out = join(tmp, `lab7-${replace[1].replace(/\W/g, '')}`);
    await recordLab(lab, out);
    const r = gradeRecorded(lab, out, undefined);
    const rules = new Set(openLabSessions(lab, out).sessions.get('race')!.events.flatMap((e) => (e.type === 'audit_violation' ? [e.rule] : [])));
    return { passed: r.checks.find((c) => c.id === 'race-caught')!.passed, rules };
  }
  it('a write missing from the dirty bitmap (the ABA race) is not a lost dirty bit', async () => {
    const aba = await raceCaught(['fastPfLostDirty: true', 'fastPfAba: true']);
    expect(aba.rules.has('dirty-bitmap')).toBe(true);
    expect(aba.rules.has('lost-dirty')).toBe(false);
    expect(aba.passed).toBe(false);
  });
  it('with the bug switched off nothing is caught', async () => {
    const off = await raceCaught(['fastPfLostDirty: true', 'fastPfLostDirty: false']);
    expect(off.rules.size).toBe(0);
    expect(off.passed).toBe(false);
  });
});

describe('mmu-lab lab run (the CLI an autograder calls)', () => {
  it('lists the bundled labs', () => {
    const r = cli('lab', 'list', '--json');
    expect(r.status).toBe(0);
    expect((JSON.parse(r.stdout) as { name: string }[]).map((l) => l.name)).toEqual(LABS);
  });

  it('passes with the reference answers and fails naming the question with a wrong one', () => {
    const ok = cli('lab', 'run', '01-demand-fault', '--answers', join(bundledLabsDir(), '01-demand-fault', 'answers.reference.yaml'), '-o', join(tmp, 'cli-ok'));
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/Result: PASS \(5\/5 checks, 4\/4 graded answers right\)/);
    const answers = join(tmp, 'wrong.yaml');
    writeFileSync(answers, readFileSync(join(bundledLabsDir(), '01-demand-fault', 'answers.reference.yaml'), 'utf8').replace('explain-third: c', 'explain-third: b'));
    const bad = cli('lab', 'run', '01-demand-fault', '--answers', answers, '-o', join(tmp, 'cli-bad'));
    expect(bad.status).toBe(3);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/lab 01-demand-fault failed: question "explain-third" is answered wrongly/);
  });

  it('a wrong answer fails a check that reads it (lab 10 names the cause of the storm)', () => {
    const answers = join(tmp, 'wrong-cause.yaml');
    writeFileSync(answers, readFileSync(join(bundledLabsDir(), '10-real-trace-storm', 'answers.reference.yaml'), 'utf8').replace('explain-cause: c', 'explain-cause: a'));
    const r = cli('lab', 'run', '10-real-trace-storm', '--answers', answers, '-o', join(tmp, 'cli-l10'), '--json');
    expect(r.status).toBe(3);
    const out = JSON.parse(r.stdout) as { failures: string[] };
    expect(out.failures).toEqual(['check "named-the-cause" failed: The cause you named matches the trace (got false)', 'question "explain-cause" is answered wrongly (answer: "a")']);
    expect(r.stderr).toMatch(/lab 10-real-trace-storm failed: check "named-the-cause" failed: .*\(and 1 more\)/);
  });

  it('fails naming the check when the scenario is broken', () => {
    const dir = copyLab('01-demand-fault');
    // the "zap" session now updates: 2 exits per fault instead of 3
    writeFileSync(join(dir, 'zap.yaml'), readFileSync(join(dir, 'zap.yaml'), 'utf8').replace('onGuestPteWrite: zap', 'onGuestPteWrite: update'));
    const r = cli('lab', 'run', dir, '--json', '-o', join(tmp, 'cli-broken'));
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/failed: check "zap-three-exits" failed/);
    const out = JSON.parse(r.stdout) as { checks: { id: string; passed: boolean }[] };
    expect(out.checks.find((c) => c.id === 'zap-three-exits')!.passed).toBe(false);
    expect(out.checks.find((c) => c.id === 'update-two-exits')!.passed).toBe(true);
  });

  it('compare --lab puts a student session beside the lab reference (identical for a faithful run)', () => {
    const student = join(tmp, 'student-zap.mmulab');
    expect(cli('record', join(bundledLabsDir(), '01-demand-fault', 'zap.yaml'), '-o', student, '-q').status).toBe(0);
    const same = cli('compare', student, '--lab', '01-demand-fault', '--json');
    expect(same.status).toBe(0);
    const rows = (JSON.parse(same.stdout) as { metrics: { name: string; a: number; b: number }[] }).metrics;
    for (const r of rows) expect(r.a, r.name).toBe(r.b);
    const other = cli('compare', student, '--lab', '01-demand-fault', '--scenario', 'update', '--json');
    const exits = (JSON.parse(other.stdout) as { metrics: { name: string; a: number; b: number }[] }).metrics.find((m) => m.name === 'vmexits')!;
    expect(exits.a).toBeGreaterThan(exits.b); // zap costs more exits than the update reference
    expect(cli('compare', student, '--lab', '01-demand-fault', '--scenario', 'nope').stderr).toMatch(/has no scenario "nope" \(it has zap, update\)/);
  });

  it('fails naming the check when the bug switch of lab 5 is turned off', async () => {
    const dir = copyLab('05-large-page-loop');
    writeFileSync(join(dir, 'bug.yaml'), readFileSync(join(dir, 'bug.yaml'), 'utf8').replace('largePageAccessKey: true', 'largePageAccessKey: false'));
    const lab = loadLab(dir);
    await recordLab(lab, join(tmp, 'lab5-broken'));
    const r = gradeRecorded(lab, join(tmp, 'lab5-broken'), undefined);
    expect(r.checks.filter((c) => !c.passed).map((c) => c.id)).toEqual(['bug-one-page', 'bug-loop-detected', 'bug-loop-exits']);
  });
});

describe('hostile lab files are rejected with one clear line', () => {
  const withLab = (mutate: (dir: string) => void) => {
    const dir = copyLab('02-nonpae-quadrants');
    mutate(dir);
    return () => loadLab(dir);
  };
  const edit = (dir: string, file: string, f: (s: string) => string) => writeFileSync(join(dir, file), f(readFileSync(join(dir, file), 'utf8')));

  it('an expression that reaches outside the session', () => {
    expect(withLab((d) => edit(d, 'lab.yaml', (s) => s.replace('expect: auditorViolations() == 0', 'expect: process.mainModule.require("fs")')))).toThrow(
      /lab\.yaml: checks\[5\]\.expect \(check "no-violation"\): unexpected "\." \(there is no property access/,
    );
    expect(withLab((d) => edit(d, 'lab.yaml', (s) => s.replace('expect: auditorViolations() == 0', 'expect: constructor("return this")()')))).toThrow(/"constructor" is not a query function/);
    expect(withLab((d) => edit(d, 'lab.yaml', (s) => s.replace('expect: auditorViolations() == 0', 'expect: events("vmexit", "__proto__", 1) == 0')))).not.toThrow();
  });
  it('a file reference outside the lab folder', () => {
    expect(withLab((d) => edit(d, 'lab.yaml', (s) => s.replace('file: quadrants.yaml', 'file: ../../etc/passwd')))).toThrow(/scenarios\[0\]\.file: expected a file name inside the lab folder/);
    expect(withLab((d) => edit(d, 'lab.yaml', (s) => s.replace('format: 1', 'format: 1\ninstructions: /etc/passwd')))).toThrow(/instructions: expected a file name inside the lab folder/);
  });
  it('lab files that are links, not regular files, or reached through a linked folder', () => {
    const outside = join(tmp, 'outside-secret.md');
    writeFileSync(outside, 'a system file\n');
    const swap = (d: string, file: string, to: string) => {
      rmSync(join(d, file));
      symlinkSync(to, join(d, file));
    };
    expect(withLab((d) => swap(d, 'instructions.md', outside))).toThrow(
      /instructions\.md: the instructions is a symbolic link; lab files must be regular files inside the lab's folder/,
    );
    // a link that stays inside the folder is still a link
    expect(withLab((d) => swap(d, 'instructions.md', join(d, 'quadrants.yaml')))).toThrow(/instructions\.md: the instructions is a symbolic link/);
    expect(withLab((d) => swap(d, 'quadrants.yaml', '/etc/hostname'))).toThrow(/quadrants\.yaml: scenario "quadrants" is a symbolic link/);
    expect(withLab((d) => swap(d, 'answers.reference.yaml', outside))).toThrow(/answers\.reference\.yaml: the reference answers is a symbolic link/);
    expect(withLab((d) => swap(d, 'lab.yaml', join(bundledLabsDir(), '02-nonpae-quadrants', 'lab.yaml')))).toThrow(/lab\.yaml: the lab file is a symbolic link/);
    expect(
      withLab((d) => {
        rmSync(join(d, 'instructions.md'));
        mkdirSync(join(d, 'instructions.md'));
      }),
    ).toThrow(/instructions\.md: the instructions is not a regular file/);
    // a lab folder that is itself a link is fine: its files are inside its real folder
    const real = copyLab('02-nonpae-quadrants');
    const linked = join(tmp, `linked-lab-${Math.random().toString(36).slice(2, 8)}`);
    symlinkSync(real, linked);
    expect(loadLab(linked).instructions.length).toBeGreaterThan(0);
  });
  it('huge files', () => {
    expect(withLab((d) => writeFileSync(join(d, 'instructions.md'), 'x'.repeat(300 * 1024)))).toThrow(/instructions\.md: the instructions is too large \(307200 bytes; at most 262144\)/);
    expect(withLab((d) => edit(d, 'lab.yaml', (s) => s + '#' + 'y'.repeat(300 * 1024)))).toThrow(/lab\.yaml: the lab file is too large/);
  });
  it('a YAML alias bomb', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x]', ...'bcdefghij'.split('').map((k, i) => `${k}: &${k} [${Array(9).fill('*' + 'abcdefghij'[i]).join(', ')}]`)].join('\n');
    expect(withLab((d) => writeFileSync(join(d, 'lab.yaml'), bomb))).toThrow(/lab\.yaml: not valid YAML/);
  });
  it('unknown keys and bad references', () => {
    expect(withLab((d) => edit(d, 'lab.yaml', (s) => s.replace('format: 1', 'format: 1\nscript: alert(1)')))).toThrow(/unknown key "script"/);
    expect(withLab((d) => edit(d, 'lab.yaml', (s) => s.replace('    title: The auditor finds no broken invariant', '    scenario: nope\n    title: The auditor finds no broken invariant')))).toThrow(/checks\[5\]\.scenario: no scenario "nope" in this lab/);
  });
  it('hostile answers files', () => {
    const big = join(tmp, 'big-answers.yaml');
    writeFileSync(big, `observe-zap: "${'x'.repeat(70 * 1024)}"\n`);
    expect(() => loadAnswers(big)).toThrow(/big-answers\.yaml: the answers file is too large \(\d+ bytes; at most 65536\)/);
    const list = join(tmp, 'list-answers.yaml');
    writeFileSync(list, '- 1\n- 2\n');
    expect(() => loadAnswers(list)).toThrow(/list-answers\.yaml: .*expected record/);
    const key = join(tmp, 'key-answers.yaml');
    writeFileSync(key, '__proto__: { polluted: 1 }\n');
    expect(() => loadAnswers(key)).toThrow(/key-answers\.yaml: "__proto__" is not a question id/);
    expect(({} as { polluted?: number }).polluted).toBeUndefined();
    writeFileSync(key, 'Not_An_Id: 1\n');
    expect(() => loadAnswers(key)).toThrow(/key-answers\.yaml: "Not_An_Id" is not a question id/);
  });

  it('script tags in the Markdown are kept as text for the renderer to render inert', () => {
    const lab = withLab((d) => edit(d, 'instructions.md', (s) => s + '\n<script>alert(1)</script>\n'))();
    expect(lab.instructions).toContain('<script>alert(1)</script>');
  });
});

describe('the lab report', () => {
  it('holds the title, the student, the answers, the checks and each session file\'s sha256, with hostile text escaped', () => {
    const answers = join(bundledLabsDir(), '01-demand-fault', 'answers.reference.yaml');
    const report = join(tmp, 'report.html');
    const r = cli('lab', 'run', '01-demand-fault', '--answers', answers, '-o', join(tmp, 'rep'), '--report', report, '--student', '<script>alert(1)</script> Ada');
    expect(r.status).toBe(0);
    const html = readFileSync(report, 'utf8');
    expect(html).toContain('Lab 1: the three-vmexit demand fault and the update optimisation');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; Ada');
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain('c) the guest&#39;s retry of the access');
    expect(html).toContain('zap: 3 page-fault exits per guest demand fault');
    const sha = createHash('sha256').update(readFileSync(join(tmp, 'rep', 'zap.mmulab'))).digest('hex');
    expect(html).toContain(`sha256:${sha}`);
    expect(cli('lab', 'run', '01-demand-fault', '--report', report).stderr).toMatch(/--report needs --student/);
    // the session report's figures follow the lab's sections
    expect(html).toContain('Per-vCPU timeline');
    expect(html).toContain('Page-table diff');
  });

  it('prints to PDF (system Chromium; read back with pdftotext)', () => {
    const pdf = join(tmp, 'report.pdf');
    const r = cli('lab', 'run', '02-nonpae-quadrants', '--answers', join(bundledLabsDir(), '02-nonpae-quadrants', 'answers.reference.yaml'), '-o', join(tmp, 'rep2'), '--report', pdf, '--student', 'Grace Hopper');
    expect(r.stderr).toBe('');
    const text = spawnSync('pdftotext', ['-layout', pdf, '-'], { encoding: 'utf8' }).stdout.replace(/\s+/g, ' ');
    expect(text).toContain('Lab 2: non-PAE quadrants');
    expect(text).toContain('Grace Hopper');
    expect(text).toContain('a) a non-PAE pde maps 4 MiB');
    expect(text).toMatch(/The guest page directory is shadowed by four PAE page directories four-shadow-pds PASS/);
  });
});
