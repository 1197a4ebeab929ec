/**
 * Lab progress (the student's name and answers) is saved with the session, as a note of the
 * session file (sessions/annex.ts) under one fixed note id, so it travels with the file a
 * student hands in. The note's text is a marker line and JSON, validated when read back.
 */
import { z } from 'zod';
import { answersSchema, type Answers } from './schema.ts';

export const PROGRESS_NOTE_ID = 'lab-progress';
const MARKER = 'MMU Lab lab progress (v1)';

const progressSchema = z.object({ lab: z.string().max(60), student: z.string().max(200), answers: answersSchema }).strict();
export type LabProgress = z.infer<typeof progressSchema>;

export function encodeProgress(p: LabProgress): string {
  return `${MARKER}\n${JSON.stringify(p)}`;
}

/** The progress in a note's text, or undefined when the text is not a valid progress note. */
export function decodeProgress(text: string, lab: string): { student: string; answers: Answers } | undefined {
  if (!text.startsWith(MARKER + '\n')) return undefined;
  try {
    const parsed = progressSchema.safeParse(JSON.parse(text.slice(MARKER.length + 1)));
    if (!parsed.success || parsed.data.lab !== lab) return undefined;
    return { student: parsed.data.student, answers: parsed.data.answers };
  } catch {
    return undefined;
  }
}
