/**
 * The bundled labs (docs/labs.md): their text and questions, running and checking them, grading,
 * the reference session and the report.
 *
 * Pure: zod only.
 */
import { z } from 'zod';
import { type CallTable, noParams } from './common.ts';
import { exportResult } from './sessions.ts';

/** A bundled lab's name: a folder name under labs/, never a path. */
export const labName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,59}$/, 'a lab name is a folder name of labs/, not a path');
export const labInfo = z.object({ name: z.string(), title: z.string(), summary: z.string(), mechanism: z.string() });
/** A question as the student sees it: never its reference answer. */
export const labQuestion = z.object({
  id: z.string(),
  phase: z.enum(['predict', 'observe', 'explain']),
  type: z.enum(['choice', 'number', 'text']),
  prompt: z.string(),
  graded: z.boolean(),
  hint: z.string().optional(),
  unit: z.string().optional(),
  choices: z.array(z.object({ id: z.string(), text: z.string() })).optional(),
});
export const labDetail = labInfo.extend({
  /** Markdown source: the renderer renders it with HTML disabled and sanitizes the result. */
  instructions: z.string(),
  scenarios: z.array(z.object({ id: z.string(), title: z.string() })),
  questions: z.array(labQuestion),
  checks: z.array(z.object({ id: z.string(), title: z.string(), hint: z.string().optional() })),
  hints: z.array(z.string()),
});
const labAnswer = z.union([z.string().max(4000), z.number().finite()]);
/** Question id → answer; ids are lower-case with dashes (so `__proto__` and friends are refused). */
export const labAnswers = z.record(z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'a question id'), labAnswer);
export const labStatus = z.object({
  name: z.string(),
  /** The lab's sessions in the sessions folder (one per scenario), once the lab has been run. */
  sessions: z.array(z.object({ scenario: z.string(), title: z.string(), sessionId: z.string() })),
  recorded: z.boolean(),
  passed: z.boolean(),
  checks: z.array(
    z.object({ id: z.string(), title: z.string(), passed: z.boolean(), value: z.union([z.string(), z.number(), z.boolean()]).nullable(), error: z.string().optional(), hint: z.string().optional() }),
  ),
  /** `correct` is null for an unanswered question; `explanation` comes once it is answered. */
  questions: z.array(z.object({ id: z.string(), answered: z.boolean(), correct: z.boolean().nullable(), explanation: z.string().optional() })),
  /** What is saved with the lab's first session: the student's name and answers. */
  progress: z.object({ student: z.string(), answers: labAnswers }),
});

export type LabDetail = z.output<typeof labDetail>;
export type LabStatus = z.output<typeof labStatus>;

export const LAB_CALLS = {
  /** The bundled labs (docs/labs.md). */
  'labs.list': { params: noParams, result: z.array(labInfo) },
  'labs.get': { params: z.strictObject({ name: labName }), result: labDetail },
  /** Record every scenario of the lab into the sessions folder (replacing an earlier run) and check it. */
  'labs.run': { params: z.strictObject({ name: labName }), result: labStatus },
  /** Check the recorded sessions against the lab; with `answers`/`student`, grade and save them with the session. */
  'labs.status': {
    params: z.strictObject({ name: labName, answers: labAnswers.optional(), student: z.string().max(200).optional() }),
    result: labStatus,
  },
  /**
   * Record the lab's reference session of one scenario (default: its first) into the sessions
   * folder as `lab-<name>-<scenario>-reference.mmulab`, for comparing a student's session with it
   * (`sessions.compare`, as `mmu-lab compare --lab`). The lab's own sessions are left alone.
   */
  'labs.reference': {
    params: z.strictObject({ name: labName, scenario: z.string().regex(/^[a-z0-9][a-z0-9-]{0,59}$/, 'a scenario id of the lab').optional() }),
    result: z.object({ sessionId: z.string() }),
  },
  /** The lab report (student, answers, checks, figures, fingerprints) into the exports folder. */
  'labs.report': { params: z.strictObject({ name: labName, format: z.enum(['html', 'pdf']) }), result: exportResult },
} as const satisfies CallTable;
