/**
 * The lab calls of the API (`labs.*`), against the bundled labs folder and the host's sessions
 * folder. A lab's sessions are `lab-<name>-<scenario>.mmulab` in the sessions folder, so they
 * show in the sessions list like any other; the student's progress is saved as a note of the
 * first one (sessions/labs/progress.ts). Reference answers never leave the host.
 */
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiError, type ApiResult } from '../api/contract.ts';
import { appendNoteOp } from '../../sessions/annex.ts';
import { openSession } from '../../sessions/reader.ts';
import { gradeLab } from '../../sessions/labs/grade.ts';
import { LabError, labFilePath, listLabDirs, loadLab, type Lab } from '../../sessions/labs/load.ts';
import { PROGRESS_NOTE_ID, decodeProgress, encodeProgress } from '../../sessions/labs/progress.ts';
import { loadLabSession, type LabSession } from '../../sessions/labs/queries.ts';
import { renderLabReport, reportScenario, writeLabReport } from '../../sessions/labs/report.ts';
import { fingerprintFile, loadLabScenario, type LabRun } from '../../sessions/labs/run.ts';
import type { Scenario } from '../../core/scenario.ts';
import type { Answers } from '../../sessions/labs/schema.ts';
import { ReportError } from '../../sessions/report/pdf.ts';

/** Saved progress larger than this is refused (answers are short). */
const MAX_PROGRESS_BYTES = 64 * 1024;

/** The labs folder: $MMU_LAB_LABS_DIR, else the packaged app's resources/labs, else labs/ of the package this file belongs to. */
export function defaultLabsDir(): string {
  if (process.env.MMU_LAB_LABS_DIR) return resolve(process.env.MMU_LAB_LABS_DIR);
  // a packaged app: electron-builder puts labs/ beside the asar (extraResources)
  const resources = (process as { resourcesPath?: string }).resourcesPath;
  if (resources && existsSync(join(resources, 'labs'))) return join(resources, 'labs');
  let dir = typeof __dirname === 'string' ? __dirname : dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'labs')) && existsSync(join(dir, 'package.json'))) return join(dir, 'labs');
    const up = dirname(dir);
    if (up === dir) return join(process.cwd(), 'labs');
    dir = up;
  }
}

export interface LabHost {
  sessionsDir: string;
  /**
   * Record a scenario into the sessions folder under `sessionId`, off the host's event loop
   * (the VM workers), and resolve when the session is closed.
   */
  record(scenario: Scenario, sessionId: string): Promise<{ state: string; message?: string }>;
  exportsDir: string;
  exportsUrlPath: string;
  /** Tell the UI the sessions folder changed. */
  changed(): void;
  /** How the host prints a report to PDF (the desktop app: Electron's printToPDF); default the system Chromium. */
  printPdf?: ((html: string, outPath: string) => Promise<void>) | undefined;
}

export class LabService {
  constructor(
    private readonly host: LabHost,
    readonly labsDir: string = defaultLabsDir(),
  ) {}

  private lab(name: string): Lab {
    const dir = join(this.labsDir, name);
    if (!existsSync(join(dir, 'lab.yaml'))) throw new ApiError('not-found', `no lab "${name}"`);
    try {
      return loadLab(dir, name);
    } catch (e) {
      if (e instanceof LabError) throw new ApiError('failed', e.message.replace(this.labsDir + '/', ''));
      throw e;
    }
  }

  sessionId(lab: string, scenario: string): string {
    return `lab-${lab}-${scenario}.mmulab`;
  }

  list(): ApiResult<'labs.list'> {
    return listLabDirs(this.labsDir).flatMap((name) => {
      try {
        const { file } = loadLab(join(this.labsDir, name), name);
        return [{ name, title: file.title, summary: file.summary, mechanism: file.mechanism }];
      } catch {
        return []; // a broken lab is reported when it is opened, not in the list
      }
    });
  }

