/**
 * Files the desktop shell hands to the host: a path the user dropped on the window or picked in
 * a dialog, and a destination the user picked in a save dialog. Electron-free, so the checks on
 * every path that arrives from the renderer process (a drop) are tested directly.
 *
 * A dropped path is untrusted: it comes from the renderer process, which a compromised page
 * could drive. It must be a string, absolute, without NUL bytes, of a sane length, and name a
 * kind of file we take (a session, a scenario, a trace); the file itself is then checked by the
 * reader, the scenario parser or the importer before anything is kept. Destinations for Save
 * As/Export never come from the renderer at all: only from the save dialog in the main process.
 */
import { randomBytes } from 'node:crypto';
import { constants, copyFileSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ApiError, MAX_MESSAGE_BYTES, type RunStatus } from '../api/contract.ts';
import { ReportError, exportSessionFile } from '../../sessions/report/exportFile.ts';
import type { ImportProgress } from '../../sessions/import/index.ts';
import { importAnyTrace } from '../../sessions/tracedat/source.ts';
import { nonRegularKind, notRegularMessage } from '../../sessions/fileKind.ts';
import { openSession } from '../../sessions/reader.ts';
import { fileSessionStem, freeSessionName } from '../../sessions/sessionNames.ts';
import type { HostService } from './hostService.ts';

export type ShellFileKind = 'session' | 'scenario' | 'trace';
export type ShellFile = { ok: true; kind: ShellFileKind; path: string } | { ok: false; problem: string };

export const MAX_PATH_LENGTH = 4096;
const SCENARIO_EXTENSIONS = new Set(['.json', '.yaml', '.yml']);
/** Trace text as people save it: `trace-cmd report > x.txt`, `perf script > x.perf`, a copy of trace_pipe. */
const TRACE_EXTENSIONS = new Set(['.txt', '.trace', '.report', '.log', '.perf', '.out', '.dat']);
const TRACE_NAMES = new Set(['trace', 'trace_pipe']);

/** What kind of file a dropped or chosen path is, or why it is refused (one readable line). */
export function classifyShellFile(path: unknown): ShellFile {
  if (typeof path !== 'string') return { ok: false, problem: `a file path must be a string, not ${path === null ? 'null' : typeof path}` };
  if (path.length === 0) return { ok: false, problem: 'the file path is empty' };
  if (path.length > MAX_PATH_LENGTH) return { ok: false, problem: `the file path is ${path.length} characters long; the limit is ${MAX_PATH_LENGTH}` };
  if (path.includes('\0')) return { ok: false, problem: 'the file path contains a NUL byte' };
  if (!isAbsolute(path)) return { ok: false, problem: `"${path.slice(0, 200)}" is not an absolute path` };
  const name = basename(path);
  const ext = extname(name).toLowerCase();
  if (ext === '.mmulab') return { ok: true, kind: 'session', path };
  if (SCENARIO_EXTENSIONS.has(ext)) return { ok: true, kind: 'scenario', path };
  if (TRACE_EXTENSIONS.has(ext) || TRACE_NAMES.has(name)) return { ok: true, kind: 'trace', path };
  return {
    ok: false,
    problem: `${name.slice(0, 200)} is not a file MMU Lab opens: drop a session (.mmulab), a scenario (.json, .yaml) or a trace (trace.dat, .txt, trace-cmd report, perf script)`,
  };
}

/** A session id (file name) not yet taken in the sessions folder, made from a file name. */
export function freeSessionId(service: HostService, from: string): string {
  return freeSessionName(service.sessionsDir, fileSessionStem(from));
}

