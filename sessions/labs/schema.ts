/**
 * The lab file (`labs/<name>/lab.yaml`) and the answers file, validated with zod. A lab file is
 * untrusted: sizes are capped before parsing, unknown keys are errors, file references must
 * stay inside the lab's folder, and every check expression is parsed against the query
 * whitelist when the lab loads, so a bad lab is rejected up front with one clear line.
 * docs/labs.md documents every key.
 */
import { z } from 'zod';

/** Caps that keep a hostile lab cheap to reject. */
export const LAB_LIMITS = {
  labFileBytes: 256 * 1024,
  instructionsBytes: 256 * 1024,
  scenarioBytes: 1024 * 1024,
  traceBytes: 8 * 1024 * 1024,
  answersBytes: 64 * 1024,
  questions: 50,
  checks: 50,
  scenarios: 8,
  textAnswer: 4000,
} as const;

const id = z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'expected an id of lower-case letters, digits and dashes (at most 40)');
const text = (max: number) => z.string().min(1).max(max);
/** A file name inside the lab folder: no directories, no dot files. */
const localFile = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'expected a file name inside the lab folder (no "/" or "..")');

export const PHASES = ['predict', 'observe', 'explain'] as const;

const questionBase = {
  id,
  phase: z.enum(PHASES),
  prompt: text(2000),
  hint: text(1000).optional(),
  /** Predictions are recorded and shown next to the measured answer, but not graded. */
  graded: z.boolean().default(true),
  /** Why the reference answer is right; shown after the student answers. */
  explanation: text(2000).optional(),
};

export const questionSchema = z.discriminatedUnion('type', [
  z
    .object({
      ...questionBase,
      type: z.literal('choice'),
      choices: z.array(z.object({ id, text: text(500) }).strict()).min(2).max(10),
      answer: id,
    })
    .strict()
    .refine((q) => q.choices.some((c) => c.id === q.answer), { message: 'answer must be the id of one of the choices', path: ['answer'] }),
  z
    .object({
      ...questionBase,
      type: z.literal('number'),
      answer: z.number().finite(),
      tolerance: z.number().finite().nonnegative().default(0),
      unit: z.string().max(20).optional(),
    })
    .strict(),
  z
    .object({
      ...questionBase,
      type: z.literal('text'),
      /**
       * Every group must be matched: each group is a list of alternatives, matched as plain
       * case-insensitive substrings (never regular expressions: no ReDoS from a lab file).
       */
      keywords: z.array(z.array(z.string().min(1).max(60)).min(1).max(10)).min(1).max(10),
      answer: text(2000),
    })
    .strict(),
]);
export type Question = z.infer<typeof questionSchema>;

const scenarioRefSchema = z.union([
  z.object({ id, title: text(200), file: localFile }).strict(),
  z.object({ id, title: text(200), trace: localFile }).strict(),
]);
export type ScenarioRef = z.infer<typeof scenarioRefSchema>;

export const checkSchema = z
  .object({
    id,
    title: text(300),
    /** The session the queries read (default: the lab's first scenario). */
    scenario: id.optional(),
    expect: text(2000),
    hint: text(1000).optional(),
  })
  .strict();
export type Check = z.infer<typeof checkSchema>;

export const labSchema = z
  .object({
    format: z.literal(1),
    title: text(200),
    summary: text(1000),
    /** The mechanism of the seeds the lab is built on (e.g. "seed 000: zap vs update"). */
    mechanism: text(300),
    instructions: localFile.default('instructions.md'),
    scenarios: z.array(scenarioRefSchema).min(1).max(LAB_LIMITS.scenarios),
    questions: z.array(questionSchema).max(LAB_LIMITS.questions).default([]),
    checks: z.array(checkSchema).min(1).max(LAB_LIMITS.checks),
    hints: z.array(text(1000)).max(20).default([]),
    /** The reference answers (a file of the answers format), for `lab run` and the tests. */
    referenceAnswers: localFile.default('answers.reference.yaml'),
    /** The page-table diff range the report shows: a session and two times in ns. */
    report: z
      .object({ scenario: id, t0: z.number().int().nonnegative(), t1: z.number().int().nonnegative() })
      .strict()
      .refine((r) => r.t1 >= r.t0, { message: 't1 must not be before t0', path: ['t1'] })
      .optional(),
  })
  .strict()
  .superRefine((lab, ctx) => {
    const unique = (ids: string[], what: string, path: string) => {
      const seen = new Set<string>();
      ids.forEach((x, i) => {
        if (seen.has(x)) ctx.addIssue({ code: 'custom', message: `duplicate ${what} id "${x}"`, path: [path, i, 'id'] });
        seen.add(x);
      });
    };
    unique(lab.scenarios.map((s) => s.id), 'scenario', 'scenarios');
    unique(lab.questions.map((q) => q.id), 'question', 'questions');
    unique(lab.checks.map((c) => c.id), 'check', 'checks');
    const scen = new Set(lab.scenarios.map((s) => s.id));
    lab.checks.forEach((c, i) => {
      if (c.scenario && !scen.has(c.scenario)) ctx.addIssue({ code: 'custom', message: `no scenario "${c.scenario}" in this lab`, path: ['checks', i, 'scenario'] });
    });
    if (lab.report && !scen.has(lab.report.scenario)) ctx.addIssue({ code: 'custom', message: `no scenario "${lab.report.scenario}" in this lab`, path: ['report', 'scenario'] });
  });
export type LabFile = z.infer<typeof labSchema>;

/** An answers file: question id → a choice id, a number or text. */
export const answersSchema = z.record(id, z.union([z.string().max(LAB_LIMITS.textAnswer), z.number().finite()]));
export type Answers = z.infer<typeof answersSchema>;