  get(name: string): ApiResult<'labs.get'> {
    const { file, instructions } = this.lab(name);
    return {
      name,
      title: file.title,
      summary: file.summary,
      mechanism: file.mechanism,
      instructions,
      scenarios: file.scenarios.map((s) => ({ id: s.id, title: s.title })),
      questions: file.questions.map((q) => ({
        id: q.id,
        phase: q.phase,
        type: q.type,
        prompt: q.prompt,
        graded: q.graded,
        ...(q.hint ? { hint: q.hint } : {}),
        ...(q.type === 'number' && q.unit ? { unit: q.unit } : {}),
        ...(q.type === 'choice' ? { choices: q.choices } : {}),
      })),
      checks: file.checks.map((c) => ({ id: c.id, title: c.title, ...(c.hint ? { hint: c.hint } : {}) })),
      hints: file.hints,
    };
  }

  /**
   * Record every scenario of the lab as `lab-<name>-<scenario>.mmulab` (replacing an earlier
   * run): scenarios in the VM workers, traces through the importer (streaming, asynchronous).
   */
  async run(name: string): Promise<ApiResult<'labs.run'>> {
    const lab = this.lab(name);
    // a run replaces the sessions: carry the saved answers over to the new first session
    const saved = this.savedProgress(lab);
    for (const s of lab.file.scenarios) await this.recordOne(lab, s, this.sessionId(name, s.id));
    if (saved.student || Object.keys(saved.answers).length) this.saveProgress(lab, saved);
    return this.status(name);
  }

  /** The lab's reference session of one scenario, recorded under its own id (the lab's sessions stay). */
  async reference(name: string, scenario?: string): Promise<ApiResult<'labs.reference'>> {
    const lab = this.lab(name);
    const s = scenario === undefined ? lab.file.scenarios[0] : lab.file.scenarios.find((x) => x.id === scenario);
    if (!s) throw new ApiError('not-found', `lab ${name} has no scenario "${scenario ?? ''}" (it has ${lab.file.scenarios.map((x) => x.id).join(', ')})`);
    const sessionId = `lab-${name}-${s.id}-reference.mmulab`;
    await this.recordOne(lab, s, sessionId);
    return { sessionId };
  }

  /** Record (or import) one of the lab's scenarios into the sessions folder as `id`. */
  private async recordOne(lab: Lab, s: Lab['file']['scenarios'][number], id: string): Promise<void> {
    const name = lab.name;
    if ('file' in s) {
      let scenario: Scenario;
      try {
        scenario = loadLabScenario(lab, s.file);
      } catch (e) {
        throw new ApiError('failed', (e as Error).message.replace(this.labsDir + '/', ''));
      }
      const end = await this.host.record(scenario, id);
      if (end.state !== 'finished') throw new ApiError('failed', `scenario "${s.id}" of lab ${name} did not finish (${end.state}${end.message ? `: ${end.message}` : ''})`);
    } else {
      const scratch = join(this.host.sessionsDir, '.lab-runs');
      mkdirSync(scratch, { recursive: true });
      const tmp = join(scratch, `${id}.${Date.now().toString(36)}`);
      try {
        const { importTrace } = await import('../../sessions/import/index.ts');
        await importTrace(labFilePath(lab.dir, s.trace, `trace "${s.id}"`), tmp);
        renameSync(tmp, join(this.host.sessionsDir, id));
      } catch (e) {
        rmSync(tmp, { force: true });
        throw new ApiError('failed', `trace "${s.id}" of lab ${name}: ${(e as Error).message}`);
      }
      this.host.changed();
    }
  }

  private loaded(lab: Lab): Map<string, LabSession> | undefined {
    const sessions = new Map<string, LabSession>();
    for (const s of lab.file.scenarios) {
      const path = join(this.host.sessionsDir, this.sessionId(lab.name, s.id));
      if (!existsSync(path)) return undefined;
      const { session, diagnostics } = openSession(path);
      if (!session) throw new ApiError('bad-session', `${this.sessionId(lab.name, s.id)}: ${diagnostics[0]?.message ?? 'not readable'}`);
      sessions.set(s.id, loadLabSession(s.id, session));
    }
    return sessions;
  }

  private firstPath(lab: Lab): string {
    return join(this.host.sessionsDir, this.sessionId(lab.name, lab.file.scenarios[0]!.id));
  }

  private savedProgress(lab: Lab): { student: string; answers: Answers } {
    const path = this.firstPath(lab);
    if (!existsSync(path)) return { student: '', answers: {} };
    const note = openSession(path).session?.notes().find((n) => n.noteId === PROGRESS_NOTE_ID);
    return (note && decodeProgress(note.text, lab.name)) ?? { student: '', answers: {} };
  }

