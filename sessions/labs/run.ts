/**
 * Run a lab headless: record each of its scenarios (or import its trace) into a folder, load
 * the sessions, and grade. `mmu-lab lab run` and the desktop host both call `runLab`.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { parseScenario, type Scenario } from '../../core/scenario.ts';
import { openSession } from '../reader.ts';
import { recordScenario } from '../record.ts';
import { LabError, labFilePath, parseYamlText, readLabFile, type Lab } from './load.ts';
import { gradeLab, type Grade } from './grade.ts';
import { loadLabSession, type LabSession } from './queries.ts';
import { LAB_LIMITS, type Answers } from './schema.ts';

/** Lab scenarios are small; a runaway one stops here instead of filling the disk. */
export const LAB_MAX_EVENTS = 1_000_000;

export interface LabSessionInfo {
  id: string;
  title: string;
  path: string;
  /** sha256 of the session file's bytes: a teacher matches a report to its session by it. */
  fingerprint: string;
  events: number;
  exits: number;
  complete: boolean;
}

export interface LabRun extends Grade {
  lab: string;
  title: string;
  sessions: LabSessionInfo[];
}

export function fingerprintFile(path: string): string {
  return 'sha256:' + createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** A lab's scenario file, parsed and validated. */
export function loadLabScenario(lab: Lab, file: string): Scenario {
  const path = join(lab.dir, file);
  const text = readLabFile(lab.dir, file, LAB_LIMITS.scenarioBytes, 'the scenario');
  let input: unknown;
  if (extname(file).toLowerCase() === '.json') {
    try {
      input = JSON.parse(text);
    } catch (e) {
      throw new LabError(`${path}: not valid JSON: ${(e as Error).message}`);
    }
  } else input = parseYamlText(text, path);
  const parsed = parseScenario(input);
  if (!parsed.ok) throw new LabError(`${path}: invalid scenario: ${parsed.error}`);
  return parsed.value;
}

/** Record (or import) every scenario of the lab into `outDir`, one `<id>.mmulab` each. */
export async function recordLab(lab: Lab, outDir: string): Promise<string[]> {
  mkdirSync(outDir, { recursive: true });
  const paths: string[] = [];
  for (const s of lab.file.scenarios) {
    const out = join(outDir, `${s.id}.mmulab`);
    if ('file' in s) {
      const scenario = loadLabScenario(lab, s.file);
      // the auditor runs in labs: "no auditor violation" is a check students meet
      try {
        recordScenario(scenario, out, { audit: true, maxEvents: LAB_MAX_EVENTS });
      } catch (e) {
        throw new LabError(`scenario "${s.id}" (${s.file}): the recording failed: ${(e as Error)?.message ?? String(e)}`);
      }
    } else {
      const { importTrace } = await import('../import/index.ts');
      try {
        await importTrace(labFilePath(lab.dir, s.trace, `trace "${s.id}"`), out);
      } catch (e) {
        throw new LabError(`trace "${s.id}" (${s.trace}): ${(e as Error).message}`);
      }
    }
    paths.push(out);
  }
  return paths;
}

/** Open the recorded sessions of a lab from `dir` (the files recordLab wrote). */
export function openLabSessions(lab: Lab, dir: string): { sessions: Map<string, LabSession>; infos: LabSessionInfo[] } {
  const sessions = new Map<string, LabSession>();
  const infos: LabSessionInfo[] = [];
  for (const s of lab.file.scenarios) {
    const path = join(dir, `${s.id}.mmulab`);
    const { session, diagnostics } = openSession(path);
    if (!session) throw new LabError(`${path}: ${diagnostics[0]?.message ?? 'not a readable session'}`);
    const loaded = loadLabSession(s.id, session);
    sessions.set(s.id, loaded);
    const sum = session.summary();
    infos.push({
      id: s.id,
      title: s.title,
      path,
      fingerprint: fingerprintFile(path),
      events: sum.events,
      exits: Object.values(sum.exitsByReason).reduce((a, b) => a + b, 0),
      complete: sum.complete,
    });
  }
  return { sessions, infos };
}

export async function runLab(lab: Lab, outDir: string, answers: Answers | undefined): Promise<LabRun> {
  await recordLab(lab, outDir);
  return gradeRecorded(lab, outDir, answers);
}

/** Grade sessions already recorded in `dir`. */
export function gradeRecorded(lab: Lab, dir: string, answers: Answers | undefined): LabRun {
  const { sessions, infos } = openLabSessions(lab, dir);
  const grade = gradeLab(lab, sessions, answers ?? {}, { requireAnswers: answers !== undefined });
  return { lab: lab.name, title: lab.file.title, sessions: infos, ...grade };
}