/** Record a scenario file (JSON or YAML, as `mmu-lab record` takes it); the UI follows the run from its progress. */
export async function startScenarioFile(service: HostService, path: string): Promise<RunStatus> {
  let text: string;
  try {
    const st = statSync(path);
    // never opened: reading a named pipe waits for a writer (and would hang the shell), a device may never end
    const kind = nonRegularKind(st);
    if (kind) throw new ApiError('bad-request', notRegularMessage(path, kind, 'scenario file', 'reads'));
    if (st.size > MAX_MESSAGE_BYTES) throw new ApiError('too-large', `${basename(path)} is larger than ${MAX_MESSAGE_BYTES} bytes; that is not a scenario`);
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw new ApiError('not-found', `cannot read ${path}`);
  }
  let scenario: unknown;
  try {
    scenario = parseYaml(text);
  } catch (error) {
    throw new ApiError('bad-request', `${basename(path)} is not JSON or YAML: ${(error instanceof Error ? error.message : String(error)).split('\n')[0]}`);
  }
  return (await service.dispatch('runs.start', { scenario: { scenario } })) as RunStatus;
}

/** Import a trace text file as a new session in the sessions folder and ask the UI to open it. */
export async function importTraceFile(service: HostService, path: string, onProgress?: (p: ImportProgress) => void): Promise<string> {
  const id = freeSessionId(service, path);
  const out = join(service.sessionsDir, id);
  let result;
  try {
    result = await importAnyTrace(path, out, { onProgress });
  } catch (error) {
    throw new ApiError('bad-session', error instanceof Error ? error.message : String(error));
  }
  if (!result.ok) throw new ApiError('bad-session', result.message);
  service.announceSession(id);
  return id;
}

/** Save As / Export: the format is named by the destination's extension (the save dialog's filters). */
export const EXPORT_FORMATS = [
  { name: 'MMU Lab session', extensions: ['mmulab'], format: 'mmulab' },
  { name: 'JSON Lines (one event a line)', extensions: ['jsonl'], format: 'jsonl' },
  { name: 'CSV (one table per event type)', extensions: ['csv'], format: 'csv' },
  { name: 'Chrome trace / Perfetto', extensions: ['json'], format: 'chrome' },
  { name: 'HTML report', extensions: ['html'], format: 'html' },
  { name: 'PDF report', extensions: ['pdf'], format: 'pdf' },
] as const;

/**
 * Write session `id` to `dest` (a path the save dialog returned) in the format its extension
 * names, with the same writers as `sessions.export` and the CLI. Written beside the
 * destination first and renamed into place, so a failure leaves no half-written file and an
 * existing file is replaced only by a complete one.
 */
export async function exportSession(service: HostService, id: string, dest: string): Promise<{ format: string }> {
  const source = service.sessionPath(id);
  const ext = extname(dest).toLowerCase().slice(1);
  const format = EXPORT_FORMATS.find((f) => (f.extensions as readonly string[]).includes(ext));
  if (!format) throw new ApiError('bad-request', `cannot export to "${basename(dest)}": use ${EXPORT_FORMATS.map((f) => `.${f.extensions[0]}`).join(', ')}`);
  if (!isAbsolute(dest)) throw new ApiError('bad-request', 'the destination must be an absolute path');
  const temp = join(dirname(dest), `.${basename(dest)}.${randomBytes(4).toString('hex')}.partial`);
  try {
    if (format.format === 'mmulab') copyFileSync(source, temp, constants.COPYFILE_EXCL);
    else {
      const { session, diagnostics } = openSession(source);
      if (!session) throw new ApiError('bad-session', diagnostics.find((d) => d.severity === 'error')?.message ?? `${id} is not readable`);
      await exportSessionFile(session, format.format, temp, { title: id.replace(/\.mmulab$/, ''), ...(service.printPdf ? { printPdf: service.printPdf } : {}) });
    }
    renameSync(temp, dest);
    return { format: format.name };
  } catch (error) {
    rmSync(temp, { force: true });
    if (error instanceof ApiError) throw error;
    if (error instanceof ReportError) throw new ApiError('failed', error.message);
    throw new ApiError('failed', `could not write ${dest}: ${(error as { code?: string }).code ?? (error instanceof Error ? error.message : String(error))}`);
  }
}
