/**
 * Grade a lab: the answers against the questions, and the checks against the recorded
 * sessions. Pure over loaded sessions, so the CLI, the desktop host and the tests share it.
 */
import { ExprError, StepBudget, type Value } from './expr.ts';
import type { Lab } from './load.ts';
import { LAB_STEP_BUDGET, evaluateCheck, type LabSession } from './queries.ts';
import type { Answers, Question } from './schema.ts';

export interface CheckResult {
  id: string;
  title: string;
  session: string;
  passed: boolean;
  /** What the expression evaluated to (null when it could not be evaluated). */
  value: Value | null;
  error?: string;
  hint?: string;
}

export interface QuestionResult {
  id: string;
  phase: Question['phase'];
  type: Question['type'];
  prompt: string;
  graded: boolean;
  answered: boolean;
  /** null when unanswered. */
  correct: boolean | null;
  given?: Value;
  /** The given answer as a reader sees it (for a choice: its text). */
  givenText?: string;
  expected: string;
  hint?: string;
}

export interface Grade {
  passed: boolean;
  checks: CheckResult[];
  questions: QuestionResult[];
  /** One line per failing check or question, naming it: what `lab run` prints and exits on. */
  failures: string[];
}

const norm = (s: string) => s.toLowerCase().replace(/\s+/g, ' ').trim();

/** Is this answer right? null when there is no answer. */
export function isCorrect(q: Question, given: Value | undefined): boolean | null {
  if (given === undefined || given === '') return null;
  switch (q.type) {
    case 'choice':
      return norm(String(given)) === q.answer;
    case 'number': {
      const n = typeof given === 'number' ? given : /^\s*-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?\s*$/.test(String(given)) ? Number(given) : NaN;
      return Number.isFinite(n) && Math.abs(n - q.answer) <= q.tolerance + 1e-9;
    }
    case 'text': {
      const t = norm(String(given));
      return q.keywords.every((group) => group.some((k) => t.includes(norm(k))));
    }
  }
}

function expectedText(q: Question): string {
  switch (q.type) {
    case 'choice':
      return `${q.answer}) ${q.choices.find((c) => c.id === q.answer)?.text ?? ''}`;
    case 'number':
      return `${q.answer}${q.unit ? ' ' + q.unit : ''}${q.tolerance ? ` ± ${q.tolerance}` : ''}`;
    case 'text':
      return q.answer;
  }
}

function givenText(q: Question, given: Value): string {
  if (q.type === 'choice') {
    const c = q.choices.find((x) => x.id === norm(String(given)));
    return c ? `${c.id}) ${c.text}` : String(given);
  }
  return String(given);
}

export function gradeQuestions(lab: Lab, answers: Answers): QuestionResult[] {
  return lab.file.questions.map((q) => {
    const given = Object.prototype.hasOwnProperty.call(answers, q.id) ? answers[q.id] : undefined;
    const correct = isCorrect(q, given);
    return {
      id: q.id,
      phase: q.phase,
      type: q.type,
      prompt: q.prompt,
      graded: q.graded,
      answered: correct !== null,
      correct,
      ...(given !== undefined ? { given, givenText: givenText(q, given) } : {}),
      expected: expectedText(q),
      ...(q.hint ? { hint: q.hint } : {}),
    };
  });
}

export interface GradeOptions {
  /** Require an answer to every graded question (set when an answers file was given). */
  requireAnswers: boolean;
}

export function gradeLab(lab: Lab, sessions: ReadonlyMap<string, LabSession>, answers: Answers, options: GradeOptions): Grade {
  const questions = gradeQuestions(lab, answers);
  // Question ids are lab-file text (`constructor` is a valid id): a record without a prototype.
  const correct: Record<string, boolean> = Object.create(null) as Record<string, boolean>;
  for (const q of questions) if (q.correct !== null) correct[q.id] = q.correct;
  const budget = new StepBudget(LAB_STEP_BUDGET, "the lab's checks together need");
  const checks: CheckResult[] = lab.checks.map((c) => {
    const base = { id: c.id, title: c.title, session: c.session, ...(c.hint ? { hint: c.hint } : {}) };
    if (!sessions.has(c.session)) return { ...base, passed: false, value: null, error: `session "${c.session}" is not recorded yet` };
    try {
      const value = evaluateCheck(c.tree, { sessions, current: c.session, answers, correct }, budget);
      return { ...base, passed: value === true, value: typeof value === 'number' && !Number.isFinite(value) ? null : value };
    } catch (e) {
      if (e instanceof ExprError) return { ...base, passed: false, value: null, error: e.message };
      throw e;
    }
  });
  const failures: string[] = [];
  for (const c of checks) if (!c.passed) failures.push(`check "${c.id}" failed: ${c.title}${c.error ? ` (${c.error})` : c.value !== true ? ` (got ${JSON.stringify(c.value)})` : ''}`);
  for (const q of questions) {
    if (!q.graded) continue;
    if (q.correct === false) failures.push(`question "${q.id}" is answered wrongly (answer: ${JSON.stringify(q.given)})`);
    else if (q.correct === null && options.requireAnswers) failures.push(`question "${q.id}" is not answered`);
  }
  return { passed: failures.length === 0, checks, questions, failures };
}