  private grade(lab: Lab, progress: { student: string; answers: Answers }): { status: ApiResult<'labs.status'>; run?: LabRun; sessions?: Map<string, LabSession> } {
    const sessions = this.loaded(lab);
    const ids = lab.file.scenarios.map((s) => ({ scenario: s.id, title: s.title, sessionId: this.sessionId(lab.name, s.id) }));
    const g = gradeLab(lab, sessions ?? new Map(), progress.answers, { requireAnswers: true });
    const explanations = new Map(lab.file.questions.map((q) => [q.id, q.explanation]));
    const status = {
      name: lab.name,
      sessions: sessions ? ids : [],
      recorded: sessions !== undefined,
      passed: sessions !== undefined && g.passed,
      checks: g.checks.map((c) => ({
        id: c.id,
        title: c.title,
        passed: c.passed,
        value: c.value,
        ...(c.error ? { error: sessions ? c.error : 'run the lab first' } : {}),
        ...(c.hint ? { hint: c.hint } : {}),
      })),
      questions: g.questions.map((q) => {
        const explanation = explanations.get(q.id);
        return { id: q.id, answered: q.answered, correct: q.graded ? q.correct : null, ...(q.answered && explanation ? { explanation } : {}) };
      }),
      progress,
    };
    if (!sessions) return { status };
    const run: LabRun = {
      lab: lab.name,
      title: lab.file.title,
      sessions: ids.map((i) => {
        const path = join(this.host.sessionsDir, i.sessionId);
        const s = sessions.get(i.scenario)!;
        return { id: i.scenario, title: i.title, path, fingerprint: fingerprintFile(path), events: s.events.length, exits: s.events.filter((e) => e.type === 'vmexit').length, complete: s.complete };
      }),
      ...g,
    };
    return { status, run, sessions };
  }

  status(name: string, answers?: Answers, student?: string): ApiResult<'labs.status'> {
    const lab = this.lab(name);
    const saved = this.savedProgress(lab);
    const progress = { student: student ?? saved.student, answers: answers ?? saved.answers };
    if (answers !== undefined || student !== undefined) this.saveProgress(lab, progress);
    return this.grade(lab, progress).status;
  }

  /** Save the progress as the `lab-progress` note of the lab's first session (last one wins). */
  private saveProgress(lab: Lab, progress: { student: string; answers: Answers }): void {
    const path = this.firstPath(lab);
    if (!existsSync(path)) throw new ApiError('failed', 'run the lab first: progress is saved with its session');
    const text = encodeProgress({ lab: lab.name, ...progress });
    if (text.length > MAX_PROGRESS_BYTES) throw new ApiError('too-large', 'the answers are too long to save');
    appendNoteOp(path, { op: 'put', note: { noteId: PROGRESS_NOTE_ID, kind: 'note', t: 0, text, createdMs: Date.now() } });
  }

  async report(name: string, format: 'html' | 'pdf'): Promise<ApiResult<'labs.report'>> {
    const lab = this.lab(name);
    const progress = this.savedProgress(lab);
    const { run, sessions } = this.grade(lab, progress);
    if (!run || !sessions) throw new ApiError('failed', 'run the lab first: the report is of its sessions');
    if (!progress.student.trim()) throw new ApiError('bad-request', "the report needs the student's name");
    const html = renderLabReport(lab, join(this.host.sessionsDir, this.sessionId(name, reportScenario(lab))), run, progress.student.trim(), sessions);
    mkdirSync(this.host.exportsDir, { recursive: true });
    const ext = format === 'pdf' ? '.pdf' : '.html';
    const exportId = `lab-${name}-report-${Date.now().toString(36)}${ext}`;
    const path = join(this.host.exportsDir, exportId);
    try {
      await writeLabReport(path, html, this.host.printPdf);
    } catch (e) {
      rmSync(path, { force: true });
      if (e instanceof ReportError) throw new ApiError('failed', e.message);
      throw e;
    }
    return {
      exportId,
      fileName: `${name}-report${ext}`,
      mimeType: format === 'pdf' ? 'application/pdf' : 'text/html',
      sizeBytes: statSync(path).size,
      url: `${this.host.exportsUrlPath}/${encodeURIComponent(exportId)}`,
    };
  }
}
