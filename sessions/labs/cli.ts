/**
 * `mmu-lab lab list | run | report` and `compare --lab`: the command-line side of labs, kept
 * here so sessions/cli/main.ts only wires the commands. Output goes through the `out` sink the
 * CLI gives; a problem is thrown as a LabError (one line, exit 1).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundledLabsDir, findLab, listLabDirs, loadAnswers, loadLab, LabError } from './load.ts';
import { recordLab, openLabSessions, runLab, type LabRun } from './run.ts';
import { renderLabReport, reportScenario, writeLabReport } from './report.ts';

/** `lab run` exit status when the lab ran but a check or an answer failed. */
export const LAB_FAILED = 3;

type Out = (s: string) => void;

export function cmdLabList(out: Out, opts: { json?: boolean }): number {
  const root = bundledLabsDir();
  const labs = listLabDirs(root).map((name) => {
    const lab = loadLab(join(root, name), name);
    return { name, title: lab.file.title, mechanism: lab.file.mechanism, scenarios: lab.file.scenarios.length, questions: lab.file.questions.length, checks: lab.checks.length };
  });
  if (opts.json) {
    out(JSON.stringify(labs, null, 2) + '\n');
    return 0;
  }
  const w = Math.max(4, ...labs.map((l) => l.name.length));
  out(`  ${'NAME'.padEnd(w)}  TITLE\n`);
  for (const l of labs) out(`  ${l.name.padEnd(w)}  ${l.title}\n`);
  out('\nRun one with: mmu-lab lab run <name> [--answers answers.yaml]\n');
  return 0;
}

export function formatRun(r: LabRun, dir: string): string {
  const lines: string[] = [];
  lines.push(`${r.title} (${r.lab})`, '', `Sessions (in ${dir})`);
  for (const s of r.sessions)
    lines.push(`  ${s.id.padEnd(10)} ${String(s.events).padStart(8)} events ${String(s.exits).padStart(7)} exits${s.complete ? '' : '  (stopped early)'}  ${s.fingerprint.slice(0, 23)}…`);
  lines.push('', 'Checks');
  for (const c of r.checks) {
    lines.push(`  ${c.passed ? 'PASS' : 'FAIL'}  ${c.id}: ${c.title}`);
    if (!c.passed) {
      lines.push(`        ${c.error ? c.error : `evaluated to ${JSON.stringify(c.value)}`}`);
      if (c.hint) lines.push(`        hint: ${c.hint}`);
    }
  }
  if (r.questions.length) {
    lines.push('', 'Questions');
    for (const q of r.questions) {
      const mark = !q.answered ? 'NONE' : !q.graded ? 'PRED' : q.correct ? 'OK  ' : 'WRONG';
      lines.push(`  ${mark}  ${q.id}${q.answered ? `: ${q.givenText}` : ''}${!q.graded ? ' (a prediction, not graded)' : ''}`);
    }
  }
  const cp = r.checks.filter((c) => c.passed).length;
  const graded = r.questions.filter((q) => q.graded);
  const qp = graded.filter((q) => q.correct).length;
  lines.push('', `Result: ${r.passed ? 'PASS' : 'FAIL'} (${cp}/${r.checks.length} checks, ${qp}/${graded.length} graded answers right)`);
  return lines.join('\n') + '\n';
}

export async function cmdLabRun(out: Out, err: Out, name: string, opts: { answers?: string; json?: boolean; output?: string; report?: string; student?: string }): Promise<number> {
  if (opts.report && !opts.student?.trim()) throw new LabError('--report needs --student "<your name>" (it is printed on the report)');
  const lab = findLab(name);
  const answers = opts.answers ? loadAnswers(opts.answers) : undefined;
  const dir = opts.output ?? mkdtempSync(join(tmpdir(), `mmu-lab-${lab.name}-`));
  const r = await runLab(lab, dir, answers);
  if (opts.report) {
    const html = renderLabReport(lab, join(dir, `${reportScenario(lab)}.mmulab`), r, opts.student!.trim(), openLabSessions(lab, dir).sessions);
    try {
      await writeLabReport(opts.report, html);
    } catch (e) {
      const code = (e as { code?: string }).code;
      throw new LabError(code ? `${opts.report}: cannot write the report (${code})` : (e as Error).message);
    }
  }
  if (opts.json) out(JSON.stringify({ ...r, dir }, null, 2) + '\n');
  else out(formatRun(r, dir));
  if (!r.passed) {
    err(`mmu-lab: lab ${lab.name} failed: ${r.failures[0]}${r.failures.length > 1 ? ` (and ${r.failures.length - 1} more)` : ''}\n`);
    return LAB_FAILED;
  }
  return 0;
}

/** Record the reference sessions of a lab (its scenarios) for `compare --lab`. */
export async function referenceSession(labName: string, scenario: string | undefined): Promise<string> {
  const lab = findLab(labName);
  const id = scenario ?? lab.file.scenarios[0]!.id;
  if (!lab.file.scenarios.some((s) => s.id === id))
    throw new LabError(`lab ${lab.name} has no scenario "${id}" (it has ${lab.file.scenarios.map((s) => s.id).join(', ')})`);
  const dir = mkdtempSync(join(tmpdir(), `mmu-lab-ref-${lab.name}-`));
  await recordLab(lab, dir);
  return join(dir, `${id}.mmulab`);
}
